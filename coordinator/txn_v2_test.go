package coordinator

import (
	"math"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// endV2 sends EndTxn v5 and returns the response.
func (sc *txnScript) endV2(id string, pid int64, epoch int16, commit bool) *kmsg.EndTxnResponse {
	req := kmsg.NewPtrEndTxnRequest()
	req.Version = 5
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, commit
	sc.s.EndTxn(sc.now, 1, req, func() int64 {
		sc.nextPID++
		return sc.nextPID - 1
	})
	return sc.drain().(*kmsg.EndTxnResponse)
}

// addByBroker is a partition leader adding a partition for a produce v12+.
func (sc *txnScript) addByBroker(id string, pid int64, epoch int16, topic string, part int32) int16 {
	return sc.brokerAdd(id, pid, epoch, topic, part, false)
}

func expectEnd(t *testing.T, what string, r *kmsg.EndTxnResponse, want *kerr.Error, pid int64, epoch int16) {
	t.Helper()
	expectCode(t, what, r.ErrorCode, want)
	if want == nil && (r.ProducerID != pid || r.ProducerEpoch != epoch) {
		t.Fatalf("%s: producer %d epoch %d, want %d epoch %d", what, r.ProducerID, r.ProducerEpoch, pid, epoch)
	}
}

// Transaction version 2 (KIP-890 part 2): every EndTxn bumps the epoch,
// the markers carry the bumped epoch, retries are recognised by the epoch
// before the bump, and an idle producer may abort.
func TestTxnVersion2EpochBump(t *testing.T) {
	sc := newTxnScript(t)
	sc.init("tx", -1, -1)
	expectCode(t, "add by the partition leader", sc.addByBroker("tx", 100, 0, "out", 0), nil)
	expectEnd(t, "commit", sc.endV2("tx", 100, 0, true), nil, 100, 1)
	if len(sc.markers) != 1 || !sc.markers[0].Commit || sc.markers[0].ProducerEpoch != 1 || sc.markers[0].TransactionVersion != 2 {
		t.Fatalf("commit markers %+v", sc.markers)
	}
	if got := sc.state("tx"); got != "PrepareCommit pid=100 epoch=1 partitions=1" {
		t.Fatalf("state %s", got)
	}
	expectEnd(t, "commit retried while the markers are written", sc.endV2("tx", 100, 0, true), kerr.ConcurrentTransactions, 0, 0)
	expectEnd(t, "a zombie at the old epoch adds", &kmsg.EndTxnResponse{ErrorCode: sc.addByBroker("tx", 100, 0, "out", 1)}, kerr.ProducerFenced, 0, 0)
	sc.s.MarkersWritten(sc.now, "tx", 100, 1)
	sc.drain()
	expectEnd(t, "commit retried after completion", sc.endV2("tx", 100, 0, true), nil, 100, 1)
	expectEnd(t, "abort retried after a commit", sc.endV2("tx", 100, 0, false), kerr.InvalidTxnState, 0, 0)
	// KIP-360: a producer unsure whether its EndTxn landed re-inits
	// naming the epoch it had; the end did land, so it gets the current
	// epoch, not a second bump.
	if r := sc.init("tx", 100, 0); r.ErrorCode != 0 || r.ProducerID != 100 || r.ProducerEpoch != 1 {
		t.Fatalf("re-init with the epoch before the bump: %+v", r)
	}
	expectEnd(t, "commit with nothing added", sc.endV2("tx", 100, 1, true), kerr.InvalidTxnState, 0, 0)

	// An abort with no partition bumps the epoch and completes at once.
	expectEnd(t, "empty abort", sc.endV2("tx", 100, 1, false), nil, 100, 2)
	if got := sc.state("tx"); got != "CompleteAbort pid=100 epoch=2 partitions=0" {
		t.Fatalf("state after an empty abort %s", got)
	}
	if len(sc.markers) != 1 {
		t.Fatalf("an empty abort queued markers: %+v", sc.markers)
	}
	expectEnd(t, "empty abort retried", sc.endV2("tx", 100, 1, false), nil, 100, 2)
	expectEnd(t, "an epoch from two ends ago", sc.endV2("tx", 100, 0, false), kerr.ProducerFenced, 0, 0)

	// The records carry the transaction version and replay to the same state.
	re := sc.replayed(4)
	if m := re.txns["tx"]; m.clientTV != 2 || m.epoch != 2 || m.state != txnCompleteAbort {
		t.Fatalf("replayed %+v", m)
	}
}

// At an exhausted epoch the Prepare record names a new producer id, the
// response hands it out at epoch 0, and the Complete record moves to it; a
// retry naming the old id at the last epoch is recognised.
func TestTxnVersion2EpochOverflow(t *testing.T) {
	sc := newTxnScript(t)
	sc.init("tx", -1, -1)
	sc.s.txns["tx"].epoch = math.MaxInt16 - 1
	expectCode(t, "add", sc.addByBroker("tx", 100, math.MaxInt16-1, "out", 0), nil)
	r := sc.endV2("tx", 100, math.MaxInt16-1, true)
	expectEnd(t, "commit at the last epoch", r, nil, 101, 0)
	if len(sc.markers) != 1 || sc.markers[0].ProducerID != 100 || sc.markers[0].ProducerEpoch != math.MaxInt16 {
		t.Fatalf("markers %+v", sc.markers)
	}
	// The coordinator restarts before the markers are in.
	re := sc.replayed(4)
	re.SetTopics(map[string]int32{"out": 2})
	re.LoadComplete(sc.now)
	if rd := re.Ready(); len(rd.Markers) != 1 || rd.Markers[0].ProducerID != 100 || rd.Markers[0].TransactionVersion != 2 {
		t.Fatalf("markers after reload %+v", rd.Markers)
	}
	sc.s = re
	sc.s.MarkersWritten(sc.now, "tx", 100, math.MaxInt16)
	sc.drain()
	if got := sc.state("tx"); got != "CompleteCommit pid=101 epoch=0 partitions=0" {
		t.Fatalf("state %s", got)
	}
	expectEnd(t, "retry with the old id", sc.endV2("tx", 100, math.MaxInt16-1, true), nil, 101, 0)
	expectCode(t, "add with the new id", sc.addByBroker("tx", 101, 0, "out", 1), nil)
	expectEnd(t, "commit with the new id", sc.endV2("tx", 101, 0, true), nil, 101, 1)
}

// A transaction version 2 transaction that times out is aborted with a
// bumped epoch, and its markers say so.
func TestTxnVersion2Timeout(t *testing.T) {
	sc := newTxnScript(t)
	sc.init("tx", -1, -1)
	expectCode(t, "add", sc.addByBroker("tx", 100, 0, "out", 0), nil)
	sc.now = sc.now.Add(11_000_000_000)
	sc.s.Tick(sc.now)
	sc.drain()
	if len(sc.markers) != 1 || sc.markers[0].Commit || sc.markers[0].ProducerEpoch != 1 || sc.markers[0].TransactionVersion != 2 {
		t.Fatalf("timeout markers %+v", sc.markers)
	}
	// A commit of the transaction the coordinator aborted is fenced
	// (KAFKA-20785), before and after the markers are in.
	expectEnd(t, "the timed-out producer commits", sc.endV2("tx", 100, 0, true), kerr.ProducerFenced, 0, 0)
	sc.s.MarkersWritten(sc.now, "tx", 100, 1)
	sc.drain()
	expectEnd(t, "the timed-out producer commits after the abort", sc.endV2("tx", 100, 0, true), kerr.ProducerFenced, 0, 0)
	// Its abort is taken as a retry of that abort and hands out the epoch.
	expectEnd(t, "the timed-out producer aborts", sc.endV2("tx", 100, 0, false), nil, 100, 1)
}

// While a version 2 end's markers are written, the producer's next EndTxn
// (at the bumped epoch) or a retry waits with CONCURRENT_TRANSACTIONS
// instead of being fenced (KAFKA-18464).
func TestTxnVersion2EndWhileMarkersWritten(t *testing.T) {
	sc := newTxnScript(t)
	sc.init("tx", -1, -1)
	expectCode(t, "add", sc.addByBroker("tx", 100, 0, "out", 0), nil)
	expectEnd(t, "commit", sc.endV2("tx", 100, 0, true), nil, 100, 1)
	expectEnd(t, "empty abort at the new epoch", sc.endV2("tx", 100, 1, false), kerr.ConcurrentTransactions, 0, 0)
	expectEnd(t, "commit retried", sc.endV2("tx", 100, 0, true), kerr.ConcurrentTransactions, 0, 0)
	expectEnd(t, "abort at the old epoch", sc.endV2("tx", 100, 0, false), kerr.InvalidTxnState, 0, 0)
	sc.s.MarkersWritten(sc.now, "tx", 100, 1)
	sc.drain()
	expectEnd(t, "empty abort once complete", sc.endV2("tx", 100, 1, false), nil, 100, 2)
}

// A new instance's InitProducerId (no id of its own) leaves no previous
// epoch behind: the instance it replaced cannot re-init into the new
// epoch as if retrying, live or after a reload.
func TestTxnZombieCannotTakeNewEpoch(t *testing.T) {
	sc := newTxnScript(t)
	sc.init("tx", -1, -1)
	expectCode(t, "add", sc.addByBroker("tx", 100, 0, "out", 0), nil)
	expectEnd(t, "A commits", sc.endV2("tx", 100, 0, true), nil, 100, 1)
	sc.s.MarkersWritten(sc.now, "tx", 100, 1)
	sc.drain()
	if r := sc.init("tx", -1, -1); r.ErrorCode != 0 || r.ProducerEpoch != 2 {
		t.Fatalf("B inits: %+v", r)
	}
	for _, epoch := range []int16{0, 1} {
		if r := sc.init("tx", 100, epoch); r.ErrorCode != kerr.ProducerFenced.Code {
			t.Fatalf("zombie A re-inits with epoch %d: %+v", epoch, r)
		}
	}
	re := sc.replayed(4)
	sc.s = re
	if r := sc.init("tx", 100, 1); r.ErrorCode != kerr.ProducerFenced.Code {
		t.Fatalf("zombie A re-inits after a reload: %+v", r)
	}
}

// A timeout at the last epoch moves the producer to a new id once the
// abort is complete (KAFKA-20090): the maximum epoch is never handed out,
// and the abort markers still name the old id, at a bumped epoch.
func TestTxnFenceAtExhaustedEpoch(t *testing.T) {
	sc := newTxnScript(t)
	sc.s.cfg.NewProducerID = func() int64 { sc.nextPID++; return sc.nextPID - 1 }
	sc.init("tx", -1, -1)
	sc.s.txns["tx"].epoch = math.MaxInt16 - 1
	expectCode(t, "add", sc.addByBroker("tx", 100, math.MaxInt16-1, "out", 0), nil)
	sc.now = sc.now.Add(11_000_000_000)
	sc.s.Tick(sc.now)
	sc.drain()
	if len(sc.markers) != 1 || sc.markers[0].ProducerID != 100 || sc.markers[0].ProducerEpoch != math.MaxInt16 || sc.markers[0].TransactionVersion != 2 {
		t.Fatalf("timeout markers %+v", sc.markers)
	}
	sc.s.MarkersWritten(sc.now, "tx", 100, math.MaxInt16)
	sc.drain()
	if got := sc.state("tx"); got != "CompleteAbort pid=101 epoch=0 partitions=0" {
		t.Fatalf("state %s", got)
	}
	expectEnd(t, "the producer's abort, retried", sc.endV2("tx", 100, math.MaxInt16-1, false), nil, 101, 0)
	if r := sc.init("tx", 100, math.MaxInt16-1); r.ErrorCode != 0 || r.ProducerID != 101 || r.ProducerEpoch != 0 {
		t.Fatalf("re-init with the old id at the last epoch: %+v", r)
	}
}

package coordinator

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnScript drives a TxnShard and keeps what it persisted, so a story can
// be told step by step and replayed into a fresh shard.
type txnScript struct {
	t       *testing.T
	s       *TxnShard
	now     time.Time
	log     []Record
	markers []TxnMarkers
	nextPID int64
}

func newTxnScript(t *testing.T) *txnScript {
	s := NewTxnShard(TxnConfig{MaxTimeout: time.Minute, AbortTimedOutInterval: time.Second, OffsetsTopicPartitions: 3}, 4)
	s.SetTopics(map[string]int32{"out": 2, OffsetsTopic: 3})
	return &txnScript{t: t, s: s, now: time.UnixMilli(1_000_000), nextPID: 100}
}

func (sc *txnScript) drain() kmsg.Response {
	rd := sc.s.Ready()
	sc.log = append(sc.log, rd.Records...)
	sc.markers = append(sc.markers, rd.Markers...)
	if len(rd.Responses) == 0 {
		return nil
	}
	return rd.Responses[len(rd.Responses)-1].Resp
}

func (sc *txnScript) init(id string, pid int64, epoch int16) *kmsg.InitProducerIDResponse {
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = 4
	req.TransactionalID = &id
	req.TransactionTimeoutMillis = 10_000
	req.ProducerID, req.ProducerEpoch = pid, epoch
	sc.s.InitProducerID(sc.now, 1, req, sc.nextPID)
	sc.nextPID++
	return sc.drain().(*kmsg.InitProducerIDResponse)
}

func (sc *txnScript) add(id string, pid int64, epoch int16, topic string, parts ...int32) int16 {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 3
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = id, pid, epoch
	rt := kmsg.NewAddPartitionsToTxnRequestTopic()
	rt.Topic, rt.Partitions = topic, parts
	req.Topics = append(req.Topics, rt)
	sc.s.Step(sc.now, 1, req)
	resp := sc.drain().(*kmsg.AddPartitionsToTxnResponse)
	return resp.Topics[0].Partitions[0].ErrorCode
}

func (sc *txnScript) verify(id string, pid int64, epoch int16, topic string, part int32) int16 {
	return sc.brokerAdd(id, pid, epoch, topic, part, true)
}

// brokerAdd is AddPartitionsToTxn v5 from a partition leader: a KIP-890
// verification, or (not verifyOnly) an add for a produce v12+.
func (sc *txnScript) brokerAdd(id string, pid int64, epoch int16, topic string, part int32, verifyOnly bool) int16 {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 5
	tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = id, pid, epoch, verifyOnly
	rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	rt.Topic, rt.Partitions = topic, []int32{part}
	tx.Topics = append(tx.Topics, rt)
	req.Transactions = append(req.Transactions, tx)
	sc.s.Step(sc.now, 1, req)
	return sc.drain().(*kmsg.AddPartitionsToTxnResponse).Transactions[0].Topics[0].Partitions[0].ErrorCode
}

func (sc *txnScript) end(id string, pid int64, epoch int16, commit bool) int16 {
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, commit
	sc.s.Step(sc.now, 1, req)
	return sc.drain().(*kmsg.EndTxnResponse).ErrorCode
}

func (sc *txnScript) state(id string) string {
	req := kmsg.NewPtrDescribeTransactionsRequest()
	req.TransactionalIDs = []string{id}
	sc.s.Step(sc.now, 1, req)
	st := sc.drain().(*kmsg.DescribeTransactionsResponse).TransactionStates[0]
	return fmt.Sprintf("%s pid=%d epoch=%d partitions=%d", st.State, st.ProducerID, st.ProducerEpoch, len(st.Topics))
}

// replayed returns a new shard (coordinator epoch coordEpoch) that replayed
// everything the script's shard persisted, as a coordinator taking over
// the partition would.
func (sc *txnScript) replayed(coordEpoch int32) *TxnShard {
	sc.t.Helper()
	re := NewTxnShard(TxnConfig{MaxTimeout: sc.s.cfg.MaxTimeout}, coordEpoch)
	for _, rec := range sc.log {
		if err := re.Replay(rec.Key, rec.Value); err != nil {
			sc.t.Fatal(err)
		}
	}
	return re
}

func expectCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	wantCode := int16(0)
	if want != nil {
		wantCode = want.Code
	}
	if got != wantCode {
		t.Fatalf("%s: error %v, want %v", what, kerr.ErrorForCode(got), want)
	}
}

// A transaction's life: init, add partitions, commit through
// PrepareCommit and the markers to CompleteCommit; retries and wrong
// requests on the way answer as Kafka does.
func TestTxnLifecycle(t *testing.T) {
	sc := newTxnScript(t)
	r := sc.init("tx", -1, -1)
	if r.ErrorCode != 0 || r.ProducerID != 100 || r.ProducerEpoch != 0 {
		t.Fatalf("init: %+v", r)
	}
	expectCode(t, "add unknown topic", sc.add("tx", 100, 0, "nope", 0), kerr.UnknownTopicOrPartition)
	expectCode(t, "verify before add", sc.verify("tx", 100, 0, "out", 1), kerr.TransactionAbortable)
	expectCode(t, "add", sc.add("tx", 100, 0, "out", 0, 1), nil)
	expectCode(t, "verify after add", sc.verify("tx", 100, 0, "out", 1), nil)
	expectCode(t, "add with a wrong producer id", sc.add("tx", 99, 0, "out", 0), kerr.InvalidProducerIDMapping)
	expectCode(t, "add with a wrong epoch", sc.add("tx", 100, 1, "out", 0), kerr.ProducerFenced)
	if got := sc.state("tx"); got != "Ongoing pid=100 epoch=0 partitions=1" {
		t.Fatalf("state %s", got)
	}
	expectCode(t, "commit", sc.end("tx", 100, 0, true), nil)
	if len(sc.markers) != 1 || !sc.markers[0].Commit || len(sc.markers[0].Partitions) != 2 || sc.markers[0].CoordinatorEpoch != 4 {
		t.Fatalf("markers %+v", sc.markers)
	}
	expectCode(t, "add while committing", sc.add("tx", 100, 0, "out", 0), kerr.ConcurrentTransactions)
	expectCode(t, "commit retry while committing", sc.end("tx", 100, 0, true), kerr.ConcurrentTransactions)
	expectCode(t, "abort while committing", sc.end("tx", 100, 0, false), kerr.InvalidTxnState)
	if r := sc.init("tx", -1, -1); r.ErrorCode != kerr.ConcurrentTransactions.Code {
		t.Fatalf("init while committing: %+v", r)
	}
	sc.s.MarkersWritten(sc.now, "tx", 100, 0)
	sc.drain()
	if got := sc.state("tx"); got != "CompleteCommit pid=100 epoch=0 partitions=0" {
		t.Fatalf("state %s", got)
	}
	expectCode(t, "commit retry after completion", sc.end("tx", 100, 0, true), nil)
	expectCode(t, "abort after commit", sc.end("tx", 100, 0, false), kerr.InvalidTxnState)

	// The state survives a reload from the records written.
	re := sc.replayed(5)
	re.LoadComplete(sc.now)
	if rd := re.Ready(); len(rd.Markers) != 0 {
		t.Fatalf("a completed transaction re-sent markers: %+v", rd.Markers)
	}
	sc.s = re
	if got := sc.state("tx"); got != "CompleteCommit pid=100 epoch=0 partitions=0" {
		t.Fatalf("reloaded state %s", got)
	}
}

// A new producer with the same transactional id fences the old one: its
// open transaction is aborted with a bumped epoch, and the old epoch is
// refused everywhere.
func TestTxnFencingAndRecovery(t *testing.T) {
	sc := newTxnScript(t)
	sc.init("tx", -1, -1)
	expectCode(t, "add", sc.add("tx", 100, 0, "out", 0), nil)
	if r := sc.init("tx", -1, -1); r.ErrorCode != kerr.ConcurrentTransactions.Code {
		t.Fatalf("init over an open transaction: %+v", r)
	}
	if len(sc.markers) != 1 || sc.markers[0].Commit || sc.markers[0].ProducerEpoch != 1 {
		t.Fatalf("fencing abort markers %+v", sc.markers)
	}
	// The coordinator restarts before the markers are written: it
	// re-issues them from the PrepareAbort record.
	re := sc.replayed(5)
	re.SetTopics(map[string]int32{"out": 2})
	re.LoadComplete(sc.now)
	rd := re.Ready()
	if len(rd.Markers) != 1 || rd.Markers[0].Commit || rd.Markers[0].ProducerEpoch != 1 || rd.Markers[0].CoordinatorEpoch != 5 {
		t.Fatalf("markers after reload %+v", rd.Markers)
	}
	sc.s = re
	sc.s.MarkersWritten(sc.now, "tx", 100, 1)
	sc.drain()
	r := sc.init("tx", -1, -1)
	if r.ErrorCode != 0 || r.ProducerID != 100 || r.ProducerEpoch != 2 {
		t.Fatalf("init after the abort: %+v", r)
	}
	expectCode(t, "zombie add", sc.add("tx", 100, 0, "out", 1), kerr.ProducerFenced)
	expectCode(t, "zombie commit", sc.end("tx", 100, 0, true), kerr.ProducerFenced)
	if r := sc.init("tx", 100, 0); r.ErrorCode != kerr.ProducerFenced.Code {
		t.Fatalf("zombie re-init with its old epoch: %+v", r)
	}
	// KIP-360: the current producer may re-init naming its epoch.
	if r := sc.init("tx", 100, 2); r.ErrorCode != 0 || r.ProducerEpoch != 3 {
		t.Fatalf("re-init with the current epoch: %+v", r)
	}
}

// A transaction open past its timeout is aborted with a bumped epoch.
func TestTxnTimeout(t *testing.T) {
	sc := newTxnScript(t)
	sc.init("tx", -1, -1)
	expectCode(t, "add", sc.add("tx", 100, 0, "out", 0), nil)
	sc.now = sc.now.Add(5 * time.Second)
	sc.s.Tick(sc.now)
	sc.drain()
	if len(sc.markers) != 0 {
		t.Fatalf("aborted before the timeout: %+v", sc.markers)
	}
	sc.now = sc.now.Add(6 * time.Second)
	sc.s.Tick(sc.now)
	sc.drain()
	if len(sc.markers) != 1 || sc.markers[0].Commit || sc.markers[0].ProducerEpoch != 1 {
		t.Fatalf("timeout markers %+v", sc.markers)
	}
	if got := sc.state("tx"); got != "PrepareAbort pid=100 epoch=1 partitions=1" {
		t.Fatalf("state %s", got)
	}
	expectCode(t, "commit by the timed-out producer", sc.end("tx", 100, 0, true), kerr.ProducerFenced)
}

// Transactional offset commits stay pending until the marker: COMMIT
// makes them visible, ABORT drops them, and RequireStable fetches see
// UNSTABLE_OFFSET_COMMIT meanwhile.
func TestTxnOffsetCommitPending(t *testing.T) {
	s := NewShard(Config{OffsetMetadataMaxSize: 4096})
	commit := func(pid int64, offset int64) {
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.Version = 3
		req.Group, req.ProducerID, req.ProducerEpoch, req.Generation = "g", pid, 0, -1
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = "in"
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = 0, offset
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, recs := s.TxnOffsetCommit(time.Now(), req)
		if c := resp.Topics[0].Partitions[0].ErrorCode; c != 0 || len(recs) != 1 {
			t.Fatalf("txn offset commit: %v, %d records", kerr.ErrorForCode(c), len(recs))
		}
		s.AddPendingTxnOffsets(pid, recs)
	}
	fetch := func() (int64, int16) {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = 7
		req.Group, req.RequireStable = "g", true
		rt := kmsg.NewOffsetFetchRequestTopic()
		rt.Topic, rt.Partitions = "in", []int32{0}
		req.Topics = append(req.Topics, rt)
		s.Step(time.Now(), 1, Client{}, req)
		resp := s.Ready().Responses[0].Resp.(*kmsg.OffsetFetchResponse)
		p := resp.Topics[0].Partitions[0]
		return p.Offset, p.ErrorCode
	}
	commit(7, 10)
	if off, code := fetch(); code != kerr.UnstableOffsetCommit.Code {
		t.Fatalf("pending commit: offset %d code %v", off, kerr.ErrorForCode(code))
	}
	s.CompleteTxn(7, false)
	if off, code := fetch(); code != 0 || off != -1 {
		t.Fatalf("after abort: offset %d code %v", off, kerr.ErrorForCode(code))
	}
	commit(7, 20)
	s.CompleteTxn(7, true)
	if off, code := fetch(); code != 0 || off != 20 {
		t.Fatalf("after commit: offset %d code %v", off, kerr.ErrorForCode(code))
	}
}

package replica

import (
	"errors"
	"testing"
	"time"

	"github.com/riffle-io/riffle/protocol/records"
)

func txnBatch(t *testing.T, pid int64, epoch int16, seq int32) []byte {
	t.Helper()
	now := time.Now()
	b, err := records.Build(records.BatchHeader{
		Attributes:    records.TransactionalFlag,
		BaseTimestamp: now.UnixMilli(), MaxTimestamp: now.UnixMilli(),
		ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq,
	}, records.CodecNone, []records.Record{{Value: []byte("v")}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A transactional write needs a verification guard unless its producer
// has a transaction open here at the same epoch: under transaction version
// 2 the next transaction (a bumped epoch) may write before the previous
// one's marker arrives, and must not join it.
func TestTransactionalAppendNeedsGuardPerEpoch(t *testing.T) {
	_, p := testManager(t)
	now := time.Now()
	if _, err := p.AppendTransactionalToLeader(txnBatch(t, 5, 0, 0), 0, now); !errors.Is(err, ErrNeedsVerification) {
		t.Fatalf("first write without a guard: %v", err)
	}
	g := p.AddVerificationGuard(5, 0)
	if _, err := p.AppendTransactionalToLeader(txnBatch(t, 5, 0, 0), g, now); err != nil {
		t.Fatal(err)
	}
	if _, err := p.AppendTransactionalToLeader(txnBatch(t, 5, 0, 1), 0, now); err != nil {
		t.Fatalf("second write of the open transaction: %v", err)
	}
	if _, err := p.AppendTransactionalToLeader(txnBatch(t, 5, 1, 0), 0, now); !errors.Is(err, ErrNeedsVerification) {
		t.Fatalf("write at the next epoch before the marker: %v", err)
	}
	// The marker (at the bumped epoch) ends the transaction; a guard
	// taken before it no longer stands.
	stale := p.AddVerificationGuard(5, 1)
	if _, err := p.AppendTxnMarker(5, 1, 0, true, 2, now); err != nil {
		t.Fatal(err)
	}
	if _, err := p.AppendTransactionalToLeader(txnBatch(t, 5, 1, 0), stale, now); err == nil {
		t.Fatal("a guard from before the marker was accepted")
	}
	g = p.AddVerificationGuard(5, 1)
	if _, err := p.AppendTransactionalToLeader(txnBatch(t, 5, 1, 0), g, now); err != nil {
		t.Fatalf("write of the next transaction: %v", err)
	}
}

// An epoch the leader epoch cache has not seen (no append since it began)
// up to the current leader epoch ends at the log end offset, as Kafka's
// cache (which records the epoch on becoming leader) answers; a newer one
// is unknown.
func TestLastOffsetForLeaderEpochIdleEpoch(t *testing.T) {
	_, p := testManager(t)
	if e, off, err := p.LastOffsetForLeaderEpoch(-1, 0); err != nil || e != 0 || off != 0 {
		t.Fatalf("empty log, epoch 0: %d %d %v", e, off, err)
	}
	appendOne(t, p, "a")
	appendOne(t, p, "b")
	if e, off, err := p.LastOffsetForLeaderEpoch(0, 0); err != nil || e != 0 || off != 2 {
		t.Fatalf("epoch 0 after two appends: %d %d %v", e, off, err)
	}
	if e, off, err := p.LastOffsetForLeaderEpoch(-1, 1); err != nil || e != -1 || off != -1 {
		t.Fatalf("a future epoch: %d %d %v", e, off, err)
	}
}

package storage

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/riffle-io/riffle/protocol/records"
)

func controlBatch(t *testing.T, pid int64, epoch int16, typ ControlType) records.Batch {
	t.Helper()
	key := binary.BigEndian.AppendUint16(make([]byte, 2, 4), uint16(typ))
	value := binary.BigEndian.AppendUint32(make([]byte, 2, 6), 0)
	b, err := records.Build(records.BatchHeader{
		Attributes:    records.TransactionalFlag | records.ControlFlag,
		BaseTimestamp: 1000, MaxTimestamp: 1000, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: -1,
		PartitionLeaderEpoch: -1,
	}, records.CodecNone, []records.Record{{Key: key, Value: value}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func txnBatch(t *testing.T, pid int64, seq int32, n int) records.Batch {
	return makeBatch(t, batchSpec{n: n, ts: 1000, pid: pid, epoch: 0, seq: seq, attrs: records.TransactionalFlag})
}

// TestTxnIndexAndLSO: open transactions hold the first unstable offset,
// an ABORT marker is indexed (in memory and in the segment's .txnindex),
// a COMMIT is not, and the state survives a clean restart and a crash
// (no producer snapshot at the log end, no .txnindex entry).
func TestTxnIndexAndLSO(t *testing.T) {
	dir := t.TempDir()
	now := time.UnixMilli(1000)
	l := openTestLog(t, dir, LogConfig{})
	mustAppend(t, l, makeBatch(t, batchSpec{n: 2, ts: 1000}), now) // 0-1
	mustAppend(t, l, txnBatch(t, 7, 0, 3), now)                    // 2-4, pid 7 opens at 2
	mustAppend(t, l, txnBatch(t, 8, 0, 2), now)                    // 5-6, pid 8 opens at 5
	if fuo := l.FirstUnstableOffset(); fuo != 2 {
		t.Fatalf("first unstable offset %d, want 2", fuo)
	}
	mustAppend(t, l, controlBatch(t, 7, 0, ControlAbort), now) // 7
	if fuo := l.FirstUnstableOffset(); fuo != 5 {
		t.Fatalf("after pid 7 aborted: first unstable offset %d, want 5", fuo)
	}
	mustAppend(t, l, txnBatch(t, 7, 3, 1), now)                 // 8, pid 7 opens again
	mustAppend(t, l, controlBatch(t, 8, 0, ControlCommit), now) // 9
	if fuo := l.FirstUnstableOffset(); fuo != 8 {
		t.Fatalf("after pid 8 committed: first unstable offset %d, want 8", fuo)
	}
	want := []AbortedTxn{{ProducerID: 7, FirstOffset: 2, LastOffset: 7, LastStableOffset: 5}}
	check := func(l *Log, stage string) {
		t.Helper()
		got := l.AbortedTransactions(0, 100)
		if len(got) != 1 || got[0] != want[0] {
			t.Fatalf("%s: aborted %+v, want %+v", stage, got, want)
		}
		if got := l.AbortedTransactions(8, 100); len(got) != 0 {
			t.Fatalf("%s: fetch from 8 got aborted %+v", stage, got)
		}
		if got := l.AbortedTransactions(0, 2); len(got) != 0 {
			t.Fatalf("%s: fetch below the transaction got %+v", stage, got)
		}
		if fuo := l.FirstUnstableOffset(); fuo != 8 {
			t.Fatalf("%s: first unstable offset %d, want 8", stage, fuo)
		}
	}
	check(l, "live")
	txnIndex := filepath.Join(dir, filenamePrefixFromOffset(0)+txnIndexFileSuffix)
	if n := fileSize(t, txnIndex); n != abortedTxnSize {
		t.Fatalf(".txnindex holds %d bytes, want one entry", n)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, dir, LogConfig{})
	check(l, "after a clean restart")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// A crash that lost the index entry and the snapshots: recovery
	// replays the log and restores both.
	if err := os.Truncate(txnIndex, 0); err != nil {
		t.Fatal(err)
	}
	for _, s := range segmentFiles(t, dir, snapshotFileSuffix) {
		if err := os.Remove(s); err != nil {
			t.Fatal(err)
		}
	}
	l = openTestLog(t, dir, LogConfig{})
	check(l, "after recovery")
	if n := fileSize(t, txnIndex); n != abortedTxnSize {
		t.Fatalf("recovered .txnindex holds %d bytes, want one entry", n)
	}

	// Truncating below the marker removes the entry and reopens pid 7's
	// transaction at 2.
	if err := l.TruncateTo(7); err != nil {
		t.Fatal(err)
	}
	if got := l.AbortedTransactions(0, 100); len(got) != 0 {
		t.Fatalf("after truncation: aborted %+v", got)
	}
	if fuo := l.FirstUnstableOffset(); fuo != 2 {
		t.Fatalf("after truncation: first unstable offset %d, want 2", fuo)
	}
	if n := fileSize(t, txnIndex); n != 0 {
		t.Fatalf("after truncation .txnindex holds %d bytes", n)
	}
}

// TestCoordinatorTxnWriteNeedsNoSequence: the coordinator's transactional
// writes (TxnOffsetCommit) carry no sequence and are accepted repeatedly.
func TestCoordinatorTxnWriteNeedsNoSequence(t *testing.T) {
	l := openTestLog(t, t.TempDir(), LogConfig{})
	now := time.UnixMilli(1000)
	for i := 0; i < 3; i++ {
		mustAppend(t, l, makeBatch(t, batchSpec{n: 1, ts: 1000, pid: 9, epoch: 2, seq: -1, attrs: records.TransactionalFlag}), now)
	}
	if fuo := l.FirstUnstableOffset(); fuo != 0 {
		t.Fatalf("first unstable offset %d, want 0", fuo)
	}
	mustAppend(t, l, controlBatch(t, 9, 2, ControlCommit), now)
	if fuo := l.FirstUnstableOffset(); fuo != -1 {
		t.Fatalf("first unstable offset %d after commit, want -1", fuo)
	}
	// An older epoch is fenced.
	if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{n: 1, ts: 1000, pid: 9, epoch: 1, seq: -1, attrs: records.TransactionalFlag}), 0, now); err == nil {
		t.Fatal("append with an older epoch succeeded")
	}
}

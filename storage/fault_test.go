package storage

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/riffle-io/riffle/storage/vfs"
)

// TestCrashAtAnyOperation fails the n-th filesystem operation (write,
// fsync, open, rename, truncate) of a workload that appends and rolls, and
// from then on every operation, as a dying disk would. The log must go
// offline, and reopening it on a healthy disk must give back every
// acknowledged batch, plus at most the one whose append failed.
func TestCrashAtAnyOperation(t *testing.T) {
	t.Parallel()
	cfg := LogConfig{SegmentBytes: 700, IndexIntervalBytes: 100, FlushMessages: 3}
	const batches = 8
	for n := int64(1); ; n++ {
		dir := t.TempDir()
		efs := vfs.NewErrorFS(vfs.Default)
		var ops atomic.Int64
		armed := atomic.Bool{}
		efs.SetFail(func(vfs.Op, string) bool { return armed.Load() && ops.Add(1) >= n })
		l, err := OpenLog(dir, testTP, [16]byte{7}, cfg, WithFS(efs))
		if err != nil {
			t.Fatal(err)
		}
		armed.Store(true)
		var acked [][]byte
		failed := -1
		for i := 0; i < batches; i++ {
			b := makeBatch(t, batchSpec{n: 2, ts: t0.UnixMilli() + int64(i), pid: 5, seq: int32(2 * i)})
			if _, err := l.AppendAsLeader(b, 1, t0); err != nil {
				if !errors.Is(err, ErrLogOffline) {
					t.Fatalf("op %d: append error %v is not ErrLogOffline", n, err)
				}
				failed = i
				break
			}
			acked = append(acked, append([]byte(nil), b...))
		}
		if failed < 0 {
			l.Close()
			if n == 1 {
				t.Fatal("workload made no filesystem operations")
			}
			return // n passed the last operation of the workload: done
		}
		abandon(l)

		l2, err := OpenLog(dir, testTP, [16]byte{7}, cfg)
		if err != nil {
			t.Fatalf("op %d: reopen: %v", n, err)
		}
		got := readAll(t, l2)
		if len(got) != len(acked) && len(got) != len(acked)+1 {
			t.Fatalf("op %d: %d batches after recovery, %d acknowledged", n, len(got), len(acked))
		}
		for i := range acked {
			if !bytes.Equal(got[i], acked[i]) {
				t.Fatalf("op %d: batch %d differs", n, i)
			}
		}
		// Producer state agrees with the surviving log.
		next := int32(2 * len(got))
		r, err := l2.AppendAsLeader(makeBatch(t, batchSpec{n: 1, pid: 5, seq: next}), 1, t0)
		if err != nil || r.FirstOffset != int64(2*len(got)) {
			t.Fatalf("op %d: append after recovery: %+v %v", n, r, err)
		}
		l2.Close()
		if n > 500 {
			t.Fatal("workload never finished")
		}
	}
}

func TestFlushMessagesAdvancesRecoveryPoint(t *testing.T) {
	t.Parallel()
	l := openTestLog(t, t.TempDir(), LogConfig{FlushMessages: 4})
	mustAppend(t, l, makeBatch(t, batchSpec{n: 2}), t0)
	if l.RecoveryPoint() != 0 {
		t.Fatalf("recovery point %d before flush.messages reached", l.RecoveryPoint())
	}
	mustAppend(t, l, makeBatch(t, batchSpec{n: 2}), t0)
	if l.RecoveryPoint() != 4 {
		t.Fatalf("recovery point %d, want 4", l.RecoveryPoint())
	}
	mustAppend(t, l, makeBatch(t, batchSpec{n: 1}), t0)
	if err := l.Flush(); err != nil || l.RecoveryPoint() != 5 {
		t.Fatalf("after Flush: %d %v", l.RecoveryPoint(), err)
	}
}

func TestLeaderEpochEndOffsetFor(t *testing.T) {
	t.Parallel()
	c := &leaderEpochCache{entries: []EpochEntry{{Epoch: 2, StartOffset: 10}, {Epoch: 4, StartOffset: 30}, {Epoch: 7, StartOffset: 50}}}
	tests := []struct {
		req       int32
		wantEpoch int32
		wantOff   int64
	}{
		{req: -1, wantEpoch: -1, wantOff: -1},
		{req: 0, wantEpoch: 0, wantOff: 10}, // older than every entry
		{req: 2, wantEpoch: 2, wantOff: 30},
		{req: 3, wantEpoch: 2, wantOff: 30},
		{req: 4, wantEpoch: 4, wantOff: 50},
		{req: 6, wantEpoch: 4, wantOff: 50},
		{req: 7, wantEpoch: 7, wantOff: 99}, // latest: the log end offset
		{req: 8, wantEpoch: -1, wantOff: -1},
	}
	for _, tc := range tests {
		if e, off := c.endOffsetFor(tc.req, 99); e != tc.wantEpoch || off != tc.wantOff {
			t.Errorf("endOffsetFor(%d) = %d, %d; want %d, %d", tc.req, e, off, tc.wantEpoch, tc.wantOff)
		}
	}
	if !c.truncateFromEnd(30) || len(c.entries) != 1 {
		t.Fatalf("truncateFromEnd: %v", c.entries)
	}
	if c.assign(1, 40) || !c.assign(3, 40) || c.assign(3, 41) {
		t.Fatalf("assign: %v", c.entries)
	}
}

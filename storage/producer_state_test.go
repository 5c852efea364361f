package storage

import (
	"errors"
	"testing"
	"time"
)

func TestIdempotentProducer(t *testing.T) {
	t.Parallel()
	const pid = 7000
	type step struct {
		epoch     int16
		seq       int32
		n         int
		wantErr   error
		wantDup   bool
		wantFirst int64 // for appends and duplicates
	}
	// Five batches of 2 records at seq 0,2,4,6,8 → offsets 0,2,4,6,8.
	base := []step{
		{epoch: 0, seq: 0, n: 2, wantFirst: 0},
		{epoch: 0, seq: 2, n: 2, wantFirst: 2},
		{epoch: 0, seq: 4, n: 2, wantFirst: 4},
		{epoch: 0, seq: 6, n: 2, wantFirst: 6},
		{epoch: 0, seq: 8, n: 2, wantFirst: 8},
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "duplicate of newest", steps: []step{{epoch: 0, seq: 8, n: 2, wantDup: true, wantFirst: 8}}},
		{name: "duplicate of 2nd", steps: []step{{epoch: 0, seq: 6, n: 2, wantDup: true, wantFirst: 6}}},
		{name: "duplicate of 3rd", steps: []step{{epoch: 0, seq: 4, n: 2, wantDup: true, wantFirst: 4}}},
		{name: "duplicate of 4th", steps: []step{{epoch: 0, seq: 2, n: 2, wantDup: true, wantFirst: 2}}},
		{name: "duplicate of 5th (oldest retained)", steps: []step{{epoch: 0, seq: 0, n: 2, wantDup: true, wantFirst: 0}}},
		{name: "sixth-oldest is out of order", steps: []step{
			{epoch: 0, seq: 10, n: 2, wantFirst: 10},
			{epoch: 0, seq: 0, n: 2, wantErr: ErrOutOfOrderSequence},
		}},
		{name: "in sequence", steps: []step{{epoch: 0, seq: 10, n: 1, wantFirst: 10}, {epoch: 0, seq: 11, n: 1, wantFirst: 11}}},
		{name: "gap", steps: []step{{epoch: 0, seq: 11, n: 1, wantErr: ErrOutOfOrderSequence}}},
		{name: "overlapping range is not a duplicate", steps: []step{{epoch: 0, seq: 8, n: 1, wantErr: ErrOutOfOrderSequence}}},
		{name: "old epoch fenced", steps: []step{
			{epoch: 1, seq: 0, n: 1, wantFirst: 10},
			{epoch: 0, seq: 10, n: 1, wantErr: ErrInvalidProducerEpoch},
		}},
		{name: "new epoch must start at 0", steps: []step{{epoch: 1, seq: 10, n: 1, wantErr: ErrOutOfOrderSequence}}},
		{name: "new epoch at 0 forgets old batches", steps: []step{
			{epoch: 1, seq: 0, n: 1, wantFirst: 10},
			{epoch: 0, seq: 8, n: 2, wantErr: ErrInvalidProducerEpoch},
			{epoch: 1, seq: 1, n: 1, wantFirst: 11},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := openTestLog(t, t.TempDir(), LogConfig{})
			for i, s := range append(append([]step(nil), base...), tc.steps...) {
				r, err := l.AppendAsLeader(makeBatch(t, batchSpec{n: s.n, pid: pid, epoch: s.epoch, seq: s.seq}), 0, t0)
				if !errors.Is(err, s.wantErr) {
					t.Fatalf("step %d: err %v, want %v", i, err, s.wantErr)
				}
				if err != nil {
					continue
				}
				if r.Duplicate != s.wantDup || r.FirstOffset != s.wantFirst || r.LastOffset != s.wantFirst+int64(s.n)-1 {
					t.Fatalf("step %d: %+v, want dup %v first %d", i, r, s.wantDup, s.wantFirst)
				}
			}
			// Nothing was written for duplicates or errors.
			n := 0
			for _, b := range readAll(t, l) {
				n += int(b.NumRecords())
			}
			if int64(n) != l.LogEndOffset() {
				t.Fatalf("%d records for LEO %d", n, l.LogEndOffset())
			}
		})
	}
}

func TestUnknownProducerAcceptsAnySequence(t *testing.T) {
	t.Parallel()
	l := openTestLog(t, t.TempDir(), LogConfig{})
	// KIP-360: state may have expired; the broker accepts the sequence.
	if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{n: 1, pid: 9, epoch: 3, seq: 42}), 0, t0); err != nil {
		t.Fatal(err)
	}
	e := l.ProducerIDs()[9]
	if e.ProducerEpoch != 3 || e.LastSequence() != 42 || e.LastOffset() != 0 || e.CurrentTxnFirstOffset != -1 {
		t.Fatalf("entry %+v", e)
	}
}

func TestSequenceWrapsAtMaxInt32(t *testing.T) {
	t.Parallel()
	l := openTestLog(t, t.TempDir(), LogConfig{})
	if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{n: 2, pid: 9, epoch: 0, seq: 1<<31 - 2}), 0, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{n: 1, pid: 9, epoch: 0, seq: 0}), 0, t0); err != nil {
		t.Fatal(err)
	}
}

func TestProducerSnapshotRoundTrip(t *testing.T) {
	t.Parallel()
	in := map[int64]*ProducerEntry{
		1: {ProducerID: 1, ProducerEpoch: 2, CoordinatorEpoch: -1, LastTimestamp: 99, CurrentTxnFirstOffset: -1,
			Batches: []BatchMetadata{{FirstSeq: 0, LastSeq: 4, FirstOffset: 10, LastOffset: 14, Timestamp: 90}, {FirstSeq: 5, LastSeq: 6, FirstOffset: 20, LastOffset: 21, Timestamp: 99}}},
		2: {ProducerID: 2, ProducerEpoch: 0, CoordinatorEpoch: 3, LastTimestamp: 7, CurrentTxnFirstOffset: 30},
	}
	data := encodeProducerSnapshot(in)
	if len(data) != producerSnapshotHeader+2*producerSnapshotEntrySize {
		t.Fatalf("%d bytes", len(data))
	}
	out, err := decodeProducerSnapshot(data)
	if err != nil {
		t.Fatal(err)
	}
	e := out[1]
	if e.ProducerEpoch != 2 || len(e.Batches) != 1 || e.Batches[0] != (BatchMetadata{FirstSeq: 5, LastSeq: 6, FirstOffset: 20, LastOffset: 21, Timestamp: 99}) {
		t.Fatalf("entry 1 %+v", e)
	}
	if e := out[2]; e.CoordinatorEpoch != 3 || e.CurrentTxnFirstOffset != 30 || e.LastSequence() != -1 {
		t.Fatalf("entry 2 %+v", e)
	}
	for i := range data {
		bad := append([]byte(nil), data...)
		bad[i] ^= 0x40
		if _, err := decodeProducerSnapshot(bad); err == nil && i >= 2 {
			t.Fatalf("flipped byte %d accepted", i)
		}
	}
	if _, err := decodeProducerSnapshot(data[:len(data)-1]); err == nil {
		t.Fatal("short snapshot accepted")
	}
}

// TestRemoveExpiredProducers follows ProducerStateManager.removeExpiredProducers:
// a producer without an open transaction whose last batch timestamp is at
// least producer.id.expiration.ms old is forgotten, also by later
// snapshots; its next batch is accepted as a new producer's, at any
// sequence (KIP-360).
func TestRemoveExpiredProducers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const expiration = 3000
	l := openTestLog(t, dir, LogConfig{}, WithProducerIDExpiration(expiration))
	const txnAttr = 0x10
	for _, s := range []batchSpec{
		{n: 1, pid: 1, epoch: 0, seq: 0, ts: 1000},                 // idle
		{n: 1, pid: 2, epoch: 0, seq: 0, ts: 1000, attrs: txnAttr}, // idle, transaction open
		{n: 1, pid: 3, epoch: 0, seq: 0, ts: 5000},                 // recent
	} {
		if _, err := l.AppendAsLeader(makeBatch(t, s), 0, t0); err != nil {
			t.Fatal(err)
		}
	}
	if n := l.RemoveExpiredProducers(time.UnixMilli(3999)); n != 0 {
		t.Fatalf("removed %d producers before any expired", n)
	}
	if n := l.RemoveExpiredProducers(time.UnixMilli(4000)); n != 1 {
		t.Fatalf("removed %d producers, want 1", n)
	}
	ids := l.ProducerIDs()
	if _, ok := ids[1]; ok {
		t.Fatal("expired producer 1 kept")
	}
	if _, ok := ids[2]; !ok {
		t.Fatal("producer 2 with an open transaction expired")
	}
	if _, ok := ids[3]; !ok {
		t.Fatal("recent producer 3 expired")
	}

	// The snapshot written at close no longer holds it.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, dir, LogConfig{}, WithCleanShutdown(true), WithProducerIDExpiration(1<<40))
	if _, ok := l.ProducerIDs()[1]; ok {
		t.Fatal("expired producer 1 back after reopening")
	}
	// Its next batch, far past its old sequence, starts a new entry.
	r, err := l.AppendAsLeader(makeBatch(t, batchSpec{n: 1, pid: 1, epoch: 0, seq: 57, ts: 6000}), 0, t0)
	if err != nil {
		t.Fatalf("batch of an expired producer: %v", err)
	}
	if r.Duplicate || r.FirstOffset != 3 {
		t.Fatalf("append %+v", r)
	}
	if e := l.ProducerIDs()[1]; e.LastSequence() != 57 {
		t.Fatalf("entry %+v", e)
	}
}

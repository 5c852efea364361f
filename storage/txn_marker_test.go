package storage

import (
	"errors"
	"testing"
	"time"

	"github.com/riffle-io/riffle/protocol/records"
)

// TestMarkerChecks: under transaction version 2 a marker at the epoch of
// the producer's open transaction is refused (a late marker of an earlier
// transaction must not end this one) while a repeat of a written marker is
// accepted; a marker from an older coordinator epoch than the producer's
// last marker is fenced, here and after a restart.
func TestMarkerChecks(t *testing.T) {
	dir := t.TempDir()
	now := time.UnixMilli(1000)
	l := openTestLog(t, dir, LogConfig{})
	data := func(epoch int16, seq int32) records.Batch {
		return makeBatch(t, batchSpec{n: 1, ts: 1000, pid: 7, epoch: epoch, seq: seq, attrs: records.TransactionalFlag})
	}
	marker := func(epoch int16, coordEpoch int32, tv int8) error {
		_, err := l.AppendMarkerAsLeader(controlBatch(t, 7, epoch, ControlCommit), 0,
			MarkerCheck{CoordinatorEpoch: coordEpoch, TransactionVersion: tv}, now)
		return err
	}
	mustAppend(t, l, data(0, 0), now)
	if err := marker(0, 3, 2); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("version 2 marker at the open transaction's epoch: %v", err)
	}
	if err := marker(1, 3, 2); err != nil {
		t.Fatalf("version 2 marker at the bumped epoch: %v", err)
	}
	if err := marker(1, 3, 2); err != nil {
		t.Fatalf("repeat of a written marker: %v", err)
	}
	// The next transaction at epoch 1 starts at sequence 0.
	mustAppend(t, l, data(1, 0), now)
	if err := marker(1, 3, 2); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("late marker of the previous transaction: %v", err)
	}
	if fuo := l.FirstUnstableOffset(); fuo != 3 {
		t.Fatalf("the open transaction was ended: first unstable offset %d, want 3", fuo)
	}
	if err := marker(2, 2, 2); !errors.Is(err, ErrTransactionCoordinatorFenced) {
		t.Fatalf("marker from an older coordinator: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, dir, LogConfig{})
	if err := marker(2, 2, 2); !errors.Is(err, ErrTransactionCoordinatorFenced) {
		t.Fatalf("marker from an older coordinator after a restart: %v", err)
	}
	if err := marker(2, 4, 2); err != nil {
		t.Fatalf("marker from a newer coordinator: %v", err)
	}
	if fuo := l.FirstUnstableOffset(); fuo != -1 {
		t.Fatalf("first unstable offset %d after the commit, want -1", fuo)
	}
}

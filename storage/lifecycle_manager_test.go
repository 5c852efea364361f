package storage

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/riffle-io/riffle/protocol/records"
	"github.com/riffle-io/riffle/storage/vfs"
)

// TestDiskFullTakesOnlyThatLogDirOffline: a full disk (ENOSPC) on one
// partition's segment, on write or fsync, takes that log and its log dir
// offline for good, with nothing half-visible; the partition in the other
// log dir keeps serving.
func TestDiskFullTakesOnlyThatLogDirOffline(t *testing.T) {
	t.Parallel()
	for _, op := range []vfs.Op{vfs.OpWrite, vfs.OpSync} {
		efs := vfs.NewErrorFS(vfs.Default)
		efs.SetErr(syscall.ENOSPC)
		m, err := NewLogManager([]string{t.TempDir(), t.TempDir()}, LogConfig{FlushMessages: 1}, nil, WithFS(efs))
		if err != nil {
			t.Fatal(err)
		}
		// New logs go to the dir with the fewest: sick to the first, well
		// to the second.
		sick, err := m.GetOrCreateLog(TopicPartition{"sick", 0}, [16]byte{1}, LogConfig{FlushMessages: 1})
		if err != nil {
			t.Fatal(err)
		}
		well, err := m.GetOrCreateLog(TopicPartition{"well", 0}, [16]byte{2}, LogConfig{FlushMessages: 1})
		if err != nil {
			t.Fatal(err)
		}
		mustAppend(t, sick, makeBatch(t, batchSpec{n: 2}), t0)
		efs.SetFail(func(o vfs.Op, name string) bool {
			return o == op && strings.Contains(name, "sick-0") && filepath.Ext(name) == ".log"
		})
		if _, err := sick.AppendAsLeader(makeBatch(t, batchSpec{n: 2}), 5, t0); !errors.Is(err, ErrLogOffline) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("op %d: append on a full disk: %v", op, err)
		}
		// A failed write publishes nothing; a failed fsync comes after the
		// write, whose bytes recovery will judge.
		if op == vfs.OpWrite && sick.LogEndOffset() != 2 {
			t.Fatalf("op %d: LEO %d after a failed append", op, sick.LogEndOffset())
		}
		if _, err := sick.Read(0, 1000, 2, true); !errors.Is(err, ErrLogOffline) {
			t.Fatalf("op %d: read of an offline log: %v", op, err)
		}
		if _, err := m.RunRetention(time.Now()); err != nil {
			t.Fatalf("op %d: retention with an offline log: %v", op, err)
		}
		r := mustAppend(t, well, makeBatch(t, batchSpec{n: 3}), t0)
		if r.LastOffset != 2 {
			t.Fatalf("op %d: healthy log append %+v", op, r)
		}
		if _, err := well.Read(0, 1000, 3, true); err != nil {
			t.Fatalf("op %d: healthy log read: %v", op, err)
		}
		if d, _ := m.LogDir(well.TopicPartition()); d != m.Dirs()[1] {
			t.Fatalf("op %d: well is in %s, not the second dir", op, d)
		}
		dir := m.Dirs()[0]
		if err := m.Shutdown(); err != nil {
			t.Fatalf("op %d: shutdown: %v", op, err)
		}
		if _, err := os.Stat(filepath.Join(dir, CleanShutdownFile)); !os.IsNotExist(err) {
			t.Fatalf("op %d: clean shutdown marked with an offline log: %v", op, err)
		}
		if _, err := os.Stat(filepath.Join(m.Dirs()[1], CleanShutdownFile)); err != nil {
			t.Fatalf("op %d: the healthy dir has no clean shutdown marker: %v", op, err)
		}
	}
}

// TestLogManagerLoadsCorruptLogOffline: a partition whose log is damaged in
// the middle loads offline with the file and offset in its error, while the
// rest of the broker's logs load and serve.
func TestLogManagerLoadsCorruptLogOffline(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := LogConfig{SegmentBytes: 1500}
	m, err := NewLogManager([]string{dir}, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	bad, _ := m.GetOrCreateLog(TopicPartition{"bad", 0}, [16]byte{1}, cfg)
	good, _ := m.GetOrCreateLog(TopicPartition{"good", 0}, [16]byte{2}, cfg)
	fillLog(t, bad, 30)
	fillLog(t, good, 5)
	if err := m.Shutdown(); err != nil {
		t.Fatal(err)
	}
	logs := segmentFiles(t, bad.Dir(), ".log")
	data, err := os.ReadFile(logs[1])
	if err != nil {
		t.Fatal(err)
	}
	b0, _, _ := records.ReadBatch(data)
	data[len(b0)+records.HeaderSize+1] ^= 0xff
	if err := os.WriteFile(logs[1], data, 0o644); err != nil {
		t.Fatal(err)
	}
	// Without a clean shutdown, so that recovery validates every segment.
	if err := os.Remove(filepath.Join(dir, CleanShutdownFile)); err != nil {
		t.Fatal(err)
	}
	// The recovery point lies inside the damaged segment, past the bad
	// batch: that batch had been flushed, so it is damage, not a torn tail.
	third, _ := offsetFromFileName(filepath.Base(logs[2]), ".log")
	rps := map[TopicPartition]int64{{"bad", 0}: third - 1, {"good", 0}: 0}
	if err := WriteOffsetCheckpoint(vfs.Default, filepath.Join(dir, RecoveryPointCheckpointFile), rps); err != nil {
		t.Fatal(err)
	}
	m2 := newTestManager(t, []string{dir}, cfg)
	bad2, ok := m2.Log(TopicPartition{"bad", 0})
	if !ok {
		t.Fatal("corrupt log not registered")
	}
	err = bad2.Offline()
	if !errors.Is(err, ErrLogOffline) || !errors.Is(err, ErrCorruptLog) || !strings.Contains(err.Error(), logs[1]) {
		t.Fatalf("corrupt log: %v", err)
	}
	if _, err := bad2.AppendAsLeader(makeBatch(t, batchSpec{n: 1}), 1, t0); !errors.Is(err, ErrLogOffline) {
		t.Fatalf("append to corrupt log: %v", err)
	}
	good2, _ := m2.Log(TopicPartition{"good", 0})
	if good2.Offline() != nil || len(readAll(t, good2)) != 5 {
		t.Fatalf("healthy log: %v", good2.Offline())
	}
	// Nothing of the damaged log was dropped.
	if got := len(segmentFiles(t, bad.Dir(), ".log")); got != len(logs) {
		t.Fatalf("%d segments left of %d", got, len(logs))
	}
}

// TestRunRetentionRollsAndDeletesWithDelay: an idle active segment older
// than segment.ms is rolled so retention can take it; deleted segments
// linger as .deleted for file.delete.delay.ms; the log start offset is
// checkpointed.
func TestRunRetentionRollsAndDeletesWithDelay(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := LogConfig{SegmentMs: 50, CleanupDelete: true, RetentionMs: 1000, RetentionBytes: -1, FileDeleteDelayMs: 500}
	m := newTestManager(t, []string{dir}, cfg)
	l, err := m.GetOrCreateLog(testTP, [16]byte{1, 2, 3}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	mustAppend(t, l, makeBatch(t, batchSpec{n: 4, ts: now.UnixMilli() - 4}), now)
	l.SetHighWatermark(l.LogEndOffset())
	// Too young to roll yet: segment.ms counts from the first batch's
	// timestamp (Kafka's LogSegment.timeWaitedForRoll).
	if n, err := m.RunRetention(now); err != nil || n != 0 || l.NumSegments() != 1 {
		t.Fatalf("deleted %d, %d segments: %v", n, l.NumSegments(), err)
	}
	later := now.Add(2 * time.Second)
	if n, err := m.RunRetention(later); err != nil || n != 1 {
		t.Fatalf("deleted %d: %v", n, err)
	}
	if l.LogStartOffset() != 4 || l.NumSegments() != 1 {
		t.Fatalf("log start %d, %d segments", l.LogStartOffset(), l.NumSegments())
	}
	if got := len(segmentFiles(t, l.Dir(), ".log.deleted")); got != 1 {
		t.Fatalf("%d .deleted segments", got)
	}
	starts, err := ReadOffsetCheckpoint(vfs.Default, filepath.Join(dir, LogStartOffsetCheckpointFile))
	if err != nil || starts[testTP] != 4 {
		t.Fatalf("checkpointed log start %v: %v", starts, err)
	}
	if _, err := m.RunRetention(later.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := segmentFiles(t, l.Dir(), ".deleted"); len(got) != 0 {
		t.Fatalf("left after file.delete.delay.ms: %v", got)
	}
}

// TestFlushMsAndRecoveryPointCheckpoint: flush.ms makes the log flusher
// (log.flush.scheduler.interval.ms) fsync a log, the recovery point
// follows, and the checkpoint records it, so recovery starts there.
func TestFlushMsAndRecoveryPointCheckpoint(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := LogConfig{FlushMs: 1000, FlushMessages: 1 << 62}
	m := newTestManager(t, []string{dir}, cfg)
	l, err := m.GetOrCreateLog(testTP, [16]byte{1, 2, 3}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, makeBatch(t, batchSpec{n: 3}), time.Now())
	if err := m.FlushDue(time.Now()); err != nil || l.RecoveryPoint() != 0 {
		t.Fatalf("flushed before flush.ms: recovery point %d, %v", l.RecoveryPoint(), err)
	}
	if err := m.FlushDue(time.Now().Add(2 * time.Second)); err != nil || l.RecoveryPoint() != 3 {
		t.Fatalf("after flush.ms: recovery point %d, %v", l.RecoveryPoint(), err)
	}
	if err := m.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	rps, err := ReadOffsetCheckpoint(vfs.Default, filepath.Join(dir, RecoveryPointCheckpointFile))
	if err != nil || rps[testTP] != 3 {
		t.Fatalf("checkpointed recovery points %v: %v", rps, err)
	}
}

// TestNewPartitionsGoToTheLeastLoadedDir: with several log.dirs, a new
// partition is placed in the directory holding the fewest.
func TestNewPartitionsGoToTheLeastLoadedDir(t *testing.T) {
	t.Parallel()
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	m := newTestManager(t, dirs, LogConfig{})
	counts := map[string]int{}
	for p := int32(0); p < 7; p++ {
		tp := TopicPartition{"spread", p}
		if _, err := m.GetOrCreateLog(tp, [16]byte{4}, LogConfig{}); err != nil {
			t.Fatal(err)
		}
		d, _ := m.LogDir(tp)
		counts[d]++
	}
	for _, d := range dirs {
		if counts[d] < 2 || counts[d] > 3 {
			t.Fatalf("placement %v", counts)
		}
	}
}

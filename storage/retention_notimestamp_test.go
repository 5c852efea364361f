package storage

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// noTimestamp is a batch whose records carry no timestamp (-1), as
// librdkafka can write them; validation stores -1 as its max timestamp.
func noTimestamp(t testing.TB, n int) batchSpec {
	tss := make([]int64, n)
	for i := range tss {
		tss[i] = -1
	}
	return batchSpec{tss: tss}
}

// TestRetentionWithoutTimestampsUsesFileAge: a segment none of whose
// batches has a timestamp ages by its file's modification time (Kafka's
// LogSegment.largestTimestamp), so it is neither deleted at once nor kept
// for ever.
func TestRetentionWithoutTimestampsUsesFileAge(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const retention = time.Hour
	l := openTestLog(t, dir, LogConfig{SegmentMs: 7 * 24 * 3600 * 1000})
	now := time.Now()
	mustAppend(t, l, makeBatch(t, noTimestamp(t, 3)), now)
	if err := l.Roll(now); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, makeBatch(t, noTimestamp(t, 2)), now)
	l.SetHighWatermark(l.LogEndOffset())
	if n, err := l.DeleteOldSegments(now.Add(retention-time.Minute), retention.Milliseconds(), -1); err != nil || n != 0 {
		t.Fatalf("deleted %d segments (%v) written %v before, within retention.ms", n, err, retention-time.Minute)
	}
	// The file was last written two hours ago: its data is older than
	// retention.ms, although no record says so.
	old := now.Add(-2 * retention)
	if err := os.Chtimes(filepath.Join(dir, "00000000000000000000.log"), old, old); err != nil {
		t.Fatal(err)
	}
	if n, err := l.DeleteOldSegments(now, retention.Milliseconds(), -1); err != nil || n != 1 {
		t.Fatalf("deleted %d segments (%v), want the one last modified %v ago", n, err, 2*retention)
	}
	if got := l.LogStartOffset(); got != 3 {
		t.Fatalf("log start offset %d, want 3", got)
	}
}

// TestSegmentMsWithoutFirstTimestampCountsFromCreation: when the first batch
// of a segment has no timestamp, segment.ms counts from the segment's
// creation, as Kafka's rolling-based timestamp stays the first batch's even
// when a later batch carries one (LogSegment.append at position 0).
func TestSegmentMsWithoutFirstTimestampCountsFromCreation(t *testing.T) {
	t.Parallel()
	const segmentMs = 60 * 60 * 1000
	l := openTestLog(t, t.TempDir(), LogConfig{SegmentMs: segmentMs})
	created := time.Now()
	mustAppend(t, l, makeBatch(t, noTimestamp(t, 1)), created)
	// A later batch with an old timestamp does not become the segment's
	// rolling-based timestamp.
	mustAppend(t, l, makeBatch(t, batchSpec{n: 1, ts: created.Add(-3 * time.Hour).UnixMilli()}), created)
	mustAppend(t, l, makeBatch(t, batchSpec{n: 1, ts: created.UnixMilli()}), created)
	if l.NumSegments() != 1 {
		t.Fatalf("rolled a segment created just now: %d segments", l.NumSegments())
	}
	if err := l.RollIfDue(created.Add(segmentMs / 2 * time.Millisecond)); err != nil || l.NumSegments() != 1 {
		t.Fatalf("rolled half-way through segment.ms: %d segments, %v", l.NumSegments(), err)
	}
	if err := l.RollIfDue(created.Add((segmentMs + 1000) * time.Millisecond)); err != nil || l.NumSegments() != 2 {
		t.Fatalf("not rolled segment.ms after creation: %d segments, %v", l.NumSegments(), err)
	}
}

// TestMinCompactionLagWithoutTimestampsUsesFileAge: min.compaction.lag.ms
// keeps a segment without timestamps dirty until its file is that old
// (LogCleanerManager.cleanableOffsets compares largestTimestamp), instead of
// treating it as infinitely old.
func TestMinCompactionLagWithoutTimestampsUsesFileAge(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := compactCfg()
	cfg.MinCompactionLagMs = time.Hour.Milliseconds()
	m := newTestManager(t, []string{dir}, cfg)
	l, err := m.GetOrCreateLog(testTP, [16]byte{1, 2, 3}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for range 5 {
		mustAppend(t, l, makeBatch(t, noTimestamp(t, 4)), now)
	}
	if err := l.Roll(now); err != nil {
		t.Fatal(err)
	}
	l.SetHighWatermark(l.LogEndOffset())
	ctx := context.Background()
	if n, err := m.CleanLogs(ctx, now.Add(time.Minute), CleanerConfig{}); err != nil || n != 0 {
		t.Fatalf("cleaned %d logs (%v) whose data was written a minute ago, within min.compaction.lag.ms", n, err)
	}
	old := now.Add(-2 * time.Hour)
	for _, f := range segmentFiles(t, l.Dir(), ".log") {
		if err := os.Chtimes(f, old, old); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := m.CleanLogs(ctx, now, CleanerConfig{}); err != nil || n != 1 {
		t.Fatalf("cleaned %d logs (%v), want the one last modified 2h ago", n, err)
	}
}

package storage

import (
	"testing"
	"time"
)

// TestSegmentMsRollSurvivesRestart: segment.ms counts from the active
// segment's first batch timestamp (Kafka's LogSegment.timeWaitedForRoll),
// which loading reads back, so a restart, clean or not, does not restart
// the wait, for the idle roll of the retention check and for the roll an
// append triggers alike.
func TestSegmentMsRollSurvivesRestart(t *testing.T) {
	t.Parallel()
	const segmentMs = 2 * 60 * 60 * 1000
	for _, tc := range []struct {
		name        string
		clean, idle bool
	}{
		{"clean/idle", true, true}, {"clean/append", true, false},
		{"unclean/idle", false, true}, {"unclean/append", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := LogConfig{SegmentMs: segmentMs}
			now := time.Now()
			first := now.Add(-90 * time.Minute)
			l := openTestLog(t, dir, cfg)
			mustAppend(t, l, makeBatch(t, batchSpec{n: 1, ts: first.UnixMilli()}), now)
			mustAppend(t, l, makeBatch(t, batchSpec{n: 2, ts: now.UnixMilli()}), now)
			if err := l.RollIfDue(now); err != nil || l.NumSegments() != 1 {
				t.Fatalf("rolled after 90 of 120 minutes: %d segments, %v", l.NumSegments(), err)
			}
			if tc.clean {
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			} else {
				abandon(l)
			}
			l = openTestLog(t, dir, cfg, WithCleanShutdown(tc.clean))
			// 29 more minutes: 119 since the first batch, not yet due.
			at := now.Add(29 * time.Minute)
			if err := l.RollIfDue(at); err != nil || l.NumSegments() != 1 {
				t.Fatalf("rolled after 119 minutes: %d segments, %v", l.NumSegments(), err)
			}
			at = now.Add(30*time.Minute + time.Millisecond)
			if tc.idle {
				if err := l.RollIfDue(at); err != nil {
					t.Fatal(err)
				}
			} else {
				mustAppend(t, l, makeBatch(t, batchSpec{n: 1, ts: at.UnixMilli()}), at)
			}
			if l.NumSegments() != 2 {
				t.Fatalf("not rolled 120 minutes after the first batch, across a restart: %d segments", l.NumSegments())
			}
			if got := l.activeSegment().baseOffset; got != 3 {
				t.Fatalf("new segment at %d, want 3", got)
			}
		})
	}
}

// TestSegmentJitter: segment.jitter.ms takes a per-segment amount in
// [0, min(segment.jitter.ms, segment.ms)) off segment.ms, the same for a
// segment across calls, and different segments get different amounts.
func TestSegmentJitter(t *testing.T) {
	t.Parallel()
	cfg := LogConfig{SegmentMs: 1000, SegmentJitterMs: 5000}
	seen := map[int64]bool{}
	for base := int64(0); base < 50; base++ {
		j := rollJitterMs(testTP, base, cfg)
		if j < 0 || j >= 1000 || j != rollJitterMs(testTP, base, cfg) {
			t.Fatalf("base %d: jitter %d", base, j)
		}
		seen[j] = true
	}
	if len(seen) < 10 {
		t.Fatalf("only %d distinct jitters over 50 segments", len(seen))
	}
	if j := rollJitterMs(testTP, 7, LogConfig{SegmentMs: 1000}); j != 0 {
		t.Fatalf("jitter %d without segment.jitter.ms", j)
	}

	dir := t.TempDir()
	cfg = LogConfig{SegmentMs: 10_000, SegmentJitterMs: 10_000}
	l := openTestLog(t, dir, cfg)
	now := time.Now()
	mustAppend(t, l, makeBatch(t, batchSpec{n: 1, ts: now.UnixMilli()}), now)
	due := cfg.SegmentMs - rollJitterMs(testTP, 0, cfg)
	if err := l.RollIfDue(now.Add(time.Duration(due) * time.Millisecond)); err != nil || l.NumSegments() != 1 {
		t.Fatalf("rolled at segment.ms - jitter: %d segments, %v", l.NumSegments(), err)
	}
	if err := l.RollIfDue(now.Add(time.Duration(due+1) * time.Millisecond)); err != nil || l.NumSegments() != 2 {
		t.Fatalf("not rolled past segment.ms - jitter: %d segments, %v", l.NumSegments(), err)
	}
}

package storage

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	"github.com/riffle-io/riffle/storage/vfs"
)

// CleanerOffsetCheckpointFile holds, per log dir, where each compacted log's
// dirty section starts (Kafka's cleaner-offset-checkpoint).
const CleanerOffsetCheckpointFile = "cleaner-offset-checkpoint"

// CleanerConfig holds the broker's log.cleaner.* settings.
type CleanerConfig struct {
	// DedupeBufferSize is log.cleaner.dedupe.buffer.size: it bounds the
	// offset map at Kafka's 24 bytes per entry (a 16-byte key hash and an
	// 8-byte offset), filled to log.cleaner.io.buffer.load.factor 0.9.
	DedupeBufferSize int64
	// IOMaxBytesPerSecond is log.cleaner.io.max.bytes.per.second; zero or
	// negative means unthrottled (Kafka's default, Double.MaxValue).
	IOMaxBytesPerSecond float64
}

func (c CleanerConfig) maxMapEntries() int {
	size := c.DedupeBufferSize
	if size <= 0 {
		size = 128 << 20
	}
	return max(int(float64(size)/24*0.9), 1)
}

// CleanLogs is one round of the log cleaner over every log with
// cleanup.policy=compact: the logs due for cleaning (see planClean), the
// dirtiest first. It returns how many were cleaned; a log whose cleaning
// fails is reported and the others are still cleaned.
func (m *LogManager) CleanLogs(ctx context.Context, now time.Time, cc CleanerConfig) (int, error) {
	m.cleanMu.Lock()
	defer m.cleanMu.Unlock()
	type candidate struct {
		tp   TopicPartition
		l    *Log
		plan cleanPlan
	}
	var due []candidate
	for tp, l := range m.Logs() {
		if !l.Config().CleanupCompact {
			continue
		}
		if p, ok := l.planClean(m.cleanerOffset(tp), now); ok {
			due = append(due, candidate{tp, l, p})
		}
	}
	sort.Slice(due, func(i, j int) bool { return due[i].plan.ratio() > due[j].plan.ratio() })
	throttle := newThrottler(ctx, cc.IOMaxBytesPerSecond)
	var errs []error
	n := 0
	for _, c := range due {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		start := time.Now()
		stats, err := c.l.clean(ctx, c.plan, now, cc.maxMapEntries(), throttle)
		if errors.Is(err, errCleanAborted) || errors.Is(err, context.Canceled) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("cleaning %s: %w", c.tp, err))
			continue
		}
		n++
		if err := m.setCleanerOffset(c.tp, stats.End); err != nil {
			errs = append(errs, err)
		}
		m.logger.Info("cleaned log", "partition", c.tp.String(), "dirty_from", stats.FirstDirty, "dirty_to", stats.End,
			"segments", stats.Segments, "records_kept", stats.RecordsKept, "records_removed", stats.RecordsGone,
			"bytes_before", stats.BytesBefore, "bytes_after", stats.BytesAfter, "took", time.Since(start))
	}
	return n, errors.Join(errs...)
}

// cleanerOffset is where the log's dirty section starts.
func (m *LogManager) cleanerOffset(tp TopicPartition) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.cleanerOffsets[tp]
}

// setCleanerOffset records a cleaning and rewrites the checkpoint of the
// log's directory.
func (m *LogManager) setCleanerOffset(tp TopicPartition, offset int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.cleanerOffsets[tp] = offset
	dir, ok := m.mu.dirOf[tp]
	if !ok {
		return nil
	}
	offsets := map[TopicPartition]int64{}
	for t, off := range m.mu.cleanerOffsets {
		if m.mu.dirOf[t] == dir {
			offsets[t] = off
		}
	}
	if err := WriteOffsetCheckpoint(m.fs, filepath.Join(dir, CleanerOffsetCheckpointFile), offsets); err != nil {
		return fmt.Errorf("cleaner checkpoint %s: %w", dir, err)
	}
	return nil
}

// loadCleanerOffsets reads a directory's cleaner checkpoint. It is derived
// data: without it the next cleaning starts from the log start.
func (m *LogManager) loadCleanerOffsets(fs vfs.FS, dir string) {
	offs, err := ReadOffsetCheckpoint(fs, filepath.Join(dir, CleanerOffsetCheckpointFile))
	if err != nil {
		m.logger.Warn("ignoring unreadable cleaner checkpoint", "dir", dir, "err", err)
		return
	}
	for tp, off := range offs {
		m.mu.cleanerOffsets[tp] = off
	}
}

// RunRetention is Kafka's periodic retention check
// (log.retention.check.interval.ms) over every log: see Log.ApplyRetention.
// When segments went, the log start offsets are checkpointed at once.
func (m *LogManager) RunRetention(now time.Time) (int, error) {
	var errs []error
	total := 0
	for tp, l := range m.Logs() {
		if l.Offline() != nil {
			continue
		}
		n, err := l.ApplyRetention(now)
		if err != nil && !errors.Is(err, ErrClosed) {
			errs = append(errs, fmt.Errorf("retention %s: %w", tp, err))
		}
		total += n
	}
	if total > 0 {
		errs = append(errs, m.Checkpoint())
	}
	return total, errors.Join(errs...)
}

// newThrottler returns a function that, called with the bytes the cleaner
// just read, sleeps as long as needed to keep it at rate bytes per second
// (Kafka's Throttler); it returns early with ctx's error.
func newThrottler(ctx context.Context, rate float64) func(int) error {
	if rate <= 0 {
		return func(int) error { return nil }
	}
	start := time.Now()
	var total float64
	return func(n int) error {
		total += float64(n)
		ahead := time.Duration(total/rate*float64(time.Second)) - time.Since(start)
		if ahead < 10*time.Millisecond {
			return nil
		}
		t := time.NewTimer(ahead)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		}
	}
}

package storage

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// IncrementLogStartOffset moves the log start offset forward (DeleteRecords,
// KIP-107) and deletes the segments that end at or before it. Like Kafka it
// refuses to move past the high watermark.
func (l *Log) IncrementLogStartOffset(offset int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	l.mu.Lock()
	if offset > l.mu.highWatermark {
		hw := l.mu.highWatermark
		l.mu.Unlock()
		return fmt.Errorf("delete records %s before %d: %w: high watermark %d", l.tp, offset, ErrOffsetOutOfRange, hw)
	}
	if offset > l.mu.logStartOffset {
		l.mu.logStartOffset = offset
	}
	l.mu.Unlock()
	_, err := l.deleteSegmentsLocked(time.Now(), func(s *logSegment, _ int64) bool { return s.nextOffset <= offset })
	return err
}

// DeleteOldSegments applies retention.ms and retention.bytes (negative
// values disable each), as Kafka's UnifiedLog.deleteOldSegments for
// cleanup.policy=delete: from the oldest, segments whose largest timestamp
// (the file's modification time when no batch has one) is older than
// retentionMs, and segments whose removal keeps the log at or
// above retentionBytes. Only segments wholly below the high watermark go,
// and never the active one. It returns the number of segments deleted.
func (l *Log) DeleteOldSegments(now time.Time, retentionMs, retentionBytes int64) (int, error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writableLocked(); err != nil {
		return 0, err
	}
	remaining := l.Size()
	return l.deleteSegmentsLocked(now, func(s *logSegment, _ int64) bool {
		byTime := false
		if retentionMs >= 0 {
			if ts, ok := s.largestTimestamp(); ok {
				byTime = now.UnixMilli()-ts > retentionMs
			}
		}
		bySize := retentionBytes >= 0 && remaining-s.size >= retentionBytes
		if byTime || bySize {
			remaining -= s.size
			return true
		}
		return false
	})
}

// largestTimestamp is Kafka's LogSegment.largestTimestamp: the largest
// batch max timestamp in the segment, or, when no batch carries a valid
// one (records with timestamp -1, as librdkafka can write), the .log
// file's modification time, so that such a segment ages from its last
// write instead of looking infinitely old or never ageing. ok is false
// only when the file cannot be examined; retention then keeps it.
func (s *logSegment) largestTimestamp() (ts int64, ok bool) {
	if s.maxTimestamp >= 0 {
		return s.maxTimestamp, true
	}
	fi, err := s.log.Stat()
	if err != nil {
		return 0, false
	}
	return fi.ModTime().UnixMilli(), true
}

// ApplyRetention is one pass of Kafka's retention check
// (log.retention.check.interval.ms) over this log, driven by its own
// config: the active segment is rolled once it is older than segment.ms
// (so that an idle partition's data can age out), then with
// cleanup.policy=delete, retention.ms and retention.bytes delete whole
// segments from the front; finally segment files whose file.delete.delay.ms
// has passed are removed. It returns the number of segments deleted.
func (l *Log) ApplyRetention(now time.Time) (int, error) {
	cfg := l.Config()
	if err := l.RollIfDue(now); err != nil {
		return 0, err
	}
	n := 0
	if cfg.CleanupDelete {
		var err error
		if n, err = l.DeleteOldSegments(now, cfg.RetentionMs, cfg.RetentionBytes); err != nil {
			return n, err
		}
	}
	return n, l.DeleteDueFiles(now)
}

// RollIfDue rolls a non-empty active segment that has been open longer than
// segment.ms (less its jitter), by the clock Kafka's LogSegment.shouldRoll
// uses: from its first batch's timestamp, which a restart reads back, so
// the wait is not restarted (timeWaitedForRoll), with the wall clock in
// place of an incoming batch's timestamp. Kafka rolls only when a batch
// arrives; rolling an idle segment too lets retention and compaction reach
// its data.
func (l *Log) RollIfDue(now time.Time) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writableLocked(); err != nil {
		if errors.Is(err, ErrClosed) {
			return nil
		}
		return err
	}
	cfg := l.Config()
	seg := l.activeSegment()
	if seg.size == 0 || seg.timeWaitedForRoll(now, now.UnixMilli()) <= cfg.SegmentMs-rollJitterMs(l.tp, seg.baseOffset, cfg) {
		return nil
	}
	_, err := l.rollLocked(now, cfg)
	return err
}

// Roll starts a new active segment unless the current one is empty.
func (l *Log) Roll(now time.Time) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	if l.activeSegment().size == 0 {
		return nil
	}
	_, err := l.rollLocked(now, l.Config())
	return err
}

// deleteSegmentsLocked deletes segments from the oldest while pred holds,
// stopping at the active segment and at the first segment reaching the
// high watermark; the log start offset moves to the first remaining
// segment if it was below. appendMu held.
func (l *Log) deleteSegmentsLocked(now time.Time, pred func(s *logSegment, hw int64) bool) (int, error) {
	l.mu.RLock()
	segs := append([]*logSegment(nil), l.mu.segments...)
	hw := l.mu.highWatermark
	l.mu.RUnlock()
	n := 0
	for n < len(segs)-1 && segs[n].nextOffset <= hw && pred(segs[n], hw) {
		n++
	}
	if n == 0 {
		return 0, nil
	}
	l.mu.Lock()
	l.mu.segments = l.mu.segments[n:]
	l.mu.logStartOffset = max(l.mu.logStartOffset, l.mu.segments[0].baseOffset)
	lso := l.mu.logStartOffset
	l.mu.Unlock()
	if err := l.retireSegmentsLocked(segs[:n], now); err != nil {
		return n, err
	}
	if err := l.deleteSnapshotsBelowLocked(segs[n].baseOffset); err != nil {
		return n, l.fail(err)
	}
	l.logger.Info("deleted segments", "partition", l.tp.String(), "count", n, "log_start_offset", lso)
	return n, nil
}

// pendingDelete is a segment renamed to .deleted, whose files are removed
// once file.delete.delay.ms has passed (Kafka's asynchronous segment
// deletion), so that readers holding it finish their reads.
type pendingDelete struct {
	seg *logSegment
	due time.Time
}

// retireSegmentsLocked takes segments already unlinked from the segment
// list off the disk: with file.delete.delay.ms zero at once, otherwise
// renamed to <name>.deleted and removed later by DeleteDueFiles. A crash in
// between leaves .deleted files, which loading removes. appendMu held.
func (l *Log) retireSegmentsLocked(segs []*logSegment, now time.Time) error {
	delay := l.Config().FileDeleteDelayMs
	for _, s := range segs {
		if delay <= 0 {
			if err := s.remove(l.fs, l.dir); err != nil {
				return l.fail(err)
			}
			continue
		}
		if err := s.renameFiles(l.fs, l.dir, "", deletedFileSuffix); err != nil {
			return l.fail(err)
		}
		l.pending = append(l.pending, pendingDelete{seg: s, due: now.Add(time.Duration(delay) * time.Millisecond)})
	}
	return nil
}

// DeleteDueFiles removes the .deleted segment files whose
// file.delete.delay.ms has passed.
func (l *Log) DeleteDueFiles(now time.Time) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	return l.deleteDueLocked(now)
}

func (l *Log) deleteDueLocked(now time.Time) error {
	keep := l.pending[:0]
	var errs []error
	for _, p := range l.pending {
		if now.Before(p.due) {
			keep = append(keep, p)
			continue
		}
		p.seg.close()
		errs = append(errs, p.seg.removeFiles(l.fs, l.dir, deletedFileSuffix))
	}
	clear(l.pending[len(keep):])
	l.pending = keep
	return errors.Join(errs...)
}

// deleteSnapshotsBelowLocked removes producer snapshots older than offset:
// the segments they describe are gone (Kafka's deleteProducerSnapshots).
func (l *Log) deleteSnapshotsBelowLocked(offset int64) error {
	offs, err := listSnapshots(l.fs, l.dir)
	if err != nil {
		return err
	}
	for _, off := range offs {
		if off < offset {
			if err := l.fs.Remove(snapshotPath(l.dir, off)); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
	}
	return nil
}

// TruncateFullyAndStartAt empties the log and restarts it at offset (a
// follower whose leader's log start offset is past its log end offset, as
// Kafka's UnifiedLog.truncateFullyAndStartAt).
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("truncate %s: %w: offset %d", l.tp, ErrOffsetOutOfRange, offset)
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	return l.truncateFullyAndStartAtLocked(offset)
}

// truncateFullyAndStartAtLocked is TruncateFullyAndStartAt with appendMu
// held on a writable log.
func (l *Log) truncateFullyAndStartAtLocked(offset int64) error {
	cfg := l.Config()
	l.mu.RLock()
	old := append([]*logSegment(nil), l.mu.segments...)
	l.mu.RUnlock()
	for _, s := range old {
		if err := s.remove(l.fs, l.dir); err != nil {
			return l.fail(err)
		}
	}
	seg, _, err := openSegment(l.fs, l.dir, offset, cfg.SegmentIndexBytes, time.Now())
	if err != nil {
		return l.fail(err)
	}
	l.mu.Lock()
	l.mu.segments = []*logSegment{seg}
	l.mu.logStartOffset, l.mu.logEndOffset, l.mu.highWatermark, l.mu.recoveryPoint = offset, offset, offset, offset
	l.mu.Unlock()
	l.epochs.entries = nil
	if err := l.epochs.persist(); err != nil {
		return l.fail(err)
	}
	offs, err := listSnapshots(l.fs, l.dir)
	if err != nil {
		return l.fail(err)
	}
	for _, off := range offs {
		if err := l.fs.Remove(snapshotPath(l.dir, off)); err != nil {
			return l.fail(err)
		}
	}
	l.producers = newProducerStateManager()
	l.resetTxnState()
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.fail(err)
	}
	return nil
}

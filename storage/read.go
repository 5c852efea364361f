package storage

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/riffle-io/riffle/protocol/records"
)

// Read returns whole batches starting with the batch that contains
// startOffset (it may begin before startOffset: clients skip the records
// they did not ask for), stopping before any batch whose last offset is >=
// maxOffset (the high watermark or last stable offset) and after maxBytes.
// When minOneBatch is set and the first batch alone exceeds maxBytes it is
// returned whole anyway, so consumers always make progress (KIP-74).
// Like Kafka's UnifiedLog.read, one call returns data from one segment.
func (l *Log) Read(startOffset int64, maxBytes int, maxOffset int64, minOneBatch bool) (ReadResult, error) {
	// A segment can be swapped out by the cleaner or deleted by retention
	// after the view was taken; a fresh view then answers. Bounded: every
	// retry follows a completed swap or deletion.
	for attempt := 0; ; attempt++ {
		res, err, retry := l.read(startOffset, maxBytes, maxOffset, minOneBatch)
		if !retry {
			return res, err
		}
		if attempt == 3 {
			return res, fmt.Errorf("read %s at %d: %w: log starts at %d", l.tp, startOffset, ErrOffsetOutOfRange, l.LogStartOffset())
		}
	}
}

func (l *Log) read(startOffset int64, maxBytes int, maxOffset int64, minOneBatch bool) (ReadResult, error, bool) {
	l.mu.RLock()
	if err := l.readableLocked(); err != nil {
		l.mu.RUnlock()
		return ReadResult{}, err, false
	}
	res := ReadResult{LogStartOffset: l.mu.logStartOffset, LogEndOffset: l.mu.logEndOffset, HighWatermark: l.mu.highWatermark}
	if startOffset < res.LogStartOffset || startOffset > res.LogEndOffset {
		l.mu.RUnlock()
		return res, fmt.Errorf("read %s at %d: %w: log is [%d, %d)", l.tp, startOffset, ErrOffsetOutOfRange, res.LogStartOffset, res.LogEndOffset), false
	}
	if startOffset == res.LogEndOffset || maxOffset <= startOffset {
		l.mu.RUnlock()
		return res, nil, false
	}
	views := l.viewsLocked(l.segmentIndexLocked(startOffset))
	l.mu.RUnlock()

	for _, v := range views {
		data, found, err := readSegment(v, startOffset, maxBytes, maxOffset, minOneBatch)
		if errors.Is(err, os.ErrClosed) {
			// The segment was deleted (retention, DeleteRecords), replaced
			// by a cleaned one, or the log closed after this reader took
			// its view.
			if l.Offline() != nil || l.isClosed() {
				return res, fmt.Errorf("read %s: %w", l.tp, ErrClosed), false
			}
			return res, nil, true
		}
		if err != nil {
			if isIOError(err) {
				// Kafka's LocalLog.read runs under maybeHandleIOException:
				// a disk that cannot be read takes the log dir offline.
				return res, l.fail(fmt.Errorf("read at %d: %w", startOffset, err)), false
			}
			return res, fmt.Errorf("read %s at %d: %w", l.tp, startOffset, err), false
		}
		if found {
			res.Records = data
			return res, nil, false
		}
	}
	return res, nil, false
}

// readSegment reads from one segment; found reports whether the segment
// holds a batch ending at or after startOffset (if not, the caller moves on
// to the next segment).
func readSegment(v segmentView, startOffset int64, maxBytes int, maxOffset int64, minOneBatch bool) ([]byte, bool, error) {
	s := v.seg
	from := s.offsetIndex.lookup(startOffset).position
	if from > v.size {
		from = 0
	}
	var first batchHeader
	pos := int64(-1)
	err := s.walkHeaders(from, v.size, func(h batchHeader, p int64) bool {
		if h.lastOffset() >= startOffset {
			first, pos = h, p
			return false
		}
		return true
	})
	if err != nil {
		return nil, false, err
	}
	if pos < 0 {
		return nil, false, nil
	}
	if first.lastOffset() >= maxOffset {
		return nil, true, nil
	}
	maxBytes = max(maxBytes, 0)
	if first.size() > int64(maxBytes) {
		if !minOneBatch {
			return nil, true, nil
		}
		buf := make([]byte, first.size())
		if _, err := s.log.ReadAt(buf, pos); err != nil {
			return nil, true, vanished(err)
		}
		return buf, true, nil
	}
	buf := make([]byte, min(int64(maxBytes), v.size-pos))
	if _, err := s.log.ReadAt(buf, pos); err != nil {
		return nil, true, vanished(err)
	}
	// Keep the whole batches below maxOffset.
	end := 0
	for end+records.HeaderSize <= len(buf) {
		h, err := parseHeader(buf[end:])
		if err != nil || end+int(h.size()) > len(buf) || h.lastOffset() >= maxOffset {
			break
		}
		end += int(h.size())
	}
	return buf[:end:end], true, nil
}

// isIOError reports whether err came from the filesystem (as opposed to
// bad bytes in a segment, which are not the disk's fault).
func isIOError(err error) bool {
	var pe *os.PathError
	return errors.As(err, &pe) && !errors.Is(err, os.ErrClosed)
}

// vanished maps a short read to an empty result: the log was truncated
// (TruncateTo) after the reader took its view.
func vanished(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// OffsetForTimestamp finds the first record whose timestamp is >= ts
// (ListOffsets with a timestamp): the first segment whose largest timestamp
// reaches ts, the time index to skip most of it, then a scan of batch
// headers and, inside the batch found, of its records. found is false
// when no record is that recent.
func (l *Log) OffsetForTimestamp(ts int64) (offset int64, timestamp int64, found bool) {
	l.mu.RLock()
	if l.readableLocked() != nil {
		l.mu.RUnlock()
		return -1, -1, false
	}
	lso := l.mu.logStartOffset
	views := l.viewsLocked(l.segmentIndexLocked(lso))
	l.mu.RUnlock()

	for _, v := range views {
		if v.maxTimestamp < ts || v.size == 0 {
			continue
		}
		s := v.seg
		te := s.timeIndex.lookup(ts)
		from := s.offsetIndex.lookup(te.offset).position
		if from > v.size {
			from = 0
		}
		var hit batchHeader
		pos := int64(-1)
		if err := s.walkHeaders(from, v.size, func(h batchHeader, p int64) bool {
			if h.maxTimestamp >= ts && h.lastOffset() >= lso {
				hit, pos = h, p
				return false
			}
			return true
		}); err != nil || pos < 0 {
			continue
		}
		offset, timestamp = max(hit.baseOffset, lso), hit.maxTimestamp
		buf := make([]byte, hit.size())
		if _, err := s.log.ReadAt(buf, pos); err == nil {
			forEachRecord(buf, hit, func(o, t int64) bool {
				if t >= ts && o >= lso {
					offset, timestamp = o, t
					return false
				}
				return true
			})
		}
		return offset, timestamp, true
	}
	return -1, -1, false
}

// MaxTimestamp returns the largest timestamp in the log and the offset of
// the first record carrying it (KIP-734, ListOffsets MAX_TIMESTAMP), or
// (-1, -1) for an empty log.
func (l *Log) MaxTimestamp() (timestamp int64, offset int64) {
	l.mu.RLock()
	if l.readableLocked() != nil {
		l.mu.RUnlock()
		return -1, -1
	}
	views := l.viewsLocked(0)
	l.mu.RUnlock()

	best := -1
	for i, v := range views {
		if v.size > 0 && v.maxTimestamp >= 0 && (best < 0 || v.maxTimestamp > views[best].maxTimestamp) {
			best = i
		}
	}
	if best < 0 {
		return -1, -1
	}
	v := views[best]
	timestamp, offset = v.maxTimestamp, v.offsetOfMax
	s := v.seg
	from := s.offsetIndex.lookup(v.offsetOfMax).position
	if from > v.size {
		from = 0
	}
	_ = s.walkHeaders(from, v.size, func(h batchHeader, p int64) bool {
		if h.lastOffset() < v.offsetOfMax {
			return true
		}
		buf := make([]byte, h.size())
		if _, err := s.log.ReadAt(buf, p); err == nil {
			forEachRecord(buf, h, func(o, t int64) bool {
				if t == timestamp {
					offset = o
					return false
				}
				return true
			})
		}
		return false
	})
	return timestamp, offset
}

// TruncateTo removes every batch at or after offset (a follower discarding
// a divergent tail, KIP-101). A batch straddling offset is removed whole.
// When nothing at or above the log start offset would remain (the target
// is below it, or the batch holding it straddles the target), the log
// restarts empty at offset, as Kafka's UnifiedLog.truncateTo falls back to
// truncateFullyAndStartAt, so the log end never drops below the log start.
func (l *Log) TruncateTo(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("truncate %s to %d: %w", l.tp, offset, ErrOffsetOutOfRange)
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	l.mu.RLock()
	lso, leo := l.mu.logStartOffset, l.mu.logEndOffset
	segs := append([]*logSegment(nil), l.mu.segments...)
	l.mu.RUnlock()
	if offset >= leo {
		return nil
	}
	if offset < lso {
		l.logger.Info("truncating below the log start: restarting the log", "partition", l.tp.String(),
			"offset", offset, "log_start_offset", lso)
		return l.truncateFullyAndStartAtLocked(offset)
	}
	cfg := l.Config()
	// Keep the segment holding offset and drop every later one; the first
	// segment is never dropped so the log keeps a segment.
	keep := len(segs)
	for keep > 1 && segs[keep-1].baseOffset >= offset {
		keep--
	}
	seg := segs[keep-1]
	cut, newEnd := seg.size, offset
	if err := seg.walkHeaders(seg.offsetIndex.lookup(offset).position, seg.size, func(h batchHeader, p int64) bool {
		if h.lastOffset() >= offset {
			cut, newEnd = p, min(h.baseOffset, offset)
			return false
		}
		return true
	}); err != nil {
		return l.fail(err)
	}
	if offset <= seg.baseOffset {
		cut, newEnd = 0, seg.baseOffset
	}
	if newEnd < lso {
		// The batch holding the log start offset goes whole: what is left
		// would end below the log start.
		l.logger.Info("truncating into the batch at the log start: restarting the log", "partition", l.tp.String(),
			"offset", offset, "log_start_offset", lso)
		return l.truncateFullyAndStartAtLocked(offset)
	}
	l.mu.Lock()
	l.mu.segments = segs[:keep]
	l.mu.Unlock()
	for _, s := range segs[keep:] {
		if err := s.remove(l.fs, l.dir); err != nil {
			return l.fail(err)
		}
	}
	// Rebuild the kept segment's indexes and maxima from its remaining
	// batches: truncation is rare and this keeps one code path.
	if err := seg.log.Truncate(cut); err != nil {
		return l.fail(err)
	}
	fresh := &logSegment{baseOffset: seg.baseOffset, log: seg.log, offsetIndex: seg.offsetIndex, timeIndex: seg.timeIndex,
		txnIndex: seg.txnIndex, created: seg.created, size: cut, nextOffset: seg.baseOffset,
		maxTimestamp: -1, offsetOfMaxTimestamp: -1, firstBatchTimestamp: -1}
	if err := fresh.offsetIndex.reset(); err != nil {
		return l.fail(err)
	}
	if err := fresh.timeIndex.reset(); err != nil {
		return l.fail(err)
	}
	if _, err := fresh.scan(0, false, cfg.IndexIntervalBytes, nil); err != nil {
		return l.fail(err)
	}
	fresh.nextOffset = max(fresh.nextOffset, newEnd)
	if fresh.nextOffset != newEnd {
		return l.fail(fmt.Errorf("truncate: segment ends at %d, expected %d", fresh.nextOffset, newEnd))
	}
	l.mu.Lock()
	l.mu.segments[keep-1] = fresh
	l.mu.logEndOffset = newEnd
	l.mu.highWatermark = min(l.mu.highWatermark, newEnd)
	l.mu.recoveryPoint = min(l.mu.recoveryPoint, newEnd)
	l.mu.Unlock()
	if l.epochs.truncateFromEnd(newEnd) {
		if err := l.epochs.persist(); err != nil {
			return l.fail(err)
		}
	}
	if err := l.loadProducerState(newEnd, lso, time.Time{}); err != nil {
		return l.fail(err)
	}
	return nil
}

func (l *Log) isClosed() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.closed
}

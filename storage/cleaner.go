package storage

import (
	"context"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"time"

	"github.com/riffle-io/riffle/protocol/records"
)

// Log compaction (Kafka's LogCleaner, cleanup.policy=compact).
//
// A compacted log has a clean head, already compacted, and a dirty section
// after it, starting at the cleaner checkpoint (cleaner-offset-checkpoint).
// One cleaning:
//
//  1. plans: the dirty section ends at the first segment that is active,
//     reaches past the high watermark, or is younger than
//     min.compaction.lag.ms. The log is cleaned when dirty bytes / total
//     bytes reaches min.cleanable.dirty.ratio, when its oldest dirty data is
//     older than max.compaction.lag.ms, or when retained tombstones have
//     reached their delete horizon.
//  2. builds an offset map, key → latest offset, over the dirty section.
//     Like Kafka's SkimpyOffsetMap it holds an MD5 of each key, so its size
//     is bounded by log.cleaner.dedupe.buffer.size whatever the keys; a full
//     map ends the section at a segment boundary.
//  3. rewrites every segment below the section's end, in groups whose total
//     size fits segment.bytes (so small cleaned segments merge), keeping a
//     record unless a later offset holds its key, it has no key, or it is a
//     tombstone whose batch's delete horizon has passed. Offsets never change:
//     a rewritten batch keeps its base offset, last offset delta, base
//     sequence and producer fields, with a new length and CRC-32C. Batches
//     whose records all survive are copied byte for byte. Transactions
//     (KIP-98, cleaner_txn.go): aborted data goes, committed data is
//     compacted like any other, and a COMMIT/ABORT marker stays while its
//     transaction has data, then until its delete horizon; the cleaned
//     .txnindex keeps the entries of the ABORT markers that stay. Nothing
//     at or above the first unstable offset is cleaned. A batch whose
//     tombstones are kept for the first time is rewritten with KIP-534's
//     delete horizon:
//     attribute bit 6 set and baseTimestamp = now + delete.retention.ms
//     (record timestamp deltas re-based, so record timestamps do not
//     change). The horizon is on disk, so restarts neither lose nor reset
//     it. The last batch of a group, and
//     each producer's last batch, are kept even when empty, as Kafka keeps
//     them for producer state; that also makes a group's cleaned segment end
//     exactly where the group ended.
//  4. swaps crash-safely, as Kafka does: the new segment is written as
//     <base>.*.cleaned and fsynced, renamed to .swap, the old segments
//     renamed to .deleted, and the .swap files to their final names. Loading
//     completes a swap whose .log.swap exists and drops .cleaned files.
//
// The active segment is never touched; appends continue while a log is
// cleaned, and only the swap takes the append lock.

// errCleanAborted: the log changed under the cleaner (retention, truncation,
// close); the pass is dropped and retried later.
var errCleanAborted = errors.New("cleaning aborted: the log changed")

// cleanPlan is the part of a log a cleaning covers.
type cleanPlan struct {
	segs       []*logSegment // from the first segment to the last cleanable one
	firstDirty int64
	end        int64 // first uncleanable offset: the dirty section is [firstDirty, end)
	cleanBytes int64
	dirtyBytes int64
	forced     bool // max.compaction.lag.ms breached or tombstones due
}

func (p cleanPlan) ratio() float64 {
	if p.cleanBytes+p.dirtyBytes == 0 {
		return 0
	}
	return float64(p.dirtyBytes) / float64(p.cleanBytes+p.dirtyBytes)
}

// planClean decides what a cleaning of this log would cover (Kafka's
// LogCleanerManager.cleanableOffsets and grabFilthiestCompactedLog).
func (l *Log) planClean(firstDirty int64, now time.Time) (cleanPlan, bool) {
	cfg := l.Config()
	l.loadTombstonesDue()
	// Read before l.mu (the transaction state is locked before l.mu
	// elsewhere). Transactions opened later start above every segment seen
	// below, so the bound stays safe.
	unstable := l.FirstUnstableOffset()
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.mu.offline != nil || l.mu.closed || len(l.mu.segments) < 2 {
		return cleanPlan{}, false
	}
	segs := l.mu.segments
	hw := l.mu.highWatermark
	firstDirty = min(max(firstDirty, l.mu.logStartOffset), l.mu.logEndOffset)
	nowMs := now.UnixMilli()
	p := cleanPlan{firstDirty: firstDirty}
	u := 0
	for ; u < len(segs)-1; u++ {
		s := segs[u]
		if s.nextOffset > hw || unstable >= 0 && s.nextOffset > unstable {
			// Kafka cleans only below the last stable offset: an open
			// transaction's data is neither committed nor aborted yet.
			break
		}
		if s.nextOffset > firstDirty && cfg.MinCompactionLagMs > 0 {
			// LogCleanerManager.cleanableOffsets compares the segment's
			// largestTimestamp: a segment without timestamps ages by its
			// file's modification time rather than being always old.
			if ts, ok := s.largestTimestamp(); !ok || ts > nowMs-cfg.MinCompactionLagMs {
				break
			}
		}
		if s.nextOffset <= firstDirty {
			p.cleanBytes += s.size
			continue
		}
		p.dirtyBytes += s.size
		lag := cfg.MaxCompactionLagMs
		if lag > 0 && lag < math.MaxInt64 && s.maxTimestamp >= 0 && nowMs-s.maxTimestamp > lag {
			p.forced = true
		}
	}
	if u == 0 {
		return cleanPlan{}, false
	}
	p.segs = append([]*logSegment(nil), segs[:u]...)
	p.end = segs[u].baseOffset
	if due := l.tombstonesDue.Load(); due > 0 && nowMs >= due {
		p.forced = true
	}
	if p.dirtyBytes == 0 && !p.forced {
		return cleanPlan{}, false
	}
	return p, p.forced || p.ratio() >= cfg.MinCleanableDirtyRatio
}

// cleaning is the state of one cleaning of one log.
type cleaning struct {
	l        *Log
	cfg      LogConfig
	now      time.Time
	keys     map[[16]byte]int64 // the offset map: key hash → latest offset in [firstDirty, mapEnd)
	mapEnd   int64
	lastOfPI map[int64]int64 // producer id → offset of its last batch
	epochOf  map[int64]int16 // producer id → epoch, for producers with no data batch retained
	throttle func(n int) error

	txns        *cleanedTxns // the rewrite's transactions, over the whole pass
	keptAborted []AbortedTxn // .txnindex entries the current group keeps

	tombstonesDue int64 // earliest time a kept tombstone may go (ms), 0 = none
	kept, removed int64
}

// CleanStats describes one cleaning.
type CleanStats struct {
	FirstDirty, End          int64 // the dirty section cleaned
	Segments                 int   // segments rewritten
	RecordsKept, RecordsGone int64
	BytesBefore, BytesAfter  int64
}

// clean compacts the log as planned. stats.End is where the next dirty
// section starts (the new cleaner checkpoint).
func (l *Log) clean(ctx context.Context, p cleanPlan, now time.Time, maxMapEntries int, throttle func(int) error) (CleanStats, error) {
	c := &cleaning{l: l, cfg: l.Config(), now: now, keys: make(map[[16]byte]int64), mapEnd: p.firstDirty, throttle: throttle}
	c.lastOfPI = make(map[int64]int64)
	c.epochOf = make(map[int64]int16)
	for pid, e := range l.ProducerIDs() {
		c.lastOfPI[pid] = e.LastOffset()
		if e.LastOffset() < 0 {
			c.epochOf[pid] = e.ProducerEpoch
		}
	}
	// Aborted transactions with data or a marker below the section's end:
	// the map build skips their data, the rewrite removes it.
	mapTxns := newCleanedTxns(l.AbortedTransactions(p.firstDirty, p.end))
	c.txns = newCleanedTxns(l.AbortedTransactions(0, p.end))
	// 2. The offset map over the dirty section.
	for _, s := range p.segs {
		if s.nextOffset <= p.firstDirty {
			continue
		}
		if err := ctx.Err(); err != nil {
			return CleanStats{}, err
		}
		if err := c.addToMap(s, p.firstDirty, mapTxns); err != nil {
			return CleanStats{}, err
		}
		c.mapEnd = s.nextOffset
		if len(c.keys) >= maxMapEntries {
			break
		}
	}
	if c.mapEnd <= p.firstDirty && !p.forced {
		return CleanStats{}, nil
	}
	// 3. Rewrite the segments below the map's end, group by group.
	var todo []*logSegment
	for _, s := range p.segs {
		if s.nextOffset <= max(c.mapEnd, p.firstDirty) {
			todo = append(todo, s)
		}
	}
	stats := CleanStats{FirstDirty: p.firstDirty, End: c.mapEnd}
	for _, group := range groupSegments(todo, c.cfg) {
		if err := ctx.Err(); err != nil {
			return stats, err
		}
		before, after, err := c.cleanGroup(group)
		if err != nil {
			return stats, err
		}
		stats.Segments += len(group)
		stats.BytesBefore += before
		stats.BytesAfter += after
	}
	stats.RecordsKept, stats.RecordsGone = c.kept, c.removed
	l.tombstonesDue.Store(c.tombstonesDue)
	l.tombstonesScanned.Store(true)
	return stats, nil
}

// loadTombstonesDue reads back, once after the log is loaded, the earliest
// delete horizon of the tombstones earlier cleanings kept, so that a
// cleaning is still forced when they are due (Kafka keeps this trigger,
// latestDeleteHorizon, only in memory, and after a restart waits for the
// dirty ratio). Headers tell which batches carry a horizon; only those are
// read whole, to see whether they still hold a tombstone. A walk that fails
// (the log changed or is unreadable) is retried at the next planning.
func (l *Log) loadTombstonesDue() {
	if l.tombstonesScanned.Load() {
		return
	}
	l.mu.RLock()
	if l.mu.offline != nil || l.mu.closed {
		l.mu.RUnlock()
		return
	}
	views := l.viewsLocked(0)
	l.mu.RUnlock()
	due := int64(0)
	var buf []byte
	// The active segment is never cleaned, so it carries no horizons.
	for _, v := range views[:len(views)-1] {
		err := v.seg.walkHeadersErr(0, v.size, func(h batchHeader, pos int64) error {
			if !h.hasDeleteHorizon() || h.numRecords == 0 || (due != 0 && h.deleteHorizonMs() >= due) {
				return nil
			}
			if h.isControl() {
				// A marker gets a horizon only once its transaction is
				// empty: it goes at the horizon.
				due = max(h.deleteHorizonMs(), 1)
				return nil
			}
			if int64(cap(buf)) < h.size() {
				buf = make([]byte, h.size())
			}
			buf = buf[:h.size()]
			if _, err := v.seg.log.ReadAt(buf, pos); err != nil {
				return err
			}
			err := records.Batch(buf).ForEachRecord(func(r *records.Record) error {
				if r.Value == nil {
					return errStopWalk
				}
				return nil
			})
			if errors.Is(err, errStopWalk) {
				due = max(h.deleteHorizonMs(), 1)
			}
			return nil // a damaged batch is the cleaning's to report
		})
		if err != nil {
			return
		}
	}
	if cur := l.tombstonesDue.Load(); due > 0 && (cur == 0 || due < cur) {
		l.tombstonesDue.Store(due)
	}
	l.tombstonesScanned.Store(true)
}

// groupSegments is Kafka's LogCleaner.groupSegmentsBySize: consecutive
// segments whose total size fits segment.bytes and whose offsets fit a
// segment's 32-bit relative offsets become one cleaned segment.
func groupSegments(segs []*logSegment, cfg LogConfig) [][]*logSegment {
	var groups [][]*logSegment
	for len(segs) > 0 {
		n, size := 1, segs[0].size
		for n < len(segs) && size+segs[n].size <= cfg.SegmentBytes &&
			segs[n].nextOffset-1-segs[0].baseOffset <= math.MaxInt32 {
			size += segs[n].size
			n++
		}
		groups = append(groups, segs[:n])
		segs = segs[n:]
	}
	return groups
}

// forEachBatch reads a segment's batches in order. Reads race only with
// deletion of the segment, which aborts the cleaning.
func (c *cleaning) forEachBatch(s *logSegment, fn func(b records.Batch, h batchHeader, last bool) error) error {
	size := c.l.segmentSize(s)
	if size < 0 {
		return errCleanAborted
	}
	var buf []byte
	return s.walkHeadersErr(0, size, func(h batchHeader, pos int64) error {
		if int64(cap(buf)) < h.size() {
			buf = make([]byte, h.size())
		}
		buf = buf[:h.size()]
		if _, err := s.log.ReadAt(buf, pos); err != nil {
			if errors.Is(err, os.ErrClosed) {
				return errCleanAborted
			}
			return err
		}
		if err := c.throttle(len(buf)); err != nil {
			return err
		}
		return fn(records.Batch(buf), h, pos+h.size() >= size)
	})
}

// addToMap records the latest offset of every key in a dirty segment.
// Markers and aborted data stay out (Kafka's buildOffsetMap): only data a
// read_committed consumer sees may shadow older values.
func (c *cleaning) addToMap(s *logSegment, firstDirty int64, txns *cleanedTxns) error {
	return c.forEachBatch(s, func(b records.Batch, h batchHeader, _ bool) error {
		if h.isControl() {
			txns.onControl(h, b)
			return nil
		}
		if txns.onData(h) || h.lastOffset() < firstDirty {
			return nil
		}
		return b.ForEachRecord(func(r *records.Record) error {
			if off := h.baseOffset + int64(r.OffsetDelta); r.Key != nil && off >= firstDirty {
				c.keys[md5.Sum(r.Key)] = off
			}
			return nil
		})
	})
}

// keep decides one record's fate (Kafka's LogCleaner.shouldRetainRecord).
func (c *cleaning) keep(h batchHeader, r *records.Record) bool {
	if r.Key == nil {
		return false // a compacted topic cannot hold records without a key
	}
	off := h.baseOffset + int64(r.OffsetDelta)
	if latest, ok := c.keys[md5.Sum(r.Key)]; ok && latest > off {
		return false
	}
	if r.Value == nil && h.hasDeleteHorizon() {
		// KIP-534: a tombstone stays until its batch's delete horizon, so
		// that a consumer reading from the start within delete.retention.ms
		// of the first cleaning that kept it sees the delete. A batch
		// without a horizon keeps its tombstones and gets one (filterBatch).
		return c.now.UnixMilli() < h.deleteHorizonMs()
	}
	return true
}

// deleteHorizonFor is the delete horizon a cleaning at now stamps on a
// batch whose tombstones it keeps for the first time (Kafka's
// MemoryRecords.filterTo: currentTime + delete.retention.ms).
func (c *cleaning) deleteHorizonFor() int64 {
	now, ret := c.now.UnixMilli(), max(c.cfg.DeleteRetentionMs, 0)
	if ret > math.MaxInt64-now {
		return math.MaxInt64
	}
	return now + ret
}

// noteTombstones records when tombstones kept under horizon may go, so
// that planClean forces the cleaning that removes them.
func (c *cleaning) noteTombstones(horizon int64) {
	if c.tombstonesDue == 0 || horizon < c.tombstonesDue {
		c.tombstonesDue = max(horizon, 1)
	}
}

// filterBatch returns the batch with only the kept records, nil when none
// is kept and the batch need not stay, or b itself when all are kept.
func (c *cleaning) filterBatch(b records.Batch, h batchHeader, keepEmpty bool) (records.Batch, error) {
	if h.isControl() {
		return c.filterMarker(b, h, keepEmpty)
	}
	// Aborted data goes whole; committed transactional data is compacted
	// like any other (Kafka's Cleaner.shouldDiscardBatch).
	aborted := c.txns.onData(h)
	recs, err := b.Records()
	if err != nil {
		return nil, fmt.Errorf("%w: batch at offset %d: %v", ErrCorruptLog, h.baseOffset, err)
	}
	kept := recs[:0]
	maxTs := int64(-1)
	tombstones := false
	for i := range recs {
		if !aborted && c.keep(h, &recs[i]) {
			kept = append(kept, recs[i])
			maxTs = max(maxTs, h.baseTimestamp+recs[i].TimestampDelta)
			tombstones = tombstones || recs[i].Value == nil
		}
	}
	c.kept += int64(len(kept))
	c.removed += int64(len(recs) - len(kept))
	// KIP-534: the first cleaning that keeps a batch's tombstones stamps
	// the batch with a delete horizon, now + delete.retention.ms, so the
	// deadline lives on disk and survives restarts (Kafka 3.1+).
	stamp := tombstones && !h.hasDeleteHorizon()
	baseTs, attrs := h.baseTimestamp, h.attributes
	if stamp {
		baseTs, attrs = c.deleteHorizonFor(), attrs|records.DeleteHorizonFlag
	}
	if tombstones {
		c.noteTombstones(baseTs)
	}
	if len(kept) == len(recs) && !stamp {
		return b, nil
	}
	if len(kept) == 0 && !keepEmpty && !c.lastOfProducer(h) {
		return nil, nil
	}
	if h.attributes&attrTimestampType != 0 || maxTs < 0 {
		maxTs = h.maxTimestamp // LogAppendTime, or no records left
	}
	return c.rebuild(b, h, kept, attrs, baseTs, maxTs)
}

// lastOfProducer reports whether a batch must stay, even empty, for
// producer state (Kafka's isBatchLastRecordOfProducer): it holds the
// producer's last data offset, or, for a producer with no data batch left,
// it is a marker of the producer's current epoch (needed for fencing).
func (c *cleaning) lastOfProducer(h batchHeader) bool {
	if !h.hasProducerID() {
		return false
	}
	if h.isControl() {
		epoch, ok := c.epochOf[h.producerID]
		return ok && epoch == h.producerEpoch
	}
	last, ok := c.lastOfPI[h.producerID]
	return ok && last == h.lastOffset()
}

// filterMarker decides a COMMIT or ABORT marker's fate: kept while its
// transaction has data in the log; then stamped with a delete horizon
// (KIP-534, as for tombstones, so that a consumer reading within
// delete.retention.ms still sees it); removed once the horizon passes.
// A marker that must stay past its horizon (the group's last batch, or the
// producer's last) is kept whole rather than emptied, so that every control
// batch in the log still reads as COMMIT or ABORT.
func (c *cleaning) filterMarker(b records.Batch, h batchHeader, keepEmpty bool) (records.Batch, error) {
	empty, entry := c.txns.onControl(h, b)
	if entry != nil {
		c.keptAborted = append(c.keptAborted, *entry)
	}
	n := int64(h.numRecords)
	mayGo := !keepEmpty && !c.lastOfProducer(h)
	switch {
	case !empty:
		c.kept += n
		return b, nil
	case h.numRecords == 0 || h.hasDeleteHorizon() && c.now.UnixMilli() >= h.deleteHorizonMs():
		if mayGo {
			c.removed += n
			return nil, nil
		}
		c.kept += n
		return b, nil
	case h.hasDeleteHorizon():
		c.noteTombstones(h.deleteHorizonMs())
		c.kept += n
		return b, nil
	}
	recs, err := b.Records()
	if err != nil {
		return nil, fmt.Errorf("%w: batch at offset %d: %v", ErrCorruptLog, h.baseOffset, err)
	}
	horizon := c.deleteHorizonFor()
	c.noteTombstones(horizon)
	c.kept += n
	return c.rebuild(b, h, recs, h.attributes|records.DeleteHorizonFlag, horizon, h.maxTimestamp)
}

// rebuild writes a batch holding kept, with b's offsets, producer fields
// and codec, and the given attributes and timestamps.
func (c *cleaning) rebuild(b records.Batch, h batchHeader, kept []records.Record, attrs int16, baseTs, maxTs int64) (records.Batch, error) {
	if baseTs != h.baseTimestamp {
		// The base timestamp now holds the horizon: re-base the records'
		// deltas so that base + delta still gives each record's timestamp
		// (Kafka's MemoryRecordsBuilder with a deleteHorizonMs).
		for i := range kept {
			kept[i].TimestampDelta += h.baseTimestamp - baseTs
		}
	}
	codec := b.Codec()
	if len(kept) == 0 {
		// Kafka's DefaultRecordBatch.writeEmptyHeader: an empty batch is a
		// bare header, uncompressed (clients cannot decompress nothing).
		codec = records.CodecNone
	}
	nb, err := records.Build(records.BatchHeader{
		BaseOffset: h.baseOffset, PartitionLeaderEpoch: h.leaderEpoch, Attributes: attrs,
		BaseTimestamp: baseTs, MaxTimestamp: maxTs,
		ProducerID: h.producerID, ProducerEpoch: h.producerEpoch, BaseSequence: h.baseSequence,
	}, codec, kept)
	if err != nil {
		return nil, err
	}
	// Keep the batch's offset span, so offsets after it and the producer's
	// last sequence stay as they were; the CRC covers the patched field.
	binary.BigEndian.PutUint32(nb[23:], uint32(h.lastOffsetDelta))
	binary.BigEndian.PutUint32(nb[17:], nb.ComputeCRC())
	return nb, nil
}

// cleanGroup writes the cleaned replacement of a group of segments and
// swaps it in.
func (c *cleaning) cleanGroup(group []*logSegment) (before, after int64, err error) {
	l := c.l
	base := group[0].baseOffset
	if err := removeSegmentFiles(l.fs, l.dir, base, cleanedFileSuffix); err != nil {
		return 0, 0, l.fail(err)
	}
	cs, _, err := openSegmentFiles(l.fs, l.dir, base, c.cfg.SegmentIndexBytes, c.now, cleanedFileSuffix)
	if err != nil {
		return 0, 0, l.fail(err)
	}
	discard := func() {
		cs.close()
		_ = removeSegmentFiles(l.fs, l.dir, base, cleanedFileSuffix)
	}
	c.keptAborted = c.keptAborted[:0]
	for gi, s := range group {
		before += l.segmentSize(s)
		lastSeg := gi == len(group)-1
		err := c.forEachBatch(s, func(b records.Batch, h batchHeader, lastBatch bool) error {
			out, err := c.filterBatch(b, h, lastSeg && lastBatch)
			if err != nil || out == nil {
				return err
			}
			oh, err := parseHeader(out)
			if err != nil {
				return err
			}
			if _, err := cs.log.Write(out); err != nil {
				return &diskError{err}
			}
			maxTs, offMax, err := cs.indexBatch(oh, cs.size, c.cfg.IndexIntervalBytes, cs.maxTimestamp, cs.offsetOfMaxTimestamp)
			if err != nil {
				return &diskError{err}
			}
			if cs.firstBatchTimestamp < 0 {
				cs.firstBatchTimestamp = oh.maxTimestamp
			}
			cs.size += oh.size()
			cs.nextOffset = oh.nextOffset()
			cs.maxTimestamp, cs.offsetOfMaxTimestamp = maxTs, offMax
			return nil
		})
		if err != nil {
			discard()
			var de *diskError
			if errors.As(err, &de) {
				return 0, 0, l.fail(de.err)
			}
			return 0, 0, err
		}
	}
	// The cleaned .txnindex keeps the aborted transactions whose ABORT
	// marker in the group stays because their data does (Kafka's
	// CleanedTransactionMetadata.cleanedIndex); entries carry absolute
	// offsets, so they move unchanged.
	kept := append([]AbortedTxn(nil), c.keptAborted...)
	for _, a := range kept {
		if _, err := cs.txnIndex.Write(encodeAbortedTxn(a)); err != nil {
			discard()
			return 0, 0, l.fail(err)
		}
	}
	end := group[len(group)-1].nextOffset
	if cs.nextOffset != end {
		discard()
		return 0, 0, fmt.Errorf("clean %s: cleaned segment %d ends at %d, group at %d", l.tp, base, cs.nextOffset, end)
	}
	if cs.maxTimestamp >= 0 {
		if err := cs.timeIndex.maybeAppend(cs.maxTimestamp, cs.offsetOfMaxTimestamp, true); err != nil {
			discard()
			return 0, 0, l.fail(err)
		}
	}
	if err := cs.sync(); err != nil {
		discard()
		return 0, 0, l.fail(err)
	}
	if err := l.swapIn(cs, group, kept, c.now); err != nil {
		if errors.Is(err, errCleanAborted) {
			discard()
		}
		return 0, 0, err
	}
	return before, cs.size, nil
}

// diskError marks a failed write of the cleaned segment, which takes the
// log offline, as opposed to a change of the log, which aborts the pass.
type diskError struct{ err error }

func (e *diskError) Error() string { return e.err.Error() }

// segmentSize is a segment's published size, or -1 once it has left the log.
func (l *Log) segmentSize(s *logSegment) int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, x := range l.mu.segments {
		if x == s {
			return s.size
		}
	}
	return -1
}

// swapIn replaces group, still in the log, with the fsynced cleaned segment
// cs (see the swap protocol above), whose .txnindex holds aborted.
func (l *Log) swapIn(cs *logSegment, group []*logSegment, aborted []AbortedTxn, now time.Time) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writableLocked(); err != nil {
		return errCleanAborted
	}
	l.mu.RLock()
	at := -1
	for i, s := range l.mu.segments {
		if s == group[0] {
			at = i
			break
		}
	}
	ok := at >= 0 && at+len(group) < len(l.mu.segments)
	for i := 0; ok && i < len(group); i++ {
		ok = l.mu.segments[at+i] == group[i]
	}
	l.mu.RUnlock()
	if !ok {
		return errCleanAborted
	}
	if err := cs.renameFiles(l.fs, l.dir, cleanedFileSuffix, swapFileSuffix); err != nil {
		return l.fail(err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.fail(err)
	}
	for _, s := range group {
		if err := s.renameFiles(l.fs, l.dir, "", deletedFileSuffix); err != nil {
			return l.fail(err)
		}
	}
	if err := cs.renameFiles(l.fs, l.dir, swapFileSuffix, ""); err != nil {
		return l.fail(err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.fail(err)
	}
	l.mu.Lock()
	segs := make([]*logSegment, 0, len(l.mu.segments)-len(group)+1)
	segs = append(segs, l.mu.segments[:at]...)
	segs = append(segs, cs)
	segs = append(segs, l.mu.segments[at+len(group):]...)
	l.mu.segments = segs
	l.mu.Unlock()
	l.replaceAborted(cs.baseOffset, cs.nextOffset, aborted)
	delay := time.Duration(max(l.Config().FileDeleteDelayMs, 0)) * time.Millisecond
	for _, s := range group {
		l.pending = append(l.pending, pendingDelete{seg: s, due: now.Add(delay)})
	}
	if delay == 0 {
		return l.deleteDueLocked(now)
	}
	return nil
}

// replaceAborted makes the aborted transactions fetches report for markers
// in [base, end) those of the cleaned segment's .txnindex: a read_committed
// consumer must not be told of an aborted transaction whose marker is
// gone, or it would drop the producer's later transactional data. appendMu
// held.
func (l *Log) replaceAborted(base, end int64, aborted []AbortedTxn) {
	l.txn.mu.Lock()
	defer l.txn.mu.Unlock()
	out := make([]AbortedTxn, 0, len(l.txn.aborted))
	for _, a := range l.txn.aborted {
		if a.LastOffset < base || a.LastOffset >= end {
			out = append(out, a)
		}
	}
	out = append(out, aborted...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].LastOffset < out[j].LastOffset })
	l.txn.aborted = out
}

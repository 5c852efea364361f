package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riffle-io/riffle/protocol/records"
	"github.com/riffle-io/riffle/storage/vfs"
)

// Log is one partition's log (Kafka's UnifiedLog over a LocalLog): a list
// of segments, the producer state and the leader epoch cache.
//
// Appends, rolls, flushes and truncation are serialised by appendMu; reads
// run concurrently, seeing a consistent view published under mu.
type Log struct {
	dir                    string
	tp                     TopicPartition
	fs                     vfs.FS
	logger                 *slog.Logger
	producerIDExpirationMs int64
	syncRollFlush          bool // options.syncRollFlush
	onFailure              func(error)

	appendMu sync.Mutex
	// flushMu serialises fsyncs of segments, which run without appendMu
	// after a roll (flushRolled). Lock order: appendMu, flushMu, mu.
	flushMu sync.Mutex
	// rollFlushes tracks the flushes started by rolls; Close waits for them.
	rollFlushes sync.WaitGroup

	producers *producerStateManager // guarded by appendMu
	epochs    *leaderEpochCache     // guarded by appendMu
	lastFlush time.Time             // guarded by appendMu
	pending   []pendingDelete       // guarded by appendMu: segments awaiting file.delete.delay.ms
	txn       txnState              // open and aborted transactions (txn_index.go)

	// tombstonesDue is the earliest delete horizon (KIP-534) of the
	// tombstones the cleaner kept (Unix ms; 0 = none known). The horizons
	// themselves are on disk; tombstonesScanned is set once they have been
	// read back after loading (loadTombstonesDue).
	tombstonesDue     atomic.Int64
	tombstonesScanned atomic.Bool

	mu struct {
		sync.RWMutex
		cfg            LogConfig
		topicID        [16]byte
		segments       []*logSegment // ascending base offsets, never empty while open
		logStartOffset int64
		logEndOffset   int64
		highWatermark  int64
		recoveryPoint  int64
		offline        error // sticky: set by the first failed write or fsync
		closed         bool
	}
}

// AppendResult describes an append.
type AppendResult struct {
	FirstOffset, LastOffset int64 // assigned offsets; for a duplicate: the original batch's offsets
	LogAppendTime           int64 // -1 unless LogAppendTime
	LogStartOffset          int64
	Duplicate               bool // idempotent retry of one of the last 5 batches: nothing written
}

// ReadResult holds whole batches and the log's offsets at read time.
type ReadResult struct {
	Records                                     []byte
	LogStartOffset, LogEndOffset, HighWatermark int64
}

// Dir is the partition directory.
func (l *Log) Dir() string { return l.dir }

// TopicPartition names the partition.
func (l *Log) TopicPartition() TopicPartition { return l.tp }

// TopicID is the topic id recorded in partition.metadata (zero if unknown).
func (l *Log) TopicID() [16]byte {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.topicID
}

// Config returns the log's configuration.
func (l *Log) Config() LogConfig {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.cfg
}

// SetConfig applies a changed topic configuration to later appends.
func (l *Log) SetConfig(cfg LogConfig) {
	l.mu.Lock()
	l.mu.cfg = cfg.withDefaults()
	l.mu.Unlock()
}

func (l *Log) LogStartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.logStartOffset
}

func (l *Log) LogEndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.logEndOffset
}

func (l *Log) HighWatermark() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.highWatermark
}

// RecoveryPoint is the offset below which everything has been fsynced.
func (l *Log) RecoveryPoint() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.recoveryPoint
}

// SetHighWatermark records the high watermark, clamped to
// [LogStartOffset, LogEndOffset] as UnifiedLog.updateHighWatermark does.
func (l *Log) SetHighWatermark(hw int64) {
	l.mu.Lock()
	l.mu.highWatermark = min(max(hw, l.mu.logStartOffset), l.mu.logEndOffset)
	hw = l.mu.highWatermark
	l.mu.Unlock()
	l.txn.mu.Lock()
	l.txn.onHighWatermarkUpdatedLocked(hw)
	l.txn.mu.Unlock()
}

// Size is the total size of the segments' .log files.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.mu.segments {
		n += s.size
	}
	return n
}

// NumSegments is the number of segments.
func (l *Log) NumSegments() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.mu.segments)
}

// Offline returns the error that took the log offline, or nil.
func (l *Log) Offline() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.offline
}

// ProducerIDs returns a copy of the producer state (DescribeProducers).
func (l *Log) ProducerIDs() map[int64]ProducerEntry {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	return l.producers.snapshot()
}

// LatestEpoch is the newest leader epoch in the leader epoch cache.
func (l *Log) LatestEpoch() (int32, bool) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	e, ok := l.epochs.latest()
	return e.Epoch, ok
}

// EpochEntries returns a copy of the leader epoch cache.
func (l *Log) EpochEntries() []EpochEntry {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	return append([]EpochEntry(nil), l.epochs.entries...)
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch (KIP-101): the largest
// epoch <= epoch and its end offset; (-1, -1) when unknown.
func (l *Log) EndOffsetForEpoch(epoch int32) (int32, int64) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	return l.epochs.endOffsetFor(epoch, l.LogEndOffset())
}

// writableLocked refuses writes to an offline or closed log. appendMu held.
func (l *Log) writableLocked() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.mu.offline != nil {
		return l.mu.offline
	}
	if l.mu.closed {
		return fmt.Errorf("%s: %w", l.tp, ErrClosed)
	}
	return nil
}

// fail takes the log offline for good (nats-server's sticky werr): after a
// failed write or fsync the file contents are unknown, so nothing more is
// written and recovery at the next start decides what survived. The first
// failure is reported to the LogManager, which takes the whole log dir
// offline, as Kafka's LogDirFailureChannel does for any IOException.
func (l *Log) fail(err error) error {
	l.mu.Lock()
	first := l.mu.offline == nil
	if first {
		l.mu.offline = &offlineError{cause: fmt.Errorf("%s: %w", l.tp, err)}
		l.logger.Error("log offline", "partition", l.tp.String(), "err", err)
	}
	off := l.mu.offline
	l.mu.Unlock()
	if first && l.onFailure != nil {
		l.onFailure(err) // takes l.mu of the dir's other logs only
	}
	return off
}

// takeOffline takes the log offline because its log dir failed (another
// log's I/O error), without reporting again. It needs only mu, so it never
// waits for an append or flush in progress; those fail at their next step.
func (l *Log) takeOffline(cause error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.offline == nil {
		l.mu.offline = &offlineError{cause: fmt.Errorf("%s: %w", l.tp, cause)}
	}
}

func (l *Log) activeSegment() *logSegment {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.segments[len(l.mu.segments)-1]
}

// AppendAsLeader appends one batch from a client: it checks the producer's
// idempotence state, assigns offsets and the leader epoch in place, applies
// LogAppendTime, writes the bytes and updates indexes, rolling segments as
// needed. The caller has already validated the batch (CRC, lengths).
func (l *Log) AppendAsLeader(b records.Batch, leaderEpoch int32, now time.Time) (AppendResult, error) {
	return l.appendAsLeader(b, leaderEpoch, nil, now)
}

// MarkerCheck is what the transaction coordinator states about a COMMIT or
// ABORT marker beyond its batch header (WriteTxnMarkers).
type MarkerCheck struct {
	// CoordinatorEpoch is the epoch of the coordinator writing the marker;
	// a marker older than one the producer already had is fenced.
	CoordinatorEpoch int32
	// TransactionVersion 2 (KIP-890 part 2) means the coordinator bumped
	// the producer epoch to end the transaction, so the marker's epoch
	// must be above the epoch the transaction's data was written with.
	TransactionVersion int8
}

// AppendMarkerAsLeader appends a transaction marker (a control batch) for
// the transaction coordinator, checked as Kafka's
// ProducerAppendInfo.appendEndTxnMarker does.
func (l *Log) AppendMarkerAsLeader(b records.Batch, leaderEpoch int32, mc MarkerCheck, now time.Time) (AppendResult, error) {
	return l.appendAsLeader(b, leaderEpoch, &mc, now)
}

func (l *Log) appendAsLeader(b records.Batch, leaderEpoch int32, mc *MarkerCheck, now time.Time) (AppendResult, error) {
	h, err := parseHeader(b)
	if err != nil {
		return AppendResult{}, err
	}
	if h.size() != int64(len(b)) {
		return AppendResult{}, fmt.Errorf("%w: batch length %d, have %d bytes", records.ErrCorrupt, h.size(), len(b))
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writableLocked(); err != nil {
		return AppendResult{}, err
	}
	cfg := l.Config()
	dup, err := l.producers.checkLeaderAppend(h, mc)
	if err != nil {
		return AppendResult{}, fmt.Errorf("append %s: %w", l.tp, err)
	}
	if dup != nil {
		// KIP-98: a retry of a recent batch is acknowledged with the
		// offsets it got the first time, and not written again.
		return AppendResult{FirstOffset: dup.FirstOffset, LastOffset: dup.LastOffset, LogAppendTime: -1,
			LogStartOffset: l.LogStartOffset(), Duplicate: true}, nil
	}
	b.SetBaseOffset(l.LogEndOffset())
	b.SetPartitionLeaderEpoch(leaderEpoch)
	appendTime := int64(-1)
	if cfg.MessageTimestampLogAppendTime {
		appendTime = now.UnixMilli()
		b.SetLogAppendTime(appendTime)
	}
	if h, err = parseHeader(b); err != nil {
		return AppendResult{}, err
	}
	if err := l.appendBatchLocked(b, h, now, cfg); err != nil {
		return AppendResult{}, err
	}
	if err := l.trackTxnLocked(b, h); err != nil {
		return AppendResult{}, err
	}
	l.producers.update(h)
	if mc != nil {
		l.producers.setCoordinatorEpoch(h.producerID, mc.CoordinatorEpoch)
	}
	if err := l.assignEpochLocked(leaderEpoch, h.baseOffset); err != nil {
		return AppendResult{}, err
	}
	if err := l.maybeFlushLocked(now, cfg); err != nil {
		return AppendResult{}, err
	}
	return AppendResult{FirstOffset: h.baseOffset, LastOffset: h.lastOffset(), LogAppendTime: appendTime,
		LogStartOffset: l.LogStartOffset()}, nil
}

// AppendAsFollower appends batches that already carry their offsets (a
// follower's fetched data). Offsets must continue the log and increase;
// producer state is updated without sequence checks, as Kafka does for
// AppendOrigin.REPLICATION. A partial batch at the end (a fetch response
// cut at its byte limit) is ignored, as Kafka's follower does.
func (l *Log) AppendAsFollower(data []byte) error {
	var batches []records.Batch
	for len(data) > 0 {
		b, rest, err := records.ReadBatch(data)
		if errors.Is(err, records.ErrTruncated) {
			break
		}
		if err != nil {
			return fmt.Errorf("append %s: %w", l.tp, err)
		}
		batches = append(batches, b)
		data = rest
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	cfg := l.Config()
	next := l.LogEndOffset()
	hs := make([]batchHeader, len(batches))
	for i, b := range batches {
		if err := b.EnsureValid(); err != nil {
			return fmt.Errorf("append %s: %w", l.tp, err)
		}
		h, err := parseHeader(b)
		if err != nil {
			return fmt.Errorf("append %s: %w", l.tp, err)
		}
		if h.baseOffset < next {
			return fmt.Errorf("append %s: %w: batch at %d, log end offset %d", l.tp, ErrUnexpectedAppendOffset, h.baseOffset, next)
		}
		next = h.nextOffset()
		hs[i] = h
	}
	now := time.Now()
	for i, b := range batches {
		if err := l.appendBatchLocked(b, hs[i], now, cfg); err != nil {
			return err
		}
		if err := l.trackTxnLocked(b, hs[i]); err != nil {
			return err
		}
		l.producers.update(hs[i])
		if hs[i].isControl() && hs[i].hasProducerID() {
			if ce, err := ControlCoordinatorEpoch(b); err == nil {
				l.producers.setCoordinatorEpoch(hs[i].producerID, ce)
			}
		}
		if err := l.assignEpochLocked(hs[i].leaderEpoch, hs[i].baseOffset); err != nil {
			return err
		}
	}
	return l.maybeFlushLocked(now, cfg)
}

func (l *Log) assignEpochLocked(epoch int32, startOffset int64) error {
	if !l.epochs.assign(epoch, startOffset) {
		return nil
	}
	if err := l.epochs.persist(); err != nil {
		return l.fail(err)
	}
	return nil
}

// appendBatchLocked writes one batch whose offsets are set. appendMu held.
func (l *Log) appendBatchLocked(b []byte, h batchHeader, now time.Time, cfg LogConfig) error {
	seg := l.activeSegment()
	if l.shouldRoll(seg, h, now, cfg) {
		var err error
		if seg, err = l.rollLocked(now, cfg); err != nil {
			return err
		}
	}
	pos := seg.size
	if pos+h.size() > math.MaxInt32 {
		return fmt.Errorf("append %s: %w", l.tp, ErrRecordBatchTooLarge)
	}
	if _, err := seg.log.Write(b); err != nil {
		return l.fail(err)
	}
	maxTs, offMax, err := seg.indexBatch(h, pos, cfg.IndexIntervalBytes, seg.maxTimestamp, seg.offsetOfMaxTimestamp)
	if err != nil {
		return l.fail(err)
	}
	l.mu.Lock()
	seg.size += h.size()
	seg.nextOffset = h.nextOffset()
	seg.maxTimestamp, seg.offsetOfMaxTimestamp = maxTs, offMax
	if pos == 0 {
		// Kafka's LogSegment.append: the rolling-based timestamp is the
		// first batch's, even when it has none (-1): segment.ms then
		// counts from the segment's creation (timeWaitedForRoll), as
		// loading the segment back does.
		seg.firstBatchTimestamp = h.maxTimestamp
	}
	l.mu.logEndOffset = h.nextOffset()
	l.mu.Unlock()
	return nil
}

// shouldRoll is Kafka's LogSegment.shouldRoll. The time rule compares the
// incoming batch's timestamp with the segment's first batch timestamp, or
// the wall clock with the segment's creation time when it has none (see
// timeWaitedForRoll), against segment.ms less the segment's jitter.
func (l *Log) shouldRoll(seg *logSegment, h batchHeader, now time.Time, cfg LogConfig) bool {
	if seg.size == 0 {
		return false
	}
	waited := seg.timeWaitedForRoll(now, h.maxTimestamp)
	return seg.size > cfg.SegmentBytes-h.size() ||
		waited > cfg.SegmentMs-rollJitterMs(l.tp, seg.baseOffset, cfg) ||
		seg.offsetIndex.isFull() || seg.timeIndex.isFull() ||
		h.lastOffset()-seg.baseOffset > math.MaxInt32
}

// rollLocked starts a new segment at the log end offset. Like Kafka's
// UnifiedLog.roll it seals the old segment's time index and snapshots
// producer state at the new base offset under the lock, and leaves the
// fsyncs of the old segment, the snapshot and the directory to a
// background flush ("flush-log" in Kafka's scheduler), so appends to the
// new segment do not wait for the disk. The recovery point advances only
// once that flush is done; a crash before it leaves the old segment past
// the recovery point, where recovery validates it and, finding it torn,
// drops the later segments as Kafka's LogLoader.recoverLog does.
// appendMu held.
func (l *Log) rollLocked(now time.Time, cfg LogConfig) (*logSegment, error) {
	old := l.activeSegment()
	leo := l.LogEndOffset()
	if old.maxTimestamp >= 0 {
		if err := old.timeIndex.maybeAppend(old.maxTimestamp, old.offsetOfMaxTimestamp, true); err != nil {
			return nil, l.fail(err)
		}
	}
	seg, _, err := openSegment(l.fs, l.dir, leo, cfg.SegmentIndexBytes, now)
	if err != nil {
		return nil, l.fail(err)
	}
	if seg.size != 0 {
		seg.close()
		return nil, l.fail(fmt.Errorf("new segment %d is not empty", leo))
	}
	if err := writeProducerSnapshot(l.fs, l.dir, leo, l.producers.producers, false); err != nil {
		seg.close()
		return nil, l.fail(err)
	}
	l.mu.Lock()
	l.mu.segments = append(l.mu.segments, seg)
	l.mu.Unlock()
	if l.syncRollFlush {
		l.flushRolled(leo)
		if err := l.Offline(); err != nil {
			return nil, err
		}
	} else {
		l.rollFlushes.Add(1)
		go func() {
			defer l.rollFlushes.Done()
			l.flushRolled(leo)
		}()
	}
	l.logger.Debug("rolled segment", "partition", l.tp.String(), "base_offset", leo)
	return seg, nil
}

// flushRolled is Kafka's flushUptoOffsetExclusive after a roll: it fsyncs
// the segments below upTo that hold data past the recovery point, the
// producer snapshot at upTo and the directory (the new segment's files),
// then moves the recovery point to upTo. It runs without appendMu. A
// segment closed meanwhile (deleted by retention, replaced by the cleaner,
// the log closed) has nothing left to make durable; any other failure
// takes the log offline, as every failed fsync does.
func (l *Log) flushRolled(upTo int64) {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.RLock()
	rp, stop := l.mu.recoveryPoint, l.mu.closed || l.mu.offline != nil
	var dirty []*logSegment
	for _, s := range l.mu.segments {
		if s.baseOffset < upTo && s.nextOffset > rp {
			dirty = append(dirty, s)
		}
	}
	l.mu.RUnlock()
	if stop || rp >= upTo {
		return
	}
	err := syncSegments(dirty)
	if err == nil {
		err = syncFileByName(l.fs, snapshotPath(l.dir, upTo))
	}
	if err == nil {
		err = l.fs.SyncDir(l.dir)
	}
	if err != nil {
		if errors.Is(err, os.ErrClosed) {
			return
		}
		l.fail(err)
		return
	}
	l.mu.Lock()
	if !l.mu.closed && l.mu.offline == nil {
		l.mu.recoveryPoint = max(l.mu.recoveryPoint, upTo)
	}
	l.mu.Unlock()
}

func syncSegments(segs []*logSegment) error {
	for _, s := range segs {
		if err := s.sync(); err != nil {
			return err
		}
	}
	return nil
}

// syncFileByName fsyncs a file that may have been removed meanwhile.
func syncFileByName(fs vfs.FS, name string) error {
	f, err := fs.OpenFile(name, os.O_RDONLY, 0)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	serr := f.Sync()
	cerr := f.Close()
	return errors.Join(serr, cerr)
}

// maybeFlushLocked applies flush.messages and flush.ms.
func (l *Log) maybeFlushLocked(now time.Time, cfg LogConfig) error {
	unflushed := l.LogEndOffset() - l.RecoveryPoint()
	byCount := cfg.FlushMessages > 0 && cfg.FlushMessages < math.MaxInt64 && unflushed >= cfg.FlushMessages
	byTime := cfg.FlushMs > 0 && cfg.FlushMs < math.MaxInt64 && now.Sub(l.lastFlush).Milliseconds() >= cfg.FlushMs
	if unflushed > 0 && (byCount || byTime) {
		return l.flushLocked(now)
	}
	return nil
}

// Flush fsyncs the log up to its end and advances the recovery point.
func (l *Log) Flush() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writableLocked(); err != nil {
		if errors.Is(err, ErrClosed) {
			return nil
		}
		return err
	}
	return l.flushLocked(time.Now())
}

// flushLocked fsyncs the segments holding data past the recovery point.
// appendMu held.
func (l *Log) flushLocked(now time.Time) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.RLock()
	rp, leo := l.mu.recoveryPoint, l.mu.logEndOffset
	var dirty []*logSegment
	for _, s := range l.mu.segments {
		if s.nextOffset > rp || s.baseOffset >= rp {
			dirty = append(dirty, s)
		}
	}
	l.mu.RUnlock()
	if rp >= leo {
		l.lastFlush = now
		return nil
	}
	for _, s := range dirty {
		if err := s.sync(); err != nil {
			return l.fail(err)
		}
	}
	l.mu.Lock()
	l.mu.recoveryPoint = max(l.mu.recoveryPoint, leo)
	l.mu.Unlock()
	l.lastFlush = now
	return nil
}

// Close seals the active segment's time index, snapshots producer state at
// the log end offset (so a clean restart need not replay), flushes, and
// closes every file.
func (l *Log) Close() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	// Flushes started by rolls need no appendMu; let them finish before the
	// files close.
	l.rollFlushes.Wait()
	l.mu.RLock()
	closed, offline := l.mu.closed, l.mu.offline
	l.mu.RUnlock()
	if closed {
		return nil
	}
	var errs []error
	if offline == nil {
		seg := l.activeSegment()
		if seg.maxTimestamp >= 0 {
			if err := seg.timeIndex.maybeAppend(seg.maxTimestamp, seg.offsetOfMaxTimestamp, true); err != nil {
				errs = append(errs, l.fail(err))
			}
		}
		if len(errs) == 0 {
			if err := writeProducerSnapshot(l.fs, l.dir, l.LogEndOffset(), l.producers.producers, true); err != nil {
				errs = append(errs, l.fail(err))
			}
		}
		if len(errs) == 0 {
			errs = append(errs, l.flushLocked(time.Now()))
		}
	}
	l.mu.Lock()
	l.mu.closed = true
	segs := l.mu.segments
	l.mu.Unlock()
	for _, s := range segs {
		errs = append(errs, s.close())
	}
	// Segments awaiting deletion keep their .deleted names; loading the
	// log removes them.
	for _, p := range l.pending {
		p.seg.close()
	}
	l.pending = nil
	return errors.Join(errs...)
}

// segmentIndexLocked returns the index of the segment that may hold offset:
// the last one whose base offset is <= offset. mu held.
func (l *Log) segmentIndexLocked(offset int64) int {
	segs := l.mu.segments
	i := sort.Search(len(segs), func(i int) bool { return segs[i].baseOffset > offset })
	return max(i-1, 0)
}

// segmentView is a segment with the size that was published when a reader
// took it: bytes past it may still be being written.
type segmentView struct {
	seg          *logSegment
	size         int64
	maxTimestamp int64
	offsetOfMax  int64
}

func (l *Log) viewsLocked(from int) []segmentView {
	views := make([]segmentView, 0, len(l.mu.segments)-from)
	for _, s := range l.mu.segments[from:] {
		views = append(views, segmentView{seg: s, size: s.size, maxTimestamp: s.maxTimestamp, offsetOfMax: s.offsetOfMaxTimestamp})
	}
	return views
}

func (l *Log) readableLocked() error {
	if l.mu.offline != nil {
		return l.mu.offline
	}
	if l.mu.closed {
		return fmt.Errorf("%s: %w", l.tp, ErrClosed)
	}
	return nil
}

// RemoveExpiredProducers forgets the producers idle for
// producer.id.expiration.ms without an open transaction, as Kafka's
// UnifiedLog.removeExpiredProducers, which LogManager runs every
// producer.id.expiration.check.interval.ms. Later snapshots no longer hold
// them. It returns how many were removed.
func (l *Log) RemoveExpiredProducers(now time.Time) int {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.writableLocked() != nil {
		return 0
	}
	return l.producers.removeExpired(now.UnixMilli(), l.producerIDExpirationMs)
}

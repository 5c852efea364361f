package storage

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/riffle-io/riffle/storage/vfs"
)

// OpenLog opens (creating when absent) the log of tp in the partition
// directory dir (<log.dir>/<topic>-<partition>, as Kafka's UnifiedLog takes
// it). A zero topicID adopts the one in partition.metadata; a different
// non-zero one is ErrInconsistentTopicID.
//
// Loading follows Kafka's LogLoader: after a clean shutdown the whole log is
// trusted; otherwise every segment from the one holding the recovery point
// onwards is validated batch by batch and the log ends at the first torn or
// corrupt batch. Indexes that are missing or inconsistent are rebuilt;
// producer state comes from the latest snapshot plus a replay of the log
// after it.
func OpenLog(dir string, tp TopicPartition, topicID [16]byte, cfg LogConfig, opts ...Option) (*Log, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	l := &Log{dir: dir, tp: tp, fs: o.fs, logger: o.logger, producerIDExpirationMs: o.producerIDExpirMs, syncRollFlush: o.syncRollFlush, onFailure: o.onFailure}
	l.mu.cfg = cfg.withDefaults()
	if err := l.fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open log %s: %w", tp, err)
	}
	if err := l.loadTopicID(topicID); err != nil {
		return nil, fmt.Errorf("open log %s: %w", tp, err)
	}
	now := time.Now()
	if err := l.load(o, now); err != nil {
		for _, s := range l.mu.segments {
			s.close()
		}
		l.mu.segments = nil
		return nil, fmt.Errorf("open log %s: %w", tp, err)
	}
	l.lastFlush = now
	return l, nil
}

// offlineLog stands for a partition whose log could not be loaded: it
// answers every read and write with ErrLogOffline wrapping cause (Kafka's
// KAFKA_STORAGE_ERROR) while the broker's other partitions keep working,
// and reports the offsets the checkpoints held so they are written back
// unchanged.
func offlineLog(dir string, tp TopicPartition, cfg LogConfig, o options, cause error) *Log {
	l := &Log{dir: dir, tp: tp, fs: o.fs, logger: o.logger, producerIDExpirationMs: o.producerIDExpirMs}
	l.mu.cfg = cfg.withDefaults()
	l.mu.offline = &offlineError{cause: cause}
	l.mu.recoveryPoint = o.recoveryPoint
	l.mu.logStartOffset = o.logStartOffset
	l.mu.logEndOffset = max(o.highWatermark, o.logStartOffset)
	l.mu.highWatermark = o.highWatermark
	l.producers = newProducerStateManager()
	l.epochs = &leaderEpochCache{fs: o.fs, path: filepath.Join(dir, LeaderEpochCheckpointFile)}
	return l
}

func (l *Log) loadTopicID(topicID [16]byte) error {
	onDisk, ok, err := readPartitionMetadata(l.fs, l.dir)
	if err != nil && topicID == ([16]byte{}) {
		return err
	}
	switch {
	case ok && topicID != ([16]byte{}) && onDisk != topicID:
		return fmt.Errorf("%w: directory has %s, expected %s", ErrInconsistentTopicID, UUIDString(onDisk), UUIDString(topicID))
	case ok:
		l.mu.topicID = onDisk
	case topicID != ([16]byte{}):
		if err := writePartitionMetadata(l.fs, l.dir, topicID); err != nil {
			return err
		}
		l.mu.topicID = topicID
	}
	return nil
}

// setTopicID records a topic id learnt after the log was opened.
func (l *Log) setTopicID(topicID [16]byte) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	cur := l.TopicID()
	if topicID == ([16]byte{}) || cur == topicID {
		return nil
	}
	if cur != ([16]byte{}) {
		return fmt.Errorf("%s: %w: log has %s, expected %s", l.tp, ErrInconsistentTopicID, UUIDString(cur), UUIDString(topicID))
	}
	if err := writePartitionMetadata(l.fs, l.dir, topicID); err != nil {
		return err
	}
	l.mu.Lock()
	l.mu.topicID = topicID
	l.mu.Unlock()
	return nil
}

// leftoverSuffixes are files a crash can leave behind: Kafka's cleaner and
// deletion temporaries, and our atomic-write temporaries. Complete .log.swap
// files are installed by completeSwaps before the rest is removed.
var leftoverSuffixes = []string{deletedFileSuffix, cleanedFileSuffix, swapFileSuffix, ".tmp"}

// completeSwaps finishes cleaner swaps interrupted by a crash (Kafka's
// LogLoader swap handling). A <base>.log.swap file was fsynced before it got
// that name, so it is whole: it replaces every segment whose base offset lies
// in [base, its next offset), whichever of them the crash left behind, and
// then takes its final name. The cleaner keeps the last batch of a group,
// so a swap's next offset is the end of the group it replaced.
func (l *Log) completeSwaps(entries []os.DirEntry) (bool, error) {
	var swaps, bases []int64
	for _, de := range entries {
		name := de.Name()
		if off, ok := offsetFromFileName(strings.TrimSuffix(name, swapFileSuffix), logFileSuffix); ok && strings.HasSuffix(name, swapFileSuffix) {
			swaps = append(swaps, off)
		}
		if off, ok := offsetFromFileName(name, logFileSuffix); ok {
			bases = append(bases, off)
		}
	}
	for _, base := range swaps {
		path := filepath.Join(l.dir, filenamePrefixFromOffset(base)+logFileSuffix+swapFileSuffix)
		next, err := segmentFileNextOffset(l.fs, path, base)
		if err != nil {
			return false, fmt.Errorf("%w: cleaned segment %s: %v", ErrCorruptLog, path, err)
		}
		for _, b := range bases {
			if b > base && b < next {
				if err := removeSegmentFiles(l.fs, l.dir, b, ""); err != nil {
					return false, err
				}
			}
		}
		// At the swap's own base, the .log is the old one (the .log.swap is
		// renamed last); an index with a .swap beside it is old too, one
		// without has already been replaced by its swap and is kept.
		prefix := filepath.Join(l.dir, filenamePrefixFromOffset(base))
		for _, suf := range segmentFileSuffixes {
			if _, err := l.fs.Stat(prefix + suf + swapFileSuffix); err != nil {
				continue
			}
			if err := l.fs.Remove(prefix + suf); err != nil && !os.IsNotExist(err) {
				return false, err
			}
			if err := l.fs.Rename(prefix+suf+swapFileSuffix, prefix+suf); err != nil {
				return false, err
			}
		}
		l.logger.Info("completed interrupted cleaner swap", "partition", l.tp.String(), "base_offset", base, "next_offset", next)
	}
	if len(swaps) > 0 {
		return true, l.fs.SyncDir(l.dir)
	}
	return false, nil
}

// segmentFileNextOffset walks the batch headers of a segment file and
// returns the offset after its last batch.
func segmentFileNextOffset(fs vfs.FS, path string, base int64) (int64, error) {
	f, err := fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	s := &logSegment{baseOffset: base, log: f}
	next := base
	err = s.walkHeaders(0, fi.Size(), func(h batchHeader, _ int64) bool {
		next = h.nextOffset()
		return true
	})
	return next, err
}

// load reads the segments, recovers as needed and restores the offsets,
// epochs and producer state. Nothing else touches l yet.
func (l *Log) load(o options, now time.Time) error {
	cfg := l.mu.cfg
	entries, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return err
	}
	if swapped, err := l.completeSwaps(entries); err != nil {
		return err
	} else if swapped {
		if entries, err = l.fs.ReadDir(l.dir); err != nil {
			return err
		}
	}
	var bases []int64
	haveLog := map[int64]bool{}
	for _, de := range entries {
		name := de.Name()
		if de.IsDir() {
			continue
		}
		for _, suf := range leftoverSuffixes {
			if strings.HasSuffix(name, suf) {
				if err := l.fs.Remove(filepath.Join(l.dir, name)); err != nil && !os.IsNotExist(err) {
					return err
				}
			}
		}
		if off, ok := offsetFromFileName(name, logFileSuffix); ok {
			bases = append(bases, off)
			haveLog[off] = true
		}
	}
	// Index files without their .log are stale: drop them.
	for _, de := range entries {
		for _, suf := range []string{indexFileSuffix, timeIndexFileSuffix, txnIndexFileSuffix} {
			if off, ok := offsetFromFileName(de.Name(), suf); ok && !haveLog[off] {
				if err := l.fs.Remove(filepath.Join(l.dir, de.Name())); err != nil && !os.IsNotExist(err) {
					return err
				}
			}
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	if len(bases) == 0 {
		bases = []int64{max(o.logStartOffset, 0)}
	}

	l.epochs, err = loadLeaderEpochCache(l.fs, l.dir)
	if err != nil {
		return err
	}
	epochsChanged := false
	var segs []*logSegment
	var recovered []*logSegment
	for i, base := range bases {
		seg, indexesOK, err := openSegment(l.fs, l.dir, base, cfg.SegmentIndexBytes, now)
		if err != nil {
			return err
		}
		segs = append(segs, seg)
		l.mu.segments = segs
		last := i == len(bases)-1
		upper := int64(1<<63 - 1)
		if !last {
			upper = bases[i+1]
		}
		trusted := o.hadCleanShutdown || upper <= o.recoveryPoint
		var res scanResult
		if trusted && indexesOK && l.indexesSane(seg, upper) {
			if !last {
				seg.nextOffset = upper
				if te, ok := seg.timeIndex.last(); ok {
					seg.maxTimestamp, seg.offsetOfMaxTimestamp = te.timestamp, te.offset
				}
				continue
			}
			// The active segment: walk the batches after the last index
			// entry to find the log end offset.
			from := seg.offsetIndex.last()
			if te, ok := seg.timeIndex.last(); ok {
				seg.maxTimestamp, seg.offsetOfMaxTimestamp = te.timestamp, te.offset
			}
			if seg.size > 0 {
				if h, err := seg.readHeaderAt(0, seg.size); err == nil {
					seg.firstBatchTimestamp = h.maxTimestamp
				}
			}
			if res, err = seg.scan(from.position, false, cfg.IndexIntervalBytes, nil); err != nil {
				return err
			}
		} else {
			if !trusted && seg.size > 0 {
				l.logger.Info("recovering segment", "partition", l.tp.String(), "base_offset", base)
			}
			if err := seg.offsetIndex.reset(); err != nil {
				return err
			}
			if err := seg.timeIndex.reset(); err != nil {
				return err
			}
			res, err = seg.scan(0, !trusted, cfg.IndexIntervalBytes, func(h batchHeader) {
				if l.epochs.assign(h.leaderEpoch, h.baseOffset) {
					epochsChanged = true
				}
			})
			if err != nil {
				return err
			}
			if !last && res.stopErr == nil && seg.maxTimestamp >= 0 {
				// The final entry a roll writes (onBecomeInactiveSegment), so
				// the index alone gives the segment's largest timestamp.
				if err := seg.timeIndex.maybeAppend(seg.maxTimestamp, seg.offsetOfMaxTimestamp, true); err != nil {
					return err
				}
			}
			recovered = append(recovered, seg)
		}
		var later []int64
		if !last && (res.stopErr != nil || seg.nextOffset > upper) {
			// Only the unflushed tail of the log can be torn by a crash:
			// bad data before another segment is damage, and serving or
			// dropping what follows would lie (item 5: refuse loudly).
			// Empty segments after it (a roll that crashed) hold nothing.
			// A segment rolled but not yet flushed when the broker died
			// (rolls flush in the background, flushRolled) lies past the
			// recovery point: like Kafka's LogLoader.recoverLog, it is
			// truncated and the unflushed segments after it are deleted.
			unflushed := res.stopErr != nil && !o.hadCleanShutdown && seg.nextOffset >= o.recoveryPoint
			if !unflushed && (res.stopErr == nil || !l.allEmpty(bases[i+1:])) {
				return corruptionError(l.fs, l.dir, base, res, seg.nextOffset, upper)
			}
			later = bases[i+1:]
		}
		if res.stopErr != nil {
			// A torn tail lies past the recovery point; everything below
			// it was fsynced, so bad bytes there are damage as well.
			rp := o.recoveryPoint
			if o.hadCleanShutdown {
				rp = math.MaxInt64
			}
			if seg.nextOffset < rp {
				return corruptionError(l.fs, l.dir, base, res, seg.nextOffset, upper)
			}
			l.logger.Warn("truncating torn tail", "partition", l.tp.String(), "segment", base,
				"position", res.validBytes, "offset", seg.nextOffset, "err", res.stopErr)
			if err := seg.truncateBytes(res.validBytes); err != nil {
				return err
			}
			if !contains(recovered, seg) {
				recovered = append(recovered, seg)
			}
			for _, later := range later {
				if err := removeSegmentFiles(l.fs, l.dir, later, ""); err != nil {
					return err
				}
			}
			if len(later) > 0 {
				break
			}
		}
	}
	l.mu.segments = segs
	active := segs[len(segs)-1]
	leo := active.nextOffset
	// Recovered data may not have reached the disk yet: make it durable
	// before the recovery point moves past it.
	for _, s := range recovered {
		if err := s.sync(); err != nil {
			return err
		}
	}
	if len(recovered) > 0 {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return err
		}
	}
	lso := min(max(o.logStartOffset, segs[0].baseOffset), leo)
	l.mu.logEndOffset = leo
	l.mu.logStartOffset = lso
	l.mu.recoveryPoint = leo
	l.mu.highWatermark = min(max(o.highWatermark, lso), leo)

	if l.epochs.truncateFromEnd(leo) {
		epochsChanged = true
	}
	if epochsChanged {
		if err := l.epochs.persist(); err != nil {
			return err
		}
	}
	return l.loadProducerState(leo, lso, now)
}

// allEmpty reports whether the .log files of the segments at bases are all
// empty.
func (l *Log) allEmpty(bases []int64) bool {
	for _, b := range bases {
		fi, err := l.fs.Stat(filepath.Join(l.dir, filenamePrefixFromOffset(b)+logFileSuffix))
		if err != nil || fi.Size() != 0 {
			return false
		}
	}
	return true
}

// corruptionError names the file, position and offset of bad data that
// recovery must not truncate.
func corruptionError(fs vfs.FS, dir string, base int64, res scanResult, offset, upper int64) error {
	path := filepath.Join(dir, filenamePrefixFromOffset(base)+logFileSuffix)
	if res.stopErr == nil {
		return fmt.Errorf("%w: %s: batches run to offset %d, past the next segment at %d", ErrCorruptLog, path, offset, upper)
	}
	return fmt.Errorf("%w: %s: invalid batch at position %d (offset %d): %v", ErrCorruptLog, path, res.validBytes, offset, res.stopErr)
}

func contains(segs []*logSegment, s *logSegment) bool {
	for _, x := range segs {
		if x == s {
			return true
		}
	}
	return false
}

// indexesSane checks a trusted segment's indexes before they are used.
// An empty time index for a non-empty segment is rebuilt too, since the
// segment's largest timestamp would be unknown.
func (l *Log) indexesSane(seg *logSegment, upper int64) bool {
	if err := seg.offsetIndex.sanityCheck(seg.size, upper); err != nil {
		l.logger.Warn("rebuilding index", "partition", l.tp.String(), "err", err)
		return false
	}
	if err := seg.timeIndex.sanityCheck(upper); err != nil {
		l.logger.Warn("rebuilding index", "partition", l.tp.String(), "err", err)
		return false
	}
	if _, ok := seg.timeIndex.last(); !ok && seg.size > 0 {
		return false
	}
	return true
}

// loadProducerState rebuilds the producer table for a log ending at leo:
// the newest readable snapshot at or below leo, then a replay of the batch
// headers after it (ProducerStateManager.truncateAndReload plus
// UnifiedLog.rebuildProducerState). Snapshots past leo describe data that
// is gone and are deleted. A non-zero now expires idle producers from the
// snapshot.
func (l *Log) loadProducerState(leo, lso int64, now time.Time) error {
	offs, err := listSnapshots(l.fs, l.dir)
	if err != nil {
		return err
	}
	l.producers = newProducerStateManager()
	l.producers.replaying = true // collect the transactions the replay completes
	from := lso
	for i := len(offs) - 1; i >= 0; i-- {
		path := snapshotPath(l.dir, offs[i])
		if offs[i] > leo {
			if err := l.fs.Remove(path); err != nil && !os.IsNotExist(err) {
				return err
			}
			continue
		}
		data, err := vfs.ReadFile(l.fs, path)
		if err != nil {
			return err
		}
		producers, err := decodeProducerSnapshot(data)
		if err != nil {
			l.logger.Warn("deleting corrupt producer snapshot", "partition", l.tp.String(), "file", path, "err", err)
			if err := l.fs.Remove(path); err != nil && !os.IsNotExist(err) {
				return err
			}
			continue
		}
		l.producers.producers = producers
		if !now.IsZero() {
			// Like ProducerStateManager.loadFromSnapshot, drop producers
			// that were idle past producer.id.expiration.ms.
			l.producers.removeExpired(now.UnixMilli(), l.producerIDExpirationMs)
		}
		from = max(offs[i], lso)
		break
	}
	if from < leo {
		l.mu.RLock()
		views := l.viewsLocked(l.segmentIndexLocked(from))
		l.mu.RUnlock()
		for _, v := range views {
			start := v.seg.offsetIndex.lookup(from).position
			if err := v.seg.walkHeaders(start, v.size, func(h batchHeader, _ int64) bool {
				if h.baseOffset >= from {
					l.producers.update(h)
				}
				return true
			}); err != nil {
				return err
			}
		}
	}
	return l.rebuildTxnState(leo)
}

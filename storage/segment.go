package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/riffle-io/riffle/protocol/records"
	"github.com/riffle-io/riffle/storage/vfs"
)

const (
	logFileSuffix       = ".log"
	indexFileSuffix     = ".index"
	timeIndexFileSuffix = ".timeindex"
	txnIndexFileSuffix  = ".txnindex"
	snapshotFileSuffix  = ".snapshot"
)

// filenamePrefixFromOffset is Kafka's LogFileUtils.filenamePrefixFromOffset:
// the offset zero-padded to 20 digits.
func filenamePrefixFromOffset(offset int64) string { return fmt.Sprintf("%020d", offset) }

// offsetFromFileName parses "00000000000000001234.log" style names.
func offsetFromFileName(name, suffix string) (int64, bool) {
	if !strings.HasSuffix(name, suffix) {
		return 0, false
	}
	prefix := strings.TrimSuffix(name, suffix)
	if len(prefix) != 20 || strings.Trim(prefix, "0123456789") != "" {
		return 0, false
	}
	off, err := strconv.ParseInt(prefix, 10, 64)
	if err != nil || off < 0 {
		return 0, false
	}
	return off, true
}

// logSegment is Kafka's LogSegment: a .log file of batches plus its offset,
// time and transaction indexes.
//
// size, nextOffset, maxTimestamp, offsetOfMaxTimestamp and
// firstBatchTimestamp are read by readers under Log.mu and written by the
// appender with Log.appendMu and Log.mu held. bytesSinceLastIndexEntry is
// the appender's alone.
type logSegment struct {
	baseOffset  int64
	log         vfs.File
	offsetIndex *offsetIndex
	timeIndex   *timeIndex
	txnIndex    vfs.File
	created     time.Time

	size                 int64
	nextOffset           int64
	maxTimestamp         int64
	offsetOfMaxTimestamp int64
	firstBatchTimestamp  int64

	bytesSinceLastIndexEntry int
}

// openSegment opens (creating when absent) the files of the segment at
// baseOffset. indexesOK is false when an index file was missing or has a
// size that is not a whole number of entries.
func openSegment(fs vfs.FS, dir string, baseOffset int64, segmentIndexBytes int, now time.Time) (s *logSegment, indexesOK bool, err error) {
	return openSegmentFiles(fs, dir, baseOffset, segmentIndexBytes, now, "")
}

// openSegmentFiles is openSegment for files named <name><extra>: the
// cleaner writes a segment as <base>.log.cleaned and friends.
func openSegmentFiles(fs vfs.FS, dir string, baseOffset int64, segmentIndexBytes int, now time.Time, extra string) (s *logSegment, indexesOK bool, err error) {
	prefix := filepath.Join(dir, filenamePrefixFromOffset(baseOffset))
	s = &logSegment{
		baseOffset:           baseOffset,
		created:              now,
		nextOffset:           baseOffset,
		maxTimestamp:         -1,
		offsetOfMaxTimestamp: -1,
		firstBatchTimestamp:  -1,
	}
	if s.log, err = fs.OpenFile(prefix+logFileSuffix+extra, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
		return nil, false, err
	}
	fi, err := s.log.Stat()
	if err != nil {
		s.close()
		return nil, false, err
	}
	s.size = fi.Size()
	var okOffset, okTime bool
	if s.offsetIndex, okOffset, err = openOffsetIndex(fs, prefix+indexFileSuffix+extra, baseOffset, segmentIndexBytes); err != nil {
		s.close()
		return nil, false, err
	}
	if s.timeIndex, okTime, err = openTimeIndex(fs, prefix+timeIndexFileSuffix+extra, baseOffset, segmentIndexBytes); err != nil {
		s.close()
		return nil, false, err
	}
	if s.txnIndex, err = fs.OpenFile(prefix+txnIndexFileSuffix+extra, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
		s.close()
		return nil, false, err
	}
	return s, okOffset && okTime, nil
}

// timeWaitedForRoll is Kafka's LogSegment.timeWaitedForRoll: how long the
// segment has been open, measured for segment.ms. Its rolling-based
// timestamp is the first batch's max timestamp, which loading reads back
// from the file, so a restart does not reset the wait; only a segment
// whose first batch has no timestamp (or that is empty) falls back to its
// creation time. messageTs is the incoming batch's max timestamp for an
// append, the wall clock for an idle roll.
func (s *logSegment) timeWaitedForRoll(now time.Time, messageTs int64) int64 {
	if s.firstBatchTimestamp >= 0 {
		return messageTs - s.firstBatchTimestamp
	}
	return now.Sub(s.created).Milliseconds()
}

// rollJitterMs is what is taken off segment.ms for one segment, in
// [0, min(segment.jitter.ms, segment.ms)) as Kafka's
// LogConfig.randomSegmentJitter, so that partitions created together do
// not all roll at once. Kafka draws it at random when a segment is opened;
// deriving it from the partition and the base offset spreads rolls the same
// way and keeps it across restarts.
func rollJitterMs(tp TopicPartition, baseOffset int64, cfg LogConfig) int64 {
	bound := min(cfg.SegmentJitterMs, cfg.SegmentMs)
	if bound <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(tp.Topic))
	var b [12]byte
	binary.BigEndian.PutUint32(b[:4], uint32(tp.Partition))
	binary.BigEndian.PutUint64(b[4:], uint64(baseOffset))
	h.Write(b[:])
	return int64(h.Sum64() % uint64(bound))
}

// readHeaderAt reads the batch header at pos; limit is the end of the
// readable data. A header or batch that runs past limit is ErrTruncated.
func (s *logSegment) readHeaderAt(pos, limit int64) (batchHeader, error) {
	if pos+records.HeaderSize > limit {
		return batchHeader{}, records.ErrTruncated
	}
	var buf [records.HeaderSize]byte
	if _, err := s.log.ReadAt(buf[:], pos); err != nil {
		if errors.Is(err, io.EOF) {
			return batchHeader{}, records.ErrTruncated
		}
		return batchHeader{}, err
	}
	h, err := parseHeader(buf[:])
	if err != nil {
		return h, err
	}
	if pos+h.size() > limit {
		return h, records.ErrTruncated
	}
	return h, nil
}

// indexBatch does the index work of Kafka's LogSegment.append for a batch
// written at position: every index.interval.bytes one offset index entry
// (the batch's last offset → its position) and a time index entry when the
// largest timestamp grew. The caller publishes the returned maximum.
func (s *logSegment) indexBatch(h batchHeader, position int64, intervalBytes int, maxTs, offsetOfMaxTs int64) (int64, int64, error) {
	if h.maxTimestamp > maxTs {
		maxTs, offsetOfMaxTs = h.maxTimestamp, h.lastOffset()
	}
	if s.bytesSinceLastIndexEntry > intervalBytes {
		if err := s.offsetIndex.append(h.lastOffset(), position); err != nil {
			return maxTs, offsetOfMaxTs, err
		}
		if err := s.timeIndex.maybeAppend(maxTs, offsetOfMaxTs, false); err != nil {
			return maxTs, offsetOfMaxTs, err
		}
		s.bytesSinceLastIndexEntry = 0
	}
	s.bytesSinceLastIndexEntry += int(h.size())
	return maxTs, offsetOfMaxTs, nil
}

// scanResult is what scan learned about the batches it walked.
type scanResult struct {
	validBytes int64 // position after the last good batch
	stopErr    error // why the scan stopped early (nil at a clean end)
}

// scan walks the batches from position from to the end of the file,
// maintaining the indexes and the segment's in-memory state. With validate
// every batch is read whole and checked (records.ReadBatch + Validate);
// otherwise only headers are read. Offsets must increase and fit the
// segment. It is used only while a log is loading, before readers exist.
func (s *logSegment) scan(from int64, validate bool, intervalBytes int, onBatch func(batchHeader)) (scanResult, error) {
	fi, err := s.log.Stat()
	if err != nil {
		return scanResult{}, err
	}
	limit := fi.Size()
	pos := from
	minBase := s.baseOffset
	var buf []byte
	for pos < limit {
		h, err := s.readHeaderAt(pos, limit)
		if err == nil && (h.baseOffset < minBase || h.lastOffset()-s.baseOffset > math.MaxInt32) {
			err = fmt.Errorf("%w: batch offsets %d..%d out of order at position %d", records.ErrCorrupt, h.baseOffset, h.lastOffset(), pos)
		}
		if err == nil && validate {
			if int64(cap(buf)) < h.size() {
				buf = make([]byte, h.size())
			}
			buf = buf[:h.size()]
			if _, rerr := s.log.ReadAt(buf, pos); rerr != nil {
				return scanResult{}, rerr
			}
			var b records.Batch
			if b, _, err = records.ReadBatch(buf); err == nil {
				err = b.EnsureValid()
			}
		}
		if err != nil {
			if !isDataError(err) {
				return scanResult{}, err
			}
			return scanResult{validBytes: pos, stopErr: err}, nil
		}
		s.maxTimestamp, s.offsetOfMaxTimestamp, err = s.indexBatch(h, pos, intervalBytes, s.maxTimestamp, s.offsetOfMaxTimestamp)
		if err != nil {
			return scanResult{}, err
		}
		if s.firstBatchTimestamp < 0 && pos == 0 {
			s.firstBatchTimestamp = h.maxTimestamp
		}
		s.nextOffset = h.nextOffset()
		minBase = s.nextOffset
		if onBatch != nil {
			onBatch(h)
		}
		pos += h.size()
	}
	return scanResult{validBytes: pos}, nil
}

// isDataError reports whether err describes bad bytes on disk (which
// recovery truncates) rather than a failing disk (which it reports).
func isDataError(err error) bool {
	return errors.Is(err, records.ErrTruncated) || errors.Is(err, records.ErrCorrupt) || errors.Is(err, records.ErrUnsupportedMagic)
}

// truncateBytes cuts the .log file to size bytes.
func (s *logSegment) truncateBytes(size int64) error {
	if err := s.log.Truncate(size); err != nil {
		return err
	}
	s.size = size
	return nil
}

func (s *logSegment) sync() error {
	if err := s.log.Sync(); err != nil {
		return err
	}
	if err := s.offsetIndex.sync(); err != nil {
		return err
	}
	if err := s.timeIndex.sync(); err != nil {
		return err
	}
	return s.txnIndex.Sync()
}

func (s *logSegment) close() error {
	var errs []error
	if s.log != nil {
		errs = append(errs, s.log.Close())
	}
	if s.offsetIndex != nil {
		errs = append(errs, s.offsetIndex.close())
	}
	if s.timeIndex != nil {
		errs = append(errs, s.timeIndex.close())
	}
	if s.txnIndex != nil {
		errs = append(errs, s.txnIndex.Close())
	}
	return errors.Join(errs...)
}

// segmentFileSuffixes are a segment's files; the .log comes last so that,
// when files are renamed one by one, a .log under a new name implies that
// its indexes were renamed before it.
var segmentFileSuffixes = []string{indexFileSuffix, timeIndexFileSuffix, txnIndexFileSuffix, logFileSuffix}

// Suffixes Kafka appends to segment files in transition: a segment being
// deleted, one being written by the cleaner, and one ready to replace the
// segments it was cleaned from.
const (
	deletedFileSuffix = ".deleted"
	cleanedFileSuffix = ".cleaned"
	swapFileSuffix    = ".swap"
)

// remove closes and deletes the segment's files.
func (s *logSegment) remove(fs vfs.FS, dir string) error {
	s.close()
	return s.removeFiles(fs, dir, "")
}

// removeFiles deletes the segment's files carrying the extra suffix
// ("" for the live ones); the files need not be open.
func (s *logSegment) removeFiles(fs vfs.FS, dir, extra string) error {
	return removeSegmentFiles(fs, dir, s.baseOffset, extra)
}

func removeSegmentFiles(fs vfs.FS, dir string, baseOffset int64, extra string) error {
	prefix := filepath.Join(dir, filenamePrefixFromOffset(baseOffset))
	var errs []error
	for _, suffix := range segmentFileSuffixes {
		if err := fs.Remove(prefix + suffix + extra); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// renameFiles renames the segment's files from <name><from> to <name><to>;
// open handles stay valid. Missing files are skipped.
func (s *logSegment) renameFiles(fs vfs.FS, dir, from, to string) error {
	prefix := filepath.Join(dir, filenamePrefixFromOffset(s.baseOffset))
	for _, suffix := range segmentFileSuffixes {
		err := fs.Rename(prefix+suffix+from, prefix+suffix+to)
		if err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

// walkHeadersErr is walkHeaders whose callback stops the walk with an
// error, returned as is.
func (s *logSegment) walkHeadersErr(from, limit int64, fn func(h batchHeader, pos int64) error) error {
	var cbErr error
	err := s.walkHeaders(from, limit, func(h batchHeader, pos int64) bool {
		cbErr = fn(h, pos)
		return cbErr == nil
	})
	if cbErr != nil {
		return cbErr
	}
	return err
}

// walkHeaders calls fn for each batch header from position from up to
// limit, stopping when fn returns false. Unreadable bytes end the walk with
// an error; callers hold no lock (the file only grows at its end while
// limit bytes are published).
func (s *logSegment) walkHeaders(from, limit int64, fn func(h batchHeader, pos int64) bool) error {
	for pos := from; pos < limit; {
		h, err := s.readHeaderAt(pos, limit)
		if err != nil {
			return fmt.Errorf("segment %d position %d: %w", s.baseOffset, pos, err)
		}
		if !fn(h, pos) {
			return nil
		}
		pos += h.size()
	}
	return nil
}

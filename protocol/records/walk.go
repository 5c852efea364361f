package records

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// RecordInfo is what WalkRecords reports of one record: the fields a
// broker's validation needs, none of the key, value or header bytes.
type RecordInfo struct {
	// Index is the record's position in the batch, from 0.
	Index int32
	// Timestamp is baseTimestamp + timestampDelta.
	Timestamp int64
	// NullKey reports a record without a key (compacted topics refuse it).
	NullKey bool
}

// WalkRecords checks the records section of a v2 batch the way Kafka's
// LogValidator iterates it on produce (DefaultRecordBatch's iterator for
// uncompressed batches, its streaming skipKeyValueIterator for compressed
// ones, DefaultRecord.readPartiallyFrom): every record is framed by its
// length varint, its fields are well-formed varints that stay inside it,
// header counts and key sizes are sane, and exactly NumRecords records fill
// the section with nothing left over. Riffle is stricter than Kafka in one
// respect: the i-th record's offsetDelta must be i (Kafka rewrites a
// compressed batch whose inner offsets are off, and never looks at them in an
// uncompressed one; no client writes anything else, and a stored batch
// whose deltas disagree with its header misleads every consumer).
//
// Compressed records are decompressed as a stream into small pooled
// buffers; key, value and header bytes are skipped, never copied. At most
// limit decompressed bytes are read: beyond that the batch is
// ErrRecordTooLarge (a decompression bomb costs at most limit bytes of
// decompression work, not memory). A codec outside 0-4 or a payload the
// codec cannot decode is ErrCorrupt; malformed records are ErrInvalidRecord,
// as Kafka throws InvalidRecordException for them. fn, when not nil, sees
// each record; an error from it stops the walk and is returned as is.
//
// The returned maxTimestamp is the largest record timestamp, -1 when there
// is none (Kafka's RecordBatch.NO_TIMESTAMP), the value LogValidator stores
// as the batch's max timestamp.
//
// It allocates nothing per record and, once its pools are warm, nothing per
// batch except for raw snappy and zstd payloads over maxPooledBuffer.
func (b Batch) WalkRecords(limit int, fn func(r *RecordInfo) error) (maxTimestamp int64, err error) {
	maxTimestamp = -1
	if len(b) < HeaderSize {
		return maxTimestamp, fmt.Errorf("%w: %d bytes, smaller than the %d-byte header", ErrCorrupt, len(b), HeaderSize)
	}
	count := b.NumRecords()
	if count < 0 {
		return maxTimestamp, fmt.Errorf("%w: negative record count %d", ErrInvalidRecord, count)
	}
	limit = max(limit, 0)
	src := b[HeaderSize:]
	s := scannerPool.Get().(*scanner)
	defer s.release()
	switch c := b.Codec(); c {
	case CodecNone:
		s.resetBytes(src)
	case CodecGzip:
		gz := gzipStreams.Get().(*gzipStream)
		defer func() { gz.br.Reset(nil); gzipStreams.Put(gz) }()
		gz.br.Reset(src)
		if err := gz.zr.Reset(&gz.br); err != nil {
			return maxTimestamp, fmt.Errorf("%w: gzip: %v", ErrCorrupt, err)
		}
		s.resetReader(&gz.zr, limit)
	case CodecSnappy:
		if len(src) >= xerialHeaderSize && bytes.Equal(src[:len(xerialMagic)], xerialMagic) {
			xr := xerialReaders.Get().(*xerialReader)
			defer xr.release()
			xr.reset(src, limit)
			s.resetReader(xr, limit)
			break
		}
		out, err := s.pooledDecode(src, limit, snappyBlockInto)
		if err != nil {
			return maxTimestamp, err
		}
		s.resetBytes(out)
	case CodecLZ4:
		if len(src) == 0 {
			return maxTimestamp, fmt.Errorf("%w: lz4: empty frame", ErrCorrupt)
		}
		lz := lz4Streams.Get().(*lz4Stream)
		defer func() { lz.br.Reset(nil); lz4Streams.Put(lz) }()
		lz.br.Reset(src)
		lz.zr.Reset(&lz.br)
		s.resetReader(lz.zr, limit)
	case CodecZstd:
		out, err := s.pooledDecode(src, limit, zstdInto)
		if err != nil {
			return maxTimestamp, err
		}
		s.resetBytes(out)
	default:
		return maxTimestamp, fmt.Errorf("%w: unknown compression codec %d", ErrCorrupt, c)
	}
	base := b.BaseTimestamp()
	var info RecordInfo
	for i := int32(0); i < count; i++ {
		ts, nullKey, err := s.record(i)
		if err != nil {
			return maxTimestamp, s.wrap(err, i, count)
		}
		ts += base
		maxTimestamp = max(maxTimestamp, ts)
		if fn != nil {
			info = RecordInfo{Index: i, Timestamp: ts, NullKey: nullKey}
			if err := fn(&info); err != nil {
				return maxTimestamp, err
			}
		}
	}
	// Reading past the last record also makes the gzip and lz4 readers
	// verify their trailing checksums.
	if more, err := s.atEnd(); err != nil {
		return maxTimestamp, s.wrap(err, count, count)
	} else if more {
		// Kafka: "Incorrect declared batch size, records still remaining".
		return maxTimestamp, fmt.Errorf("%w: bytes left after the %d records the header declares", ErrInvalidRecord, count)
	}
	return maxTimestamp, nil
}

// A failure of the decompressor itself, as opposed to malformed records in
// what it produced.
type codecError struct{ err error }

func (e codecError) Error() string { return e.err.Error() }
func (e codecError) Unwrap() error { return e.err }

// wrap turns a scanner failure into the sentinel the caller maps to a Kafka
// error code.
func (s *scanner) wrap(err error, i, count int32) error {
	var ce codecError
	switch {
	case errors.Is(err, ErrRecordTooLarge):
		return err
	case errors.As(err, &ce):
		return fmt.Errorf("%w: decompressing record %d of %d: %v", ErrCorrupt, i, count, ce.err)
	default:
		return fmt.Errorf("%w: record %d of %d: %v", ErrInvalidRecord, i, count, err)
	}
}

// scannerWindow is the decompressed bytes a streaming scanner holds at a
// time; a record's fixed fields are far smaller, its key and value are
// skipped through it.
const scannerWindow = 16 << 10

// maxPooledBuffer bounds the decompression buffers kept for reuse, so that
// one large batch does not pin its memory in the pool.
const maxPooledBuffer = 4 << 20

var errPrematureEOF = errors.New("premature end of the records: incorrect declared batch size")

// scanner reads a records section either in place (buf is the whole
// section, r nil) or from a decompressing reader through a window buffer.
type scanner struct {
	buf    []byte // window: buf[pos:end] is unread
	pos    int
	end    int
	offset int64 // stream offset of buf[0]
	r      io.Reader
	eof    bool
	read   int64 // bytes the reader produced
	limit  int64

	window []byte // pooled window storage
	decBuf []byte // pooled whole-payload buffer (raw snappy, zstd)
}

var scannerPool = sync.Pool{New: func() any { return &scanner{window: make([]byte, scannerWindow)} }}

func (s *scanner) release() {
	s.buf, s.r = nil, nil
	if cap(s.decBuf) > maxPooledBuffer {
		s.decBuf = nil
	}
	scannerPool.Put(s)
}

func (s *scanner) resetBytes(data []byte) {
	s.buf, s.pos, s.end, s.offset, s.r, s.eof = data, 0, len(data), 0, nil, true
}

func (s *scanner) resetReader(r io.Reader, limit int) {
	s.buf, s.pos, s.end, s.offset, s.r, s.eof = s.window, 0, 0, 0, r, false
	s.read, s.limit = 0, int64(limit)
}

// pooledDecode decodes a whole payload with dec into the scanner's reusable
// buffer.
func (s *scanner) pooledDecode(src []byte, limit int, dec func(dst, src []byte, limit int) ([]byte, error)) ([]byte, error) {
	out, err := dec(s.decBuf[:0], src, limit)
	if err != nil {
		if errors.Is(err, ErrRecordTooLarge) || errors.Is(err, ErrCorrupt) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if cap(out) > cap(s.decBuf) {
		s.decBuf = out[:0]
	}
	return out, nil
}

// abs is the stream offset of the next unread byte.
func (s *scanner) abs() int64 { return s.offset + int64(s.pos) }

// fill tries to make at least n unread bytes available (n <= window).
func (s *scanner) fill(n int) error {
	for s.end-s.pos < n && !s.eof {
		if s.pos > 0 {
			copy(s.buf, s.buf[s.pos:s.end])
			s.offset += int64(s.pos)
			s.end -= s.pos
			s.pos = 0
		}
		if err := s.readMore(); err != nil {
			return err
		}
	}
	return nil
}

// readMore reads once into the free part of the window.
func (s *scanner) readMore() error {
	for empty := 0; ; empty++ {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		s.read += int64(n)
		if s.read > s.limit {
			return fmt.Errorf("%w: records decompress to more than %d bytes", ErrRecordTooLarge, s.limit)
		}
		switch {
		case err == io.EOF:
			s.eof = true
			return nil
		case err != nil:
			return codecError{err}
		case n > 0:
			return nil
		case empty > maxEmptyReads:
			return codecError{io.ErrNoProgress}
		}
	}
}

// skip discards n bytes.
func (s *scanner) skip(n int64) error {
	for {
		avail := int64(s.end - s.pos)
		if n <= avail {
			s.pos += int(n)
			return nil
		}
		if s.eof {
			return errPrematureEOF
		}
		n -= avail
		s.offset += int64(s.end)
		s.pos, s.end = 0, 0
		if err := s.readMore(); err != nil {
			return err
		}
	}
}

func (s *scanner) varint() (int32, error) {
	if err := s.fill(binary.MaxVarintLen32); err != nil {
		return 0, err
	}
	v, n := varint(s.buf[s.pos:s.end])
	switch {
	case n == 0:
		return 0, errPrematureEOF
	case n < 0:
		return 0, errors.New("varint is too long")
	}
	s.pos += n
	return v, nil
}

func (s *scanner) varlong() (int64, error) {
	if err := s.fill(binary.MaxVarintLen64); err != nil {
		return 0, err
	}
	v, n := varlong(s.buf[s.pos:s.end])
	switch {
	case n == 0:
		return 0, errPrematureEOF
	case n < 0:
		return 0, errors.New("varlong is too long")
	}
	s.pos += n
	return v, nil
}

// skipBytes skips a varint-prefixed field that must end by recordEnd and
// reports whether it was null (a negative length, as Kafka reads it).
func (s *scanner) skipBytes(what string, recordEnd int64) (null bool, err error) {
	n, err := s.varint()
	if err != nil {
		return false, err
	}
	if n < 0 {
		return true, nil
	}
	if int64(n) > recordEnd-s.abs() {
		return false, fmt.Errorf("%s of %d bytes runs past the end of its record", what, n)
	}
	return false, s.skip(int64(n))
}

// record reads the i-th record (Kafka DefaultRecord): its timestamp delta
// and whether its key is null.
func (s *scanner) record(i int32) (tsDelta int64, nullKey bool, err error) {
	size, err := s.varint()
	if err != nil {
		return 0, false, err
	}
	if size < minRecordSize-1 {
		return 0, false, fmt.Errorf("invalid record size %d", size)
	}
	start := s.abs()
	end := start + int64(size)
	if err := s.fill(1); err != nil {
		return 0, false, err
	}
	if s.pos == s.end {
		return 0, false, errPrematureEOF
	}
	s.pos++ // attributes: unused in v2 records
	if tsDelta, err = s.varlong(); err != nil {
		return 0, false, err
	}
	offsetDelta, err := s.varint()
	if err != nil {
		return 0, false, err
	}
	if offsetDelta != i {
		return 0, false, fmt.Errorf("offset delta %d, want %d: inner offsets must run 0..n-1", offsetDelta, i)
	}
	if nullKey, err = s.skipBytes("key", end); err != nil {
		return 0, false, err
	}
	if _, err = s.skipBytes("value", end); err != nil {
		return 0, false, err
	}
	headers, err := s.varint()
	if err != nil {
		return 0, false, err
	}
	// A header takes at least two bytes; Kafka: "Found invalid number of
	// record headers".
	if headers < 0 || int64(headers) > (end-s.abs())/2 {
		return 0, false, fmt.Errorf("invalid number of record headers %d", headers)
	}
	for range headers {
		if null, err := s.skipBytes("header key", end); err != nil {
			return 0, false, err
		} else if null {
			return 0, false, errors.New("invalid negative header key size")
		}
		if _, err := s.skipBytes("header value", end); err != nil {
			return 0, false, err
		}
	}
	if got := s.abs() - start; got != int64(size) {
		// Kafka: "Invalid record size: expected to read X bytes in record
		// payload, but instead read Y".
		return 0, false, fmt.Errorf("record size %d, its fields use %d", size, got)
	}
	return tsDelta, nullKey, nil
}

// atEnd reports whether any byte follows the last record.
func (s *scanner) atEnd() (more bool, err error) {
	if err := s.fill(1); err != nil {
		return false, err
	}
	return s.end > s.pos, nil
}

// gzipStream is a pooled gzip reader with its source.
type gzipStream struct {
	br bytes.Reader
	zr gzip.Reader
}

var gzipStreams = sync.Pool{New: func() any { return new(gzipStream) }}

// lz4Stream is a pooled LZ4 frame reader with its source.
type lz4Stream struct {
	br bytes.Reader
	zr *lz4.Reader
}

var lz4Streams = sync.Pool{New: func() any { return &lz4Stream{zr: lz4.NewReader(nil)} }}

// xerialReader streams the blocks of a xerial-framed snappy payload
// (snappy-java's SnappyInputStream, what the Java client writes), decoding
// one block at a time into a reused buffer.
type xerialReader struct {
	src   []byte
	block []byte // decoded, unread part of the current block
	buf   []byte
	limit int
}

var xerialReaders = sync.Pool{New: func() any { return new(xerialReader) }}

func (x *xerialReader) reset(src []byte, limit int) {
	x.src, x.block, x.limit = src, nil, limit
}

// release returns x to its pool, without a block buffer grown past
// maxPooledBuffer by an unusually large block.
func (x *xerialReader) release() {
	x.src, x.block = nil, nil
	if cap(x.buf) > maxPooledBuffer {
		x.buf = nil
	}
	xerialReaders.Put(x)
}

func (x *xerialReader) Read(p []byte) (int, error) {
	for len(x.block) == 0 {
		if len(x.src) == 0 {
			return 0, io.EOF
		}
		if len(x.src) >= xerialHeaderSize && bytes.Equal(x.src[:len(xerialMagic)], xerialMagic) {
			x.src = x.src[xerialHeaderSize:] // concatenated streams, as snappy-java accepts
			continue
		}
		if len(x.src) < 4 {
			return 0, fmt.Errorf("xerial snappy: %d trailing bytes", len(x.src))
		}
		n := binary.BigEndian.Uint32(x.src)
		if uint64(n) > uint64(len(x.src)-4) {
			return 0, fmt.Errorf("xerial snappy: block of %d bytes, %d available", n, len(x.src)-4)
		}
		block := x.src[4 : 4+n]
		x.src = x.src[4+n:]
		out, err := snappyBlockInto(x.buf[:0], block, x.limit)
		if err != nil {
			return 0, err
		}
		x.buf, x.block = out[:0], out
	}
	n := copy(p, x.block)
	x.block = x.block[n:]
	return n, nil
}

// snappyBlockInto decodes one raw snappy block into dst's storage, growing
// it only when the block's declared length needs more.
func snappyBlockInto(dst, block []byte, limit int) ([]byte, error) {
	n, err := snappy.DecodedLen(block)
	if err != nil {
		return nil, codecError{err}
	}
	if n > limit {
		return nil, fmt.Errorf("%w: snappy block decodes to %d bytes, more than %d", ErrRecordTooLarge, n, limit)
	}
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	out, err := snappy.Decode(dst[:n], block)
	if err != nil {
		return nil, codecError{err}
	}
	return out, nil
}

// zstdInto decodes a zstd payload into dst's storage with the shared
// decoder (see unzstd): a frame that declares its size gets exactly that,
// refused at once when over limit; otherwise the buffer doubles up to limit.
func zstdInto(dst, src []byte, limit int) ([]byte, error) {
	d, err := zstdDecoder()
	if err != nil {
		return nil, err
	}
	size := max(cap(dst), 8*len(src)+4<<10)
	if fcs, ok := zstdContentSize(src); ok {
		if fcs > uint64(limit) {
			return nil, fmt.Errorf("%w: zstd frame declares %d bytes, more than %d", ErrRecordTooLarge, fcs, limit)
		}
		size = max(int(fcs), 4<<10, cap(dst))
	}
	size = min(size, limit)
	for range 64 {
		if cap(dst) < size {
			dst = make([]byte, 0, size)
		}
		out, err := d.DecodeAll(src, dst[:0:size])
		if err == nil {
			if len(out) > limit {
				return nil, fmt.Errorf("%w: records decompress to more than %d bytes", ErrRecordTooLarge, limit)
			}
			return out, nil
		}
		if !zstdOutOfRoom(err, out) {
			return nil, codecError{err}
		}
		if size >= limit {
			return nil, fmt.Errorf("%w: records decompress to more than %d bytes", ErrRecordTooLarge, limit)
		}
		size = int(min(2*int64(size), int64(limit), math.MaxInt32))
	}
	return nil, codecError{errors.New("zstd output did not settle")}
}

// zstdContentSize is the frame content size a zstd frame header declares.
func zstdContentSize(src []byte) (uint64, bool) {
	var h zstd.Header
	if h.Decode(src) != nil || !h.HasFCS {
		return 0, false
	}
	return h.FrameContentSize, true
}

// zstdOutOfRoom recognises a DecodeAll that failed for want of room in its
// capped buffer: a block that does not fit fails with a plain error, so
// less than a block of room left counts too (see unzstd).
func zstdOutOfRoom(err error, out []byte) bool {
	return errors.Is(err, zstd.ErrDecoderSizeExceeded) || cap(out)-len(out) < zstdMaxBlockSize
}

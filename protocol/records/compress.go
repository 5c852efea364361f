package records

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// xerialMagic opens the snappy-java framed stream (SnappyOutputStream) that
// the Java client and Kafka's broker write: this magic, then a big-endian
// version and minimum compatible version (both 1), then blocks of
// { int32 compressed length; raw snappy }.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const (
	xerialHeaderSize = 16
	// xerialBlockSize is snappy-java's default block size, the one Kafka's
	// SnappyCompression uses.
	xerialBlockSize = 32 << 10
	// zstdMaxWindow is zstd's default decoder limit (ZSTD_WINDOWLOG_LIMIT_DEFAULT
	// 27), what zstd-jni in Kafka accepts; Java level 22 streams declare it.
	zstdMaxWindow = 1 << 27
	// zstdMaxBlockSize is the largest output of one zstd block.
	zstdMaxBlockSize = 128 << 10
	// maxEmptyReads bounds a decoder that returns no data and no error.
	maxEmptyReads = 100
)

// Decompress decodes src, compressed with c, refusing to produce more than
// limit bytes: output beyond it is ErrRecordTooLarge, never allocated, so a
// small "zip bomb" cannot exhaust memory. Malformed input is ErrCorrupt.
// For CodecNone the result is src itself.
//
// Snappy accepts both the xerial framing the Java client writes and raw
// snappy (franz-go, Sarama, librdkafka), as snappy-java's SnappyInputStream
// does; lz4 is the LZ4 frame format (KafkaLZ4BlockOutputStream).
func Decompress(c Codec, src []byte, limit int) ([]byte, error) {
	if limit < 0 {
		limit = 0
	}
	var (
		out []byte
		err error
	)
	switch c {
	case CodecNone:
		if len(src) > limit {
			return nil, fmt.Errorf("%w: %d bytes exceed the limit %d", ErrRecordTooLarge, len(src), limit)
		}
		return src, nil
	case CodecGzip:
		out, err = gunzip(src, limit)
	case CodecSnappy:
		out, err = unsnappy(src, limit)
	case CodecLZ4:
		out, err = unlz4(src, limit)
	case CodecZstd:
		out, err = unzstd(src, limit)
	default:
		return nil, fmt.Errorf("%w: unknown compression codec %d", ErrCorrupt, c)
	}
	if err != nil {
		if errors.Is(err, ErrRecordTooLarge) || errors.Is(err, ErrCorrupt) {
			return nil, fmt.Errorf("%s: %w", c, err)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, c, err)
	}
	return out, nil
}

// Compress encodes src with c in the format Kafka's own broker writes when it
// recompresses, which every client reads: gzip, xerial-framed snappy, LZ4
// frames with 64 KiB independent blocks, zstd. CodecNone returns src.
func Compress(c Codec, src []byte) ([]byte, error) {
	switch c {
	case CodecNone:
		return src, nil
	case CodecGzip:
		return gzipBytes(src)
	case CodecSnappy:
		return xerialSnappy(src), nil
	case CodecLZ4:
		return lz4Bytes(src)
	case CodecZstd:
		return zstdEncoder().EncodeAll(src, make([]byte, 0, len(src)/2+64)), nil
	default:
		return nil, fmt.Errorf("%w: unknown compression codec %d", ErrCorrupt, c)
	}
}

// readAllLimit reads r to EOF into a buffer that never grows past limit+1
// bytes; the extra byte detects output beyond limit.
func readAllLimit(r io.Reader, limit, hint int) ([]byte, error) {
	capLimit := limit + 1
	if capLimit <= 0 { // limit == MaxInt
		capLimit = limit
	}
	hint = max(hint, 512)
	buf := make([]byte, 0, min(hint, capLimit))
	empty := 0
	for {
		if len(buf) == cap(buf) {
			if len(buf) > limit {
				return nil, fmt.Errorf("%w: decompressed size exceeds the limit %d", ErrRecordTooLarge, limit)
			}
			grown := make([]byte, len(buf), min(2*cap(buf), capLimit))
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			return nil, fmt.Errorf("%w: decompressed size exceeds the limit %d", ErrRecordTooLarge, limit)
		}
		switch {
		case err == io.EOF:
			return buf, nil
		case err != nil:
			return nil, err
		case n == 0:
			if empty++; empty > maxEmptyReads {
				return nil, io.ErrNoProgress
			}
		default:
			empty = 0
		}
	}
}

var gzipReaders sync.Pool // *gzip.Reader

func gunzip(src []byte, limit int) ([]byte, error) {
	zr, _ := gzipReaders.Get().(*gzip.Reader)
	if zr == nil {
		zr = new(gzip.Reader)
	}
	defer gzipReaders.Put(zr)
	if err := zr.Reset(bytes.NewReader(src)); err != nil {
		return nil, err
	}
	return readAllLimit(zr, limit, 4*len(src))
}

var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

func gzipBytes(src []byte) ([]byte, error) {
	var out bytes.Buffer
	out.Grow(len(src)/2 + 64)
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&out)
	if _, err := zw.Write(src); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func unsnappy(src []byte, limit int) ([]byte, error) {
	if len(src) == 0 {
		// snappy-java's SnappyInputStream reads an empty stream as empty.
		return []byte{}, nil
	}
	if len(src) < xerialHeaderSize || !bytes.Equal(src[:len(xerialMagic)], xerialMagic) {
		return snappyBlock(nil, src, limit)
	}
	// Size the output first so it is allocated once and bounded by limit.
	total := 0
	if err := walkXerial(src, func(block []byte) error {
		n, err := snappy.DecodedLen(block)
		if err != nil {
			return err
		}
		if total += n; n > limit || total > limit {
			return fmt.Errorf("%w: decompressed size exceeds the limit %d", ErrRecordTooLarge, limit)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	out := make([]byte, 0, total)
	err := walkXerial(src, func(block []byte) error {
		var err error
		out, err = snappyBlock(out, block, limit-len(out))
		return err
	})
	return out, err
}

// walkXerial calls fn with each raw snappy block of a xerial stream. Like
// snappy-java it accepts concatenated streams, each with its own header.
func walkXerial(src []byte, fn func(block []byte) error) error {
	for len(src) > 0 {
		if len(src) >= xerialHeaderSize && bytes.Equal(src[:len(xerialMagic)], xerialMagic) {
			src = src[xerialHeaderSize:]
			continue
		}
		if len(src) < 4 {
			return fmt.Errorf("%w: xerial snappy: %d trailing bytes", ErrCorrupt, len(src))
		}
		n := binary.BigEndian.Uint32(src)
		src = src[4:]
		if uint64(n) > uint64(len(src)) {
			return fmt.Errorf("%w: xerial snappy: block of %d bytes, %d available", ErrCorrupt, n, len(src))
		}
		if err := fn(src[:n]); err != nil {
			return err
		}
		src = src[n:]
	}
	return nil
}

// snappyBlock appends the decoding of one raw snappy block to dst.
func snappyBlock(dst, block []byte, limit int) ([]byte, error) {
	n, err := snappy.DecodedLen(block)
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, fmt.Errorf("%w: decompressed size %d exceeds the limit %d", ErrRecordTooLarge, n, limit)
	}
	if cap(dst)-len(dst) < n {
		grown := make([]byte, len(dst), len(dst)+n)
		copy(grown, dst)
		dst = grown
	}
	got, err := snappy.Decode(dst[len(dst):len(dst)+n], block)
	if err != nil {
		return nil, err
	}
	return dst[:len(dst)+len(got)], nil
}

func xerialSnappy(src []byte) []byte {
	blocks := (len(src) + xerialBlockSize - 1) / xerialBlockSize
	out := make([]byte, 0, xerialHeaderSize+blocks*4+snappy.MaxEncodedLen(min(len(src), xerialBlockSize))*max(blocks, 1))
	out = append(out, xerialMagic...)
	out = binary.BigEndian.AppendUint32(out, 1) // version
	out = binary.BigEndian.AppendUint32(out, 1) // minimum compatible version
	for len(src) > 0 {
		chunk := src[:min(len(src), xerialBlockSize)]
		src = src[len(chunk):]
		lenAt := len(out)
		out = append(out, 0, 0, 0, 0)
		enc := snappy.Encode(out[len(out):cap(out)], chunk)
		binary.BigEndian.PutUint32(out[lenAt:], uint32(len(enc)))
		out = append(out, enc...) // in place: enc aliases out's spare capacity
	}
	return out
}

var lz4Readers = sync.Pool{New: func() any { return lz4.NewReader(nil) }}

func unlz4(src []byte, limit int) ([]byte, error) {
	if len(src) == 0 {
		// Kafka's Lz4BlockInputStream needs at least the frame magic.
		return nil, errors.New("empty LZ4 frame")
	}
	zr := lz4Readers.Get().(*lz4.Reader)
	defer lz4Readers.Put(zr)
	zr.Reset(bytes.NewReader(src))
	return readAllLimit(zr, limit, 4*len(src))
}

var lz4Writers = sync.Pool{New: func() any {
	zw := lz4.NewWriter(nil)
	// Kafka's Lz4BlockOutputStream: 64 KiB independent blocks, no block or
	// content checksum. Its reader requires block independence.
	_ = zw.Apply(
		lz4.BlockSizeOption(lz4.Block64Kb),
		lz4.BlockChecksumOption(false),
		lz4.ChecksumOption(false),
		lz4.ConcurrencyOption(1),
	)
	return zw
}}

func lz4Bytes(src []byte) ([]byte, error) {
	var out bytes.Buffer
	out.Grow(len(src)/2 + 64)
	zw := lz4Writers.Get().(*lz4.Writer)
	defer lz4Writers.Put(zw)
	zw.Reset(&out)
	if _, err := zw.Write(src); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// zstdDecoder is shared: DecodeAll is safe for concurrent use. It decodes
// straight into the caller's buffer, so memory follows the output rather
// than the window the frame declares (a streaming decoder allocates the
// whole declared window up front, 128 MiB for a Java level-22 stream), and
// with the cap limit it never writes past cap(dst).
var zstdDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
	return zstd.NewReader(nil,
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(1<<62),
		zstd.WithDecoderMaxWindow(zstdMaxWindow),
		zstd.WithDecodeAllCapLimit(true))
})

// unzstd sizes the output from the frame's content size when the frame
// declares one (franz-go, librdkafka); otherwise (zstd-jni streams from the
// Java client) it starts from a guess and, when the output does not fit,
// decodes again into a buffer twice as large, up to limit. Total allocation
// stays below about twice the output, at the cost of re-decoding.
func unzstd(src []byte, limit int) ([]byte, error) {
	d, err := zstdDecoder()
	if err != nil {
		return nil, err
	}
	const minSize = 4 << 10
	size := 8*len(src) + minSize
	var h zstd.Header
	if h.Decode(src) == nil && h.HasFCS {
		if h.FrameContentSize > uint64(limit) {
			return nil, fmt.Errorf("%w: frame content size %d exceeds the limit %d", ErrRecordTooLarge, h.FrameContentSize, limit)
		}
		size = max(int(h.FrameContentSize), minSize)
	}
	size = min(size, limit)
	for range 64 { // size at least doubles each round until it reaches limit
		out, err := d.DecodeAll(src, make([]byte, 0, size))
		if err == nil {
			if len(out) > limit {
				return nil, fmt.Errorf("%w: decompressed size %d exceeds the limit %d", ErrRecordTooLarge, len(out), limit)
			}
			return out, nil
		}
		// A block that does not fit the buffer fails with a plain error, so
		// "out of room" is recognised by less than a block of room left.
		if !errors.Is(err, zstd.ErrDecoderSizeExceeded) && cap(out)-len(out) >= zstdMaxBlockSize {
			return nil, err
		}
		if size >= limit {
			return nil, fmt.Errorf("%w: decompressed size exceeds the limit %d", ErrRecordTooLarge, limit)
		}
		size = min(max(2*size, minSize), limit)
	}
	return nil, fmt.Errorf("%w: zstd output did not settle", ErrCorrupt)
}

var (
	zstdOnce sync.Once
	zstdEnc  *zstd.Encoder
)

// zstdEncoder is shared: EncodeAll is safe for concurrent use. SpeedDefault
// corresponds to zstd level 3, Kafka's default compression.zstd.level.
func zstdEncoder() *zstd.Encoder {
	zstdOnce.Do(func() {
		zstdEnc, _ = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedDefault),
			zstd.WithZeroFrames(true))
	})
	return zstdEnc
}

// CompressRawSnappy is src as one raw snappy block, the snappy framing
// franz-go, librdkafka and Sarama write (Compress writes the Java client's
// xerial framing). Tests and tools use it to produce as those clients do.
func CompressRawSnappy(src []byte) []byte { return snappy.Encode(nil, src) }

// CompressZstdStream is src as a streamed zstd frame that declares no
// content size, as zstd-jni's ZstdOutputStream in the Java client writes it
// (Compress declares the size, as franz-go and librdkafka do).
func CompressZstdStream(src []byte) ([]byte, error) {
	var out bytes.Buffer
	zw, err := zstd.NewWriter(&out, zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(src); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

package records

import (
	"bytes"
	stdgzip "compress/gzip"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/zstd"
	kgzip "github.com/segmentio/kafka-go/compress/gzip"
	klz4 "github.com/segmentio/kafka-go/compress/lz4"
	ksnappy "github.com/segmentio/kafka-go/compress/snappy"
	kzstd "github.com/segmentio/kafka-go/compress/zstd"
	"github.com/twmb/franz-go/pkg/kgo"
)

// payloads mixes compressible and incompressible data, across the 32 KiB
// xerial and 64 KiB LZ4 block boundaries.
func payloads() map[string][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 200_000)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	return map[string][]byte{
		"empty":     {},
		"one":       {'x'},
		"text":      bytes.Repeat([]byte("riffle record batch "), 10),
		"block":     bytes.Repeat([]byte{7}, 64<<10),
		"large":     bytes.Repeat([]byte("0123456789abcdef"), 40_000),
		"random":    random,
		"mixed":     append(bytes.Repeat([]byte("z"), 100_000), random[:70_000]...),
		"xerial+1":  bytes.Repeat([]byte("q"), xerialBlockSize+1),
		"lz4block+": random[:64<<10+3],
	}
}

func TestCompressRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range allCodecs {
		for name, src := range payloads() {
			out, err := Compress(c, src)
			if err != nil {
				t.Fatalf("%s %s: Compress: %v", c, name, err)
			}
			got, err := Decompress(c, out, len(src))
			if err != nil {
				t.Fatalf("%s %s: Decompress: %v", c, name, err)
			}
			if !bytes.Equal(got, src) {
				t.Fatalf("%s %s: round trip differs", c, name)
			}
			if len(src) > 0 {
				if _, err := Decompress(c, out, len(src)-1); !errors.Is(err, ErrRecordTooLarge) {
					t.Fatalf("%s %s: limit one below the size: %v", c, name, err)
				}
			}
		}
	}
}

var kgoCodecs = map[Codec]kgo.CompressionCodec{
	CodecGzip:   kgo.GzipCompression(),
	CodecSnappy: kgo.SnappyCompression(),
	CodecLZ4:    kgo.Lz4Compression(),
	CodecZstd:   kgo.ZstdCompression(),
}

// TestFranzGoInterop: what franz-go producers write we read, and what we
// write franz-go consumers read.
func TestFranzGoInterop(t *testing.T) {
	t.Parallel()
	dec := kgo.DefaultDecompressor()
	for c, kc := range kgoCodecs {
		comp, err := kgo.DefaultCompressor(kc)
		if err != nil {
			t.Fatal(err)
		}
		for name, src := range payloads() {
			if len(src) == 0 {
				continue
			}
			var buf bytes.Buffer
			theirs, typ := comp.Compress(&buf, src)
			if int8(typ) != int8(c) {
				t.Fatalf("%s: franz-go used codec %d", c, typ)
			}
			got, err := Decompress(c, theirs, len(src))
			if err != nil || !bytes.Equal(got, src) {
				t.Fatalf("%s %s: decompress franz-go output: %v", c, name, err)
			}
			ours, err := Compress(c, src)
			if err != nil {
				t.Fatal(err)
			}
			back, err := dec.Decompress(ours, kgo.CompressionCodecType(c))
			if err != nil || !bytes.Equal(back, src) {
				t.Fatalf("%s %s: franz-go decompress of ours: %v", c, name, err)
			}
		}
	}
}

type kafkaGoCodec interface {
	NewReader(io.Reader) io.ReadCloser
	NewWriter(io.Writer) io.WriteCloser
}

// TestKafkaGoInterop uses segmentio/kafka-go's codecs; its snappy codec
// writes the xerial framing of the Java client.
func TestKafkaGoInterop(t *testing.T) {
	t.Parallel()
	codecs := map[string]struct {
		codec Codec
		kc    kafkaGoCodec
	}{
		"gzip":          {CodecGzip, &kgzip.Codec{Level: 6}},
		"snappy xerial": {CodecSnappy, &ksnappy.Codec{Framing: ksnappy.Framed}},
		"snappy raw":    {CodecSnappy, &ksnappy.Codec{Framing: ksnappy.Unframed}},
		"lz4":           {CodecLZ4, &klz4.Codec{}},
		"zstd":          {CodecZstd, &kzstd.Codec{Level: 3}},
	}
	for name, tc := range codecs {
		for pname, src := range payloads() {
			var buf bytes.Buffer
			w := tc.kc.NewWriter(&buf)
			if _, err := w.Write(src); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := Decompress(tc.codec, buf.Bytes(), len(src))
			if err != nil || !bytes.Equal(got, src) {
				t.Fatalf("%s %s: decompress kafka-go output: %v", name, pname, err)
			}
			ours, err := Compress(tc.codec, src)
			if err != nil {
				t.Fatal(err)
			}
			r := tc.kc.NewReader(bytes.NewReader(ours))
			back, err := io.ReadAll(r)
			r.Close()
			if err != nil || !bytes.Equal(back, src) {
				t.Fatalf("%s %s: kafka-go decompress of ours: %v", name, pname, err)
			}
		}
	}
}

func TestDecompressStdlibAndRawSnappy(t *testing.T) {
	t.Parallel()
	src := bytes.Repeat([]byte("stdlib "), 1000)
	var gz bytes.Buffer
	zw := stdgzip.NewWriter(&gz)
	zw.Write(src)
	zw.Close()
	// Two gzip members back to back: Java's GZIPInputStream reads both.
	gz2 := append(append([]byte(nil), gz.Bytes()...), gz.Bytes()...)
	for name, tc := range map[string]struct {
		c    Codec
		in   []byte
		want []byte
	}{
		"gzip":           {CodecGzip, gz.Bytes(), src},
		"gzip multi":     {CodecGzip, gz2, append(append([]byte(nil), src...), src...)},
		"snappy raw":     {CodecSnappy, snappy.Encode(nil, src), src},
		"snappy raw abc": {CodecSnappy, []byte{0x03, 0x08, 'a', 'b', 'c'}, []byte("abc")},
	} {
		got, err := Decompress(tc.c, tc.in, 1<<20)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// xerialStream is snappy-java's framing written by hand: magic, version 1,
// minimum compatible version 1, then {length, raw snappy} blocks.
func xerialStream(blocks ...[]byte) []byte {
	out := []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}
	for _, b := range blocks {
		out = append(out, byte(len(b)>>24), byte(len(b)>>16), byte(len(b)>>8), byte(len(b)))
		out = append(out, b...)
	}
	return out
}

func TestXerialSnappy(t *testing.T) {
	t.Parallel()
	abc := []byte{0x03, 0x08, 'a', 'b', 'c'} // raw snappy of "abc": length 3, one literal
	de := snappy.Encode(nil, []byte("de"))
	cases := []struct {
		name string
		in   []byte
		want string
		err  error
	}{
		{"one block", xerialStream(abc), "abc", nil},
		{"two blocks", xerialStream(abc, de), "abcde", nil},
		{"header only", xerialStream(), "", nil},
		{"concatenated streams", append(xerialStream(abc), xerialStream(de)...), "abcde", nil},
		{"block length past end", xerialStream(abc)[:20], "", ErrCorrupt},
		{"dangling length bytes", append(xerialStream(abc), 0, 0), "", ErrCorrupt},
		{"bad block", xerialStream([]byte{0x05, 0x08, 'a'}), "", ErrCorrupt},
	}
	for _, tc := range cases {
		got, err := Decompress(CodecSnappy, tc.in, 100)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: %q, %v", tc.name, got, err)
		}
	}
	ours, _ := Compress(CodecSnappy, []byte("abc"))
	if !bytes.HasPrefix(ours, xerialStream()) {
		t.Errorf("Compress(snappy) does not write the xerial header: % x", ours[:16])
	}
}

// TestLZ4FrameMatchesKafka: Kafka's Lz4BlockOutputStream writes FLG 0x60
// (version 1, independent blocks, no checksums) and BD 0x40 (64 KiB
// blocks); its reader refuses dependent blocks.
func TestLZ4FrameMatchesKafka(t *testing.T) {
	t.Parallel()
	for range 2 { // the second pass uses a pooled writer
		out, err := Compress(CodecLZ4, bytes.Repeat([]byte("lz4"), 100_000))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out[:6], []byte{0x04, 0x22, 0x4d, 0x18, 0x60, 0x40}) {
			t.Fatalf("LZ4 frame header % x", out[:7])
		}
	}
}

func TestDecompressCorrupt(t *testing.T) {
	t.Parallel()
	src := bytes.Repeat([]byte("corrupt me "), 5000)
	for _, c := range allCodecs[1:] {
		good, err := Compress(c, src)
		if err != nil {
			t.Fatal(err)
		}
		inputs := map[string][]byte{
			"garbage":   []byte("this is not compressed data at all, really"),
			"truncated": good[:len(good)/2],
			"empty":     nil,
		}
		for name, in := range inputs {
			if name == "empty" && (c == CodecSnappy || c == CodecZstd) {
				continue // snappy-java and zstd-jni read an empty stream as empty
			}
			if _, err := Decompress(c, in, 1<<20); !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s %s: %v, want ErrCorrupt", c, name, err)
			}
		}
	}
	if _, err := Decompress(Codec(5), []byte("x"), 10); !errors.Is(err, ErrCorrupt) {
		t.Errorf("codec 5: %v", err)
	}
	if _, err := Compress(Codec(7), []byte("x")); err == nil {
		t.Error("Compress(codec 7) succeeded")
	}
}

// TestDecompressBomb: a small input that expands to 64 MiB is refused at
// the limit without allocating anywhere near the expanded size.
func TestDecompressBomb(t *testing.T) {
	zeros := make([]byte, 64<<20)
	const limit = 1 << 20
	bombs := map[string][]byte{}
	for _, c := range allCodecs[1:] {
		bomb, err := Compress(c, zeros)
		if err != nil {
			t.Fatal(err)
		}
		bombs[c.String()] = bomb
	}
	// A streamed zstd frame, like zstd-jni's ZstdOutputStream in the Java
	// client, declares no content size, so the decoder cannot refuse it
	// up front.
	var streamed bytes.Buffer
	zw, _ := zstd.NewWriter(&streamed, zstd.WithEncoderConcurrency(1))
	zw.Write(zeros)
	zw.Close()
	bombs["zstd streamed"] = streamed.Bytes()
	for name, bomb := range bombs {
		c, _ := ParseCodec(strings.Fields(name)[0])
		Decompress(c, bomb, limit) // warm pools and caches
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Decompress(c, bomb, limit)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrRecordTooLarge) {
			t.Fatalf("%s bomb of %d bytes: %v, want ErrRecordTooLarge", name, len(bomb), err)
		}
		// Output buffers grow geometrically up to about the limit, plus the
		// codec's own block buffers; nothing near the 64 MiB output.
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s bomb: %d bytes in, %d allocated", name, len(bomb), alloc)
		if alloc > 8*limit {
			t.Errorf("%s bomb: allocated %d bytes for a %d limit", name, alloc, limit)
		}
	}
}

// TestZstdLargeWindowSmallLimit: zstd-jni streams (the Java client) declare
// their window, not their size; a level-22 stream declares 128 MiB. The
// memory spent follows the output, so a small limit still decodes it.
func TestZstdLargeWindowSmallLimit(t *testing.T) {
	t.Parallel()
	src := bytes.Repeat([]byte("java producer "), 20_000)
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, zstd.WithWindowSize(zstdMaxWindow), zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(src[:1000])
	zw.Flush() // force a streamed frame without a content size
	zw.Write(src[1000:])
	zw.Close()
	var h zstd.Header
	if err := h.Decode(buf.Bytes()); err != nil || h.HasFCS || h.WindowSize != zstdMaxWindow {
		t.Fatalf("test frame: %+v %v", h, err)
	}
	got, err := Decompress(CodecZstd, buf.Bytes(), len(src))
	if err != nil || !bytes.Equal(got, src) {
		t.Fatalf("Decompress: %v", err)
	}
	if _, err := Decompress(CodecZstd, buf.Bytes(), len(src)-1); !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("one below: %v", err)
	}
}

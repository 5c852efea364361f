package records

import (
	"bytes"
	"errors"
	"hash/crc32"
	"testing"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/gzip"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// msg describes one legacy message for the test encoder.
type msg struct {
	offset     int64
	magic      int8
	attrs      int8
	ts         int64
	key, value []byte
}

// kmsgMessage encodes m with kmsg's MessageV0/V1, filling the size and
// CRC-32 the way an old client does, independently of this package.
func kmsgMessage(m msg) []byte {
	var enc func(size, crc int32) []byte
	if m.magic == 0 {
		enc = func(size, crc int32) []byte {
			v := kmsg.MessageV0{Offset: m.offset, MessageSize: size, CRC: crc, Magic: 0, Attributes: m.attrs, Key: m.key, Value: m.value}
			return v.AppendTo(nil)
		}
	} else {
		enc = func(size, crc int32) []byte {
			v := kmsg.MessageV1{Offset: m.offset, MessageSize: size, CRC: crc, Magic: m.magic, Attributes: m.attrs, Timestamp: m.ts, Key: m.key, Value: m.value}
			return v.AppendTo(nil)
		}
	}
	b := enc(0, 0)
	b = enc(int32(len(b)-12), 0)
	return enc(int32(len(b)-12), int32(crc32.ChecksumIEEE(b[16:])))
}

func messageSet(ms ...msg) []byte {
	var out []byte
	for _, m := range ms {
		out = append(out, kmsgMessage(m)...)
	}
	return out
}

// compressWith compresses with the libraries directly, as clients do:
// Sarama and librdkafka write raw snappy, not the xerial framing.
func compressWith(t testing.TB, c Codec, raw []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch c {
	case CodecGzip:
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(raw)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	case CodecSnappy:
		return snappy.Encode(nil, raw)
	case CodecLZ4:
		zw := lz4.NewWriter(&buf)
		_, _ = zw.Write(raw)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	case CodecZstd:
		out, err := Compress(CodecZstd, raw)
		if err != nil {
			t.Fatal(err)
		}
		return out
	default:
		return raw
	}
	return buf.Bytes()
}

// wrapper builds a compressed wrapper message around inner.
func wrapper(t testing.TB, magic int8, c Codec, offset, ts int64, inner ...msg) []byte {
	return kmsgMessage(msg{offset: offset, magic: magic, attrs: int8(c), ts: ts, value: compressWith(t, c, messageSet(inner...))})
}

type wantRec struct {
	ts         int64
	key, value []byte
}

func TestUpConvert(t *testing.T) {
	t.Parallel()
	k, v := []byte("k"), []byte("value")
	three := func(magic int8, rel bool) []msg {
		var ms []msg
		for i := range 3 {
			off := int64(i)
			if !rel {
				off = 100 + int64(i) // magic 0 producers send anything
			}
			ms = append(ms, msg{offset: off, magic: magic, ts: 1000 + int64(i)*7, key: k, value: v})
		}
		ms[1].key = nil
		ms[2].value = []byte{}
		return ms
	}
	recs := func(withTS bool) []wantRec {
		ts := func(i int64) int64 {
			if !withTS {
				return -1
			}
			return 1000 + i*7
		}
		return []wantRec{{ts(0), k, v}, {ts(1), nil, v}, {ts(2), k, []byte{}}}
	}
	tests := []struct {
		name  string
		data  []byte
		codec Codec
		want  []wantRec
	}{
		{"magic0 none", messageSet(three(0, false)...), CodecNone, recs(false)},
		{"magic1 none", messageSet(three(1, false)...), CodecNone, recs(true)},
		{"magic1 one message", messageSet(msg{magic: 1, ts: -1, value: v}), CodecNone, []wantRec{{-1, nil, v}}},
		{"magic0 gzip", wrapper(t, 0, CodecGzip, 2, 0, three(0, false)...), CodecGzip, recs(false)},
		{"magic0 snappy", wrapper(t, 0, CodecSnappy, 2, 0, three(0, false)...), CodecSnappy, recs(false)},
		{"magic1 gzip", wrapper(t, 1, CodecGzip, 2, 1014, three(1, true)...), CodecGzip, recs(true)},
		{"magic1 snappy", wrapper(t, 1, CodecSnappy, 2, 1014, three(1, true)...), CodecSnappy, recs(true)},
		{"magic1 lz4", wrapper(t, 1, CodecLZ4, 2, 1014, three(1, true)...), CodecLZ4, recs(true)},
		// Some old clients number inner messages wrongly; Kafka rewrites.
		{"magic1 gzip absolute inner offsets", wrapper(t, 1, CodecGzip, 102, 1014, three(1, false)...), CodecGzip, recs(true)},
		{"magic0 lz4 with the KAFKA-3160 checksum", kmsgMessage(msg{magic: 0, attrs: int8(CodecLZ4), value: brokenLZ4(t, messageSet(three(0, false)...))}), CodecLZ4, recs(false)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := UpConvert(tt.data, DefaultDecompressLimit)
			if err != nil {
				t.Fatalf("UpConvert: %v", err)
			}
			if err := b.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if b.Codec() != tt.codec || b.ProducerID() != -1 || b.BaseSequence() != -1 || b.TimestampType() != CreateTime {
				t.Fatalf("codec %s producer %d seq %d type %s", b.Codec(), b.ProducerID(), b.BaseSequence(), b.TimestampType())
			}
			got, err := b.Records()
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) || int(b.NumRecords()) != len(tt.want) {
				t.Fatalf("%d records (count %d), want %d", len(got), b.NumRecords(), len(tt.want))
			}
			maxTS := int64(-1)
			for i, r := range got {
				w := tt.want[i]
				maxTS = max(maxTS, w.ts)
				if r.OffsetDelta != int32(i) || b.BaseTimestamp()+r.TimestampDelta != w.ts ||
					!sameNullable(r.Key, w.key) || !sameNullable(r.Value, w.value) || len(r.Headers) != 0 {
					t.Errorf("record %d: delta %d ts %d key %q value %q, want ts %d key %q value %q",
						i, r.OffsetDelta, b.BaseTimestamp()+r.TimestampDelta, r.Key, r.Value, w.ts, w.key, w.value)
				}
			}
			if b.MaxTimestamp() != maxTS {
				t.Errorf("max timestamp %d, want %d", b.MaxTimestamp(), maxTS)
			}
			// kmsg reads the converted batch too.
			var rb kmsg.RecordBatch
			if err := rb.ReadFrom(b); err != nil || rb.NumRecords != int32(len(tt.want)) {
				t.Fatalf("kmsg: %v, %d records", err, rb.NumRecords)
			}
		})
	}
}

// brokenLZ4 is an LZ4 frame whose header checksum covers the frame magic
// too, as Kafka 0.8/0.9 and kafka-python write for magic 0 (KAFKA-3160).
func brokenLZ4(t testing.TB, raw []byte) []byte {
	b := compressWith(t, CodecLZ4, raw)
	hc := 6
	if b[4]&0x08 != 0 {
		hc += 8
	}
	out := bytes.Clone(b)
	out[hc] = byte(xxh32(b[:hc]) >> 8)
	if out[hc] == b[hc] {
		t.Fatal("broken checksum happens to equal the right one; pick other data")
	}
	return out
}

func TestXXH32(t *testing.T) {
	t.Parallel()
	// Reference values of XXH32 with seed 0.
	for in, want := range map[string]uint32{"": 0x02cc5d05, "a": 0x550d7456, "abc": 0x32d153ff} {
		if got := xxh32([]byte(in)); got != want {
			t.Errorf("xxh32(%q) = %#x, want %#x", in, got, want)
		}
	}
	// The LZ4 library's own header checksums survive a fixup, with and
	// without the 8-byte content size in the descriptor.
	for _, opts := range [][]lz4.Option{nil, {lz4.SizeOption(17)}} {
		var buf bytes.Buffer
		zw := lz4.NewWriter(&buf)
		if err := zw.Apply(opts...); err != nil {
			t.Fatal(err)
		}
		_, _ = zw.Write([]byte("hello hello hello"))
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		frame := buf.Bytes()
		if fixed := fixLegacyLZ4Checksum(frame); !bytes.Equal(fixed, frame) {
			t.Fatalf("fixup changed a correct frame header (%d options)", len(opts))
		}
		broken := bytes.Clone(frame)
		hc := 6 + 8*int(frame[4]>>3&1)
		broken[hc]++
		if fixed := fixLegacyLZ4Checksum(broken); fixed[hc] != frame[hc] {
			t.Fatalf("fixup did not restore the header checksum (%d options)", len(opts))
		}
	}
}

func TestUpConvertErrors(t *testing.T) {
	t.Parallel()
	v := []byte("v")
	m0, m1 := msg{magic: 0, value: v}, msg{magic: 1, ts: 5, value: v}
	badCRC := messageSet(m1)
	badCRC[len(badCRC)-1] ^= 1
	v2, err := Build(BatchHeader{ProducerID: -1}, CodecNone, []Record{{Value: v}})
	if err != nil {
		t.Fatal(err)
	}
	badKeyLen := messageSet(msg{magic: 1, key: []byte("kk"), value: v})
	badKeyLen[12+4+2+8+3] = 9 // key length 9: runs past the message
	badKeyLen = refreshCRC(badKeyLen)
	gzipWrapper := wrapper(t, 1, CodecGzip, 0, 5, m1)
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrInvalidRecord},
		{"short", []byte{1, 2, 3}, ErrCorrupt},
		{"v2 batch", v2, ErrUnsupportedMagic},
		{"bad crc", badCRC, ErrCorrupt},
		{"bad key length", badKeyLen, ErrCorrupt},
		{"truncated", messageSet(m1, m1)[:40], ErrCorrupt},
		{"size below minimum", func() []byte { b := messageSet(m0); b[11] = 5; return b }(), ErrCorrupt},
		{"mixed magic", messageSet(m1, m0), ErrInvalidRecord},
		{"magic 2 after magic 1", append(messageSet(m1), v2...), ErrInvalidRecord},
		{"two wrappers", append(bytes.Clone(gzipWrapper), gzipWrapper...), ErrInvalidRecord},
		{"plain then wrapper", append(messageSet(m1), gzipWrapper...), ErrInvalidRecord},
		{"wrapper then plain", append(bytes.Clone(gzipWrapper), messageSet(m1)...), ErrInvalidRecord},
		{"nested compression", wrapper(t, 1, CodecGzip, 0, 5, msg{magic: 1, attrs: int8(CodecGzip), value: compressWith(t, CodecGzip, messageSet(m1))}), ErrInvalidRecord},
		{"inner magic differs", wrapper(t, 1, CodecGzip, 0, 5, m0), ErrInvalidRecord},
		{"empty wrapper", kmsgMessage(msg{magic: 1, attrs: int8(CodecGzip), value: compressWith(t, CodecGzip, nil)}), ErrInvalidRecord},
		{"null wrapper value", kmsgMessage(msg{magic: 1, attrs: int8(CodecGzip)}), ErrInvalidRecord},
		{"garbage wrapper value", kmsgMessage(msg{magic: 1, attrs: int8(CodecGzip), value: []byte("nope")}), ErrCorrupt},
		{"unknown codec", kmsgMessage(msg{magic: 1, attrs: 6, value: v}), ErrCorrupt},
		{"zstd", wrapper(t, 1, CodecZstd, 0, 5, m1), ErrUnsupportedCompression},
		{"log append time", messageSet(msg{magic: 1, attrs: 0x08, ts: 5, value: v}), ErrInvalidTimestamp},
		{"log append time wrapper", wrapper(t, 1, CodecGzip|8, 0, 5, m1), ErrInvalidTimestamp},
		{"inner log append time", wrapper(t, 1, CodecGzip, 0, 5, msg{magic: 1, attrs: 0x08, ts: 5, value: v}), ErrInvalidTimestamp},
		{"bomb", wrapper(t, 1, CodecGzip, 0, 5, msg{magic: 1, value: make([]byte, 2<<20)}), ErrRecordTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := UpConvert(tt.data, 1<<20)
			if !errors.Is(err, tt.want) {
				t.Fatalf("UpConvert = %d bytes, %v; want %v", len(b), err, tt.want)
			}
		})
	}
}

// refreshCRC recomputes the CRC of a single-message set after a test edit.
func refreshCRC(b []byte) []byte {
	be.PutUint32(b[12:], crc32.ChecksumIEEE(b[16:]))
	return b
}

// v2Batch builds a stored batch at base with n records "k<i>"/"v<i>", a
// header on each, timestamps 5000+10i.
func v2Batch(t testing.TB, base int64, n int, c Codec, attrs int16) Batch {
	t.Helper()
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{
			TimestampDelta: int64(i) * 10,
			OffsetDelta:    int32(i),
			Key:            []byte{'k', byte('0' + i)},
			Value:          []byte{'v', byte('0' + i)},
			Headers:        []Header{{Key: "h", Value: []byte("x")}},
		}
	}
	b, err := Build(BatchHeader{BaseOffset: base, Attributes: attrs, BaseTimestamp: 5000, MaxTimestamp: 5000 + int64(n-1)*10, ProducerID: -1, BaseSequence: -1, ProducerEpoch: -1}, c, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readLegacy parses a message set with kmsg (independently of this
// package), returning the top-level messages.
func readLegacy(t *testing.T, data []byte) []kmsg.MessageV1 {
	t.Helper()
	var out []kmsg.MessageV1
	for len(data) > 0 {
		if len(data) < 12 {
			t.Fatalf("%d trailing bytes", len(data))
		}
		size := int(be.Uint32(data[8:])) + 12
		var m kmsg.MessageV1
		if data[16] == 0 {
			var m0 kmsg.MessageV0
			if err := m0.ReadFrom(data[:size]); err != nil {
				t.Fatal(err)
			}
			m = kmsg.MessageV1{Offset: m0.Offset, MessageSize: m0.MessageSize, CRC: m0.CRC, Magic: 0, Attributes: m0.Attributes, Timestamp: -1, Key: m0.Key, Value: m0.Value}
		} else if err := m.ReadFrom(data[:size]); err != nil {
			t.Fatal(err)
		}
		if uint32(m.CRC) != crc32.ChecksumIEEE(data[16:size]) {
			t.Fatalf("message at %d: bad crc", m.Offset)
		}
		out = append(out, m)
		data = data[size:]
	}
	return out
}

type legacyWant struct {
	offset int64
	ts     int64
	key    string
}

func TestDownConvert(t *testing.T) {
	t.Parallel()
	ctrl, err := Build(BatchHeader{BaseOffset: 3, Attributes: ControlFlag | TransactionalFlag, ProducerID: 7, BaseSequence: -1}, CodecNone,
		[]Record{{Key: []byte{0, 0, 0, 0}, Value: []byte{0, 0, 0, 0, 0, 0}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4} {
		for _, magic := range []int8{MagicV0, MagicV1} {
			t.Run(c.String()+"/magic"+string(rune('0'+magic)), func(t *testing.T) {
				t.Parallel()
				data := append(append(bytes.Clone(v2Batch(t, 0, 3, c, 0)), ctrl...), v2Batch(t, 4, 2, c, 0)...)
				out, err := DownConvert(data, magic, 1, 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				var want []legacyWant
				for i, o := range []int64{0, 1, 2, 4, 5} {
					if c == CodecNone && o < 1 {
						continue // uncompressed: records before the fetch offset are left out
					}
					idx := []int{0, 1, 2, 0, 1}[i]
					ts := 5000 + int64(idx)*10
					if magic == 0 {
						ts = -1
					}
					want = append(want, legacyWant{o, ts, "k" + string(rune('0'+idx))})
				}
				top := readLegacy(t, out)
				var got []legacyWant
				for _, m := range top {
					if m.Magic != magic {
						t.Fatalf("magic %d, want %d", m.Magic, magic)
					}
					if Codec(m.Attributes&7) != c {
						t.Fatalf("codec %d, want %s", m.Attributes&7, c)
					}
					if c == CodecNone {
						got = append(got, legacyWant{m.Offset, m.Timestamp, string(m.Key)})
						continue
					}
					raw, err := Decompress(c, m.Value, 1<<20)
					if err != nil {
						t.Fatal(err)
					}
					inner := readLegacy(t, raw)
					last := inner[len(inner)-1].Offset
					if magic == 1 && (inner[0].Offset != 0 || m.Timestamp != inner[len(inner)-1].Timestamp) {
						t.Fatalf("magic 1 wrapper: first inner offset %d (want 0), wrapper ts %d", inner[0].Offset, m.Timestamp)
					}
					for _, im := range inner {
						off := im.Offset
						if magic == 1 {
							off = m.Offset - last + im.Offset
						}
						got = append(got, legacyWant{off, im.Timestamp, string(im.Key)})
					}
				}
				if len(got) != len(want) {
					t.Fatalf("got %v, want %v", got, want)
				}
				for i := range got {
					if got[i] != want[i] {
						t.Errorf("message %d: %v, want %v", i, got[i], want[i])
					}
				}
				// And the package's own reader agrees and round-trips.
				n := 0
				if err := ForEachLegacyMessage(out, 1<<20, func(m *LegacyMessage) error {
					if m.Offset != want[n].offset || m.Timestamp != want[n].ts || string(m.Key) != want[n].key {
						t.Errorf("ForEachLegacyMessage %d: %d %d %q", n, m.Offset, m.Timestamp, m.Key)
					}
					n++
					return nil
				}); err != nil || n != len(want) {
					t.Fatalf("ForEachLegacyMessage: %v after %d", err, n)
				}
			})
		}
	}
}

func TestDownConvertLogAppendTime(t *testing.T) {
	t.Parallel()
	for _, c := range []Codec{CodecNone, CodecGzip} {
		b := v2Batch(t, 10, 2, c, 0)
		b.SetLogAppendTime(99_000)
		out, err := DownConvert(b, MagicV1, 0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		err = ForEachLegacyMessage(out, 1<<20, func(m *LegacyMessage) error {
			n++
			if m.Timestamp != 99_000 || m.TimestampType() != LogAppendTime {
				t.Errorf("%s: message %d: ts %d type %s", c, m.Offset, m.Timestamp, m.TimestampType())
			}
			return nil
		})
		if err != nil || n != 2 {
			t.Fatalf("%s: %v, %d messages", c, err, n)
		}
		if top := readLegacy(t, out); top[0].Attributes&0x08 == 0 {
			t.Errorf("%s: LogAppendTime attribute missing", c)
		}
	}
}

func TestDownConvertLimitsAndErrors(t *testing.T) {
	t.Parallel()
	plain := v2Batch(t, 0, 4, CodecNone, 0)
	one := len(readLegacyFirst(t, plain))
	// maxBytes below one message: still one message.
	out, err := DownConvert(plain, MagicV1, 0, 1)
	if err != nil || len(out) != one {
		t.Fatalf("tiny maxBytes: %d bytes, %v; want %d", len(out), err, one)
	}
	// Room for two and a half: two whole messages.
	out, err = DownConvert(plain, MagicV1, 0, 2*one+one/2)
	if err != nil || len(out) != 2*one {
		t.Fatalf("2.5 messages: %d bytes, %v; want %d", len(out), err, 2*one)
	}
	// A wrapper is indivisible and always whole.
	gz := v2Batch(t, 0, 4, CodecGzip, 0)
	out, err = DownConvert(append(bytes.Clone(gz), gz...), MagicV1, 0, 10)
	if err != nil || len(readLegacy(t, out)) != 1 {
		t.Fatalf("wrapper: %v, %d bytes", err, len(out))
	}
	// A partial trailing batch, as a fetch at its byte limit could return, ends the data.
	out, err = DownConvert(append(bytes.Clone(plain), plain[:30]...), MagicV0, 0, 1<<20)
	if err != nil || len(readLegacy(t, out)) != 4 {
		t.Fatalf("partial tail: %v", err)
	}
	zstd := v2Batch(t, 0, 2, CodecZstd, 0)
	if _, err := DownConvert(append(bytes.Clone(plain), zstd...), MagicV1, 0, 1<<20); !errors.Is(err, ErrUnsupportedCompression) {
		t.Fatalf("zstd: %v", err)
	}
	bad := bytes.Clone(plain)
	bad[len(bad)-1] ^= 1
	if _, err := DownConvert(bad, MagicV1, 0, 1<<20); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("bad crc: %v", err)
	}
	if _, err := DownConvert(plain, 2, 0, 1<<20); !errors.Is(err, ErrUnsupportedMagic) {
		t.Fatalf("magic 2: %v", err)
	}
	if out, err := DownConvert(nil, MagicV1, 0, 1<<20); err != nil || len(out) != 0 {
		t.Fatalf("empty: %v", err)
	}
	for v, want := range map[int16]int8{0: 0, 1: 0, 2: 1, 3: 1} {
		if m, ok := DownConvertMagic(v); !ok || m != want {
			t.Errorf("DownConvertMagic(%d) = %d, %v", v, m, ok)
		}
	}
	if _, ok := DownConvertMagic(4); ok {
		t.Error("Fetch v4 needs no conversion")
	}
}

func readLegacyFirst(t *testing.T, b Batch) []byte {
	out, err := DownConvert(b, MagicV1, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLegacyRoundTrip: down-converting and up-converting again keeps
// keys, values and (magic 1) timestamps.
func TestLegacyRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4} {
		for _, magic := range []int8{MagicV0, MagicV1} {
			src := v2Batch(t, 0, 5, c, 0)
			legacy, err := DownConvert(src, magic, 0, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			back, err := UpConvert(legacy, 1<<20)
			if err != nil {
				t.Fatalf("%s magic %d: %v", c, magic, err)
			}
			if back.Codec() != c {
				t.Fatalf("codec %s, want %s", back.Codec(), c)
			}
			a, _ := src.Records()
			b, err := back.Records()
			if err != nil || len(a) != len(b) {
				t.Fatalf("%v: %d vs %d records", err, len(a), len(b))
			}
			for i := range a {
				wantTS := src.BaseTimestamp() + a[i].TimestampDelta
				if magic == 0 {
					wantTS = -1
				}
				if !bytes.Equal(a[i].Key, b[i].Key) || !bytes.Equal(a[i].Value, b[i].Value) || back.BaseTimestamp()+b[i].TimestampDelta != wantTS {
					t.Errorf("%s magic %d record %d differs", c, magic, i)
				}
			}
		}
	}
}

func TestAppendLegacyMessage(t *testing.T) {
	t.Parallel()
	b, err := AppendLegacyMessage(nil, LegacyMessage{Offset: 3, Magic: 1, Timestamp: 9, Key: []byte("k")})
	if err != nil {
		t.Fatal(err)
	}
	if want := kmsgMessage(msg{offset: 3, magic: 1, ts: 9, key: []byte("k")}); !bytes.Equal(b, want) {
		t.Fatalf("encoding differs from kmsg's:\n%x\n%x", b, want)
	}
	if _, err := AppendLegacyMessage(nil, LegacyMessage{Magic: 2}); !errors.Is(err, ErrUnsupportedMagic) {
		t.Fatalf("magic 2: %v", err)
	}
}

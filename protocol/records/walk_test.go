package records

import (
	"bytes"
	"errors"
	"math"
	"runtime"
	"testing"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// withPayload is a CRC-valid batch whose records section is payload as
// given, with codec bits c and the header claiming count records.
func withPayload(c Codec, count int32, payload []byte) Batch {
	b := make(Batch, HeaderSize+len(payload))
	be.PutUint32(b[offBatchLength:], uint32(len(b)-logOverhead))
	be.PutUint32(b[offPartitionLeaderEpoch:], math.MaxUint32)
	b[offMagic] = 2
	be.PutUint16(b[offAttributes:], uint16(c)&uint16(CompressionCodecMask))
	be.PutUint32(b[offLastOffsetDelta:], uint32(count-1))
	be.PutUint64(b[offBaseTimestamp:], 1_700_000_000_000)
	be.PutUint64(b[offMaxTimestamp:], 1_700_000_000_000)
	be.PutUint64(b[offProducerID:], math.MaxUint64)
	be.PutUint16(b[offProducerEpoch:], math.MaxUint16)
	be.PutUint32(b[offBaseSequence:], math.MaxUint32)
	be.PutUint32(b[offRecordsCount:], uint32(count))
	copy(b[HeaderSize:], payload)
	be.PutUint32(b[offCRC:], b.ComputeCRC())
	return b
}

// compressed is raw compressed with c; snappy comes in both framings.
func compressed(t testing.TB, c Codec, raw []byte, xerial bool) []byte {
	t.Helper()
	if c == CodecSnappy && !xerial {
		return snappy.Encode(nil, raw)
	}
	out, err := Compress(c, raw)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// encodeRecords is n well-formed records with offset deltas 0..n-1.
func encodeRecords(t testing.TB, n int) []byte {
	t.Helper()
	var raw []byte
	for i := range n {
		r := Record{TimestampDelta: int64(i), OffsetDelta: int32(i), Key: []byte("k"), Value: bytes.Repeat([]byte{'v'}, 100),
			Headers: []Header{{Key: "h", Value: []byte("x")}}}
		var err error
		if raw, err = r.AppendTo(raw); err != nil {
			t.Fatal(err)
		}
	}
	return raw
}

// rawRecord frames body as one record: its length varint, then body.
func rawRecord(body ...[]byte) []byte {
	var b []byte
	for _, p := range body {
		b = append(b, p...)
	}
	return append(appendVarint(nil, int32(len(b))), b...)
}

func vi(v int32) []byte { return appendVarint(nil, v) }

type walkCase struct {
	name  string
	count int32
	raw   []byte // uncompressed records section
	want  error
}

// walkCases are the corruption classes of the records section, each with
// the sentinel Kafka's classification gives it.
func walkCases(t testing.TB) []walkCase {
	good := encodeRecords(t, 3)
	okRec := func(i int32) []byte { return rawRecord([]byte{0}, vi(0), vi(i), vi(-1), vi(1), []byte("v"), vi(0)) }
	return []walkCase{
		{"count above the records", 4, good, ErrInvalidRecord},
		{"count below the records", 2, good, ErrInvalidRecord},
		{"trailing bytes", 3, append(append([]byte(nil), good...), 0, 0, 0), ErrInvalidRecord},
		{"offset deltas out of order", 2, append(okRec(1), okRec(0)...), ErrInvalidRecord},
		{"offset deltas not from 0", 2, append(okRec(1), okRec(2)...), ErrInvalidRecord},
		{"varint too long", 1, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, ErrInvalidRecord},
		{"negative record length", 1, append(vi(-3), okRec(0)...), ErrInvalidRecord},
		{"record length beyond its fields", 1, append(rawRecord([]byte{0}, vi(0), vi(0), vi(-1), vi(1), []byte("v"), vi(0), []byte{9, 9}), okRec(1)...), ErrInvalidRecord},
		{"record length short of its fields", 1, rawRecord([]byte{0}, vi(0), vi(0), vi(-1), vi(8)), ErrInvalidRecord},
		{"key past the record end", 1, rawRecord([]byte{0}, vi(0), vi(0), vi(50), []byte("kk"), vi(-1), vi(0)), ErrInvalidRecord},
		{"negative header count", 1, rawRecord([]byte{0}, vi(0), vi(0), vi(-1), vi(-1), vi(-2)), ErrInvalidRecord},
		{"header count beyond the record", 1, rawRecord([]byte{0}, vi(0), vi(0), vi(-1), vi(-1), vi(1_000_000), vi(1), []byte("h"), vi(-1)), ErrInvalidRecord},
		{"null header key", 1, rawRecord([]byte{0}, vi(0), vi(0), vi(-1), vi(-1), vi(1), vi(-1), vi(-1)), ErrInvalidRecord},
		{"records end inside a record", 3, good[:len(good)/2], ErrInvalidRecord},
		{"zeros", 3, make([]byte, 4096), ErrInvalidRecord},
	}
}

var walkCodecs = []struct {
	name   string
	c      Codec
	xerial bool
}{
	{"none", CodecNone, false}, {"gzip", CodecGzip, false}, {"snappy", CodecSnappy, false},
	{"snappy-xerial", CodecSnappy, true}, {"lz4", CodecLZ4, false}, {"zstd", CodecZstd, false},
}

// TestWalkRecordsRefusesMalformedRecords: every corruption class of the
// records, under every codec, is refused with Kafka's classification.
func TestWalkRecordsRefusesMalformedRecords(t *testing.T) {
	for _, wc := range walkCodecs {
		for _, tc := range walkCases(t) {
			b := withPayload(wc.c, tc.count, compressed(t, wc.c, tc.raw, wc.xerial))
			if err := b.EnsureValid(); err != nil {
				t.Fatal(err)
			}
			if _, err := b.WalkRecords(1<<20, nil); !errors.Is(err, tc.want) {
				t.Errorf("%s / %s: %v, want %v", wc.name, tc.name, err, tc.want)
			}
		}
	}
}

// TestWalkRecordsRefusesBadPayloads: payloads the codec cannot decode and
// unknown codecs are ErrCorrupt; a bomb is ErrRecordTooLarge without its
// output ever being held.
func TestWalkRecordsRefusesBadPayloads(t *testing.T) {
	raw := encodeRecords(t, 20)
	for _, wc := range walkCodecs[1:] {
		comp := compressed(t, wc.c, raw, wc.xerial)
		garbage := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef, 0x13}, 50)
		if wc.xerial {
			garbage = append(append([]byte(nil), comp[:xerialHeaderSize]...), garbage...)
		}
		flipped := append([]byte(nil), comp...)
		for i := len(flipped) / 2; i < len(flipped)/2+8 && i < len(flipped); i++ {
			flipped[i] ^= 0x5a
		}
		for name, payload := range map[string][]byte{
			"garbage":   garbage,
			"truncated": comp[:len(comp)-len(comp)/3],
			"flipped":   flipped,
			"empty":     nil,
		} {
			_, err := withPayload(wc.c, 20, payload).WalkRecords(1<<20, nil)
			// A damaged stream may still decode to a shorter one, whose
			// records then fail; either way it is refused.
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrInvalidRecord) {
				t.Errorf("%s / %s: %v, want ErrCorrupt or ErrInvalidRecord", wc.name, name, err)
			}
			if name == "garbage" && !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s / garbage: %v, want ErrCorrupt", wc.name, err)
			}
		}
	}
	for _, c := range []Codec{5, 6, 7} {
		if _, err := withPayload(c, 20, raw).WalkRecords(1<<20, nil); !errors.Is(err, ErrCorrupt) {
			t.Errorf("codec %d: %v, want ErrCorrupt", c, err)
		}
	}
}

// bombRecord is one record whose value is n zero bytes.
func bombRecord(t testing.TB, n int) []byte {
	r := Record{Value: make([]byte, n)}
	raw, err := r.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestWalkRecordsBomb(t *testing.T) {
	const limit = 1 << 20
	raw := bombRecord(t, 16<<20)
	var streamed bytes.Buffer
	zw, _ := zstd.NewWriter(&streamed, zstd.WithEncoderConcurrency(1))
	zw.Write(raw)
	zw.Close()
	payloads := map[string]struct {
		c Codec
		p []byte
	}{"zstd streamed": {CodecZstd, streamed.Bytes()}}
	for _, wc := range walkCodecs[1:] {
		payloads[wc.name] = struct {
			c Codec
			p []byte
		}{wc.c, compressed(t, wc.c, raw, wc.xerial)}
	}
	for name, p := range payloads {
		b := withPayload(p.c, 1, p.p)
		b.WalkRecords(limit, nil) // warm the pools
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := b.WalkRecords(limit, nil)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrRecordTooLarge) {
			t.Errorf("%s bomb of %d bytes: %v, want ErrRecordTooLarge", name, len(p.p), err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4*limit {
			t.Errorf("%s bomb: allocated %d bytes for a %d limit", name, alloc, limit)
		}
		// Under a limit above the output it is a valid batch.
		if _, err := b.WalkRecords(17<<20, nil); err != nil {
			t.Errorf("%s with a large limit: %v", name, err)
		}
	}
}

// TestWalkRecordsValid: batches from franz-go's encoder and ours pass under
// every codec; the walk reports each record and the largest timestamp.
func TestWalkRecordsValid(t *testing.T) {
	for _, wc := range walkCodecs {
		var recs []Record
		for i := range 50 {
			recs = append(recs, Record{TimestampDelta: int64((i * 7) % 23), OffsetDelta: int32(i), Key: []byte{byte(i)},
				Value: bytes.Repeat([]byte{byte(i)}, i*37), Headers: []Header{{Key: "a", Value: nil}, {Key: "b", Value: []byte("c")}}})
		}
		recs[3].Key = nil
		var raw []byte
		for i := range recs {
			raw, _ = recs[i].AppendTo(raw)
		}
		b := withPayload(wc.c, 50, compressed(t, wc.c, raw, wc.xerial))
		var seen, nullKeys int
		maxTs, err := b.WalkRecords(1<<20, func(r *RecordInfo) error {
			if r.Index != int32(seen) || r.Timestamp != b.BaseTimestamp()+recs[seen].TimestampDelta {
				t.Errorf("%s: record %d reported as %+v", wc.name, seen, *r)
			}
			if r.NullKey {
				nullKeys++
			}
			seen++
			return nil
		})
		if err != nil || seen != 50 || nullKeys != 1 || maxTs != b.BaseTimestamp()+22 {
			t.Errorf("%s: err %v, %d records, %d null keys, max timestamp %d", wc.name, err, seen, nullKeys, maxTs)
		}
	}
	for _, c := range allCodecs {
		rich := richRecords()
		rich[4].OffsetDelta = 4
		for _, recs := range [][]kmsg.Record{rich, kmsgRecords(6)} {
			b := kmsgBatch(t, kmsg.RecordBatch{Attributes: int16(c), LastOffsetDelta: int32(len(recs) - 1), ProducerID: -1}, recs)
			if _, err := b.WalkRecords(1<<20, nil); err != nil {
				t.Errorf("franz-go %s batch: %v", c, err)
			}
		}
	}
}

// TestWalkRecordsTimestampMinusOne: records carrying timestamp -1 (as
// librdkafka can write them) have no max timestamp, whatever the header says.
func TestWalkRecordsTimestampMinusOne(t *testing.T) {
	raw := rawRecord([]byte{0}, appendVarlong(nil, 0), vi(0), vi(-1), vi(1), []byte("v"), vi(0))
	b := withPayload(CodecNone, 1, raw)
	be.PutUint64(b[offBaseTimestamp:], math.MaxUint64) // -1
	be.PutUint64(b[offMaxTimestamp:], 0)
	be.PutUint32(b[offCRC:], b.ComputeCRC())
	maxTs, err := b.WalkRecords(1<<20, nil)
	if err != nil || maxTs != -1 {
		t.Fatalf("max timestamp %d, %v; want -1", maxTs, err)
	}
	crc := b.CRC()
	b.SetCreateTimeMaxTimestamp(maxTs)
	if b.MaxTimestamp() != -1 || b.CRC() == crc || b.EnsureValid() != nil {
		t.Fatalf("patched header: max %d, crc %#x (was %#x), valid %v", b.MaxTimestamp(), b.CRC(), crc, b.EnsureValid())
	}
	before := append(Batch(nil), b...)
	b.SetCreateTimeMaxTimestamp(-1)
	if !bytes.Equal(before, b) {
		t.Fatal("an agreeing header was rewritten")
	}
}

func TestWalkRecordsDoesNotAllocatePerRecord(t *testing.T) {
	for _, wc := range walkCodecs {
		b := withPayload(wc.c, 200, compressed(t, wc.c, encodeRecords(t, 200), wc.xerial))
		b.WalkRecords(1<<20, nil)
		allocs := testing.AllocsPerRun(20, func() {
			if _, err := b.WalkRecords(1<<20, nil); err != nil {
				t.Fatal(err)
			}
		})
		// sync.Pool may drop an entry at a GC; nothing scales with records.
		if allocs > 2 {
			t.Errorf("%s: %.1f allocations per walk of 200 records", wc.name, allocs)
		}
	}
}

// FuzzWalkRecords: WalkRecords never panics and never accepts what the
// strict materialising parser refuses, and it agrees with it on the records
// and their largest timestamp; a batch built from valid records always
// passes, under every codec.
func FuzzWalkRecords(f *testing.F) {
	for _, wc := range walkCodecs {
		f.Add(byte(wc.c), byte(3), compressed(f, wc.c, encodeRecords(f, 3), wc.xerial))
	}
	f.Add(byte(CodecNone), byte(1), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, codec, count byte, payload []byte) {
		c := Codec(codec & 7)
		b := withPayload(c, int32(count), payload)
		maxTs, err := b.WalkRecords(fuzzLimit, nil)
		if err == nil {
			var n int32
			want := int64(-1)
			perr := b.ForEachRecordLimit(fuzzLimit, func(r *Record) error {
				if r.OffsetDelta != n {
					t.Fatalf("walk accepted offset delta %d at record %d", r.OffsetDelta, n)
				}
				want = max(want, b.BaseTimestamp()+r.TimestampDelta)
				n++
				return nil
			})
			if perr != nil || n != int32(count) || maxTs != want {
				t.Fatalf("walk accepted %d records (max ts %d) that the parser reads as %d (max ts %d): %v", count, maxTs, n, want, perr)
			}
		} else if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrInvalidRecord) && !errors.Is(err, ErrRecordTooLarge) {
			t.Fatalf("unexpected error %v", err)
		}

		// Valid records built from the same bytes always pass.
		var recs []Record
		for i := 0; len(payload) > 0 && i < 64; i++ {
			n := min(len(payload), int(payload[0])%40+1)
			r := Record{OffsetDelta: int32(i), TimestampDelta: int64(int8(payload[0])), Value: payload[:n]}
			if n%3 == 0 {
				r.Key = payload[:n/2]
				r.Headers = []Header{{Key: string(payload[:n/3]), Value: payload[n/3:]}}
			}
			recs = append(recs, r)
			payload = payload[n:]
		}
		if c > CodecZstd {
			c = CodecNone
		}
		vb, err := Build(BatchHeader{BaseTimestamp: 1_000, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, c, recs)
		if err != nil {
			t.Fatal(err)
		}
		want := int64(-1)
		for _, r := range recs {
			want = max(want, 1_000+r.TimestampDelta)
		}
		if got, err := vb.WalkRecords(fuzzLimit, nil); err != nil || got != want {
			t.Fatalf("valid %s batch of %d records: max ts %d (want %d), %v", c, len(recs), got, want, err)
		}
	})
}

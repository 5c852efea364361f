package records

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

var allCodecs = []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd}

func richRecords() []kmsg.Record {
	return []kmsg.Record{
		{TimestampDelta64: 0, OffsetDelta: 0, Key: []byte("k0"), Value: []byte("v0")},
		{TimestampDelta64: -5, OffsetDelta: 1, Key: nil, Value: nil}, // null key and value (a tombstone)
		{TimestampDelta64: math.MaxInt64, OffsetDelta: 2, Key: []byte{}, Value: []byte{}},
		{TimestampDelta64: math.MinInt64, OffsetDelta: 3, Key: []byte("k3"), Value: bytes.Repeat([]byte("x"), 300),
			Headers: []kmsg.Header{{Key: "h1", Value: []byte("a")}, {Key: "", Value: nil}, {Key: "h3", Value: []byte{}}}},
		{Attributes: 0, TimestampDelta64: 1 << 40, OffsetDelta: 7, Key: bytes.Repeat([]byte("k"), 200), Value: []byte("gap in offset deltas")},
	}
}

func TestRecordsMatchKmsg(t *testing.T) {
	t.Parallel()
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			want := richRecords()
			b := kmsgBatch(t, kmsg.RecordBatch{Attributes: int16(c), LastOffsetDelta: 7, ProducerID: -1}, want)
			got, err := b.Records()
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d records, want %d", len(got), len(want))
			}
			for i := range want {
				assertRecord(t, i, got[i], want[i])
			}
		})
	}
}

func assertRecord(t *testing.T, i int, got Record, want kmsg.Record) {
	t.Helper()
	if got.Attributes != want.Attributes || got.TimestampDelta != want.TimestampDelta64 || got.OffsetDelta != want.OffsetDelta {
		t.Errorf("record %d: header fields %+v, want %+v", i, got, want)
	}
	if !sameNullable(got.Key, want.Key) || !sameNullable(got.Value, want.Value) {
		t.Errorf("record %d: key %q value %q, want %q %q (nil %v %v)", i, got.Key, got.Value, want.Key, want.Value, want.Key == nil, want.Value == nil)
	}
	if len(got.Headers) != len(want.Headers) {
		t.Fatalf("record %d: %d headers, want %d", i, len(got.Headers), len(want.Headers))
	}
	for j, h := range want.Headers {
		if got.Headers[j].Key != h.Key || !sameNullable(got.Headers[j].Value, h.Value) {
			t.Errorf("record %d header %d: %+v, want %+v", i, j, got.Headers[j], h)
		}
	}
}

func sameNullable(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

func TestBuildReadByKmsg(t *testing.T) {
	t.Parallel()
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			src := richRecords()
			recs := make([]Record, len(src))
			for i, r := range src {
				recs[i] = Record{Attributes: r.Attributes, TimestampDelta: r.TimestampDelta64, OffsetDelta: r.OffsetDelta, Key: r.Key, Value: r.Value}
				for _, h := range r.Headers {
					recs[i].Headers = append(recs[i].Headers, Header{Key: h.Key, Value: h.Value})
				}
			}
			h := BatchHeader{BaseOffset: 10, PartitionLeaderEpoch: 3, Attributes: TransactionalFlag | 0x7, BaseTimestamp: 1000, MaxTimestamp: 2000, ProducerID: 77, ProducerEpoch: 2, BaseSequence: 5}
			b, err := Build(h, c, recs)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Validate(); err == nil {
				t.Fatal("offset delta gap: Validate should refuse count 5 for lastOffsetDelta 7")
			}
			if err := b.EnsureValid(); err != nil {
				t.Fatal(err)
			}
			var rb kmsg.RecordBatch
			if err := rb.ReadFrom(b); err != nil {
				t.Fatal(err)
			}
			if rb.FirstOffset != 10 || rb.PartitionLeaderEpoch != 3 || rb.Attributes != int16(TransactionalFlag)|int16(c) ||
				rb.LastOffsetDelta != 7 || rb.FirstTimestamp != 1000 || rb.MaxTimestamp != 2000 || rb.ProducerID != 77 ||
				rb.ProducerEpoch != 2 || rb.FirstSequence != 5 || rb.NumRecords != 5 || int(rb.Length) != len(b)-12 {
				t.Fatalf("header read by kmsg: %+v", rb)
			}
			raw, err := Decompress(c, rb.Records, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			for i := range src {
				var kr kmsg.Record
				if err := kr.ReadFrom(raw); err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
				assertRecord(t, i, recs[i], kr)
				n := int(kr.Length) + sizeVarint(kr.Length)
				raw = raw[n:]
			}
			if len(raw) != 0 {
				t.Fatalf("%d bytes left", len(raw))
			}
		})
	}
}

func TestForEachRecordStopsOnError(t *testing.T) {
	t.Parallel()
	b := kmsgBatch(t, kmsg.RecordBatch{LastOffsetDelta: 4, ProducerID: -1}, kmsgRecords(5))
	stop := errors.New("stop")
	n := 0
	err := b.ForEachRecord(func(r *Record) error {
		if n++; n == 2 {
			return stop
		}
		return nil
	})
	if err != stop || n != 2 {
		t.Fatalf("err %v after %d records", err, n)
	}
}

// rawBatch wraps hand-made record bytes in a valid header claiming count
// records, so only the record parser can object.
func rawBatch(count int32, raw []byte) Batch {
	b := make(Batch, HeaderSize, HeaderSize+len(raw))
	b = append(b, raw...)
	b[offMagic] = 2
	be.PutUint32(b[offBatchLength:], uint32(len(b)-12))
	be.PutUint32(b[offRecordsCount:], uint32(count))
	be.PutUint32(b[offLastOffsetDelta:], uint32(count-1))
	be.PutUint32(b[offCRC:], b.ComputeCRC())
	return b
}

func TestRecordsStrict(t *testing.T) {
	t.Parallel()
	one, err := (&Record{Key: []byte("k"), Value: []byte("v"), Headers: []Header{{Key: "h", Value: []byte("x")}}}).AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	// one = len attrs ts off keylen k vallen v nh hklen h hvlen x: nh is byte 8
	cases := []struct {
		name  string
		count int32
		raw   []byte
		ok    bool
	}{
		{"valid", 1, one, true},
		{"two valid", 2, append(append([]byte(nil), one...), one...), true},
		{"count too high", 2, one, false},
		{"count too low: trailing bytes", 1, append(append([]byte(nil), one...), one...), false},
		{"trailing byte", 1, append(append([]byte(nil), one...), 0), false},
		{"negative count", -1, nil, false},
		{"zero records, empty", 0, nil, true},
		{"record length too long", 1, append([]byte{byte(2 * (len(one)))}, one[1:]...), false},
		{"record length too short", 1, append([]byte{byte(2 * (len(one) - 2))}, one[1:]...), false},
		{"negative record length", 1, append([]byte{1}, one[1:]...), false},
		{"truncated record", 1, one[:len(one)-1], false},
		{"varint too long", 1, []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, false},
		{"negative header count", 1, patch(one, 8, 1), false},
		{"huge header count", 1, append(patch(one, 8, 0xfe), 0xff, 0xff, 0xff, 0x0f), false},
		{"null header key", 1, patch(one, 9, 1), false},
		{"negative key length is null", 1, []byte{14, 0, 0, 0, 3, 2, 'v', 0}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := rawBatch(tc.count, tc.raw)
			_, err := b.Records()
			if tc.ok && err != nil || !tc.ok && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Records = %v, ok want %v", err, tc.ok)
			}
		})
	}
}

func patch(b []byte, i int, v byte) []byte {
	b = append([]byte(nil), b...)
	b[i] = v
	return b
}

func TestVarints(t *testing.T) {
	t.Parallel()
	for _, v := range []int32{0, 1, -1, 63, -64, 64, 300, -300, math.MaxInt32, math.MinInt32} {
		enc := appendVarint(nil, v)
		if len(enc) != sizeVarint(v) {
			t.Errorf("sizeVarint(%d) = %d, encoded %d", v, sizeVarint(v), len(enc))
		}
		if got, n := varint(enc); got != v || n != len(enc) {
			t.Errorf("varint(%d) = %d, %d", v, got, n)
		}
	}
	for _, v := range []int64{0, -1, 1 << 40, math.MaxInt64, math.MinInt64} {
		enc := appendVarlong(nil, v)
		if len(enc) != sizeVarlong(v) {
			t.Errorf("sizeVarlong(%d) = %d, encoded %d", v, sizeVarlong(v), len(enc))
		}
		if got, n := varlong(enc); got != v || n != len(enc) {
			t.Errorf("varlong(%d) = %d, %d", v, got, n)
		}
	}
	if _, n := varlong(bytes.Repeat([]byte{0x80}, 11)); n > 0 {
		t.Error("11-byte varlong accepted")
	}
	if _, n := varint([]byte{0x80}); n > 0 {
		t.Error("truncated varint accepted")
	}
}

func TestRecompress(t *testing.T) {
	t.Parallel()
	for _, from := range allCodecs {
		for _, to := range allCodecs {
			t.Run(fmt.Sprintf("%s to %s", from, to), func(t *testing.T) {
				t.Parallel()
				want := kmsgRecords(20)
				orig := kmsgBatch(t, kmsg.RecordBatch{FirstOffset: 5, PartitionLeaderEpoch: 2, Attributes: int16(from) | 0x10 | 0x08, LastOffsetDelta: 19, FirstTimestamp: 1, MaxTimestamp: 9, ProducerID: 3, ProducerEpoch: 4, FirstSequence: 6}, want)
				got, err := Recompress(orig, to)
				if err != nil {
					t.Fatal(err)
				}
				if err := got.Validate(); err != nil {
					t.Fatal(err)
				}
				if got.Codec() != to || got.Attributes()&^CompressionCodecMask != orig.Attributes()&^CompressionCodecMask {
					t.Errorf("attributes %#x from %#x", got.Attributes(), orig.Attributes())
				}
				if !bytes.Equal(got[:offCRC], orig[:offCRC]) && from == to && from == CodecNone {
					t.Errorf("header changed")
				}
				if !bytes.Equal(got[offAttributes+2:HeaderSize], orig[offAttributes+2:HeaderSize]) || !bytes.Equal(got[:offBatchLength], orig[:offBatchLength]) {
					t.Errorf("header fields changed")
				}
				recs, err := got.Records()
				if err != nil {
					t.Fatal(err)
				}
				for i := range want {
					assertRecord(t, i, recs[i], want[i])
				}
			})
		}
	}
	corrupt := kmsgBatch(t, kmsg.RecordBatch{LastOffsetDelta: 1, ProducerID: -1}, kmsgRecords(1))
	be.PutUint32(corrupt[offRecordsCount:], 2)
	be.PutUint32(corrupt[offCRC:], corrupt.ComputeCRC())
	if _, err := Recompress(corrupt, CodecZstd); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Recompress(count mismatch) = %v, want ErrCorrupt", err)
	}
}

func TestRecordsHeadersNotShared(t *testing.T) {
	t.Parallel()
	recs := []kmsg.Record{
		{OffsetDelta: 0, Headers: []kmsg.Header{{Key: "a", Value: []byte("1")}}},
		{OffsetDelta: 1, Headers: []kmsg.Header{{Key: "b", Value: []byte("2")}}},
	}
	got, err := kmsgBatch(t, kmsg.RecordBatch{LastOffsetDelta: 1, ProducerID: -1}, recs).Records()
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Headers[0].Key != "a" || got[1].Headers[0].Key != "b" {
		t.Fatalf("headers %+v %+v", got[0].Headers, got[1].Headers)
	}
}

package records

import (
	"bytes"
	"errors"
	"hash/crc32"
	"io"
	"math"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// kmsgBatch encodes rb and recs with kmsg, filling Length, NumRecords and the
// CRC the way a client does, independently of this package.
func kmsgBatch(t testing.TB, rb kmsg.RecordBatch, recs []kmsg.Record) Batch {
	t.Helper()
	var raw []byte
	for i := range recs {
		r := recs[i]
		r.Length = 0
		body := r.AppendTo(nil)
		r.Length = int32(len(body) - 1) // a zero length varint is one byte
		raw = r.AppendTo(raw)
	}
	if c := Codec(rb.Attributes & 7); c != CodecNone {
		var err error
		if raw, err = Compress(c, raw); err != nil {
			t.Fatal(err)
		}
	}
	rb.Records = raw
	rb.NumRecords = int32(len(recs))
	rb.Magic = 2
	rb.Length = int32(HeaderSize - 12 + len(raw))
	out := rb.AppendTo(nil)
	crc := crc32.Checksum(out[21:], crc32.MakeTable(crc32.Castagnoli))
	out[17], out[18], out[19], out[20] = byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc)
	return Batch(out)
}

func kmsgRecords(n int) []kmsg.Record {
	recs := make([]kmsg.Record, n)
	for i := range recs {
		recs[i] = kmsg.Record{
			TimestampDelta64: int64(i * 10),
			OffsetDelta:      int32(i),
			Key:              []byte{byte('k'), byte(i)},
			Value:            bytes.Repeat([]byte{byte(i)}, i*3),
		}
	}
	return recs
}

func TestAccessors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		rb   kmsg.RecordBatch
		nrec int
	}{
		{"plain", kmsg.RecordBatch{FirstOffset: 0, PartitionLeaderEpoch: -1, LastOffsetDelta: 0, FirstTimestamp: 1700000000000, MaxTimestamp: 1700000000000, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1}, 1},
		{"idempotent", kmsg.RecordBatch{FirstOffset: 42, PartitionLeaderEpoch: 7, LastOffsetDelta: 2, FirstTimestamp: 5, MaxTimestamp: 25, ProducerID: 1000, ProducerEpoch: 3, FirstSequence: 17}, 3},
		{"transactional gzip", kmsg.RecordBatch{FirstOffset: math.MaxInt64 - 10, PartitionLeaderEpoch: math.MaxInt32, Attributes: 0x10 | 1, LastOffsetDelta: 4, FirstTimestamp: -1, MaxTimestamp: -1, ProducerID: math.MaxInt64, ProducerEpoch: math.MaxInt16, FirstSequence: math.MaxInt32 - 1}, 5},
		{"control logappend snappy", kmsg.RecordBatch{Attributes: 0x20 | 0x08 | 2, LastOffsetDelta: 0, ProducerID: 9, FirstSequence: -1}, 1},
		{"delete horizon lz4", kmsg.RecordBatch{Attributes: 0x40 | 3, LastOffsetDelta: 1, ProducerID: -1, FirstSequence: -1}, 2},
		{"zstd", kmsg.RecordBatch{Attributes: 4, LastOffsetDelta: 7, ProducerID: -1, FirstSequence: -1}, 8},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := kmsgBatch(t, tc.rb, kmsgRecords(tc.nrec))
			if err := b.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			var want kmsg.RecordBatch
			if err := want.ReadFrom(b); err != nil {
				t.Fatal(err)
			}
			checks := []struct {
				field     string
				got, want int64
			}{
				{"BaseOffset", b.BaseOffset(), want.FirstOffset},
				{"BatchLength", int64(b.BatchLength()), int64(want.Length)},
				{"PartitionLeaderEpoch", int64(b.PartitionLeaderEpoch()), int64(want.PartitionLeaderEpoch)},
				{"Magic", int64(b.Magic()), int64(want.Magic)},
				{"CRC", int64(b.CRC()), int64(uint32(want.CRC))},
				{"ComputeCRC", int64(b.ComputeCRC()), int64(uint32(want.CRC))},
				{"Attributes", int64(b.Attributes()), int64(want.Attributes)},
				{"Codec", int64(b.Codec()), int64(want.Attributes & 7)},
				{"TimestampType", int64(b.TimestampType()), int64(want.Attributes>>3) & 1},
				{"LastOffsetDelta", int64(b.LastOffsetDelta()), int64(want.LastOffsetDelta)},
				{"BaseTimestamp", b.BaseTimestamp(), want.FirstTimestamp},
				{"MaxTimestamp", b.MaxTimestamp(), want.MaxTimestamp},
				{"ProducerID", b.ProducerID(), want.ProducerID},
				{"ProducerEpoch", int64(b.ProducerEpoch()), int64(want.ProducerEpoch)},
				{"BaseSequence", int64(b.BaseSequence()), int64(want.FirstSequence)},
				{"NumRecords", int64(b.NumRecords()), int64(want.NumRecords)},
				{"LastOffset", b.LastOffset(), want.FirstOffset + int64(want.LastOffsetDelta)},
				{"NextOffset", b.NextOffset(), want.FirstOffset + int64(want.LastOffsetDelta) + 1},
				{"len", int64(len(b)), 12 + int64(want.Length)},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s = %d, want %d", c.field, c.got, c.want)
				}
			}
			flags := []struct {
				field     string
				got, want bool
			}{
				{"IsTransactional", b.IsTransactional(), want.Attributes&0x10 != 0},
				{"IsControl", b.IsControl(), want.Attributes&0x20 != 0},
				{"HasDeleteHorizon", b.HasDeleteHorizon(), want.Attributes&0x40 != 0},
				{"IsIdempotent", b.IsIdempotent(), want.ProducerID >= 0},
			}
			for _, f := range flags {
				if f.got != f.want {
					t.Errorf("%s = %v, want %v", f.field, f.got, f.want)
				}
			}
		})
	}
}

func TestAccessorsDoNotAllocate(t *testing.T) {
	b := kmsgBatch(t, kmsg.RecordBatch{LastOffsetDelta: 1, ProducerID: 3}, kmsgRecords(2))
	var sink int64
	allocs := testing.AllocsPerRun(100, func() {
		sink += b.BaseOffset() + b.LastOffset() + int64(b.LastSequence()) + int64(b.ComputeCRC())
		if _, rest, err := ReadBatch(b); err != nil || len(rest) != 0 {
			t.Fatal(err)
		}
		if err := b.Validate(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("accessors allocate %v times", allocs)
	}
}

func TestLastSequence(t *testing.T) {
	t.Parallel()
	cases := []struct {
		base, delta, want int32
	}{
		{NoSequence, 5, NoSequence},
		{0, 0, 0},
		{10, 4, 14},
		{math.MaxInt32, 0, math.MaxInt32},
		{math.MaxInt32 - 2, 2, math.MaxInt32},
		{math.MaxInt32 - 2, 3, 0}, // Kafka wraps past MaxInt32 to 0
		{math.MaxInt32, 1, 0},
		{math.MaxInt32 - 1, 10, 8},
	}
	for _, tc := range cases {
		b := kmsgBatch(t, kmsg.RecordBatch{FirstSequence: tc.base, LastOffsetDelta: tc.delta, ProducerID: 1}, nil)
		if got := b.LastSequence(); got != tc.want {
			t.Errorf("LastSequence(base %d, delta %d) = %d, want %d", tc.base, tc.delta, got, tc.want)
		}
	}
}

func TestMutators(t *testing.T) {
	t.Parallel()
	orig := kmsgBatch(t, kmsg.RecordBatch{FirstOffset: 0, PartitionLeaderEpoch: -1, Attributes: 0x10 | 4, LastOffsetDelta: 2, FirstTimestamp: 100, MaxTimestamp: 120, ProducerID: 5, ProducerEpoch: 1, FirstSequence: 0}, kmsgRecords(3))
	cases := []struct {
		name   string
		mutate func(Batch)
		check  func(t *testing.T, got kmsg.RecordBatch)
	}{
		{"SetBaseOffset", func(b Batch) { b.SetBaseOffset(1 << 40) }, func(t *testing.T, got kmsg.RecordBatch) {
			if got.FirstOffset != 1<<40 {
				t.Errorf("FirstOffset = %d", got.FirstOffset)
			}
		}},
		{"SetPartitionLeaderEpoch", func(b Batch) { b.SetPartitionLeaderEpoch(99) }, func(t *testing.T, got kmsg.RecordBatch) {
			if got.PartitionLeaderEpoch != 99 {
				t.Errorf("PartitionLeaderEpoch = %d", got.PartitionLeaderEpoch)
			}
		}},
		{"SetLogAppendTime", func(b Batch) { b.SetLogAppendTime(1234567) }, func(t *testing.T, got kmsg.RecordBatch) {
			if got.MaxTimestamp != 1234567 || got.Attributes != 0x10|0x08|4 || got.FirstTimestamp != 100 {
				t.Errorf("after SetLogAppendTime: attrs %#x max %d first %d", got.Attributes, got.MaxTimestamp, got.FirstTimestamp)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := append(Batch(nil), orig...)
			tc.mutate(b)
			if err := b.Validate(); err != nil {
				t.Fatalf("Validate after %s: %v", tc.name, err)
			}
			var got kmsg.RecordBatch
			if err := got.ReadFrom(b); err != nil {
				t.Fatal(err)
			}
			tc.check(t, got)
			if !bytes.Equal(got.Records, orig[HeaderSize:]) {
				t.Error("records changed")
			}
		})
	}
}

func TestSetLogAppendTimeDropsUnknownBitsAndIsIdempotent(t *testing.T) {
	t.Parallel()
	b := kmsgBatch(t, kmsg.RecordBatch{Attributes: 0x100 | 0x20, ProducerID: -1}, kmsgRecords(1))
	b.SetLogAppendTime(77)
	if b.Attributes() != 0x28 || b.TimestampType() != LogAppendTime || b.MaxTimestamp() != 77 {
		t.Fatalf("attrs %#x type %v max %d", b.Attributes(), b.TimestampType(), b.MaxTimestamp())
	}
	before := append(Batch(nil), b...)
	b.SetLogAppendTime(77)
	if !bytes.Equal(before, b) {
		t.Fatal("a no-op SetLogAppendTime changed the batch")
	}
}

func TestReadBatchAndSplit(t *testing.T) {
	t.Parallel()
	b1 := kmsgBatch(t, kmsg.RecordBatch{FirstOffset: 0, ProducerID: -1}, kmsgRecords(1))
	b2 := kmsgBatch(t, kmsg.RecordBatch{FirstOffset: 1, LastOffsetDelta: 3, Attributes: 1, ProducerID: -1}, kmsgRecords(4))
	data := append(append([]byte(nil), b1...), b2...)

	batches, err := Split(data)
	if err != nil || len(batches) != 2 || !bytes.Equal(batches[0], b1) || !bytes.Equal(batches[1], b2) {
		t.Fatalf("Split: %d batches, %v", len(batches), err)
	}
	if got, err := Split(nil); err != nil || len(got) != 0 {
		t.Fatalf("Split(nil) = %v, %v", got, err)
	}
	if _, _, err := ReadBatch(nil); err != io.EOF {
		t.Fatalf("ReadBatch(nil) = %v, want io.EOF", err)
	}

	// Every cut inside the second batch is a torn tail: ReadBatch returns the
	// first batch, then ErrTruncated; Split refuses the whole input.
	for cut := len(b1) + 1; cut < len(data); cut++ {
		b, rest, err := ReadBatch(data[:cut])
		if err != nil || !bytes.Equal(b, b1) {
			t.Fatalf("cut %d: first batch: %v", cut, err)
		}
		if _, _, err := ReadBatch(rest); !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut %d: got %v, want ErrTruncated", cut, err)
		}
		if _, err := Split(data[:cut]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut %d: Split got %v, want ErrCorrupt", cut, err)
		}
	}

	bad := append(Batch(nil), b1...)
	be.PutUint32(bad[offBatchLength:], 48)
	if _, _, err := ReadBatch(bad); !errors.Is(err, ErrCorrupt) {
		t.Errorf("short batch length: got %v, want ErrCorrupt", err)
	}
	be.PutUint32(bad[offBatchLength:], 0x80000000)
	if _, _, err := ReadBatch(bad); !errors.Is(err, ErrCorrupt) {
		t.Errorf("negative batch length: got %v, want ErrCorrupt", err)
	}
	old := append(Batch(nil), b1...)
	old[offMagic] = 1
	if _, _, err := ReadBatch(old); !errors.Is(err, ErrUnsupportedMagic) {
		t.Errorf("magic 1: got %v, want ErrUnsupportedMagic", err)
	}
	if _, err := Split(append(append([]byte(nil), b1...), old...)); !errors.Is(err, ErrUnsupportedMagic) {
		t.Errorf("Split with magic 1: got %v, want ErrUnsupportedMagic", err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	good := kmsgBatch(t, kmsg.RecordBatch{LastOffsetDelta: 2, ProducerID: -1}, kmsgRecords(3))
	cases := []struct {
		name   string
		mutate func(Batch) Batch
		want   error
	}{
		{"good", func(b Batch) Batch { return b }, nil},
		{"crc flipped", func(b Batch) Batch { b[offCRC] ^= 1; return b }, ErrCorrupt},
		{"record byte flipped", func(b Batch) Batch { b[len(b)-1] ^= 0x40; return b }, ErrCorrupt},
		{"attributes flipped", func(b Batch) Batch { b[offAttributes+1] ^= 1; return b }, ErrCorrupt},
		{"magic 1", func(b Batch) Batch { b[offMagic] = 1; return b }, ErrUnsupportedMagic},
		{"length too big", func(b Batch) Batch { be.PutUint32(b[offBatchLength:], uint32(len(b))); return b }, ErrCorrupt},
		{"length too small", func(b Batch) Batch { return b[:len(b)-1] }, ErrCorrupt},
		{"shorter than header", func(b Batch) Batch { return b[:HeaderSize-1] }, ErrCorrupt},
		{"count above offsets", func(b Batch) Batch { return fixCRC(b, offRecordsCount, 4) }, ErrInvalidRecord},
		{"count below offsets", func(b Batch) Batch { return fixCRC(b, offRecordsCount, 2) }, ErrInvalidRecord},
		{"count zero", func(b Batch) Batch {
			b = fixCRC(b, offRecordsCount, 0)
			return fixCRC(b, offLastOffsetDelta, 0xffffffff)
		}, ErrInvalidRecord},
		{"count negative", func(b Batch) Batch { return fixCRC(b, offRecordsCount, 0xffffffff) }, ErrInvalidRecord},
		{"lastOffsetDelta negative", func(b Batch) Batch { return fixCRC(b, offLastOffsetDelta, 0x80000000) }, ErrInvalidRecord},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := tc.mutate(append(Batch(nil), good...))
			err := b.Validate()
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Validate = %v, want %v", err, tc.want)
			}
		})
	}
	// An empty batch (what compaction leaves) passes EnsureValid only.
	empty, err := Build(BatchHeader{ProducerID: 4, BaseSequence: 0}, CodecNone, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := empty.EnsureValid(); err != nil {
		t.Errorf("EnsureValid(empty) = %v", err)
	}
	if err := empty.Validate(); !errors.Is(err, ErrInvalidRecord) {
		t.Errorf("Validate(empty) = %v, want ErrInvalidRecord", err)
	}
}

// fixCRC writes a big-endian uint32 at off and recomputes the CRC, so the
// batch fails only the rule under test.
func fixCRC(b Batch, off int, v uint32) Batch {
	be.PutUint32(b[off:], v)
	be.PutUint32(b[offCRC:], b.ComputeCRC())
	return b
}

func TestValidateSize(t *testing.T) {
	t.Parallel()
	b := kmsgBatch(t, kmsg.RecordBatch{LastOffsetDelta: 2, ProducerID: -1}, kmsgRecords(3))
	if err := b.ValidateSize(len(b)); err != nil {
		t.Errorf("at the limit: %v", err)
	}
	if err := b.ValidateSize(len(b) - 1); !errors.Is(err, ErrRecordTooLarge) {
		t.Errorf("over the limit: %v, want ErrRecordTooLarge", err)
	}
}

func TestCodecNames(t *testing.T) {
	t.Parallel()
	for c, name := range map[Codec]string{CodecNone: "none", CodecGzip: "gzip", CodecSnappy: "snappy", CodecLZ4: "lz4", CodecZstd: "zstd"} {
		if c.String() != name {
			t.Errorf("%d.String() = %q", c, c.String())
		}
		for _, n := range []string{name, string(bytes.ToUpper([]byte(name)))} {
			if got, ok := ParseCodec(n); !ok || got != c {
				t.Errorf("ParseCodec(%q) = %v, %v", n, got, ok)
			}
		}
	}
	for _, n := range []string{"", "producer", "brotli", "zstd "} {
		if _, ok := ParseCodec(n); ok {
			t.Errorf("ParseCodec(%q) accepted", n)
		}
	}
	if s := Codec(6).String(); s != "Codec(6)" {
		t.Errorf("Codec(6).String() = %q", s)
	}
}

// BenchmarkValidate measures the CRC-32C over a 1 MiB batch.
func BenchmarkValidate(b *testing.B) {
	recs := []kmsg.Record{{Value: bytes.Repeat([]byte("riffle"), (1<<20)/6)}}
	batch := kmsgBatch(b, kmsg.RecordBatch{ProducerID: -1}, recs)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if err := batch.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

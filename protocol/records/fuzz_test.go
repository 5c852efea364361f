package records

import (
	"bytes"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fuzzLimit bounds decompression in the fuzz targets.
const fuzzLimit = 1 << 20

func seedBatches(f *testing.F) [][]byte {
	var seeds [][]byte
	for _, c := range allCodecs {
		b := kmsgBatch(f, kmsg.RecordBatch{Attributes: int16(c), LastOffsetDelta: 4, ProducerID: -1}, richRecords())
		seeds = append(seeds, b)
	}
	empty, err := Build(BatchHeader{ProducerID: -1}, CodecNone, nil)
	if err != nil {
		f.Fatal(err)
	}
	return append(seeds, empty, []byte{}, make([]byte, HeaderSize))
}

// FuzzReadBatch: ReadBatch and Split never panic; every batch they return
// is framed as promised (length matches, magic 2) and the pieces add back
// up to the input; Validate and the accessors never panic on them.
func FuzzReadBatch(f *testing.F) {
	for _, s := range seedBatches(f) {
		f.Add(s)
		f.Add(append(append([]byte(nil), s...), s...))
		if len(s) > 20 {
			f.Add(s[:len(s)-7])
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rest := data
		total := 0
		for range len(data)/HeaderSize + 1 {
			b, r, err := ReadBatch(rest)
			if err != nil {
				if len(rest) > 0 && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedMagic) {
					t.Fatalf("ReadBatch: unexpected error %v", err)
				}
				break
			}
			if len(b) < HeaderSize || int(b.BatchLength())+12 != len(b) || b.Magic() != 2 || len(b)+len(r) != len(rest) {
				t.Fatalf("ReadBatch framed %d bytes, batchLength %d", len(b), b.BatchLength())
			}
			total += len(b)
			_ = b.Validate()
			_ = b.LastSequence() + int32(b.NextOffset()) + int32(b.Codec())
			rest = r
		}
		batches, err := Split(data)
		if err == nil {
			n := 0
			for _, b := range batches {
				n += len(b)
			}
			if n != len(data) || n != total {
				t.Fatalf("Split covered %d of %d bytes", n, len(data))
			}
		}
	})
}

// FuzzRecords: parsing the records of any batch that passes Validate never
// panics and never decompresses past the limit; what it accepts re-encodes
// to an equivalent batch.
func FuzzRecords(f *testing.F) {
	for _, s := range seedBatches(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < HeaderSize {
			return
		}
		// Fix up framing and CRC so the fuzzer reaches the record parser.
		b := Batch(append([]byte(nil), data...))
		b[offMagic] = 2
		be.PutUint32(b[offBatchLength:], uint32(len(b)-12))
		be.PutUint32(b[offCRC:], b.ComputeCRC())
		recs, err := b.RecordsLimit(fuzzLimit)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrRecordTooLarge) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if int32(len(recs)) != b.NumRecords() {
			t.Fatalf("%d records, header says %d", len(recs), b.NumRecords())
		}
		h := BatchHeader{ProducerID: b.ProducerID(), Attributes: b.Attributes()}
		rebuilt, err := Build(h, CodecNone, recs)
		if err != nil {
			t.Fatal(err)
		}
		again, err := rebuilt.Records()
		if err != nil || len(again) != len(recs) {
			t.Fatalf("rebuilt batch: %v", err)
		}
		for i := range recs {
			if !bytes.Equal(again[i].Key, recs[i].Key) || !bytes.Equal(again[i].Value, recs[i].Value) ||
				(again[i].Key == nil) != (recs[i].Key == nil) || len(again[i].Headers) != len(recs[i].Headers) ||
				again[i].OffsetDelta != recs[i].OffsetDelta || again[i].TimestampDelta != recs[i].TimestampDelta {
				t.Fatalf("record %d differs after rebuild", i)
			}
		}
	})
}

// FuzzDecompress: no codec panics on any input or returns more than the
// limit; compressing the output and decompressing again is the identity.
func FuzzDecompress(f *testing.F) {
	for _, c := range allCodecs {
		for _, p := range []string{"", "a", "riffle riffle riffle riffle"} {
			out, err := Compress(c, []byte(p))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(int8(c), out)
		}
	}
	f.Add(int8(CodecSnappy), xerialStream([]byte{0x03, 0x08, 'a', 'b', 'c'}))
	f.Fuzz(func(t *testing.T, codec int8, data []byte) {
		c := Codec(codec & 7)
		out, err := Decompress(c, data, fuzzLimit)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrRecordTooLarge) {
				t.Fatalf("%s: unexpected error %v", c, err)
			}
			return
		}
		if len(out) > fuzzLimit {
			t.Fatalf("%s: %d bytes past the limit", c, len(out))
		}
		again, err := Compress(c, out)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Decompress(c, again, fuzzLimit)
		if err != nil || !bytes.Equal(back, out) {
			t.Fatalf("%s: round trip of fuzzed output: %v", c, err)
		}
	})
}

package records

import (
	"math/rand/v2"
	"testing"
)

// walkBenchBatch is a 16 KiB batch of sixteen 1 KiB records with codec c.
func walkBenchBatch(tb testing.TB, c Codec) Batch {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	recs := make([]Record, 16)
	for i := range recs {
		v := make([]byte, 1024)
		for j := range v {
			if j%2 == 0 {
				v[j] = byte('a' + rng.IntN(26))
			} else {
				v[j] = 'x'
			}
		}
		recs[i] = Record{OffsetDelta: int32(i), TimestampDelta: int64(i), Key: []byte("key"), Value: v,
			Headers: []Header{{Key: "h", Value: []byte("v")}}}
	}
	b, err := Build(BatchHeader{BaseTimestamp: 1e12, MaxTimestamp: 1e12 + 15, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, c, recs)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// BenchmarkWalkRecords is the record walk of a 16 KiB batch of 1 KiB
// records per codec (streaming decompression into pooled buffers);
// BenchmarkForEachRecord is the materialising decode it replaces on the
// produce path.
func BenchmarkWalkRecords(b *testing.B) {
	for c := CodecNone; c <= CodecZstd; c++ {
		b.Run(c.String(), func(b *testing.B) {
			batch := walkBenchBatch(b, c)
			b.SetBytes(16 << 10)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := batch.WalkRecords(DefaultDecompressLimit, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkForEachRecord(b *testing.B) {
	for c := CodecNone; c <= CodecZstd; c++ {
		b.Run(c.String(), func(b *testing.B) {
			batch := walkBenchBatch(b, c)
			b.SetBytes(16 << 10)
			b.ReportAllocs()
			for b.Loop() {
				if err := batch.ForEachRecord(func(*Record) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package replica

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/riffle-io/riffle/protocol/records"
)

// benchBatch is a 16 KiB batch of sixteen 1 KiB records compressed with c,
// values half random and half repetitive, as a producer's JSON-ish data.
func benchBatch(tb testing.TB, c records.Codec, now time.Time) records.Batch {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	recs := make([]records.Record, 16)
	for i := range recs {
		v := make([]byte, 1024)
		for j := range v {
			if j%2 == 0 {
				v[j] = byte('a' + rng.IntN(26))
			} else {
				v[j] = 'x'
			}
		}
		recs[i] = records.Record{OffsetDelta: int32(i), TimestampDelta: int64(i), Key: []byte("key"), Value: v,
			Headers: []records.Header{{Key: "h", Value: []byte("v")}}}
	}
	ts := now.UnixMilli()
	b, err := records.Build(records.BatchHeader{BaseTimestamp: ts, MaxTimestamp: ts + 15,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, c, recs)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// BenchmarkValidateProducerBatch measures the produce path's validation of
// one 16 KiB batch of 1 KiB records per codec: framing, CRC and the walk over
// every record (decompressing into pooled buffers).
func BenchmarkValidateProducerBatch(b *testing.B) { benchValidate(b, false) }

// BenchmarkValidateProducerBatchCompacted adds the key check of a compacted topic.
func BenchmarkValidateProducerBatchCompacted(b *testing.B) { benchValidate(b, true) }

func benchValidate(b *testing.B, compacted bool) {
	now := time.Now()
	cfg := PartitionConfig{MaxMessageBytes: 1 << 20, TimestampBeforeMaxMs: math.MaxInt64, TimestampAfterMaxMs: math.MaxInt64, Compacted: compacted}
	for _, c := range []records.Codec{records.CodecNone, records.CodecGzip, records.CodecSnappy, records.CodecLZ4, records.CodecZstd} {
		b.Run(c.String(), func(b *testing.B) {
			batch := benchBatch(b, c, now)
			b.SetBytes(16 << 10)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := validateProducerBatch(batch, cfg, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package server_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Record counts for the franz-go round trip: a million records to 8
// partitions with each codec (a few seconds per codec on two cores).
const (
	bigRecords   = 1_000_000
	codecRecords = bigRecords
	roundParts   = 8
)

// TestFranzRoundTrip produces with every codec and reads back exactly what
// was written: keys (null ones too), values, headers, timestamps, dense
// offsets from 0 and order per partition.
func TestFranzRoundTrip(t *testing.T) {
	t.Parallel()
	tb := startBroker(t)
	adm := newAdmin(t, tb.addr())
	cases := []struct {
		name  string
		codec kgo.CompressionCodec
		count int
	}{
		{"none", kgo.NoCompression(), bigRecords},
		{"gzip", kgo.GzipCompression(), codecRecords},
		{"snappy", kgo.SnappyCompression(), codecRecords},
		{"lz4", kgo.Lz4Compression(), codecRecords},
		{"zstd", kgo.ZstdCompression(), codecRecords},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			topic := "franz-" + c.name
			createTopic(t, adm, topic, roundParts, nil)
			base := genBase()
			cl := newClient(t, tb.addr(),
				kgo.ProducerBatchCompression(c.codec),
				kgo.RecordPartitioner(kgo.ManualPartitioner()),
			)
			start := time.Now()
			produceGenerated(t, cl, topic, 0, c.count, roundParts, base, nil)
			cl.Close()
			produced := time.Now()
			consumeGenerated(t, tb.addr(), topic, c.count, roundParts, base)
			t.Logf("%d records: produced in %v, read back in %v", c.count, produced.Sub(start), time.Since(produced))
			// Nothing beyond what was produced.
			var total int64
			for _, o := range endOffsets(t, adm, topic) {
				total += o
			}
			if total != int64(c.count) {
				t.Fatalf("end offsets sum to %d, want %d", total, c.count)
			}
		})
	}
}

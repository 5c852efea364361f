package replica

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/riffle-io/riffle/protocol/records"
)

var allCodecs = []records.Codec{records.CodecNone, records.CodecGzip, records.CodecSnappy, records.CodecLZ4, records.CodecZstd}

func openConfig() PartitionConfig {
	return PartitionConfig{MaxMessageBytes: 1 << 20, TimestampBeforeMaxMs: math.MaxInt64, TimestampAfterMaxMs: math.MaxInt64}
}

func build(t *testing.T, c records.Codec, base, maxTs int64, recs []records.Record) records.Batch {
	t.Helper()
	b, err := records.Build(records.BatchHeader{BaseTimestamp: base, MaxTimestamp: maxTs,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, c, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A batch whose header agrees with its records is stored exactly as the
// producer sent it, whatever its codec.
func TestValidateKeepsValidBatchesByteForByte(t *testing.T) {
	now := time.Now()
	for _, c := range allCodecs {
		b := benchBatch(t, c, now)
		sent := bytes.Clone(b)
		got, err := validateProducerBatch(b, openConfig(), now)
		if err != nil || !bytes.Equal(got, sent) {
			t.Errorf("%s: %v; bytes changed: %v", c, err, !bytes.Equal(got, sent))
		}
	}
}

// Records at timestamp -1 under a header max timestamp of 0 (librdkafka):
// the header gets the records' -1 and a CRC that matches, as Kafka's
// LogValidator sets it; a LogAppendTime topic leaves it to the log.
func TestValidateSetsMaxTimestampFromRecords(t *testing.T) {
	now := time.Now()
	for _, c := range allCodecs {
		recs := []records.Record{{OffsetDelta: 0, Value: []byte("a")}, {OffsetDelta: 1, Value: []byte("b")}}
		b := build(t, c, -1, 0, recs)
		got, err := validateProducerBatch(b, openConfig(), now)
		if err != nil || got.MaxTimestamp() != -1 || got.EnsureValid() != nil {
			t.Errorf("%s: %v, max timestamp %d, valid %v", c, err, got.MaxTimestamp(), got.EnsureValid())
		}
		// A header below its records is raised to them.
		recs[1].TimestampDelta = 500
		b = build(t, c, now.UnixMilli(), now.UnixMilli(), recs)
		if got, err = validateProducerBatch(b, openConfig(), now); err != nil || got.MaxTimestamp() != now.UnixMilli()+500 || got.EnsureValid() != nil {
			t.Errorf("%s: %v, max timestamp %d, want %d", c, err, got.MaxTimestamp(), now.UnixMilli()+500)
		}
		cfg := openConfig()
		cfg.LogAppendTime = true
		b = build(t, c, -1, 0, recs[:1])
		if got, err = validateProducerBatch(b, cfg, now); err != nil || got.MaxTimestamp() != 0 {
			t.Errorf("%s LogAppendTime: %v, max timestamp %d", c, err, got.MaxTimestamp())
		}
	}
}

// Record-level rules hold inside compressed batches too: timestamps out of
// message.timestamp.*.max.ms (from the records, not the header), null keys
// on compacted topics.
func TestValidateRecordRulesInsideCompressedBatches(t *testing.T) {
	now := time.Now()
	for _, c := range allCodecs {
		cfg := openConfig()
		cfg.TimestampBeforeMaxMs = time.Hour.Milliseconds()
		// The header claims now; the second record is two hours old.
		recs := []records.Record{{OffsetDelta: 0, Value: []byte("a")}, {OffsetDelta: 1, TimestampDelta: -2 * time.Hour.Milliseconds(), Value: []byte("b")}}
		b := build(t, c, now.UnixMilli(), now.UnixMilli(), recs)
		if _, err := validateProducerBatch(b, cfg, now); !errors.Is(err, kerr.InvalidTimestamp) {
			t.Errorf("%s old record: %v, want INVALID_TIMESTAMP", c, err)
		}
		// Timestamp -1 is "none" and not checked.
		b = build(t, c, -1, -1, recs[:1])
		if _, err := validateProducerBatch(b, cfg, now); err != nil {
			t.Errorf("%s timestamp -1: %v", c, err)
		}
		cfg = openConfig()
		cfg.Compacted = true
		b = build(t, c, now.UnixMilli(), now.UnixMilli(), []records.Record{{OffsetDelta: 0, Key: []byte("k"), Value: []byte("a")}, {OffsetDelta: 1, Value: []byte("b")}})
		if _, err := validateProducerBatch(b, cfg, now); !errors.Is(err, kerr.InvalidRecord) {
			t.Errorf("%s null key on a compacted topic: %v, want INVALID_RECORD", c, err)
		}
	}
}

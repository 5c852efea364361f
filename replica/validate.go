package replica

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/riffle-io/riffle/protocol/records"
)

// validateProducerBatch applies Kafka's LogValidator rules that do not need
// producer state (UnifiedLog.analyzeAndValidateRecords, LogValidator
// .validateBatch and the record walk), and stores the records' largest
// timestamp as the batch's max timestamp.
func validateProducerBatch(data []byte, cfg PartitionConfig, now time.Time) (records.Batch, error) {
	b, rest, err := records.ReadBatch(data)
	if err != nil {
		if errors.Is(err, records.ErrUnsupportedMagic) {
			return nil, fmt.Errorf("%w: produce requests v3+ carry only magic v2 batches: %v", kerr.InvalidRecord, err)
		}
		return nil, fmt.Errorf("%w: %v", kerr.CorruptMessage, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: produce requests v3+ may contain exactly one record batch", kerr.InvalidRecord)
	}
	if bo := b.BaseOffset(); bo != 0 {
		// UnifiedLog.analyzeAndValidateRecords: a client's v2 batch starts
		// at offset 0; the leader assigns the real one.
		return nil, fmt.Errorf("%w: the base offset of a produced batch must be 0, not %d", kerr.InvalidRecord, bo)
	}
	if err := b.Validate(); err != nil {
		if errors.Is(err, records.ErrInvalidRecord) {
			return nil, fmt.Errorf("%w: %v", kerr.InvalidRecord, err)
		}
		return nil, fmt.Errorf("%w: %v", kerr.CorruptMessage, err)
	}
	if b.ProducerID() >= 0 && b.BaseSequence() < 0 {
		return nil, fmt.Errorf("%w: invalid sequence number %d in a batch with producer id %d", kerr.InvalidRecord, b.BaseSequence(), b.ProducerID())
	}
	if b.TimestampType() == records.LogAppendTime {
		// LogValidator.validateTimestamp: producers must not claim
		// LogAppendTime; the broker sets it.
		return nil, fmt.Errorf("%w: producers may not set the LogAppendTime timestamp type", kerr.InvalidTimestamp)
	}
	if cfg.MaxMessageBytes > 0 {
		if err := b.ValidateSize(cfg.MaxMessageBytes); err != nil {
			return nil, fmt.Errorf("%w: batch of %d bytes exceeds max.message.bytes %d", kerr.MessageTooLarge, len(b), cfg.MaxMessageBytes)
		}
	}
	if b.IsControl() {
		return nil, fmt.Errorf("%w: clients may not write control batches", kerr.InvalidRecord)
	}
	if b.IsTransactional() && b.ProducerID() < 0 {
		// KIP-98: a transactional batch belongs to a producer id.
		return nil, fmt.Errorf("%w: transactional batch without a producer id", kerr.InvalidRecord)
	}
	maxTs, err := validateRecords(b, cfg, now)
	if err != nil {
		return nil, err
	}
	if !cfg.LogAppendTime {
		// LogValidator sets the max timestamp from the records for
		// CreateTime (the log stamps LogAppendTime itself). A header that
		// disagrees (librdkafka can write records with timestamp -1 under
		// a max timestamp of 0) would otherwise make the segment look
		// decades old to retention and segment.ms.
		b.SetCreateTimeMaxTimestamp(maxTs)
	}
	if cfg.Recompress && b.Codec() != cfg.Compression {
		nb, err := records.Recompress(b, cfg.Compression)
		if err != nil {
			return nil, fmt.Errorf("%w: recompressing to %s: %v", kerr.CorruptMessage, cfg.Compression, err)
		}
		if cfg.MaxMessageBytes > 0 && len(nb) > cfg.MaxMessageBytes {
			return nil, fmt.Errorf("%w: recompressed batch of %d bytes exceeds max.message.bytes %d", kerr.MessageTooLarge, len(nb), cfg.MaxMessageBytes)
		}
		b = nb
	}
	// Otherwise the log patches offsets into the request's own buffer: each
	// request frame is allocated for that request alone, so no copy is made.
	return b, nil
}

// minDecompressLimit is the floor of decompressLimit: 16 times Kafka's
// default max.message.bytes.
const minDecompressLimit = 16 << 20

// decompressLimit bounds how far a produced batch's records may inflate:
// 16 times max.message.bytes, at least minDecompressLimit, at most 1 GiB.
// librdkafka, franz-go and Sarama bound a batch's uncompressed size by
// max.message.bytes (or batch.size), far below it. The Java producer bounds
// an estimate of the compressed size, so a very compressible batch can
// exceed it; it is refused with MESSAGE_TOO_LARGE, on which the Java
// producer splits the batch and retries. Kafka itself has no bound. Raw
// snappy and zstd records are decoded whole (see records.Batch.WalkRecords),
// so the bound is also the memory one produce request can make the broker
// hold for them: compat-tests' wirefuzz, bombs included, on four
// connections peaked the broker at 521 MiB of RSS with a 64 MiB bound and
// at 178 MiB with this one.
func decompressLimit(maxMessageBytes int) int {
	return int(min(max(minDecompressLimit, 16*int64(maxMessageBytes)), 1<<30))
}

// validateRecords walks every record of every batch, compressed or not, as
// Kafka's LogValidator does (records.Batch.WalkRecords): malformed records
// and counts that disagree with the header are INVALID_RECORD, a payload
// the codec cannot decode or an unknown codec CORRUPT_MESSAGE (Kafka fails
// those with an internal error), records inflating past decompressLimit
// MESSAGE_TOO_LARGE. Keys must be present on compacted topics, and
// CreateTime timestamps other than -1 (NO_TIMESTAMP) must lie within
// message.timestamp.before/after.max.ms. It returns the largest record
// timestamp, -1 when no record has one.
func validateRecords(b records.Batch, cfg PartitionConfig, now time.Time) (int64, error) {
	nowMs := now.UnixMilli()
	// Saturating bounds: the configs default to Long.MAX_VALUE.
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if cfg.TimestampBeforeMaxMs >= 0 && nowMs >= math.MinInt64+cfg.TimestampBeforeMaxMs {
		lo = nowMs - cfg.TimestampBeforeMaxMs
	}
	if cfg.TimestampAfterMaxMs >= 0 && nowMs <= math.MaxInt64-cfg.TimestampAfterMaxMs {
		hi = nowMs + cfg.TimestampAfterMaxMs
	}
	checkTS := !cfg.LogAppendTime
	compacted := cfg.Compacted
	maxTs, err := b.WalkRecords(decompressLimit(cfg.MaxMessageBytes), func(r *records.RecordInfo) error {
		if compacted && r.NullKey {
			return fmt.Errorf("%w: compacted topic cannot accept a record without a key (record %d)", kerr.InvalidRecord, r.Index)
		}
		if checkTS && r.Timestamp != -1 && (r.Timestamp < lo || r.Timestamp > hi) {
			return fmt.Errorf("%w: timestamp %d of record %d is out of range [%d, %d]", kerr.InvalidTimestamp,
				r.Timestamp, r.Index, lo, hi)
		}
		return nil
	})
	switch {
	case err == nil:
		return maxTs, nil
	case errors.Is(err, kerr.InvalidRecord), errors.Is(err, kerr.InvalidTimestamp):
		return 0, err
	case errors.Is(err, records.ErrRecordTooLarge):
		return 0, fmt.Errorf("%w: %v", kerr.MessageTooLarge, err)
	case errors.Is(err, records.ErrCorrupt):
		return 0, fmt.Errorf("%w: %v", kerr.CorruptMessage, err)
	default:
		// InvalidRecordException: malformed records, "Incorrect declared
		// batch size".
		return 0, fmt.Errorf("%w: %v", kerr.InvalidRecord, err)
	}
}

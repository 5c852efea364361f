package records

import (
	"errors"
	"fmt"
	"math"
)

// UpConvert turns the magic 0/1 message set of a Produce v0–v2 request into
// one v2 batch, as Kafka's LogValidator does when the log's format is v2
// (convertAndAssignOffsetsNonCompressed, and validateMessagesAndAssignOffsetsCompressed
// with buildRecordsAndAssignOffsets): offset deltas 0..n-1, no producer id,
// CreateTime with the messages' own timestamps (-1 for magic 0), keys and
// values as sent, compressed with the wrapper's codec (the append path then
// recompresses when the topic's compression.type says otherwise). Base
// offset and leader epoch are left for the append path to assign.
//
// It validates what LogValidator validates for these formats: every CRC
// (ErrCorrupt, CORRUPT_MESSAGE); one magic throughout, no nested
// compression, a compressed set being a single wrapper, at least one message
// (ErrInvalidRecord, INVALID_RECORD); no producer-set LogAppendTime
// (ErrInvalidTimestamp); no zstd (ErrUnsupportedCompression). limit bounds
// the decompressed size of a wrapper.
func UpConvert(data []byte, limit int) (Batch, error) {
	first, ok := LegacyMagic(data)
	if !ok {
		if len(data) == 0 {
			return nil, fmt.Errorf("%w: message set has no messages at all", ErrInvalidRecord)
		}
		if len(data) <= legacyMagicOffset {
			return nil, fmt.Errorf("%w: message set of %d bytes", ErrCorrupt, len(data))
		}
		return nil, fmt.Errorf("%w: %d is not a legacy message format", ErrUnsupportedMagic, first)
	}
	var (
		recs       []Record
		codec      = CodecNone
		entries    int
		baseTS     int64
		maxTS      = NoTimestamp
		rawLen     int
		outerMagic = first
	)
	// Walk the outer entries here rather than through ForEachLegacyMessage
	// so that the shape rules about wrappers can be checked.
	for rest := data; len(rest) > 0; entries++ {
		var m LegacyMessage
		next, err := readLegacyEntry(rest, &m)
		if err != nil {
			if errors.Is(err, ErrTruncated) {
				return nil, fmt.Errorf("%w: trailing partial message: %v", ErrCorrupt, err)
			}
			if errors.Is(err, ErrUnsupportedMagic) {
				return nil, fmt.Errorf("%w: message set mixes formats: %v", ErrInvalidRecord, err)
			}
			return nil, err
		}
		rest = next
		if m.Magic != outerMagic {
			return nil, fmt.Errorf("%w: message magic %d is not the same as the first message's magic %d", ErrInvalidRecord, m.Magic, outerMagic)
		}
		if m.TimestampType() == LogAppendTime {
			return nil, fmt.Errorf("%w: producers may not set the timestamp type to LogAppendTime", ErrInvalidTimestamp)
		}
		msgs := []LegacyMessage{m}
		if c := m.Codec(); c != CodecNone {
			if entries > 0 || len(rest) > 0 {
				// getFirstBatchAndMaybeValidateNoMoreBatches.
				return nil, fmt.Errorf("%w: compressed outer record has more than one batch", ErrInvalidRecord)
			}
			if msgs, err = openWrapper(&m, limit); err != nil {
				return nil, err
			}
			codec = c
		}
		for i := range msgs {
			im := &msgs[i]
			if im.Magic > MagicV0 && im.TimestampType() == LogAppendTime {
				return nil, fmt.Errorf("%w: producers may not set the timestamp type to LogAppendTime", ErrInvalidTimestamp)
			}
			if len(recs) == math.MaxInt32 {
				return nil, fmt.Errorf("%w: more than %d messages", ErrRecordTooLarge, math.MaxInt32)
			}
			if rawLen += len(im.Key) + len(im.Value); rawLen > limit {
				return nil, fmt.Errorf("%w: messages exceed the limit %d", ErrRecordTooLarge, limit)
			}
			if len(recs) == 0 {
				baseTS = im.Timestamp
			}
			maxTS = max(maxTS, im.Timestamp)
			recs = append(recs, Record{
				TimestampDelta: im.Timestamp - baseTS,
				OffsetDelta:    int32(len(recs)),
				Key:            im.Key,
				Value:          im.Value,
			})
		}
	}
	return Build(BatchHeader{
		PartitionLeaderEpoch: -1,
		BaseTimestamp:        baseTS,
		MaxTimestamp:         maxTS,
		ProducerID:           NoProducerID,
		ProducerEpoch:        NoProducerEpoch,
		BaseSequence:         NoSequence,
	}, codec, recs)
}

// DownConvertMagic is the message format a Fetch request version reads:
// v0–v1 magic 0, v2–v3 magic 1 (KIP-32), v4+ the stored v2 batches
// (KafkaApis' down-conversion rule with the log at message format v2).
func DownConvertMagic(fetchVersion int16) (int8, bool) {
	switch {
	case fetchVersion <= 1:
		return MagicV0, true
	case fetchVersion <= 3:
		return MagicV1, true
	}
	return 2, false
}

// DownConvert rewrites v2 batches, as a fetch reads them from the log, into
// a magic 0 or 1 message set for a Fetch v0–v3 client (Kafka RecordsUtil.downConvert,
// as LazyDownConversionRecords runs it):
//
//   - control batches and empty batches are skipped, record headers dropped
//     (the old formats have neither);
//   - an uncompressed batch becomes one message per record, leaving out
//     records before fetchOffset; a compressed batch becomes one wrapper
//     message with the same codec holding all its records (the client skips
//     the ones before its offset), relative inner offsets for magic 1;
//   - magic 1 keeps timestamps and the timestamp type: under LogAppendTime
//     every message carries the batch's append time;
//   - zstd cannot be expressed below magic 2: ErrUnsupportedCompression, for
//     which Kafka answers UNSUPPORTED_COMPRESSION_TYPE.
//
// The result holds whole messages (or wrappers) only, in order, and at most
// maxBytes of them, except that the first one is always included so a
// consumer makes progress (KIP-74). A partial batch at the end of data ends
// the conversion.
func DownConvert(data []byte, toMagic int8, fetchOffset int64, maxBytes int) ([]byte, error) {
	if toMagic != MagicV0 && toMagic != MagicV1 {
		return nil, fmt.Errorf("%w: cannot down-convert to magic %d", ErrUnsupportedMagic, toMagic)
	}
	var out []byte
	full := false
	// add appends one converted unit unless it would overflow maxBytes.
	add := func(unit []byte) {
		if len(out) > 0 && len(out)+len(unit) > maxBytes {
			full = true
			return
		}
		out = append(out, unit...)
	}
	var unit []byte
	for len(data) > 0 && !full {
		b, rest, err := ReadBatch(data)
		if err != nil {
			if errors.Is(err, ErrTruncated) {
				break
			}
			return nil, err
		}
		data = rest
		if err := b.EnsureValid(); err != nil {
			return nil, err
		}
		if b.IsControl() || b.NumRecords() == 0 {
			continue
		}
		codec := b.Codec()
		if codec == CodecZstd {
			return nil, fmt.Errorf("%w: zstd batch at offset %d cannot be down-converted to magic %d", ErrUnsupportedCompression, b.BaseOffset(), toMagic)
		}
		logAppend := b.TimestampType() == LogAppendTime
		attrs := int8(0)
		if logAppend && toMagic > MagicV0 {
			attrs = legacyTimestampTypeMask
		}
		var (
			inner               []byte
			firstOff, lastOff   int64
			maxTS               = NoTimestamp
			n                   int
			base, baseTimestamp = b.BaseOffset(), b.BaseTimestamp()
		)
		err = b.ForEachRecord(func(r *Record) error {
			m := LegacyMessage{
				Offset:     base + int64(r.OffsetDelta),
				Magic:      toMagic,
				Attributes: attrs,
				Timestamp:  baseTimestamp + r.TimestampDelta,
				Key:        r.Key,
				Value:      r.Value,
			}
			if logAppend {
				m.Timestamp = b.MaxTimestamp()
			}
			if toMagic == MagicV0 {
				m.Timestamp = NoTimestamp
			}
			if legacyEntrySize(toMagic, m.Key, m.Value) > math.MaxInt32 {
				return fmt.Errorf("%w: record at offset %d too large for a message", ErrRecordTooLarge, m.Offset)
			}
			if codec == CodecNone {
				if m.Offset >= fetchOffset && !full {
					unit = appendLegacyEntry(unit[:0], &m)
					add(unit)
				}
				return nil
			}
			if n == 0 {
				firstOff = m.Offset
			}
			n++
			lastOff = m.Offset
			maxTS = max(maxTS, m.Timestamp)
			if toMagic > MagicV0 {
				// KIP-31: inner offsets relative to the first inner message.
				m.Offset -= firstOff
			}
			inner = appendLegacyEntry(inner, &m)
			return nil
		})
		if err != nil {
			return nil, err
		}
		if codec == CodecNone || n == 0 {
			continue
		}
		body, err := Compress(codec, inner)
		if err != nil {
			return nil, err
		}
		w := LegacyMessage{
			Offset:     lastOff,
			Magic:      toMagic,
			Attributes: attrs | int8(codec),
			Timestamp:  NoTimestamp,
			Value:      body,
		}
		if toMagic > MagicV0 {
			w.Timestamp = maxTS
			if logAppend {
				w.Timestamp = b.MaxTimestamp()
			}
		}
		if legacyEntrySize(toMagic, nil, body) > math.MaxInt32 {
			return nil, fmt.Errorf("%w: batch at offset %d too large for a message", ErrRecordTooLarge, b.BaseOffset())
		}
		unit = appendLegacyEntry(unit[:0], &w)
		add(unit)
	}
	return out, nil
}

package records

import (
	"errors"
	"fmt"
	"io"
)

// Sentinel errors; callers test with errors.Is and map them to Kafka error
// codes in one place. Returned errors wrap them with a reason.
var (
	// ErrCorrupt: bad lengths, CRC mismatch, count vs lastOffsetDelta
	// mismatch, malformed records (Kafka CORRUPT_MESSAGE).
	ErrCorrupt = errors.New("corrupt record batch")
	// ErrTruncated: the input ends inside a batch, e.g. a torn segment tail
	// after a crash or a fetch response cut at its byte limit.
	ErrTruncated = errors.New("truncated record batch")
	// ErrUnsupportedMagic: magic is not 2 (Kafka 4.0 removed v0/v1, KIP-896).
	ErrUnsupportedMagic = errors.New("unsupported record batch magic")
	// ErrRecordTooLarge: the batch, or its decompressed records, exceeds the
	// allowed size (Kafka MESSAGE_TOO_LARGE).
	ErrRecordTooLarge = errors.New("record batch too large")
	// ErrInvalidRecord: well-formed but refused by policy, e.g. a null key on
	// a compacted topic (Kafka INVALID_RECORD).
	ErrInvalidRecord = errors.New("invalid record")
)

// ReadBatch splits the first batch off data, checking only its framing:
// batchLength covers at least the header, the batch fits in data, and magic
// is 2. It does not check the CRC (see Validate). It mirrors Kafka's
// ByteBufferLogInputStream.nextBatch: a partial batch at the end of data
// returns ErrTruncated, which storage recovery treats as a torn tail and
// fetch readers as the end of the data. Empty data returns io.EOF.
func ReadBatch(data []byte) (b Batch, rest []byte, err error) {
	if len(data) == 0 {
		return nil, nil, io.EOF
	}
	if len(data) < logOverhead {
		return nil, data, fmt.Errorf("%w: %d bytes, need %d for the batch length", ErrTruncated, len(data), logOverhead)
	}
	length := int32(be.Uint32(data[offBatchLength:]))
	if length < HeaderSize-logOverhead {
		return nil, data, fmt.Errorf("%w: batch length %d below the minimum %d", ErrCorrupt, length, HeaderSize-logOverhead)
	}
	size := logOverhead + int(length)
	if size > len(data) {
		return nil, data, fmt.Errorf("%w: batch of %d bytes, %d available", ErrTruncated, size, len(data))
	}
	if m := int8(data[offMagic]); m != 2 {
		return nil, data, fmt.Errorf("%w: %d", ErrUnsupportedMagic, m)
	}
	return Batch(data[:size:size]), data[size:], nil
}

// Split returns every batch in data, e.g. a produce request's records. It is
// strict: trailing bytes that do not form a whole batch are ErrCorrupt (a
// producer never sends a partial batch). Batches are framed, not validated.
func Split(data []byte) ([]Batch, error) {
	var batches []Batch
	for len(data) > 0 {
		b, rest, err := ReadBatch(data)
		if err != nil {
			if errors.Is(err, ErrTruncated) {
				return nil, fmt.Errorf("%w: trailing partial batch after %d batches: %v", ErrCorrupt, len(batches), err)
			}
			return nil, err
		}
		batches = append(batches, b)
		data = rest
	}
	return batches, nil
}

// EnsureValid checks what Kafka's DefaultRecordBatch.ensureValid checks:
// lengths, magic 2 and the CRC. Storage recovery uses it: compaction can
// leave empty batches (count 0) that Validate would refuse.
func (b Batch) EnsureValid() error {
	if len(b) < HeaderSize {
		return fmt.Errorf("%w: %d bytes, smaller than the %d-byte header", ErrCorrupt, len(b), HeaderSize)
	}
	if n := b.BatchLength(); int64(n)+logOverhead != int64(len(b)) {
		return fmt.Errorf("%w: batch length %d does not match %d bytes", ErrCorrupt, n, len(b)-logOverhead)
	}
	if m := b.Magic(); m != 2 {
		return fmt.Errorf("%w: %d", ErrUnsupportedMagic, m)
	}
	if stored, computed := b.CRC(), b.ComputeCRC(); stored != computed {
		return fmt.Errorf("%w: crc %#08x, computed %#08x", ErrCorrupt, stored, computed)
	}
	return nil
}

// Validate is the full check of one batch a producer sends: EnsureValid plus
// Kafka LogValidator's v2 rules that the batch holds at least one record and
// that its count agrees with lastOffsetDelta. It does not decompress. A
// failed framing or CRC check is ErrCorrupt (CORRUPT_MESSAGE); a bad count is
// ErrInvalidRecord, as Kafka throws InvalidRecordException (INVALID_RECORD).
func (b Batch) Validate() error {
	if err := b.EnsureValid(); err != nil {
		return err
	}
	count, fromOffsets := int64(b.NumRecords()), int64(b.LastOffsetDelta())+1
	switch {
	case fromOffsets <= 0:
		return fmt.Errorf("%w: invalid offset range, lastOffsetDelta %d", ErrInvalidRecord, b.LastOffsetDelta())
	case count <= 0:
		return fmt.Errorf("%w: invalid record count %d", ErrInvalidRecord, count)
	case count != fromOffsets:
		return fmt.Errorf("%w: record count %d does not match offset range %d", ErrInvalidRecord, count, fromOffsets)
	}
	return nil
}

// ValidateSize refuses a batch larger than max.message.bytes; Kafka compares
// the whole batch's size (UnifiedLog.analyzeAndValidateRecords).
func (b Batch) ValidateSize(maxMessageBytes int) error {
	if len(b) > maxMessageBytes {
		return fmt.Errorf("%w: batch of %d bytes exceeds max.message.bytes %d", ErrRecordTooLarge, len(b), maxMessageBytes)
	}
	return nil
}

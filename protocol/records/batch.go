package records

import (
	"encoding/binary"
	"hash/crc32"
	"math"
)

// HeaderSize is the size of the v2 batch header up to the first record
// (Kafka DefaultRecordBatch.RECORD_BATCH_OVERHEAD).
const HeaderSize = 61

// logOverhead is the baseOffset and batchLength prefix that batchLength
// does not count (Kafka Records.LOG_OVERHEAD).
const logOverhead = 12

// Sentinels for a batch without idempotence (Kafka RecordBatch.NO_*).
const (
	NoProducerID    int64 = -1
	NoProducerEpoch int16 = -1
	NoSequence      int32 = -1
)

// Attribute bits (Kafka DefaultRecordBatch *_MASK constants).
const (
	CompressionCodecMask int16 = 0x07
	TimestampTypeMask    int16 = 0x08
	TransactionalFlag    int16 = 0x10
	ControlFlag          int16 = 0x20
	DeleteHorizonFlag    int16 = 0x40
)

// Field offsets inside the header.
const (
	offBaseOffset           = 0
	offBatchLength          = 8
	offPartitionLeaderEpoch = 12
	offMagic                = 16
	offCRC                  = 17
	offAttributes           = 21
	offLastOffsetDelta      = 23
	offBaseTimestamp        = 27
	offMaxTimestamp         = 35
	offProducerID           = 43
	offProducerEpoch        = 51
	offBaseSequence         = 53
	offRecordsCount         = 57
)

// TimestampType is attributes bit 3.
type TimestampType int8

const (
	CreateTime    TimestampType = 0
	LogAppendTime TimestampType = 1
)

func (t TimestampType) String() string {
	if t == LogAppendTime {
		return "LogAppendTime"
	}
	return "CreateTime"
}

// Batch is exactly one v2 record batch: len(b) == 12 + BatchLength().
// Accessors assume len(b) >= HeaderSize, which ReadBatch, Split and
// Validate establish; they never allocate.
type Batch []byte

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var be = binary.BigEndian

func (b Batch) BaseOffset() int64           { return int64(be.Uint64(b[offBaseOffset:])) }
func (b Batch) BatchLength() int32          { return int32(be.Uint32(b[offBatchLength:])) }
func (b Batch) PartitionLeaderEpoch() int32 { return int32(be.Uint32(b[offPartitionLeaderEpoch:])) }
func (b Batch) Magic() int8                 { return int8(b[offMagic]) }
func (b Batch) CRC() uint32                 { return be.Uint32(b[offCRC:]) }
func (b Batch) Attributes() int16           { return int16(be.Uint16(b[offAttributes:])) }
func (b Batch) LastOffsetDelta() int32      { return int32(be.Uint32(b[offLastOffsetDelta:])) }
func (b Batch) BaseTimestamp() int64        { return int64(be.Uint64(b[offBaseTimestamp:])) }
func (b Batch) MaxTimestamp() int64         { return int64(be.Uint64(b[offMaxTimestamp:])) }
func (b Batch) ProducerID() int64           { return int64(be.Uint64(b[offProducerID:])) }
func (b Batch) ProducerEpoch() int16        { return int16(be.Uint16(b[offProducerEpoch:])) }
func (b Batch) BaseSequence() int32         { return int32(be.Uint32(b[offBaseSequence:])) }
func (b Batch) NumRecords() int32           { return int32(be.Uint32(b[offRecordsCount:])) }

// Codec is the compression codec of the records section.
func (b Batch) Codec() Codec { return Codec(b.Attributes() & CompressionCodecMask) }

func (b Batch) TimestampType() TimestampType {
	if b.Attributes()&TimestampTypeMask != 0 {
		return LogAppendTime
	}
	return CreateTime
}

// IsTransactional reports a KIP-98 transactional batch.
func (b Batch) IsTransactional() bool { return b.Attributes()&TransactionalFlag != 0 }

// IsControl reports a control batch (transaction commit/abort markers).
func (b Batch) IsControl() bool { return b.Attributes()&ControlFlag != 0 }

// HasDeleteHorizon reports KIP-534's flag: baseTimestamp holds the delete
// horizon set by the log cleaner.
func (b Batch) HasDeleteHorizon() bool { return b.Attributes()&DeleteHorizonFlag != 0 }

// IsIdempotent reports a batch from an idempotent or transactional producer.
func (b Batch) IsIdempotent() bool { return b.ProducerID() >= 0 }

// LastOffset is the offset of the last record the batch covers.
func (b Batch) LastOffset() int64 { return b.BaseOffset() + int64(b.LastOffsetDelta()) }

// NextOffset is the offset after the batch: the log end offset once it is
// appended.
func (b Batch) NextOffset() int64 { return b.LastOffset() + 1 }

// LastSequence is the sequence number of the last record. Sequences wrap
// from MaxInt32 to 0, as in Kafka DefaultRecordBatch.incrementSequence.
func (b Batch) LastSequence() int32 {
	base := b.BaseSequence()
	if base == NoSequence {
		return NoSequence
	}
	return IncrementSequence(base, b.LastOffsetDelta())
}

// IncrementSequence adds inc to seq, wrapping past MaxInt32 to 0 (Kafka
// DefaultRecordBatch.incrementSequence; producer sequences are non-negative).
func IncrementSequence(seq, inc int32) int32 {
	if seq > math.MaxInt32-inc {
		return inc - (math.MaxInt32 - seq) - 1
	}
	return seq + inc
}

// SetBaseOffset assigns the batch's first offset. The field lies outside the
// CRC, so the batch stays valid.
func (b Batch) SetBaseOffset(o int64) { be.PutUint64(b[offBaseOffset:], uint64(o)) }

// SetPartitionLeaderEpoch stamps the leader's epoch (KIP-101); outside the CRC.
func (b Batch) SetPartitionLeaderEpoch(e int32) {
	be.PutUint32(b[offPartitionLeaderEpoch:], uint32(e))
}

// SetLogAppendTime marks the batch LogAppendTime with maxTimestamp ts and
// recomputes the CRC, as Kafka's DefaultRecordBatch.setMaxTimestamp does for
// topics with message.timestamp.type=LogAppendTime. Like Kafka it rebuilds
// attributes from the known flags, so unknown bits are dropped, and it leaves
// the bytes untouched when nothing changes.
func (b Batch) SetLogAppendTime(ts int64) {
	if b.TimestampType() == LogAppendTime && b.MaxTimestamp() == ts {
		return
	}
	attrs := b.Attributes()&(CompressionCodecMask|TransactionalFlag|ControlFlag|DeleteHorizonFlag) | TimestampTypeMask
	be.PutUint16(b[offAttributes:], uint16(attrs))
	be.PutUint64(b[offMaxTimestamp:], uint64(ts))
	be.PutUint32(b[offCRC:], b.ComputeCRC())
}

// SetCreateTimeMaxTimestamp stores ts, the largest timestamp of the batch's
// records, as the CreateTime batch's maxTimestamp and recomputes the CRC, as
// Kafka's LogValidator does on every produce (DefaultRecordBatch
// .setMaxTimestamp). A batch whose header already agrees with its records
// keeps its bytes untouched. Unlike SetLogAppendTime it keeps the attributes
// as they are.
func (b Batch) SetCreateTimeMaxTimestamp(ts int64) {
	if b.MaxTimestamp() == ts {
		return
	}
	be.PutUint64(b[offMaxTimestamp:], uint64(ts))
	be.PutUint32(b[offCRC:], b.ComputeCRC())
}

// ComputeCRC is the CRC-32C (Castagnoli) of everything from attributes to
// the end of the batch, the value the crc field must hold.
func (b Batch) ComputeCRC() uint32 { return crc32.Checksum(b[offAttributes:], castagnoli) }

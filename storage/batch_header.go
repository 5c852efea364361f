package storage

import (
	"encoding/binary"
	"fmt"

	"github.com/riffle-io/riffle/protocol/records"
)

// batchHeader is the fixed 61-byte prefix of a v2 record batch. Storage
// walks segments header by header (to find positions, rebuild indexes and
// replay producer state) without reading whole batches.
type batchHeader struct {
	baseOffset      int64
	batchLength     int32
	leaderEpoch     int32
	magic           int8
	attributes      int16
	lastOffsetDelta int32
	baseTimestamp   int64
	maxTimestamp    int64
	producerID      int64
	producerEpoch   int16
	baseSequence    int32
	numRecords      int32
}

const (
	attrTimestampType = 0x08
	attrTransactional = 0x10
	attrControl       = 0x20
)

// parseHeader decodes a batch header, checking only what is needed to walk
// the log safely: the magic and a length that covers at least the header.
func parseHeader(b []byte) (batchHeader, error) {
	if len(b) < records.HeaderSize {
		return batchHeader{}, records.ErrTruncated
	}
	h := batchHeader{
		baseOffset:      int64(binary.BigEndian.Uint64(b[0:])),
		batchLength:     int32(binary.BigEndian.Uint32(b[8:])),
		leaderEpoch:     int32(binary.BigEndian.Uint32(b[12:])),
		magic:           int8(b[16]),
		attributes:      int16(binary.BigEndian.Uint16(b[21:])),
		lastOffsetDelta: int32(binary.BigEndian.Uint32(b[23:])),
		baseTimestamp:   int64(binary.BigEndian.Uint64(b[27:])),
		maxTimestamp:    int64(binary.BigEndian.Uint64(b[35:])),
		producerID:      int64(binary.BigEndian.Uint64(b[43:])),
		producerEpoch:   int16(binary.BigEndian.Uint16(b[51:])),
		baseSequence:    int32(binary.BigEndian.Uint32(b[53:])),
		numRecords:      int32(binary.BigEndian.Uint32(b[57:])),
	}
	if h.magic != 2 {
		return h, fmt.Errorf("%w: magic %d", records.ErrUnsupportedMagic, h.magic)
	}
	if h.batchLength < records.HeaderSize-12 || h.lastOffsetDelta < 0 || h.baseOffset < 0 {
		return h, fmt.Errorf("%w: batch length %d, last offset delta %d", records.ErrCorrupt, h.batchLength, h.lastOffsetDelta)
	}
	return h, nil
}

func (h batchHeader) size() int64       { return int64(h.batchLength) + 12 }
func (h batchHeader) lastOffset() int64 { return h.baseOffset + int64(h.lastOffsetDelta) }
func (h batchHeader) nextOffset() int64 { return h.lastOffset() + 1 }
func (h batchHeader) isControl() bool   { return h.attributes&attrControl != 0 }
func (h batchHeader) isTransactional() bool {
	return h.attributes&attrTransactional != 0
}
func (h batchHeader) hasProducerID() bool { return h.producerID >= 0 }

// hasDeleteHorizon reports KIP-534's attribute bit: the cleaner has kept
// the batch's tombstones once, and baseTimestamp holds the time after which
// they may go (Kafka's RecordBatch.deleteHorizonMs).
func (h batchHeader) hasDeleteHorizon() bool { return h.attributes&records.DeleteHorizonFlag != 0 }

// deleteHorizonMs is meaningful only when hasDeleteHorizon.
func (h batchHeader) deleteHorizonMs() int64 { return h.baseTimestamp }

// lastSequence wraps around at MaxInt32 like Kafka's
// DefaultRecordBatch.incrementSequence.
func (h batchHeader) lastSequence() int32 {
	if h.baseSequence == records.NoSequence {
		return records.NoSequence
	}
	return incrementSequence(h.baseSequence, h.lastOffsetDelta)
}

func incrementSequence(seq, inc int32) int32 {
	v := int64(seq) + int64(inc)
	if v > 1<<31-1 {
		v -= 1 << 31
	}
	return int32(v)
}

func decrementSequence(seq, dec int32) int32 {
	v := int64(seq) - int64(dec)
	if v < 0 {
		v += 1 << 31
	}
	return int32(v)
}

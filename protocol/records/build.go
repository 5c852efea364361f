package records

import (
	"fmt"
	"math"
)

// BatchHeader holds the header fields Build writes. The codec bits of
// Attributes are ignored: Build sets them from its codec argument.
type BatchHeader struct {
	BaseOffset           int64
	PartitionLeaderEpoch int32
	Attributes           int16
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
}

// Build encodes recs into a new batch compressed with codec. lastOffsetDelta
// is the last record's OffsetDelta (0 for no records), the count is
// len(recs), and length and CRC are computed. It is used for control batches
// (KIP-98 transaction markers), compaction and tests.
func Build(h BatchHeader, codec Codec, recs []Record) (Batch, error) {
	if !codec.Valid() {
		return nil, fmt.Errorf("%w: unknown compression codec %d", ErrCorrupt, codec)
	}
	if len(recs) > math.MaxInt32 {
		return nil, fmt.Errorf("%w: %d records", ErrRecordTooLarge, len(recs))
	}
	var raw []byte
	for i := range recs {
		var err error
		if raw, err = recs[i].AppendTo(raw); err != nil {
			return nil, err
		}
	}
	var lastOffsetDelta int32
	if len(recs) > 0 {
		lastOffsetDelta = recs[len(recs)-1].OffsetDelta
	}
	hdr := make(Batch, HeaderSize)
	be.PutUint64(hdr[offBaseOffset:], uint64(h.BaseOffset))
	be.PutUint32(hdr[offPartitionLeaderEpoch:], uint32(h.PartitionLeaderEpoch))
	hdr[offMagic] = 2
	be.PutUint16(hdr[offAttributes:], uint16(h.Attributes))
	be.PutUint32(hdr[offLastOffsetDelta:], uint32(lastOffsetDelta))
	be.PutUint64(hdr[offBaseTimestamp:], uint64(h.BaseTimestamp))
	be.PutUint64(hdr[offMaxTimestamp:], uint64(h.MaxTimestamp))
	be.PutUint64(hdr[offProducerID:], uint64(h.ProducerID))
	be.PutUint16(hdr[offProducerEpoch:], uint16(h.ProducerEpoch))
	be.PutUint32(hdr[offBaseSequence:], uint32(h.BaseSequence))
	be.PutUint32(hdr[offRecordsCount:], uint32(len(recs)))
	return assemble(hdr, codec, raw)
}

// Recompress returns a new batch with b's header fields and records, the
// records re-encoded with codec to (a topic's compression.type differing
// from the producer's, as Kafka's LogValidator recompresses). The records
// are parsed strictly first, so a malformed batch is refused rather than
// re-wrapped.
func Recompress(b Batch, to Codec) (Batch, error) {
	if err := b.EnsureValid(); err != nil {
		return nil, err
	}
	if !to.Valid() {
		return nil, fmt.Errorf("%w: unknown compression codec %d", ErrCorrupt, to)
	}
	raw, err := b.uncompressed(DefaultDecompressLimit)
	if err != nil {
		return nil, err
	}
	if err := forEachRecord(raw, b.NumRecords(), func(*Record) error { return nil }); err != nil {
		return nil, err
	}
	hdr := make(Batch, HeaderSize)
	copy(hdr, b[:HeaderSize])
	return assemble(hdr, to, raw)
}

// assemble appends raw records compressed with codec to the 61-byte header
// hdr, then sets the codec bits, batchLength and CRC.
func assemble(hdr Batch, codec Codec, raw []byte) (Batch, error) {
	body, err := Compress(codec, raw)
	if err != nil {
		return nil, err
	}
	size := HeaderSize + len(body)
	if size-logOverhead > math.MaxInt32 {
		return nil, fmt.Errorf("%w: batch of %d bytes", ErrRecordTooLarge, size)
	}
	b := make(Batch, size)
	copy(b, hdr)
	copy(b[HeaderSize:], body)
	attrs := b.Attributes()&^CompressionCodecMask | int16(codec)
	be.PutUint16(b[offAttributes:], uint16(attrs))
	be.PutUint32(b[offBatchLength:], uint32(size-logOverhead))
	be.PutUint32(b[offCRC:], b.ComputeCRC())
	return b, nil
}

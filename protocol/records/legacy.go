package records

// The legacy message format, magic 0 and 1 (Kafka LegacyRecord,
// AbstractLegacyRecordBatch), which Produce v0–v2 carry and Fetch v0–v3
// return. Riffle stores only v2 batches: produce requests in this format are
// up-converted and fetches down-converted, as Kafka 3.x does
// (legacy_convert.go).
//
// A message set is a sequence of log entries, big-endian:
//
//	offset        int64   absolute; in a magic 1 wrapper's inner set
//	                      relative to the first inner message (KIP-31)
//	messageSize   int32   bytes that follow in this entry
//	crc           uint32  CRC-32 (IEEE) of magic .. end of value
//	magic         int8    0 or 1
//	attributes    int8    bit 0-2 codec, bit 3 timestamp type (magic 1)
//	timestamp     int64   magic 1 only (KIP-32); -1: none
//	keyLength     int32   -1: null key
//	key           bytes
//	valueLength   int32   -1: null value
//	value         bytes
//
// A compressed set is one "wrapper" message whose value is the compressed
// concatenation of inner log entries, which must be uncompressed and of the
// wrapper's magic. The wrapper's offset is that of its last inner message;
// with magic 1 the wrapper's timestamp is the inner maximum (CreateTime) or
// the broker's append time (LogAppendTime, which then stands for every
// inner message).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/bits"
)

var (
	// ErrUnsupportedCompression: a codec the message format cannot carry,
	// zstd below magic 2 (Kafka UNSUPPORTED_COMPRESSION_TYPE, KIP-110).
	ErrUnsupportedCompression = errors.New("unsupported compression type")
	// ErrInvalidTimestamp: a producer claimed LogAppendTime (Kafka
	// INVALID_TIMESTAMP).
	ErrInvalidTimestamp = errors.New("invalid timestamp")
)

// Magic values of the legacy formats (Kafka RecordBatch.MAGIC_VALUE_V*).
const (
	MagicV0 int8 = 0
	MagicV1 int8 = 1
)

const (
	// legacyCRCOffset etc. are positions inside a log entry.
	legacyCRCOffset   = 12
	legacyMagicOffset = 16
	legacyAttrOffset  = 17
	// legacyOverheadV0 is crc, magic, attributes and the two length
	// fields (LegacyRecord.RECORD_OVERHEAD_V0); v1 adds the timestamp.
	legacyOverheadV0 = 14
	legacyOverheadV1 = 22
	// legacyTimestampTypeMask is attributes bit 3 (magic 1 only).
	legacyTimestampTypeMask int8 = 0x08
	// legacyCodecMask is attributes bits 0-2.
	legacyCodecMask int8 = 0x07
)

var ieee = crc32.IEEETable

// NoTimestamp is a message without a timestamp: every magic 0 message, and
// magic 1 messages whose producer set none (RecordBatch.NO_TIMESTAMP).
const NoTimestamp int64 = -1

// LegacyMessage is one magic 0 or 1 message. Key and Value alias the input;
// nil means null.
type LegacyMessage struct {
	Offset     int64
	Magic      int8
	Attributes int8
	Timestamp  int64 // NoTimestamp for magic 0
	Key, Value []byte
}

// Codec is the compression codec of a wrapper message; CodecNone for a plain
// message.
func (m *LegacyMessage) Codec() Codec { return Codec(m.Attributes & legacyCodecMask) }

// TimestampType is attributes bit 3, meaningful for magic 1 only.
func (m *LegacyMessage) TimestampType() TimestampType {
	if m.Magic > MagicV0 && m.Attributes&legacyTimestampTypeMask != 0 {
		return LogAppendTime
	}
	return CreateTime
}

// LegacyMagic reports the magic of the first entry of data when it is a
// legacy (0 or 1) entry. The magic byte sits at the same position (16) in a
// legacy log entry and in a v2 batch, which is how Kafka tells them apart.
func LegacyMagic(data []byte) (int8, bool) {
	if len(data) <= legacyMagicOffset {
		return 0, false
	}
	m := int8(data[legacyMagicOffset])
	return m, m == MagicV0 || m == MagicV1
}

// readLegacyEntry parses the log entry at the start of data into m and
// returns the bytes after it. It checks what LegacyRecord.ensureValid and
// ByteBufferLogInputStream check — a size of at least the v0 overhead, a
// magic of 0 or 1, the CRC — and, more strictly, that key and value fill the
// message exactly. A partial entry is ErrTruncated; anything else wrong is
// ErrCorrupt.
func readLegacyEntry(data []byte, m *LegacyMessage) ([]byte, error) {
	if len(data) < logOverhead {
		return data, fmt.Errorf("%w: %d bytes, need %d for a message header", ErrTruncated, len(data), logOverhead)
	}
	size := int32(be.Uint32(data[8:]))
	if size < legacyOverheadV0 {
		return data, fmt.Errorf("%w: message size %d below the minimum %d", ErrCorrupt, size, legacyOverheadV0)
	}
	if int64(size) > int64(len(data)-logOverhead) {
		return data, fmt.Errorf("%w: message of %d bytes, %d available", ErrTruncated, size, len(data)-logOverhead)
	}
	end := logOverhead + int(size)
	msg := data[:end]
	m.Offset = int64(be.Uint64(msg))
	m.Magic = int8(msg[legacyMagicOffset])
	m.Attributes = int8(msg[legacyAttrOffset])
	p := legacyAttrOffset + 1
	switch m.Magic {
	case MagicV0:
		m.Timestamp = NoTimestamp
	case MagicV1:
		if size < legacyOverheadV1 {
			return data, fmt.Errorf("%w: magic 1 message size %d below the minimum %d", ErrCorrupt, size, legacyOverheadV1)
		}
		m.Timestamp = int64(be.Uint64(msg[p:]))
		p += 8
	default:
		return data, fmt.Errorf("%w: %d in a message set", ErrUnsupportedMagic, m.Magic)
	}
	if stored, computed := be.Uint32(msg[legacyCRCOffset:]), crc32.Checksum(msg[legacyMagicOffset:], ieee); stored != computed {
		return data, fmt.Errorf("%w: message crc %#08x, computed %#08x", ErrCorrupt, stored, computed)
	}
	var ok bool
	if m.Key, p, ok = readLegacyBytes(msg, p); !ok {
		return data, fmt.Errorf("%w: bad message key length", ErrCorrupt)
	}
	if m.Value, p, ok = readLegacyBytes(msg, p); !ok {
		return data, fmt.Errorf("%w: bad message value length", ErrCorrupt)
	}
	if p != end {
		return data, fmt.Errorf("%w: message size %d, fields use %d", ErrCorrupt, size, p-logOverhead)
	}
	return data[end:], nil
}

// readLegacyBytes reads an int32 length (-1: null) and that many bytes.
func readLegacyBytes(b []byte, p int) ([]byte, int, bool) {
	if len(b)-p < 4 {
		return nil, p, false
	}
	n := int32(be.Uint32(b[p:]))
	p += 4
	switch {
	case n == -1:
		return nil, p, true
	case n < 0 || int64(n) > int64(len(b)-p):
		return nil, p, false
	}
	return b[p : p+int(n) : p+int(n)], p + int(n), true
}

// legacyEntrySize is the encoded size of m's log entry, offset and size
// fields included.
func legacyEntrySize(magic int8, key, value []byte) int {
	n := logOverhead + legacyOverheadV0 + len(key) + len(value)
	if magic > MagicV0 {
		n += 8
	}
	return n
}

// appendLegacyEntry appends m as a log entry (LegacyRecord.write) with a
// fresh CRC. The caller has checked that the message fits in an int32.
func appendLegacyEntry(dst []byte, m *LegacyMessage) []byte {
	size := legacyEntrySize(m.Magic, m.Key, m.Value) - logOverhead
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.Offset))
	dst = binary.BigEndian.AppendUint32(dst, uint32(size))
	crcAt := len(dst)
	dst = append(dst, 0, 0, 0, 0, byte(m.Magic), byte(m.Attributes))
	if m.Magic > MagicV0 {
		dst = binary.BigEndian.AppendUint64(dst, uint64(m.Timestamp))
	}
	dst = appendLegacyBytes(dst, m.Key)
	dst = appendLegacyBytes(dst, m.Value)
	be.PutUint32(dst[crcAt:], crc32.Checksum(dst[crcAt+4:], ieee))
	return dst
}

func appendLegacyBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.BigEndian.AppendUint32(dst, math.MaxUint32) // -1
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}

// AppendLegacyMessage appends m, uncompressed, as a log entry of a message
// set. It exists for building message sets in tests and tools; the broker
// itself writes them only through DownConvert.
func AppendLegacyMessage(dst []byte, m LegacyMessage) ([]byte, error) {
	if m.Magic != MagicV0 && m.Magic != MagicV1 {
		return dst, fmt.Errorf("%w: %d", ErrUnsupportedMagic, m.Magic)
	}
	if legacyEntrySize(m.Magic, m.Key, m.Value) > math.MaxInt32 {
		return dst, fmt.Errorf("%w: message too large", ErrRecordTooLarge)
	}
	return appendLegacyEntry(dst, &m), nil
}

// ForEachLegacyMessage calls fn with every message of a magic 0/1 message
// set in order, opening compressed wrappers (AbstractLegacyRecordBatch's
// deep iterator): inner messages get absolute offsets (KIP-31: for magic 1,
// wrapper offset − last inner offset + inner offset) and, under a
// LogAppendTime wrapper, the wrapper's timestamp. limit bounds each
// wrapper's decompressed size. A set that ends inside an entry is ErrCorrupt,
// as are bad CRCs; an inner message that is itself compressed, or whose
// magic differs from its wrapper's, is ErrInvalidRecord. The *LegacyMessage
// is reused between calls.
func ForEachLegacyMessage(data []byte, limit int, fn func(m *LegacyMessage) error) error {
	var m LegacyMessage
	for len(data) > 0 {
		rest, err := readLegacyEntry(data, &m)
		if err != nil {
			if errors.Is(err, ErrTruncated) {
				return fmt.Errorf("%w: trailing partial message: %v", ErrCorrupt, err)
			}
			return err
		}
		data = rest
		if m.Codec() == CodecNone {
			if err := fn(&m); err != nil {
				return err
			}
			continue
		}
		inner, err := openWrapper(&m, limit)
		if err != nil {
			return err
		}
		for i := range inner {
			if err := fn(&inner[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// openWrapper decompresses a wrapper message and returns its inner messages
// with absolute offsets and effective timestamps.
func openWrapper(w *LegacyMessage, limit int) ([]LegacyMessage, error) {
	codec := w.Codec()
	switch {
	case codec == CodecZstd:
		return nil, fmt.Errorf("%w: zstd needs magic 2 (KIP-110), message has magic %d", ErrUnsupportedCompression, w.Magic)
	case !codec.Valid():
		return nil, fmt.Errorf("%w: unknown compression codec %d", ErrCorrupt, codec)
	case w.Value == nil:
		// Kafka: "Found invalid compressed record set with null value".
		return nil, fmt.Errorf("%w: compressed message with a null value", ErrInvalidRecord)
	}
	src := w.Value
	if codec == CodecLZ4 && w.Magic == MagicV0 {
		src = fixLegacyLZ4Checksum(src)
	}
	raw, err := Decompress(codec, src, limit)
	if err != nil {
		return nil, err
	}
	var inner []LegacyMessage
	for len(raw) > 0 {
		var m LegacyMessage
		rest, err := readLegacyEntry(raw, &m)
		if err != nil {
			if errors.Is(err, ErrTruncated) {
				return nil, fmt.Errorf("%w: compressed message set ends inside a message: %v", ErrCorrupt, err)
			}
			return nil, err
		}
		raw = rest
		if m.Magic != w.Magic {
			return nil, fmt.Errorf("%w: inner message magic %d does not match wrapper magic %d", ErrInvalidRecord, m.Magic, w.Magic)
		}
		if m.Codec() != CodecNone {
			// LogValidator.validateRecordCompression.
			return nil, fmt.Errorf("%w: compressed outer record should not have an inner record with a compression attribute set", ErrInvalidRecord)
		}
		inner = append(inner, m)
	}
	if len(inner) == 0 {
		return nil, fmt.Errorf("%w: compressed message without inner messages", ErrInvalidRecord)
	}
	if w.Magic > MagicV0 {
		base := w.Offset - inner[len(inner)-1].Offset
		for i := range inner {
			inner[i].Offset += base
			if w.TimestampType() == LogAppendTime {
				inner[i].Timestamp = w.Timestamp
				inner[i].Attributes |= legacyTimestampTypeMask
			}
		}
	}
	return inner, nil
}

// fixLegacyLZ4Checksum returns src with the LZ4 frame's header checksum
// recomputed. Kafka before 0.10 (magic 0) computed it over the frame magic
// as well as the descriptor (KAFKA-3160), and Kafka still reads magic 0 LZ4
// with the checksum ignored; the LZ4 library here verifies it, so it is
// rewritten on a copy first. Anything that is not an LZ4 frame header is
// returned unchanged for the decoder to refuse.
func fixLegacyLZ4Checksum(src []byte) []byte {
	const magicLen = 4
	if len(src) < magicLen+3 || binary.LittleEndian.Uint32(src) != 0x184D2204 {
		return src
	}
	flg := src[magicLen]
	hc := magicLen + 2 // FLG, BD
	if flg&0x08 != 0 {
		hc += 8 // content size
	}
	if flg&0x01 != 0 {
		hc += 4 // dictionary id
	}
	if hc >= len(src) {
		return src
	}
	want := byte(xxh32(src[magicLen:hc]) >> 8)
	if src[hc] == want {
		return src
	}
	out := make([]byte, len(src))
	copy(out, src)
	out[hc] = want
	return out
}

// xxh32 is XXH32 with seed 0 for short inputs, enough for an LZ4 frame
// descriptor (at most 14 bytes).
func xxh32(b []byte) uint32 {
	const (
		p1 uint32 = 2654435761
		p2 uint32 = 2246822519
		p3 uint32 = 3266489917
		p4 uint32 = 668265263
		p5 uint32 = 374761393
	)
	if len(b) >= 16 {
		return 0 // never called with a descriptor this long
	}
	h := p5 + uint32(len(b))
	for ; len(b) >= 4; b = b[4:] {
		h += binary.LittleEndian.Uint32(b) * p3
		h = bits.RotateLeft32(h, 17) * p4
	}
	for _, c := range b {
		h += uint32(c) * p5
		h = bits.RotateLeft32(h, 11) * p1
	}
	h ^= h >> 15
	h *= p2
	h ^= h >> 13
	h *= p3
	h ^= h >> 16
	return h
}

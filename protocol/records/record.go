package records

import (
	"fmt"
	"math"
	"slices"
)

// DefaultDecompressLimit bounds the decompressed records section that
// Records, ForEachRecord and Recompress will materialise: 64 times Kafka's
// default max.message.bytes, far above what a producer's batch.size yields.
const DefaultDecompressLimit = 64 << 20

// minRecordSize is the smallest encoded record: seven one-byte fields.
const minRecordSize = 7

// Header is a record header (KIP-82). A nil Value is a null value.
type Header struct {
	Key   string
	Value []byte
}

// Record is one record of a batch. Key and Value alias the batch (or its
// decompressed records); nil means null.
type Record struct {
	Attributes     int8
	TimestampDelta int64
	OffsetDelta    int32
	Key, Value     []byte
	Headers        []Header
}

// Records decodes every record, decompressing the records section with
// DefaultDecompressLimit.
func (b Batch) Records() ([]Record, error) {
	return b.RecordsLimit(DefaultDecompressLimit)
}

// RecordsLimit is Records with an explicit bound on the decompressed size.
func (b Batch) RecordsLimit(limit int) ([]Record, error) {
	n := int(max(b.NumRecords(), 0))
	recs := make([]Record, 0, min(n, (len(b)-HeaderSize)/minRecordSize+1))
	err := b.ForEachRecordLimit(limit, func(r *Record) error {
		c := *r
		c.Headers = nil
		if len(r.Headers) > 0 {
			// ForEachRecord reuses r.Headers; each record needs its own.
			c.Headers = slices.Clone(r.Headers)
		}
		recs = append(recs, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return recs, nil
}

// ForEachRecord calls fn with each record in order, decompressing with
// DefaultDecompressLimit. The *Record is reused between calls; its Key,
// Value and header values stay valid as long as the batch does.
func (b Batch) ForEachRecord(fn func(r *Record) error) error {
	return b.ForEachRecordLimit(DefaultDecompressLimit, fn)
}

// ForEachRecordLimit is ForEachRecord with an explicit bound on the
// decompressed size. Parsing is as strict as Kafka's DefaultRecord.readFrom
// and DefaultRecordBatch.RecordIterator: every record's length must match its
// fields, and exactly NumRecords records must fill the section with no
// bytes left over. Violations are ErrCorrupt; an error from fn stops the walk
// and is returned as is.
func (b Batch) ForEachRecordLimit(limit int, fn func(r *Record) error) error {
	if len(b) < HeaderSize {
		return fmt.Errorf("%w: %d bytes, smaller than the %d-byte header", ErrCorrupt, len(b), HeaderSize)
	}
	data, err := b.uncompressed(limit)
	if err != nil {
		return err
	}
	return forEachRecord(data, b.NumRecords(), fn)
}

// uncompressed is the records section, decompressed when needed; limit
// bounds only decompression, as uncompressed records are already in memory.
func (b Batch) uncompressed(limit int) ([]byte, error) {
	if b.Codec() == CodecNone {
		return b[HeaderSize:], nil
	}
	return Decompress(b.Codec(), b[HeaderSize:], limit)
}

func forEachRecord(data []byte, count int32, fn func(r *Record) error) error {
	if count < 0 {
		return fmt.Errorf("%w: negative record count %d", ErrCorrupt, count)
	}
	var r Record
	for i := int32(0); i < count; i++ {
		n, err := parseRecord(data, &r)
		if err != nil {
			return fmt.Errorf("%w: record %d of %d: %s", ErrCorrupt, i, count, err)
		}
		data = data[n:]
		if err := fn(&r); err != nil {
			return err
		}
	}
	if len(data) != 0 {
		// Kafka: "Incorrect declared batch size, records still remaining".
		return fmt.Errorf("%w: %d bytes left after %d records", ErrCorrupt, len(data), count)
	}
	return nil
}

// parseError is a reason without a sentinel; forEachRecord wraps it.
type parseError string

func (e parseError) Error() string { return string(e) }

const (
	errShort        = parseError("record runs past the end of the records")
	errVarint       = parseError("malformed varint")
	errNegativeSize = parseError("negative record length")
)

// parseRecord decodes one record at the start of data into r and returns
// its encoded size. r.Headers is reused.
func parseRecord(data []byte, r *Record) (int, error) {
	length, n := varint(data)
	if n <= 0 {
		return 0, errVarint
	}
	if length < 0 {
		return 0, errNegativeSize
	}
	if int64(length) > int64(len(data)-n) {
		return 0, fmt.Errorf("record length %d, only %d bytes remain", length, len(data)-n)
	}
	total := n + int(length)
	body := data[n:total]
	p := 0
	if len(body) < 1 {
		return 0, errShort
	}
	r.Attributes = int8(body[0])
	p++
	var ok bool
	if r.TimestampDelta, p, ok = readVarlong(body, p); !ok {
		return 0, errVarint
	}
	if r.OffsetDelta, p, ok = readVarint(body, p); !ok {
		return 0, errVarint
	}
	if r.Key, p, ok = readBytes(body, p); !ok {
		return 0, fmt.Errorf("bad key at byte %d", p)
	}
	if r.Value, p, ok = readBytes(body, p); !ok {
		return 0, fmt.Errorf("bad value at byte %d", p)
	}
	var nh int32
	if nh, p, ok = readVarint(body, p); !ok {
		return 0, errVarint
	}
	// A header takes at least two bytes, which bounds the allocation.
	if nh < 0 || int(nh) > (len(body)-p)/2 {
		return 0, fmt.Errorf("invalid number of record headers %d", nh)
	}
	r.Headers = r.Headers[:0]
	if nh > 0 && r.Headers == nil {
		r.Headers = make([]Header, 0, nh)
	}
	for range nh {
		var key []byte
		if key, p, ok = readBytes(body, p); !ok || key == nil {
			return 0, fmt.Errorf("bad header key at byte %d", p)
		}
		var h Header
		h.Key = string(key)
		if h.Value, p, ok = readBytes(body, p); !ok {
			return 0, fmt.Errorf("bad header value at byte %d", p)
		}
		r.Headers = append(r.Headers, h)
	}
	if p != len(body) {
		return 0, fmt.Errorf("record length %d, fields use %d", len(body), p)
	}
	return total, nil
}

// readBytes reads a varint length and that many bytes; a negative length is
// null, as Kafka's DefaultRecord.readFrom treats it.
func readBytes(b []byte, p int) ([]byte, int, bool) {
	n, p, ok := readVarint(b, p)
	if !ok {
		return nil, p, false
	}
	if n < 0 {
		return nil, p, true
	}
	if int(n) > len(b)-p {
		return nil, p, false
	}
	return b[p : p+int(n) : p+int(n)], p + int(n), true
}

func readVarint(b []byte, p int) (int32, int, bool) {
	v, n := varint(b[p:])
	if n <= 0 {
		return 0, p, false
	}
	return v, p + n, true
}

func readVarlong(b []byte, p int) (int64, int, bool) {
	v, n := varlong(b[p:])
	if n <= 0 {
		return 0, p, false
	}
	return v, p + n, true
}

// varint decodes a zigzag int32 of at most five bytes (Kafka
// ByteUtils.readVarint: longer is "Varint is too long"; like Kafka, bits past
// 32 in the fifth byte are dropped). n <= 0 on error.
func varint(b []byte) (int32, int) {
	var u uint32
	for i := 0; i < 5; i++ {
		if i >= len(b) {
			return 0, 0
		}
		c := b[i]
		u |= uint32(c&0x7f) << (7 * i)
		if c < 0x80 {
			return int32(u>>1) ^ -int32(u&1), i + 1
		}
	}
	return 0, -1
}

// varlong decodes a zigzag int64 of at most ten bytes (ByteUtils.readVarlong).
func varlong(b []byte) (int64, int) {
	var u uint64
	for i := 0; i < 10; i++ {
		if i >= len(b) {
			return 0, 0
		}
		c := b[i]
		u |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return int64(u>>1) ^ -int64(u&1), i + 1
		}
	}
	return 0, -1
}

func appendVarint(dst []byte, v int32) []byte {
	return appendUvarint(dst, uint64(uint32(v<<1)^uint32(v>>31)))
}

func appendVarlong(dst []byte, v int64) []byte {
	return appendUvarint(dst, uint64(v<<1)^uint64(v>>63))
}

func appendUvarint(dst []byte, u uint64) []byte {
	for u >= 0x80 {
		dst = append(dst, byte(u)|0x80)
		u >>= 7
	}
	return append(dst, byte(u))
}

func sizeUvarint(u uint64) int {
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

func sizeVarint(v int32) int  { return sizeUvarint(uint64(uint32(v<<1) ^ uint32(v>>31))) }
func sizeVarlong(v int64) int { return sizeUvarint(uint64(v<<1) ^ uint64(v>>63)) }

func appendNullableBytes(dst, b []byte) []byte {
	if b == nil {
		return appendVarint(dst, -1)
	}
	dst = appendVarint(dst, int32(len(b)))
	return append(dst, b...)
}

func sizeNullableBytes(b []byte) int {
	if b == nil {
		return 1
	}
	return sizeVarint(int32(len(b))) + len(b)
}

// bodySize is the encoded size of r after its length prefix.
func (r *Record) bodySize() (int, error) {
	if len(r.Key) > math.MaxInt32 || len(r.Value) > math.MaxInt32 || len(r.Headers) > math.MaxInt32 {
		return 0, fmt.Errorf("%w: record field too long", ErrRecordTooLarge)
	}
	n := 1 + sizeVarlong(r.TimestampDelta) + sizeVarint(r.OffsetDelta) +
		sizeNullableBytes(r.Key) + sizeNullableBytes(r.Value) + sizeVarint(int32(len(r.Headers)))
	for i := range r.Headers {
		h := &r.Headers[i]
		if len(h.Key) > math.MaxInt32 || len(h.Value) > math.MaxInt32 {
			return 0, fmt.Errorf("%w: record header too long", ErrRecordTooLarge)
		}
		n += sizeVarint(int32(len(h.Key))) + len(h.Key) + sizeNullableBytes(h.Value)
	}
	if n > math.MaxInt32 {
		return 0, fmt.Errorf("%w: record of %d bytes", ErrRecordTooLarge, n)
	}
	return n, nil
}

// AppendTo appends r in the v2 record encoding (Kafka DefaultRecord).
func (r *Record) AppendTo(dst []byte) ([]byte, error) {
	n, err := r.bodySize()
	if err != nil {
		return dst, err
	}
	dst = appendVarint(dst, int32(n))
	dst = append(dst, byte(r.Attributes))
	dst = appendVarlong(dst, r.TimestampDelta)
	dst = appendVarint(dst, r.OffsetDelta)
	dst = appendNullableBytes(dst, r.Key)
	dst = appendNullableBytes(dst, r.Value)
	dst = appendVarint(dst, int32(len(r.Headers)))
	for i := range r.Headers {
		h := &r.Headers[i]
		dst = appendVarint(dst, int32(len(h.Key)))
		dst = append(dst, h.Key...)
		dst = appendNullableBytes(dst, h.Value)
	}
	return dst, nil
}

package coordinator

// A minimal encoder and bounds-checked decoder for the flexible
// (KIP-482) record schemas of KIP-848 groups, which kmsg does not carry.
// Decoding never panics: every read checks the remaining length.

import (
	"encoding/binary"
	"errors"
)

var errShortRecord = errors.New("record truncated or malformed")

type wbuf []byte

func (b wbuf) int8(v int8) wbuf   { return append(b, byte(v)) }
func (b wbuf) int16(v int16) wbuf { return binary.BigEndian.AppendUint16(b, uint16(v)) }
func (b wbuf) int32(v int32) wbuf { return binary.BigEndian.AppendUint32(b, uint32(v)) }
func (b wbuf) uvarint(v uint64) wbuf {
	return binary.AppendUvarint(b, v)
}

// str is a non-flexible (int16-length) string, as in record keys.
func (b wbuf) str(s string) wbuf { return append(b.int16(int16(len(s))), s...) }

func (b wbuf) compactString(s string) wbuf { return append(b.uvarint(uint64(len(s))+1), s...) }

func (b wbuf) compactNullableString(s *string) wbuf {
	if s == nil {
		return b.uvarint(0)
	}
	return b.compactString(*s)
}

func (b wbuf) uuid(id [16]byte) wbuf { return append(b, id[:]...) }
func (b wbuf) arrayLen(n int) wbuf   { return b.uvarint(uint64(n) + 1) }
func (b wbuf) noTags() wbuf          { return b.uvarint(0) }

// topicPartitions writes []TopicPartitions {TopicId, Partitions, tags}.
func (b wbuf) topicPartitions(set map[tp]bool) wbuf {
	a := fromSet(set)
	ids := sortedTopicIDs(a)
	b = b.arrayLen(len(ids))
	for _, id := range ids {
		b = b.uuid(id).arrayLen(len(a[id]))
		for _, p := range a[id] {
			b = b.int32(p)
		}
		b = b.noTags()
	}
	return b
}

type rbuf struct {
	b   []byte
	err error
}

func (r *rbuf) take(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		r.err = errShortRecord
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *rbuf) int8() int8 {
	v := r.take(1)
	if v == nil {
		return 0
	}
	return int8(v[0])
}

func (r *rbuf) int16() int16 {
	v := r.take(2)
	if v == nil {
		return 0
	}
	return int16(binary.BigEndian.Uint16(v))
}

func (r *rbuf) int32() int32 {
	v := r.take(4)
	if v == nil {
		return 0
	}
	return int32(binary.BigEndian.Uint32(v))
}

func (r *rbuf) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShortRecord
		return 0
	}
	r.b = r.b[n:]
	return v
}

// length reads a compact length (n+1 encoding); -1 is null.
func (r *rbuf) length() int {
	v := r.uvarint()
	if v > uint64(len(r.b))+1 {
		// No element is smaller than a byte: a longer claim is bogus.
		r.err = errShortRecord
		return -1
	}
	return int(v) - 1
}

func (r *rbuf) str() string {
	n := r.int16()
	return string(r.take(int(n)))
}

func (r *rbuf) compactString() string {
	n := r.length()
	if n < 0 {
		return ""
	}
	return string(r.take(n))
}

func (r *rbuf) compactNullableString() *string {
	n := r.length()
	if n < 0 || r.err != nil {
		return nil
	}
	s := string(r.take(n))
	return &s
}

func (r *rbuf) uuid() (id [16]byte) {
	copy(id[:], r.take(16))
	return id
}

func (r *rbuf) skipTags() {
	n := r.uvarint()
	for i := uint64(0); i < n && r.err == nil; i++ {
		r.uvarint()
		r.take(int(r.uvarint()))
	}
}

func (r *rbuf) topicPartitions() map[tp]bool {
	out := map[tp]bool{}
	n := r.length()
	for i := 0; i < n && r.err == nil; i++ {
		id := r.uuid()
		np := r.length()
		for j := 0; j < np && r.err == nil; j++ {
			out[tp{id, r.int32()}] = true
		}
		r.skipTags()
	}
	return out
}

func (r *rbuf) int64() int64 {
	v := r.take(8)
	if v == nil {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

// nullableStr is a non-flexible string whose length -1 means null.
func (r *rbuf) nullableStr() *string {
	n := r.int16()
	if n < 0 {
		return nil
	}
	s := string(r.take(int(n)))
	return &s
}

func (r *rbuf) bytes() []byte {
	n := r.int32()
	if n < 0 {
		return nil
	}
	return append([]byte(nil), r.take(int(n))...)
}

func (r *rbuf) compactBytes() []byte {
	n := r.length()
	if n < 0 {
		return nil
	}
	return append([]byte(nil), r.take(n)...)
}

// arrayLen reads a non-flexible array length, bounded by what remains.
func (r *rbuf) arrayLen() int {
	n := r.int32()
	if n < 0 || int(n) > len(r.b) {
		if n > 0 {
			r.err = errShortRecord
		}
		return 0
	}
	return int(n)
}

package main

// Record batches (magic v2) built with kmsg's RecordBatch and Record encoders,
// valid ones and corrupt ones. Every corrupt batch gets a correct CRC-32C
// (except the crc-mismatch variant), so a broker that only checks the CRC
// cannot tell it apart: the corruption must be caught the way Kafka's
// LogValidator and DefaultRecordBatch catch it, by walking the records.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/rand"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Compression codecs as the low three attribute bits name them; xerial is
// snappy (2) in xerial's framing, which Kafka's SnappyInputStream also reads.
const (
	codecNone   = 0
	codecGzip   = 1
	codecSnappy = 2
	codecLZ4    = 3
	codecZstd   = 4
	codecXerial = 0x102 // snappy on the wire; our marker for the framing
)

var codecNames = map[int]string{codecNone: "none", codecGzip: "gzip", codecSnappy: "snappy",
	codecLZ4: "lz4", codecZstd: "zstd", codecXerial: "xerial"}

var allCodecs = []int{codecNone, codecGzip, codecSnappy, codecXerial, codecLZ4, codecZstd}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// batch is one generated batch: its bytes, whether a Kafka broker must
// accept it, and how many records a consumer will see when it is accepted.
type batch struct {
	variant string
	valid   bool
	records int
	codec   int
	bytes   []byte
}

// genRecords makes n records with random keys, values and headers. Values are
// random bytes, so compressed payloads are about as long as the records:
// cutting one in the middle loses records for certain.
func genRecords(rng *rand.Rand, n int) []kmsg.Record {
	recs := make([]kmsg.Record, n)
	for i := range recs {
		r := &recs[i]
		r.TimestampDelta64 = int64(i)
		r.OffsetDelta = int32(i)
		if rng.Intn(4) > 0 {
			r.Key = randBytes(rng, rng.Intn(32))
		}
		if rng.Intn(8) > 0 {
			r.Value = randBytes(rng, rng.Intn(600))
		}
		for h := rng.Intn(3); h > 0; h-- {
			r.Headers = append(r.Headers, kmsg.Header{Key: fmt.Sprintf("h%d", h), Value: randBytes(rng, rng.Intn(16))})
		}
	}
	return recs
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	rng.Read(b)
	return b
}

// appendRecord appends one record with its length prefix computed from the
// kmsg encoding of the rest (kmsg writes whatever Length says).
func appendRecord(dst []byte, r kmsg.Record) []byte {
	r.Length = 0
	body := r.AppendTo(nil)[1:] // varint 0 is one byte
	dst = binary.AppendVarint(dst, int64(len(body)))
	return append(dst, body...)
}

func encodeRecords(recs []kmsg.Record) []byte {
	var b []byte
	for _, r := range recs {
		b = appendRecord(b, r)
	}
	return b
}

// compress returns raw compressed with codec; the writers are the ones
// franz-go's producer uses.
func compress(codec int, raw []byte) []byte {
	var buf bytes.Buffer
	switch codec {
	case codecNone:
		return raw
	case codecSnappy:
		return snappy.Encode(nil, raw)
	case codecXerial:
		return xerialFrame(raw)
	}
	w := compressWriter(codec, &buf)
	w.Write(raw)
	w.Close()
	return buf.Bytes()
}

func compressWriter(codec int, w io.Writer) io.WriteCloser {
	switch codec {
	case codecGzip:
		return gzip.NewWriter(w)
	case codecLZ4:
		return lz4.NewWriter(w)
	case codecZstd:
		z, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		if err != nil {
			panic(err) // only for invalid options
		}
		return z
	case codecXerial:
		return &xerialWriter{w: w}
	}
	panic(fmt.Sprintf("no stream writer for codec %d", codec))
}

// xerialHeader is snappy-java's stream header: magic, version 1, compatible 1.
var xerialHeader = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}

// xerialFrame frames raw as snappy-java's SnappyOutputStream does: the
// header, then blocks of up to 32 KiB, each a big-endian length and a raw
// snappy block.
func xerialFrame(raw []byte) []byte {
	var buf bytes.Buffer
	w := &xerialWriter{w: &buf}
	w.Write(raw)
	w.Close()
	return buf.Bytes()
}

type xerialWriter struct {
	w      io.Writer
	header bool
}

func (x *xerialWriter) Write(p []byte) (int, error) {
	if !x.header {
		x.header = true
		x.w.Write(xerialHeader)
	}
	n := len(p)
	for len(p) > 0 {
		chunk := p[:min(len(p), 32<<10)]
		p = p[len(chunk):]
		block := snappy.Encode(nil, chunk)
		x.w.Write(binary.BigEndian.AppendUint32(nil, uint32(len(block))))
		x.w.Write(block)
	}
	return n, nil
}

func (x *xerialWriter) Close() error { return nil }

// wireCodec is the codec as the batch attributes name it.
func wireCodec(codec int) int16 {
	if codec == codecXerial {
		return codecSnappy
	}
	return int16(codec)
}

// header holds the batch fields a variant may falsify; finish encodes the
// batch with kmsg and sets Length and the CRC over the bytes as they are.
type header struct {
	baseOffset      int64
	magic           int8
	attributes      int16
	lastOffsetDelta int32
	numRecords      int32
	producerID      int64
	producerEpoch   int16
	firstSequence   int32
	lengthDelta     int32 // added to the true Length
	badCRC          bool
}

func newHeader(codec, n int) header {
	return header{magic: 2, attributes: wireCodec(codec), lastOffsetDelta: int32(n - 1),
		numRecords: int32(n), producerID: -1, producerEpoch: -1, firstSequence: -1}
}

func finish(h header, payload []byte, ts int64) []byte {
	rb := kmsg.RecordBatch{
		FirstOffset:          h.baseOffset,
		PartitionLeaderEpoch: -1,
		Magic:                h.magic,
		Attributes:           h.attributes,
		LastOffsetDelta:      h.lastOffsetDelta,
		FirstTimestamp:       ts,
		MaxTimestamp:         ts + int64(max(h.lastOffsetDelta, 0)),
		ProducerID:           h.producerID,
		ProducerEpoch:        h.producerEpoch,
		FirstSequence:        h.firstSequence,
		NumRecords:           h.numRecords,
		Records:              payload,
	}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:12], uint32(int32(len(b)-12)+h.lengthDelta))
	crc := crc32.Checksum(b[21:], castagnoli)
	if h.badCRC {
		crc ^= 0x5a5a
	}
	binary.BigEndian.PutUint32(b[17:21], crc)
	return b
}

// bombs caches decompression bombs per codec: a small compressed payload of
// zeros that inflates to bombSize(codec) bytes. Zeros are no valid record (a
// record length of 0 is refused), so a validator that streams stops at once;
// one that inflates first allocates the whole size.
type bombCache struct {
	once  [5]sync.Once
	bytes [5][]byte
	scale int // divides the sizes; tests use a large one
}

var bombs = &bombCache{scale: 1}

func bombSize(codec int) int64 {
	switch codec {
	case codecGzip:
		return 256 << 20
	case codecZstd:
		return 1 << 30
	case codecLZ4:
		return 128 << 20
	}
	return 16 << 20 // snappy, xerial: about 1/20, keeps it under max.message.bytes
}

func bombIndex(codec int) int {
	if codec == codecXerial {
		return 0
	}
	return codec
}

func (c *bombCache) get(codec int) []byte {
	i := bombIndex(codec)
	c.once[i].Do(func() {
		size := bombSize(codec) / int64(c.scale)
		if codec == codecSnappy {
			c.bytes[i] = snappy.Encode(nil, make([]byte, size))
			return
		}
		var buf bytes.Buffer
		w := compressWriter(codec, &buf)
		zeros := make([]byte, 1<<20)
		for left := size; left > 0; left -= int64(len(zeros)) {
			w.Write(zeros[:min(left, int64(len(zeros)))])
		}
		w.Close()
		c.bytes[i] = buf.Bytes()
	})
	return c.bytes[i]
}

// variant builds one kind of batch from rng.
type variant struct {
	name  string
	valid bool
	build func(rng *rand.Rand, codec int, ts int64) (payload []byte, h header, n int)
}

// compressedCodecs are the codecs whose payload can be garbage, truncated or a bomb.
var compressedCodecs = []int{codecGzip, codecSnappy, codecXerial, codecLZ4, codecZstd}

func plain(rng *rand.Rand, codec int) ([]kmsg.Record, []byte, header) {
	n := 1 + rng.Intn(8)
	recs := genRecords(rng, n)
	return recs, encodeRecords(recs), newHeader(codec, n)
}

var variants = []variant{
	{"valid", true, func(rng *rand.Rand, codec int, _ int64) ([]byte, header, int) {
		_, raw, h := plain(rng, codec)
		return compress(codec, raw), h, int(h.numRecords)
	}},
	// Kafka refuses a v2 batch from a client whose base offset is not 0
	// (UnifiedLog.analyzeAndValidateRecords: INVALID_RECORD).
	{"nonzero-base-offset", false, func(rng *rand.Rand, codec int, _ int64) ([]byte, header, int) {
		_, raw, h := plain(rng, codec)
		h.baseOffset = 1 + rng.Int63n(1<<40)
		return compress(codec, raw), h, int(h.numRecords)
	}},
	{"garbage-payload", false, func(rng *rand.Rand, codec int, _ int64) ([]byte, header, int) {
		n := 1 + rng.Intn(8)
		return randBytes(rng, 1+rng.Intn(2000)), newHeader(codec, n), n
	}},
	{"truncated-payload", false, func(rng *rand.Rand, codec int, _ int64) ([]byte, header, int) {
		_, raw, h := plain(rng, codec)
		c := compress(codec, raw)
		cut := len(c)/4 + rng.Intn(len(c)/2+1)
		return c[:cut], h, int(h.numRecords)
	}},
	{"bomb", false, func(rng *rand.Rand, codec int, _ int64) ([]byte, header, int) {
		return bombs.get(codec), newHeader(codec, 1), 1
	}},
	{"count-inconsistent", false, func(rng *rand.Rand, codec int, _ int64) ([]byte, header, int) {
		_, raw, h := plain(rng, codec)
		h.lastOffsetDelta = h.numRecords // NumRecords != LastOffsetDelta+1
		return compress(codec, raw), h, int(h.numRecords)
	}},
	{"count-more-than-records", false, func(rng *rand.Rand, codec int, _ int64) ([]byte, header, int) {
		_, raw, h := plain(rng, codec)
		h.numRecords++
		h.lastOffsetDelta++
		return compress(codec, raw), h, int(h.numRecords)
	}},
	{"count-fewer-than-records", false, func(rng *rand.Rand, codec int, _ int64) ([]byte, header, int) {
		recs := genRecords(rng, 2+rng.Intn(6))
		h := newHeader(codec, len(recs)-1)
		return compress(codec, encodeRecords(recs)), h, len(recs)
	}},
	{"count-zero", false, func(rng *rand.Rand, codec int, _ int64) ([]byte, header, int) {
		_, raw, h := plain(rng, codec)
		h.numRecords, h.lastOffsetDelta = 0, -1
		return compress(codec, raw), h, 0
	}},
	{"count-huge", false, func(rng *rand.Rand, codec int, _ int64) ([]byte, header, int) {
		_, raw, h := plain(rng, codec)
		h.numRecords, h.lastOffsetDelta = math.MaxInt32, math.MaxInt32-1
		return compress(codec, raw), h, 1
	}},
	{"record-length-overrun", false, func(rng *rand.Rand, codec int, _ int64) ([]byte, header, int) {
		recs, _, h := plain(rng, codec)
		raw := encodeRecords(recs)
		_, k := binary.Varint(raw)
		out := binary.AppendVarint(nil, int64(len(raw))+int64(rng.Intn(1000)))
		return compress(codec, append(out, raw[k:]...)), h, int(h.numRecords)
	}},
	{"record-trailing-bytes", false, func(rng *rand.Rand, codec int, _ int64) ([]byte, header, int) {
		recs, _, h := plain(rng, codec)
		var raw []byte
		for i, r := range recs {
			if i != len(recs)-1 {
				raw = appendRecord(raw, r)
				continue
			}
			r.Length = 0
			body := append(r.AppendTo(nil)[1:], 1, 2, 3)
			raw = binary.AppendVarint(raw, int64(len(body)))
			raw = append(raw, body...)
		}
		return compress(codec, raw), h, int(h.numRecords)
	}},
	{"record-bad-header-count", false, func(rng *rand.Rand, codec int, _ int64) ([]byte, header, int) {
		// One record whose header count is negative or far beyond its bytes.
		r := genRecords(rng, 1)[0]
		r.Headers = nil
		r.Length = 0
		body := r.AppendTo(nil)[1:]
		body = body[:len(body)-1] // the header count varint 0
		counts := []int64{-1, -7, math.MaxInt32, 1000}
		body = binary.AppendVarint(body, counts[rng.Intn(len(counts))])
		raw := binary.AppendVarint(nil, int64(len(body)))
		return compress(codec, append(raw, body...)), newHeader(codec, 1), 1
	}},
	{"batch-trailing-garbage", false, func(rng *rand.Rand, codec int, _ int64) ([]byte, header, int) {
		_, raw, h := plain(rng, codec)
		raw = append(raw, randBytes(rng, 1+rng.Intn(64))...)
		return compress(codec, raw), h, int(h.numRecords)
	}},
	{"unknown-codec", false, func(rng *rand.Rand, _ int, _ int64) ([]byte, header, int) {
		_, raw, h := plain(rng, codecNone)
		h.attributes = int16(5 + rng.Intn(3)) // 5, 6, 7 name no codec
		return raw, h, int(h.numRecords)
	}},
	{"control-batch", false, func(rng *rand.Rand, codec int, _ int64) ([]byte, header, int) {
		_, raw, h := plain(rng, codec)
		h.attributes |= 0x20 // clients may not write control batches
		return compress(codec, raw), h, int(h.numRecords)
	}},
	{"bad-magic", false, func(rng *rand.Rand, codec int, _ int64) ([]byte, header, int) {
		_, raw, h := plain(rng, codec)
		h.magic = []int8{0, 1, 3, -1}[rng.Intn(4)]
		return compress(codec, raw), h, int(h.numRecords)
	}},
	{"idempotent-negative-sequence", false, func(rng *rand.Rand, codec int, _ int64) ([]byte, header, int) {
		_, raw, h := plain(rng, codec)
		h.producerID, h.producerEpoch, h.firstSequence = 1+rng.Int63n(1<<30), 0, -1
		return compress(codec, raw), h, int(h.numRecords)
	}},
	{"length-overrun", false, func(rng *rand.Rand, codec int, _ int64) ([]byte, header, int) {
		_, raw, h := plain(rng, codec)
		h.lengthDelta = 1 + int32(rng.Intn(1<<20))
		return compress(codec, raw), h, int(h.numRecords)
	}},
	{"crc-mismatch", false, func(rng *rand.Rand, codec int, _ int64) ([]byte, header, int) {
		_, raw, h := plain(rng, codec)
		h.badCRC = true
		return compress(codec, raw), h, int(h.numRecords)
	}},
}

// codecMatters says whether the variant is generated for every codec; the
// rest take their codec from the variant itself.
func codecMatters(v variant) bool { return v.name != "unknown-codec" }

// genBatch builds a batch of the named variant (random when "") and codec
// (random when < 0). ts is the first timestamp (ms).
func genBatch(rng *rand.Rand, name string, codec int, ts int64) batch {
	var v variant
	if name == "" {
		v = variants[rng.Intn(len(variants))]
	} else {
		for _, c := range variants {
			if c.name == name {
				v = c
			}
		}
	}
	if codec < 0 {
		pool := allCodecs
		if v.name == "garbage-payload" || v.name == "truncated-payload" || v.name == "bomb" {
			pool = compressedCodecs
		}
		codec = pool[rng.Intn(len(pool))]
	}
	payload, h, n := v.build(rng, codec, ts)
	label := v.name
	if codecMatters(v) {
		label += "/" + codecNames[codec]
	} else {
		label += fmt.Sprintf("/codec%d", h.attributes&7)
	}
	return batch{variant: label, valid: v.valid, records: n, codec: int(h.attributes & 7), bytes: finish(h, payload, ts)}
}

// twoBatches is a request payload with two valid batches: Kafka takes exactly
// one batch per partition in a v3+ produce (ProduceRequest.validateRecords).
func twoBatches(rng *rand.Rand, ts int64) batch {
	a := genBatch(rng, "valid", codecNone, ts)
	b := genBatch(rng, "valid", codecNone, ts)
	return batch{variant: "two-batches/none", bytes: append(a.bytes, b.bytes...)}
}

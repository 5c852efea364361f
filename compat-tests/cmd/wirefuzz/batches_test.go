package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// validate is an independent reading of a v2 batch by Kafka's rules
// (DefaultRecordBatch.ensureValid, LogValidator.validateBatch, DefaultRecord
// .readFrom): it returns the number of records or why Kafka would refuse it.
func validate(b []byte) (int, error) {
	if len(b) < 61 {
		return 0, errors.New("shorter than a batch header")
	}
	if l := int(int32(binary.BigEndian.Uint32(b[8:12]))); l != len(b)-12 {
		return 0, fmt.Errorf("length %d, %d bytes follow", l, len(b)-12)
	}
	if base := int64(binary.BigEndian.Uint64(b)); base != 0 {
		return 0, fmt.Errorf("base offset %d from a client", base)
	}
	if b[16] != 2 {
		return 0, fmt.Errorf("magic %d", int8(b[16]))
	}
	if crc32.Checksum(b[21:], castagnoli) != binary.BigEndian.Uint32(b[17:21]) {
		return 0, errors.New("crc mismatch")
	}
	attrs := binary.BigEndian.Uint16(b[21:23])
	if attrs&0x20 != 0 {
		return 0, errors.New("control batch from a client")
	}
	lastDelta := int32(binary.BigEndian.Uint32(b[23:27]))
	pid := int64(binary.BigEndian.Uint64(b[43:51]))
	seq := int32(binary.BigEndian.Uint32(b[53:57]))
	count := int32(binary.BigEndian.Uint32(b[57:61]))
	if count <= 0 || lastDelta+1 != count {
		return 0, fmt.Errorf("record count %d with last offset delta %d", count, lastDelta)
	}
	if pid >= 0 && seq < 0 {
		return 0, errors.New("producer id with a negative sequence")
	}
	raw, err := decompress(int(attrs&7), b[61:], 64<<20)
	if err != nil {
		return 0, err
	}
	for i := int32(0); i < count; i++ {
		if raw, err = readRecord(raw); err != nil {
			return 0, fmt.Errorf("record %d: %w", i, err)
		}
	}
	if len(raw) != 0 {
		return 0, fmt.Errorf("%d bytes after the last record", len(raw))
	}
	return int(count), nil
}

func decompress(codec int, p []byte, limit int64) ([]byte, error) {
	var r io.Reader
	switch codec {
	case codecNone:
		return p, nil
	case codecGzip:
		z, err := gzip.NewReader(bytes.NewReader(p))
		if err != nil {
			return nil, fmt.Errorf("decompress: %w", err)
		}
		r = z
	case codecSnappy:
		if bytes.HasPrefix(p, xerialHeader) {
			var out []byte
			for p = p[len(xerialHeader):]; len(p) > 0; {
				if len(p) < 4 || int(binary.BigEndian.Uint32(p)) > len(p)-4 {
					return nil, errors.New("decompress: xerial block cut")
				}
				n := int(binary.BigEndian.Uint32(p))
				blk, err := snappy.Decode(nil, p[4:4+n])
				if err != nil {
					return nil, fmt.Errorf("decompress: %w", err)
				}
				out, p = append(out, blk...), p[4+n:]
			}
			return out, nil
		}
		if n, err := snappy.DecodedLen(p); err != nil || int64(n) > limit {
			return nil, fmt.Errorf("decompress: snappy length %d: %v", n, err)
		}
		out, err := snappy.Decode(nil, p)
		if err != nil {
			return nil, fmt.Errorf("decompress: %w", err)
		}
		return out, nil
	case codecLZ4:
		r = lz4.NewReader(bytes.NewReader(p))
	case codecZstd:
		z, err := zstd.NewReader(bytes.NewReader(p))
		if err != nil {
			return nil, err
		}
		defer z.Close()
		r = z
	default:
		return nil, fmt.Errorf("unknown codec %d", codec)
	}
	out, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	if int64(len(out)) > limit {
		return nil, errors.New("decompress: inflates past the limit")
	}
	return out, nil
}

func readRecord(b []byte) ([]byte, error) {
	length, n := binary.Varint(b)
	if n <= 0 || length <= 0 || length > int64(len(b)-n) {
		return nil, fmt.Errorf("record length %d with %d bytes left", length, len(b)-max(n, 0))
	}
	rec, rest := b[n:n+int(length)], b[n+int(length):]
	rec = rec[1:] // attributes
	field := func(nullable bool) error {
		l, k := binary.Varint(rec)
		if k <= 0 || l < -1 || (l == -1 && !nullable) || l > int64(len(rec)-k) {
			return fmt.Errorf("field length %d", l)
		}
		rec = rec[k+int(max(l, 0)):]
		return nil
	}
	for _, skip := range []int{0, 0} { // timestamp and offset deltas
		_, k := binary.Varint(rec)
		if k <= 0 {
			return nil, errors.New("bad varint")
		}
		rec = rec[k+skip:]
	}
	if err := field(true); err != nil { // key
		return nil, err
	}
	if err := field(true); err != nil { // value
		return nil, err
	}
	headers, k := binary.Varint(rec)
	if k <= 0 || headers < 0 || headers > int64(len(rec)) {
		return nil, fmt.Errorf("header count %d", headers)
	}
	rec = rec[k:]
	for i := int64(0); i < headers; i++ {
		if err := field(false); err != nil {
			return nil, err
		}
		if err := field(true); err != nil {
			return nil, err
		}
	}
	if len(rec) != 0 {
		return nil, fmt.Errorf("%d bytes left inside the record", len(rec))
	}
	return rest, nil
}

// wantErr is part of the reason validate must give for each corrupt variant.
var wantErr = map[string]string{
	"nonzero-base-offset":          "base offset",
	"garbage-payload":              "",
	"truncated-payload":            "",
	"bomb":                         "record 0: record length 0",
	"count-inconsistent":           "record count",
	"count-more-than-records":      "record",
	"count-fewer-than-records":     "after the last record",
	"count-zero":                   "record count 0",
	"count-huge":                   "record",
	"record-length-overrun":        "record 0: record length",
	"record-trailing-bytes":        "bytes left inside the record",
	"record-bad-header-count":      "header",
	"batch-trailing-garbage":       "",
	"unknown-codec":                "unknown codec",
	"control-batch":                "control batch",
	"bad-magic":                    "magic",
	"idempotent-negative-sequence": "negative sequence",
	"length-overrun":               "length",
	"crc-mismatch":                 "crc mismatch",
}

func TestVariants(t *testing.T) {
	saved := bombs
	bombs = &bombCache{scale: 256} // the same streams, 256 times shorter
	defer func() { bombs = saved }()
	for _, v := range variants {
		for _, codec := range allCodecs {
			if v.name == "bomb" && codec == codecNone || !codecMatters(v) && codec != codecNone {
				continue
			}
			for seed := int64(0); seed < 20; seed++ {
				b := genBatch(rand.New(rand.NewSource(seed)), v.name, codec, 1700000000000)
				n, err := validate(b.bytes)
				if v.valid {
					if err != nil || n != b.records {
						t.Fatalf("%s seed %d: valid batch: %d records (want %d), %v", b.variant, seed, n, b.records, err)
					}
					continue
				}
				if err == nil {
					t.Fatalf("%s seed %d: corrupt batch passes validation", b.variant, seed)
				}
				if !strings.Contains(err.Error(), wantErr[v.name]) {
					t.Fatalf("%s seed %d: refused for %q, want %q", b.variant, seed, err, wantErr[v.name])
				}
				// The CRC is right unless the variant is about the CRC: a
				// broker cannot lean on it.
				crcOK := crc32.Checksum(b.bytes[21:], castagnoli) == binary.BigEndian.Uint32(b.bytes[17:21])
				if crcOK == (v.name == "crc-mismatch") {
					t.Fatalf("%s seed %d: CRC valid = %v", b.variant, seed, crcOK)
				}
				if got := int(binary.BigEndian.Uint16(b.bytes[21:23]) & 7); v.name != "unknown-codec" && got != int(wireCodec(codec)) {
					t.Fatalf("%s: codec bits %d, want %d", b.variant, got, wireCodec(codec))
				}
			}
		}
	}
}

// A bomb is small on the wire and inflates to its full size.
func TestBombRatio(t *testing.T) {
	c := &bombCache{scale: 64}
	for _, codec := range compressedCodecs {
		p := c.get(codec)
		raw, err := decompress(int(wireCodec(codec)), p, 1<<30)
		if err != nil {
			t.Fatalf("%s: %v", codecNames[codec], err)
		}
		if int64(len(raw)) != bombSize(codec)/64 || len(p)*15 > len(raw) {
			t.Fatalf("%s: %d bytes inflate to %d, want %d", codecNames[codec], len(p), len(raw), bombSize(codec)/64)
		}
	}
}

// kmsg reads what genBatch writes; two batches do not pass as one.
func TestTwoBatchesAndKmsgAgree(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	b := genBatch(rng, "valid", codecNone, 1)
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(b.bytes); err != nil {
		t.Fatal(err)
	}
	if int(rb.NumRecords) != b.records || rb.Magic != 2 || rb.ProducerID != -1 {
		t.Fatalf("kmsg reads %+v", rb)
	}
	if _, err := validate(twoBatches(rng, 1).bytes); err == nil {
		t.Fatal("two batches in one payload validate as one")
	}
}

func TestMutateKeepsFrameDelimited(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	req.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("a")}, {Topic: kmsg.StringPtr("bb")}}
	orig := frame(req, 5)
	for i := 0; i < 200; i++ {
		b, how := mutate(rng, orig, headerLen(true))
		if how == "" {
			t.Fatal("mutate did nothing to a frame with a body")
		}
		if int(binary.BigEndian.Uint32(b)) != len(b)-4 {
			t.Fatalf("mutate %q: size %d for %d bytes", how, binary.BigEndian.Uint32(b), len(b)-4)
		}
		if !bytes.Equal(b[:headerLen(true)][4:], orig[:headerLen(true)][4:]) {
			t.Fatalf("mutate %q changed the request header", how)
		}
	}
}

// Only read-only APIs may name the protected topics.
func TestFillerProtectsTopics(t *testing.T) {
	for key := int16(0); key < 100; key++ {
		req := kmsg.RequestForKey(key)
		if req == nil {
			continue
		}
		for seed := int64(0); seed < 10; seed++ {
			req = kmsg.RequestForKey(key)
			f := &filler{rng: rand.New(rand.NewSource(seed)), protected: []string{controlTopic}, readOnly: readOnlyKeys[key]}
			f.fillRequest(req)
			req.SetVersion(req.MaxVersion())
			if bytes.Contains(req.AppendTo(nil), []byte(controlTopic)) && !readOnlyKeys[key] {
				t.Fatalf("%s (seed %d) names the control topic", kmsg.NameForKey(key), seed)
			}
		}
	}
}

func TestSkipTags(t *testing.T) {
	b := binary.AppendUvarint(nil, 2)
	b = append(b, 0, 2, 'a', 'b', 5, 0, 'x')
	rest, err := skipTags(b)
	if err != nil || string(rest) != "x" {
		t.Fatalf("rest %q, %v", rest, err)
	}
	if _, err := skipTags([]byte{3, 0, 9}); err == nil {
		t.Fatal("a tag claiming more bytes than there are was skipped")
	}
}

// Mutation leaves a produce request's acks as they were.
func TestMutateKeepsAcks(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	for _, ver := range []int16{0, 2, 3, 4, 9, 11} {
		for _, txn := range []*string{nil, kmsg.StringPtr("tx-1")} {
			if ver < 3 && txn != nil {
				continue // no TransactionID before v3
			}
			req := kmsg.NewPtrProduceRequest()
			req.SetVersion(ver)
			req.TransactionID, req.Acks, req.TimeoutMillis = txn, -1, 1000
			req.Topics = []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: []kmsg.ProduceRequestTopicPartition{{Records: []byte("abc")}}}}
			orig := frame(req, 1)
			start := mutateFrom(req)
			if got := int16(binary.BigEndian.Uint16(orig[start-2:])); got != -1 {
				t.Fatalf("v%d: the two bytes before %d are %d, not acks -1", ver, start, got)
			}
			for i := 0; i < 50; i++ {
				b, _ := mutate(rng, orig, start)
				if !bytes.Equal(b[4:start], orig[4:start]) {
					t.Fatalf("v%d: mutation touched the header or acks", ver)
				}
			}
		}
	}
}

package server_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/protocol/records"
)

// rawBatch frames payload as a v2 batch with kmsg's RecordBatch: count
// records claimed, lastOffsetDelta count-1, codec bits from attrs, a
// correct CRC. Payload is whatever the test wants the records section to be.
func rawBatch(attrs int16, count int32, firstTs, maxTs, baseOffset int64, payload []byte) []byte {
	rb := kmsg.RecordBatch{
		FirstOffset: baseOffset, PartitionLeaderEpoch: -1, Magic: 2, Attributes: attrs,
		LastOffsetDelta: count - 1, FirstTimestamp: firstTs, MaxTimestamp: maxTs,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: count, Records: payload,
	}
	rb.Length = int32(records.HeaderSize - 12 + len(payload))
	return fixCRC(rb.AppendTo(nil))
}

// rawRecords encodes n records with kmsg's Record, offset deltas 0..n-1.
func rawRecords(n int, value func(i int) []byte) []byte {
	var out []byte
	for i := range n {
		r := kmsg.Record{OffsetDelta: int32(i), TimestampDelta64: int64(i), Key: []byte(fmt.Sprintf("k%d", i)), Value: value(i),
			Headers: []kmsg.Header{{Key: "h", Value: []byte("v")}}}
		r.Length = int32(len(r.AppendTo(nil)) - 1) // the body after a one-byte length of 0
		out = r.AppendTo(out)
	}
	return out
}

// vi is a Kafka varint (zigzag, as protobuf sint32).
func vi(v int64) []byte { return binary.AppendVarint(nil, v) }

// frame prefixes body with its length varint: one record as DefaultRecord
// lays it out.
func frame(parts ...[]byte) []byte {
	body := bytes.Join(parts, nil)
	return append(vi(int64(len(body))), body...)
}

type payloadCodec struct {
	name  string
	codec records.Codec
	enc   func(t testing.TB, raw []byte) []byte
}

func compressWith(c records.Codec) func(t testing.TB, raw []byte) []byte {
	return func(t testing.TB, raw []byte) []byte {
		t.Helper()
		out, err := records.Compress(c, raw)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
}

// corruptCodecs are the codecs as clients write them: snappy both raw
// (franz-go, librdkafka, Sarama) and xerial-framed (the Java client).
var corruptCodecs = []payloadCodec{
	{"none", records.CodecNone, func(_ testing.TB, raw []byte) []byte { return raw }},
	{"gzip", records.CodecGzip, compressWith(records.CodecGzip)},
	{"snappy", records.CodecSnappy, func(_ testing.TB, raw []byte) []byte { return records.CompressRawSnappy(raw) }},
	{"snappy-xerial", records.CodecSnappy, compressWith(records.CodecSnappy)},
	{"lz4", records.CodecLZ4, compressWith(records.CodecLZ4)},
	{"zstd", records.CodecZstd, compressWith(records.CodecZstd)},
}

type corruptCase struct {
	name  string
	batch []byte
	want  []error // any of these codes
}

// corruptCases builds every corruption class under every codec, plus the
// codec-independent ones, each with the code Kafka's classification gives.
func corruptCases(t *testing.T) []corruptCase {
	ts := time.Now().UnixMilli()
	good := rawRecords(3, func(i int) []byte { return bytes.Repeat([]byte{'a' + byte(i)}, 200) })
	okRec := func(i int64) []byte { return frame([]byte{0}, vi(0), vi(i), vi(-1), vi(1), []byte("v"), vi(0)) }
	invalid := []error{kerr.InvalidRecord}
	recordClasses := []struct {
		name  string
		count int32
		raw   []byte
	}{
		{"count above the records", 4, good},
		{"count below the records", 2, good},
		{"trailing bytes", 3, append(append([]byte(nil), good...), 1, 2, 3)},
		{"offset deltas out of order", 2, append(okRec(1), okRec(0)...)},
		{"varint too long", 1, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"record length beyond its fields", 1, frame([]byte{0}, vi(0), vi(0), vi(-1), vi(1), []byte("v"), vi(0), []byte{7, 7})},
		{"key past the record", 1, frame([]byte{0}, vi(0), vi(0), vi(90), []byte("kk"), vi(-1), vi(0))},
		{"negative header count", 1, frame([]byte{0}, vi(0), vi(0), vi(-1), vi(-1), vi(-3))},
		{"null header key", 1, frame([]byte{0}, vi(0), vi(0), vi(-1), vi(-1), vi(1), vi(-1), vi(-1))},
		{"zeros", 3, make([]byte, 2048)},
	}
	var cases []corruptCase
	for _, pc := range corruptCodecs {
		for _, rc := range recordClasses {
			cases = append(cases, corruptCase{pc.name + "/" + rc.name,
				rawBatch(int16(pc.codec), rc.count, ts, ts, 0, pc.enc(t, rc.raw)), invalid})
		}
		if pc.codec == records.CodecNone {
			continue
		}
		comp := pc.enc(t, good)
		garbage := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef, 0x42}, 40)
		if pc.name == "snappy-xerial" {
			garbage = append(append([]byte(nil), comp[:16]...), garbage...)
		}
		cases = append(cases,
			corruptCase{pc.name + "/garbage payload", rawBatch(int16(pc.codec), 3, ts, ts, 0, garbage), []error{kerr.CorruptMessage}},
			// A cut stream either fails in the codec or yields too few
			// records.
			corruptCase{pc.name + "/truncated payload", rawBatch(int16(pc.codec), 3, ts, ts, 0, comp[:len(comp)*2/3]),
				[]error{kerr.CorruptMessage, kerr.InvalidRecord}})
	}
	for _, c := range []int16{5, 6, 7} {
		cases = append(cases, corruptCase{fmt.Sprintf("codec %d", c), rawBatch(c, 3, ts, ts, 0, good), []error{kerr.CorruptMessage}})
	}
	// Decompression bombs: one record whose 17 MiB value of zeros
	// compresses to a few KiB, past the 16 MiB bound on decompressed
	// records (16 × max.message.bytes of 1 MiB). The streamed zstd frame
	// declares no content size (as zstd-jni's stream in the Java client),
	// so it is refused while decoding.
	bomb := rawRecords(1, func(int) []byte { return make([]byte, 17<<20) })
	streamed, err := records.CompressZstdStream(bomb)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []struct {
		name    string
		codec   records.Codec
		payload []byte
	}{
		{"gzip", records.CodecGzip, compressWith(records.CodecGzip)(t, bomb)},
		{"lz4", records.CodecLZ4, compressWith(records.CodecLZ4)(t, bomb)},
		{"zstd", records.CodecZstd, compressWith(records.CodecZstd)(t, bomb)},
		{"zstd streamed", records.CodecZstd, streamed},
		{"snappy-xerial", records.CodecSnappy, compressWith(records.CodecSnappy)(t, bomb)},
		{"snappy", records.CodecSnappy, records.CompressRawSnappy(bomb)},
	} {
		cases = append(cases, corruptCase{"bomb/" + b.name, rawBatch(int16(b.codec), 1, ts, ts, 0, b.payload), []error{kerr.MessageTooLarge}})
	}
	// UnifiedLog.analyzeAndValidateRecords: a client's batch starts at 0.
	cases = append(cases, corruptCase{"non-zero base offset", rawBatch(0, 3, ts, ts, 42, good), invalid})
	return cases
}

// TestProduceRefusesCorruptBatches: every corrupt batch, whatever its codec,
// is refused with Kafka's error code (CRC-valid, so only walking the records
// finds the fault); after each refusal a valid batch is accepted at the
// next offset; franz-go, kafka-python and librdkafka then read the partition
// to its end.
func TestProduceRefusesCorruptBatches(t *testing.T) {
	t.Parallel()
	tb := startBroker(t)
	adm := newAdmin(t, tb.addr())
	const topic = "corrupt-batches"
	created := createTopic(t, adm, topic, 1, nil)
	rp := newRawProducer(t, tb.addr(), topic, created.ID)
	var want []string
	for i, tc := range corruptCases(t) {
		resp := rp.send(0, tc.batch)
		got := kerr.ErrorForCode(resp.ErrorCode)
		ok := false
		for _, w := range tc.want {
			ok = ok || got == w
		}
		if !ok {
			t.Errorf("%s: error %v, want one of %v", tc.name, got, tc.want)
		}
		// A valid batch, with the codec of the refused one where it has
		// one, lands at the next offset.
		codec := records.Codec(int16(tc.batch[22]) & int16(records.CompressionCodecMask))
		if !codec.Valid() {
			codec = records.CodecNone
		}
		value := fmt.Sprintf("valid-%d", i)
		vb, err := records.Build(records.BatchHeader{BaseTimestamp: time.Now().UnixMilli(), MaxTimestamp: time.Now().UnixMilli(),
			ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, codec, []records.Record{{Value: []byte(value)}})
		if err != nil {
			t.Fatal(err)
		}
		resp = rp.send(0, vb)
		if resp.ErrorCode != 0 || resp.BaseOffset != int64(len(want)) {
			t.Fatalf("valid batch after %s: error %v at offset %d, want offset %d", tc.name, kerr.ErrorForCode(resp.ErrorCode), resp.BaseOffset, len(want))
		}
		want = append(want, value)
	}

	// franz-go reads every valid batch, and nothing else.
	cl := newClient(t, tb.addr(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	var got []string
	ctx := ctxFor(t, 30*time.Second)
	for len(got) < len(want) && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		for _, e := range fs.Errors() {
			if e.Err != context.DeadlineExceeded {
				t.Fatalf("franz-go fetch: %v", e.Err)
			}
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != int64(len(got)) {
				t.Errorf("franz-go: record at offset %d, want %d", r.Offset, len(got))
			}
			got = append(got, string(r.Value))
		})
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("franz-go read %d records %v, want %d", len(got), got, len(want))
	}
	consumeToEndWithPython(t, tb.addr(), topic, want)
}

// consumeToEndWithPython reads the partition to its end with kafka-python
// and with librdkafka (confluent-kafka-python), and compares the values.
func consumeToEndWithPython(t *testing.T, addr, topic string, want []string) {
	t.Helper()
	if _, err := exec.LookPath("/usr/bin/python3"); err != nil {
		t.Fatalf("python3: %v", err)
	}
	scripts := map[string]string{
		"kafka-python": `
import sys
from kafka import KafkaConsumer, TopicPartition
tp = TopicPartition(sys.argv[2], 0)
c = KafkaConsumer(bootstrap_servers=sys.argv[1], enable_auto_commit=False, consumer_timeout_ms=20000)
c.assign([tp])
c.seek_to_beginning(tp)
end = c.end_offsets([tp])[tp]
vals = []
for m in c:
    vals.append(m.value.decode())
    if m.offset + 1 >= end:
        break
print(",".join(vals))
`,
		"librdkafka": `
import sys
from confluent_kafka import Consumer, TopicPartition
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "corrupt-batches-rdkafka", "enable.auto.commit": False})
low, high = c.get_watermark_offsets(TopicPartition(sys.argv[2], 0), timeout=10)
c.assign([TopicPartition(sys.argv[2], 0, 0)])
vals = []
for _ in range(300):
    m = c.poll(0.2)
    if m is None:
        continue
    if m.error() is not None:
        print("error", m.error())
        break
    vals.append(m.value().decode())
    if m.offset() + 1 >= high:
        break
print(",".join(vals))
c.close()
`,
	}
	for name, script := range scripts {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		out, err := exec.CommandContext(ctx, "/usr/bin/python3", "-c", script, addr, topic).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if got := lines[len(lines)-1]; got != strings.Join(want, ",") {
			t.Fatalf("%s read %q, want %d records %q\n%s", name, got, len(want), strings.Join(want, ","), out)
		}
	}
}

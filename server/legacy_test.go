package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/protocol/records"
)

// legacyRecord is one record of the interleaved streams below.
type legacyRecord struct {
	key, value []byte
	ts         time.Time
}

func legacyRecords(prefix string, n int, base time.Time) []legacyRecord {
	out := make([]legacyRecord, n)
	for i := range out {
		out[i] = legacyRecord{
			value: []byte(fmt.Sprintf("%s-%d-%s", prefix, i, strings.Repeat("payload ", i%7))),
			ts:    base.Add(time.Duration(i) * time.Millisecond),
		}
		if i%3 != 0 {
			out[i].key = []byte(fmt.Sprintf("%s-key-%d", prefix, i))
		}
	}
	return out
}

var kgoCodecs = map[sarama.CompressionCodec]kgo.CompressionCodec{
	sarama.CompressionNone:   kgo.NoCompression(),
	sarama.CompressionGZIP:   kgo.GzipCompression(),
	sarama.CompressionSnappy: kgo.SnappyCompression(),
	sarama.CompressionLZ4:    kgo.Lz4Compression(),
}

// rawBatches fetches partition 0 of topic from offset 0 with a modern Fetch
// and returns the stored batches' codecs and record counts, in order.
func rawBatches(t *testing.T, addr, topic string) (codecs []int8, counts []int32) {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version = 11
	req.MaxWaitMillis = 10
	req.MaxBytes = 64 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 64 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	// A raw connection keeps the version as set (kgo would raise it to
	// v13+, which names topics by ID).
	resp := dialRaw(t, addr).roundTrip(req).(*kmsg.FetchResponse)
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		t.Fatalf("raw fetch: %v", err)
	}
	data := p.RecordBatches
	for len(data) > 0 {
		var b kmsg.RecordBatch
		if err := b.ReadFrom(data); err != nil {
			t.Fatalf("raw fetch: stored batch: %v", err)
		}
		codecs = append(codecs, int8(b.Attributes&7))
		counts = append(counts, b.NumRecords)
		data = data[12+int(b.Length):]
	}
	return codecs, counts
}

// TestLegacySarama: Sarama at 0.10.2 (Produce v2 with magic 1 message sets,
// Fetch v3) and at 0.9 (Produce v1 with magic 0, Fetch v1, ListOffsets v0)
// produce and consume with every codec they allow, interleaved with franz-go
// on the same partition; every client reads every record with its key,
// value and (magic 1) timestamp, and batches are stored compressed.
func TestLegacySarama(t *testing.T) {
	t.Parallel()
	tb := startBroker(t)
	adm := newAdmin(t, tb.addr())
	cases := []struct {
		version sarama.KafkaVersion
		codecs  []sarama.CompressionCodec
		magic   int
	}{
		{sarama.V0_10_2_0, []sarama.CompressionCodec{sarama.CompressionNone, sarama.CompressionGZIP, sarama.CompressionSnappy, sarama.CompressionLZ4}, 1},
		// Sarama refuses LZ4 below 0.10; its consumer still reads the LZ4
		// batches franz-go writes, down-converted to magic 0.
		{sarama.V0_9_0_0, []sarama.CompressionCodec{sarama.CompressionNone, sarama.CompressionGZIP, sarama.CompressionSnappy}, 0},
	}
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	for _, c := range cases {
		codecs := c.codecs
		if c.magic == 0 {
			codecs = append(codecs, sarama.CompressionLZ4) // franz-go side only
		}
		for _, codec := range codecs {
			name := fmt.Sprintf("%s-%s", c.version, codec)
			saramaProduces := slices.Contains(c.codecs, codec)
			t.Run(name, func(t *testing.T) {
				topic := "legacy-" + strings.NewReplacer(".", "-", "_", "-").Replace(name)
				createTopic(t, adm, topic, 1, nil)
				kcl := newClient(t, tb.addr(), kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgoCodecs[codec]),
					kgo.RecordPartitioner(kgo.ManualPartitioner()))
				var want []legacyRecord
				var fromSarama []bool
				produceKgo := func(recs []legacyRecord) {
					var krs []*kgo.Record
					for _, r := range recs {
						krs = append(krs, &kgo.Record{Key: r.key, Value: r.value, Timestamp: r.ts, Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("dropped for old clients")}}})
					}
					if err := kcl.ProduceSync(ctxFor(t, requestTimeout), krs...).FirstErr(); err != nil {
						t.Fatalf("franz-go produce: %v", err)
					}
					want = append(want, recs...)
					for range recs {
						fromSarama = append(fromSarama, false)
					}
				}
				produceKgo(legacyRecords("kgo-a", 40, base))

				cfg := saramaConfig(&c.version, sarama.CompressionNone)
				if saramaProduces {
					cfg.Producer.Compression = codec
					sp, err := sarama.NewSyncProducer([]string{tb.addr()}, cfg)
					if err != nil {
						t.Fatalf("sarama producer: %v", err)
					}
					recs := legacyRecords("sarama", 120, base.Add(time.Second))
					var msgs []*sarama.ProducerMessage
					for _, r := range recs {
						m := &sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(r.value), Timestamp: r.ts}
						if r.key != nil {
							m.Key = sarama.ByteEncoder(r.key)
						}
						msgs = append(msgs, m)
					}
					if err := sp.SendMessages(msgs); err != nil {
						t.Fatalf("sarama produce: %v", err)
					}
					for i, m := range msgs {
						if m.Offset != int64(40+i) {
							t.Fatalf("sarama message %d acknowledged at offset %d, want %d", i, m.Offset, 40+i)
						}
					}
					if err := sp.Close(); err != nil {
						t.Fatalf("sarama producer close: %v", err)
					}
					want = append(want, recs...)
					for range recs {
						fromSarama = append(fromSarama, true)
					}
				}
				produceKgo(legacyRecords("kgo-b", 40, base.Add(2*time.Second)))

				// Stored batches are v2 batches compressed with the producers' codec.
				storedCodecs, counts := rawBatches(t, tb.addr(), topic)
				total := int32(0)
				for i, sc := range storedCodecs {
					if sc != int8(codec) {
						t.Errorf("stored batch %d has codec %d, want %d (%s)", i, sc, codec, codec)
					}
					total += counts[i]
				}
				if int(total) != len(want) {
					t.Fatalf("stored %d records, want %d", total, len(want))
				}

				// Sarama at the old version reads everything back.
				consumer, err := sarama.NewConsumer([]string{tb.addr()}, cfg)
				if err != nil {
					t.Fatalf("sarama consumer: %v", err)
				}
				defer consumer.Close()
				pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
				if err != nil {
					t.Fatalf("sarama consume: %v", err)
				}
				defer pc.Close()
				deadline := time.After(readTimeout)
				for i := range want {
					select {
					case m := <-pc.Messages():
						w := want[i]
						if m.Offset != int64(i) || !bytes.Equal(m.Key, w.key) || !bytes.Equal(m.Value, w.value) {
							t.Fatalf("sarama read offset %d key %q value %q; want offset %d key %q value %q", m.Offset, m.Key, m.Value, i, w.key, w.value)
						}
						if c.magic == 1 && !m.Timestamp.Equal(w.ts) {
							t.Fatalf("sarama read offset %d timestamp %v, want %v", i, m.Timestamp, w.ts)
						}
						if len(m.Headers) != 0 {
							t.Fatalf("offset %d: headers reached a magic %d reader", i, c.magic)
						}
					case err := <-pc.Errors():
						t.Fatalf("sarama consume: %v", err)
					case <-deadline:
						t.Fatalf("sarama read %d of %d records within %v", i, len(want), readTimeout)
					}
				}

				// And a modern client reads the records Sarama produced.
				rcl := newClient(t, tb.addr(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
				got := 0
				for got < len(want) {
					fs := rcl.PollFetches(ctxFor(t, readTimeout))
					if err := fs.Err0(); err != nil {
						t.Fatalf("franz-go consume after %d records: %v", got, err)
					}
					fs.EachRecord(func(r *kgo.Record) {
						if got >= len(want) {
							return
						}
						w := want[got]
						if r.Offset != int64(got) || !bytes.Equal(r.Key, w.key) || !bytes.Equal(r.Value, w.value) {
							t.Fatalf("franz-go read offset %d key %q value %q, want %q %q", r.Offset, r.Key, r.Value, w.key, w.value)
						}
						if fromSarama[got] {
							wantTS := w.ts
							if c.magic == 0 {
								wantTS = time.UnixMilli(-1) // magic 0 has no timestamps
							}
							if !r.Timestamp.Equal(wantTS) {
								t.Fatalf("franz-go read offset %d timestamp %v, want %v", r.Offset, r.Timestamp, wantTS)
							}
						}
						got++
					})
				}
			})
		}
	}
}

// runKcat runs kcat with a deadline and returns its standard output.
func runKcat(t *testing.T, stdin io.Reader, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/kcat", args...)
	cmd.Stdin = stdin
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %v: %v\n%s", args, err, errOut.String())
	}
	return out.String()
}

// stalledInput yields first, then nothing for pause, then rest: the input of
// a producer that a busy machine stops for a while between two records.
type stalledInput struct {
	first, rest io.Reader
	pause       time.Duration
	stalled     bool
}

func (s *stalledInput) Read(p []byte) (int, error) {
	if n, err := s.first.Read(p); err != io.EOF {
		return n, err
	}
	if !s.stalled {
		s.stalled = true
		time.Sleep(s.pause)
	}
	return s.rest.Read(p)
}

// TestLegacyKcat: librdkafka 2.0.2 enables compression only when the broker
// offers Produce v2 and Fetch v2; with them offered its batch arrives and
// stays compressed. Forced to the 0.9 protocol (no ApiVersions: Produce v1,
// Fetch v1), it produces a compressed magic 0 message set, stored as one
// compressed v2 batch and read back down-converted. (A fallback of 0.10 or
// later makes librdkafka negotiate anyway, so magic 1 is left to the Sarama
// test.)
//
// kcat must send all records in one batch for the codec check to hold:
// librdkafka sends a batch uncompressed when compressing does not make it
// smaller (rd_kafka_msgset_writer_compress), which is the case for a batch
// of one or a few short records, and with a short linger.ms a busy machine
// that pauses kcat between two records splits the input into such batches.
// So linger.ms is far longer than the test and batch.num.messages equals
// the record count: librdkafka sends the batch the moment the last record
// is queued, and never before. kcat's input stalls halfway for ten times
// the old linger.ms, so a producer that batches by timing fails every run.
func TestLegacyKcat(t *testing.T) {
	t.Parallel()
	tb := startBroker(t)
	adm := newAdmin(t, tb.addr())
	protocols := []struct {
		name string
		args []string
	}{
		{"negotiated", nil},
		{"0.9.0", []string{"-X", "api.version.request=false", "-X", "broker.version.fallback=0.9.0.0"}},
	}
	for _, proto := range protocols {
		for _, codec := range []string{"gzip", "snappy", "lz4"} {
			t.Run(proto.name+"-"+codec, func(t *testing.T) {
				topic := "legacy-kcat-" + strings.ReplaceAll(proto.name, ".", "-") + "-" + codec
				createTopic(t, adm, topic, 1, nil)
				var in strings.Builder
				const n = 200
				for i := range n {
					fmt.Fprintf(&in, "key-%d\tvalue-%d-%s\n", i, i, strings.Repeat("x", i%50))
				}
				common := append([]string{"-b", tb.addr(), "-t", topic, "-p", "0"}, proto.args...)
				half := strings.Index(in.String()[in.Len()/2:], "\n") + in.Len()/2 + 1
				input := &stalledInput{first: strings.NewReader(in.String()[:half]), rest: strings.NewReader(in.String()[half:]), pause: 500 * time.Millisecond}
				runKcat(t, input, append(common, "-P", "-K", "\t", "-z", codec,
					"-X", "linger.ms=60000", "-X", fmt.Sprintf("batch.num.messages=%d", n))...)

				// One produced batch is stored as one batch, with the
				// producer's codec (Kafka's LogValidator builds a single
				// batch when it up-converts a legacy message set).
				storedCodecs, counts := rawBatches(t, tb.addr(), topic)
				wantCodec := map[string]int8{"gzip": 1, "snappy": 2, "lz4": 3}[codec]
				if !slices.Equal(storedCodecs, []int8{wantCodec}) || !slices.Equal(counts, []int32{n}) {
					t.Fatalf("stored batches with codecs %v and record counts %v, want one %s batch (codec %d) of %d records",
						storedCodecs, counts, codec, wantCodec, n)
				}
				out := runKcat(t, strings.NewReader(""), append(common, "-C", "-o", "beginning", "-e", "-q", "-f", "%o|%k|%s\n")...)
				lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
				if len(lines) != n {
					t.Fatalf("kcat read %d records, want %d:\n%s", len(lines), n, out)
				}
				for i, l := range lines {
					if want := fmt.Sprintf("%d|key-%d|value-%d-%s", i, i, i, strings.Repeat("x", i%50)); l != want {
						t.Fatalf("kcat read %q, want %q", l, want)
					}
				}
			})
		}
	}
}

// legacySet encodes uncompressed messages of one magic with the records
// package's encoder (its format is tested against kmsg's there).
func legacySet(t *testing.T, magic int8, attrs int8, values ...string) []byte {
	t.Helper()
	var out []byte
	for i, v := range values {
		var err error
		out, err = records.AppendLegacyMessage(out, records.LegacyMessage{Offset: int64(i), Magic: magic, Attributes: attrs, Timestamp: time.Now().UnixMilli(), Key: []byte("k"), Value: []byte(v)})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func legacyRawProduce(t *testing.T, rc *rawConn, version int16, topic string, data []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Version = version
	req.Acks = -1
	req.TimeoutMillis = int32(requestTimeout / time.Millisecond)
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = data
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := rc.roundTrip(req).(*kmsg.ProduceResponse)
	return resp.Topics[0].Partitions[0]
}

func legacyRawFetch(t *testing.T, rc *rawConn, version int16, topic string, offset int64, partitionMax int32) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version = version
	req.MaxWaitMillis = 10
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = partitionMax
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := rc.roundTrip(req).(*kmsg.FetchResponse)
	return resp.Topics[0].Partitions[0]
}

// legacyMessages reads a down-converted message set.
func legacyMessages(t *testing.T, data []byte) []records.LegacyMessage {
	t.Helper()
	var out []records.LegacyMessage
	err := records.ForEachLegacyMessage(data, records.DefaultDecompressLimit, func(m *records.LegacyMessage) error {
		out = append(out, *m)
		return nil
	})
	if err != nil {
		t.Fatalf("down-converted set: %v", err)
	}
	return out
}

// TestLegacyProtocol drives Produce v0–v2, Fetch v0–v3 and ListOffsets v0
// with raw requests: error codes for refused message sets, the format each
// Fetch version gets, byte limits after conversion, zstd, and the
// OldStyleOffsets answer.
func TestLegacyProtocol(t *testing.T) {
	t.Parallel()
	tb := startBroker(t)
	adm := newAdmin(t, tb.addr())
	const topic = "legacy-raw"
	createTopic(t, adm, topic, 1, nil)
	rc := dialRaw(t, tb.addr())

	expect := func(what string, got kmsg.ProduceResponseTopicPartition, code int16, base int64) {
		t.Helper()
		if got.ErrorCode != code || (code == 0 && got.BaseOffset != base) {
			t.Fatalf("%s: error %d base offset %d, want error %d base offset %d", what, got.ErrorCode, got.BaseOffset, code, base)
		}
	}
	expect("v0 magic 0", legacyRawProduce(t, rc, 0, topic, legacySet(t, 0, 0, "a", "b", "c")), 0, 0)
	expect("v1 magic 0", legacyRawProduce(t, rc, 1, topic, legacySet(t, 0, 0, "d")), 0, 3)
	expect("v2 magic 1", legacyRawProduce(t, rc, 2, topic, legacySet(t, 1, 0, "e", "f")), 0, 4)
	v2, err := records.Build(records.BatchHeader{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, BaseTimestamp: time.Now().UnixMilli(), MaxTimestamp: time.Now().UnixMilli()},
		records.CodecNone, []records.Record{{Value: []byte("g")}})
	if err != nil {
		t.Fatal(err)
	}
	expect("v2 with a v2 batch", legacyRawProduce(t, rc, 2, topic, v2), 0, 6)
	bad := legacySet(t, 1, 0, "x")
	bad[len(bad)-1] ^= 1
	expect("bad crc", legacyRawProduce(t, rc, 2, topic, bad), kerr.CorruptMessage.Code, 0)
	expect("log append time", legacyRawProduce(t, rc, 2, topic, legacySet(t, 1, 0x08, "x")), kerr.InvalidTimestamp.Code, 0)
	expect("mixed magic", legacyRawProduce(t, rc, 2, topic, append(legacySet(t, 1, 0, "x"), legacySet(t, 0, 0, "y")...)), kerr.InvalidRecord.Code, 0)
	expect("legacy in v3", legacyRawProduce(t, rc, 3, topic, legacySet(t, 1, 0, "x")), kerr.InvalidRecord.Code, 0)
	zstd, err := records.Build(records.BatchHeader{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, records.CodecZstd, []records.Record{{Value: []byte("z")}})
	if err != nil {
		t.Fatal(err)
	}
	expect("zstd below v7", legacyRawProduce(t, rc, 2, topic, zstd), kerr.UnsupportedCompressionType.Code, 0)

	// Every Fetch version reads the seven records; v0–v1 as magic 0, v2–v3
	// as magic 1, v4+ as the stored v2 batches.
	for v := int16(0); v <= 4; v++ {
		p := legacyRawFetch(t, rc, v, topic, 1, 1<<20)
		if p.ErrorCode != 0 || p.HighWatermark != 7 {
			t.Fatalf("fetch v%d: error %d high watermark %d", v, p.ErrorCode, p.HighWatermark)
		}
		if v == 4 {
			if magic := p.RecordBatches[16]; magic != 2 {
				t.Fatalf("fetch v4: magic %d", magic)
			}
			continue
		}
		msgs := legacyMessages(t, p.RecordBatches)
		if len(msgs) != 6 || msgs[0].Offset != 1 || string(msgs[5].Value) != "g" {
			t.Fatalf("fetch v%d: %d messages from offset %d", v, len(msgs), msgs[0].Offset)
		}
		for _, m := range msgs {
			if want := int8(v / 2); m.Magic != want {
				t.Fatalf("fetch v%d: magic %d, want %d", v, m.Magic, want)
			}
		}
		// Byte limits hold after conversion, in whole messages, and
		// the first message always comes.
		one := len(legacyRawFetch(t, rc, v, topic, 1, 1).RecordBatches) // offsets 1 and 2 are the same size
		for limit, want := range map[int32]int{1: 1, int32(2*one + one/2): 2} {
			p := legacyRawFetch(t, rc, v, topic, 1, limit)
			if got := legacyMessages(t, p.RecordBatches); len(got) != want || len(p.RecordBatches) != want*one {
				t.Fatalf("fetch v%d with %d bytes: %d messages in %d bytes, want %d", v, limit, len(got), len(p.RecordBatches), want)
			}
		}
	}

	// ListOffsets v0: Kafka's OldStyleOffsets.
	lo := func(ts int64, maxNum int32) []int64 {
		t.Helper()
		req := kmsg.NewPtrListOffsetsRequest()
		req.Version = 0
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp, rp.MaxNumOffsets = ts, maxNum
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		p := rc.roundTrip(req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			t.Fatalf("list offsets v0 %d: error %d", ts, p.ErrorCode)
		}
		return p.OldStyleOffsets
	}
	for _, c := range []struct {
		ts     int64
		maxNum int32
		want   []int64
	}{
		{-1, 1, []int64{7}},
		{-2, 1, []int64{0}},
		{-1, 10, []int64{7, 0}},
		{time.Now().Add(time.Hour).UnixMilli(), 10, []int64{7, 0}},
		{1, 10, []int64{}},
	} {
		if got := lo(c.ts, c.maxNum); !slices.Equal(got, c.want) {
			t.Errorf("list offsets v0 ts %d max %d: %v, want %v", c.ts, c.maxNum, got, c.want)
		}
	}

	// zstd batches cannot be down-converted.
	const ztopic = "legacy-raw-zstd"
	createTopic(t, adm, ztopic, 1, nil)
	zcl := newClient(t, tb.addr(), kgo.DefaultProduceTopic(ztopic), kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	if err := zcl.ProduceSync(ctxFor(t, requestTimeout), &kgo.Record{Value: bytes.Repeat([]byte("zstd "), 100)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if p := legacyRawFetch(t, rc, 3, ztopic, 0, 1<<20); p.ErrorCode != kerr.UnsupportedCompressionType.Code || len(p.RecordBatches) != 0 {
		t.Fatalf("fetch v3 of zstd: error %d, %d bytes", p.ErrorCode, len(p.RecordBatches))
	}
	if p := legacyRawFetch(t, rc, 11, ztopic, 0, 1<<20); p.ErrorCode != 0 || len(p.RecordBatches) == 0 {
		t.Fatalf("fetch v11 of zstd: error %d, %d bytes", p.ErrorCode, len(p.RecordBatches))
	}
}

package server_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
	"github.com/riffle-io/riffle/protocol/records"
	"github.com/riffle-io/riffle/storage"
	"github.com/riffle-io/riffle/storage/vfs"
)

func lifecycleBroker(t *testing.T) *testBroker {
	return startBroker(t, func(c *config.Broker) {
		c.LogRetentionCheckIntervalMs = 100
		c.LogCleanerBackoffMs = 100
	})
}

func lcStr(s string) *string { return &s }

func lcStartOffset(t *testing.T, adm *kadm.Client, topic string) int64 {
	t.Helper()
	lo, err := adm.ListStartOffsets(ctxFor(t, requestTimeout), topic)
	if err != nil {
		t.Fatalf("list start offsets: %v", err)
	}
	o, ok := lo.Lookup(topic, 0)
	if !ok || o.Err != nil {
		t.Fatalf("list start offsets %s: %+v", topic, o)
	}
	return o.Offset
}

// rawFetch fetches partition 0 of topic at offset and returns the
// partition's response.
func lcFetch(t *testing.T, cl *kgo.Client, topic string, offset int64) kmsg.FetchResponseTopicPartition {
	t.Helper()
	tds, err := kadm.NewClient(cl).ListTopics(ctxFor(t, requestTimeout), topic)
	if err != nil || tds[topic].Err != nil {
		t.Fatalf("list topics: %v %v", err, tds[topic].Err)
	}
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis = 10
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, tds[topic].ID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = 1 << 20
	rp.CurrentLeaderEpoch = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxFor(t, requestTimeout), cl)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch response: %+v", resp)
	}
	return resp.Topics[0].Partitions[0]
}

func lcProduce(t *testing.T, cl *kgo.Client, topic string, n int, ts time.Time, key func(i int) []byte) {
	t.Helper()
	for i := 0; i < n; i++ {
		r := &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("value-%d", i)), Timestamp: ts}
		if key != nil {
			r.Key = key(i)
		}
		if err := cl.ProduceSync(ctxFor(t, requestTimeout), r).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
}

// TestDeleteRecords: DeleteRecords through kadm moves the log start offset;
// ListOffsets earliest follows; a fetch below it is OFFSET_OUT_OF_RANGE with
// the log start offset in the response; a consumer positioned below it resets
// per its policy; the offset survives a restart; past the high watermark and
// on a compact-only topic Kafka's errors come back.
func TestDeleteRecords(t *testing.T) {
	t.Parallel()
	tb := lifecycleBroker(t)
	adm := newAdmin(t, tb.addr())
	const topic = "delete-records"
	createTopic(t, adm, topic, 1, nil)
	cl := newClient(t, tb.addr())
	lcProduce(t, cl, topic, 30, time.Now(), nil)

	ctx := ctxFor(t, requestTimeout)
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: 12})
	resp, err := adm.DeleteRecords(ctx, offs)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := resp.Lookup(topic, 0)
	if !ok || r.Err != nil || r.LowWatermark != 12 {
		t.Fatalf("delete records: %+v", r)
	}
	if got := lcStartOffset(t, adm, topic); got != 12 {
		t.Fatalf("earliest offset %d, want 12", got)
	}
	fp := lcFetch(t, cl, topic, 5)
	if fp.ErrorCode != kerr.OffsetOutOfRange.Code || fp.LogStartOffset != 12 {
		t.Fatalf("fetch below the log start: error %d, log start %d", fp.ErrorCode, fp.LogStartOffset)
	}
	// A consumer told to start at 3 is reset to the earliest offset.
	cons := newClient(t, tb.addr(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(3)}}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	pollCtx := ctxFor(t, requestTimeout)
	fs := cons.PollFetches(pollCtx)
	if errs := fs.Errors(); len(errs) > 0 {
		t.Fatalf("consume: %v", errs)
	}
	recs := fs.Records()
	if len(recs) == 0 || recs[0].Offset != 12 {
		t.Fatalf("consumer reset to %+v", recs)
	}

	// -1 means the high watermark.
	offs = kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: 40})
	resp, err = adm.DeleteRecords(ctx, offs)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := resp.Lookup(topic, 0); !errors.Is(r.Err, kerr.OffsetOutOfRange) {
		t.Fatalf("delete past the high watermark: %+v", r)
	}
	offs = kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: -1})
	resp, err = adm.DeleteRecords(ctx, offs)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := resp.Lookup(topic, 0); r.Err != nil || r.LowWatermark != 30 {
		t.Fatalf("delete to the high watermark: %+v", r)
	}

	const compacted = "delete-records-compacted"
	createTopic(t, adm, compacted, 1, map[string]*string{"cleanup.policy": lcStr("compact")})
	offs = kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: compacted, Partition: 0, At: 0})
	resp, err = adm.DeleteRecords(ctx, offs)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := resp.Lookup(compacted, 0); !errors.Is(r.Err, kerr.PolicyViolation) {
		t.Fatalf("delete records on a compacted topic: %+v", r)
	}

	// The log start offset was checkpointed: it survives a restart.
	tb.restart()
	adm = newAdmin(t, tb.addr())
	if got := lcStartOffset(t, adm, topic); got != 30 {
		t.Fatalf("earliest offset after restart %d, want 30", got)
	}
}

// TestDeleteRecordsLibrdkafka: after DeleteRecords, librdkafka (through
// confluent-kafka-python; its 1.7.0 AdminClient has no delete_records) sees
// the new low watermark and a consumer assigned below it resets to it.
func TestDeleteRecordsLibrdkafka(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("/usr/bin/python3"); err != nil {
		t.Fatalf("python3: %v", err)
	}
	tb := lifecycleBroker(t)
	adm := newAdmin(t, tb.addr())
	const topic = "delete-records-rdkafka"
	createTopic(t, adm, topic, 1, nil)
	cl := newClient(t, tb.addr())
	lcProduce(t, cl, topic, 20, time.Now(), nil)
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: 7})
	if _, err := adm.DeleteRecords(ctxFor(t, requestTimeout), offs); err != nil {
		t.Fatal(err)
	}
	script := `
import sys
from confluent_kafka import Consumer, TopicPartition
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "rdkafka-delete-records",
              "auto.offset.reset": "earliest", "enable.auto.commit": False})
low, high = c.get_watermark_offsets(TopicPartition(sys.argv[2], 0), timeout=10)
c.assign([TopicPartition(sys.argv[2], 0, 2)])
first = None
for _ in range(100):
    m = c.poll(0.2)
    if m is not None and m.error() is None:
        first = m.offset()
        break
print(low, high, first)
c.close()
`
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/bin/python3", "-c", script, tb.addr(), topic).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if got := lines[len(lines)-1]; got != "7 20 7" {
		t.Fatalf("librdkafka saw low, high, first = %q, want \"7 20 7\"\n%s", got, out)
	}
}

// TestRetentionByTimeAndSize: with segments rolled by segment.ms, old
// segments go by retention.ms and retention.bytes, the earliest offset
// moves, and a consumer positioned before it is reset.
func TestRetentionByTimeAndSize(t *testing.T) {
	t.Parallel()
	tb := lifecycleBroker(t)
	adm := newAdmin(t, tb.addr())
	cl := newClient(t, tb.addr())

	const byTime = "retention-time"
	createTopic(t, adm, byTime, 1, map[string]*string{
		"segment.ms": lcStr("100"), "retention.ms": lcStr("600000"), "file.delete.delay.ms": lcStr("0")})
	// Records 20 minutes old, each batch in its own segment (their
	// timestamps are segment.ms apart), then fresh ones.
	old := time.Now().Add(-20 * time.Minute)
	for i := 0; i < 10; i++ {
		lcProduce(t, cl, byTime, 1, old.Add(time.Duration(i)*time.Second), nil)
	}
	lcProduce(t, cl, byTime, 5, time.Now(), nil)
	if !poll(requestTimeout, func() bool { return lcStartOffset(t, adm, byTime) == 10 }) {
		t.Fatalf("earliest offset %d, want 10", lcStartOffset(t, adm, byTime))
	}
	fp := lcFetch(t, cl, byTime, 0)
	if fp.ErrorCode != kerr.OffsetOutOfRange.Code || fp.LogStartOffset != 10 {
		t.Fatalf("fetch below the log start: error %d, log start %d", fp.ErrorCode, fp.LogStartOffset)
	}
	cons := newClient(t, tb.addr(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{byTime: {0: kgo.NewOffset().At(0)}}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fs := cons.PollFetches(ctxFor(t, requestTimeout))
	if recs := fs.Records(); len(recs) == 0 || recs[0].Offset != 10 {
		t.Fatalf("consumer reset to %+v (%v)", recs, fs.Errors())
	}

	const bySize = "retention-bytes"
	createTopic(t, adm, bySize, 1, map[string]*string{
		"segment.ms": lcStr("100"), "retention.bytes": lcStr("1000"), "retention.ms": lcStr("-1"), "file.delete.delay.ms": lcStr("0")})
	base := time.Now().Add(-10 * time.Minute)
	for i := 0; i < 20; i++ {
		lcProduce(t, cl, bySize, 1, base.Add(time.Duration(i)*time.Second), nil)
	}
	var size int64
	if !poll(requestTimeout, func() bool {
		size = lcPartitionSize(t, adm, bySize)
		return size <= 1000+200 && lcStartOffset(t, adm, bySize) > 0
	}) {
		t.Fatalf("partition size %d, earliest offset %d", size, lcStartOffset(t, adm, bySize))
	}
	if got := endOffsets(t, adm, bySize)[0]; got != 20 {
		t.Fatalf("end offset %d", got)
	}
}

func lcPartitionSize(t *testing.T, adm *kadm.Client, topic string) int64 {
	t.Helper()
	dirs, err := adm.DescribeAllLogDirs(ctxFor(t, requestTimeout), kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatalf("describe log dirs: %v", err)
	}
	var size int64 = -1
	dirs.Each(func(d kadm.DescribedLogDir) {
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
			if p.Topic == topic && p.Partition == 0 {
				size = p.Size
			}
		})
	})
	if size < 0 {
		t.Fatalf("no size for %s", topic)
	}
	return size
}

// TestCompactionConverges: 1,000,000 updates to 1,000 keys, then tombstones
// for 100 of them, converge to exactly the latest value of each of the 900
// live keys at its original offset; the tombstones disappear after
// delete.retention.ms.
func TestCompactionConverges(t *testing.T) {
	t.Parallel()
	tb := lifecycleBroker(t)
	adm := newAdmin(t, tb.addr())
	const topic = "compacted-changelog"
	createTopic(t, adm, topic, 1, map[string]*string{
		"cleanup.policy": lcStr("compact"), "segment.bytes": lcStr("1048576"), "segment.ms": lcStr("500"),
		"min.cleanable.dirty.ratio": lcStr("0.01"), "delete.retention.ms": lcStr("3000"), "file.delete.delay.ms": lcStr("0")})
	cl := newClient(t, tb.addr(), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond))

	const updates, keys, deleted = 1_000_000, 1000, 100
	key := func(k int) []byte { return []byte(fmt.Sprintf("key-%04d", k)) }
	var mu sync.Mutex
	latest := map[string]int64{} // key → offset of its latest record
	var firstErr error
	done := func(r *kgo.Record, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return
		}
		if off, ok := latest[string(r.Key)]; !ok || r.Offset > off {
			latest[string(r.Key)] = r.Offset
		}
	}
	ctx := ctxFor(t, readTimeout)
	start := time.Now()
	for i := 0; i < updates; i++ {
		cl.Produce(ctx, &kgo.Record{Key: key(i % keys), Value: []byte(strconv.Itoa(i))}, done)
	}
	for k := 0; k < deleted; k++ {
		cl.Produce(ctx, &kgo.Record{Key: key(k)}, done)
	}
	if err := cl.Flush(ctx); err != nil || firstErr != nil {
		t.Fatalf("produce: %v %v", err, firstErr)
	}
	t.Logf("produced %d records in %v", updates+deleted, time.Since(start))
	hw := endOffsets(t, adm, topic)[0]
	if hw != updates+deleted {
		t.Fatalf("end offset %d", hw)
	}

	type seen struct {
		offset int64
		value  []byte
	}
	readAll := func() (map[string]seen, int, int) {
		cons := newClient(t, tb.addr(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
		defer cons.Close()
		got := map[string]seen{}
		n, tombstones := 0, 0
		// Compaction leaves holes up to the end, so the read is over when
		// a poll finds nothing more (all data is local: a second is ample).
		for polls := 0; polls < 10_000; polls++ {
			wait := time.Second
			if polls == 0 {
				wait = requestTimeout
			}
			pctx, cancel := context.WithTimeout(context.Background(), wait)
			fs := cons.PollFetches(pctx)
			cancel()
			fs.EachError(func(topic string, p int32, err error) {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("consume %s/%d: %v", topic, p, err)
				}
			})
			if fs.NumRecords() == 0 {
				break
			}
			fs.EachRecord(func(r *kgo.Record) {
				n++
				if r.Value == nil {
					tombstones++
				}
				if prev, ok := got[string(r.Key)]; ok && prev.offset >= r.Offset {
					t.Fatalf("key %s at %d after %d", r.Key, r.Offset, prev.offset)
				}
				got[string(r.Key)] = seen{r.Offset, r.Value}
			})
		}
		return got, n, tombstones
	}
	// The cleaner converges: one record per key (tombstones included)
	// once the active segment has rolled and been cleaned.
	var got map[string]seen
	var n, tombstones int
	if !poll(readTimeout, func() bool {
		if lcPartitionSize(t, adm, topic) > 200_000 {
			return false
		}
		got, n, tombstones = readAll()
		return n <= keys && n >= keys-deleted && len(got) == n
	}) {
		t.Fatalf("did not converge: %d records, %d tombstones", n, tombstones)
	}
	t.Logf("compacted to %d records (%d tombstones) %v after producing", n, tombstones, time.Since(start))
	check := func(got map[string]seen, wantTombstones bool) {
		t.Helper()
		for k := 0; k < keys; k++ {
			s, ok := got[string(key(k))]
			dead := k < deleted
			switch {
			case dead && ok && (!wantTombstones || s.value != nil):
				t.Fatalf("deleted key %d: %+v", k, s)
			case dead && !ok && wantTombstones:
				t.Fatalf("deleted key %d: no tombstone", k)
			case !dead && (!ok || s.offset != latest[string(key(k))] || string(s.value) != strconv.Itoa(updates-keys+k)):
				t.Fatalf("key %d: %+v, want value %d at offset %d", k, s, updates-keys+k, latest[string(key(k))])
			}
		}
	}
	if tombstones > 0 {
		check(got, true)
	}
	// After delete.retention.ms the tombstones go too.
	if !poll(readTimeout, func() bool {
		got, n, tombstones = readAll()
		return tombstones == 0
	}) {
		t.Fatalf("%d tombstones remain", tombstones)
	}
	if n != keys-deleted {
		t.Fatalf("%d records, want %d", n, keys-deleted)
	}
	check(got, false)
}

// TestCorruptPartitionAnswersStorageError: a partition whose log is damaged
// in the middle comes back offline after a restart, answering produce and
// fetch with KAFKA_STORAGE_ERROR, while the broker's other partitions serve.
func TestCorruptPartitionAnswersStorageError(t *testing.T) {
	t.Parallel()
	tb := lifecycleBroker(t)
	adm := newAdmin(t, tb.addr())
	createTopic(t, adm, "damaged", 1, map[string]*string{"segment.ms": lcStr("100")})
	createTopic(t, adm, "healthy", 1, nil)
	cl := newClient(t, tb.addr())
	old := time.Now().Add(-10 * time.Minute)
	for i := 0; i < 6; i++ { // batches of three records, each in its own segment
		if code := lcRawProduceN(t, cl, "damaged", old.Add(time.Duration(i)*time.Second), 3); code != 0 {
			t.Fatalf("produce: error %d", code)
		}
	}
	lcProduce(t, cl, "healthy", 3, time.Now(), nil)
	tb.stop()

	dir := filepath.Join(tb.dir, "damaged-0")
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(logs) < 3 {
		t.Fatalf("segments %v: %v", logs, err)
	}
	data, err := os.ReadFile(logs[1])
	if err != nil {
		t.Fatal(err)
	}
	// Inside the records of the segment's first batch (three records):
	// the CRC no longer matches.
	b0, _, err := records.ReadBatch(data)
	if err != nil {
		t.Fatal(err)
	}
	first := len(b0)
	data[first-2] ^= 0xff
	if err := os.WriteFile(logs[1], data, 0o644); err != nil {
		t.Fatal(err)
	}
	// As after a crash: no clean-shutdown marker, so loading validates the
	// segments past the recovery point. The recovery point lies after the
	// damaged batch, which had been flushed: damage, not a torn tail
	// (Kafka would truncate unflushed data there instead).
	if err := os.Remove(filepath.Join(tb.dir, ".kafka_cleanshutdown")); err != nil {
		t.Fatal(err)
	}
	base, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(logs[1]), ".log"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	rpFile := filepath.Join(tb.dir, storage.RecoveryPointCheckpointFile)
	rps, err := storage.ReadOffsetCheckpoint(vfs.Default, rpFile)
	if err != nil {
		t.Fatal(err)
	}
	rps[storage.TopicPartition{Topic: "damaged", Partition: 0}] = base + 1
	if err := storage.WriteOffsetCheckpoint(vfs.Default, rpFile, rps); err != nil {
		t.Fatal(err)
	}
	tb.start()
	cl = newClient(t, tb.addr())
	if fp := lcFetch(t, cl, "damaged", 0); fp.ErrorCode != kerr.KafkaStorageError.Code {
		t.Fatalf("fetch from the damaged partition: error %d", fp.ErrorCode)
	}
	if code := lcRawProduce(t, cl, "damaged"); code != kerr.KafkaStorageError.Code {
		t.Fatalf("produce to the damaged partition: error %d", code)
	}
	if code := lcRawProduce(t, cl, "healthy"); code != 0 {
		t.Fatalf("produce to the healthy partition: error %d", code)
	}
	if fp := lcFetch(t, cl, "healthy", 0); fp.ErrorCode != 0 || len(fp.RecordBatches) == 0 {
		t.Fatalf("fetch from the healthy partition: error %d, %d bytes", fp.ErrorCode, len(fp.RecordBatches))
	}
	// The damaged segment and those after it are still on disk.
	if after, _ := filepath.Glob(filepath.Join(dir, "*.log")); len(after) != len(logs) {
		t.Fatalf("segments after restart %v, before %v", after, logs)
	}
}

// lcRawProduce sends one record to partition 0 of topic without client
// retries and returns the partition's error code.
func lcRawProduce(t *testing.T, cl *kgo.Client, topic string) int16 {
	t.Helper()
	return lcRawProduceN(t, cl, topic, time.Now(), 1)
}

// lcRawProduceN produces one batch of n records timestamped ts, with acks=all,
// and returns the partition's error code.
func lcRawProduceN(t *testing.T, cl *kgo.Client, topic string, ts time.Time, n int) int16 {
	t.Helper()
	now := ts.UnixMilli()
	var recs []records.Record
	for i := 0; i < n; i++ {
		recs = append(recs, records.Record{OffsetDelta: int32(i), Value: []byte("x")})
	}
	b, err := records.Build(records.BatchHeader{BaseTimestamp: now, MaxTimestamp: now, ProducerID: -1, ProducerEpoch: -1,
		BaseSequence: -1, PartitionLeaderEpoch: -1}, records.CodecNone, recs)
	if err != nil {
		t.Fatal(err)
	}
	tds, err := kadm.NewClient(cl).ListTopics(ctxFor(t, requestTimeout), topic)
	if err != nil || tds[topic].Err != nil {
		t.Fatalf("list topics: %v %v", err, tds[topic].Err)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = topic, tds[topic].ID
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = b
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxFor(t, requestTimeout), cl)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

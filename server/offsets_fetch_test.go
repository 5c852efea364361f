package server_test

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestListOffsets: earliest (-2), latest (-1), max timestamp (-3, KIP-734)
// and by timestamp, through kadm and raw ListOffsets at the newest version.
func TestListOffsets(t *testing.T) {
	t.Parallel()
	tb := startBroker(t)
	adm := newAdmin(t, tb.addr())
	createTopic(t, adm, "lo", 1, nil)
	base := time.Now().Add(-time.Hour).UnixMilli()
	// One batch per record; the largest timestamp is at offset 3, not at the end.
	deltas := []int64{1000, 2000, 3000, 9500, 4000, 5000, 6000, 7000, 8000, 9000}
	cl := newClient(t, tb.addr())
	for k, d := range deltas {
		r, err := cl.ProduceSync(ctxFor(t, requestTimeout), &kgo.Record{
			Topic: "lo", Value: []byte{byte(k)}, Timestamp: time.UnixMilli(base + d),
		}).First()
		if err != nil || r.Offset != int64(k) {
			t.Fatalf("produce %d: offset %d, err %v", k, r.Offset, err)
		}
	}

	ctx := ctxFor(t, requestTimeout)
	start, err := adm.ListStartOffsets(ctx, "lo")
	if o, ok := start.Lookup("lo", 0); err != nil || !ok || o.Err != nil || o.Offset != 0 {
		t.Fatalf("ListStartOffsets: %+v %v", o, err)
	}
	end, err := adm.ListEndOffsets(ctx, "lo")
	if o, ok := end.Lookup("lo", 0); err != nil || !ok || o.Err != nil || o.Offset != int64(len(deltas)) {
		t.Fatalf("ListEndOffsets: %+v %v", o, err)
	}
	maxTS, err := adm.ListMaxTimestampOffsets(ctx, "lo")
	if o, ok := maxTS.Lookup("lo", 0); err != nil || !ok || o.Err != nil || o.Offset != 3 || o.Timestamp != base+9500 {
		t.Fatalf("ListMaxTimestampOffsets: %+v %v, want offset 3 timestamp %d", o, err, base+9500)
	}
	after, err := adm.ListOffsetsAfterMilli(ctx, base+3500, "lo")
	if o, ok := after.Lookup("lo", 0); err != nil || !ok || o.Err != nil || o.Offset != 3 {
		t.Fatalf("ListOffsetsAfterMilli(+3500): %+v %v, want offset 3", o, err)
	}

	rc := dialRaw(t, tb.addr())
	cases := []struct {
		name      string
		ts        int64
		off, ts2  int64
		checkTS   bool
		partition int32
		errCode   int16
	}{
		{name: "earliest", ts: -2, off: 0},
		{name: "latest", ts: -1, off: int64(len(deltas))},
		{name: "max timestamp", ts: -3, off: 3, ts2: base + 9500, checkTS: true},
		{name: "first timestamp", ts: base + 1000, off: 0, ts2: base + 1000, checkTS: true},
		{name: "between", ts: base + 3500, off: 3, ts2: base + 9500, checkTS: true},
		{name: "exact", ts: base + 4000, off: 3, ts2: base + 9500, checkTS: true},
		{name: "before all", ts: base, off: 0, ts2: base + 1000, checkTS: true},
		// No record at or after the timestamp: Kafka answers -1/-1 (v1+).
		{name: "after all", ts: base + 9600, off: -1, ts2: -1, checkTS: true},
		{name: "unknown partition", ts: -1, partition: 7, errCode: kerr.UnknownTopicOrPartition.Code},
	}
	for _, c := range cases {
		req := rc.maxVersion(kmsg.NewPtrListOffsetsRequest()).(*kmsg.ListOffsetsRequest)
		req.ReplicaID = -1
		topic := kmsg.NewListOffsetsRequestTopic()
		topic.Topic = "lo"
		part := kmsg.NewListOffsetsRequestTopicPartition()
		part.Partition = c.partition
		part.Timestamp = c.ts
		topic.Partitions = append(topic.Partitions, part)
		req.Topics = append(req.Topics, topic)
		resp := rc.roundTrip(req).(*kmsg.ListOffsetsResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("%s: malformed response %+v", c.name, resp)
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != c.errCode {
			t.Fatalf("%s (v%d): error %v, want %v", c.name, req.Version, kerr.ErrorForCode(p.ErrorCode), kerr.ErrorForCode(c.errCode))
		}
		if c.errCode != 0 {
			continue
		}
		if p.Offset != c.off || (c.checkTS && p.Timestamp != c.ts2) {
			t.Fatalf("%s (v%d): offset %d timestamp %d, want %d %d", c.name, req.Version, p.Offset, p.Timestamp, c.off, c.ts2)
		}
	}
}

// rawFetch issues one Fetch for partition 0 of topic at the newest version.
func rawFetch(t testing.TB, rc *rawConn, version int16, topic string, topicID [16]byte, offset int64, maxWait, minBytes, maxBytes, partMaxBytes int32) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version = version
	req.MaxWaitMillis = maxWait
	req.MinBytes = minBytes
	req.MaxBytes = maxBytes
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	ft.TopicID = topicID
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.FetchOffset = offset
	fp.PartitionMaxBytes = partMaxBytes
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	resp := rc.roundTrip(req).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 {
		t.Fatalf("fetch v%d: top-level error %v", version, kerr.ErrorForCode(resp.ErrorCode))
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch v%d: malformed response %+v", version, resp)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("fetch v%d offset %d: %v", version, offset, kerr.ErrorForCode(p.ErrorCode))
	}
	return p
}

func fetchVersion(t testing.TB, rc *rawConn) int16 {
	vs, ok := rc.versions()[1]
	if !ok {
		t.Fatalf("broker does not advertise Fetch")
	}
	return min(vs[1], kmsg.NewPtrFetchRequest().MaxVersion())
}

// splitBatches splits fetched bytes into whole batches (validating each
// one's CRC-32C) and returns the length of any trailing partial batch, which
// Kafka may send when MaxBytes cuts a batch (clients drop it).
func splitBatches(t testing.TB, b []byte) ([]kmsg.RecordBatch, int) {
	t.Helper()
	var out []kmsg.RecordBatch
	for len(b) >= 12 {
		n := int(int32(binary.BigEndian.Uint32(b[8:12]))) + 12
		if n < 61 {
			t.Fatalf("fetched batch with length field %d", n-12)
		}
		if n > len(b) {
			break
		}
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(b[:n]); err != nil {
			t.Fatalf("decode fetched batch: %v", err)
		}
		if crc := crc32.Checksum(b[21:n], crc32.MakeTable(crc32.Castagnoli)); int32(crc) != rb.CRC {
			t.Fatalf("fetched batch at offset %d fails its CRC", rb.FirstOffset)
		}
		out = append(out, rb)
		b = b[n:]
	}
	return out, len(b)
}

// TestFetchLongPoll: MaxWait/MinBytes semantics.
func TestFetchLongPoll(t *testing.T) {
	t.Parallel()
	tb := startBroker(t)
	adm := newAdmin(t, tb.addr())
	created := createTopic(t, adm, "longpoll", 1, nil)
	rc := dialRaw(t, tb.addr())
	v := fetchVersion(t, rc)
	cl := newClient(t, tb.addr())

	// Nothing to read: the fetch parks for MaxWait and comes back empty.
	start := time.Now()
	p := rawFetch(t, rc, v, "longpoll", created.ID, 0, 5000, 1, 1<<20, 1<<20)
	if el := time.Since(start); el < 4500*time.Millisecond || el > 8*time.Second {
		t.Fatalf("empty fetch with MaxWait 5s returned after %v", el)
	}
	if len(p.RecordBatches) != 0 || p.HighWatermark != 0 {
		t.Fatalf("empty fetch returned %d bytes, high watermark %d", len(p.RecordBatches), p.HighWatermark)
	}

	// A record produced while a fetch waits wakes it long before MaxWait.
	type result struct {
		p   kmsg.FetchResponseTopicPartition
		at  time.Time
		err string
	}
	got := make(chan result, 1)
	rc2 := dialRaw(t, tb.addr())
	v2 := fetchVersion(t, rc2) // also warms the connection
	go func() {
		// rawFetch may only Fatalf from the test goroutine; decode here by hand.
		req := kmsg.NewPtrFetchRequest()
		req.Version = v2
		req.MaxWaitMillis = 5000
		req.MinBytes = 1
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic, ft.TopicID = "longpoll", created.ID
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.PartitionMaxBytes = 1 << 20
		ft.Partitions = []kmsg.FetchRequestTopicPartition{fp}
		req.Topics = []kmsg.FetchRequestTopic{ft}
		rc2.corr++
		if err := rc2.write(formatter.AppendRequest(nil, req, rc2.corr)); err != nil {
			got <- result{err: err.Error()}
			return
		}
		frame, err := rc2.readFrame(requestTimeout)
		if err != nil {
			got <- result{err: err.Error()}
			return
		}
		body, err := responseBody(frame, rc2.corr, req.IsFlexible())
		if err != nil {
			got <- result{err: err.Error()}
			return
		}
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.Version = v2
		if err := resp.ReadFrom(body); err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			got <- result{err: "malformed fetch response"}
			return
		}
		got <- result{p: resp.Topics[0].Partitions[0], at: time.Now()}
	}()
	fetchStart := time.Now()
	if _, err := cl.ProduceSync(ctxFor(t, requestTimeout), &kgo.Record{Topic: "longpoll", Value: []byte("wake")}).First(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	producedAt := time.Now()
	select {
	case r := <-got:
		if r.err != "" {
			t.Fatalf("waiting fetch: %s", r.err)
		}
		if lag := r.at.Sub(producedAt); lag > 2*time.Second || r.at.Sub(fetchStart) > 4*time.Second {
			t.Fatalf("waiting fetch returned %v after the produce (MaxWait 5s): not woken by the append", lag)
		}
		bs, _ := splitBatches(t, r.p.RecordBatches)
		if len(bs) != 1 || bs[0].FirstOffset != 0 || r.p.ErrorCode != 0 {
			t.Fatalf("waiting fetch: %d batches, error %v", len(bs), kerr.ErrorForCode(r.p.ErrorCode))
		}
	case <-time.After(requestTimeout):
		t.Fatalf("waiting fetch never returned")
	}

	// Data below MinBytes: the fetch waits MaxWait, then returns what there is.
	start = time.Now()
	p = rawFetch(t, rc, v, "longpoll", created.ID, 0, 1000, 1<<20, 4<<20, 4<<20)
	if el := time.Since(start); el < 900*time.Millisecond || el > 5*time.Second {
		t.Fatalf("fetch with unmet MinBytes returned after %v, want about MaxWait (1s)", el)
	}
	if bs, _ := splitBatches(t, p.RecordBatches); len(bs) != 1 {
		t.Fatalf("fetch with unmet MinBytes returned %d batches, want 1", len(bs))
	}
}

// TestFetchMaxBytes: the first batch is returned whole even when larger
// than MaxBytes or PartitionMaxBytes (KIP-74); otherwise the limits hold.
func TestFetchMaxBytes(t *testing.T) {
	t.Parallel()
	tb := startBroker(t)
	adm := newAdmin(t, tb.addr())
	created := createTopic(t, adm, "maxbytes", 1, nil)
	cl := newClient(t, tb.addr())
	const batches = 5
	for k := range batches {
		v := bytes.Repeat([]byte{byte('a' + k)}, 10_000)
		if _, err := cl.ProduceSync(ctxFor(t, requestTimeout), &kgo.Record{Topic: "maxbytes", Value: v}).First(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	rc := dialRaw(t, tb.addr())
	v := fetchVersion(t, rc)
	all := rawFetch(t, rc, v, "maxbytes", created.ID, 0, 0, 1, 1<<20, 1<<20)
	bs, partial := splitBatches(t, all.RecordBatches)
	if len(bs) != batches || partial != 0 {
		t.Fatalf("unbounded fetch: %d whole batches and %d partial bytes, want %d and 0", len(bs), partial, batches)
	}
	size := len(all.RecordBatches) / batches // the batches are equal in size

	cases := []struct {
		name               string
		offset             int64
		maxBytes, partMax  int32
		minWhole, maxWhole int
	}{
		{"request MaxBytes 1", 0, 1, 1 << 20, 1, 1},
		{"partition MaxBytes 1", 0, 1 << 20, 1, 1, 1},
		{"both 1, later offset", 2, 1, 1, 1, 1},
		{"request MaxBytes 2.5 batches", 0, int32(size * 5 / 2), 1 << 20, 2, 2},
		{"partition MaxBytes 2.5 batches", 1, 1 << 20, int32(size * 5 / 2), 2, 2},
	}
	for _, c := range cases {
		p := rawFetch(t, rc, v, "maxbytes", created.ID, c.offset, 0, 1, c.maxBytes, c.partMax)
		bs, partial := splitBatches(t, p.RecordBatches)
		if len(bs) < c.minWhole || len(bs) > c.maxWhole {
			t.Fatalf("%s: %d whole batches, want %d..%d", c.name, len(bs), c.minWhole, c.maxWhole)
		}
		if bs[0].FirstOffset != c.offset || bs[0].NumRecords != 1 {
			t.Fatalf("%s: first batch at offset %d with %d records, want offset %d", c.name, bs[0].FirstOffset, bs[0].NumRecords, c.offset)
		}
		limit := max(int(min(c.maxBytes, c.partMax)), size)
		if len(p.RecordBatches) > limit {
			t.Fatalf("%s: %d bytes returned (%d whole batches, %d partial), limit %d", c.name, len(p.RecordBatches), len(bs), partial, limit)
		}
		if p.HighWatermark != batches {
			t.Fatalf("%s: high watermark %d, want %d", c.name, p.HighWatermark, batches)
		}
	}
}

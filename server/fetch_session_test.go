package server_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/riffle-io/riffle/config"
)

// fetchSessionRig sends raw Fetch requests for one topic through a franz-go
// client pinned to a Fetch version: v12 names topics, v13+ uses topic IDs.
type fetchSessionRig struct {
	t     *testing.T
	cl    *kgo.Client
	topic string
	id    [16]byte
}

type fetchedPartition struct {
	err     int16
	hw      int64
	records int   // records in the returned batches
	last    int64 // offset of the last returned record, -1 if none
}

type fetchOutcome struct {
	version   int16
	errorCode int16
	sessionID int32
	parts     map[int32]fetchedPartition
}

// fetch sends one Fetch request: offsets are the partitions to send (nil for
// none), forget the partitions to forget.
func (r *fetchSessionRig) fetch(sessionID, epoch int32, offsets map[int32]int64, forget []int32, maxWait time.Duration) fetchOutcome {
	r.t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.SessionID, req.SessionEpoch = sessionID, epoch
	req.MaxWaitMillis = int32(maxWait / time.Millisecond)
	req.MinBytes = 1
	if len(offsets) > 0 {
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = r.topic, r.id
		for p, off := range offsets {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, off, 1<<20
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	if len(forget) > 0 {
		ft := kmsg.NewFetchRequestForgottenTopic()
		ft.Topic, ft.TopicID, ft.Partitions = r.topic, r.id, forget
		req.ForgottenTopics = append(req.ForgottenTopics, ft)
	}
	resp, err := req.RequestWith(ctxFor(r.t, requestTimeout), r.cl)
	if err != nil {
		r.t.Fatalf("fetch (session %d, epoch %d): %v", sessionID, epoch, err)
	}
	out := fetchOutcome{version: resp.Version, errorCode: resp.ErrorCode, sessionID: resp.SessionID, parts: map[int32]fetchedPartition{}}
	for _, rt := range resp.Topics {
		if (resp.Version >= 13 && rt.TopicID != r.id) || (resp.Version < 13 && rt.Topic != r.topic) {
			r.t.Fatalf("response names topic %q/%x, want %q/%x", rt.Topic, rt.TopicID, r.topic, r.id)
		}
		for _, rp := range rt.Partitions {
			if _, dup := out.parts[rp.Partition]; dup {
				r.t.Fatalf("partition %d answered twice", rp.Partition)
			}
			n, last := countRecords(r.t, rp.RecordBatches)
			out.parts[rp.Partition] = fetchedPartition{err: rp.ErrorCode, hw: rp.HighWatermark, records: n, last: last}
		}
	}
	return out
}

// countRecords counts the records of v2 batches.
func countRecords(t *testing.T, data []byte) (int, int64) {
	t.Helper()
	n, last := 0, int64(-1)
	for len(data) >= 12 {
		size := 12 + int(binary.BigEndian.Uint32(data[8:12]))
		if size > len(data) {
			break // a partial batch at the end is allowed
		}
		var b kmsg.RecordBatch
		if err := b.ReadFrom(data[:size]); err != nil {
			t.Fatalf("bad batch: %v", err)
		}
		n += int(b.NumRecords)
		last = b.FirstOffset + int64(b.LastOffsetDelta)
		data = data[size:]
	}
	return n, last
}

func (o fetchOutcome) partitionSet() string {
	var s []string
	for p := 0; p < 16; p++ {
		if fp, ok := o.parts[int32(p)]; ok {
			s = append(s, fmt.Sprintf("%d(err=%d,hw=%d,n=%d)", p, fp.err, fp.hw, fp.records))
		}
	}
	return "[" + strings.Join(s, " ") + "]"
}

// produceTo appends one record to each given partition and waits for the acks.
func produceTo(t *testing.T, cl *kgo.Client, topic string, partitions ...int32) {
	t.Helper()
	for _, p := range partitions {
		r := &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "p%d-%d", p, time.Now().UnixNano())}
		if err := cl.ProduceSync(ctxFor(t, requestTimeout), r).FirstErr(); err != nil {
			t.Fatalf("produce to %s/%d: %v", topic, p, err)
		}
	}
}

func newFetchSessionRig(t *testing.T, tb *testBroker, topic string, partitions int32, opts ...kgo.Opt) *fetchSessionRig {
	t.Helper()
	adm := newAdmin(t, tb.addr())
	ct := createTopic(t, adm, topic, partitions, nil)
	return &fetchSessionRig{t: t, cl: newClient(t, tb.addr(), opts...), topic: topic, id: [16]byte(ct.ID)}
}

// TestFetchSessionIncremental walks a session through its life (KIP-227):
// created by a full fetch, incremental fetches answer only the partitions
// that changed, a wrong epoch or ID is refused without advancing the
// session, forgotten partitions stop being read, and FINAL_EPOCH closes it.
// A broker that kept no sessions fails at the first check.
func TestFetchSessionIncremental(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts []kgo.Opt
		ids  bool
	}{
		{"names_v12", []kgo.Opt{kgo.MaxVersions(kversion.V3_0_0())}, false},
		{"topic_ids", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tb := startBroker(t)
			r := newFetchSessionRig(t, tb, "fs-"+tc.name, 3, tc.opts...)
			prod := newClient(t, tb.addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			produceTo(t, prod, r.topic, 0, 1, 2)

			full := r.fetch(0, 0, map[int32]int64{0: 0, 1: 0, 2: 0}, nil, 0)
			if (full.version >= 13) != tc.ids {
				t.Fatalf("Fetch v%d, want topic IDs %v", full.version, tc.ids)
			}
			if full.errorCode != 0 || full.sessionID == 0 {
				t.Fatalf("full fetch: error %d, session %d; want a new session", full.errorCode, full.sessionID)
			}
			if len(full.parts) != 3 {
				t.Fatalf("full fetch answered %s, want all three partitions", full.partitionSet())
			}
			for p, fp := range full.parts {
				if fp.err != 0 || fp.records != 1 || fp.hw != 1 {
					t.Fatalf("full fetch partition %d: %+v", p, fp)
				}
			}
			id := full.sessionID

			// The fetcher moves its offsets past the records: nothing is
			// new, so nothing is answered.
			inc := r.fetch(id, 1, map[int32]int64{0: 1, 1: 1, 2: 1}, nil, 0)
			if inc.errorCode != 0 || inc.sessionID != id || len(inc.parts) != 0 {
				t.Fatalf("epoch 1: error %d session %d parts %s; want session %d and no partitions",
					inc.errorCode, inc.sessionID, inc.partitionSet(), id)
			}

			// New data on partition 1 only: the request names no
			// partition, the session reads all three, the response
			// carries partition 1.
			produceTo(t, prod, r.topic, 1)
			inc = r.fetch(id, 2, nil, nil, 0)
			if inc.errorCode != 0 || inc.sessionID != id || len(inc.parts) != 1 || inc.parts[1].records != 1 || inc.parts[1].last != 1 {
				t.Fatalf("epoch 2: error %d session %d parts %s; want only partition 1 with offset 1",
					inc.errorCode, inc.sessionID, inc.partitionSet())
			}

			// A duplicate of epoch 2 is refused and does not advance
			// the session; epoch 3 still works.
			if dup := r.fetch(id, 2, nil, nil, 0); dup.errorCode != kerr.InvalidFetchSessionEpoch.Code || len(dup.parts) != 0 {
				t.Fatalf("stale epoch: error %d parts %s, want INVALID_FETCH_SESSION_EPOCH", dup.errorCode, dup.partitionSet())
			}
			unknown := id ^ 0x5a5a5a
			if unknown <= 0 {
				unknown = 1
			}
			if nf := r.fetch(unknown, 1, nil, nil, 0); nf.errorCode != kerr.FetchSessionIDNotFound.Code {
				t.Fatalf("unknown session: error %d, want FETCH_SESSION_ID_NOT_FOUND", nf.errorCode)
			}
			inc = r.fetch(id, 3, map[int32]int64{1: 2}, nil, 0)
			if inc.errorCode != 0 || len(inc.parts) != 0 {
				t.Fatalf("epoch 3: error %d parts %s; want no partitions", inc.errorCode, inc.partitionSet())
			}

			// Forget partition 2: new data there is no longer read.
			inc = r.fetch(id, 4, nil, []int32{2}, 0)
			if inc.errorCode != 0 || len(inc.parts) != 0 {
				t.Fatalf("epoch 4: error %d parts %s", inc.errorCode, inc.partitionSet())
			}
			produceTo(t, prod, r.topic, 0, 2)
			inc = r.fetch(id, 5, nil, nil, 0)
			if inc.errorCode != 0 || len(inc.parts) != 1 || inc.parts[0].records != 1 {
				t.Fatalf("epoch 5: error %d parts %s; want only partition 0", inc.errorCode, inc.partitionSet())
			}

			// FINAL_EPOCH: a sessionless full fetch that closes the session.
			final := r.fetch(id, -1, map[int32]int64{0: 0, 2: 0}, nil, 0)
			if final.errorCode != 0 || final.sessionID != 0 || len(final.parts) != 2 || final.parts[2].records != 2 {
				t.Fatalf("final epoch: error %d session %d parts %s", final.errorCode, final.sessionID, final.partitionSet())
			}
			if gone := r.fetch(id, 6, nil, nil, 0); gone.errorCode != kerr.FetchSessionIDNotFound.Code {
				t.Fatalf("closed session: error %d, want FETCH_SESSION_ID_NOT_FOUND", gone.errorCode)
			}
		})
	}
}

// TestFetchSessionLongPoll: an incremental fetch with nothing new waits
// (MaxWaitMillis) across every session partition and answers the one that
// gets a record.
func TestFetchSessionLongPoll(t *testing.T) {
	t.Parallel()
	tb := startBroker(t)
	r := newFetchSessionRig(t, tb, "fs-longpoll", 4)
	prod := newClient(t, tb.addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	full := r.fetch(0, 0, map[int32]int64{0: 0, 1: 0, 2: 0, 3: 0}, nil, 0)
	if full.sessionID == 0 {
		t.Fatalf("no session created: %+v", full)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(300 * time.Millisecond)
		produceTo(t, prod, r.topic, 3)
	}()
	start := time.Now()
	inc := r.fetch(full.sessionID, 1, nil, nil, 10*time.Second)
	waited := time.Since(start)
	wg.Wait()
	if inc.errorCode != 0 || len(inc.parts) != 1 || inc.parts[3].records != 1 {
		t.Fatalf("long poll: error %d parts %s; want partition 3's record", inc.errorCode, inc.partitionSet())
	}
	if waited >= 9*time.Second {
		t.Fatalf("long poll answered after %v: the append did not wake it", waited)
	}
}

// TestFetchSessionTopicIDs: v13+ sessions key partitions by topic ID. An
// unknown ID answers UNKNOWN_TOPIC_ID, a session partition whose topic was
// re-created under its name answers INCONSISTENT_TOPIC_ID, and a session
// created with IDs refuses to go on with names.
func TestFetchSessionTopicIDs(t *testing.T) {
	t.Parallel()
	tb := startBroker(t)
	r := newFetchSessionRig(t, tb, "fs-ids", 1)
	if r.id == [16]byte{} {
		t.Fatal("topic created without an ID")
	}

	unknown := &fetchSessionRig{t: t, cl: r.cl, topic: "", id: [16]byte{1, 2, 3}}
	u := unknown.fetch(0, 0, map[int32]int64{0: 0}, nil, 0)
	if u.errorCode != 0 || u.parts[0].err != kerr.UnknownTopicID.Code {
		t.Fatalf("unknown topic ID: error %d parts %s; want UNKNOWN_TOPIC_ID", u.errorCode, u.partitionSet())
	}

	full := r.fetch(0, 0, map[int32]int64{0: 0}, nil, 0)
	if full.errorCode != 0 || full.sessionID == 0 || full.parts[0].err != 0 {
		t.Fatalf("full fetch: %+v", full)
	}

	// Continuing the session with Fetch v12 (names) is refused.
	names := &fetchSessionRig{t: t, cl: newClient(t, tb.addr(), kgo.MaxVersions(kversion.V3_0_0())), topic: r.topic}
	if o := names.fetch(full.sessionID, 1, nil, nil, 0); o.errorCode != kerr.FetchSessionTopicIDError.Code {
		t.Fatalf("v%d on a topic-ID session: error %d, want FETCH_SESSION_TOPIC_ID_ERROR", o.version, o.errorCode)
	}

	adm := newAdmin(t, tb.addr())
	resp, err := adm.DeleteTopics(ctxFor(t, requestTimeout), r.topic)
	if err != nil || resp[r.topic].Err != nil {
		t.Fatalf("delete %s: %v %v", r.topic, err, resp[r.topic].Err)
	}
	var ct kadmCreate
	if !poll(requestTimeout, func() bool {
		c, err := adm.CreateTopic(ctxFor(t, requestTimeout), 1, 1, nil, r.topic)
		ct = kadmCreate{[16]byte(c.ID), c.Err}
		return err == nil && c.Err == nil
	}) {
		t.Fatalf("re-create %s: %v", r.topic, ct.err)
	}
	waitTopicReady(t, adm, r.topic, 1)
	if ct.id == r.id {
		t.Fatal("re-created topic kept its ID")
	}
	inc := r.fetch(full.sessionID, 1, nil, nil, 0)
	if inc.errorCode != 0 || len(inc.parts) != 1 || inc.parts[0].err != kerr.InconsistentTopicID.Code {
		t.Fatalf("re-created topic: error %d parts %s; want INCONSISTENT_TOPIC_ID", inc.errorCode, inc.partitionSet())
	}
}

type kadmCreate struct {
	id  [16]byte
	err error
}

// TestFetchSessionCacheFull: with one slot, a second fetcher gets no session
// but its data; a fresh session is evicted only for a more valuable one (more
// partitions, once it is older than the eviction time), a stale one for any.
func TestFetchSessionCacheFull(t *testing.T) {
	t.Parallel()
	const evictionMs = 2000
	tb := startBroker(t, func(c *config.Broker) {
		c.MaxIncrementalFetchSessionCacheSlots = 1
		c.MinIncrementalFetchSessionEvictionMs = evictionMs
		c.AdminListener = "127.0.0.1:0"
	})
	r := newFetchSessionRig(t, tb, "fs-full", 2)
	prod := newClient(t, tb.addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceTo(t, prod, r.topic, 0, 1)

	a := r.fetch(0, 0, map[int32]int64{0: 0}, nil, 0)
	if a.sessionID == 0 {
		t.Fatalf("first session not created: %+v", a)
	}
	b := r.fetch(0, 0, map[int32]int64{1: 0}, nil, 0)
	if b.errorCode != 0 || b.sessionID != 0 || b.parts[1].records != 1 {
		t.Fatalf("cache full: error %d session %d parts %s; want no session and the record", b.errorCode, b.sessionID, b.partitionSet())
	}
	if o := r.fetch(a.sessionID, 1, map[int32]int64{0: 1}, nil, 0); o.errorCode != 0 || o.sessionID != a.sessionID {
		t.Fatalf("first session after a refused one: %+v", o)
	}
	if got := scrapeMetric(t, tb, "kafka_server_fetchsessioncache_numincrementalfetchsessions"); got != "1" {
		t.Fatalf("sessions gauge = %q, want 1", got)
	}

	// Once older than the eviction time, and just used, session A may
	// be evicted by a bigger session, not by one of its size.
	time.Sleep(evictionMs*time.Millisecond + 200*time.Millisecond)
	if o := r.fetch(a.sessionID, 2, nil, nil, 0); o.errorCode != 0 {
		t.Fatalf("session A at epoch 2: %+v", o)
	}
	if c := r.fetch(0, 0, map[int32]int64{1: 0}, nil, 0); c.sessionID != 0 {
		t.Fatalf("a session of the same size evicted session A (got %d)", c.sessionID)
	}
	d := r.fetch(0, 0, map[int32]int64{0: 0, 1: 0}, nil, 0)
	if d.sessionID == 0 {
		t.Fatal("a bigger session did not evict the older, smaller one")
	}
	if o := r.fetch(a.sessionID, 3, nil, nil, 0); o.errorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("evicted session A: error %d, want FETCH_SESSION_ID_NOT_FOUND", o.errorCode)
	}

	// Unused for longer than the eviction time, D is stale: any new
	// session replaces it.
	time.Sleep(evictionMs*time.Millisecond + 200*time.Millisecond)
	e := r.fetch(0, 0, map[int32]int64{1: 0}, nil, 0)
	if e.sessionID == 0 {
		t.Fatal("a stale session was not evicted")
	}
	if o := r.fetch(d.sessionID, 1, nil, nil, 0); o.errorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("stale session D: error %d, want FETCH_SESSION_ID_NOT_FOUND", o.errorCode)
	}
	if got := scrapeMetric(t, tb, "kafka_server_fetchsessioncache_incrementalfetchsessionevictions_total"); got != "2" {
		t.Fatalf("evictions = %q, want 2", got)
	}
	if got := scrapeMetric(t, tb, "kafka_server_fetchsessioncache_numincrementalfetchpartitionscached"); got != "1" {
		t.Fatalf("partitions cached = %q, want 1", got)
	}
}

// TestFetchSessionsDisabled: max.incremental.fetch.session.cache.slots=0
// creates no session; fetches still return data.
func TestFetchSessionsDisabled(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(c *config.Broker) { c.MaxIncrementalFetchSessionCacheSlots = 0 })
	r := newFetchSessionRig(t, tb, "fs-off", 1)
	produceTo(t, newClient(t, tb.addr()), r.topic, 0)
	o := r.fetch(0, 0, map[int32]int64{0: 0}, nil, 0)
	if o.errorCode != 0 || o.sessionID != 0 || o.parts[0].records != 1 {
		t.Fatalf("sessions disabled: %+v", o)
	}
}

// scrapeMetric returns the value of an unlabelled metric on /metrics.
func scrapeMetric(t *testing.T, tb *testBroker, name string) string {
	t.Helper()
	resp, err := http.Get("http://" + tb.b.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	t.Fatalf("metric %s missing", name)
	return ""
}

// TestFetchSessionConsumer: a franz-go consumer (fetch sessions on, as by
// default) reads four partitions while they are produced to in rounds, and
// sees every record once, in order; the broker held its session meanwhile.
func TestFetchSessionConsumer(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(c *config.Broker) { c.AdminListener = "127.0.0.1:0" })
	const topic, parts, rounds, perRound = "fs-consume", 4, 6, 50
	createTopic(t, newAdmin(t, tb.addr()), topic, parts, nil)
	prod := newClient(t, tb.addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	cons := newClient(t, tb.addr(), kgo.ConsumeTopics(topic), kgo.FetchMaxWait(200*time.Millisecond))

	ctx := ctxFor(t, readTimeout)
	next := make(map[int32]int) // per partition: the next sequence number expected
	total := 0
	sawSession := false
	consumeUntil := func(want int) {
		t.Helper()
		for total < want {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("consumed %d of %d records", total, want)
			}
			fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
			fs.EachRecord(func(rec *kgo.Record) {
				var p int32
				var seq int
				if _, err := fmt.Sscanf(string(rec.Value), "p%d-s%d", &p, &seq); err != nil || p != rec.Partition {
					t.Fatalf("record %q on partition %d", rec.Value, rec.Partition)
				}
				if seq != next[p] || rec.Offset != int64(seq) {
					t.Fatalf("partition %d: got seq %d at offset %d, want seq %d", p, seq, rec.Offset, next[p])
				}
				next[p]++
				total++
			})
			if !sawSession && scrapeMetric(t, tb, "kafka_server_fetchsessioncache_numincrementalfetchsessions") != "0" {
				sawSession = true
			}
		}
	}
	seq := make(map[int32]int)
	for round := range rounds {
		var recs []*kgo.Record
		for i := range perRound {
			// Uneven rounds: some partitions get nothing in a round,
			// so incremental responses omit them.
			p := int32((i * (round + 1)) % parts)
			if round%2 == 1 && p == 0 {
				continue
			}
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "p%d-s%d", p, seq[p])})
			seq[p]++
		}
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		want := 0
		for _, n := range seq {
			want += n
		}
		consumeUntil(want)
	}
	// Nothing more arrives.
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if fs := cons.PollFetches(short); fs.NumRecords() != 0 {
		t.Fatalf("%d records after the last one", fs.NumRecords())
	}
	if !sawSession {
		t.Fatal("the consumer never held a fetch session")
	}
}

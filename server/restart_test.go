package server_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRestartGraceful: records acknowledged with acks=1 survive a graceful
// shutdown; the topic keeps its ID; offsets continue after the restart.
func TestRestartGraceful(t *testing.T) {
	t.Parallel()
	const (
		parts = 4
		batch = 20_000
		topic = "restart"
	)
	tb := startBroker(t)
	adm := newAdmin(t, tb.addr())
	created := createTopic(t, adm, topic, parts, nil)
	base := genBase()
	acks1 := []kgo.Opt{
		kgo.DisableIdempotentWrite(),
		kgo.RequiredAcks(kgo.LeaderAck()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	}
	cl := newClient(t, tb.addr(), acks1...)
	produceGenerated(t, cl, topic, 0, batch, parts, base, nil)
	cl.Close()

	tb.restart()
	adm = newAdmin(t, tb.addr())
	waitTopicReady(t, adm, topic, parts)
	checkTopicID(t, adm, topic, created.ID)
	consumeGenerated(t, tb.addr(), topic, batch, parts, base)

	// Records batch… continue at offset batch/parts in every partition.
	cl = newClient(t, tb.addr(), acks1...)
	produceGenerated(t, cl, topic, batch, 2*batch, parts, base, nil)
	cl.Close()

	tb.restart()
	adm = newAdmin(t, tb.addr())
	waitTopicReady(t, adm, topic, parts)
	checkTopicID(t, adm, topic, created.ID)
	for p, o := range endOffsets(t, adm, topic) {
		if o != 2*batch/parts {
			t.Fatalf("partition %d: end offset %d after second restart, want %d", p, o, 2*batch/parts)
		}
	}
	consumeGenerated(t, tb.addr(), topic, 2*batch, parts, base)
}

func checkTopicID(t testing.TB, adm *kadm.Client, topic string, want kadm.TopicID) {
	t.Helper()
	md, err := adm.Metadata(ctxFor(t, requestTimeout), topic)
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	got := md.Topics[topic].ID
	if got == (kadm.TopicID{}) {
		t.Fatalf("topic %s has no topic ID in Metadata", topic)
	}
	if got != want {
		t.Fatalf("topic %s: ID %s, want %s (IDs must be stable)", topic, got, want)
	}
}

// TestCrashRecovery kills the riffle process with SIGKILL while a producer
// is mid-stream, restarts it on the same log dir, and checks that every
// acknowledged record is there exactly once at its acknowledged offset and
// that whatever else is there is whole records that were sent.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	bin := buildRiffle(t)
	modes := []struct {
		name string
		opts []kgo.Opt
	}{
		{"acks=all-idempotent", nil},
		{"acks=1", []kgo.Opt{kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.LeaderAck())}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			crashAndRecover(t, bin, m.opts)
		})
	}
}

type ack struct {
	partition int32
	offset    int64
}

func crashAndRecover(t *testing.T, bin string, opts []kgo.Opt) {
	const (
		parts      = 4
		topic      = "crash"
		killAfter  = 40_000  // acknowledged records before SIGKILL
		sendAtMost = 400_000 // bounds the producer if the kill is slow
	)
	proc := startProc(t, bin, t.TempDir(), freePort(t), freePort(t))
	adm := newAdmin(t, proc.addr())
	createTopic(t, adm, topic, parts, nil)
	base := genBase()

	var (
		mu     sync.Mutex
		acked  = make(map[int]ack)
		nAcked atomic.Int64
		sent   atomic.Int64
	)
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(proc.addr()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(time.Millisecond),
	}, opts...)...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < sendAtMost && ctx.Err() == nil; i++ {
			sent.Store(int64(i + 1))
			cl.Produce(ctx, gen(i, parts, base).kgo(topic), func(r *kgo.Record, err error) {
				if err != nil {
					return
				}
				mu.Lock()
				acked[i] = ack{r.Partition, r.Offset}
				mu.Unlock()
				nAcked.Add(1)
			})
		}
	}()
	if !poll(readTimeout, func() bool { return nAcked.Load() >= killAfter }) {
		cancel()
		cl.Close()
		t.Fatalf("only %d records acknowledged before the deadline", nAcked.Load())
	}
	proc.kill()
	cancel()
	cl.Close() // fails everything still buffered; no more acks can arrive
	select {
	case <-done:
	case <-time.After(requestTimeout):
		t.Fatalf("producer goroutine did not stop")
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("sent %d records, %d acknowledged before SIGKILL", sent.Load(), len(acked))

	proc.start()
	adm = newAdmin(t, proc.addr())
	waitTopicReady(t, adm, topic, parts)
	need := make(map[int32]int64)
	for _, a := range acked {
		need[a.partition] = max(need[a.partition], a.offset+1)
	}
	var ends map[int32]int64
	if !poll(startTimeout, func() bool {
		ends = endOffsets(t, adm, topic)
		for p, n := range need {
			if ends[p] < n {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("after restart end offsets %v, but acknowledged records need %v", ends, need)
	}

	seen := make(map[int]ack)
	for p := range int32(parts) {
		recs := readPartition(t, proc.addr(), topic, p, int(ends[p]))
		last := -1
		for k, r := range recs {
			if r.Offset != int64(k) {
				t.Fatalf("partition %d: offset %d at position %d; offsets must be dense", p, r.Offset, k)
			}
			i, ok := parseValueID(r.Value)
			if !ok {
				t.Fatalf("partition %d offset %d: value %q was never sent (torn or corrupt record)", p, r.Offset, r.Value)
			}
			if d := gen(i, parts, base).check(r.Partition, r.Key, r.Value, kgoHeaders(r), r.Timestamp); d != "" {
				t.Fatalf("partition %d offset %d: %s", p, r.Offset, d)
			}
			if prev, dup := seen[i]; dup {
				t.Fatalf("record %d appears twice: %d/%d and %d/%d", i, prev.partition, prev.offset, p, r.Offset)
			}
			if i <= last {
				t.Fatalf("partition %d offset %d: record %d follows record %d; order per partition lost", p, r.Offset, i, last)
			}
			last = i
			seen[i] = ack{p, r.Offset}
		}
	}
	for i, a := range acked {
		got, ok := seen[i]
		if !ok {
			t.Fatalf("acknowledged record %d (%d/%d) lost", i, a.partition, a.offset)
		}
		if got != a {
			t.Fatalf("acknowledged record %d at %d/%d, found at %d/%d", i, a.partition, a.offset, got.partition, got.offset)
		}
	}
	t.Logf("recovered %d records (%d acknowledged, %d unacknowledged but whole)", len(seen), len(acked), len(seen)-len(acked))

	// The log continues where recovery left it.
	cl2 := newClient(t, proc.addr(), append([]kgo.Opt{kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)...)
	for p := range int32(parts) {
		res := cl2.ProduceSync(ctxFor(t, requestTimeout), &kgo.Record{Topic: topic, Partition: p, Value: []byte(fmt.Sprintf("after-crash-%d", p))})
		r, err := res.First()
		if err != nil {
			t.Fatalf("produce after restart: %v", err)
		}
		if r.Offset != ends[p] {
			t.Fatalf("partition %d: first offset after restart %d, want %d", p, r.Offset, ends[p])
		}
	}
	cl2.Close()
	proc.terminate()
}

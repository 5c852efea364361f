package server_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riffle-io/riffle/config"
)

// TestProducerIDExpiration: an idempotent producer idle for
// producer.id.expiration.ms is forgotten by the partition leader, checked
// every producer.id.expiration.check.interval.ms (Kafka's
// ProducerStateManager.removeExpiredProducers). Its next batch, sequence 3,
// is then accepted as a new producer's, as Kafka 4.x does since KIP-360
// (no UNKNOWN_PRODUCER_ID): franz-go keeps producing without an error.
func TestProducerIDExpiration(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(c *config.Broker) {
		c.ProducerIDExpirationMs = 5000
		c.ProducerIDExpirationCheckIntervalMs = 50
	})
	adm := newAdmin(t, tb.addr())
	const topic = "expiring-producers"
	createTopic(t, adm, topic, 1, nil)
	waitTopicReady(t, adm, topic, 1)
	cl := newClient(t, tb.addr(), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx := ctxFor(t, 60*time.Second)

	produce := func(v string) *kgo.Record {
		t.Helper()
		r, err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v), Partition: 0}).First()
		if err != nil {
			t.Fatalf("produce %s: %v", v, err)
		}
		return r
	}
	active := func() []kadm.DescribedProducer {
		t.Helper()
		dp, err := adm.DescribeProducers(ctx, kadm.TopicsSet{topic: {0: {}}})
		if err != nil {
			t.Fatal(err)
		}
		p := dp[topic].Partitions[0]
		if p.Err != nil {
			t.Fatal(p.Err)
		}
		var out []kadm.DescribedProducer
		for _, ap := range p.ActiveProducers {
			out = append(out, ap)
		}
		return out
	}

	for _, v := range []string{"a", "b", "c"} { // sequences 0, 1, 2
		produce(v)
	}
	if ps := active(); len(ps) != 1 || ps[0].LastSequence != 2 {
		t.Fatalf("active producers after three batches: %+v", ps)
	}
	if !poll(30*time.Second, func() bool { return len(active()) == 0 }) {
		t.Fatalf("producer not expired: %+v", active())
	}
	r := produce("d") // sequence 3 from a producer the broker forgot
	if r.Offset != 3 {
		t.Fatalf("batch after expiration at offset %d, want 3", r.Offset)
	}
	if ps := active(); len(ps) != 1 || ps[0].LastSequence != 3 {
		t.Fatalf("active producers after expiration and a new batch: %+v", ps)
	}
}

package server_test

// Helpers shared by the admin API tests (admin_*_test.go).

import (
	"context"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func sp(s string) *string { return &s }

// request sends one raw request through a franz-go client.
func request[R kmsg.Response](t testing.TB, cl *kgo.Client, req kmsg.Request) R {
	t.Helper()
	resp, err := cl.Request(ctxFor(t, requestTimeout), req)
	if err != nil {
		t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp.(R)
}

// startAdminBroker starts a broker for an admin test and returns it with a
// franz-go client, a kadm client over that client, and a context bounded by
// requestTimeout.
func startAdminBroker(t testing.TB) (*testBroker, *kgo.Client, *kadm.Client, context.Context) {
	t.Helper()
	tb := startBroker(t)
	cl := newClient(t, tb.addr())
	return tb, cl, kadm.NewClient(cl), ctxFor(t, requestTimeout)
}

// saramaClusterAdmin opens a Sarama ClusterAdmin, speaking Kafka 3.6's
// versions, on the broker at addr; it is closed when the test ends.
func saramaClusterAdmin(t testing.TB, addr string) sarama.ClusterAdmin {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	ca, err := sarama.NewClusterAdmin([]string{addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ca.Close() })
	return ca
}

// produceN writes n small records to partition 0 of topic with an
// idempotent producer.
func produceN(t testing.TB, addr, topic string, n int) {
	t.Helper()
	cl := newClient(t, addr, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Partition: 0, Value: []byte{byte(i)}})
	}
	if err := cl.ProduceSync(ctxFor(t, requestTimeout), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

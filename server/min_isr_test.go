package server_test

import (
	"context"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestMinInsyncReplicas: with min.insync.replicas above the ISR size, an
// acks=all produce is refused with NOT_ENOUGH_REPLICAS and nothing is written,
// while acks=1 still succeeds, as in Kafka.
func TestMinInsyncReplicas(t *testing.T) {
	t.Parallel()
	tb := startBroker(t)
	adm := newAdmin(t, tb.addr())
	v := "2"
	createTopic(t, adm, "minisr", 1, map[string]*string{"min.insync.replicas": &v})

	all := newClient(t, tb.addr(), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(0),
		kgo.UnknownTopicRetries(0))
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	err := all.ProduceSync(ctx, &kgo.Record{Topic: "minisr", Value: []byte("x")}).FirstErr()
	if !errors.Is(err, kerr.NotEnoughReplicas) {
		t.Fatalf("acks=all produce: %v, want NOT_ENOUGH_REPLICAS", err)
	}
	one := newClient(t, tb.addr(), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	if err := one.ProduceSync(ctx, &kgo.Record{Topic: "minisr", Value: []byte("y")}).FirstErr(); err != nil {
		t.Fatalf("acks=1 produce: %v", err)
	}
	if got := endOffsets(t, adm, "minisr")[0]; got != 1 {
		t.Fatalf("end offset %d, want 1 (only the acks=1 record)", got)
	}
}

package server_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// saramaGroupHandler records every message and marks it for commit.
type saramaGroupHandler struct {
	got *consumed
}

func (saramaGroupHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (saramaGroupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h saramaGroupHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.got.add(&kgo.Record{Partition: m.Partition, Offset: m.Offset})
		s.MarkMessage(m, "sarama")
	}
	return nil
}

// startGroupTopic starts a broker for group tests with topic holding n
// generated records over parts partitions, and returns it with an admin
// client.
func startGroupTopic(t testing.TB, topic string, parts, n int) (*testBroker, *kadm.Client) {
	t.Helper()
	tb := startBroker(t, groupTestConfig)
	adm := newAdmin(t, tb.addr())
	createTopic(t, adm, topic, int32(parts), nil)
	cl := newClient(t, tb.addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceGenerated(t, cl, topic, 0, n, parts, genBase(), nil)
	return tb, adm
}

// TestGroupSarama: two Sarama ConsumerGroup members (Sarama's default
// protocol version) share a topic, consume all of it and commit; the
// committed offsets, with Sarama's metadata string, reach the end.
func TestGroupSarama(t *testing.T) {
	t.Parallel()
	const topic, group, parts = "sarama-group", "sarama-group", 4
	tb, adm := startGroupTopic(t, topic, parts, 4000)

	got := newConsumed()
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		cfg := saramaConfig(nil, sarama.CompressionNone)
		cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
		cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
		cfg.Consumer.Group.Session.Timeout = 6 * time.Second
		cfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
		cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
		cg, err := sarama.NewConsumerGroup([]string{tb.addr()}, group, cfg)
		if err != nil {
			t.Fatalf("sarama.NewConsumerGroup: %v", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := cg.Consume(ctx, []string{topic}, saramaGroupHandler{got}); err != nil && ctx.Err() == nil {
					t.Errorf("sarama consume: %v", err)
					return
				}
			}
		}()
		t.Cleanup(func() { _ = cg.Close() })
		defer func() { _ = cg.Close() }()
	}
	ends := endOffsets(t, adm, topic)
	if !poll(readTimeout, func() bool { return len(got.missing(ends)) == 0 }) {
		t.Fatalf("sarama group missed records: %v", got.missing(ends))
	}
	waitSettled(t, adm, "classic", group, topic, parts, 2)
	waitCommittedAtEnd(t, adm, group, topic, ends)
	offs, err := adm.FetchOffsets(ctxFor(t, requestTimeout), group)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := offs.Lookup(topic, 0); o.Metadata != "sarama" {
		t.Fatalf("committed metadata %q, want %q", o.Metadata, "sarama")
	}
	cancel()
	wg.Wait()
}

// TestGroupKafkaGo: segmentio/kafka-go Readers with a GroupID consume a
// topic between them, committing as they read.
func TestGroupKafkaGo(t *testing.T) {
	t.Parallel()
	const topic, group, parts = "kafkago-group", "kafkago-group", 4
	tb, adm := startGroupTopic(t, topic, parts, 2000)

	got := newConsumed()
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers:           []string{tb.addr()},
			GroupID:           group,
			Topic:             topic,
			MaxWait:           200 * time.Millisecond,
			StartOffset:       kafka.FirstOffset,
			HeartbeatInterval: 500 * time.Millisecond,
			SessionTimeout:    6 * time.Second,
			RebalanceTimeout:  6 * time.Second,
			JoinGroupBackoff:  100 * time.Millisecond,
		})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				m, err := r.ReadMessage(ctx) // commits as it reads
				if err != nil {
					return
				}
				got.add(&kgo.Record{Partition: int32(m.Partition), Offset: m.Offset})
			}
		}()
		defer func() { _ = r.Close() }()
	}
	ends := endOffsets(t, adm, topic)
	if !poll(readTimeout, func() bool { return len(got.missing(ends)) == 0 }) {
		t.Fatalf("kafka-go group missed records: %v", got.missing(ends))
	}
	waitCommittedAtEnd(t, adm, group, topic, ends)
	cancel()
	wg.Wait()
}

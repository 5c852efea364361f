package server_test

import (
	"context"
	"regexp"
	"slices"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestGroupConsumerProtocolRegexWholeName: the broker resolves a KIP-848
// SubscribedTopicRegex as Kafka does, against the whole topic name and over
// internal topics too. A raw heartbeat with the bare regex "rxw-orders" is
// assigned rxw-orders only, not rxw-orders-v2; a franz-go consumer (which
// wraps its regexes in ".*" for exactly this reason) that names
// __consumer_offsets is assigned it and consumes it.
func TestGroupConsumerProtocolRegexWholeName(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, groupTestConfig)
	adm := newAdmin(t, tb.addr())
	ctx := ctxFor(t, readTimeout)
	createTopic(t, adm, "rxw-orders", 1, nil)
	createTopic(t, adm, "rxw-orders-v2", 1, nil)
	cl := newClient(t, tb.addr())
	for _, topic := range []string{"rxw-orders", "rxw-orders-v2"} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatalf("produce to %s: %v", topic, err)
		}
	}
	td, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := map[[16]byte]string{}
	for _, d := range td {
		names[d.ID] = d.Topic
	}

	// A bare regex, heartbeated by hand: only the whole-name match.
	var got []string
	if !poll(requestTimeout, func() bool {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Group, req.MemberID, req.MemberEpoch = "rxw-raw", "rxw-raw-member-0000001", 0
		req.RebalanceTimeoutMillis = 30_000
		req.SubscribedTopicRegex = kmsg.StringPtr("rxw-orders")
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 || resp.Assignment == nil {
			return false
		}
		got = got[:0]
		for _, at := range resp.Assignment.Topics {
			got = append(got, names[at.TopicID])
		}
		return true
	}) {
		t.Fatal("the raw member was never assigned anything")
	}
	if len(got) != 1 || got[0] != "rxw-orders" {
		t.Fatalf("regex rxw-orders was assigned %v, want only rxw-orders", got)
	}

	// franz-go, naming an internal topic by regex.
	var mu sync.Mutex
	assignedTopics := map[string]bool{}
	consumer := newClient(t, tb.addr(),
		kgo.ConsumerGroup("rxw-franz"),
		kgo.ServerSideBalancer(),
		kgo.ConsumeRegex(),
		kgo.ConsumeTopics("rxw-orders", regexp.QuoteMeta("__consumer_offsets")),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			mu.Lock()
			defer mu.Unlock()
			for topic := range m {
				assignedTopics[topic] = true
			}
		}),
	)
	seen := map[string]bool{}
	for !(seen["rxw-orders"] && seen["rxw-orders-v2"]) {
		fs := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed from %v; want rxw-orders and rxw-orders-v2", seen)
		}
		fs.EachTopic(func(ft kgo.FetchTopic) {
			if len(ft.Records()) > 0 {
				seen[ft.Topic] = true
			}
		})
	}
	if !poll(requestTimeout, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return assignedTopics["__consumer_offsets"]
	}) {
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("assigned %v; a regex naming __consumer_offsets must be assigned it", assignedTopics)
	}
	if got := consumer.GetConsumeTopics(); !slices.Contains(got, "__consumer_offsets") {
		t.Fatalf("franz-go consumes %v; it adopts the internal topic the broker assigned", got)
	}
}

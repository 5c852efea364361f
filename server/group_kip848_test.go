package server_test

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
)

// TestGroupConsumerProtocolRegex: KIP-848 members subscribed by regex get
// the partitions of every matching topic, including one created after they
// joined, from the server-side assignor; ListGroups reports the group as a
// "consumer" group.
func TestGroupConsumerProtocolRegex(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, groupTestConfig)
	adm := newAdmin(t, tb.addr())
	createTopic(t, adm, "rx-a", 3, nil)
	createTopic(t, adm, "rx-b", 2, nil)
	createTopic(t, adm, "other", 1, nil)
	cl := newClient(t, tb.addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	base := genBase()
	produceGenerated(t, cl, "rx-a", 0, 300, 3, base, nil)
	produceGenerated(t, cl, "rx-b", 0, 200, 2, base, nil)
	produceGenerated(t, cl, "other", 0, 50, 1, base, nil)

	got := newConsumed()
	seenTopics := map[string]int{}
	ctx := ctxFor(t, readTimeout)
	consumer, err := kgo.NewClient(
		kgo.SeedBrokers(tb.addr()),
		kgo.ConsumerGroup("regex-848"),
		kgo.ConsumeRegex(),
		kgo.ConsumeTopics("rx-.*"),
		kgo.ServerSideBalancer(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.MetadataMinAge(100e6),
		kgo.MetadataMaxAge(500e6),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	total := 0
	poll1 := func(want int) {
		t.Helper()
		for total < want {
			fs := consumer.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("read %d of %d records; topics %v", total, want, seenTopics)
			}
			fs.EachRecord(func(r *kgo.Record) {
				got.add(r)
				seenTopics[r.Topic]++
				total++
			})
		}
	}
	poll1(500)
	if seenTopics["other"] != 0 {
		t.Fatalf("consumed a topic the regex does not match: %v", seenTopics)
	}
	createTopic(t, adm, "rx-c", 2, nil)
	produceGenerated(t, cl, "rx-c", 0, 100, 2, base, nil)
	poll1(600)
	if seenTopics["rx-c"] != 100 {
		t.Fatalf("new matching topic not consumed: %v", seenTopics)
	}

	lreq := kmsg.NewPtrListGroupsRequest()
	lreq.TypesFilter = []string{"consumer"}
	lresp, err := lreq.RequestWith(ctxFor(t, requestTimeout), cl)
	if err != nil || len(lresp.Groups) != 1 || lresp.Groups[0].Group != "regex-848" || lresp.Groups[0].GroupType != "consumer" {
		t.Fatalf("list consumer groups: %+v %v", lresp, err)
	}
	lreq.TypesFilter = []string{"classic"}
	lresp, err = lreq.RequestWith(ctxFor(t, requestTimeout), cl)
	if err != nil || len(lresp.Groups) != 0 {
		t.Fatalf("list classic groups: %+v %v", lresp, err)
	}
}

// TestGroupConsumerProtocolDisabled: without "consumer" in
// group.coordinator.rebalance.protocols, a client asking for KIP-848 falls
// back to the classic protocol and still consumes.
func TestGroupConsumerProtocolDisabled(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, groupTestConfig, func(c *config.Broker) {
		c.GroupCoordinatorRebalanceProtocols = []string{"classic"}
	})
	adm := newAdmin(t, tb.addr())
	// As Kafka does, the broker does not offer the KIP-848 APIs at all.
	vs, err := adm.ApiVersions(ctxFor(t, requestTimeout))
	if err != nil {
		t.Fatal(err)
	}
	for _, bv := range vs {
		for _, key := range []int16{68, 69} {
			if _, ok := bv.KeyMaxVersion(key); ok {
				t.Fatalf("broker %d advertises API key %d with the consumer protocol disabled", bv.NodeID, key)
			}
		}
	}
	const topic, parts, n = "no848", 2, 400
	createTopic(t, adm, topic, parts, nil)
	cl := newClient(t, tb.addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceGenerated(t, cl, topic, 0, n, parts, genBase(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	got := newConsumed()
	startGroupConsumer(t, ctx, tb.addr(), "no848", topic, got, kgo.ServerSideBalancer(), kgo.Balancers(kgo.RangeBalancer()))
	if !poll(readTimeout, func() bool { return got.count() >= n }) {
		t.Fatalf("consumed %d of %d", got.count(), n)
	}
	waitSettled(t, adm, "classic", "no848", topic, parts, 1)
}

// TestGroupConsumerProtocolSurvivesRestart: a KIP-848 group is persisted
// with Kafka's ConsumerGroup* records: after a restart it is still there,
// with its epoch and committed offsets.
func TestGroupConsumerProtocolSurvivesRestart(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, groupTestConfig)
	adm := newAdmin(t, tb.addr())
	const topic, group, parts, n = "persist-848", "persist-848", 3, 600
	createTopic(t, adm, topic, parts, nil)
	cl := newClient(t, tb.addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceGenerated(t, cl, topic, 0, n, parts, genBase(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	got := newConsumed()
	gc := startGroupConsumer(t, ctx, tb.addr(), group, topic, got, kgo.ServerSideBalancer())
	if !poll(readTimeout, func() bool { return got.count() >= n }) {
		t.Fatalf("consumed %d of %d", got.count(), n)
	}
	ends := endOffsets(t, adm, topic)
	waitCommittedAtEnd(t, adm, group, topic, ends)
	waitSettled(t, adm, "consumer", group, topic, parts, 1)
	dg, err := adm.DescribeConsumerGroups(ctxFor(t, requestTimeout), group)
	if err != nil {
		t.Fatal(err)
	}
	before := dg[group]
	gc.close()
	tb.restart()
	adm = newAdmin(t, tb.addr())
	dg, err = adm.DescribeConsumerGroups(ctxFor(t, requestTimeout), group)
	if err != nil {
		t.Fatal(err)
	}
	after := dg[group]
	if after.Err != nil || after.Epoch <= before.Epoch || after.State != "Empty" {
		t.Fatalf("after restart: %+v (before: epoch %d)", after, before.Epoch)
	}
	waitCommittedAtEnd(t, adm, group, topic, ends)
}

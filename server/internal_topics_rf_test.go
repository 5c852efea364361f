package server_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
)

// Kafka creates __consumer_offsets and __transaction_state with their
// configured replication factors only once that many brokers are
// registered; until then FindCoordinator answers COORDINATOR_NOT_AVAILABLE
// and the topics do not exist (a cluster started a broker at a time must
// not get its offsets on one replica for good).
func TestCoordinatorNotAvailableBelowReplicationFactor(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(c *config.Broker) {
		c.OffsetsTopicReplicationFactor = 3
		c.TransactionStateLogReplicationFactor = 2
	})
	rc := dialRaw(t, tb.addr())
	for _, typ := range []int8{0, 1} {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorType = typ
		req.CoordinatorKeys = []string{"k"}
		resp := rc.roundTrip(rc.maxVersion(req)).(*kmsg.FindCoordinatorResponse)
		if len(resp.Coordinators) != 1 {
			t.Fatalf("type %d: %d coordinators", typ, len(resp.Coordinators))
		}
		if c := resp.Coordinators[0]; c.ErrorCode != kerr.CoordinatorNotAvailable.Code || c.NodeID != -1 {
			t.Errorf("type %d: node %d, %v; want -1, COORDINATOR_NOT_AVAILABLE", typ, c.NodeID, kerr.ErrorForCode(c.ErrorCode))
		}
	}
	// A real client keeps retrying and gives up with the same error.
	cl := newClient(t, tb.addr(), kgo.RetryTimeout(500*time.Millisecond))
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = "g"
	ctx := ctxFor(t, 5*time.Second)
	if _, err := req.RequestWith(ctx, cl); err == nil {
		t.Errorf("OffsetFetch found a coordinator")
	}
	adm := newAdmin(t, tb.addr())
	topics, err := adm.ListTopicsWithInternal(ctxFor(t, requestTimeout))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"__consumer_offsets", "__transaction_state"} {
		if topics.Has(name) {
			t.Errorf("%s was created with fewer brokers than its replication factor", name)
		}
	}
}

// __transaction_state is created with min.insync.replicas =
// transaction.state.log.min.isr, as Kafka's TransactionLog configures it,
// and the coordinator's writes (acks=all) honour it: with one replica and
// a minimum of two, InitProducerId answers COORDINATOR_NOT_AVAILABLE
// (Kafka's mapping of NOT_ENOUGH_REPLICAS for the transaction log).
func TestTransactionStateMinIsr(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(c *config.Broker) {
		c.TransactionStateLogNumPartitions = 1
		c.TransactionStateLogMinIsr = 2
	})
	rc := dialRaw(t, tb.addr())
	init := kmsg.NewPtrInitProducerIDRequest()
	id := "min-isr"
	init.TransactionalID = &id
	init.TransactionTimeoutMillis = 10_000
	init.ProducerID, init.ProducerEpoch = -1, -1
	var last int16
	// The first request creates the topic; the shard loads, then
	// refuses to write below the minimum.
	if !poll(requestTimeout, func() bool {
		last = rc.roundTrip(rc.maxVersion(init)).(*kmsg.InitProducerIDResponse).ErrorCode
		return last == kerr.CoordinatorNotAvailable.Code
	}) {
		t.Fatalf("InitProducerId answered %v, want COORDINATOR_NOT_AVAILABLE", kerr.ErrorForCode(last))
	}

	req := kmsg.NewPtrDescribeConfigsRequest()
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType = kmsg.ConfigResourceTypeTopic
	res.ResourceName = "__transaction_state"
	res.ConfigNames = []string{"min.insync.replicas"}
	req.Resources = append(req.Resources, res)
	resp := rc.roundTrip(rc.maxVersion(req)).(*kmsg.DescribeConfigsResponse)
	if len(resp.Resources) != 1 || len(resp.Resources[0].Configs) != 1 {
		t.Fatalf("describe configs: %+v", resp.Resources)
	}
	if c := resp.Resources[0].Configs[0]; c.Value == nil || *c.Value != "2" {
		t.Errorf("min.insync.replicas = %v, want 2", c.Value)
	}
}

package server_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
	"github.com/riffle-io/riffle/server"
)

// leadersOn returns, as the node at addr describes topic, each partition's
// leader and ISR.
func leadersOn(t testing.TB, addr, topic string) (leaders []int32, isrs [][]int32) {
	t.Helper()
	mt, ok := topicOn(t, addr, topic)
	if !ok {
		t.Fatalf("%s does not describe %s", addr, topic)
	}
	slices.SortFunc(mt.Partitions, func(a, b kmsg.MetadataResponseTopicPartition) int { return int(a.Partition - b.Partition) })
	for _, p := range mt.Partitions {
		leaders = append(leaders, p.Leader)
		isrs = append(isrs, p.ISR)
	}
	return leaders, isrs
}

// TestClusterBrokerLifecycle: on three combined nodes with a 2 s session,
// a node stopped cleanly hands its leaderships over before it stops (a
// controlled shutdown) and is fenced; a node killed outright is fenced once
// its session expires and the partitions it led get new leaders from their
// ISR, which Metadata on every survivor shows; each node that comes back is
// unfenced and listed again.
func TestClusterBrokerLifecycle(t *testing.T) {
	start := time.Now()
	tc := startCluster(t, 3, func(_ int32, c *config.Broker) {
		c.BrokerSessionTimeoutMs = 2000
		c.BrokerHeartbeatIntervalMs = 200
	})
	t.Logf("cluster started in %v", time.Since(start).Round(10*time.Millisecond))
	addrs := tc.addrs()
	createTopicOn(t, addrs[0], "life", 6, 3)
	leaders, _ := leadersOn(t, addrs[0], "life")
	for id := int32(1); id <= 3; id++ {
		if !slices.Contains(leaders, id) {
			t.Fatalf("placement leaves broker %d leading nothing: %v", id, leaders)
		}
	}

	// Every survivor's Metadata must show the broker gone and leading
	// nothing, with it out of every ISR.
	gone := func(what string, idx int, d time.Duration) {
		t.Helper()
		id := int32(idx + 1)
		var last string
		if !poll(d, func() bool {
			for _, i := range tc.running() {
				brokers, _ := clusterView(t, addrs[i])
				leaders, isrs := leadersOn(t, addrs[i], "life")
				last = fmt.Sprintf("node %d: brokers %v leaders %v ISRs %v", i+1, brokers, leaders, isrs)
				if slices.Contains(brokers, id) || slices.Contains(leaders, id) {
					return false
				}
				for p, isr := range isrs {
					if slices.Contains(isr, id) || leaders[p] < 0 {
						return false
					}
				}
			}
			return true
		}) {
			t.Fatalf("%s: broker %d still listed, leading or in sync after %v: %s", what, id, d, last)
		}
	}

	// Controlled shutdown: done by the time stop returns, so the
	// survivors see it as soon as they have replayed it.
	start = time.Now()
	tc.stop(1)
	t.Logf("controlled stop took %v", time.Since(start).Round(10*time.Millisecond))
	gone("controlled shutdown", 1, requestTimeout)
	start = time.Now()
	tc.start(1) // start waits until every node lists it again
	t.Logf("restart took %v", time.Since(start).Round(10*time.Millisecond))

	// Kill: nothing is handed over; the session timer fences it.
	killed := time.Now()
	tc.kill(2)
	gone("kill", 2, 3*startTimeout)
	t.Logf("killed broker fenced and its partitions led elsewhere after %v (session 2 s)", time.Since(killed).Round(10*time.Millisecond))
	start = time.Now()
	tc.start(2)
	t.Logf("restart took %v", time.Since(start).Round(10*time.Millisecond))
	brokers, _ := clusterView(t, addrs[2])
	if !slices.Equal(brokers, []int32{1, 2, 3}) {
		t.Fatalf("after restart node 3 lists brokers %v", brokers)
	}
}

// TestClusterAlterPartitionOverTCP: a partition leader's AlterPartition and
// a broker's heartbeat, sent by a Kafka client to the CONTROLLER listeners
// of a three-node cluster: the active controller shrinks the ISR (partition
// epoch 0 -> 1, leader epoch unchanged) and every node's Metadata shows it;
// the same request again is stale; a controller that is not the active one
// answers NOT_CONTROLLER; a heartbeat with an old broker epoch is stale.
func TestClusterAlterPartitionOverTCP(t *testing.T) {
	tc := startCluster(t, 3)
	addrs := tc.addrs()
	createTopicOn(t, addrs[0], "isr", 1, 3)
	mt, ok := topicOn(t, addrs[0], "isr")
	if !ok {
		t.Fatal("topic isr not described")
	}
	p := mt.Partitions[0]
	leader := p.Leader
	var follower int32 = -1
	for _, r := range p.Replicas {
		if r != leader {
			follower = r
			break
		}
	}
	active := activeController(t, tc)
	epochOf := func(id int32) int64 { return server.BrokerEpoch(tc.node(int(id) - 1).b) }

	req := kmsg.NewPtrAlterPartitionRequest()
	req.BrokerID, req.BrokerEpoch = leader, epochOf(leader)
	rt := kmsg.NewAlterPartitionRequestTopic()
	rt.TopicID = mt.TopicID
	rp := kmsg.NewAlterPartitionRequestTopicPartition()
	rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch = 0, p.LeaderEpoch, 0
	for _, id := range []int32{leader, follower} {
		st := kmsg.NewAlterPartitionRequestTopicPartitionNewEpochISR()
		st.BrokerID, st.BrokerEpoch = id, epochOf(id)
		rp.NewEpochISR = append(rp.NewEpochISR, st)
	}
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)

	send := func(node int, r kmsg.Request) kmsg.Response {
		t.Helper()
		return requestTo(t, tc.node(node).b.ControllerAddr(), r)
	}
	resp := send(active, req).(*kmsg.AlterPartitionResponse)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("AlterPartition: %+v", resp)
	}
	got := resp.Topics[0].Partitions[0]
	if got.ErrorCode != 0 || got.PartitionEpoch != 1 || got.LeaderEpoch != p.LeaderEpoch || got.LeaderID != leader || !slices.Equal(got.ISR, []int32{leader, follower}) {
		t.Fatalf("AlterPartition answered %+v", got)
	}
	// Every node applies the change. The shrunk ISR itself may be seen
	// only briefly: the dropped replica is caught up, so the leader adds
	// it back as soon as it fetches (Partition.maybeExpandIsr), which
	// moves the partition epoch again.
	for i := range addrs {
		if !poll(requestTimeout, func() bool { return server.PartitionEpoch(tc.node(i).b, "isr", 0) >= 1 }) {
			t.Fatalf("node %d never applies the ISR change", i+1)
		}
	}
	resp = send(active, req).(*kmsg.AlterPartitionResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.InvalidUpdateVersion.Code {
		t.Fatalf("repeated AlterPartition: %v", kerr.ErrorForCode(code))
	}
	other := (active + 1) % 3
	if resp := send(other, req).(*kmsg.AlterPartitionResponse); resp.ErrorCode != kerr.NotController.Code {
		t.Fatalf("AlterPartition to a controller that is not active: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	hb := kmsg.NewPtrBrokerHeartbeatRequest()
	hb.BrokerID, hb.BrokerEpoch, hb.CurrentMetadataOffset = leader, epochOf(leader)-1, 1<<40
	if resp := send(active, hb).(*kmsg.BrokerHeartbeatResponse); resp.ErrorCode != kerr.StaleBrokerEpoch.Code {
		t.Fatalf("heartbeat with an old epoch: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
}

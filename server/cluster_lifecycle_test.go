package server_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
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

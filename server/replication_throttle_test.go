package server_test

import (
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riffle-io/riffle/config"
)

// TestReplicationThrottleReassignment is KIP-73 as
// kafka-reassign-partitions.sh --throttle uses it: a partition of a few MiB
// on broker 1 gets a second replica on broker 2 (AlterPartitionAssignments)
// with the throttle set dynamically. Throttled on the leader side only, then
// on the follower side only, the new replica takes at least the time the
// rate allows and still catches up; unthrottled the same move is faster.
func TestReplicationThrottleReassignment(t *testing.T) {
	const (
		rate      = 256 << 10 // bytes/s
		dataBytes = 3 << 20
		windowNum = 3 // the rate is measured over at least 2 s
	)
	tc := startCluster(t, 3, func(_ int32, c *config.Broker) {
		c.ReplicaFetchMaxBytes = 64 << 10
		c.ReplicaFetchWaitMaxMs = 100
		c.ReplicaFetchBackoffMs = 100
		c.ReplicationQuotaWindowNum = windowNum
		c.ReplicationQuotaWindowSizeSeconds = 1
		c.AdminListener = "127.0.0.1:0"
	})
	addrs := tc.addrs()
	adm := newAdmin(t, addrs[0])
	ctx := ctxFor(t, 5*time.Minute)

	setBrokerConfigs := func(kv map[string]string) {
		t.Helper()
		var cs []kadm.AlterConfig
		for k, v := range kv {
			cs = append(cs, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: kadm.StringPtr(v)})
		}
		// The cluster-wide default, as kafka-configs.sh --entity-default.
		rs, err := adm.AlterBrokerConfigs(ctx, cs)
		if err == nil {
			for _, r := range rs {
				if r.Err != nil {
					err = r.Err
				}
			}
		}
		if err != nil {
			t.Fatalf("altering broker configs %v: %v", kv, err)
		}
	}
	// move creates topic on broker 1 with dataBytes of incompressible
	// records, sets its topic configs, adds broker 2 as a replica and
	// returns how long broker 2 took to join the ISR.
	move := func(topic string, topicConfigs map[string]string) time.Duration {
		t.Helper()
		createAssignedTopic(t, addrs[0], topic, 1)
		cl := newClient(t, addrs[0], kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RequiredAcks(kgo.AllISRAcks()))
		value := make([]byte, 1024)
		for range dataBytes / len(value) {
			_, _ = rand.Read(value)
			cl.Produce(ctx, &kgo.Record{Topic: topic, Value: slices.Clone(value)}, nil)
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatalf("produce: %v", err)
		}
		if len(topicConfigs) > 0 {
			var cs []kadm.AlterConfig
			for k, v := range topicConfigs {
				cs = append(cs, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: kadm.StringPtr(v)})
			}
			rs, err := adm.AlterTopicConfigs(ctx, cs, topic)
			if err == nil && rs[0].Err != nil {
				err = rs[0].Err
			}
			if err != nil {
				t.Fatalf("topic configs %v: %v", topicConfigs, err)
			}
		}
		var req kadm.AlterPartitionAssignmentsReq
		req.Assign(topic, 0, []int32{1, 2})
		start := time.Now()
		if rs, err := adm.AlterPartitionAssignments(ctx, req); err != nil || rs.Error() != nil {
			t.Fatalf("reassigning %s: %v %v", topic, err, rs.Error())
		}
		if !poll(3*time.Minute, func() bool {
			_, isr := partitionOn(t, addrs[0], topic, 0)
			return slices.Equal(isr, []int32{1, 2})
		}) {
			t.Fatalf("broker 2 never caught up on %s", topic)
		}
		return time.Since(start)
	}

	unthrottled := move("unthrottled", nil)

	// At most rate bytes/s over the measured windows, plus the windows'
	// minimum span and one fetch beyond the bound: a lower bound with a
	// wide margin below what the rate really allows.
	lowerBound := time.Duration(float64(dataBytes)/rate*float64(time.Second)) / 2
	setBrokerConfigs(map[string]string{"leader.replication.throttled.rate": fmt.Sprint(rate)})
	leaderSide := move("leader-throttled", map[string]string{"leader.replication.throttled.replicas": "0:1"})
	// The leader's kafka_server_leaderreplication_byte_rate saw the
	// throttled traffic.
	if r := metricValue(t, tc, 0, "kafka_server_leaderreplication_byte_rate"); r <= 0 || r > 2*rate {
		t.Errorf("node 1's leader replication byte rate %.0f, want above 0 and near %d", r, rate)
	}

	setBrokerConfigs(map[string]string{
		"leader.replication.throttled.rate":   fmt.Sprint(int64(1) << 62),
		"follower.replication.throttled.rate": fmt.Sprint(rate),
	})
	followerSide := move("follower-throttled", map[string]string{"follower.replication.throttled.replicas": "0:2"})

	t.Logf("%d MiB to a new replica: unthrottled %v, leader throttled at %d KiB/s %v, follower throttled %v (lower bound %v)",
		dataBytes>>20, unthrottled.Round(time.Millisecond), rate>>10, leaderSide.Round(time.Millisecond), followerSide.Round(time.Millisecond), lowerBound)
	for name, d := range map[string]time.Duration{"leader": leaderSide, "follower": followerSide} {
		if d < lowerBound {
			t.Errorf("%s-side throttle: caught up in %v, faster than %d KiB/s allows (lower bound %v)", name, d, rate>>10, lowerBound)
		}
		if d <= unthrottled {
			t.Errorf("%s-side throttle: %v, no slower than unthrottled (%v)", name, d, unthrottled)
		}
	}
}

// metricValue scrapes an unlabelled metric from node i's /metrics.
func metricValue(t testing.TB, tc *testCluster, i int, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + tc.node(i).b.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatalf("scrape node %d: %v", i+1, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s %q: %v", name, v, err)
			}
			return f
		}
	}
	t.Fatalf("node %d's /metrics lacks %s", i+1, name)
	return 0
}

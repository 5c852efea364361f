package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
)

// createAssignedTopic creates a one-partition topic on addr with the
// replicas in the given order (the first is the preferred leader).
func createAssignedTopic(t testing.TB, addr, topic string, replicas ...int32) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = int32(requestTimeout / time.Millisecond)
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, replicas
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	req.Topics = append(req.Topics, rt)
	resp := requestTo(t, addr, req).(*kmsg.CreateTopicsResponse)
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("CreateTopics %s: %v", topic, err)
	}
}

var bytesOutLine = regexp.MustCompile(`(?m)^kafka_server_brokertopicmetrics_bytesout_total\{topic="([^"]+)"\} (\S+)$`)

// consumerBytesOut is the record bytes node i returned to consumers for
// topic (its BytesOutPerSec, which leaves out followers' fetches), scraped
// from its /metrics.
func consumerBytesOut(t testing.TB, tc *testCluster, i int, topic string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + tc.node(i).b.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatalf("scrape node %d: %v", i+1, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, m := range bytesOutLine.FindAllStringSubmatch(string(body), -1) {
		if m[1] == topic {
			v, err := strconv.ParseFloat(m[2], 64)
			if err != nil {
				t.Fatalf("node %d: bytes out %q: %v", i+1, m[2], err)
			}
			return v
		}
	}
	return 0
}

// TestFetchFromFollowerRackAware is KIP-392 end to end: three brokers in
// racks a, b and c with RackAwareReplicaSelector, a partition led by the
// broker in rack a. franz-go and librdkafka consumers in rack b read
// everything, and the broker-side byte counts show that the follower in
// rack b served the records, not the leader. Once that follower is
// killed, consumption goes on from the leader.
func TestFetchFromFollowerRackAware(t *testing.T) {
	racks := map[int32]string{1: "a", 2: "b", 3: "c"}
	tc := startCluster(t, 3, func(id int32, c *config.Broker) {
		c.BrokerRack = racks[id]
		c.ReplicaSelectorClass = config.RackAwareReplicaSelector
		c.AdminListener = "127.0.0.1:0"
		c.ReplicaFetchWaitMaxMs = 100
		c.ReplicaFetchBackoffMs = 100
		// Long enough that a busy machine does not drop the rack-b follower
		// from the ISR (the leader would then serve rack b itself); the
		// killed follower leaves the ISR when its session expires.
		c.ReplicaLagTimeMaxMs = 10000
	})
	addrs := tc.addrs()

	// Metadata and DescribeCluster report every broker's rack.
	md := requestTo(t, addrs[2], kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse)
	dc := requestTo(t, addrs[2], kmsg.NewPtrDescribeClusterRequest()).(*kmsg.DescribeClusterResponse)
	for _, b := range md.Brokers {
		if b.Rack == nil || *b.Rack != racks[b.NodeID] {
			t.Fatalf("Metadata: broker %d rack %v, want %q", b.NodeID, b.Rack, racks[b.NodeID])
		}
	}
	for _, b := range dc.Brokers {
		if b.Rack == nil || *b.Rack != racks[b.NodeID] {
			t.Fatalf("DescribeCluster: broker %d rack %v, want %q", b.NodeID, b.Rack, racks[b.NodeID])
		}
	}

	const topic = "ffollower"
	createAssignedTopic(t, addrs[0], topic, 1, 2, 3)
	if !poll(requestTimeout, func() bool {
		leader, isr := partitionOn(t, addrs[0], topic, 0)
		return leader == 1 && len(isr) == 3
	}) {
		t.Fatal("partition not led by node 1 with a full ISR")
	}

	const n = 400
	value := func(i int) string { return fmt.Sprintf("record-%04d-%s", i, strings.Repeat("x", 200)) }
	// produce writes the records numbered [from, to) with acks=all.
	produce := func(from, to int) {
		t.Helper()
		cl := newClient(t, addrs[0], kgo.SeedBrokers(addrs...), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(readTimeout), kgo.ProducerBatchCompression(kgo.NoCompression()))
		errs := make(chan error, to-from)
		for i := from; i < to; i++ {
			cl.Produce(context.Background(), &kgo.Record{Topic: topic, Value: []byte(value(i))}, func(_ *kgo.Record, err error) { errs <- err })
		}
		for range to - from {
			if err := <-errs; err != nil {
				t.Fatalf("produce: %v", err)
			}
		}
	}
	produce(0, n)
	total := n

	bytesOut := func() [3]float64 {
		var out [3]float64
		for i := range 3 {
			out[i] = consumerBytesOut(t, tc, i, topic)
		}
		return out
	}
	delta := func(before, after [3]float64) [3]float64 {
		return [3]float64{after[0] - before[0], after[1] - before[1], after[2] - before[2]}
	}

	// franz-go in rack b. A short preferred-replica recheck lets it go
	// back to the leader once its follower is dead (franz-go otherwise
	// keeps a preferred replica for 30 minutes).
	before := bytesOut()
	consumer := newClient(t, addrs[0], kgo.Rack("b"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(500*time.Millisecond), kgo.RecheckPreferredReplicaInterval(2*time.Second))
	next := 0
	consumeTo := func(want int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
		defer cancel()
		for next < want {
			fs := consumer.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("franz-go read %d of %d records", next, want)
			}
			fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch error: %v", err) })
			fs.EachRecord(func(r *kgo.Record) {
				want := value(next)
				if r.Offset != int64(next) || string(r.Value) != want {
					t.Fatalf("franz-go read offset %d %.20q, want offset %d %.20q", r.Offset, r.Value, next, want)
				}
				next++
			})
		}
	}
	consumeTo(total)
	d := delta(before, bytesOut())
	t.Logf("franz-go rack b: consumer bytes out by node %v", d)
	if d[1] < float64(n*200) || d[0] != 0 || d[2] != 0 {
		t.Fatalf("consumer bytes out by node %v: want everything from node 2 (rack b), nothing from nodes 1 and 3", d)
	}

	// librdkafka (confluent-kafka-python) with client.rack=b.
	before = bytesOut()
	out := consumeWithRack(t, addrs[0], topic, "b", total)
	if out != strconv.Itoa(total) {
		t.Fatalf("librdkafka read %s records, want %d", out, total)
	}
	d = delta(before, bytesOut())
	t.Logf("librdkafka rack b: consumer bytes out by node %v", d)
	if d[1] < float64(n*200) || d[0] != 0 || d[2] != 0 {
		t.Fatalf("consumer bytes out by node %v: want everything from node 2 (rack b), nothing from nodes 1 and 3", d)
	}

	readCommittedOnFollower(t, tc)

	// Kill the follower in rack b: the leader no longer names it (it
	// leaves the ISR and is fenced), and the consumers read on from the
	// leader.
	tc.kill(1)
	if !poll(readTimeout, func() bool {
		_, isr := partitionOn(t, addrs[0], topic, 0)
		return len(isr) == 2
	}) {
		t.Fatal("the killed follower never left the ISR")
	}
	before2 := bytesOut2(t, tc, topic)
	produce(total, total+n)
	total2 := total + n
	consumeTo(total2)
	out = consumeWithRack(t, addrs[0], topic, "b", total2)
	if out != strconv.Itoa(total2) {
		t.Fatalf("librdkafka read %s records after the kill, want %d", out, total2)
	}
	after := bytesOut2(t, tc, topic)
	t.Logf("after the kill: consumer bytes out of node 1 %v → %v, node 3 %v → %v", before2[0], after[0], before2[1], after[1])
	if after[0] <= before2[0] {
		t.Fatalf("the leader served nothing after the follower was killed")
	}
}

// bytesOut2 is consumerBytesOut of nodes 1 and 3 (node 2 is dead).
func bytesOut2(t testing.TB, tc *testCluster, topic string) [2]float64 {
	return [2]float64{consumerBytesOut(t, tc, 0, topic), consumerBytesOut(t, tc, 2, topic)}
}

// consumeWithRack reads partition 0 of topic from the start with
// librdkafka (confluent-kafka-python) in rack, until want records, and
// returns how many it read.
func consumeWithRack(t testing.TB, addr, topic, rack string, want int) string {
	t.Helper()
	script := `
import sys, time
from confluent_kafka import Consumer, TopicPartition
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "ffollower-rdkafka", "enable.auto.commit": False,
              "client.rack": sys.argv[3], "fetch.wait.max.ms": 200})
c.assign([TopicPartition(sys.argv[2], 0, 0)])
want = int(sys.argv[4])
n = 0
deadline = time.time() + 120
while time.time() < deadline:
    m = c.poll(0.2)
    if m is None:
        continue
    if m.error() is not None:
        print("error", m.error(), file=sys.stderr)
        continue
    if m.offset() != n:
        print("offset", m.offset(), "want", n, file=sys.stderr)
        break
    n += 1
    if n >= want:
        break
c.close()
print(n)
`
	ctx, cancel := context.WithTimeout(context.Background(), 2*readTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/bin/python3", "-c", script, addr, topic, rack, strconv.Itoa(want)).CombinedOutput()
	if err != nil {
		t.Fatalf("librdkafka: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if last := lines[len(lines)-1]; last != strconv.Itoa(want) {
		t.Logf("librdkafka output:\n%s", out)
	}
	return lines[len(lines)-1]
}

// readCommittedOnFollower: a read_committed consumer in rack b, served by
// the follower there, stops at the follower's last stable offset while a
// transaction is open and reads on once it commits.
func readCommittedOnFollower(t *testing.T, tc *testCluster) {
	t.Helper()
	addrs := tc.addrs()
	const topic = "ffollower-txn"
	createAssignedTopic(t, addrs[0], topic, 1, 2, 3)
	ctx := ctxFor(t, readTimeout)
	plain := newClient(t, addrs[0], kgo.SeedBrokers(addrs...), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	for i := range 5 {
		if err := plain.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("committed-%d", i))}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	txn := newClient(t, addrs[0], kgo.SeedBrokers(addrs...), kgo.TransactionalID("ffollower-txn"), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		txn.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("txn-%d", i))}, nil)
	}
	if err := txn.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rc := newClient(t, addrs[0], kgo.Rack("b"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(300*time.Millisecond))
	var got []string
	readFor := func(d time.Duration, until int) {
		pctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		for len(got) < until && pctx.Err() == nil {
			rc.PollFetches(pctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		}
	}
	readFor(requestTimeout, 5)
	readFor(2*time.Second, 6) // nothing more while the transaction is open
	if len(got) != 5 {
		t.Fatalf("read_committed read %q with a transaction open, want the 5 committed records", got)
	}
	if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	readFor(requestTimeout, 10)
	if len(got) != 10 || got[9] != "txn-4" {
		t.Fatalf("read_committed read %q after the commit, want 10 records ending with txn-4", got)
	}
	served := [3]float64{}
	for i := range 3 {
		served[i] = consumerBytesOut(t, tc, i, topic)
	}
	t.Logf("read_committed rack b: consumer bytes out by node %v", served)
	if served[1] == 0 || served[0] != 0 || served[2] != 0 {
		t.Fatalf("read_committed consumer bytes out by node %v: want all from node 2", served)
	}
}

package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
)

// partitionOn returns the leader and ISR of one partition as the node at
// addr describes it.
func partitionOn(t testing.TB, addr, topic string, partition int32) (int32, []int32) {
	t.Helper()
	mt, ok := topicOn(t, addr, topic)
	if !ok {
		return -1, nil
	}
	for _, p := range mt.Partitions {
		if p.Partition == partition {
			isr := slices.Clone(p.ISR)
			slices.Sort(isr)
			return p.Leader, isr
		}
	}
	return -1, nil
}

// waitSameLogs waits until every node at idxs stores the same batches of
// topic-0, byte for byte, ending at end, with its high watermark there.
func waitSameLogs(t *testing.T, tc *testCluster, topic string, end int64, idxs ...int) {
	t.Helper()
	var why string
	if !poll(requestTimeout, func() bool {
		var want []byte
		for k, i := range idxs {
			leo, hw, data, err := tc.node(i).b.ReplicaLog(topic, 0)
			switch {
			case err != nil:
				why = fmt.Sprintf("node %d: %v", i+1, err)
				return false
			case leo != end || hw != end:
				why = fmt.Sprintf("node %d: log end %d, high watermark %d, want %d", i+1, leo, hw, end)
				return false
			case k == 0:
				want = data
			case !bytes.Equal(data, want):
				why = fmt.Sprintf("node %d stores other bytes than node %d", i+1, idxs[0]+1)
				return false
			}
		}
		return true
	}) {
		t.Fatal(why)
	}
}

// TestReplicationThreeNodes: RF=3, min.insync.replicas=2, an idempotent
// acks=all producer. Every acknowledged record is on all three logs, byte
// for byte; a stopped follower leaves the ISR after replica.lag.time.max.ms
// and produce goes on; with min.insync.replicas above the ISR acks=all is
// refused with NOT_ENOUGH_REPLICAS; the follower restarts, catches up and
// rejoins the ISR.
func TestReplicationThreeNodes(t *testing.T) {
	tc := startCluster(t, 3, func(_ int32, c *config.Broker) {
		c.ReplicaLagTimeMaxMs = 2000
		c.ReplicaFetchWaitMaxMs = 100
		c.ReplicaFetchBackoffMs = 100
		c.AdminListener = "127.0.0.1:0"
	})
	scrape := func(i int) string {
		resp, err := http.Get("http://" + tc.node(i).b.AdminAddr() + "/metrics")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	underReplicated := func(i int, want int) {
		t.Helper()
		line := fmt.Sprintf("\nkafka_server_replicamanager_underreplicatedpartitions %d\n", want)
		var body string
		if !poll(requestTimeout, func() bool {
			body = scrape(i)
			return strings.Contains(body, line)
		}) {
			t.Fatalf("node %d's /metrics lacks %q:\n%s", i+1, strings.TrimSpace(line), body)
		}
	}
	addrs := tc.addrs()
	const topic = "replicated"
	createTopicOn(t, addrs[0], topic, 1, 3)
	two, three := "2", "3"
	// Sent to a running node: a kadm client would pick any broker, the
	// stopped one too.
	setMinIsr := func(addr string, v *string) {
		t.Helper()
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		r := kmsg.NewIncrementalAlterConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, topic
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value, c.Op = "min.insync.replicas", v, kmsg.IncrementalAlterConfigOpSet
		r.Configs = append(r.Configs, c)
		req.Resources = append(req.Resources, r)
		resp := requestTo(t, addr, req).(*kmsg.IncrementalAlterConfigsResponse)
		if err := kerr.ErrorForCode(resp.Resources[0].ErrorCode); err != nil {
			t.Fatalf("setting min.insync.replicas=%s: %v", *v, err)
		}
	}
	setMinIsr(addrs[0], &two)

	var leader int32
	if !poll(requestTimeout, func() bool {
		var isr []int32
		leader, isr = partitionOn(t, addrs[0], topic, 0)
		return leader > 0 && len(isr) == 3
	}) {
		t.Fatal("the topic never had a leader and three in-sync replicas")
	}
	li := int(leader - 1)
	prod := newClient(t, addrs[li], kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	var next int64
	produce := func(n int, prefix string) {
		t.Helper()
		for i := range n {
			r := &kgo.Record{Value: fmt.Appendf(nil, "%s-%d", prefix, i)}
			if err := prod.ProduceSync(ctxFor(t, requestTimeout), r).FirstErr(); err != nil {
				t.Fatalf("acks=all produce %s-%d: %v", prefix, i, err)
			}
			if r.Offset != next {
				t.Fatalf("record %s-%d acknowledged at offset %d, want %d", prefix, i, r.Offset, next)
			}
			next++
		}
	}
	produce(30, "all-three")
	waitSameLogs(t, tc, topic, next, 0, 1, 2)
	// What followers fetch is not client traffic (Kafka counts it as
	// ReplicationBytesOutPerSec): nobody consumed the topic.
	if m := scrape(li); strings.Contains(m, `kafka_server_brokertopicmetrics_bytesout_total{topic="`+topic+`"}`) {
		t.Fatalf("the leader counts its followers' fetches as bytes out")
	}

	follower := (li + 1) % 3
	other := (li + 2) % 3
	tc.stop(follower)
	// The first acks=all produce waits until the leader drops the stopped
	// follower (a follower that has everything is never dropped, as in
	// Kafka: nothing was written since it stopped).
	produce(30, "two")
	if !poll(requestTimeout, func() bool {
		_, isr := partitionOn(t, addrs[li], topic, 0)
		return slices.Equal(isr, sortedIDs(li, other))
	}) {
		_, isr := partitionOn(t, addrs[li], topic, 0)
		t.Fatalf("ISR %v after node %d stopped, want the other two", isr, follower+1)
	}
	underReplicated(li, 1)
	waitSameLogs(t, tc, topic, next, li, other)

	setMinIsr(addrs[li], &three)
	strict := newClient(t, addrs[li], kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordRetries(0), kgo.UnknownTopicRetries(0))
	var err error
	if !poll(requestTimeout, func() bool {
		err = strict.ProduceSync(ctxFor(t, requestTimeout), &kgo.Record{Value: []byte("refused")}).FirstErr()
		return errors.Is(err, kerr.NotEnoughReplicas)
	}) {
		t.Fatalf("acks=all with 2 in-sync replicas and min.insync.replicas=3: %v, want NOT_ENOUGH_REPLICAS", err)
	}
	setMinIsr(addrs[li], &two)

	tc.start(follower)
	if !poll(requestTimeout, func() bool {
		_, isr := partitionOn(t, addrs[li], topic, 0)
		return len(isr) == 3
	}) {
		_, isr := partitionOn(t, addrs[li], topic, 0)
		t.Fatalf("ISR %v after node %d came back, want all three", isr, follower+1)
	}
	underReplicated(li, 0)
	produce(30, "rejoined")
	waitSameLogs(t, tc, topic, next, 0, 1, 2)

	// DeleteRecords answers once every replica moved its log start
	// offset (the low watermark, Kafka's DelayedDeleteRecords).
	dr := kmsg.NewPtrDeleteRecordsRequest()
	dr.TimeoutMillis = int32(requestTimeout.Milliseconds())
	drt := kmsg.NewDeleteRecordsRequestTopic()
	drt.Topic = topic
	drp := kmsg.NewDeleteRecordsRequestTopicPartition()
	drp.Partition, drp.Offset = 0, 10
	drt.Partitions = append(drt.Partitions, drp)
	dr.Topics = append(dr.Topics, drt)
	drr := requestTo(t, addrs[li], dr).(*kmsg.DeleteRecordsResponse)
	if p := drr.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.LowWatermark != 10 {
		t.Fatalf("DeleteRecords: %v, low watermark %d; want 10", kerr.ErrorForCode(p.ErrorCode), p.LowWatermark)
	}
	for i := range 3 {
		if s, err := tc.node(i).b.ReplicaLogStart(topic, 0); err != nil || s != 10 {
			t.Fatalf("node %d's log start offset %d (%v) once DeleteRecords answered, want 10", i+1, s, err)
		}
	}
	if l, _ := partitionOn(t, addrs[li], topic, 0); l != leader {
		t.Fatalf("leader moved from %d to %d", leader, l)
	}
}

func sortedIDs(idxs ...int) []int32 {
	var out []int32
	for _, i := range idxs {
		out = append(out, int32(i+1))
	}
	slices.Sort(out)
	return out
}

// TestReplicationLeaderFailover: the leader of an RF=3 partition is killed
// right after a burst of acks=1 writes (some of which only it may have);
// the controller fences it when its session expires (or it is
// unregistered), a follower from the ISR takes over and acks=all produce
// goes on. When the old leader comes back it follows the new one,
// truncates whatever it alone had (DivergingEpoch) and ends up with the
// new leader's log byte for byte; every acks=all record stays at the
// offset it was acknowledged at.
func TestReplicationLeaderFailover(t *testing.T) {
	t.Run("fenced", func(t *testing.T) { testLeaderFailover(t, false) })
	t.Run("unregistered", func(t *testing.T) { testLeaderFailover(t, true) })
}

func testLeaderFailover(t *testing.T, unregister bool) {
	// Followers ask for a megabyte and wait up to a second for it, so a
	// small burst written just before the kill usually stays on the
	// leader alone: it then has a divergent tail to truncate.
	tc := startCluster(t, 3, func(_ int32, c *config.Broker) {
		c.ReplicaFetchMinBytes = 1 << 20
		c.ReplicaFetchWaitMaxMs = 1000
		c.ReplicaFetchBackoffMs = 100
		c.BrokerHeartbeatIntervalMs = 200
		c.BrokerSessionTimeoutMs = 2000
	})
	addrs := tc.addrs()
	const topic = "failover"
	createTopicOn(t, addrs[0], topic, 1, 3)
	var leader int32
	if !poll(requestTimeout, func() bool {
		var isr []int32
		leader, isr = partitionOn(t, addrs[0], topic, 0)
		return leader > 0 && len(isr) == 3
	}) {
		t.Fatal("the topic never had a leader and three in-sync replicas")
	}
	li := int(leader - 1)
	acked := map[int64]string{}
	produceAll := func(cl *kgo.Client, n int, prefix string) {
		t.Helper()
		var rs []*kgo.Record
		for i := range n {
			rs = append(rs, &kgo.Record{Value: fmt.Appendf(nil, "%s-%d", prefix, i)})
		}
		if err := cl.ProduceSync(ctxFor(t, requestTimeout), rs...).FirstErr(); err != nil {
			t.Fatalf("acks=all produce %s: %v", prefix, err)
		}
		for _, r := range rs {
			acked[r.Offset] = string(r.Value)
		}
	}
	all := newClient(t, addrs[li], kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	produceAll(all, 20, "before")

	one := newClient(t, addrs[li], kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.LeaderAck()),
		kgo.DisableIdempotentWrite(), kgo.RecordRetries(0))
	for i := range 200 {
		one.Produce(context.Background(), &kgo.Record{Value: fmt.Appendf(nil, "burst-%d", i)}, nil)
	}
	_ = one.Flush(ctxFor(t, requestTimeout))
	oldEnd, _, _, err := tc.node(li).b.ReplicaLog(topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	tc.kill(li)
	killed := time.Now()

	if unregister {
		ac := activeController(t, tc)
		if err := tc.node(ac).b.UnregisterBroker(ctxFor(t, requestTimeout), leader); err != nil {
			t.Fatalf("unregistering the killed leader: %v", err)
		}
	}
	survivor := (li + 1) % 3
	var newLeader int32
	if !poll(requestTimeout, func() bool {
		newLeader, _ = partitionOn(t, addrs[survivor], topic, 0)
		return newLeader > 0 && newLeader != leader
	}) {
		t.Fatalf("no new leader after node %d was killed (leader %d)", leader, newLeader)
	}
	ni := int(newLeader - 1)
	if electedEnd, _, _, err := tc.node(ni).b.ReplicaLog(topic, 0); err == nil {
		// Informational: whether the old leader had records to truncate.
		t.Logf("old leader ended at %d, new leader %d at %d (divergent tail: %v)", oldEnd, newLeader, electedEnd, oldEnd > electedEnd)
	}
	after := newClient(t, addrs[ni], kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	produceAll(after, 20, "after")
	// Informational: leader killed → acks=all accepted again.
	t.Logf("failover: acks=all accepted %v after the kill", time.Since(killed).Round(time.Millisecond))

	tc.start(li)
	var end int64
	end, _, _, err = tc.node(ni).b.ReplicaLog(topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	waitSameLogs(t, tc, topic, end, ni, (ni+1)%3, (ni+2)%3)

	// The logs are the same everywhere: every acks=all record must be in
	// them where it was acknowledged.
	cons := newClient(t, addrs[ni], kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	got := map[int64]string{}
	ctx := ctxFor(t, requestTimeout)
	for int64(len(got)) < end && ctx.Err() == nil {
		cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got[r.Offset] = string(r.Value) })
	}
	for off, v := range acked {
		if got[off] != v {
			t.Fatalf("offset %d holds %q, acknowledged %q", off, got[off], v)
		}
	}
}

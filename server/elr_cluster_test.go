package server_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
)

// elrView is one partition as DescribeTopicPartitions shows it.
type elrView struct {
	leader              int32
	isr, elr, lastKnown []int32
	errCode             int16
}

func (v elrView) String() string {
	return fmt.Sprintf("leader %d ISR %v ELR %v LastKnownElr %v", v.leader, v.isr, v.elr, v.lastKnown)
}

// describeELR asks the broker at addr for partition 0 of topic with
// DescribeTopicPartitions (kadm has no call for it; a franz-go client
// sends the kmsg request over TCP).
func describeELR(t testing.TB, addr, topic string) (elrView, bool) {
	t.Helper()
	cl := newClient(t, addr)
	defer cl.Close()
	req := kmsg.NewPtrDescribeTopicPartitionsRequest()
	rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
	rt.Topic = topic
	req.Topics = append(req.Topics, rt)
	kresp, err := cl.Request(ctxFor(t, requestTimeout), req)
	if err != nil {
		return elrView{}, false
	}
	resp := kresp.(*kmsg.DescribeTopicPartitionsResponse)
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) != 1 {
		return elrView{}, false
	}
	p := resp.Topics[0].Partitions[0]
	if p.EligibleLeaderReplicas == nil || p.LastKnownELR == nil {
		t.Fatalf("null ELR arrays: %+v", p)
	}
	return elrView{leader: p.LeaderID, isr: p.ISR, elr: p.EligibleLeaderReplicas, lastKnown: p.LastKnownELR,
		errCode: p.ErrorCode}, true
}

// TestClusterELR: one controller and three brokers; a topic with three
// replicas and min.insync.replicas=2. Brokers stop cleanly one after
// another: the follower that leaves an ISR of two becomes an eligible
// leader replica, and when the last ISR member stops the ISR is empty, both
// are eligible and the last leader is remembered, as DescribeTopicPartitions
// shows a real client. The eligible follower restarts (cleanly: its
// clean-shutdown marker names its broker epoch) and is elected leader with
// every acknowledged record; once the old leader is back in sync acks=all
// produces go on and a consumer reads the whole log. Turning the feature
// off (UpdateFeatures, as kafka-features.sh does) clears the ELR.
func TestClusterELR(t *testing.T) {
	// Node 1 is the controller, 2-4 hold the topic, 5 stays up to answer
	// clients while the topic's brokers are all down.
	tc := startRolesCluster(t, 1, 4)
	addrs := tc.addrs()
	seed := addrs[4]
	cl := newClient(t, seed)
	adm := kadm.NewClient(cl)

	// ELR is on in a new cluster (Kafka 4.1+ defaults).
	finalizedELR := func() int16 {
		t.Helper()
		vs, err := adm.ApiVersions(ctxFor(t, requestTimeout))
		if err != nil {
			t.Fatal(err)
		}
		level := int16(-1)
		for _, v := range vs {
			if v.Err != nil {
				continue
			}
			supported := false
			for _, f := range v.Raw().SupportedFeatures {
				supported = supported || f.Name == "eligible.leader.replicas.version" && f.MinVersion == 0 && f.MaxVersion == 1
			}
			if !supported {
				t.Fatalf("node %d supports %+v", v.NodeID, v.Raw().SupportedFeatures)
			}
			node := int16(0) // level 0 is not listed
			for _, f := range v.Raw().FinalizedFeatures {
				if f.Name == "eligible.leader.replicas.version" {
					node = f.MaxVersionLevel
				}
			}
			if level >= 0 && node != level {
				return -1 // the brokers disagree for now
			}
			level = node
		}
		return level
	}
	if elrLevel := finalizedELR(); elrLevel != 1 {
		t.Fatalf("eligible.leader.replicas.version finalized at %d, want 1", elrLevel)
	}

	const topic = "elr"
	createELRTopic(t, cl, topic)
	want := func(what string, cond func(elrView) bool) elrView {
		t.Helper()
		return waitELR(t, tc, topic, what, cond)
	}
	v := want("created", func(v elrView) bool { return v.leader > 0 && len(v.isr) == 3 && len(v.elr) == 0 })
	leader := v.leader
	var followers []int32
	for _, id := range v.isr {
		if id != leader {
			followers = append(followers, id)
		}
	}
	idx := func(id int32) int { return int(id) - 1 } // node ids are index+1

	base := genBase()
	const n = 200
	pcl := newClient(t, seed, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceGenerated(t, pcl, topic, 0, n, 1, base, nil)

	// ISR of three, min ISR 2: the first follower stopped leaves an ISR
	// at min ISR and no ELR; the second goes to the ELR.
	tc.stop(idx(followers[1]))
	want("one follower stopped", func(v elrView) bool {
		return v.leader == leader && len(v.isr) == 2 && len(v.elr) == 0
	})
	tc.stop(idx(followers[0]))
	want("two followers stopped", func(v elrView) bool {
		return v.leader == leader && slices.Equal(v.isr, []int32{leader}) && slices.Equal(v.elr, []int32{followers[0]})
	})
	// The last ISR member stops: the ISR is empty, both are eligible, the
	// partition has no leader and remembers the last one.
	tc.stop(idx(leader))
	wantELR := []int32{followers[0], leader}
	slices.Sort(wantELR)
	want("all stopped", func(v elrView) bool {
		return v.leader == -1 && len(v.isr) == 0 && slices.Equal(v.elr, wantELR) &&
			slices.Equal(v.lastKnown, []int32{leader}) && v.errCode == kerr.LeaderNotAvailable.Code
	})

	// The eligible follower returns after its clean stop and is elected
	// from the ELR: alone in the ISR, the old leader still eligible.
	tc.start(idx(followers[0]))
	want("eligible follower back", func(v elrView) bool {
		return v.leader == followers[0] && slices.Equal(v.isr, []int32{followers[0]}) &&
			slices.Equal(v.elr, []int32{leader}) && len(v.lastKnown) == 0
	})
	// Under min ISR an acks=all produce is refused, and the high
	// watermark stays where the new leader last heard it as a follower
	// (strict min ISR): the records past it, all acknowledged, are in its
	// log but not yet readable. The old leader comes back, catches up and
	// rejoins the ISR, which leaves the ELR empty; the high watermark moves
	// past every acknowledged record and produces go through.
	refused := newClient(t, seed, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RecordRetries(0), kgo.RequestRetries(0))
	r := kgo.StringRecord("under min ISR")
	r.Topic = topic
	if err := refused.ProduceSync(ctxFor(t, requestTimeout), r).FirstErr(); !errors.Is(err, kerr.NotEnoughReplicas) {
		t.Fatalf("acks=all produce under min ISR: %v, want NOT_ENOUGH_REPLICAS", err)
	}
	tc.start(idx(leader))
	want("old leader back in sync", func(v elrView) bool {
		return v.leader == followers[0] && len(v.isr) == 2 && len(v.elr) == 0 && len(v.lastKnown) == 0
	})
	consumeGenerated(t, seed, topic, n, 1, base)
	pcl = newClient(t, seed, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceGenerated(t, pcl, topic, n, 2*n, 1, base, nil)
	consumeGenerated(t, seed, topic, 2*n, 1, base)

	// kafka-features.sh downgrade --feature eligible.leader.replicas.version=0
	// clears the ELR; upgrading turns it back on.
	tc.stop(idx(leader))
	want("old leader stopped again", func(v elrView) bool {
		return v.leader == followers[0] && slices.Equal(v.elr, []int32{leader})
	})
	setELR := func(level int16, upgradeType int8) {
		t.Helper()
		uf, err := adm.UpdateFeatures(ctxFor(t, requestTimeout), false,
			kadm.FeatureUpdate{Feature: "eligible.leader.replicas.version", MaxVersionLevel: level, UpgradeType: upgradeType})
		if err != nil || uf.Error() != nil {
			t.Fatalf("eligible.leader.replicas.version=%d: %v %+v", level, err, uf)
		}
		var got int16
		if !poll(requestTimeout, func() bool { got = finalizedELR(); return got == level }) {
			t.Fatalf("ApiVersions finalizes eligible.leader.replicas.version=%d after setting %d", got, level)
		}
	}
	setELR(0, 2) // a safe downgrade
	want("ELR turned off", func(v elrView) bool {
		return v.leader == followers[0] && slices.Equal(v.isr, []int32{followers[0]}) && len(v.elr) == 0
	})
	setELR(1, 1)
	tc.start(idx(leader))
	want("old leader back again", func(v elrView) bool { return len(v.isr) == 2 && len(v.elr) == 0 })
}

// createELRTopic creates topic with one partition on brokers 2, 3 and 4
// and min.insync.replicas=2.
func createELRTopic(t testing.TB, cl *kgo.Client, topic string) {
	t.Helper()
	minISR := "2"
	creq := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = topic, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, []int32{2, 3, 4}
	ct.ReplicaAssignment = append(ct.ReplicaAssignment, ra)
	cc := kmsg.NewCreateTopicsRequestTopicConfig()
	cc.Name, cc.Value = "min.insync.replicas", &minISR
	ct.Configs = append(ct.Configs, cc)
	creq.Topics = append(creq.Topics, ct)
	cresp := request[*kmsg.CreateTopicsResponse](t, cl, creq)
	if len(cresp.Topics) != 1 || cresp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create: %+v", cresp.Topics)
	}
}

// waitELR polls until every running broker's DescribeTopicPartitions shows
// partition 0 of topic as cond wants it, and returns that view.
func waitELR(t testing.TB, tc *testCluster, topic, what string, cond func(elrView) bool) elrView {
	t.Helper()
	addrs := tc.addrs()
	var v elrView
	if !poll(startTimeout, func() bool {
		for _, i := range tc.running() {
			if addrs[i] == "" {
				continue
			}
			var ok bool
			if v, ok = describeELR(t, addrs[i], topic); !ok || !cond(v) {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("%s: DescribeTopicPartitions shows %v", what, v)
	}
	t.Logf("%s: %v", what, v)
	return v
}

// TestClusterELRUncleanRestart: a broker killed (no clean-shutdown epoch)
// while it is an eligible leader replica leaves the ELR when it registers
// again, so it is not elected; the cleanly stopped last leader is, once it
// returns, and the killed broker then catches up and rejoins the ISR.
func TestClusterELRUncleanRestart(t *testing.T) {
	tc := startRolesCluster(t, 1, 4, func(_ int32, c *config.Broker) {
		c.BrokerSessionTimeoutMs = 2000
		c.BrokerHeartbeatIntervalMs = 200
	})
	cl := newClient(t, tc.addrs()[4])
	const topic = "elr-unclean"
	createELRTopic(t, cl, topic)
	want := func(what string, cond func(elrView) bool) elrView {
		t.Helper()
		return waitELR(t, tc, topic, what, cond)
	}
	want("created", func(v elrView) bool { return v.leader == 2 && len(v.isr) == 3 })
	base := genBase()
	const n = 100
	produceGenerated(t, newClient(t, tc.addrs()[4], kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner())),
		topic, 0, n, 1, base, nil)

	tc.stop(3) // broker 4, cleanly
	want("4 stopped", func(v elrView) bool { return v.leader == 2 && slices.Equal(v.isr, []int32{2, 3}) })
	tc.kill(2) // broker 3, fenced when its session runs out
	want("3 killed", func(v elrView) bool {
		return v.leader == 2 && slices.Equal(v.isr, []int32{2}) && slices.Equal(v.elr, []int32{3})
	})
	tc.stop(1) // broker 2, the leader, cleanly
	want("2 stopped", func(v elrView) bool {
		return v.leader == -1 && len(v.isr) == 0 && slices.Equal(v.elr, []int32{2, 3}) && slices.Equal(v.lastKnown, []int32{2})
	})
	tc.start(2) // broker 3 again: it cannot show a clean shutdown
	want("3 back after a kill", func(v elrView) bool {
		return v.leader == -1 && len(v.isr) == 0 && slices.Equal(v.elr, []int32{2}) && slices.Equal(v.lastKnown, []int32{2})
	})
	tc.start(1) // broker 2 again, cleanly: elected from the ELR
	want("2 back", func(v elrView) bool {
		return v.leader == 2 && slices.Equal(v.isr, []int32{2, 3}) && len(v.elr) == 0 && len(v.lastKnown) == 0
	})
	consumeGenerated(t, tc.addrs()[4], topic, n, 1, base)
}

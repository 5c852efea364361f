package server_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestOffsetForLeaderEpoch: the end offset of the current epoch is the log
// end offset, an epoch newer than any is unknown (-1, -1), a current epoch
// ahead of the leader's is UNKNOWN_LEADER_EPOCH and one behind
// FENCED_LEADER_EPOCH, an unknown partition UNKNOWN_TOPIC_OR_PARTITION,
// and the answers survive a restart. (Ends of earlier epochs are covered
// by the storage tests of the leader epoch cache.)
func TestOffsetForLeaderEpoch(t *testing.T) {
	tb := startBroker(t)
	adm := newAdmin(t, tb.addr())
	ctx := ctxFor(t, requestTimeout)
	const topic = "ofle"
	createTopic(t, adm, topic, 1, nil)
	produceN(t, tb.addr(), topic, 5)

	leaderEpoch := func() int32 {
		t.Helper()
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		return md.Topics[topic].Partitions[0].LeaderEpoch
	}
	ask := func(topic string, current, epoch int32) kmsg.OffsetForLeaderEpochResponseTopicPartition {
		t.Helper()
		cl := newClient(t, tb.addr())
		defer cl.Close()
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.ReplicaID = -1
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = 0, current, epoch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		// Straight to the broker: the client would refuse to route a
		// topic it has no metadata for.
		kresp, err := cl.Broker(1).Request(ctx, req)
		if err != nil {
			t.Fatalf("offset for leader epoch: %v", err)
		}
		return kresp.(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0]
	}

	e1 := leaderEpoch()
	var r kadm.OffsetForLeaderEpochRequest
	r.Add(topic, 0, e1)
	got, err := adm.OffsetForLeaderEpoch(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if o := got[topic][0]; o.Err != nil || o.LeaderEpoch != e1 || o.EndOffset != 5 {
		t.Fatalf("current epoch %d: %+v, want epoch %d end offset 5", e1, o, e1)
	}
	if p := ask("ofle-missing", -1, e1); p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	if p := ask(topic, e1, e1+3); p.ErrorCode != 0 || p.LeaderEpoch != -1 || p.EndOffset != -1 {
		t.Fatalf("a future epoch: %+v, want -1/-1", p)
	}
	if p := ask(topic, e1+1, e1); p.ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Fatalf("current epoch ahead of the leader: %v", kerr.ErrorForCode(p.ErrorCode))
	}

	tb.restart()
	adm = newAdmin(t, tb.addr()) // the restarted broker listens on a new port
	produceN(t, tb.addr(), topic, 3)
	// A restart of the only replica keeps its leader epoch (the epoch
	// moves with leadership changes, which need other brokers); the
	// epoch's end moves with the log.
	e2 := leaderEpoch()
	if e2 < e1 {
		t.Fatalf("leader epoch went back from %d to %d", e1, e2)
	}
	if p := ask(topic, e2, e2); p.ErrorCode != 0 || p.LeaderEpoch != e2 || p.EndOffset != 8 {
		t.Fatalf("epoch %d after the restart: %+v, want end offset 8", e2, p)
	}
}

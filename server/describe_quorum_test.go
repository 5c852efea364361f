package server_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDescribeQuorum is kafka-metadata-quorum.sh describe --status and
// --replication: the single voter leads, its high watermark and log end
// offset grow with metadata changes, v2 names its controller endpoint, and
// a partition other than __cluster_metadata-0 is unknown.
func TestDescribeQuorum(t *testing.T) {
	tb := startBroker(t)
	cl := newClient(t, tb.addr())
	adm := newAdmin(t, tb.addr())
	ctx := ctxFor(t, requestTimeout)
	describe := func(topic string, partition int32) *kmsg.DescribeQuorumResponse {
		t.Helper()
		req := kmsg.NewPtrDescribeQuorumRequest()
		rt := kmsg.NewDescribeQuorumRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewDescribeQuorumRequestTopicPartition()
		rp.Partition = partition
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("describe quorum: %v", err)
		}
		return resp
	}
	resp := describe("__cluster_metadata", 0)
	if resp.Version != 2 || resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("describe quorum: %+v", resp)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || p.LeaderID != 1 || p.LeaderEpoch < 1 || p.HighWatermark <= 0 || len(p.CurrentVoters) != 1 || len(p.Observers) != 0 {
		t.Fatalf("quorum partition: %+v", p)
	}
	v := p.CurrentVoters[0]
	if v.ReplicaID != 1 || v.LogEndOffset < p.HighWatermark || v.LastFetchTimestamp <= 0 || v.LastCaughtUpTimestamp <= 0 {
		t.Fatalf("voter: %+v", v)
	}
	if len(resp.Nodes) != 1 || resp.Nodes[0].NodeID != 1 || len(resp.Nodes[0].Listeners) != 1 ||
		resp.Nodes[0].Listeners[0].Name != "CONTROLLER" || resp.Nodes[0].Listeners[0].Port == 0 ||
		!strings.HasSuffix(tb.b.ControllerAddr(), ":"+strconv.Itoa(int(resp.Nodes[0].Listeners[0].Port))) {
		t.Fatalf("nodes: %+v (controller at %s)", resp.Nodes, tb.b.ControllerAddr())
	}

	// A metadata change moves the high watermark.
	createTopic(t, adm, "quorum-grow", 1, nil)
	if !poll(requestTimeout, func() bool {
		q := describe("__cluster_metadata", 0).Topics[0].Partitions[0]
		return q.HighWatermark > p.HighWatermark && q.CurrentVoters[0].LogEndOffset >= q.HighWatermark
	}) {
		t.Fatalf("the high watermark stayed at %d after a topic was created", p.HighWatermark)
	}

	for _, c := range []struct {
		topic     string
		partition int32
	}{{"__cluster_metadata", 1}, {"quorum-grow", 0}} {
		r := describe(c.topic, c.partition)
		if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 || r.Topics[0].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("describe %s-%d: %+v, want UNKNOWN_TOPIC_OR_PARTITION", c.topic, c.partition, r)
		}
	}
}

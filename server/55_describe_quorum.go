package server

// DescribeQuorum (key 55), v0–v2.
//
// kafka-metadata-quorum.sh describe --status / --replication and the Java
// admin client's describeMetadataQuorum: the state of the metadata quorum
// (KIP-595, KIP-836). A broker forwards it to the active controller, as
// Kafka's brokers do; the controller answers for __cluster_metadata-0 only
// (UNKNOWN_TOPIC_OR_PARTITION for anything else, KafkaRaftClient). The
// leader reports each follower's log end offset and when it last answered
// and was last caught up, as observed on its raft transport
// (controller/progress.go); -1 for a follower not heard from since the
// leader was elected, which Kafka's tools print as unknown. Broker-only
// nodes (raft non-voters) are the observers. v1 adds the fetch and
// caught-up times (the leader's are now), v2 the voters' controller
// endpoints and (zero) directory ids.

import (
	"context"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.DescribeQuorum, 0, 2, handleDescribeQuorum) }

const metadataTopic = "__cluster_metadata"

func handleDescribeQuorum(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeQuorumRequest)
	b := rc.b
	resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	// DescribeQuorumRequest.getPartitionLevelErrorResponse.
	partitionError := func(code int16) kmsg.Response {
		for _, t := range req.Topics {
			rt := kmsg.NewDescribeQuorumResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewDescribeQuorumResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rp.CurrentVoters, rp.Observers = []kmsg.DescribeQuorumResponseTopicPartitionReplicaState{}, []kmsg.DescribeQuorumResponseTopicPartitionReplicaState{}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	// DESCRIBE on the cluster (ControllerApis.handleDescribeQuorum).
	if !rc.authorizeCluster(authz.OpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	if len(req.Topics) != 1 || req.Topics[0].Topic != metadataTopic ||
		len(req.Topics[0].Partitions) != 1 || req.Topics[0].Partitions[0].Partition != 0 {
		return partitionError(kerr.UnknownTopicOrPartition.Code), nil
	}
	if !b.ctrl.IsActive() {
		// Forward once: a request another broker forwarded is not sent
		// on, so two nodes with stale views cannot bounce it.
		forwarded := rc.header.ClientID != nil && strings.HasPrefix(*rc.header.ClientID, interBrokerClientIDPrefix)
		if id := b.ctrl.Image().ControllerID; id >= 0 && id != b.cfg.NodeID && !forwarded {
			kresp, err := b.interBrokerRequest(ctx, id, req)
			if err == nil {
				return kresp, nil
			}
			b.logger.Debug("forwarding DescribeQuorum to the controller", "controller", id, "err", err)
		}
		return partitionError(kerr.NotLeaderForPartition.Code), nil
	}
	st, err := b.ctrl.DescribeQuorum()
	if err != nil {
		return partitionError(errCode(err)), nil
	}
	millis := func(t time.Time) int64 {
		if t.IsZero() {
			return -1
		}
		return t.UnixMilli()
	}
	rt := kmsg.NewDescribeQuorumResponseTopic()
	rt.Topic = metadataTopic
	rp := kmsg.NewDescribeQuorumResponseTopicPartition()
	rp.LeaderID, rp.LeaderEpoch, rp.HighWatermark = st.LeaderID, st.LeaderEpoch, st.HighWatermark
	rp.Observers = []kmsg.DescribeQuorumResponseTopicPartitionReplicaState{}
	listener := "CONTROLLER"
	if len(b.cfg.ControllerListenerNames) > 0 {
		listener = b.cfg.ControllerListenerNames[0]
	}
	for _, v := range st.Voters {
		rs := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		rs.ReplicaID, rs.LogEndOffset = v.ID, v.LogEndOffset
		rs.LastFetchTimestamp, rs.LastCaughtUpTimestamp = millis(v.LastFetch), millis(v.LastCaughtUp)
		rp.CurrentVoters = append(rp.CurrentVoters, rs)
		if v.Port <= 0 || v.Port > 65535 {
			continue
		}
		n := kmsg.NewDescribeQuorumResponseNode()
		n.NodeID = v.ID
		l := kmsg.NewDescribeQuorumResponseNodeListener()
		l.Name, l.Host, l.Port = listener, v.Host, uint16(v.Port)
		n.Listeners = append(n.Listeners, l)
		resp.Nodes = append(resp.Nodes, n)
	}
	for _, o := range st.Observers {
		rs := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		rs.ReplicaID, rs.LogEndOffset = o.ID, o.LogEndOffset
		rs.LastFetchTimestamp, rs.LastCaughtUpTimestamp = millis(o.LastFetch), millis(o.LastCaughtUp)
		rp.Observers = append(rp.Observers, rs)
	}
	if len(rp.CurrentVoters) == 0 {
		return partitionError(kerr.UnknownServerError.Code), nil
	}
	rt.Partitions = append(rt.Partitions, rp)
	resp.Topics = append(resp.Topics, rt)
	return resp, nil
}

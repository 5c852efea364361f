package server

// OffsetForLeaderEpoch (key 23), v0–v4.
//
// KIP-101 and KIP-320: for each partition, the largest leader epoch <= the
// requested one and the offset at which it ended (the log end offset for
// the current epoch), from the log's leader-epoch-checkpoint; (-1, -1)
// when the log knows no such epoch. Consumers (franz-go, the Java client)
// use it to detect that the log was truncated below their position after a
// leader change; followers to find where to truncate. CurrentLeaderEpoch
// (v2+) is fenced as for a fetch (FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH),
// a partition this broker does not lead is NOT_LEADER_OR_FOLLOWER, an
// unknown one UNKNOWN_TOPIC_OR_PARTITION (KafkaApis,
// ReplicaManager.lastOffsetForLeaderEpoch). v1 adds the epoch to the answer,
// v3 the requesting replica id, v4 is flexible.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/server/authz"
	"github.com/riffle-io/riffle/storage"
)

func init() { register(kmsg.OffsetForLeaderEpoch, 0, 4, handleOffsetForLeaderEpoch) }

func handleOffsetForLeaderEpoch(_ context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.OffsetForLeaderEpochRequest)
	b := rc.b
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	im := b.ctrl.Image()
	// CLUSTER_ACTION (a follower) covers every topic; otherwise each needs
	// DESCRIBE (TOPIC_AUTHORIZATION_FAILED), as
	// KafkaApis.handleOffsetForLeaderEpochRequest.
	clusterAction := rc.authorizeCluster(authz.OpClusterAction)
	canDescribe := rc.topicAuthorizer(authz.OpDescribe)
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetForLeaderEpochResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			rp.Partition, rp.LeaderEpoch, rp.EndOffset = p.Partition, -1, -1
			current := int32(-1)
			if req.Version >= 2 {
				current = p.CurrentLeaderEpoch
			}
			var err error
			if !clusterAction && !canDescribe.allowed(t.Topic) {
				err = kerr.TopicAuthorizationFailed
			} else if _, ok := lookupPartition(im, t.Topic, p.Partition); !ok {
				err = fmt.Errorf("%w: %s-%d does not exist", kerr.UnknownTopicOrPartition, t.Topic, p.Partition)
			} else if part, perr := b.replicas.Partition(storage.TopicPartition{Topic: t.Topic, Partition: p.Partition}); perr != nil {
				err = fmt.Errorf("%w: %s-%d is not hosted here", kerr.NotLeaderForPartition, t.Topic, p.Partition)
			} else {
				rp.LeaderEpoch, rp.EndOffset, err = part.LastOffsetForLeaderEpoch(current, p.LeaderEpoch)
			}
			if err != nil {
				rp.LeaderEpoch, rp.EndOffset = -1, -1
				rp.ErrorCode = errCode(err)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

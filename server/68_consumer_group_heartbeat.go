package server

// ConsumerGroupHeartbeat (key 68), v0–v1.
//
// KIP-848's consumer protocol: members join, heartbeat and leave with one
// API; the coordinator assigns partitions with a server-side assignor
// (group.consumer.assignors: uniform, range) and reconciles each member
// towards its target through member epochs. v1 members choose their own
// member id. When group.coordinator.rebalance.protocols leaves out
// "consumer", the answer is UNSUPPORTED_VERSION and clients fall back to
// the classic protocol.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.ConsumerGroupHeartbeat, 0, 1, handleConsumerGroupHeartbeat) }

func handleConsumerGroupHeartbeat(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ConsumerGroupHeartbeatRequest)
	// READ on the group; DESCRIBE on every subscribed topic named
	// (KafkaApis.handleConsumerGroupHeartbeat).
	fail := func(code int16) (kmsg.Response, error) {
		resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		resp.ErrorCode = code
		return resp, nil
	}
	if !rc.authorizeGroup(authz.OpRead, req.Group) {
		return fail(kerr.GroupAuthorizationFailed.Code)
	}
	for _, t := range req.SubscribedTopicNames {
		if !rc.authorizeTopic(authz.OpDescribe, t) {
			return fail(kerr.TopicAuthorizationFailed.Code)
		}
	}
	return rc.b.groups.handle(ctx, rc, req.Group, req, immediateWait)
}

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

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ConsumerGroupHeartbeat, 0, 1, handleConsumerGroupHeartbeat) }

func handleConsumerGroupHeartbeat(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ConsumerGroupHeartbeatRequest)
	return rc.b.groups.handle(ctx, rc, req.Group, req, immediateWait)
}

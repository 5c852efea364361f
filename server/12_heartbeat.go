package server

// Heartbeat (key 12), v0–v4.
//
// Keeps a classic member's session alive. REBALANCE_IN_PROGRESS tells the
// member to rejoin; ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID and (v3+, static
// members) FENCED_INSTANCE_ID as in Kafka's group coordinator.
//
// The principal needs READ on the group (GROUP_AUTHORIZATION_FAILED
// otherwise), as KafkaApis checks before the coordinator sees the request.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.Heartbeat, 0, 4, handleHeartbeat) }

func handleHeartbeat(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.HeartbeatRequest)
	if !rc.authorizeGroup(authz.OpRead, req.Group) {
		resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	return rc.b.groups.handle(ctx, rc, req.Group, req, immediateWait)
}

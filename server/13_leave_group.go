package server

// LeaveGroup (key 13), v0–v5.
//
// v0–v2 remove one member by id; v3+ batch members, by member id or by
// group.instance.id (KIP-345), with an error per member; v5+ carry a
// reason (KIP-800). A member that leaves triggers a rebalance.
//
// The principal needs READ on the group (GROUP_AUTHORIZATION_FAILED
// otherwise), as KafkaApis checks before the coordinator sees the request.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.LeaveGroup, 0, 5, handleLeaveGroup) }

func handleLeaveGroup(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.LeaveGroupRequest)
	if !rc.authorizeGroup(authz.OpRead, req.Group) {
		resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	return rc.b.groups.handle(ctx, rc, req.Group, req, immediateWait)
}

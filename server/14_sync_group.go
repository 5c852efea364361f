package server

// SyncGroup (key 14), v0–v5.
//
// Members wait here for the leader's assignment; the leader's SyncGroup
// stores it in __consumer_offsets and then releases every member's answer.
// A member that never syncs is removed after the rebalance timeout and the
// group rebalances. v5+ check the protocol type and name.
//
// The principal needs READ on the group (GROUP_AUTHORIZATION_FAILED
// otherwise), as KafkaApis checks before the coordinator sees the request.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.SyncGroup, 0, 5, handleSyncGroup) }

func handleSyncGroup(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.SyncGroupRequest)
	if !rc.authorizeGroup(authz.OpRead, req.Group) {
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode, resp.MemberAssignment = kerr.GroupAuthorizationFailed.Code, []byte{}
		return resp, nil
	}
	return rc.b.groups.handle(ctx, rc, req.Group, req, syncGroupWait)
}

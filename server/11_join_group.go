package server

// JoinGroup (key 11), v2–v9.
//
// v2 is Kafka 4.0's floor (KIP-896). The response is held until the
// rebalance completes: every member has rejoined, or the rebalance timeout
// (the first rebalance of an empty group waits
// group.initial.rebalance.delay.ms, extended while members keep arriving).
// v4+ members first get MEMBER_ID_REQUIRED with their id (KIP-394); v5+
// static members (KIP-345); v7+ return the protocol type; v8+ carry a join
// reason (KIP-800); v9+ may tell a rejoining static leader to skip the
// assignment (KIP-814).
//
// The principal needs READ on the group (GROUP_AUTHORIZATION_FAILED
// otherwise), as KafkaApis checks before the coordinator sees the request.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.JoinGroup, 2, 9, handleJoinGroup) }

// joinGroupSlack is added to the rebalance timeout to bound the wait: the
// coordinator answers within the rebalance timeout itself.
const joinGroupSlack = 30 * time.Second

func handleJoinGroup(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.JoinGroupRequest)
	if !rc.authorizeGroup(authz.OpRead, req.Group) {
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode, resp.Generation, resp.MemberID = kerr.GroupAuthorizationFailed.Code, -1, ""
		return resp, nil
	}
	wait := time.Duration(max(req.RebalanceTimeoutMillis, req.SessionTimeoutMillis))*time.Millisecond + joinGroupSlack
	// An initial rebalance may be extended by group.initial.rebalance.delay.ms.
	wait += time.Duration(rc.b.cfg.GroupInitialRebalanceDelayMs) * time.Millisecond
	return rc.b.groups.handle(ctx, rc, req.Group, req, wait)
}

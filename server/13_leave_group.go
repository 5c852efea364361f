package server

// LeaveGroup (key 13), v0–v5.
//
// v0–v2 remove one member by id; v3+ batch members, by member id or by
// group.instance.id (KIP-345), with an error per member; v5+ carry a
// reason (KIP-800). A member that leaves triggers a rebalance.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.LeaveGroup, 0, 5, handleLeaveGroup) }

func handleLeaveGroup(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.LeaveGroupRequest)
	return rc.b.groups.handle(ctx, rc, req.Group, req, immediateWait)
}

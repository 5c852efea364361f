package server

// DescribeGroups (key 15), v0–v6.
//
// Classic groups with their state, protocol and members; member metadata
// and assignments only while Stable, as Kafka. An unknown group is "Dead"
// (v6+: with GROUP_ID_NOT_FOUND, KIP-1043). v3+ may ask for the authorized
// operations.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.DescribeGroups, 0, 6, handleDescribeGroups) }

func handleDescribeGroups(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeGroupsRequest)
	resp, err := perGroup(ctx, rc, req, authz.OpDescribe,
		func(r *kmsg.DescribeGroupsRequest) *[]string { return &r.Groups },
		func(r *kmsg.DescribeGroupsResponse) *[]kmsg.DescribeGroupsResponseGroup { return &r.Groups },
		func(group string) kmsg.DescribeGroupsResponseGroup {
			g := kmsg.NewDescribeGroupsResponseGroup()
			g.Group, g.ErrorCode = group, kerr.GroupAuthorizationFailed.Code
			g.Members = []kmsg.DescribeGroupsResponseGroupMember{}
			return g
		})
	if r, ok := resp.(*kmsg.DescribeGroupsResponse); ok && req.IncludeAuthorizedOperations {
		// KIP-430: the principal's operations on each group described.
		for i := range r.Groups {
			if r.Groups[i].ErrorCode == 0 {
				r.Groups[i].AuthorizedOperations = rc.authorizedOps(authz.ResourceGroup, r.Groups[i].Group)
			}
		}
	}
	return resp, err
}

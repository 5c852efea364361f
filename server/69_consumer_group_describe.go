package server

// ConsumerGroupDescribe (key 69), v0–v1.
//
// KIP-848 groups with their epochs, assignor and members (subscriptions,
// current and target assignments). A classic or unknown group answers
// GROUP_ID_NOT_FOUND.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.ConsumerGroupDescribe, 0, 1, handleConsumerGroupDescribe) }

func handleConsumerGroupDescribe(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ConsumerGroupDescribeRequest)
	resp, err := perGroup(ctx, rc, req, authz.OpDescribe,
		func(r *kmsg.ConsumerGroupDescribeRequest) *[]string { return &r.Groups },
		func(r *kmsg.ConsumerGroupDescribeResponse) *[]kmsg.ConsumerGroupDescribeResponseGroup {
			return &r.Groups
		},
		func(group string) kmsg.ConsumerGroupDescribeResponseGroup {
			g := kmsg.NewConsumerGroupDescribeResponseGroup()
			g.Group, g.ErrorCode = group, kerr.GroupAuthorizationFailed.Code
			g.Members = []kmsg.ConsumerGroupDescribeResponseGroupMember{}
			return g
		})
	if r, ok := resp.(*kmsg.ConsumerGroupDescribeResponse); ok && req.IncludeAuthorizedOperations {
		for i := range r.Groups {
			if r.Groups[i].ErrorCode == 0 {
				r.Groups[i].AuthorizedOperations = rc.authorizedOps(authz.ResourceGroup, r.Groups[i].Group)
			}
		}
	}
	return resp, err
}

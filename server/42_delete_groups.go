package server

// DeleteGroups (key 42), v0–v3.
//
// Deletes empty groups and their committed offsets (tombstones in
// __consumer_offsets). NON_EMPTY_GROUP while members remain,
// GROUP_ID_NOT_FOUND for unknown groups.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.DeleteGroups, 0, 3, handleDeleteGroups) }

func handleDeleteGroups(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	return perGroup(ctx, rc, kreq.(*kmsg.DeleteGroupsRequest), authz.OpDelete,
		func(r *kmsg.DeleteGroupsRequest) *[]string { return &r.Groups },
		func(r *kmsg.DeleteGroupsResponse) *[]kmsg.DeleteGroupsResponseGroup { return &r.Groups },
		func(group string) kmsg.DeleteGroupsResponseGroup {
			g := kmsg.NewDeleteGroupsResponseGroup()
			g.Group, g.ErrorCode = group, kerr.GroupAuthorizationFailed.Code
			return g
		})
}

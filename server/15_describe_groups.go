package server

// DescribeGroups (key 15), v0–v6.
//
// Classic groups with their state, protocol and members; member metadata
// and assignments only while Stable, as Kafka. An unknown group is "Dead"
// (v6+: with GROUP_ID_NOT_FOUND, KIP-1043). v3+ may ask for the authorized
// operations.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeGroups, 0, 6, handleDescribeGroups) }

func handleDescribeGroups(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	return perGroup(ctx, rc, kreq.(*kmsg.DescribeGroupsRequest),
		func(r *kmsg.DescribeGroupsRequest) *[]string { return &r.Groups },
		func(r *kmsg.DescribeGroupsResponse) *[]kmsg.DescribeGroupsResponseGroup { return &r.Groups })
}

package server

// ListGroups (key 16), v0–v5.
//
// Every group of every shard this broker coordinates. v4+ filter by state
// and v5+ by type ("classic", "consumer"), case-insensitively as Kafka.
// v0–v2 are not flexible: a group ID over 32,767 bytes (created through a
// flexible JoinGroup or ConsumerGroupHeartbeat) cannot be encoded in them,
// so such groups are left out of those answers rather than making the
// whole response unreadable.

import (
	"context"
	"math"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.ListGroups, 0, 5, handleListGroups) }

func handleListGroups(_ context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ListGroupsRequest)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	resp.Groups = []kmsg.ListGroupsResponseGroup{}
	// DESCRIBE on the cluster lists every group; otherwise only the groups
	// the principal may DESCRIBE (KafkaApis.handleListGroupsRequest).
	clusterDescribe := rc.authorizeCluster(authz.OpDescribe)
	for _, r := range rc.b.groups.stepAll(rc, req) {
		lr := r.(*kmsg.ListGroupsResponse)
		if lr.ErrorCode != 0 && resp.ErrorCode == 0 {
			resp.ErrorCode = lr.ErrorCode
		}
		for _, g := range lr.Groups {
			if !req.IsFlexible() && len(g.Group) > math.MaxInt16 {
				continue
			}
			if !clusterDescribe && !rc.authorizeGroup(authz.OpDescribe, g.Group) {
				continue
			}
			resp.Groups = append(resp.Groups, g)
		}
	}
	return resp, nil
}

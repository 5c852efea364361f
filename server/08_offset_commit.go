package server

// OffsetCommit (key 8), v2–v10.
//
// v2 is Kafka 4.0's floor (KIP-896). Commits are acknowledged once written
// to __consumer_offsets. A commit with generation -1 and no member id (the
// admin client, or a consumer assigning partitions itself) creates a
// "simple" group; one from an unknown group with a generation answers
// ILLEGAL_GENERATION (GROUP_ID_NOT_FOUND from v9). v2–v4 may set a
// retention time; v6+ carries the leader epoch; v7+ the group.instance.id
// (KIP-345); v9+ the KIP-848 member epoch; v10 names topics by ID.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.OffsetCommit, 2, 10, handleOffsetCommit) }

func handleOffsetCommit(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.OffsetCommitRequest)
	return rc.b.groups.handle(ctx, rc, req.Group, req, immediateWait)
}

package server

// OffsetDelete (key 47), v0.
//
// Deletes committed offsets of a group (KIP-496): any partition of an empty
// group; of a consumer group with members, only topics it does not
// subscribe to (GROUP_SUBSCRIBED_TO_TOPIC otherwise). Groups of other
// protocol types must be empty (NON_EMPTY_GROUP).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.OffsetDelete, 0, 0, handleOffsetDelete) }

func handleOffsetDelete(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.OffsetDeleteRequest)
	return rc.b.groups.handle(ctx, rc, req.Group, req, immediateWait)
}

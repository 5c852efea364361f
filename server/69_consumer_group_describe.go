package server

// ConsumerGroupDescribe (key 69), v0–v1.
//
// KIP-848 groups with their epochs, assignor and members (subscriptions,
// current and target assignments). A classic or unknown group answers
// GROUP_ID_NOT_FOUND.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ConsumerGroupDescribe, 0, 1, handleConsumerGroupDescribe) }

func handleConsumerGroupDescribe(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	return perGroup(ctx, rc, kreq.(*kmsg.ConsumerGroupDescribeRequest),
		func(r *kmsg.ConsumerGroupDescribeRequest) *[]string { return &r.Groups },
		func(r *kmsg.ConsumerGroupDescribeResponse) *[]kmsg.ConsumerGroupDescribeResponseGroup {
			return &r.Groups
		})
}

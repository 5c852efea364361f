package server

// OffsetDelete (key 47), v0.
//
// Deletes committed offsets of a group (KIP-496): any partition of an empty
// group; of a consumer group with members, only topics it does not
// subscribe to (GROUP_SUBSCRIBED_TO_TOPIC otherwise). Groups of other
// protocol types must be empty (NON_EMPTY_GROUP).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.OffsetDelete, 0, 0, handleOffsetDelete) }

func handleOffsetDelete(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.OffsetDeleteRequest)
	// DELETE on the group (GROUP_AUTHORIZATION_FAILED); READ on each topic,
	// else its partitions are TOPIC_AUTHORIZATION_FAILED
	// (KafkaApis.handleOffsetDeleteRequest).
	if !rc.authorizeGroup(authz.OpDelete, req.Group) {
		resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	canRead := rc.topicAuthorizer(authz.OpRead)
	var refused []kmsg.OffsetDeleteResponseTopic
	allowed := *req
	allowed.Topics = nil
	for _, t := range req.Topics {
		if canRead.allowed(t.Topic) {
			allowed.Topics = append(allowed.Topics, t)
			continue
		}
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		refused = append(refused, rt)
	}
	if len(refused) == 0 {
		return rc.b.groups.handle(ctx, rc, req.Group, req, immediateWait)
	}
	kresp, err := rc.b.groups.handle(ctx, rc, req.Group, &allowed, immediateWait)
	if r, ok := kresp.(*kmsg.OffsetDeleteResponse); ok && err == nil {
		r.Topics = append(r.Topics, refused...)
	}
	return kresp, err
}

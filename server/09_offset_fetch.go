package server

// OffsetFetch (key 9), v1–v10.
//
// v1 is Kafka 4.0's floor. An unknown group is not an error: requested
// partitions answer offset -1 with empty metadata (librdkafka fetches before
// it joins). Null topics (v2+) fetch every committed offset of the group.
// v8+ batches groups, each answered by its own shard; v9+ checks the
// KIP-848 member epoch; v10 names topics by ID. RequireStable (v7+, KIP-447)
// answers UNSTABLE_OFFSET_COMMIT for a partition whose offset an open
// transaction is moving; the coordinator resolves v10's topic IDs to names
// before it looks for pending transactional offsets.
//
// Authorization (KafkaApis.handleOffsetFetchRequest): DESCRIBE on each
// group, else GROUP_AUTHORIZATION_FAILED; DESCRIBE on each topic: a topic
// asked for without it answers TOPIC_AUTHORIZATION_FAILED (offset -1), and
// a request for all of the group's offsets leaves such topics out.

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.OffsetFetch, 1, 10, handleOffsetFetch) }

func handleOffsetFetch(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.OffsetFetchRequest)
	canDescribe := rc.topicAuthorizer(authz.OpDescribe)
	if req.Version < 8 {
		if !rc.authorizeGroup(authz.OpDescribe, req.Group) {
			return offsetFetchGroupDenied(req), nil
		}
		kresp, err := rc.b.groups.handle(ctx, rc, req.Group, req, immediateWait)
		if r, ok := kresp.(*kmsg.OffsetFetchResponse); ok && err == nil {
			r.Topics = filterOffsetFetchTopics(r.Topics, req.Topics == nil, canDescribe,
				func(t kmsg.OffsetFetchResponseTopic) string { return t.Topic },
				func(t *kmsg.OffsetFetchResponseTopic) {
					for i := range t.Partitions {
						p := &t.Partitions[i]
						p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = -1, -1, kmsg.StringPtr(""), kerr.TopicAuthorizationFailed.Code
					}
				})
		}
		return kresp, err
	}
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	img := rc.b.ctrl.Image()
	for _, rg := range req.Groups {
		if !rc.authorizeGroup(authz.OpDescribe, rg.Group) {
			g := kmsg.NewOffsetFetchResponseGroup()
			g.Group, g.ErrorCode = rg.Group, kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, g)
			continue
		}
		one := kmsg.NewPtrOffsetFetchRequest()
		one.Version = req.Version
		one.RequireStable = req.RequireStable
		one.Groups = []kmsg.OffsetFetchRequestGroup{rg}
		kresp, err := rc.b.groups.handle(ctx, rc, rg.Group, one, immediateWait)
		if err != nil {
			return nil, err
		}
		r := kresp.(*kmsg.OffsetFetchResponse)
		if len(r.Groups) == 0 {
			g := kmsg.NewOffsetFetchResponseGroup()
			g.Group = rg.Group
			g.ErrorCode = r.ErrorCode
			resp.Groups = append(resp.Groups, g)
			continue
		}
		if r.Groups[0].ErrorCode == 0 && r.ErrorCode != 0 {
			r.Groups[0].ErrorCode = r.ErrorCode
		}
		g := r.Groups[0]
		g.Topics = filterOffsetFetchTopics(g.Topics, rg.Topics == nil, canDescribe,
			func(t kmsg.OffsetFetchResponseGroupTopic) string {
				if t.Topic == "" {
					if ti, ok := img.TopicByID(t.TopicID); ok {
						return ti.Name
					}
				}
				return t.Topic
			},
			func(t *kmsg.OffsetFetchResponseGroupTopic) {
				for i := range t.Partitions {
					p := &t.Partitions[i]
					p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = -1, -1, kmsg.StringPtr(""), kerr.TopicAuthorizationFailed.Code
				}
			})
		resp.Groups = append(resp.Groups, g)
	}
	return resp, nil
}

// filterOffsetFetchTopics applies topic DESCRIBE to an OffsetFetch answer:
// for all of a group's offsets, topics refused are left out; topics asked
// for by name are answered refused.
func filterOffsetFetchTopics[T any](topics []T, all bool, canDescribe *topicAuthorizer, name func(T) string, deny func(*T)) []T {
	if all {
		return slices.DeleteFunc(topics, func(t T) bool { return !canDescribe.allowed(name(t)) })
	}
	for i := range topics {
		if !canDescribe.allowed(name(topics[i])) {
			deny(&topics[i])
		}
	}
	return topics
}

// offsetFetchGroupDenied answers a v1–v7 OffsetFetch whose group the
// principal may not DESCRIBE (OffsetFetchRequest.getErrorResponse): the
// top-level error from v2, every partition's before.
func offsetFetchGroupDenied(req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
	for _, rt := range req.Topics {
		t := kmsg.NewOffsetFetchResponseTopic()
		t.Topic = rt.Topic
		for _, p := range rt.Partitions {
			sp := kmsg.NewOffsetFetchResponseTopicPartition()
			sp.Partition, sp.Offset, sp.LeaderEpoch, sp.Metadata = p, -1, -1, kmsg.StringPtr("")
			if req.Version < 2 {
				sp.ErrorCode = kerr.GroupAuthorizationFailed.Code
			}
			t.Partitions = append(t.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}

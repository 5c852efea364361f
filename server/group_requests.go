package server

// Helpers shared by the group API handlers (08, 09, 11–16, 42, 47, 68, 69).

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/coordinator"
	"github.com/riffle-io/riffle/server/authz"
)

// immediateWait bounds requests the coordinator answers in the same step
// (everything but JoinGroup and SyncGroup).
const immediateWait = 30 * time.Second

// perGroup serves a request that names several groups, which may live in
// different shards (DescribeGroups, DeleteGroups, ConsumerGroupDescribe):
// each group is stepped on its own, as a copy of req naming only it, and
// the entries of the answers are gathered in request order. groups and
// entries reach the Groups fields of the request and of its response, which
// Go generics cannot name.
//
// Each group needs op (GROUP_AUTHORIZATION_FAILED otherwise): the groups
// refused are answered with denied(group), after the others, as Kafka's
// handlers answer them.
func perGroup[T any, Q requestPtr[T], R kmsg.Response, G any](ctx context.Context, rc *requestContext, req Q, op authz.Operation, groups func(Q) *[]string, entries func(R) *[]G, denied func(group string) G) (kmsg.Response, error) {
	resp, ok := req.ResponseKind().(R)
	if !ok {
		return nil, fmt.Errorf("server: %T does not answer %T", resp, req)
	}
	var refused []G
	defer func() { *entries(resp) = append(*entries(resp), refused...) }()
	for _, g := range *groups(req) {
		if !rc.authorizeGroup(op, g) {
			refused = append(refused, denied(g))
			continue
		}
		one := Q(new(T))
		*one = *req
		*groups(one) = []string{g}
		answer, err := rc.b.groups.handle(ctx, rc, g, one, immediateWait)
		if err != nil {
			return nil, err
		}
		// The coordinator and failedResponse answer a one-group request
		// with exactly one entry, named as asked.
		if a, ok := answer.(R); ok {
			*entries(resp) = append(*entries(resp), *entries(a)...)
		}
	}
	return resp, nil
}

// requestPtr is a request type, *T, that perGroup can copy.
type requestPtr[T any] interface {
	*T
	kmsg.Request
}

// failedResponse answers req with code for every group and partition it
// names, as Kafka does when the coordinator is unavailable or moved.
func failedResponse(req kmsg.Request, code int16) kmsg.Response {
	resp := req.ResponseKind()
	switch r := req.(type) {
	case *kmsg.OffsetCommitRequest:
		out := resp.(*kmsg.OffsetCommitResponse)
		for _, t := range r.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic, st.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition = p.Partition
				st.Partitions = append(st.Partitions, sp)
			}
			out.Topics = append(out.Topics, st)
		}
	case *kmsg.OffsetFetchRequest:
		out := resp.(*kmsg.OffsetFetchResponse)
		for _, g := range r.Groups {
			sg := kmsg.NewOffsetFetchResponseGroup()
			sg.Group = g.Group
			out.Groups = append(out.Groups, sg)
		}
		if r.Version < 2 {
			for _, t := range r.Topics {
				st := kmsg.NewOffsetFetchResponseTopic()
				st.Topic = t.Topic
				for _, p := range t.Partitions {
					sp := kmsg.NewOffsetFetchResponseTopicPartition()
					sp.Partition, sp.Offset, sp.LeaderEpoch = p, -1, -1
					st.Partitions = append(st.Partitions, sp)
				}
				out.Topics = append(out.Topics, st)
			}
		}
	case *kmsg.DescribeGroupsRequest:
		resp.(*kmsg.DescribeGroupsResponse).Groups = entriesFor(r.Groups, kmsg.NewDescribeGroupsResponseGroup,
			func(e *kmsg.DescribeGroupsResponseGroup) *string { return &e.Group })
	case *kmsg.DeleteGroupsRequest:
		resp.(*kmsg.DeleteGroupsResponse).Groups = entriesFor(r.Groups, kmsg.NewDeleteGroupsResponseGroup,
			func(e *kmsg.DeleteGroupsResponseGroup) *string { return &e.Group })
	case *kmsg.ConsumerGroupDescribeRequest:
		resp.(*kmsg.ConsumerGroupDescribeResponse).Groups = entriesFor(r.Groups, kmsg.NewConsumerGroupDescribeResponseGroup,
			func(e *kmsg.ConsumerGroupDescribeResponseGroup) *string { return &e.Group })
	case *kmsg.JoinGroupRequest:
		resp.(*kmsg.JoinGroupResponse).MemberID = r.MemberID
	case *kmsg.ConsumerGroupHeartbeatRequest:
		resp.(*kmsg.ConsumerGroupHeartbeatResponse).MemberEpoch = r.MemberEpoch
	}
	coordinator.FailResponse(resp, code)
	return resp
}

// entriesFor returns one new response entry per group, named for it, for
// FailResponse to fill in.
func entriesFor[G any](groups []string, newEntry func() G, name func(*G) *string) []G {
	var out []G
	for _, g := range groups {
		e := newEntry()
		*name(&e) = g
		out = append(out, e)
	}
	return out
}

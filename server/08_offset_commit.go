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
//
// As in Kafka's KafkaApis.handleOffsetCommitRequest, the broker checks the
// named partitions against its metadata before the coordinator sees them: a
// topic ID it does not know answers UNKNOWN_TOPIC_ID (v10), a topic or
// partition it does not know UNKNOWN_TOPIC_OR_PARTITION, and only the rest
// are committed. A request naming nothing that exists is answered without
// the coordinator.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/controller"
	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.OffsetCommit, 2, 10, handleOffsetCommit) }

func handleOffsetCommit(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.OffsetCommitRequest)
	img := rc.b.ctrl.Image()
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	valid := *req
	valid.Topics = nil
	var pending []commitSlot
	// Authorization (KafkaApis.handleOffsetCommitRequest): READ on the
	// group, else every partition is GROUP_AUTHORIZATION_FAILED; READ on
	// each topic, else its partitions are TOPIC_AUTHORIZATION_FAILED.
	groupDenied := !rc.authorizeGroup(authz.OpRead, req.Group)
	canRead := rc.topicAuthorizer(authz.OpRead)
	for ti, t := range req.Topics {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic, st.TopicID = t.Topic, t.TopicID
		fwd := t
		fwd.Partitions = nil
		var topic *controller.TopicImage
		var ok bool
		missing := kerr.UnknownTopicOrPartition.Code
		if req.Version >= 10 {
			// v10 names topics by ID only; the coordinator stores
			// offsets by name, so the ID is resolved here.
			topic, ok = img.TopicByID(t.TopicID)
			if !ok {
				missing = kerr.UnknownTopicID.Code
			}
		} else {
			topic, ok = img.Topic(t.Topic)
		}
		if ok {
			fwd.Topic = topic.Name
		}
		for pi, p := range t.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = p.Partition
			switch code := commitTargetCode(topic, ok, missing, p.Partition); {
			case groupDenied:
				sp.ErrorCode = kerr.GroupAuthorizationFailed.Code
			case ok && !canRead.allowed(topic.Name), !ok && req.Version < 10 && !canRead.allowed(t.Topic):
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case code != 0:
				sp.ErrorCode = code
			default:
				fwd.Partitions = append(fwd.Partitions, p)
				pending = append(pending, commitSlot{ti, pi})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		if len(fwd.Partitions) > 0 {
			valid.Topics = append(valid.Topics, fwd)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(valid.Topics) == 0 {
		return resp, nil
	}
	kanswer, err := rc.b.groups.handle(ctx, rc, req.Group, &valid, immediateWait)
	if err != nil {
		return nil, err
	}
	answer, _ := kanswer.(*kmsg.OffsetCommitResponse)
	var codes []int16
	if answer != nil {
		resp.ThrottleMillis = answer.ThrottleMillis
		for _, t := range answer.Topics {
			for _, p := range t.Partitions {
				codes = append(codes, p.ErrorCode)
			}
		}
	}
	for i, s := range pending {
		resp.Topics[s.topic].Partitions[s.partition].ErrorCode = answeredCode(codes, i)
	}
	return resp, nil
}

// commitSlot is the place in a response of a partition whose commit the
// coordinator answers: indexes of the topic and of the partition in it.
type commitSlot struct{ topic, partition int }

// answeredCode is the coordinator's code for the i-th forwarded partition.
// The coordinator answers every partition it is given, in order (the shard
// and failedResponse both walk the request); a shorter answer would be a
// bug, answered as UNKNOWN_SERVER_ERROR rather than as success.
func answeredCode(codes []int16, i int) int16 {
	if i < len(codes) {
		return codes[i]
	}
	return kerr.UnknownServerError.Code
}

// commitTargetCode is the error for committing an offset of partition in
// topic (found: ok; missing is the code when it was not), or 0 when the
// partition exists. Kafka checks the same against its metadata cache
// (metadataCache.contains, then getLeaderAndIsr) in KafkaApis before an
// OffsetCommit or TxnOffsetCommit reaches the group coordinator.
func commitTargetCode(topic *controller.TopicImage, ok bool, missing int16, partition int32) int16 {
	if !ok {
		return missing
	}
	if partition < 0 || int(partition) >= len(topic.Partitions) {
		return kerr.UnknownTopicOrPartition.Code
	}
	return 0
}

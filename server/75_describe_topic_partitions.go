package server

// DescribeTopicPartitions (key 75), v0.
//
// KIP-966: kafka-topics.sh --describe (Kafka 3.8+) pages through topics with
// it instead of Metadata. Topics are answered sorted by name, every topic
// when none is named; at most ResponsePartitionLimit partitions (capped at
// Kafka's max.request.partition.size.limit, 2000) go in one response, and
// NextCursor says where the next request resumes. A cursor naming a topic
// that is not in the request is INVALID_REQUEST. EligibleLeaderReplicas and
// LastKnownElr are the partition's KIP-966 state from the metadata image
// (controller/elr.go), empty while eligible.leader.replicas.version is 0;
// they are arrays, never null (the Java client dereferences them).
//
// Authorization (DescribeTopicPartitionsRequestHandler): only topics the
// principal may DESCRIBE are described; named ones it may not are answered
// TOPIC_AUTHORIZATION_FAILED after the others, without disclosing whether
// they exist. Authorized operations are always filled in.

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/controller"
	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.DescribeTopicPartitions, 0, 0, handleDescribeTopicPartitions) }

// maxRequestPartitionSizeLimit is Kafka's max.request.partition.size.limit.
const maxRequestPartitionSizeLimit = 2000

func handleDescribeTopicPartitions(_ context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeTopicPartitionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTopicPartitionsResponse)
	im := rc.b.ctrl.Image()

	var names []string
	if len(req.Topics) == 0 {
		names = im.SortedTopicNames()
	} else {
		for _, t := range req.Topics {
			names = append(names, t.Topic)
		}
		slices.Sort(names)
		names = slices.Compact(names)
	}
	var denied []kmsg.DescribeTopicPartitionsResponseTopic
	names = slices.DeleteFunc(names, func(name string) bool {
		if rc.authorizeTopic(authz.OpDescribe, name) {
			return false
		}
		if len(req.Topics) > 0 {
			denied = append(denied, unknownTopicPartitions(name, kerr.TopicAuthorizationFailed.Code))
		}
		return true
	})
	defer func() { resp.Topics = append(resp.Topics, denied...) }()
	if c := req.Cursor; c != nil {
		if len(req.Topics) > 0 && !slices.Contains(names, c.Topic) {
			for _, n := range names {
				rt := unknownTopicPartitions(n, kerr.InvalidRequest.Code)
				resp.Topics = append(resp.Topics, rt)
			}
			return resp, nil
		}
		i, _ := slices.BinarySearch(names, c.Topic)
		names = names[i:]
	}
	remaining := min(req.ResponsePartitionLimit, maxRequestPartitionSizeLimit)
	if remaining < 1 {
		remaining = 1
	}
	for i, name := range names {
		t, ok := im.Topics[name]
		if !ok {
			code := kerr.UnknownTopicOrPartition.Code
			if controller.ValidateTopicName(name) != nil {
				code = kerr.InvalidTopicException.Code
			}
			resp.Topics = append(resp.Topics, unknownTopicPartitions(name, code))
			continue
		}
		start := int32(0)
		if req.Cursor != nil && name == req.Cursor.Topic {
			start = max(req.Cursor.Partition, 0)
		}
		n := int32(len(t.Partitions))
		end := min(n, start+remaining)
		if start > n {
			end = start
		}
		rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
		rt.Topic = strPtr(t.Name)
		rt.TopicID = t.ID
		rt.IsInternal = isInternalTopic(t.Name)
		rt.AuthorizedOperations = rc.authorizedOps(authz.ResourceTopic, t.Name)
		rt.Partitions = []kmsg.DescribeTopicPartitionsResponseTopicPartition{}
		for p := start; p < end; p++ {
			rt.Partitions = append(rt.Partitions, describePartition(im, t.Partitions[p]))
		}
		resp.Topics = append(resp.Topics, rt)
		remaining -= end - start
		if end < n {
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: end}
			break
		}
		if remaining <= 0 && i+1 < len(names) {
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: names[i+1], Partition: 0}
			break
		}
	}
	return resp, nil
}

func unknownTopicPartitions(name string, code int16) kmsg.DescribeTopicPartitionsResponseTopic {
	rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
	rt.ErrorCode = code
	rt.Topic = strPtr(name)
	rt.Partitions = []kmsg.DescribeTopicPartitionsResponseTopicPartition{}
	return rt
}

func describePartition(im *controller.Image, p controller.PartitionImage) kmsg.DescribeTopicPartitionsResponseTopicPartition {
	rp := kmsg.NewDescribeTopicPartitionsResponseTopicPartition()
	rp.Partition = p.Partition
	rp.LeaderID = p.Leader
	rp.LeaderEpoch = p.LeaderEpoch
	rp.Replicas = append([]int32{}, p.Replicas...)
	rp.ISR = append([]int32{}, p.ISR...)
	rp.EligibleLeaderReplicas = append([]int32{}, p.ELR...)
	rp.LastKnownELR = append([]int32{}, p.LastKnownELR...)
	rp.OfflineReplicas = offlineReplicas(im, p)
	if p.Leader < 0 {
		rp.ErrorCode = kerr.LeaderNotAvailable.Code
	}
	return rp
}

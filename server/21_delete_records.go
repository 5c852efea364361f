package server

// DeleteRecords (key 21), v0–v2 (KIP-107).
//
// Moves a partition's log start offset forward to the requested offset (-1:
// the high watermark), as Kafka's Partition.deleteRecordsOnLeader does:
// segments wholly below it are deleted, ListOffsets earliest answers the new
// offset, and fetches below it get OFFSET_OUT_OF_RANGE. An offset past the
// high watermark is OFFSET_OUT_OF_RANGE; a topic whose cleanup.policy lacks
// delete is POLICY_VIOLATION; only the leader serves it. The response's low
// watermark is the smallest log start offset over the replicas on live
// brokers: the answer waits, up to TimeoutMillis, until every such
// follower has followed the new log start offset with a fetch (Kafka's
// DelayedDeleteRecords; REQUEST_TIMED_OUT past it). The new start offsets
// are checkpointed before answering, so they survive a crash.
//
// v2 is the flexible version; nothing else changed between versions.

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/replica"
	"github.com/riffle-io/riffle/server/authz"
	"github.com/riffle-io/riffle/storage"
)

func init() { register(kmsg.DeleteRecords, 0, 2, handleDeleteRecords) }

func handleDeleteRecords(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DeleteRecordsRequest)
	b := rc.b
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	type pending struct {
		p      *replica.Partition
		offset int64
		ti, pi int
	}
	var waits []pending
	// DELETE on each topic (TOPIC_AUTHORIZATION_FAILED), as
	// KafkaApis.handleDeleteRecordsRequest.
	canDelete := rc.topicAuthorizer(authz.OpDelete)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			if !canDelete.allowed(rt.Topic) {
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			p, low, err := b.deleteRecords(storage.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}, rp.Offset)
			if err == nil {
				sp.LowWatermark = low
				waits = append(waits, pending{p: p, offset: low, ti: len(resp.Topics), pi: len(st.Partitions)})
			}
			sp.ErrorCode = errCode(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(waits) > 0 {
		if err := b.logs.Checkpoint(); err != nil {
			b.logger.Error("checkpointing log start offsets after DeleteRecords", "err", err)
		}
	}
	// Kafka's DelayedDeleteRecords: answer once every live replica has
	// moved its log start offset (the low watermark), or TimeoutMillis.
	deadline := time.Now().Add(time.Duration(req.TimeoutMillis) * time.Millisecond)
	for _, w := range waits {
		sp := &resp.Topics[w.ti].Partitions[w.pi]
		low, err := b.replicas.WaitForLowWatermark(ctx, w.p, w.offset, time.Until(deadline))
		if err != nil {
			sp.ErrorCode = errCode(err)
			continue
		}
		sp.LowWatermark = low
	}
	return resp, nil
}

// deleteRecords advances one partition's log start offset and returns it.
func (b *Broker) deleteRecords(tp storage.TopicPartition, offset int64) (*replica.Partition, int64, error) {
	if isInternalTopic(tp.Topic) {
		// ReplicaManager.deleteRecords: internal topics are off limits.
		return nil, -1, fmt.Errorf("%w: cannot delete records of internal topic %s", kerr.PolicyViolation, tp.Topic)
	}
	p, err := b.replicas.Partition(tp)
	if err != nil {
		return nil, -1, err
	}
	low, err := p.DeleteRecordsOnLeader(offset)
	return p, low, err
}

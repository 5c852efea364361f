package server

// DeleteRecords (key 21), v0–v2 (KIP-107).
//
// Moves a partition's log start offset forward to the requested offset (-1:
// the high watermark), as Kafka's Partition.deleteRecordsOnLeader does:
// segments wholly below it are deleted, ListOffsets earliest answers the new
// offset, and fetches below it get OFFSET_OUT_OF_RANGE. An offset past the
// high watermark is OFFSET_OUT_OF_RANGE; a topic whose cleanup.policy lacks
// delete is POLICY_VIOLATION; only the leader serves it. The response's low
// watermark is the new log start offset (replica.Partition
// .DeleteRecordsOnLeader). Followers follow it with their next fetch; the
// answer does not wait for them (Kafka's DelayedDeleteRecords waits for
// the low watermark across replicas). The new start offsets are
// checkpointed before answering, so they survive a crash.
//
// v2 is the flexible version; nothing else changed between versions.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/storage"
)

func init() { register(kmsg.DeleteRecords, 0, 2, handleDeleteRecords) }

func handleDeleteRecords(_ context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DeleteRecordsRequest)
	b := rc.b
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	changed := false
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			low, err := b.deleteRecords(storage.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}, rp.Offset)
			if err == nil {
				sp.LowWatermark = low
				changed = true
			}
			sp.ErrorCode = errCode(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if changed {
		if err := b.logs.Checkpoint(); err != nil {
			b.logger.Error("checkpointing log start offsets after DeleteRecords", "err", err)
		}
	}
	return resp, nil
}

// deleteRecords advances one partition's log start offset and returns it.
func (b *Broker) deleteRecords(tp storage.TopicPartition, offset int64) (int64, error) {
	if isInternalTopic(tp.Topic) {
		// ReplicaManager.deleteRecords: internal topics are off limits.
		return -1, fmt.Errorf("%w: cannot delete records of internal topic %s", kerr.PolicyViolation, tp.Topic)
	}
	p, err := b.replicas.Partition(tp)
	if err != nil {
		return -1, err
	}
	return p.DeleteRecordsOnLeader(offset)
}

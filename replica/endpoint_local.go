package replica

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/storage"
)

// LocalEndpoint is a LeaderEndpoint served in process by the leader's
// Manager, as Kafka's tests run fetchers against a mock leader: the same
// follower fetch path as the Fetch API, without the network. Partitions
// are named by topic; a request's topic ID is not checked.
type LocalEndpoint struct {
	Leader *Manager
}

// Fetch serves req from the leader's partitions.
func (e LocalEndpoint) Fetch(ctx context.Context, req *kmsg.FetchRequest) (*kmsg.FetchResponse, error) {
	replicaID, replicaEpoch := req.ReplicaID, int64(-1)
	if req.Version >= 15 {
		replicaID, replicaEpoch = req.ReplicaState.ID, req.ReplicaState.Epoch
	}
	var parts []FetchPartition
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			parts = append(parts, FetchPartition{
				TP:          storage.TopicPartition{Topic: rt.Topic, Partition: rp.Partition},
				FetchOffset: rp.FetchOffset, CurrentLeaderEpoch: rp.CurrentLeaderEpoch, MaxBytes: rp.PartitionMaxBytes,
				LastFetchedEpoch: rp.LastFetchedEpoch, LogStartOffset: rp.LogStartOffset,
			})
		}
	}
	params := FetchParams{
		MinBytes: req.MinBytes, MaxBytes: req.MaxBytes, MaxWait: time.Duration(req.MaxWaitMillis) * time.Millisecond,
	}
	if replicaID >= 0 {
		params.Follower = &FollowerID{ID: replicaID, BrokerEpoch: replicaEpoch}
	}
	results := e.Leader.Fetch(ctx, parts, params)
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	i := 0
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			r := results[i]
			i++
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = errorCode(r.Err)
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = r.HighWatermark, r.LastStableOffset, r.LogStartOffset
			if r.DivergingEpoch != nil {
				sp.DivergingEpoch.Epoch, sp.DivergingEpoch.EndOffset = r.DivergingEpoch.Epoch, r.DivergingEpoch.EndOffset
			}
			if r.Records != nil {
				sp.RecordBatches = r.Records
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// errorCode is the Kafka code of an error of this package or storage (the
// server maps them in one place; this endpoint never reaches it).
func errorCode(err error) int16 {
	var ke *kerr.Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ke):
		return ke.Code
	case errors.Is(err, storage.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, storage.ErrLogOffline):
		return kerr.KafkaStorageError.Code
	default:
		return kerr.UnknownServerError.Code
	}
}

// ListOffsets serves req from the leader's partitions.
func (e LocalEndpoint) ListOffsets(_ context.Context, req *kmsg.ListOffsetsRequest) (*kmsg.ListOffsetsResponse, error) {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			p, err := e.Leader.Partition(storage.TopicPartition{Topic: rt.Topic, Partition: rp.Partition})
			if err == nil {
				sp.Timestamp, sp.Offset, sp.LeaderEpoch, err = p.FetchOffsetForTimestamp(OffsetQuery{
					Timestamp: rp.Timestamp, CurrentLeaderEpoch: rp.CurrentLeaderEpoch, FromFollower: req.ReplicaID >= 0,
				})
			}
			sp.ErrorCode = errorCode(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// Close does nothing: there is no connection.
func (LocalEndpoint) Close() {}

package server

// Fetch (key 1), v0–v18.
//
// Returns whole stored batches from the fetch offset up to the high watermark
// (the last stable offset for read_committed, with the aborted transactions
// overlapping the data); the first batch may begin
// before the requested offset, which clients expect. MaxBytes and each
// partition's PartitionMaxBytes bound the response, except that the first
// non-empty partition always returns at least one whole batch (KIP-74).
// MinBytes/MaxWaitMillis make the request wait for appends (long poll).
//
// Incremental fetch sessions (KIP-227) are not kept: every response carries
// SessionID 0, which tells clients that no session was created, so they keep
// sending full fetch requests, as they do against a Kafka broker whose session
// cache is full. v13+ names topics by ID (KIP-516).
//
// v0–v3 clients cannot read v2 batches: as Kafka 3.x does, the batches read
// for them are down-converted (records.DownConvert) to magic 0 for v0–v1 and
// magic 1 for v2–v3 (KIP-32), dropping headers and control batches; a
// partition holding zstd batches answers UNSUPPORTED_COMPRESSION_TYPE. The
// converted data is cut to whole messages within PartitionMaxBytes and, from
// v3, the response's MaxBytes, the first message always included (KIP-74).
// v0–v2 have no response limit; v0–v3 no isolation level (read_uncommitted).

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/protocol/records"
	"github.com/riffle-io/riffle/replica"
	"github.com/riffle-io/riffle/storage"
)

func init() { register(kmsg.Fetch, 0, 18, handleFetch) }

func handleFetch(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.FetchRequest)
	b := rc.b
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	if req.SessionID != 0 {
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return resp, nil
	}
	img := b.ctrl.Image()

	// Resolve names (v13+: topic IDs) and collect the partitions to read;
	// unknown topics are answered without reading.
	type slot struct {
		ti, pi, idx int
		maxBytes    int32
		fetchOffset int64
	}
	var parts []replica.FetchPartition
	var slots []slot
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		name := rt.Topic
		var topicErr *kerr.Error
		if req.Version >= 13 {
			if t, ok := img.TopicByID(rt.TopicID); ok {
				name = t.Name
			} else {
				topicErr = kerr.UnknownTopicID
			}
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			sp.PreferredReadReplica = -1
			sp.RecordBatches = []byte{}
			if topicErr != nil {
				sp.ErrorCode = topicErr.Code
			} else {
				slots = append(slots, slot{ti: len(resp.Topics), pi: len(st.Partitions), idx: len(parts),
					maxBytes: rp.PartitionMaxBytes, fetchOffset: rp.FetchOffset})
				parts = append(parts, replica.FetchPartition{
					TP:                 storage.TopicPartition{Topic: name, Partition: rp.Partition},
					FetchOffset:        rp.FetchOffset,
					CurrentLeaderEpoch: rp.CurrentLeaderEpoch,
					MaxBytes:           rp.PartitionMaxBytes,
				})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}

	// KafkaApis: the response is bounded by fetch.max.bytes whatever the
	// client asks (v0–v2 carry no MaxBytes at all), and MinBytes by that.
	maxBytes := b.cfg.FetchMaxBytes
	if req.Version >= 3 && req.MaxBytes > 0 && (maxBytes <= 0 || req.MaxBytes < maxBytes) {
		maxBytes = req.MaxBytes
	}
	results := b.replicas.Fetch(ctx, parts, replica.FetchParams{
		MinBytes:      min(req.MinBytes, maxBytes),
		MaxBytes:      maxBytes,
		MaxWait:       time.Duration(req.MaxWaitMillis) * time.Millisecond,
		ReadCommitted: req.IsolationLevel == 1,
	})
	toMagic, convert := records.DownConvertMagic(req.Version)
	responseBytes := 0
	for _, s := range slots {
		r := results[s.idx]
		if convert && r.Err == nil && len(r.Records) > 0 {
			r.Records, r.Err = downConvert(r.Records, toMagic, s.fetchOffset, s.maxBytes, req.MaxBytes, responseBytes)
			responseBytes += len(r.Records)
		}
		sp := &resp.Topics[s.ti].Partitions[s.pi]
		sp.ErrorCode = errCode(r.Err)
		sp.HighWatermark = r.HighWatermark
		sp.LastStableOffset = r.LastStableOffset
		sp.LogStartOffset = r.LogStartOffset
		// Never null: librdkafka refuses a null record set (size -1).
		sp.RecordBatches = r.Records
		if len(r.Records) > 0 {
			b.metrics.bytesOut.WithLabelValues(parts[s.idx].TP.Topic).Add(float64(len(r.Records)))
		}
		if sp.RecordBatches == nil {
			sp.RecordBatches = []byte{}
		}
		if req.IsolationLevel == 1 {
			// KIP-98: read_committed consumers drop the records of
			// these producers from FirstOffset up to their ABORT marker.
			sp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
			for _, a := range r.AbortedTransactions {
				at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
				at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
				sp.AbortedTransactions = append(sp.AbortedTransactions, at)
			}
		}
	}
	return resp, nil
}

// downConvert rewrites the batches read for a Fetch v0–v3 partition in the
// client's message format, within the partition's limit and what is left of
// the response's; only the response's first data may exceed them (KIP-74).
func downConvert(data []byte, toMagic int8, fetchOffset int64, partitionMax, responseMax int32, responseBytes int) ([]byte, error) {
	limit := int(partitionMax)
	if responseBytes > 0 {
		limit = min(limit, int(responseMax)-responseBytes)
		if limit <= 0 {
			return nil, nil
		}
	}
	out, err := records.DownConvert(data, toMagic, fetchOffset, limit)
	if err != nil {
		if errors.Is(err, records.ErrUnsupportedCompression) {
			// KafkaApis: zstd cannot be down-converted for Fetch < v10.
			return nil, fmt.Errorf("%w: %v", kerr.UnsupportedCompressionType, err)
		}
		return nil, err
	}
	if responseBytes > 0 && len(out) > limit {
		// Only the response's first message may exceed the limits.
		return nil, nil
	}
	return out, nil
}

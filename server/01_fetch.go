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
// Fetch v7+ keeps incremental fetch sessions (KIP-227, fetch_session.go): a
// full fetch (SessionEpoch 0) creates a session when the cache has room and
// answers its ID; an incremental fetch reads every partition of the session
// and answers only those with something new. v13+ names topics by ID (KIP-516);
// a session partition whose topic was re-created under the same name answers
// INCONSISTENT_TOPIC_ID, as the topic's ID no longer matches.
//
// v0–v3 clients cannot read v2 batches: as Kafka 3.x does, the batches read
// for them are down-converted (records.DownConvert) to magic 0 for v0–v1 and
// magic 1 for v2–v3 (KIP-32), dropping headers and control batches; a
// partition holding zstd batches answers UNSUPPORTED_COMPRESSION_TYPE. The
// converted data is cut to whole messages within PartitionMaxBytes and, from
// v3, the response's MaxBytes, the first message always included (KIP-74).
// v0–v2 have no response limit; v0–v3 no isolation level (read_uncommitted).
//
// A fetch with a replica id (ReplicaID before v15, ReplicaState from v15) is
// a follower's (Kafka's Partition.fetchRecords): it reads up to the log end
// offset, moves the follower's fetch state on the leader (and with it the
// high watermark and the ISR), and from v12 answers a DivergingEpoch when
// the follower's LastFetchedEpoch shows its log diverged. Followers may use
// fetch sessions like consumers; Riffle's own fetchers send sessionless full
// fetches.
//
// Fetch from follower (KIP-392): a consumer's v11+ fetch may be served by
// any replica; a follower reads up to its own high watermark. With
// replica.selector.class set, the leader answers a partition whose
// selected replica (by the v11+ Rack, client.rack) is another one with
// PreferredReadReplica and no records, as Kafka does; older fetches read
// from the leader only.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/controller"
	"github.com/riffle-io/riffle/protocol/records"
	"github.com/riffle-io/riffle/replica"
	"github.com/riffle-io/riffle/server/authz"
	"github.com/riffle-io/riffle/storage"
)

func init() { register(kmsg.Fetch, 0, 18, handleFetch) }

func handleFetch(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.FetchRequest)
	b := rc.b
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	img := b.ctrl.Image()
	usesTopicIDs := req.Version >= 13
	resolve := func(id [16]byte) (string, bool) {
		t, ok := img.TopicByID(id)
		if !ok {
			return "", false
		}
		return t.Name, true
	}

	// FetchRequest.fetchData and forgottenTopics: the request's partitions
	// by name (v13+: by topic ID, "" when unknown), each once.
	var fetchData []fetchPartitionParams
	seen := make(map[fetchSessionKey]int)
	for _, rt := range req.Topics {
		name := rt.Topic
		if usesTopicIDs {
			name, _ = resolve(rt.TopicID)
		}
		for _, rp := range rt.Partitions {
			p := fetchPartitionParams{
				topic: name, topicID: rt.TopicID, partition: rp.Partition,
				fetchOffset: rp.FetchOffset, currentLeaderEpoch: rp.CurrentLeaderEpoch,
				logStartOffset: rp.LogStartOffset, maxBytes: rp.PartitionMaxBytes,
				lastFetchedEpoch: rp.LastFetchedEpoch,
			}
			if i, dup := seen[p.key(usesTopicIDs)]; dup {
				fetchData[i] = p
				continue
			}
			seen[p.key(usesTopicIDs)] = len(fetchData)
			fetchData = append(fetchData, p)
		}
	}
	var toForget []fetchSessionKey
	for _, ft := range req.ForgottenTopics {
		for _, partition := range ft.Partitions {
			k := fetchSessionKey{topic: ft.Topic, partition: partition}
			if usesTopicIDs {
				k = fetchSessionKey{topicID: ft.TopicID, partition: partition}
			}
			toForget = append(toForget, k)
		}
	}

	replicaID := req.ReplicaID
	if req.Version >= 15 {
		replicaID = req.ReplicaState.ID
	}
	fctx := b.fetchSessions.newContext(req.Version, req.SessionID, req.SessionEpoch, replicaID >= 0,
		fetchData, toForget, resolve, time.Now().UnixMilli())
	parts := fetchData
	switch fctx.kind {
	case fetchSessionError:
		// We cannot know which partitions the fetcher meant.
		resp.ErrorCode = fctx.err.Code
		return resp, nil
	case fetchIncremental:
		parts = fctx.partitions
	}

	// Authorization (KafkaApis.handleFetchRequest): a follower needs
	// CLUSTER_ACTION on the cluster, a consumer READ on each topic; the
	// partitions refused answer TOPIC_AUTHORIZATION_FAILED.
	authorized := rc.topicAuthorizer(authz.OpRead).allowed
	if replicaID >= 0 {
		follower := rc.authorizeCluster(authz.OpClusterAction)
		authorized = func(string) bool { return follower }
	}
	// KafkaApis: a consumer under consumer_byte_rate never fetches more
	// than its quota allows in one span (maxValueInQuotaWindow).
	var quotaMaxBytes int32
	if replicaID >= 0 {
		// Follower fetches are a cluster action: exempt from request
		// quotas, and not measured as consumers (sendResponseExemptThrottle).
		rc.requestQuotaDone = true
	} else {
		if _, limit, ok := rc.quotaFor(quotaConsumerByteRate); ok {
			quotaMaxBytes = int32(min(b.quotas.fetch.MaxValueInWindow(limit), float64(1<<31-1)))
			quotaMaxBytes = max(quotaMaxBytes, 1)
		}
	}
	results := b.readFetch(ctx, req, img, parts, replicaID, rc.header.ClientID, quotaMaxBytes, &rc.waited, authorized)
	if replicaID < 0 && rc.throttleFetch(results) {
		// Over a quota: an empty response that leaves the session as it
		// was (FetchContext.getThrottledResponse). A sessionless or
		// full fetch creates no session.
		if fctx.kind == fetchIncremental {
			resp.SessionID = fctx.session.id
		}
		return resp, nil
	}

	include := func(int) bool { return true }
	switch fctx.kind {
	case fetchFull:
		resp.SessionID = b.fetchSessions.maybeCreateSession(&fctx, parts, results, time.Now().UnixMilli())
	case fetchIncremental:
		resp.SessionID = fctx.session.id
		in, err := b.fetchSessions.completeIncremental(&fctx, results)
		if err != nil {
			resp.ErrorCode = err.Code
			return resp, nil
		}
		include = func(i int) bool { return in[i] }
	}

	// FetchResponse.toMessage: consecutive partitions of one topic share
	// an entry, so a topic may appear twice when its partitions are apart.
	for i := range parts {
		if !include(i) {
			continue
		}
		p := &parts[i]
		if n := len(resp.Topics); n == 0 || resp.Topics[n-1].Topic != p.topic || resp.Topics[n-1].TopicID != p.topicID {
			st := kmsg.NewFetchResponseTopic()
			st.Topic, st.TopicID = p.topic, p.topicID
			resp.Topics = append(resp.Topics, st)
		}
		st := &resp.Topics[len(resp.Topics)-1]
		st.Partitions = append(st.Partitions, results[i])
		// Kafka's BytesOutPerSec leaves out what followers fetch
		// (counted as ReplicationBytesOutPerSec).
		if len(results[i].RecordBatches) > 0 && p.topic != "" && replicaID < 0 {
			b.metrics.bytesOut.WithLabelValues(p.topic).Add(float64(len(results[i].RecordBatches)))
		}
	}
	return resp, nil
}

// readFetch reads parts, waiting for MinBytes up to MaxWaitMillis, and
// returns each partition's response.
func (b *Broker) readFetch(ctx context.Context, req *kmsg.FetchRequest, img *controller.Image, parts []fetchPartitionParams, replicaID int32,
	clientID *string, quotaMaxBytes int32, waited *time.Duration, authorized func(topic string) bool) []kmsg.FetchResponseTopicPartition {
	out := make([]kmsg.FetchResponseTopicPartition, len(parts))
	var reads []replica.FetchPartition
	var readIdx []int // reads[j] answers out[readIdx[j]]
	for i, p := range parts {
		sp := kmsg.NewFetchResponseTopicPartition()
		sp.Partition = p.partition
		sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
		sp.PreferredReadReplica = -1
		sp.RecordBatches = []byte{}
		out[i] = sp
		if req.Version >= 13 {
			if p.topic == "" {
				out[i].ErrorCode = kerr.UnknownTopicID.Code
				continue
			}
			// ReplicaManager: a session partition keeps the name it
			// was resolved to; if that name now belongs to another
			// topic, the session's ID no longer matches the log's.
			if t, ok := img.Topic(p.topic); ok && t.ID != p.topicID {
				out[i].ErrorCode = kerr.InconsistentTopicID.Code
				continue
			}
		}
		if !authorized(p.topic) {
			out[i].ErrorCode = kerr.TopicAuthorizationFailed.Code
			continue
		}
		readIdx = append(readIdx, i)
		reads = append(reads, replica.FetchPartition{
			TP:                 storage.TopicPartition{Topic: p.topic, Partition: p.partition},
			FetchOffset:        p.fetchOffset,
			CurrentLeaderEpoch: p.currentLeaderEpoch,
			MaxBytes:           p.maxBytes,
			LastFetchedEpoch:   p.lastFetchedEpoch,
			LogStartOffset:     p.logStartOffset,
		})
	}

	// KafkaApis: the response is bounded by fetch.max.bytes whatever the
	// client asks (v0–v2 carry no MaxBytes at all), and MinBytes by that.
	maxBytes := b.cfg.FetchMaxBytes
	if req.Version >= 3 && req.MaxBytes > 0 && (maxBytes <= 0 || req.MaxBytes < maxBytes) {
		maxBytes = req.MaxBytes
	}
	if quotaMaxBytes > 0 && (maxBytes <= 0 || quotaMaxBytes < maxBytes) {
		maxBytes = quotaMaxBytes
	}
	replicaEpoch := int64(-1)
	if req.Version >= 15 {
		replicaEpoch = req.ReplicaState.Epoch
	}
	params := replica.FetchParams{
		MinBytes:      min(req.MinBytes, maxBytes),
		MaxBytes:      maxBytes,
		MaxWait:       time.Duration(req.MaxWaitMillis) * time.Millisecond,
		ReadCommitted: req.IsolationLevel == 1,
		Waited:        waited,
	}
	if replicaID >= 0 {
		params.Follower = &replica.FollowerID{ID: replicaID, BrokerEpoch: replicaEpoch}
		params.ReadCommitted = false
	} else if req.Version >= 11 {
		// KafkaApis builds ClientMetadata from v11 on: such consumers
		// may fetch from followers (KIP-392).
		client := &replica.ClientMetadata{RackID: req.Rack}
		if id := clientID; id != nil {
			client.ClientID = *id
		}
		params.Client = client
	}
	results := b.replicas.Fetch(ctx, reads, params)
	toMagic, convert := records.DownConvertMagic(req.Version)
	responseBytes := 0
	for j, r := range results {
		p := &parts[readIdx[j]]
		if convert && r.Err == nil && len(r.Records) > 0 {
			r.Records, r.Err = downConvert(r.Records, toMagic, p.fetchOffset, p.maxBytes, req.MaxBytes, responseBytes)
			responseBytes += len(r.Records)
		}
		sp := &out[readIdx[j]]
		sp.ErrorCode = errCode(r.Err)
		sp.HighWatermark = r.HighWatermark
		sp.LastStableOffset = r.LastStableOffset
		sp.LogStartOffset = r.LogStartOffset
		if r.HasPreferredReadReplica {
			sp.PreferredReadReplica = r.PreferredReadReplica
		}
		if r.DivergingEpoch != nil {
			// KIP-595: the follower truncates to this before fetching on.
			sp.DivergingEpoch.Epoch, sp.DivergingEpoch.EndOffset = r.DivergingEpoch.Epoch, r.DivergingEpoch.EndOffset
		}
		// Never null: librdkafka refuses a null record set (size -1).
		if r.Records != nil {
			sp.RecordBatches = r.Records
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
	return out
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

package server

// The transaction coordinator on the coordinator runtime
// (coordinator_runtime.go): one coordinator.TxnShard per partition of
// __transaction_state led by this broker. A request is stepped into its
// shard under the shard's mutex and the records the shard emits are
// appended; the lock is then released, and the response leaves, and the
// markers of a decided transaction are written, only once the high
// watermark passes those records (coordinator_runtime.go).
// Markers are written by a tracked goroutine per transaction
// (WriteTxnMarkers' path, see 27_write_txn_markers.go); when every
// partition has its marker the shard writes CompleteCommit/CompleteAbort.
// The runtime's ticks carry transaction timeouts and re-issue markers that
// failed.
//
// Lock order: coordinatorRuntime.mu, then txnShard.mu, then the
// partition's locks. A marker writer takes a group shard's lock (for
// __consumer_offsets markers) without holding any txnShard lock.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/controller"
	"github.com/riffle-io/riffle/coordinator"
	"github.com/riffle-io/riffle/protocol/records"
	"github.com/riffle-io/riffle/replica"
	"github.com/riffle-io/riffle/storage"
)

const transactionStateTopic = "__transaction_state"

const (
	txnTickInterval = 50 * time.Millisecond
	// txnMarkerRetry is how often undelivered markers are re-issued.
	txnMarkerRetry = time.Second
	// txnMarkerAttempts bounds one writer's attempts per partition before
	// it leaves the transaction to the next re-issue.
	txnMarkerAttempts = 20
	txnLoadWait       = 5 * time.Second
)

// txnShardState is kept beside each transaction shard, under its mutex.
type txnShardState struct {
	inflight    map[string]bool // transactional ids with a marker writer running
	lastReissue time.Time
	// queued are decided transactions whose markers wait for the high
	// watermark to reach end: a marker may be written only once the
	// PrepareCommit/PrepareAbort that decided it is replicated, or a new
	// coordinator could load the transaction as still open.
	queued []queuedMarkers
}

type queuedMarkers struct {
	end     int64
	markers []coordinator.TxnMarkers
}

type txnShard = coordinatorShard[*coordinator.TxnShard, txnShardState]

type txnRuntime struct {
	*coordinatorRuntime[*coordinator.TxnShard, txnShardState]
	cfg coordinator.TxnConfig
}

func newTxnRuntime(b *Broker) *txnRuntime {
	c := b.cfg
	cfg := coordinator.TxnConfig{
		MaxTimeout:            time.Duration(c.TransactionMaxTimeoutMs) * time.Millisecond,
		IDExpiration:          time.Duration(c.TransactionalIDExpirationMs) * time.Millisecond,
		AbortTimedOutInterval: time.Duration(c.TransactionAbortTimedOutTransactionCleanupIntervalMs) * time.Millisecond,
		RemoveExpiredInterval: time.Duration(c.TransactionRemoveExpiredTransactionCleanupIntervalMs) * time.Millisecond,
		NewProducerID: func() int64 {
			id, err := b.nextProducerID(b.ctx)
			if err != nil {
				b.logger.Warn("allocating producer id", "err", err)
				return -1
			}
			return id
		},
	}
	rt := &txnRuntime{cfg: cfg}
	rt.coordinatorRuntime = newCoordinatorRuntime(b, coordinatorTopic{
		name:              transactionStateTopic,
		kind:              "transaction coordinator",
		numPartitions:     c.TransactionStateLogNumPartitions,
		replicationFactor: c.TransactionStateLogReplicationFactor,
		// Kafka's TransactionLog sets the topic's min.insync.replicas
		// from transaction.state.log.min.isr.
		minInsyncReplicas: c.TransactionStateLogMinIsr,
		segmentBytes:      c.TransactionStateLogSegmentBytes,
		tickInterval:      txnTickInterval,
		loadWait:          txnLoadWait,
		// A flush's records go out as one trusted coordinator batch.
		appendBatch: (*replica.Partition).AppendCoordinatorBatch,
	}, coordinatorHooks[*coordinator.TxnShard, txnShardState](rt))
	return rt
}

func (rt *txnRuntime) newShardState() txnShardState {
	return txnShardState{inflight: make(map[string]bool)}
}

// tickLocked passes transaction timeouts and re-issues the markers of
// decided transactions every txnMarkerRetry. sh.mu held.
func (rt *txnRuntime) tickLocked(sh *txnShard, now time.Time) {
	sh.mu.shard.Tick(now)
	rt.flushLocked(sh)
	// Re-issue only when nothing waits for replication: a queued entry
	// already carries every decision up to its records, and a high
	// watermark that stalls must not grow the queue every second.
	if now.Sub(sh.mu.x.lastReissue) >= txnMarkerRetry && len(sh.mu.x.queued) == 0 {
		sh.mu.x.lastReissue = now
		rt.queueMarkersLocked(sh, sh.mu.shard.PendingMarkers())
	}
	rt.releaseMarkersLocked(sh)
}

// imageChanged passes topic metadata to the shards when the image moved.
func (rt *txnRuntime) imageChanged(img *controller.Image, newImage, loaded bool) {
	if !newImage && !loaded {
		return
	}
	topics := txnTopicInfos(img)
	rt.eachShardLocked(func(sh *txnShard) {
		if sh.mu.ready {
			sh.mu.shard.SetTopics(topics)
		}
	})
}

func txnTopicInfos(img *controller.Image) map[string]int32 {
	out := make(map[string]int32, len(img.Topics))
	for name, t := range img.Topics {
		out[name] = int32(len(t.Partitions))
	}
	return out
}

func (rt *txnRuntime) offsetsPartitions(img *controller.Image) int32 {
	if t := img.Topics[offsetsTopic]; t != nil {
		return int32(len(t.Partitions))
	}
	return rt.b.groups.numPartitions()
}

// replayShard replays the shard's partition up to its high watermark.
func (rt *txnRuntime) replayShard(sh *txnShard, p *replica.Partition, img *controller.Image) (*coordinator.TxnShard, error) {
	cfg := rt.cfg
	cfg.OffsetsTopicPartitions = rt.offsetsPartitions(img)
	shard := coordinator.NewTxnShard(cfg, sh.leaderEpoch)
	bad := 0
	err := replayPartition(p, func(b records.Batch, r *records.Record) {
		if err := shard.Replay(r.Key, r.Value); err != nil {
			bad++
		}
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("replaying %s-%d: %w", transactionStateTopic, sh.partition, err)
	}
	if bad > 0 {
		rt.b.logger.Warn("skipped malformed records while loading transaction coordinator shard", "partition", sh.partition, "records", bad)
	}
	shard.SetTopics(txnTopicInfos(img))
	shard.LoadComplete(time.Now())
	return shard, nil
}

// shardLoadedLocked queues the markers of transactions whose outcome was
// decided before a restart. sh.mu held.
func (rt *txnRuntime) shardLoadedLocked(sh *txnShard) {
	rd := sh.mu.shard.Ready()
	rt.queueMarkersLocked(sh, rd.Markers)
	rt.releaseMarkersLocked(sh)
	rt.b.logger.Debug("transaction coordinator shard loaded", "partition", sh.partition, "transactions", sh.mu.shard.TransactionCount())
}

// unloadLocked leaves running marker writers be: they find the shard no
// longer ready and stop there.
func (rt *txnRuntime) unloadLocked(*txnShard) {}

func (rt *txnRuntime) close() {
	rt.markClosed()
}

// flushLocked appends the shard's records, queues the markers of the
// transactions they decide until the records are replicated, and returns
// the shard's output; on a failed append the responses carry the error
// Kafka's TransactionStateManager answers (appendErrorCode), no marker is
// queued, and the shard reloads from the log. sh.mu held.
func (rt *txnRuntime) flushLocked(sh *txnShard) (coordinator.TxnReady, int16) {
	rd := sh.mu.shard.Ready()
	if err := rt.appendLocked(sh, rd.Records); err != nil {
		code := appendErrorCode(err)
		for _, r := range rd.Responses {
			coordinator.FailTxnResponse(r.Resp, code)
		}
		rd.Markers = nil
		return rd, code
	}
	rt.queueMarkersLocked(sh, rd.Markers)
	rt.releaseMarkersLocked(sh)
	return rd, 0
}

// queueMarkersLocked holds markers until the high watermark reaches the
// shard's writtenEnd. sh.mu held.
func (rt *txnRuntime) queueMarkersLocked(sh *txnShard, markers []coordinator.TxnMarkers) {
	if len(markers) == 0 {
		return
	}
	sh.mu.x.queued = append(sh.mu.x.queued, queuedMarkers{end: sh.mu.writtenEnd, markers: markers})
}

// releaseMarkersLocked starts the writers of queued markers whose records
// are replicated. Runs after every flush, on every tick and when a
// request's wait ends. sh.mu held.
func (rt *txnRuntime) releaseMarkersLocked(sh *txnShard) {
	if len(sh.mu.x.queued) == 0 || !sh.mu.ready || sh.mu.failed || sh.ctx.Err() != nil {
		return
	}
	p := sh.mu.p
	if !p.IsLeader() || p.LeaderEpoch() != sh.leaderEpoch {
		return // about to be unloaded; the next leader writes them
	}
	hw := rt.replication().highWatermark(p)
	n := 0
	for _, q := range sh.mu.x.queued {
		if q.end > hw {
			break // queued in offset order
		}
		rt.startMarkersLocked(sh, q.markers)
		n++
	}
	sh.mu.x.queued = append(sh.mu.x.queued[:0], sh.mu.x.queued[n:]...)
}

// handle steps one request for transactional id into its shard and
// returns the response. Every transaction coordinator request is answered
// in the same step (after its records are written).
func (rt *txnRuntime) handle(ctx context.Context, id string, req kmsg.Request, step func(s *coordinator.TxnShard, token uint64)) kmsg.Response {
	resp, _ := rt.handleCode(ctx, id, req, step)
	return resp
}

// handleCode is handle that also returns the code of a request that could
// not be stepped (0 when it was), for responses the failure cannot fill.
func (rt *txnRuntime) handleCode(ctx context.Context, id string, req kmsg.Request, step func(s *coordinator.TxnShard, token uint64)) (kmsg.Response, int16) {
	sh, kerrv := rt.shardForKey(ctx, id)
	if kerrv != nil {
		resp := req.ResponseKind()
		coordinator.FailTxnResponse(resp, kerrv.Code)
		return resp, kerrv.Code
	}
	sh.mu.Lock()
	if !sh.mu.ready || sh.mu.failed {
		sh.mu.Unlock()
		resp := req.ResponseKind()
		coordinator.FailTxnResponse(resp, kerr.NotCoordinator.Code)
		return resp, kerr.NotCoordinator.Code
	}
	const token = 1
	step(sh.mu.shard, token)
	rd, failCode := rt.flushLocked(sh)
	at := commitPoint{}
	if failCode == 0 {
		at = commitPointLocked(sh)
	}
	sh.mu.Unlock()
	var resp kmsg.Response
	for _, r := range rd.Responses {
		if r.Token == token {
			resp = r.Resp
		}
	}
	if resp == nil {
		resp = req.ResponseKind()
		coordinator.FailTxnResponse(resp, kerr.UnknownServerError.Code)
		return resp, kerr.UnknownServerError.Code
	}
	if failCode != 0 {
		return resp, failCode
	}
	// Replication is waited for without the shard's lock
	// (coordinator_runtime.go).
	if err := rt.waitCommitted(sh, at); err != nil {
		code := appendErrorCode(err)
		coordinator.FailTxnResponse(resp, code)
		return resp, code
	}
	// The markers this step decided may go now; without this they
	// would wait for the next tick.
	sh.mu.Lock()
	rt.releaseMarkersLocked(sh)
	sh.mu.Unlock()
	return resp, 0
}

// startMarkersLocked starts a marker writer for each decided transaction
// that has none running. sh.mu held.
func (rt *txnRuntime) startMarkersLocked(sh *txnShard, markers []coordinator.TxnMarkers) {
	for _, m := range markers {
		if sh.mu.x.inflight[m.TransactionalID] {
			continue
		}
		sh.mu.x.inflight[m.TransactionalID] = true
		rt.b.goBackground(func() { rt.writeMarkers(sh, m) })
	}
}

// writeMarkers writes one transaction's markers to each of its partitions,
// retrying each a bounded number of times, then completes the transaction.
// A partition that no longer exists needs no marker.
func (rt *txnRuntime) writeMarkers(sh *txnShard, m coordinator.TxnMarkers) {
	defer func() {
		sh.mu.Lock()
		delete(sh.mu.x.inflight, m.TransactionalID)
		sh.mu.Unlock()
	}()
	for _, tp := range m.Partitions {
		ok := false
		for attempt := 0; attempt < txnMarkerAttempts && !ok; attempt++ {
			err := rt.b.writeTxnMarker(rt.b.ctx, tp.Topic, tp.Partition, txnMarker{pid: m.ProducerID, epoch: m.ProducerEpoch,
				coordinatorEpoch: m.CoordinatorEpoch, commit: m.Commit, transactionVersion: m.TransactionVersion})
			if err == nil {
				ok = true
				break
			}
			if errors.Is(err, kerr.TransactionCoordinatorFenced) || errors.Is(err, storage.ErrTransactionCoordinatorFenced) {
				// A newer coordinator owns this transaction now and
				// finishes it; this shard is about to be unloaded.
				rt.b.logger.Warn("transaction marker fenced by a newer coordinator", "transactional.id", m.TransactionalID,
					"topic", tp.Topic, "partition", tp.Partition, "coordinator_epoch", m.CoordinatorEpoch)
				return
			}
			rt.b.logger.Debug("writing transaction marker", "transactional.id", m.TransactionalID,
				"topic", tp.Topic, "partition", tp.Partition, "err", err)
			select {
			case <-rt.b.ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
		if !ok {
			return // the runtime re-issues pending markers
		}
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if !sh.mu.ready || sh.mu.failed {
		return
	}
	sh.mu.shard.MarkersWritten(time.Now(), m.TransactionalID, m.ProducerID, m.ProducerEpoch)
	rt.flushLocked(sh)
}

package replica

// Role changes and the leader's view of its followers, after Kafka's
// Partition.makeLeader / makeFollower, Replica.updateFetchState and
// Partition.fetchRecords (the follower branch).

import (
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// replicaState is the leader's view of one follower (Kafka's
// ReplicaState).
type replicaState struct {
	// logEndOffset is the fetch offset of the follower's last fetch: it
	// has every record below it. -1 until it fetches in this leader
	// epoch.
	logEndOffset   int64
	logStartOffset int64
	// lastFetchLeaderLogEndOffset and lastFetchTimeMs are the leader's
	// log end offset and the time at the previous fetch.
	lastFetchLeaderLogEndOffset int64
	lastFetchTimeMs             int64
	// lastCaughtUpTimeMs is the last time the follower had everything the
	// leader had (at the time of some fetch of its).
	lastCaughtUpTimeMs int64
	// brokerEpoch is the epoch the follower sent with its fetch (Fetch
	// v15 ReplicaState.ReplicaEpoch, KIP-903), -1 when unknown.
	brokerEpoch int64
}

func newReplicaState(nowMs int64, inSync bool) *replicaState {
	r := &replicaState{logEndOffset: -1, logStartOffset: -1, lastFetchLeaderLogEndOffset: -1, brokerEpoch: -1}
	if inSync {
		// Kafka's resetReplicaState: an ISR member starts caught up, so a
		// new leader does not drop it before it had a chance to fetch.
		r.lastCaughtUpTimeMs = nowMs
	}
	return r
}

// updateFetchState is Kafka's ReplicaState.updateFetchState: a follower that
// fetched from the leader's log end offset is caught up now; one that
// fetched from at least the leader's log end offset of its previous fetch
// was caught up at that fetch.
func (r *replicaState) updateFetchState(fetchOffset, logStartOffset, nowMs, leaderEndOffset, brokerEpoch int64) {
	switch {
	case fetchOffset >= leaderEndOffset:
		r.lastCaughtUpTimeMs = max(r.lastCaughtUpTimeMs, nowMs)
	case fetchOffset >= r.lastFetchLeaderLogEndOffset:
		r.lastCaughtUpTimeMs = max(r.lastCaughtUpTimeMs, r.lastFetchTimeMs)
	}
	r.logEndOffset = fetchOffset
	r.logStartOffset = logStartOffset
	r.lastFetchLeaderLogEndOffset = leaderEndOffset
	r.lastFetchTimeMs = nowMs
	if brokerEpoch >= 0 {
		r.brokerEpoch = brokerEpoch
	}
}

// isCaughtUp is Kafka's ReplicaState.isCaughtUp.
func (r *replicaState) isCaughtUp(leaderEndOffset, nowMs, maxLagMs int64) bool {
	return r.logEndOffset == leaderEndOffset || nowMs-r.lastCaughtUpTimeMs <= maxLagMs
}

// applyState applies the metadata image's state of the partition: Kafka's
// makeLeader or makeFollower. A state older than the one applied (a lower
// partition epoch) is ignored, as Kafka ignores it. It reports whether this
// node is now a follower and whether the leader or its epoch changed (the
// fetcher then starts over).
func (p *Partition) applyState(st PartitionState, now time.Time) (follower, leaderChanged bool) {
	p.leaderIsrUpdateLock.Lock()
	defer func() {
		p.leaderIsrUpdateLock.Unlock()
		// Delayed fetches and produces re-check: a produce waiting on a
		// leader that is no more answers NOT_LEADER_OR_FOLLOWER at once.
		p.wake()
	}()
	if st.PartitionEpoch < p.st.partitionEpoch && st.LeaderEpoch <= p.st.leaderEpoch {
		return p.st.leader != p.nodeID, false
	}
	leaderChanged = st.Leader != p.st.leader || st.LeaderEpoch != p.st.leaderEpoch
	if !leaderChanged && st.PartitionEpoch == p.st.partitionEpoch {
		// The same partition state again (an image that changed
		// something else, a topic config): a pending ISR change stays
		// pending, as Kafka only applies partitions a delta changed.
		p.st.cfg = st.Config
		if p.st.leader == p.nodeID {
			// min.insync.replicas may have been lowered.
			p.maybeIncrementHighWatermarkLocked()
		}
		return p.st.leader != p.nodeID, false
	}
	p.st.leader, p.st.leaderEpoch, p.st.partitionEpoch = st.Leader, st.LeaderEpoch, st.PartitionEpoch
	p.st.replicas = slices.Clone(st.Replicas)
	p.st.isr = slices.Clone(st.ISR)
	p.st.maximalIsr = p.st.isr
	// The image replaces any pending ISR change (Kafka's
	// CommittedPartitionState): an answer still in flight is stale.
	p.st.alterInFlight = false
	p.st.alterSeq++
	p.st.cfg = st.Config
	if st.Leader != p.nodeID {
		p.replicaMu.Lock()
		p.remote = nil
		p.replicaMu.Unlock()
		return true, leaderChanged
	}
	nowMs := now.UnixMilli()
	p.replicaMu.Lock()
	if leaderChanged {
		// makeLeader with a new leader epoch: every follower's state
		// starts over, and the epoch starts at our log end offset.
		p.st.leaderEpochStartOffset = p.log.LogEndOffset()
		p.remote = make(map[int32]*replicaState, len(st.Replicas))
	}
	if p.remote == nil {
		p.remote = make(map[int32]*replicaState, len(st.Replicas))
	}
	for id := range p.remote {
		if !slices.Contains(st.Replicas, id) {
			delete(p.remote, id)
		}
	}
	for _, id := range st.Replicas {
		if _, ok := p.remote[id]; !ok && id != p.nodeID {
			p.remote[id] = newReplicaState(nowMs, slices.Contains(st.ISR, id))
		}
	}
	p.replicaMu.Unlock()
	p.maybeIncrementHighWatermarkLocked()
	return false, leaderChanged
}

// EpochEndOffset is a leader epoch and the offset at which it ended (the
// DivergingEpoch of a fetch response, OffsetForLeaderEpoch's answer).
type EpochEndOffset struct {
	Epoch     int32
	EndOffset int64
}

// FollowerFetch is one partition of a follower's fetch (Fetch with a
// replica id).
type FollowerFetch struct {
	ReplicaID          int32
	BrokerEpoch        int64 // Fetch v15+ ReplicaState.ReplicaEpoch, else -1
	FetchOffset        int64
	LogStartOffset     int64
	CurrentLeaderEpoch int32
	LastFetchedEpoch   int32 // -1: none
}

// readForFollower is Kafka's Partition.fetchRecords for a follower: it
// reads up to the log end offset (not the high watermark), unless the
// follower's last fetched epoch shows its log diverged from ours, in which
// case it answers the epoch and end offset to truncate to instead
// (KIP-595's truncation on fetch). The follower's fetch state then moves,
// which may move the high watermark and add the follower to the ISR.
func (p *Partition) readForFollower(f FollowerFetch, maxBytes int, minOneBatch bool, now time.Time) (ReadResult, bool) {
	p.leaderIsrUpdateLock.RLock()
	defer p.leaderIsrUpdateLock.RUnlock()
	leaderEpoch, err := p.checkLeaderLocked(f.CurrentLeaderEpoch)
	if err != nil {
		return ReadResult{Err: err, HighWatermark: -1, LastStableOffset: -1, LogStartOffset: -1}, false
	}
	p.replicaMu.Lock()
	_, known := p.remote[f.ReplicaID]
	p.replicaMu.Unlock()
	if !known {
		// Kafka's Partition.followerReplicaOrThrow.
		return ReadResult{Err: kerr.NotLeaderForPartition, HighWatermark: -1, LastStableOffset: -1, LogStartOffset: -1}, false
	}
	out := ReadResult{HighWatermark: p.HighWatermark(), LastStableOffset: p.LastStableOffset(), LogStartOffset: p.log.LogStartOffset()}
	if f.LastFetchedEpoch >= 0 {
		epoch, end := p.lastOffsetForLeaderEpochLocked(leaderEpoch, f.LastFetchedEpoch)
		if epoch < f.LastFetchedEpoch || end < f.FetchOffset {
			out.DivergingEpoch = &EpochEndOffset{Epoch: epoch, EndOffset: end}
			return out, false
		}
	}
	leaderEnd := p.log.LogEndOffset()
	res, err := p.log.Read(f.FetchOffset, maxBytes, leaderEnd, minOneBatch)
	if err != nil {
		out.Err = err
		return out, false
	}
	out.Records = res.Records
	p.replicaMu.Lock()
	startMoved := false
	if r, ok := p.remote[f.ReplicaID]; ok {
		startMoved = f.LogStartOffset != r.logStartOffset
		r.updateFetchState(f.FetchOffset, f.LogStartOffset, now.UnixMilli(), leaderEnd, f.BrokerEpoch)
	}
	p.replicaMu.Unlock()
	if !p.maybeIncrementHighWatermarkLocked() && startMoved {
		p.wake() // a DeleteRecords may be waiting for the low watermark
	}
	out.HighWatermark = p.HighWatermark()
	out.LastStableOffset = p.LastStableOffset()
	return out, p.needsExpandIsrLocked(f.ReplicaID)
}

// needsExpandIsrLocked is Kafka's needsExpandIsr and isFollowerInSync: a
// follower outside the ISR that has caught up to the high watermark, and
// holds everything of earlier leader epochs, may join.
// leaderIsrUpdateLock held.
func (p *Partition) needsExpandIsrLocked(id int32) bool {
	if p.st.leader != p.nodeID || p.st.alterInFlight || slices.Contains(p.st.isr, id) {
		return false
	}
	p.replicaMu.Lock()
	r, ok := p.remote[id]
	leo, brokerEpoch := int64(-1), int64(-1)
	if ok {
		leo, brokerEpoch = r.logEndOffset, r.brokerEpoch
	}
	p.replicaMu.Unlock()
	if !ok || leo < p.HighWatermark() || leo < p.st.leaderEpochStartOffset {
		return false
	}
	// The controller refuses a fenced or departing broker
	// (INELIGIBLE_REPLICA); asking would only repeat on every fetch.
	return p.isrEligible == nil || p.isrEligible(id, brokerEpoch)
}

// appendAsFollower appends what a fetch from leaderID in leaderEpoch
// returned for fetchOffset, if this replica still follows that leader in
// that epoch and its log still ends at fetchOffset.
func (p *Partition) appendAsFollower(leaderID, leaderEpoch int32, fetchOffset int64, data []byte) (bool, error) {
	p.leaderIsrUpdateLock.RLock()
	defer p.leaderIsrUpdateLock.RUnlock()
	if p.st.leader != leaderID || p.st.leaderEpoch != leaderEpoch || leaderID == p.nodeID {
		return false, nil
	}
	if p.log.LogEndOffset() != fetchOffset {
		// Kafka's OffsetsOutOfOrderException: the log moved since the
		// fetch was sent (a truncation); the next fetch starts over.
		return false, nil
	}
	if len(data) > 0 {
		if err := p.log.AppendAsFollower(data); err != nil {
			return false, err
		}
	}
	return true, nil
}

// updateFollowerHighWatermark is the follower's side of the high watermark:
// the leader's, capped by what this replica has, only moving forward; the
// log start offset follows the leader's (Kafka's
// ReplicaFetcherThread.processPartitionData).
func (p *Partition) updateFollowerHighWatermark(leaderHW, leaderLogStart int64) error {
	p.leaderIsrUpdateLock.RLock()
	defer p.leaderIsrUpdateLock.RUnlock()
	if p.st.leader == p.nodeID {
		return nil
	}
	p.hwMu.Lock()
	hw := min(leaderHW, p.log.LogEndOffset())
	moved := hw > p.log.HighWatermark()
	if moved {
		p.log.SetHighWatermark(hw)
	}
	p.hwMu.Unlock()
	if moved {
		// Consumers fetching from this follower (KIP-392) wait in a
		// delayed fetch for its high watermark to move, as Kafka's
		// follower completes delayed fetches after updating it.
		p.wake()
	}
	if leaderLogStart > p.log.LogStartOffset() && leaderLogStart <= p.log.HighWatermark() {
		if err := p.log.IncrementLogStartOffset(leaderLogStart); err != nil {
			return err
		}
	}
	return nil
}

// truncateTo cuts the follower's log at offset (a divergent tail), unless
// the partition's role changed meanwhile.
func (p *Partition) truncateTo(leaderID, leaderEpoch int32, offset int64, fully bool) error {
	p.leaderIsrUpdateLock.RLock()
	defer p.leaderIsrUpdateLock.RUnlock()
	if p.st.leader != leaderID || p.st.leaderEpoch != leaderEpoch || leaderID == p.nodeID {
		return nil
	}
	p.hwMu.Lock()
	defer p.hwMu.Unlock()
	if fully {
		return p.log.TruncateFullyAndStartAt(offset)
	}
	if err := p.log.TruncateTo(offset); err != nil {
		return err
	}
	if hw := p.log.HighWatermark(); hw > p.log.LogEndOffset() {
		p.log.SetHighWatermark(p.log.LogEndOffset())
	}
	return nil
}

// followerFetchState is what a follower's next fetch of the partition
// sends: its log end offset and the epoch of its last batch.
func (p *Partition) followerFetchState() (fetchOffset, logStart int64, lastFetchedEpoch int32) {
	lastFetchedEpoch = -1
	if e, ok := p.log.LatestEpoch(); ok {
		lastFetchedEpoch = e
	}
	return p.log.LogEndOffset(), p.log.LogStartOffset(), lastFetchedEpoch
}

// highWatermarkReached is Kafka's Partition.checkEnoughReplicasReachOffset
// for a delayed acks=all produce appended in leaderEpoch: done once the
// high watermark passes offset, with NOT_ENOUGH_REPLICAS_AFTER_APPEND when
// the ISR has meanwhile shrunk below min.insync.replicas; done with
// NOT_LEADER_OR_FOLLOWER as soon as this node no longer leads in that epoch.
func (p *Partition) highWatermarkReached(offset int64, leaderEpoch int32, checkMinIsr bool) (bool, error) {
	p.leaderIsrUpdateLock.RLock()
	defer p.leaderIsrUpdateLock.RUnlock()
	if p.st.leader != p.nodeID || p.st.leaderEpoch != leaderEpoch {
		return true, kerr.NotLeaderForPartition
	}
	// Kafka's DelayedProduce completes with the offline partition's
	// KAFKA_STORAGE_ERROR: its high watermark will not move again.
	if p.log.Offline() != nil {
		return true, kerr.KafkaStorageError
	}
	if p.HighWatermark() < offset {
		// Under min ISR the high watermark stands still (strict min
		// ISR, maybeIncrementHighWatermarkLocked), so the wait could
		// only time out: answer now, as the ISR's state is known.
		if checkMinIsr && p.underMinIsrLocked() {
			return true, kerr.NotEnoughReplicasAfterAppend
		}
		return false, nil
	}
	if checkMinIsr && len(p.st.isr) < p.st.cfg.MinInsyncReplicas {
		return true, kerr.NotEnoughReplicasAfterAppend
	}
	return true, nil
}

package replica

import (
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/riffle-io/riffle/protocol/records"
	"github.com/riffle-io/riffle/storage"
)

// PartitionConfig is the part of a topic's configuration the leader applies to
// producer batches before they reach the log.
type PartitionConfig struct {
	// MaxMessageBytes is max.message.bytes: the largest batch accepted.
	MaxMessageBytes int
	// Compression is the topic's compression.type; Recompress is false for
	// "producer", in which case batches are stored as the producer sent them.
	Compression records.Codec
	Recompress  bool
	// Compacted topics (cleanup.policy contains compact) need a key on every
	// record.
	Compacted bool
	// MinInsyncReplicas guards acks=all (min.insync.replicas).
	MinInsyncReplicas int
	// LogAppendTime is message.timestamp.type=LogAppendTime: producer
	// timestamps are replaced, so they are not checked.
	LogAppendTime bool
	// TimestampBeforeMaxMs and TimestampAfterMaxMs bound how far a
	// CreateTime timestamp may lie behind or ahead of the broker's clock
	// (message.timestamp.before.max.ms / after.max.ms, KIP-937).
	TimestampBeforeMaxMs int64
	TimestampAfterMaxMs  int64
	// LeaderThrottled and FollowerThrottled say whether this broker's
	// replica of the partition is listed in the topic's
	// leader/follower.replication.throttled.replicas (KIP-73): as leader,
	// its followers' fetches are held to the leader replication quota; as
	// follower, its own fetching to the follower replication quota.
	LeaderThrottled   bool
	FollowerThrottled bool
}

// Partition is one partition this broker hosts: Kafka's Partition. It holds
// the replica's role (leader or follower, leader epoch, partition epoch, ISR)
// and, on the leader, each follower's fetch state.
//
// Lock order: txnMu, leaderIsrUpdateLock, the log's locks, hwMu, replicaMu,
// mu.
type Partition struct {
	TP      storage.TopicPartition
	TopicID [16]byte
	log     *storage.Log
	nodeID  int32
	hwMu    sync.Mutex // serialises high watermark updates
	// isrEligible is Options.IsrEligible, brokerAlive Options.BrokerAlive.
	isrEligible func(brokerID int32, brokerEpoch int64) bool
	brokerAlive func(brokerID int32) bool

	// txnMu serialises transactional appends and markers with the
	// KIP-890 verification guards (txn.go).
	txnMu    sync.Mutex
	guards   map[int64]verificationGuard // guarded by txnMu
	guardSeq uint64                      // guarded by txnMu

	// leaderIsrUpdateLock is Kafka's Partition.leaderIsrUpdateLock: each
	// operation that depends on the role (appends, reads, offset lookups,
	// follower fetches, DeleteRecords) holds it for reading from its
	// leadership check to its end; role changes and ISR updates hold it
	// for writing. An append therefore never lands in a log whose role
	// changed after the check.
	leaderIsrUpdateLock sync.RWMutex
	st                  roleState // guarded by leaderIsrUpdateLock

	// replicaMu guards the followers' fetch state, which concurrent
	// follower fetches update under the read lock (Kafka's Replica keeps
	// it in an AtomicReference). The map itself changes only under the
	// write lock as well.
	replicaMu sync.Mutex
	remote    map[int32]*replicaState

	mu struct {
		sync.Mutex
		// waiters are delayed fetches and produces woken on every append,
		// high watermark change or role change (Kafka's purgatory keys).
		waiters map[chan struct{}]struct{}
	}
}

// roleState is the partition's role as the metadata image and the
// partition's own ISR changes left it.
type roleState struct {
	leader         int32
	leaderEpoch    int32
	partitionEpoch int32
	replicas       []int32
	// isr is the committed ISR (Kafka's CommittedPartitionState).
	isr []int32
	// maximalIsr is the ISR the high watermark is computed over: while an
	// AlterPartition is in flight it is the larger of the committed and
	// the proposed ISR (Kafka's PendingExpandIsr / PendingShrinkIsr), so
	// the high watermark never counts on a replica that may not be in
	// the ISR the controller commits.
	maximalIsr []int32
	// alterInFlight is set while an AlterPartition of ours is pending;
	// no other ISR change is proposed meanwhile.
	alterInFlight bool
	// alterSeq numbers ISR proposals and applied images, so that an
	// AlterPartition answer applies only to the proposal it answers.
	alterSeq uint64
	// leaderEpochStartOffset is the log end offset when this node became
	// leader in the current epoch: a follower joins the ISR only once it
	// has everything written in earlier epochs (Kafka's isFollowerInSync).
	leaderEpochStartOffset int64
	cfg                    PartitionConfig
}

func newPartition(nodeID int32, tp storage.TopicPartition, topicID [16]byte, log *storage.Log) *Partition {
	p := &Partition{TP: tp, TopicID: topicID, log: log, nodeID: nodeID}
	p.mu.waiters = make(map[chan struct{}]struct{})
	p.st.leader, p.st.leaderEpoch, p.st.partitionEpoch = -1, -1, -1
	return p
}

// Log returns the partition's log.
func (p *Partition) Log() *storage.Log { return p.log }

// LeaderEpoch returns the current leader epoch.
func (p *Partition) LeaderEpoch() int32 {
	p.leaderIsrUpdateLock.RLock()
	defer p.leaderIsrUpdateLock.RUnlock()
	return p.st.leaderEpoch
}

// Leader returns the current leader's id and epoch.
func (p *Partition) Leader() (int32, int32) {
	p.leaderIsrUpdateLock.RLock()
	defer p.leaderIsrUpdateLock.RUnlock()
	return p.st.leader, p.st.leaderEpoch
}

// IsLeader reports whether this node leads the partition.
func (p *Partition) IsLeader() bool {
	p.leaderIsrUpdateLock.RLock()
	defer p.leaderIsrUpdateLock.RUnlock()
	return p.st.leader == p.nodeID
}

// ISR returns the committed in-sync replica set.
func (p *Partition) ISR() []int32 {
	p.leaderIsrUpdateLock.RLock()
	defer p.leaderIsrUpdateLock.RUnlock()
	return append([]int32(nil), p.st.isr...)
}

// inSync reports whether a replica is in the committed ISR.
func (p *Partition) inSync(id int32) bool {
	p.leaderIsrUpdateLock.RLock()
	defer p.leaderIsrUpdateLock.RUnlock()
	return contains(p.st.isr, id)
}

// PartitionEpoch returns the partition epoch this replica last applied.
func (p *Partition) PartitionEpoch() int32 {
	p.leaderIsrUpdateLock.RLock()
	defer p.leaderIsrUpdateLock.RUnlock()
	return p.st.partitionEpoch
}

func (p *Partition) config() PartitionConfig {
	p.leaderIsrUpdateLock.RLock()
	defer p.leaderIsrUpdateLock.RUnlock()
	return p.st.cfg
}

// checkLeaderLocked answers NOT_LEADER_OR_FOLLOWER when this node does not
// lead the partition, and FENCED/UNKNOWN_LEADER_EPOCH when the client's
// epoch is off (KIP-320); -1 skips the epoch check as Kafka does.
// leaderIsrUpdateLock held (read or write).
func (p *Partition) checkLeaderLocked(clientEpoch int32) (int32, error) {
	if err := p.checkEpochLocked(clientEpoch); err != nil {
		return p.st.leaderEpoch, err
	}
	if p.st.leader != p.nodeID {
		return p.st.leaderEpoch, kerr.NotLeaderForPartition
	}
	return p.st.leaderEpoch, nil
}

// checkEpochLocked is Kafka's Partition.validateLeaderEpoch: a client
// behind the current epoch is fenced, one ahead of it knows of an epoch
// this replica has not seen yet. leaderIsrUpdateLock held.
func (p *Partition) checkEpochLocked(clientEpoch int32) error {
	switch {
	case clientEpoch == -1 || clientEpoch == p.st.leaderEpoch:
		return nil
	case clientEpoch < p.st.leaderEpoch:
		return kerr.FencedLeaderEpoch
	default:
		return kerr.UnknownLeaderEpoch
	}
}

// checkLeader is checkLeaderLocked for callers that only need the answer.
func (p *Partition) checkLeader(clientEpoch int32) (int32, error) {
	p.leaderIsrUpdateLock.RLock()
	defer p.leaderIsrUpdateLock.RUnlock()
	return p.checkLeaderLocked(clientEpoch)
}

// LastOffsetForLeaderEpoch answers OffsetForLeaderEpoch (KIP-101, KIP-320;
// Kafka's Partition.lastOffsetForLeaderEpoch): the largest epoch <=
// leaderEpoch in the log's leader epoch cache and the offset where it
// ended, (-1, -1) when the log knows no such epoch. currentLeaderEpoch (-1:
// none) is fenced as for a fetch.
//
// Kafka's makeLeader records the new leader epoch at the log end offset
// at once; Riffle's cache learns an epoch with its first append. So an
// epoch newer than the cache's latest, up to the current leader epoch,
// began at the log end offset and nothing was appended in it since: it
// ends at the log end offset, as Kafka's cache would answer. Without this, a consumer that
// took the current epoch from ListOffsets on an idle partition would be
// told (-1, -1) and reset its position.
func (p *Partition) LastOffsetForLeaderEpoch(currentLeaderEpoch, leaderEpoch int32) (int32, int64, error) {
	p.leaderIsrUpdateLock.RLock()
	defer p.leaderIsrUpdateLock.RUnlock()
	leaderNow, err := p.checkLeaderLocked(currentLeaderEpoch)
	if err != nil {
		return -1, -1, err
	}
	e, off := p.lastOffsetForLeaderEpochLocked(leaderNow, leaderEpoch)
	return e, off, nil
}

// lastOffsetForLeaderEpochLocked is the cache lookup of
// LastOffsetForLeaderEpoch; leaderIsrUpdateLock held.
func (p *Partition) lastOffsetForLeaderEpochLocked(leaderNow, leaderEpoch int32) (int32, int64) {
	if latest, ok := p.log.LatestEpoch(); leaderEpoch >= 0 && leaderEpoch <= leaderNow && (!ok || leaderEpoch > latest) {
		// Every epoch after the cache's latest began at the log end
		// offset (nothing was appended in any of them), and Kafka's
		// leader would hold an entry for each epoch it led.
		return leaderEpoch, p.log.LogEndOffset()
	}
	epoch, end := p.log.EndOffsetForEpoch(leaderEpoch)
	if end < 0 {
		return -1, -1
	}
	return epoch, end
}

// AppendRecordsToLeader validates one producer's records for this partition
// and appends them. data is the Produce request's records field; as in Kafka
// (ProduceRequest.validateRecords, v3+) it must hold exactly one v2 batch.
func (p *Partition) AppendRecordsToLeader(data []byte, now time.Time) (storage.AppendResult, error) {
	p.leaderIsrUpdateLock.RLock()
	defer p.leaderIsrUpdateLock.RUnlock()
	leaderEpoch, err := p.checkLeaderLocked(-1)
	if err != nil {
		return storage.AppendResult{}, err
	}
	batch, err := validateProducerBatch(data, p.st.cfg, now)
	if err != nil {
		return storage.AppendResult{}, err
	}
	res, err := p.log.AppendAsLeader(batch, leaderEpoch, now)
	if err != nil {
		return res, err
	}
	p.afterLeaderAppendLocked()
	return res, nil
}

// afterLeaderAppendLocked moves the high watermark (immediately when this
// node is the only ISR member) and wakes delayed fetches, followers' among
// them. leaderIsrUpdateLock held for reading.
func (p *Partition) afterLeaderAppendLocked() {
	p.maybeIncrementHighWatermarkLocked()
	p.wake()
}

// underMinIsrLocked is Kafka's Partition.isUnderMinIsr: the committed ISR
// is smaller than min.insync.replicas, taken at most as the replication
// factor (effectiveMinIsr). leaderIsrUpdateLock held.
func (p *Partition) underMinIsrLocked() bool {
	return len(p.st.isr) < min(p.st.cfg.MinInsyncReplicas, len(p.st.replicas))
}

// maybeIncrementHighWatermarkLocked is Kafka's maybeIncrementLeaderHW: the
// high watermark is the smallest log end offset over the (maximal) ISR,
// and it only moves forward. It does not move at all while the ISR is
// below min.insync.replicas (KIP-966's strict min ISR, KAFKA-15583): a
// replica that leaves such an ISR then holds every committed record, which
// is what makes it an eligible leader replica the controller may elect. A follower whose log end offset is not known
// yet in this leader epoch holds it where it is. leaderIsrUpdateLock held.
func (p *Partition) maybeIncrementHighWatermarkLocked() bool {
	if p.st.leader != p.nodeID || p.underMinIsrLocked() {
		return false
	}
	// Appends and follower fetches run concurrently: read, compare and
	// set under one lock so that the high watermark never moves
	// backwards (a delayed acks=all produce would then wait for an
	// append that may never come).
	p.hwMu.Lock()
	newHW := p.log.LogEndOffset()
	p.replicaMu.Lock()
	for _, id := range p.st.maximalIsr {
		if id == p.nodeID {
			continue
		}
		r, ok := p.remote[id]
		if !ok || r.logEndOffset < 0 {
			newHW = -1
			break
		}
		newHW = min(newHW, r.logEndOffset)
	}
	p.replicaMu.Unlock()
	moved := newHW > p.log.HighWatermark()
	if moved {
		p.log.SetHighWatermark(newHW)
	}
	p.hwMu.Unlock()
	if moved {
		p.wake()
	}
	return moved
}

func (p *Partition) wake() {
	p.mu.Lock()
	for ch := range p.mu.waiters {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	p.mu.Unlock()
}

func (p *Partition) addWaiter(ch chan struct{}) {
	p.mu.Lock()
	p.mu.waiters[ch] = struct{}{}
	p.mu.Unlock()
}

func (p *Partition) removeWaiter(ch chan struct{}) {
	p.mu.Lock()
	delete(p.mu.waiters, ch)
	p.mu.Unlock()
}

// HighWatermark returns the partition's high watermark.
func (p *Partition) HighWatermark() int64 { return p.log.HighWatermark() }

// LastStableOffset returns the offset below which no transaction is open:
// the first offset of the oldest open transaction, capped by the high
// watermark (UnifiedLog.lastStableOffset, KIP-98).
func (p *Partition) LastStableOffset() int64 {
	return p.log.LastStableOffset()
}

// ReadResult is one partition's part of a fetch.
type ReadResult struct {
	Err              error
	HighWatermark    int64
	LastStableOffset int64
	LogStartOffset   int64
	Records          []byte
	// DivergingEpoch is set for a follower whose log diverged from the
	// leader's: it truncates to it before fetching again (KIP-595).
	DivergingEpoch *EpochEndOffset
	// AbortedTransactions is set for read_committed reads (never nil
	// then): the aborted transactions overlapping the records.
	AbortedTransactions []storage.AbortedTxn
	// PreferredReadReplica, when HasPreferredReadReplica is set, is the
	// replica the consumer should fetch from instead of this leader
	// (KIP-392); nothing was read then.
	PreferredReadReplica    int32
	HasPreferredReadReplica bool
}

// Read reads committed batches from offset (up to the high watermark, or the
// last stable offset for read_committed) for a consumer of the leader.
func (p *Partition) Read(offset int64, currentLeaderEpoch int32, maxBytes int, minOneBatch, readCommitted bool) ReadResult {
	return p.readForConsumer(consumerRead{offset: offset, currentLeaderEpoch: currentLeaderEpoch,
		maxBytes: maxBytes, minOneBatch: minOneBatch, readCommitted: readCommitted})
}

// consumerRead is one partition of a consumer's fetch.
type consumerRead struct {
	offset             int64
	currentLeaderEpoch int32
	maxBytes           int
	minOneBatch        bool
	readCommitted      bool
	// client is set for Fetch v11+ (KIP-392): such a consumer may read
	// from any replica, and the leader may send it to another one. Nil:
	// only the leader serves it (Kafka's FetchParams.fetchOnlyLeader).
	client *ClientMetadata
	// selector and rackOf choose the preferred read replica on the
	// leader (nil selector: none); nowMs is the fetch's time.
	selector ReplicaSelector
	rackOf   func(brokerID int32) (rack string, alive bool)
	nowMs    int64
}

// readForConsumer is Kafka's Partition.fetchRecords for a consumer with
// ReplicaManager.findPreferredReadReplica before it. A follower serves a
// v11+ consumer up to its own high watermark (the leader's, as the last
// fetch response told it, capped by its log end offset) and the last
// stable offset for read_committed; an offset between that high watermark
// and the log end offset reads nothing, one past the log end offset is
// OFFSET_OUT_OF_RANGE, as in Kafka, on which the client goes back to the
// leader. The leader epoch is checked as on the leader (FENCED_LEADER_EPOCH
// / UNKNOWN_LEADER_EPOCH).
func (p *Partition) readForConsumer(r consumerRead) ReadResult {
	p.leaderIsrUpdateLock.RLock()
	defer p.leaderIsrUpdateLock.RUnlock()
	var err error
	if r.client == nil {
		_, err = p.checkLeaderLocked(r.currentLeaderEpoch)
	} else {
		err = p.checkEpochLocked(r.currentLeaderEpoch)
	}
	if err != nil {
		return ReadResult{Err: err, HighWatermark: -1, LastStableOffset: -1, LogStartOffset: -1}
	}
	if r.client != nil && r.selector != nil {
		if id, ok := p.preferredReadReplicaLocked(r.selector, *r.client, r.offset, r.nowMs, r.rackOf); ok {
			// Kafka skips the read and answers the offsets with
			// the replica to read from.
			return ReadResult{HighWatermark: p.HighWatermark(), LastStableOffset: p.LastStableOffset(),
				LogStartOffset: p.log.LogStartOffset(), PreferredReadReplica: id, HasPreferredReadReplica: true}
		}
	}
	return p.readLocked(r.offset, r.maxBytes, r.minOneBatch, r.readCommitted)
}

// readLocked reads up to the high watermark or last stable offset;
// leaderIsrUpdateLock held.
func (p *Partition) readLocked(offset int64, maxBytes int, minOneBatch, readCommitted bool) ReadResult {
	hw := p.HighWatermark()
	lso := p.LastStableOffset()
	limit := hw
	if readCommitted {
		limit = lso
	}
	res, err := p.log.Read(offset, maxBytes, limit, minOneBatch)
	out := ReadResult{HighWatermark: hw, LastStableOffset: lso, LogStartOffset: p.log.LogStartOffset()}
	if err != nil {
		out.Err = err
		return out
	}
	out.Records = res.Records
	if readCommitted {
		out.AbortedTransactions = p.log.AbortedTransactions(offset, limit)
		if out.AbortedTransactions == nil {
			out.AbortedTransactions = []storage.AbortedTxn{}
		}
	}
	return out
}

// CheckEnoughReplicas refuses an acks=all append when the ISR is smaller than
// min.insync.replicas, before anything is written (Kafka's
// Partition.appendRecordsToLeader: NOT_ENOUGH_REPLICAS).
func (p *Partition) CheckEnoughReplicas() error {
	p.leaderIsrUpdateLock.RLock()
	isr, min := len(p.st.isr), p.st.cfg.MinInsyncReplicas
	p.leaderIsrUpdateLock.RUnlock()
	if isr < min {
		return fmt.Errorf("%w: the in-sync replica set has %d members, min.insync.replicas is %d", kerr.NotEnoughReplicas, isr, min)
	}
	return nil
}

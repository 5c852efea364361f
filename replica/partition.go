package replica

import (
	"errors"
	"fmt"
	"math"
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
}

// Partition is one partition this broker hosts.
type Partition struct {
	TP      storage.TopicPartition
	TopicID [16]byte
	log     *storage.Log
	nodeID  int32
	hwMu    sync.Mutex // serialises high watermark updates

	// txnMu serialises transactional appends and markers with the
	// KIP-890 verification guards (txn.go).
	txnMu    sync.Mutex
	guards   map[int64]verificationGuard // guarded by txnMu
	guardSeq uint64                      // guarded by txnMu

	mu struct {
		sync.Mutex
		cfg         PartitionConfig
		leaderEpoch int32
		leader      int32
		isr         []int32
		// waiters are delayed fetches and produces woken on every append
		// or high watermark change (Kafka's purgatory keys).
		waiters map[chan struct{}]struct{}
	}
}

func newPartition(nodeID int32, tp storage.TopicPartition, topicID [16]byte, log *storage.Log) *Partition {
	p := &Partition{TP: tp, TopicID: topicID, log: log, nodeID: nodeID}
	p.mu.waiters = make(map[chan struct{}]struct{})
	return p
}

// Log returns the partition's log.
func (p *Partition) Log() *storage.Log { return p.log }

// LeaderEpoch returns the current leader epoch.
func (p *Partition) LeaderEpoch() int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.leaderEpoch
}

func (p *Partition) setState(leader, leaderEpoch int32, isr []int32, cfg PartitionConfig) {
	p.mu.Lock()
	p.mu.leader = leader
	p.mu.leaderEpoch = leaderEpoch
	p.mu.isr = append([]int32(nil), isr...)
	p.mu.cfg = cfg
	p.mu.Unlock()
}

func (p *Partition) config() PartitionConfig {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.cfg
}

// checkLeader answers NOT_LEADER_OR_FOLLOWER when this node does not lead the
// partition, and FENCED/UNKNOWN_LEADER_EPOCH when the client's epoch is off
// (KIP-320); -1 skips the epoch check as Kafka does.
func (p *Partition) checkLeader(clientEpoch int32) (int32, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.leader != p.nodeID {
		return p.mu.leaderEpoch, kerr.NotLeaderForPartition
	}
	switch {
	case clientEpoch == -1 || clientEpoch == p.mu.leaderEpoch:
		return p.mu.leaderEpoch, nil
	case clientEpoch < p.mu.leaderEpoch:
		return p.mu.leaderEpoch, kerr.FencedLeaderEpoch
	default:
		return p.mu.leaderEpoch, kerr.UnknownLeaderEpoch
	}
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
	leaderNow, err := p.checkLeader(currentLeaderEpoch)
	if err != nil {
		return -1, -1, err
	}
	if latest, ok := p.log.LatestEpoch(); leaderEpoch >= 0 && leaderEpoch <= leaderNow && (!ok || leaderEpoch > latest) {
		// Every epoch after the cache's latest began at the log end
		// offset (nothing was appended in any of them), and Kafka's
		// leader would hold an entry for each epoch it led.
		return leaderEpoch, p.log.LogEndOffset(), nil
	}
	epoch, end := p.log.EndOffsetForEpoch(leaderEpoch)
	if end < 0 {
		return -1, -1, nil
	}
	return epoch, end, nil
}

// AppendRecordsToLeader validates one producer's records for this partition
// and appends them. data is the Produce request's records field; as in Kafka
// (ProduceRequest.validateRecords, v3+) it must hold exactly one v2 batch.
func (p *Partition) AppendRecordsToLeader(data []byte, now time.Time) (storage.AppendResult, error) {
	leaderEpoch, err := p.checkLeader(-1)
	if err != nil {
		return storage.AppendResult{}, err
	}
	cfg := p.config()
	batch, err := validateProducerBatch(data, cfg, now)
	if err != nil {
		return storage.AppendResult{}, err
	}
	res, err := p.log.AppendAsLeader(batch, leaderEpoch, now)
	if err != nil {
		return res, err
	}
	p.maybeIncrementHighWatermark()
	return res, nil
}

// validateProducerBatch applies Kafka's LogValidator rules that do not need
// producer state (UnifiedLog.analyzeAndValidateRecords, LogValidator
// .validateBatch and the record walk), and stores the records' largest
// timestamp as the batch's max timestamp.
func validateProducerBatch(data []byte, cfg PartitionConfig, now time.Time) (records.Batch, error) {
	b, rest, err := records.ReadBatch(data)
	if err != nil {
		if errors.Is(err, records.ErrUnsupportedMagic) {
			return nil, fmt.Errorf("%w: produce requests v3+ carry only magic v2 batches: %v", kerr.InvalidRecord, err)
		}
		return nil, fmt.Errorf("%w: %v", kerr.CorruptMessage, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: produce requests v3+ may contain exactly one record batch", kerr.InvalidRecord)
	}
	if bo := b.BaseOffset(); bo != 0 {
		// UnifiedLog.analyzeAndValidateRecords: a client's v2 batch starts
		// at offset 0; the leader assigns the real one.
		return nil, fmt.Errorf("%w: the base offset of a produced batch must be 0, not %d", kerr.InvalidRecord, bo)
	}
	if err := b.Validate(); err != nil {
		if errors.Is(err, records.ErrInvalidRecord) {
			return nil, fmt.Errorf("%w: %v", kerr.InvalidRecord, err)
		}
		return nil, fmt.Errorf("%w: %v", kerr.CorruptMessage, err)
	}
	if b.ProducerID() >= 0 && b.BaseSequence() < 0 {
		return nil, fmt.Errorf("%w: invalid sequence number %d in a batch with producer id %d", kerr.InvalidRecord, b.BaseSequence(), b.ProducerID())
	}
	if b.TimestampType() == records.LogAppendTime {
		// LogValidator.validateTimestamp: producers must not claim
		// LogAppendTime; the broker sets it.
		return nil, fmt.Errorf("%w: producers may not set the LogAppendTime timestamp type", kerr.InvalidTimestamp)
	}
	if cfg.MaxMessageBytes > 0 {
		if err := b.ValidateSize(cfg.MaxMessageBytes); err != nil {
			return nil, fmt.Errorf("%w: batch of %d bytes exceeds max.message.bytes %d", kerr.MessageTooLarge, len(b), cfg.MaxMessageBytes)
		}
	}
	if b.IsControl() {
		return nil, fmt.Errorf("%w: clients may not write control batches", kerr.InvalidRecord)
	}
	if b.IsTransactional() && b.ProducerID() < 0 {
		// KIP-98: a transactional batch belongs to a producer id.
		return nil, fmt.Errorf("%w: transactional batch without a producer id", kerr.InvalidRecord)
	}
	maxTs, err := validateRecords(b, cfg, now)
	if err != nil {
		return nil, err
	}
	if !cfg.LogAppendTime {
		// LogValidator sets the max timestamp from the records for
		// CreateTime (the log stamps LogAppendTime itself). A header that
		// disagrees (librdkafka can write records with timestamp -1 under
		// a max timestamp of 0) would otherwise make the segment look
		// decades old to retention and segment.ms.
		b.SetCreateTimeMaxTimestamp(maxTs)
	}
	if cfg.Recompress && b.Codec() != cfg.Compression {
		nb, err := records.Recompress(b, cfg.Compression)
		if err != nil {
			return nil, fmt.Errorf("%w: recompressing to %s: %v", kerr.CorruptMessage, cfg.Compression, err)
		}
		if cfg.MaxMessageBytes > 0 && len(nb) > cfg.MaxMessageBytes {
			return nil, fmt.Errorf("%w: recompressed batch of %d bytes exceeds max.message.bytes %d", kerr.MessageTooLarge, len(nb), cfg.MaxMessageBytes)
		}
		b = nb
	}
	// Otherwise the log patches offsets into the request's own buffer: each
	// request frame is allocated for that request alone, so no copy is made.
	return b, nil
}

// maybeIncrementHighWatermark moves the high watermark to the smallest log end
// offset in the ISR. With only this node in the ISR that is our own log end.
func (p *Partition) maybeIncrementHighWatermark() {
	// Appends run concurrently with each other's high watermark updates:
	// read, compare and set under one lock so that the high watermark
	// never moves backwards (a delayed acks=all produce would then wait
	// for an append that may never come).
	p.hwMu.Lock()
	leo := p.log.LogEndOffset()
	if leo > p.log.HighWatermark() {
		p.log.SetHighWatermark(leo)
	}
	p.hwMu.Unlock()
	p.wake()
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
	hw := p.log.HighWatermark()
	if fuo := p.log.FirstUnstableOffset(); fuo >= 0 && fuo < hw {
		return fuo
	}
	return hw
}

// ReadResult is one partition's part of a fetch.
type ReadResult struct {
	Err              error
	HighWatermark    int64
	LastStableOffset int64
	LogStartOffset   int64
	Records          []byte
	// AbortedTransactions is set for read_committed reads (never nil
	// then): the aborted transactions overlapping the records.
	AbortedTransactions []storage.AbortedTxn
}

// Read reads committed batches from offset (up to the high watermark, or the
// last stable offset for read_committed).
func (p *Partition) Read(offset int64, currentLeaderEpoch int32, maxBytes int, minOneBatch, readCommitted bool) ReadResult {
	if _, err := p.checkLeader(currentLeaderEpoch); err != nil {
		return ReadResult{Err: err, HighWatermark: -1, LastStableOffset: -1, LogStartOffset: -1}
	}
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

// minDecompressLimit is the floor of decompressLimit: 16 times Kafka's
// default max.message.bytes.
const minDecompressLimit = 16 << 20

// decompressLimit bounds how far a produced batch's records may inflate:
// 16 times max.message.bytes, at least minDecompressLimit, at most 1 GiB.
// librdkafka, franz-go and Sarama bound a batch's uncompressed size by
// max.message.bytes (or batch.size), far below it. The Java producer bounds
// an estimate of the compressed size, so a very compressible batch can
// exceed it; it is refused with MESSAGE_TOO_LARGE, on which the Java
// producer splits the batch and retries. Kafka itself has no bound. Raw
// snappy and zstd records are decoded whole (see records.Batch.WalkRecords),
// so the bound is also the memory one produce request can make the broker
// hold for them: compat-tests' wirefuzz, bombs included, on four
// connections peaked the broker at 521 MiB of RSS with a 64 MiB bound and
// at 178 MiB with this one.
func decompressLimit(maxMessageBytes int) int {
	return int(min(max(minDecompressLimit, 16*int64(maxMessageBytes)), 1<<30))
}

// validateRecords walks every record of every batch, compressed or not, as
// Kafka's LogValidator does (records.Batch.WalkRecords): malformed records
// and counts that disagree with the header are INVALID_RECORD, a payload
// the codec cannot decode or an unknown codec CORRUPT_MESSAGE (Kafka fails
// those with an internal error), records inflating past decompressLimit
// MESSAGE_TOO_LARGE. Keys must be present on compacted topics, and
// CreateTime timestamps other than -1 (NO_TIMESTAMP) must lie within
// message.timestamp.before/after.max.ms. It returns the largest record
// timestamp, -1 when no record has one.
func validateRecords(b records.Batch, cfg PartitionConfig, now time.Time) (int64, error) {
	nowMs := now.UnixMilli()
	// Saturating bounds: the configs default to Long.MAX_VALUE.
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if cfg.TimestampBeforeMaxMs >= 0 && nowMs >= math.MinInt64+cfg.TimestampBeforeMaxMs {
		lo = nowMs - cfg.TimestampBeforeMaxMs
	}
	if cfg.TimestampAfterMaxMs >= 0 && nowMs <= math.MaxInt64-cfg.TimestampAfterMaxMs {
		hi = nowMs + cfg.TimestampAfterMaxMs
	}
	checkTS := !cfg.LogAppendTime
	compacted := cfg.Compacted
	maxTs, err := b.WalkRecords(decompressLimit(cfg.MaxMessageBytes), func(r *records.RecordInfo) error {
		if compacted && r.NullKey {
			return fmt.Errorf("%w: compacted topic cannot accept a record without a key (record %d)", kerr.InvalidRecord, r.Index)
		}
		if checkTS && r.Timestamp != -1 && (r.Timestamp < lo || r.Timestamp > hi) {
			return fmt.Errorf("%w: timestamp %d of record %d is out of range [%d, %d]", kerr.InvalidTimestamp,
				r.Timestamp, r.Index, lo, hi)
		}
		return nil
	})
	switch {
	case err == nil:
		return maxTs, nil
	case errors.Is(err, kerr.InvalidRecord), errors.Is(err, kerr.InvalidTimestamp):
		return 0, err
	case errors.Is(err, records.ErrRecordTooLarge):
		return 0, fmt.Errorf("%w: %v", kerr.MessageTooLarge, err)
	case errors.Is(err, records.ErrCorrupt):
		return 0, fmt.Errorf("%w: %v", kerr.CorruptMessage, err)
	default:
		// InvalidRecordException: malformed records, "Incorrect declared
		// batch size".
		return 0, fmt.Errorf("%w: %v", kerr.InvalidRecord, err)
	}
}

// CheckEnoughReplicas refuses an acks=all append when the ISR is smaller than
// min.insync.replicas, before anything is written (Kafka's
// Partition.appendRecordsToLeader: NOT_ENOUGH_REPLICAS).
func (p *Partition) CheckEnoughReplicas() error {
	p.mu.Lock()
	isr, min := len(p.mu.isr), p.mu.cfg.MinInsyncReplicas
	p.mu.Unlock()
	if isr < min {
		return fmt.Errorf("%w: the in-sync replica set has %d members, min.insync.replicas is %d", kerr.NotEnoughReplicas, isr, min)
	}
	return nil
}

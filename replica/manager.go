package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/riffle-io/riffle/storage"
)

// Manager is Kafka's ReplicaManager: the partitions this broker hosts and the
// produce and fetch paths over them, the replica fetchers of the partitions
// it follows, and the periodic ISR check of those it leads.
type Manager struct {
	nodeID int32
	logs   *storage.LogManager
	logger *slog.Logger
	opts   Options

	// applyMu serialises changes to the set of hosted partitions (log
	// creation and deletion); lock order: applyMu, then mu.
	applyMu sync.Mutex
	mu      struct {
		sync.RWMutex
		partitions map[storage.TopicPartition]*Partition
	}

	fetchers *fetcherManager

	ctx    context.Context
	cancel context.CancelFunc
	// asyncMu orders goAsync with Close: nothing starts once closed.
	asyncMu sync.Mutex
	closed  bool
	wg      sync.WaitGroup
}

// Options connect the manager to the rest of the cluster. The zero value
// serves a single node: no follower is ever fetched from or for.
type Options struct {
	// AlterPartition sends ISR changes to the active controller.
	AlterPartition AlterPartitionFunc
	// BrokerEpoch is this broker's epoch from its registration (-1 until
	// registered).
	BrokerEpoch func() int64
	// Endpoint opens a connection to a leader's inter-broker listener
	// for a replica fetcher.
	Endpoint func(brokerID int32) (LeaderEndpoint, error)
	// IsrEligible reports whether a follower may join an ISR: registered,
	// not fenced, not in controlled shutdown, and (when known) of the
	// broker epoch it fetched with (Kafka's isReplicaIsrEligible,
	// KIP-903). Nil: every follower is.
	IsrEligible func(brokerID int32, brokerEpoch int64) bool
	// BrokerAlive reports whether a broker is registered and unfenced:
	// DeleteRecords waits only for the followers on live brokers. Nil:
	// every broker is.
	BrokerAlive func(brokerID int32) bool
	// ReplicaLagTimeMax is replica.lag.time.max.ms (default 30 s).
	ReplicaLagTimeMax time.Duration
	// Fetch holds the replica.fetch.* settings.
	Fetch FetcherConfig
	// ReplicaSelector is replica.selector.class (KIP-392); nil keeps
	// every consumer on the leader.
	ReplicaSelector ReplicaSelector
	// BrokerRack returns a broker's rack (broker.rack, "" for none) and
	// whether it is registered and unfenced: only live replicas are
	// offered to consumers. Nil: every broker is alive and rackless.
	BrokerRack func(brokerID int32) (rack string, alive bool)
	// LeaderQuota and FollowerQuota are the replication throttles
	// (KIP-73; nil: none): the leader's bound on what throttled
	// followers fetch from it, and this broker's bound on what it
	// fetches for its throttled follower replicas.
	LeaderQuota   *ReplicationQuota
	FollowerQuota *ReplicationQuota
}

// NewManager returns a manager over the logs of logs. Close stops its
// background work.
func NewManager(nodeID int32, logs *storage.LogManager, logger *slog.Logger, opts ...Options) *Manager {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{nodeID: nodeID, logs: logs, logger: logger}
	if len(opts) > 0 {
		m.opts = opts[0]
	}
	if m.opts.ReplicaLagTimeMax <= 0 {
		m.opts.ReplicaLagTimeMax = 30 * time.Second
	}
	m.opts.Fetch = m.opts.Fetch.withDefaults()
	m.mu.partitions = make(map[storage.TopicPartition]*Partition)
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.fetchers = newFetcherManager(m)
	m.goAsync(m.isrExpirationLoop)
	return m
}

// Close stops the fetchers and the ISR check and waits for them.
func (m *Manager) Close() {
	m.asyncMu.Lock()
	m.closed = true
	m.asyncMu.Unlock()
	m.cancel()
	m.fetchers.closeAll()
	m.wg.Wait()
}

// goAsync runs f in a goroutine that Close waits for.
func (m *Manager) goAsync(f func(ctx context.Context)) {
	m.asyncMu.Lock()
	defer m.asyncMu.Unlock()
	if m.closed {
		return
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f(m.ctx)
	}()
}

// shouldLeaderThrottle is Kafka's ReplicaManager.shouldLeaderThrottle: a
// follower outside the ISR of a partition listed in
// leader.replication.throttled.replicas gets nothing while the leader
// quota is exceeded. ISR members are never held back (that would shrink
// the ISR).
func (m *Manager) shouldLeaderThrottle(p *Partition, follower int32) bool {
	q := m.opts.LeaderQuota
	if q == nil || !p.config().LeaderThrottled || p.inSync(follower) {
		return false
	}
	return q.IsQuotaExceeded(time.Now())
}

// brokerRack is Options.BrokerRack, every broker alive without one.
func (m *Manager) brokerRack(id int32) (string, bool) {
	if m.opts.BrokerRack == nil {
		return "", true
	}
	return m.opts.BrokerRack(id)
}

func (m *Manager) brokerEpoch() int64 {
	if m.opts.BrokerEpoch == nil {
		return -1
	}
	return m.opts.BrokerEpoch()
}

// errNoController answers an ISR change on a manager without a controller.
var errNoController = errors.New("no AlterPartition channel to the controller")

// isrExpirationLoop is Kafka's isr-expiration task: every
// replica.lag.time.max.ms / 2 each led partition drops the followers that
// have not caught up for replica.lag.time.max.ms.
func (m *Manager) isrExpirationLoop(ctx context.Context) {
	t := time.NewTicker(max(m.opts.ReplicaLagTimeMax/2, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			m.maybeShrinkIsrs(now)
		}
	}
}

// maybeShrinkIsrs runs the ISR check once over every partition.
func (m *Manager) maybeShrinkIsrs(now time.Time) {
	maxLag := m.opts.ReplicaLagTimeMax.Milliseconds()
	for _, p := range m.Partitions() {
		m.submitAlterPartition(p, p.maybeShrinkIsr(now.UnixMilli(), maxLag))
	}
}

// PartitionState is what the metadata image says about one partition.
type PartitionState struct {
	TopicID        [16]byte
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
	Replicas       []int32
	LogConfig      storage.LogConfig
	Config         PartitionConfig
}

// ApplyPartitionState creates the partition's log if needed and applies the
// leadership and configuration from metadata (Kafka's applyDelta for one
// partition). Opening, creating and deleting logs touch the disk (fsyncs,
// recovery), so they run under applyMu only: produce and fetch on other
// partitions look their partition up under mu, which is held just for the
// map update, as Kafka's ReplicaManager creates logs without blocking
// other partitions.
func (m *Manager) ApplyPartitionState(tp storage.TopicPartition, st PartitionState) error {
	m.applyMu.Lock()
	defer m.applyMu.Unlock()
	m.mu.RLock()
	p, ok := m.mu.partitions[tp]
	m.mu.RUnlock()
	if ok && p.TopicID != st.TopicID {
		// The topic was deleted and re-created under the same name: the
		// old log must not serve the new topic.
		m.mu.Lock()
		delete(m.mu.partitions, tp)
		m.mu.Unlock()
		m.fetchers.removePartition(p)
		p.wake() // delayed fetches re-check and find the partition gone
		if err := m.logs.DeleteLog(tp); err != nil {
			return fmt.Errorf("deleting stale log %s-%d: %w", tp.Topic, tp.Partition, err)
		}
		ok = false
	}
	if ok {
		p.log.SetConfig(st.LogConfig)
		m.applyRole(p, st)
		return nil
	}
	log, err := m.logs.GetOrCreateLog(tp, st.TopicID, st.LogConfig)
	if errors.Is(err, storage.ErrInconsistentTopicID) {
		// A log of an earlier topic of this name survived its
		// deletion (a crash before the directory was removed).
		// Kafka's startup treats it as a stray replica and deletes
		// it (LogManager.isStrayKraftReplica); serving the new
		// topic from it, or not at all, would both be wrong.
		m.logger.Warn("deleting stray log of an earlier topic with this name", "topic", tp.Topic, "partition", tp.Partition, "err", err)
		if err := m.logs.DeleteLog(tp); err != nil {
			return fmt.Errorf("deleting stray log %s-%d: %w", tp.Topic, tp.Partition, err)
		}
		log, err = m.logs.GetOrCreateLog(tp, st.TopicID, st.LogConfig)
	}
	if err != nil {
		return fmt.Errorf("opening log %s-%d: %w", tp.Topic, tp.Partition, err)
	}
	// The partition is published with its role already set, so a request
	// never sees it without a leader.
	p = newPartition(m.nodeID, tp, st.TopicID, log)
	p.isrEligible = m.opts.IsrEligible
	p.brokerAlive = m.opts.BrokerAlive
	p.applyState(st, time.Now())
	m.mu.Lock()
	m.mu.partitions[tp] = p
	m.mu.Unlock()
	m.applyFetcher(p, st)
	return nil
}

// applyRole applies st to a hosted partition and starts or stops fetching
// it.
func (m *Manager) applyRole(p *Partition, st PartitionState) {
	p.applyState(st, time.Now())
	m.applyFetcher(p, st)
}

// applyFetcher adds a follower partition to the fetcher of its leader
// (Kafka's makeFollowers → addFetcherForPartitions) and removes a led or
// leaderless one.
func (m *Manager) applyFetcher(p *Partition, st PartitionState) {
	leader, epoch := p.Leader()
	// A log in an offline log dir cannot take what it fetches
	// (HandleLogDirFailure).
	if leader == m.nodeID || leader < 0 || p.log.Offline() != nil {
		m.fetchers.removePartition(p)
		return
	}
	m.fetchers.addPartition(p, leader, epoch)
}

// RemovePartition stops hosting tp and deletes its log (topic deletion).
func (m *Manager) RemovePartition(tp storage.TopicPartition) error {
	m.applyMu.Lock()
	defer m.applyMu.Unlock()
	m.mu.Lock()
	p, ok := m.mu.partitions[tp]
	delete(m.mu.partitions, tp)
	m.mu.Unlock()
	if ok {
		m.fetchers.removePartition(p)
		p.wake() // delayed fetches re-check and find the partition gone
	}
	return m.logs.DeleteLog(tp)
}

// Partition returns a hosted partition or UNKNOWN_TOPIC_OR_PARTITION.
func (m *Manager) Partition(tp storage.TopicPartition) (*Partition, error) {
	m.mu.RLock()
	p, ok := m.mu.partitions[tp]
	m.mu.RUnlock()
	if !ok {
		return nil, kerr.UnknownTopicOrPartition
	}
	return p, nil
}

// LeaderStats counts the partitions this broker leads and, of those, the
// ones whose ISR lacks a replica (Kafka's ReplicaManager LeaderCount and
// UnderReplicatedPartitions).
func (m *Manager) LeaderStats() (leaders, underReplicated int) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, p := range m.mu.partitions {
		p.leaderIsrUpdateLock.RLock()
		if p.st.leader == m.nodeID {
			leaders++
			if len(p.st.isr) < len(p.st.replicas) {
				underReplicated++
			}
		}
		p.leaderIsrUpdateLock.RUnlock()
	}
	return leaders, underReplicated
}

// Partitions returns the hosted partitions sorted by topic and partition.
func (m *Manager) Partitions() []*Partition {
	m.mu.RLock()
	out := make([]*Partition, 0, len(m.mu.partitions))
	for _, p := range m.mu.partitions {
		out = append(out, p)
	}
	m.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].TP.Topic != out[j].TP.Topic {
			return out[i].TP.Topic < out[j].TP.Topic
		}
		return out[i].TP.Partition < out[j].TP.Partition
	})
	return out
}

// WaitForHighWatermark blocks until the partition's high watermark reaches
// offset (every ISR member has the batch), ctx ends, or timeout passes, in
// which case it answers REQUEST_TIMED_OUT as Kafka's delayed produce does.
// It answers NOT_LEADER_OR_FOLLOWER as soon as this node stops leading the
// partition in the epoch the wait began in.
func (m *Manager) WaitForHighWatermark(ctx context.Context, p *Partition, offset int64, timeout time.Duration) error {
	return m.waitHighWatermark(ctx, p, offset, timeout, false)
}

// WaitForAcksAll is WaitForHighWatermark for an acks=all produce: once the
// high watermark passes the batch, an ISR that shrank below
// min.insync.replicas meanwhile answers NOT_ENOUGH_REPLICAS_AFTER_APPEND
// (Kafka's DelayedProduce).
func (m *Manager) WaitForAcksAll(ctx context.Context, p *Partition, offset int64, timeout time.Duration) error {
	return m.waitHighWatermark(ctx, p, offset, timeout, true)
}

func (m *Manager) waitHighWatermark(ctx context.Context, p *Partition, offset int64, timeout time.Duration, checkMinIsr bool) error {
	epoch, err := p.checkLeader(-1)
	if err != nil {
		return err
	}
	if done, err := p.highWatermarkReached(offset, epoch, checkMinIsr); done {
		return err
	}
	ch := make(chan struct{}, 1)
	p.addWaiter(ch)
	defer p.removeWaiter(ch)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		if done, err := p.highWatermarkReached(offset, epoch, checkMinIsr); done {
			return err
		}
		select {
		case <-ch:
		case <-timer.C:
			return kerr.RequestTimedOut
		case <-ctx.Done():
			return kerr.RequestTimedOut
		}
	}
}

// WaitForLowWatermark waits until every live replica's log start offset
// reached offset (Kafka's DelayedDeleteRecords) and returns the low
// watermark; REQUEST_TIMED_OUT after timeout, NOT_LEADER_OR_FOLLOWER when
// this node stops leading.
func (m *Manager) WaitForLowWatermark(ctx context.Context, p *Partition, offset int64, timeout time.Duration) (int64, error) {
	ch := make(chan struct{}, 1)
	p.addWaiter(ch)
	defer p.removeWaiter(ch)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		done, low, err := p.lowWatermarkReached(offset)
		if done {
			return low, err
		}
		select {
		case <-ch:
		case <-timer.C:
			return low, kerr.RequestTimedOut
		case <-ctx.Done():
			return low, kerr.RequestTimedOut
		}
	}
}

// FetchPartition is one partition of a fetch request.
type FetchPartition struct {
	TP                 storage.TopicPartition
	FetchOffset        int64
	CurrentLeaderEpoch int32
	MaxBytes           int32
	// LastFetchedEpoch and LogStartOffset are a follower's (-1: none).
	LastFetchedEpoch int32
	LogStartOffset   int64
}

// FetchParams are the request-wide fetch limits.
type FetchParams struct {
	MinBytes      int32
	MaxBytes      int32
	MaxWait       time.Duration
	ReadCommitted bool
	// Follower is set when a follower fetches (Fetch ReplicaID, v15+
	// ReplicaState), nil for a consumer.
	Follower *FollowerID
	// Waited, when set, is increased by the time Fetch spent waiting for
	// appends: request quotas measure the time a fetch was served, not
	// the time it waited (KIP-124).
	Waited *time.Duration
	// Client is set for a consumer's Fetch v11+ (Kafka's ClientMetadata):
	// any replica may serve it, and the leader may name a preferred read
	// replica (KIP-392). Nil: only the leader serves the fetch.
	Client *ClientMetadata
}

// FollowerID names a fetching follower: its broker id and broker epoch
// (Fetch v15+ ReplicaState.ReplicaEpoch, else -1).
type FollowerID struct {
	ID          int32
	BrokerEpoch int64
}

// Fetch reads every partition and, until MinBytes are available or MaxWait
// passes, waits for appends to any of them (Kafka's DelayedFetch). Errors are
// per partition; a partition error completes the fetch at once, as in Kafka.
func (m *Manager) Fetch(ctx context.Context, parts []FetchPartition, params FetchParams) []ReadResult {
	results := m.fetch(ctx, parts, params)
	if params.Follower != nil && m.opts.LeaderQuota != nil {
		m.recordLeaderThrottled(parts, results)
	}
	return results
}

// recordLeaderThrottled counts what a follower fetch returned of throttled
// partitions against the leader quota, as KafkaApis records
// sizeOfThrottledPartitions once the response is built.
func (m *Manager) recordLeaderThrottled(parts []FetchPartition, results []ReadResult) {
	var n int64
	for i, fp := range parts {
		if len(results[i].Records) == 0 {
			continue
		}
		if p, err := m.Partition(fp.TP); err == nil && p.config().LeaderThrottled {
			n += int64(len(results[i].Records))
		}
	}
	m.opts.LeaderQuota.Record(n, time.Now())
}

// fetch is Fetch without the quota accounting.
func (m *Manager) fetch(ctx context.Context, parts []FetchPartition, params FetchParams) []ReadResult {
	results, total, anyErr := m.readAll(parts, params)
	if params.MaxWait <= 0 || total >= int(params.MinBytes) || anyErr || len(parts) == 0 {
		return results
	}
	if fetchWatchHook != nil {
		fetchWatchHook()
	}
	ch := make(chan struct{}, 1)
	var hosted []*Partition
	for _, fp := range parts {
		if p, err := m.Partition(fp.TP); err == nil {
			p.addWaiter(ch)
			hosted = append(hosted, p)
		}
	}
	defer func() {
		for _, p := range hosted {
			p.removeWaiter(ch)
		}
	}()
	// Kafka's purgatory tries again once the watchers are in place
	// (tryCompleteElseWatch): an append that landed between the first read
	// and the registration woke no one, and would otherwise wait out MaxWait.
	results, total, anyErr = m.readAll(parts, params)
	if total >= int(params.MinBytes) || anyErr {
		return results
	}
	timer := time.NewTimer(params.MaxWait)
	defer timer.Stop()
	if params.Waited != nil {
		start := time.Now()
		defer func() { *params.Waited += time.Since(start) }()
	}
	for {
		select {
		case <-ch:
		case <-timer.C:
			results, _, _ = m.readAll(parts, params)
			return results
		case <-ctx.Done():
			return results
		}
		results, total, anyErr = m.readAll(parts, params)
		if total >= int(params.MinBytes) || anyErr {
			return results
		}
	}
}

// fetchWatchHook, when set by a test, runs between a delayed fetch's first
// read and the registration of its waiters.
var fetchWatchHook func()

// readAll reads each partition within the request's byte budget. Only the
// first partition that returns data may exceed the budget, and only by one
// whole batch, so that a consumer can always make progress (KIP-74).
func (m *Manager) readAll(parts []FetchPartition, params FetchParams) ([]ReadResult, int, bool) {
	results := make([]ReadResult, len(parts))
	remaining := int(params.MaxBytes)
	if remaining <= 0 {
		remaining = int(^uint32(0) >> 1)
	}
	total := 0
	anyErr := false
	for i, fp := range parts {
		p, err := m.Partition(fp.TP)
		if err != nil {
			results[i] = ReadResult{Err: err, HighWatermark: -1, LastStableOffset: -1, LogStartOffset: -1}
			anyErr = true
			continue
		}
		limit := int(fp.MaxBytes)
		if limit > remaining {
			limit = remaining
		}
		minOne := total == 0
		outOfBudget := limit <= 0 && !minOne
		if outOfBudget {
			// Out of budget: report offsets without data.
			limit = 0
		}
		if f := params.Follower; f != nil {
			var expand bool
			results[i], expand = p.readForFollower(FollowerFetch{
				ReplicaID: f.ID, BrokerEpoch: f.BrokerEpoch,
				FetchOffset: fp.FetchOffset, LogStartOffset: fp.LogStartOffset,
				CurrentLeaderEpoch: fp.CurrentLeaderEpoch, LastFetchedEpoch: fp.LastFetchedEpoch,
			}, limit, minOne, time.Now())
			if expand {
				m.submitAlterPartition(p, p.maybeExpandIsr(f.ID))
			}
			if len(results[i].Records) > 0 && m.shouldLeaderThrottle(p, f.ID) {
				// ReplicaManager: a throttled partition's read
				// is simply answered empty.
				results[i].Records = nil
			}
		} else {
			results[i] = p.readForConsumer(consumerRead{
				offset: fp.FetchOffset, currentLeaderEpoch: fp.CurrentLeaderEpoch,
				maxBytes: limit, minOneBatch: minOne, readCommitted: params.ReadCommitted,
				client: params.Client, selector: m.opts.ReplicaSelector, rackOf: m.brokerRack,
				nowMs: time.Now().UnixMilli(),
			})
			if results[i].HasPreferredReadReplica {
				// Kafka answers at once: the consumer is to go
				// elsewhere, not to wait here.
				anyErr = true
			}
		}
		if outOfBudget {
			results[i].Records = nil
		}
		if results[i].DivergingEpoch != nil {
			anyErr = true // answered at once, as a partition error is
		}
		if results[i].Err != nil {
			anyErr = true
		}
		n := len(results[i].Records)
		total += n
		remaining -= n
	}
	return results, total, anyErr
}

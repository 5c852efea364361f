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
// produce and fetch paths over them.
type Manager struct {
	nodeID int32
	logs   *storage.LogManager
	logger *slog.Logger

	// applyMu serialises changes to the set of hosted partitions (log
	// creation and deletion); lock order: applyMu, then mu.
	applyMu sync.Mutex
	mu      struct {
		sync.RWMutex
		partitions map[storage.TopicPartition]*Partition
	}
}

// NewManager returns a manager over the logs of logs.
func NewManager(nodeID int32, logs *storage.LogManager, logger *slog.Logger) *Manager {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{nodeID: nodeID, logs: logs, logger: logger}
	m.mu.partitions = make(map[storage.TopicPartition]*Partition)
	return m
}

// PartitionState is what the metadata image says about one partition.
type PartitionState struct {
	TopicID     [16]byte
	Leader      int32
	LeaderEpoch int32
	ISR         []int32
	Replicas    []int32
	LogConfig   storage.LogConfig
	Config      PartitionConfig
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
		p.wake() // delayed fetches re-check and find the partition gone
		if err := m.logs.DeleteLog(tp); err != nil {
			return fmt.Errorf("deleting stale log %s-%d: %w", tp.Topic, tp.Partition, err)
		}
		ok = false
	}
	if ok {
		p.log.SetConfig(st.LogConfig)
		p.setState(st.Leader, st.LeaderEpoch, st.ISR, st.Config)
		if st.Leader == m.nodeID {
			p.maybeIncrementHighWatermark()
		}
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
	p.setState(st.Leader, st.LeaderEpoch, st.ISR, st.Config)
	if st.Leader == m.nodeID {
		p.maybeIncrementHighWatermark()
	}
	m.mu.Lock()
	m.mu.partitions[tp] = p
	m.mu.Unlock()
	return nil
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
// offset (acks=all: every ISR member has the batch), ctx ends, or timeout
// passes, in which case it answers REQUEST_TIMED_OUT as Kafka's delayed
// produce does.
func (m *Manager) WaitForHighWatermark(ctx context.Context, p *Partition, offset int64, timeout time.Duration) error {
	if p.HighWatermark() >= offset {
		return nil
	}
	ch := make(chan struct{}, 1)
	p.addWaiter(ch)
	defer p.removeWaiter(ch)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for p.HighWatermark() < offset {
		select {
		case <-ch:
		case <-timer.C:
			return kerr.RequestTimedOut
		case <-ctx.Done():
			return kerr.RequestTimedOut
		}
	}
	return nil
}

// FetchPartition is one partition of a fetch request.
type FetchPartition struct {
	TP                 storage.TopicPartition
	FetchOffset        int64
	CurrentLeaderEpoch int32
	MaxBytes           int32
}

// FetchParams are the request-wide fetch limits.
type FetchParams struct {
	MinBytes      int32
	MaxBytes      int32
	MaxWait       time.Duration
	ReadCommitted bool
}

// Fetch reads every partition and, until MinBytes are available or MaxWait
// passes, waits for appends to any of them (Kafka's DelayedFetch). Errors are
// per partition; a partition error completes the fetch at once, as in Kafka.
func (m *Manager) Fetch(ctx context.Context, parts []FetchPartition, params FetchParams) []ReadResult {
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
		if limit <= 0 && !minOne {
			// Out of budget: report offsets without data.
			results[i] = p.Read(fp.FetchOffset, fp.CurrentLeaderEpoch, 0, false, params.ReadCommitted)
			results[i].Records = nil
		} else {
			results[i] = p.Read(fp.FetchOffset, fp.CurrentLeaderEpoch, limit, minOne, params.ReadCommitted)
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

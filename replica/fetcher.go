package replica

// Replica fetchers, after Kafka's AbstractFetcherThread and
// ReplicaFetcherThread: one fetcher per source broker
// (num.replica.fetchers=1) sends Fetch v12+ with this broker's replica id
// and, per partition, its log end offset and the epoch of its last batch
// (LastFetchedEpoch). The leader answers records up to its log end offset
// or a DivergingEpoch, on which the follower truncates its divergent tail
// and fetches again (KIP-595's truncation on fetch; no separate
// OffsetForLeaderEpoch round trip). Followers send full fetches without a
// session (SessionEpoch -1): the partitions of one fetcher are few and
// change with leadership, and a sessionless fetch is always correct.

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// LeaderEndpoint is Kafka's LeaderEndpoint: the connection of a fetcher to
// the leader of its partitions.
type LeaderEndpoint interface {
	// Fetch sends a Fetch request (v12 or newer).
	Fetch(ctx context.Context, req *kmsg.FetchRequest) (*kmsg.FetchResponse, error)
	// ListOffsets sends a ListOffsets request (a follower's replica id:
	// latest is the leader's log end offset).
	ListOffsets(ctx context.Context, req *kmsg.ListOffsetsRequest) (*kmsg.ListOffsetsResponse, error)
	// Close closes the connection.
	Close()
}

// FetcherConfig holds the replica.fetch.* settings.
type FetcherConfig struct {
	MaxBytes         int32         // replica.fetch.max.bytes, per partition
	MinBytes         int32         // replica.fetch.min.bytes
	ResponseMaxBytes int32         // replica.fetch.response.max.bytes
	MaxWait          time.Duration // replica.fetch.wait.max.ms
	Backoff          time.Duration // replica.fetch.backoff.ms
}

func (c FetcherConfig) withDefaults() FetcherConfig {
	if c.MaxBytes <= 0 {
		c.MaxBytes = 1 << 20
	}
	if c.MinBytes <= 0 {
		c.MinBytes = 1
	}
	if c.ResponseMaxBytes <= 0 {
		c.ResponseMaxBytes = 10 << 20
	}
	if c.MaxWait <= 0 {
		c.MaxWait = 500 * time.Millisecond
	}
	if c.Backoff <= 0 {
		c.Backoff = time.Second
	}
	return c
}

// fetcherManager is Kafka's ReplicaFetcherManager: which partition is
// fetched by which fetcher.
type fetcherManager struct {
	m        *Manager
	mu       sync.Mutex
	fetchers map[int32]*fetcher   // by source broker
	assigned map[*Partition]int32 // partition → source broker
}

func newFetcherManager(m *Manager) *fetcherManager {
	return &fetcherManager{m: m, fetchers: make(map[int32]*fetcher), assigned: make(map[*Partition]int32)}
}

// addPartition fetches p from leader in leaderEpoch, starting over if the
// leader or epoch changed.
func (fm *fetcherManager) addPartition(p *Partition, leader, leaderEpoch int32) {
	fm.mu.Lock()
	defer fm.mu.Unlock()
	if fm.m.ctx.Err() != nil {
		return
	}
	if old, ok := fm.assigned[p]; ok && old != leader {
		fm.removeLocked(p)
	}
	f, ok := fm.fetchers[leader]
	if !ok {
		f = newFetcher(fm.m, leader)
		fm.fetchers[leader] = f
		fm.m.goAsync(f.run)
	}
	fm.assigned[p] = leader
	f.add(p, leaderEpoch)
}

// removePartition stops fetching p.
func (fm *fetcherManager) removePartition(p *Partition) {
	fm.mu.Lock()
	defer fm.mu.Unlock()
	fm.removeLocked(p)
}

func (fm *fetcherManager) removeLocked(p *Partition) {
	leader, ok := fm.assigned[p]
	if !ok {
		return
	}
	delete(fm.assigned, p)
	f := fm.fetchers[leader]
	if f.remove(p) == 0 {
		// Kafka's shutdownIdleFetcherThreads.
		delete(fm.fetchers, leader)
		f.stop()
	}
}

func (fm *fetcherManager) closeAll() {
	fm.mu.Lock()
	defer fm.mu.Unlock()
	for id, f := range fm.fetchers {
		f.stop()
		delete(fm.fetchers, id)
	}
	clear(fm.assigned)
}

// fetcher fetches the partitions led by one broker.
type fetcher struct {
	m      *Manager
	leader int32
	cancel context.CancelFunc
	ctx    context.Context
	wakeCh chan struct{}

	mu    sync.Mutex
	parts map[*Partition]*fetchState
}

// fetchState is Kafka's PartitionFetchState, less what the log knows.
type fetchState struct {
	leaderEpoch int32
	delayUntil  time.Time // backing off after an error
	// caughtUp is Kafka's PartitionFetchState.isReplicaInSync: the last
	// fetch brought the log up to the leader's high watermark. Such a
	// replica is never throttled.
	caughtUp bool
}

func newFetcher(m *Manager, leader int32) *fetcher {
	f := &fetcher{m: m, leader: leader, wakeCh: make(chan struct{}, 1), parts: make(map[*Partition]*fetchState)}
	f.ctx, f.cancel = context.WithCancel(m.ctx)
	return f
}

func (f *fetcher) add(p *Partition, leaderEpoch int32) {
	f.mu.Lock()
	if st, ok := f.parts[p]; !ok || st.leaderEpoch != leaderEpoch {
		f.parts[p] = &fetchState{leaderEpoch: leaderEpoch}
	}
	f.mu.Unlock()
	f.wake()
}

func (f *fetcher) remove(p *Partition) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.parts, p)
	return len(f.parts)
}

func (f *fetcher) stop() { f.cancel() }

func (f *fetcher) wake() {
	select {
	case f.wakeCh <- struct{}{}:
	default:
	}
}

// delay backs a partition off after an error (Kafka's
// delayPartitions with replica.fetch.backoff.ms).
func (f *fetcher) delay(p *Partition, leaderEpoch int32) {
	f.mu.Lock()
	if st, ok := f.parts[p]; ok && st.leaderEpoch == leaderEpoch {
		st.delayUntil = time.Now().Add(f.m.opts.Fetch.Backoff)
	}
	f.mu.Unlock()
}

// sentPartition is one partition of a fetch in flight.
type sentPartition struct {
	p           *Partition
	leaderEpoch int32
	fetchOffset int64
}

// ready returns the partitions to fetch now and, when there are none, how
// long to wait for one.
//
// ReplicaFetcherThread.buildFetch leaves out the partitions that
// shouldFollowerThrottle: listed in follower.replication.throttled.replicas,
// not caught up, while the follower quota is exceeded (KIP-73). They are
// looked at again after replica.fetch.backoff.ms, as Kafka's fetcher waits
// that long when it has nothing to fetch.
func (f *fetcher) ready(now time.Time) ([]sentPartition, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sentPartition
	wait := time.Duration(-1)
	soonest := func(d time.Duration) {
		if wait < 0 || d < wait {
			wait = d
		}
	}
	exceeded := f.m.opts.FollowerQuota.IsQuotaExceeded(now)
	for p, st := range f.parts {
		if d := st.delayUntil.Sub(now); d > 0 {
			soonest(d)
			continue
		}
		if exceeded && !st.caughtUp && p.config().FollowerThrottled {
			soonest(f.m.opts.Fetch.Backoff)
			continue
		}
		out = append(out, sentPartition{p: p, leaderEpoch: st.leaderEpoch})
	}
	return out, wait
}

// fetched records a partition's answer: whether it is caught up to the
// leader's high watermark now, and its bytes against the follower quota
// when it is throttled (ReplicaFetcherThread.processPartitionData).
func (f *fetcher) fetched(sp sentPartition, leaderHW int64, bytes int) {
	p := sp.p
	caughtUp := p.log.LogEndOffset() >= leaderHW
	f.mu.Lock()
	if st, ok := f.parts[p]; ok && st.leaderEpoch == sp.leaderEpoch {
		st.caughtUp = caughtUp
	}
	f.mu.Unlock()
	if p.config().FollowerThrottled {
		f.m.opts.FollowerQuota.Record(int64(bytes), time.Now())
	}
}

// sleep waits for d (forever when negative), a wake-up, or the end.
func (f *fetcher) sleep(d time.Duration) {
	var timer <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-f.ctx.Done():
	case <-f.wakeCh:
	case <-timer:
	}
}

// run is the fetcher's loop (AbstractFetcherThread.doWork).
func (f *fetcher) run(context.Context) {
	ctx := f.ctx
	var ep LeaderEndpoint
	defer func() {
		if ep != nil {
			ep.Close()
		}
	}()
	for ctx.Err() == nil {
		parts, wait := f.ready(time.Now())
		if len(parts) == 0 {
			f.sleep(wait)
			continue
		}
		if ep == nil {
			var err error
			if f.m.opts.Endpoint == nil {
				err = errors.New("no endpoint to reach other brokers")
			} else {
				ep, err = f.m.opts.Endpoint(f.leader)
			}
			if err != nil {
				f.m.logger.Warn("cannot connect to leader", "leader", f.leader, "err", err)
				f.sleep(f.m.opts.Fetch.Backoff)
				continue
			}
		}
		req := f.buildFetch(parts)
		resp, err := ep.Fetch(ctx, req)
		if err == nil && resp.ErrorCode != 0 {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			f.m.logger.Debug("fetch from leader failed", "leader", f.leader, "err", err)
			ep.Close()
			ep = nil
			f.sleep(f.m.opts.Fetch.Backoff)
			continue
		}
		f.processFetchResponse(ctx, ep, parts, resp)
	}
}

// buildFetch is ReplicaFetcherThread's buildFetch; it fills in each
// partition's fetch offset.
func (f *fetcher) buildFetch(parts []sentPartition) *kmsg.FetchRequest {
	cfg := f.m.opts.Fetch
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.ReplicaID = f.m.nodeID
	req.ReplicaState.ID, req.ReplicaState.Epoch = f.m.nodeID, f.m.brokerEpoch()
	req.MaxWaitMillis = int32(cfg.MaxWait.Milliseconds())
	req.MinBytes, req.MaxBytes = cfg.MinBytes, cfg.ResponseMaxBytes
	req.SessionID, req.SessionEpoch = 0, -1
	topics := make(map[string]int)
	for i := range parts {
		sp := &parts[i]
		offset, logStart, lastEpoch := sp.p.followerFetchState()
		sp.fetchOffset = offset
		ti, ok := topics[sp.p.TP.Topic]
		if !ok {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = sp.p.TP.Topic, sp.p.TopicID
			ti = len(req.Topics)
			topics[sp.p.TP.Topic] = ti
			req.Topics = append(req.Topics, rt)
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = sp.p.TP.Partition
		rp.CurrentLeaderEpoch = sp.leaderEpoch
		rp.FetchOffset, rp.LogStartOffset, rp.LastFetchedEpoch = offset, logStart, lastEpoch
		rp.PartitionMaxBytes = cfg.MaxBytes
		req.Topics[ti].Partitions = append(req.Topics[ti].Partitions, rp)
	}
	return req
}

// processFetchResponse is AbstractFetcherThread.processFetchRequest's
// handling of each partition's answer.
func (f *fetcher) processFetchResponse(ctx context.Context, ep LeaderEndpoint, parts []sentPartition, resp *kmsg.FetchResponse) {
	type key struct {
		id        [16]byte
		topic     string
		partition int32
	}
	sent := make(map[key]sentPartition, len(parts))
	for _, sp := range parts {
		sent[key{sp.p.TopicID, "", sp.p.TP.Partition}] = sp
		sent[key{[16]byte{}, sp.p.TP.Topic, sp.p.TP.Partition}] = sp
	}
	for _, rt := range resp.Topics {
		for i := range rt.Partitions {
			rp := &rt.Partitions[i]
			sp, ok := sent[key{rt.TopicID, "", rp.Partition}]
			if !ok || rt.TopicID == ([16]byte{}) {
				sp, ok = sent[key{[16]byte{}, rt.Topic, rp.Partition}]
			}
			if !ok {
				continue
			}
			f.processPartition(ctx, ep, sp, rp)
		}
	}
}

func (f *fetcher) processPartition(ctx context.Context, ep LeaderEndpoint, sp sentPartition, rp *kmsg.FetchResponseTopicPartition) {
	p := sp.p
	switch err := kerr.ErrorForCode(rp.ErrorCode); {
	case err == nil:
	case errors.Is(err, kerr.OffsetOutOfRange):
		if err := f.handleOutOfRange(ctx, ep, sp); err != nil {
			f.m.logger.Warn("resetting an out-of-range fetch offset", "topic", p.TP.Topic, "partition", p.TP.Partition, "err", err)
			f.delay(p, sp.leaderEpoch)
		}
		return
	default:
		// FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH,
		// NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION...: the
		// leader and we disagree about the partition until metadata
		// catches up; a new image restarts the partition at once.
		f.m.logger.Debug("fetch partition error", "topic", p.TP.Topic, "partition", p.TP.Partition, "leader", f.leader, "err", err)
		f.delay(p, sp.leaderEpoch)
		return
	}
	if rp.DivergingEpoch.Epoch >= 0 || rp.DivergingEpoch.EndOffset >= 0 {
		if err := f.truncateOnDivergence(sp, rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset); err != nil {
			f.m.logger.Error("truncating a divergent log", "topic", p.TP.Topic, "partition", p.TP.Partition, "err", err)
			f.delay(p, sp.leaderEpoch)
		}
		return
	}
	appended, err := p.appendAsFollower(f.leader, sp.leaderEpoch, sp.fetchOffset, rp.RecordBatches)
	if err != nil {
		// Kafka marks the partition failed; a log that failed a write is
		// offline (sticky) and fetching it again cannot help.
		f.m.logger.Error("appending fetched records", "topic", p.TP.Topic, "partition", p.TP.Partition, "err", err)
		f.delay(p, sp.leaderEpoch)
		return
	}
	if appended {
		if err := p.updateFollowerHighWatermark(rp.HighWatermark, rp.LogStartOffset); err != nil {
			f.m.logger.Warn("following the leader's log start offset", "topic", p.TP.Topic, "partition", p.TP.Partition, "err", err)
		}
		f.fetched(sp, rp.HighWatermark, len(rp.RecordBatches))
	}
}

// truncateOnDivergence is AbstractFetcherThread.truncateOnFetchResponse with
// getOffsetTruncationState: truncate to where our log and the leader's
// agree, as far as our own leader epoch cache can tell; when it cannot
// tell yet, truncate to the end of our last epoch before the leader's and
// let the next fetch check again.
func (f *fetcher) truncateOnDivergence(sp sentPartition, leaderEpoch int32, leaderEnd int64) error {
	p := sp.p
	log := p.log
	leo := log.LogEndOffset()
	var target int64
	if leaderEnd < 0 {
		// The leader knows no epoch at or below ours: only the high
		// watermark is known to be committed.
		target = log.HighWatermark()
	} else {
		epoch, end := log.EndOffsetForEpoch(leaderEpoch)
		switch {
		case end < 0:
			target = min(leaderEnd, leo)
		case epoch != leaderEpoch:
			target = min(end, leo)
		default:
			target = min(end, leaderEnd, leo)
		}
	}
	f.m.logger.Info("truncating divergent log", "topic", p.TP.Topic, "partition", p.TP.Partition,
		"leader_epoch", leaderEpoch, "leader_end_offset", leaderEnd, "log_end_offset", leo, "truncate_to", target)
	return p.truncateTo(f.leader, sp.leaderEpoch, target, false)
}

// handleOutOfRange is AbstractFetcherThread.fetchOffsetAndTruncate: a
// follower ahead of the leader's log end truncates to it; one behind the
// leader's log start restarts its log there.
func (f *fetcher) handleOutOfRange(ctx context.Context, ep LeaderEndpoint, sp sentPartition) error {
	p := sp.p
	leaderEnd, err := f.listOffset(ctx, ep, sp, -1)
	if err != nil {
		return err
	}
	leo := p.log.LogEndOffset()
	if leaderEnd < leo {
		f.m.logger.Warn("truncating to the leader's log end offset", "topic", p.TP.Topic, "partition", p.TP.Partition,
			"leader_end_offset", leaderEnd, "log_end_offset", leo)
		return p.truncateTo(f.leader, sp.leaderEpoch, leaderEnd, false)
	}
	leaderStart, err := f.listOffset(ctx, ep, sp, -2)
	if err != nil {
		return err
	}
	if leaderStart > leo {
		f.m.logger.Info("restarting the log at the leader's log start offset", "topic", p.TP.Topic, "partition", p.TP.Partition,
			"leader_start_offset", leaderStart, "log_end_offset", leo)
		return p.truncateTo(f.leader, sp.leaderEpoch, leaderStart, true)
	}
	return nil
}

// listOffset asks the leader for its latest (-1, the log end offset for a
// replica) or earliest (-2) offset.
func (f *fetcher) listOffset(ctx context.Context, ep LeaderEndpoint, sp sentPartition, ts int64) (int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 1
	req.ReplicaID = f.m.nodeID
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = sp.p.TP.Topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.Timestamp = sp.p.TP.Partition, sp.leaderEpoch, ts
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := ep.ListOffsets(ctx, req)
	if err != nil {
		return -1, err
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if t.Topic == sp.p.TP.Topic && p.Partition == sp.p.TP.Partition {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return -1, err
				}
				return p.Offset, nil
			}
		}
	}
	return -1, errors.New("ListOffsets answer lacks the partition")
}

// fetchedBy reports which broker p is fetched from (-1: none), for tests.
func (fm *fetcherManager) fetchedBy(p *Partition) int32 {
	fm.mu.Lock()
	defer fm.mu.Unlock()
	if l, ok := fm.assigned[p]; ok {
		return l
	}
	return -1
}

package server

// The coordinator runtime shared by the group and transaction coordinators
// (Kafka's CoordinatorRuntime). Each partition of a coordinator's internal
// topic (__consumer_offsets, __transaction_state) that this broker leads
// has one shard, behind its own mutex. The runtime follows leadership of
// the topic's partitions: a shard loads by replaying its partition when
// this broker becomes its leader, and is dropped when leadership moves
// away, when the leader epoch changes (a new shard then loads: the log may
// have been truncated in between) or when an append failed. It ticks the
// loaded shards, lets requests wait briefly for a load in progress, and
// appends the records a shard emits as batches.
//
// Replication is waited for without the shard's lock, as Kafka's
// CoordinatorRuntime does: a step appends its records under the lock,
// notes the offset after them (the shard's writtenEnd) and releases the
// lock; its responses leave only once the partition's high watermark
// reaches that offset (offsets.commit.timeout.ms), so a slow follower
// delays the answers of one shard's writers but no other step of the
// shard. Later steps see the state the uncommitted records describe, and
// their responses wait for the high watermark to pass them too, so no
// client is told of state that is not replicated. Kafka keeps snapshots
// of its timeline data structures to revert a failed write
// (SnapshottableCoordinator.revertLastWrittenOffset); Riffle reloads the
// shard from the log instead, which holds exactly the records whose
// append succeeded: a failed append marks the shard failed and the next
// sync replays it. Replay runs to the log end offset, not the high
// watermark: while this broker leads at the shard's epoch its log is
// never truncated, so every record in it is either committed in time or
// the epoch changes and the shard reloads. A write whose high watermark
// never arrives in time is answered with an error but not reverted, as in
// Kafka: its records stay in the log and commit with the next ones.
//
// What a shard is, how a record replays into it and what happens around a
// tick, a load or an unload is the coordinator's own: coordinatorHooks.
//
// Lock order: coordinatorRuntime.imageMu, then coordinatorRuntime.mu, then
// coordinatorShard.mu, then the partition's own locks (taken inside replica and storage). A transaction
// marker writer takes a group shard's lock (for __consumer_offsets markers)
// without holding any transaction shard lock.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/riffle-io/riffle/controller"
	"github.com/riffle-io/riffle/coordinator"
	"github.com/riffle-io/riffle/protocol/records"
	"github.com/riffle-io/riffle/replica"
	"github.com/riffle-io/riffle/storage"
)

// coordinatorShard is one partition's shard S and the coordinator's own
// state X kept beside it under the same mutex.
type coordinatorShard[S, X any] struct {
	partition   int32
	leaderEpoch int32
	// ctx ends when the shard is unloaded: responses still waiting for
	// the high watermark answer NOT_COORDINATOR at once.
	ctx    context.Context
	cancel context.CancelFunc

	mu struct {
		sync.Mutex
		shard  S
		p      *replica.Partition
		ready  bool // replay finished
		failed bool // an append failed: reload before serving again
		// writtenEnd is the offset after the last record the shard's
		// state reflects (replayed or appended): a response may leave
		// once the high watermark reaches it.
		writtenEnd int64
		x          X
	}
}

// commitPoint is where a shard's log stood when a response was produced:
// the response may leave once p's high watermark reaches end. The zero
// value needs no wait.
type commitPoint struct {
	p   *replica.Partition
	end int64
}

// commitPointLocked returns the shard's current commit point. sh.mu held.
func commitPointLocked[S, X any](sh *coordinatorShard[S, X]) commitPoint {
	return commitPoint{p: sh.mu.p, end: sh.mu.writtenEnd}
}

// coordinatorHooks is what a coordinator adds to the shared runtime.
type coordinatorHooks[S, X any] interface {
	// newShardState returns the state kept beside a new shard.
	newShardState() X
	// replayShard builds a shard from its partition up to the high
	// watermark; img is the metadata image the load started from.
	replayShard(sh *coordinatorShard[S, X], p *replica.Partition, img *controller.Image) (S, error)
	// shardLoadedLocked runs once the shard is ready. sh.mu held.
	shardLoadedLocked(sh *coordinatorShard[S, X])
	// tickLocked lets a ready shard see time pass. sh.mu held.
	tickLocked(sh *coordinatorShard[S, X], now time.Time)
	// unloadLocked runs as the shard retires. sh.mu held.
	unloadLocked(sh *coordinatorShard[S, X])
	// imageChanged passes metadata to the ready shards after syncShards:
	// newImage when the image moved, loaded when shards were loaded
	// (their replay may have started from an older image). Calls are
	// serialized under imageMu and img never goes backwards.
	imageChanged(img *controller.Image, newImage, loaded bool)
}

// coordinatorTopic describes a coordinator's internal topic.
type coordinatorTopic struct {
	name string
	// kind names the coordinator in logs ("group coordinator").
	kind              string
	numPartitions     int32 // 0: Kafka's default of 50
	replicationFactor int16
	minInsyncReplicas int32 // 0: the broker's min.insync.replicas
	segmentBytes      int32
	tickInterval      time.Duration
	// shardTimers: the coordinator arms a timer per shard for the
	// shard's next deadline itself, so the runtime's loop only follows
	// leadership every tickInterval and does not tick the shards.
	shardTimers bool
	loadWait    time.Duration
	// appendBatch appends one batch the shard emitted to the partition.
	appendBatch func(p *replica.Partition, b records.Batch, now time.Time) (storage.AppendResult, error)
	// maxBatchRecords and maxBatchBytes split what one flush appends
	// into batches; 0 puts everything in one batch.
	maxBatchRecords int
	maxBatchBytes   int
}

type coordinatorRuntime[S, X any] struct {
	b     *Broker
	topic coordinatorTopic
	hooks coordinatorHooks[S, X]

	createMu sync.Mutex // one creation of the topic at a time

	// imageMu serializes passing metadata images to the shards and
	// loading shards, which syncShards runs from the tick and from request
	// goroutines alike. Without it a shard could finish loading from an
	// older image after a concurrent pass of a newer one had skipped it
	// (not yet ready), or an older pass could overwrite a newer one: the
	// shard then missed a topic created meanwhile (for example
	// __consumer_offsets, created on the first FindCoordinator) until
	// the next metadata change, and answered UNKNOWN_TOPIC_OR_PARTITION
	// or UNKNOWN_TOPIC_ID for it. appliedImage is the offset of the image
	// last passed.
	imageMu      sync.Mutex
	appliedImage atomic.Uint64

	// repl holds a replicationView when something other than the
	// partitions' own high watermark decides (tests: export_test.go).
	repl atomic.Value

	mu struct {
		sync.Mutex
		shards map[int32]*coordinatorShard[S, X]
		closed bool
	}
	// loaded is closed and replaced whenever shards change, so requests
	// waiting for a load wake up.
	loadedMu sync.Mutex
	loaded   chan struct{}
}

// replicationView is how the runtime learns that its writes are
// replicated: the partition's high watermark, and a wait for it. Tests
// hold it back to stand in for a follower that does not fetch.
type replicationView interface {
	highWatermark(p *replica.Partition) int64
	waitHighWatermark(ctx context.Context, p *replica.Partition, end int64, timeout time.Duration) error
}

// partitionReplication is the replicationView of the partitions themselves.
type partitionReplication struct{ replicas *replica.Manager }

func (r partitionReplication) highWatermark(p *replica.Partition) int64 { return p.HighWatermark() }

func (r partitionReplication) waitHighWatermark(ctx context.Context, p *replica.Partition, end int64, timeout time.Duration) error {
	return r.replicas.WaitForHighWatermark(ctx, p, end, timeout)
}

func (rt *coordinatorRuntime[S, X]) replication() replicationView {
	if v, ok := rt.repl.Load().(replicationView); ok {
		return v
	}
	return partitionReplication{rt.b.replicas}
}

// newShard returns an empty shard for partition at leaderEpoch, not yet
// loaded.
func (rt *coordinatorRuntime[S, X]) newShard(partition, leaderEpoch int32) *coordinatorShard[S, X] {
	sh := &coordinatorShard[S, X]{partition: partition, leaderEpoch: leaderEpoch}
	sh.ctx, sh.cancel = context.WithCancel(rt.b.ctx)
	sh.mu.x = rt.hooks.newShardState()
	return sh
}

func newCoordinatorRuntime[S, X any](b *Broker, topic coordinatorTopic, hooks coordinatorHooks[S, X]) *coordinatorRuntime[S, X] {
	rt := &coordinatorRuntime[S, X]{b: b, topic: topic, hooks: hooks, loaded: make(chan struct{})}
	rt.mu.shards = make(map[int32]*coordinatorShard[S, X])
	return rt
}

func (rt *coordinatorRuntime[S, X]) numPartitions() int32 {
	if n := rt.topic.numPartitions; n > 0 {
		return n
	}
	return 50
}

// run follows leadership of the topic, and ticks the shards unless they
// have timers of their own, until the broker stops.
func (rt *coordinatorRuntime[S, X]) run() {
	t := time.NewTicker(rt.topic.tickInterval)
	defer t.Stop()
	for {
		select {
		case <-rt.b.ctx.Done():
			return
		case <-t.C:
		}
		rt.syncShards()
		if rt.topic.shardTimers {
			continue
		}
		now := time.Now()
		rt.eachShardLocked(func(sh *coordinatorShard[S, X]) {
			if sh.mu.ready && !sh.mu.failed {
				rt.hooks.tickLocked(sh, now)
			}
		})
	}
}

func (rt *coordinatorRuntime[S, X]) shardList() []*coordinatorShard[S, X] {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	out := make([]*coordinatorShard[S, X], 0, len(rt.mu.shards))
	for _, sh := range rt.mu.shards {
		out = append(out, sh)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].partition < out[j].partition })
	return out
}

// eachShardLocked calls fn with each shard's mutex held, in partition
// order.
func (rt *coordinatorRuntime[S, X]) eachShardLocked(fn func(sh *coordinatorShard[S, X])) {
	for _, sh := range rt.shardList() {
		sh.mu.Lock()
		fn(sh)
		sh.mu.Unlock()
	}
}

// loadedShards returns the shards ready to serve, for requests that span
// every shard (ListGroups, ListTransactions).
func (rt *coordinatorRuntime[S, X]) loadedShards() []*coordinatorShard[S, X] {
	var out []*coordinatorShard[S, X]
	rt.eachShardLocked(func(sh *coordinatorShard[S, X]) {
		if sh.mu.ready && !sh.mu.failed {
			out = append(out, sh)
		}
	})
	return out
}

// syncShards loads shards for partitions newly led here, at a new leader
// epoch, or whose append failed; drops those no longer led here (or gone
// with the topic); and passes topic metadata to shards when the metadata
// image changes.
func (rt *coordinatorRuntime[S, X]) syncShards() {
	img := rt.b.ctrl.Image()
	led := make(map[int32]int32) // partition -> leader epoch, for those led here
	if t := img.Topics[rt.topic.name]; t != nil {
		for _, pi := range t.Partitions {
			if pi.Leader == rt.b.cfg.NodeID {
				led[pi.Partition] = pi.LeaderEpoch
			}
		}
	}
	rt.mu.Lock()
	if rt.mu.closed {
		rt.mu.Unlock()
		return
	}
	var toLoad []*coordinatorShard[S, X]
	changed := false
	for part, sh := range rt.mu.shards {
		if _, ok := led[part]; !ok {
			delete(rt.mu.shards, part)
			rt.unload(sh)
			changed = true
		}
	}
	for part, epoch := range led {
		sh, ok := rt.mu.shards[part]
		failed := false
		if ok {
			sh.mu.Lock()
			failed = sh.mu.failed
			sh.mu.Unlock()
		}
		if ok && sh.leaderEpoch == epoch && !failed {
			continue
		}
		if ok {
			rt.unload(sh)
			changed = true
		}
		sh = rt.newShard(part, epoch)
		rt.mu.shards[part] = sh
		toLoad = append(toLoad, sh)
	}
	rt.mu.Unlock()
	sort.Slice(toLoad, func(i, j int) bool { return toLoad[i].partition < toLoad[j].partition })

	loaded := false
	for _, sh := range toLoad {
		if err := rt.load(sh); err != nil {
			// Typically the metadata image is ahead of the local
			// partitions for a moment; the next tick retries.
			rt.b.logger.Debug("loading "+rt.topic.kind+" shard", "partition", sh.partition, "err", err)
			rt.mu.Lock()
			if rt.mu.shards[sh.partition] == sh {
				delete(rt.mu.shards, sh.partition)
			}
			rt.mu.Unlock()
			sh.cancel()
			continue
		}
		changed, loaded = true, true
	}
	rt.applyImage(loaded)
	if changed {
		rt.loadedMu.Lock()
		close(rt.loaded)
		rt.loaded = make(chan struct{})
		rt.loadedMu.Unlock()
	}
}

// applyImage passes the newest metadata image to the shards when it moved
// since the last pass or when shards were loaded.
func (rt *coordinatorRuntime[S, X]) applyImage(loaded bool) {
	if !loaded && rt.b.ctrl.Image().Offset == rt.appliedImage.Load() {
		return
	}
	rt.imageMu.Lock()
	defer rt.imageMu.Unlock()
	img := rt.b.ctrl.Image()
	newImage := img.Offset != rt.appliedImage.Load()
	rt.hooks.imageChanged(img, newImage, loaded)
	rt.appliedImage.Store(img.Offset)
}

// load replays the shard's partition and makes the shard ready. It holds
// imageMu, so the replay starts from the newest image and no pass of a
// newer one can slip between it and the shard becoming ready; syncShards
// passes the newest image to the loaded shard right after.
func (rt *coordinatorRuntime[S, X]) load(sh *coordinatorShard[S, X]) error {
	p, err := rt.b.replicas.Partition(storage.TopicPartition{Topic: rt.topic.name, Partition: sh.partition})
	if err != nil {
		return err
	}
	// The image can be ahead of the local partition for a moment: load
	// only once the partition itself leads at the shard's epoch, so the
	// log replayed is the one this shard will append to.
	if !p.IsLeader() || p.LeaderEpoch() != sh.leaderEpoch {
		return fmt.Errorf("partition not yet led here at leader epoch %d", sh.leaderEpoch)
	}
	rt.imageMu.Lock()
	defer rt.imageMu.Unlock()
	shard, err := rt.hooks.replayShard(sh, p, rt.b.ctrl.Image())
	if err != nil {
		return err
	}
	if !p.IsLeader() || p.LeaderEpoch() != sh.leaderEpoch {
		return fmt.Errorf("leadership moved while loading at leader epoch %d", sh.leaderEpoch)
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.ctx.Err() != nil {
		return errors.New("unloaded while loading")
	}
	sh.mu.shard = shard
	sh.mu.p = p
	// Replay read up to the log end offset; whatever of it lies above
	// the high watermark must be replicated before a response leaves.
	sh.mu.writtenEnd = p.Log().LogEndOffset()
	sh.mu.ready = true
	rt.hooks.shardLoadedLocked(sh)
	return nil
}

// unload retires a shard; responses waiting for its writes to replicate
// stop waiting.
func (rt *coordinatorRuntime[S, X]) unload(sh *coordinatorShard[S, X]) {
	sh.cancel()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.mu.ready = false
	rt.hooks.unloadLocked(sh)
}

// markClosed stops following leadership and returns the shards held.
func (rt *coordinatorRuntime[S, X]) markClosed() []*coordinatorShard[S, X] {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.mu.closed = true
	shards := make([]*coordinatorShard[S, X], 0, len(rt.mu.shards))
	for _, sh := range rt.mu.shards {
		shards = append(shards, sh)
	}
	return shards
}

// replayPartition calls record for every record of every data batch of p
// up to its log end offset, and control (when not nil) for every control
// batch. The leader's records above the high watermark are replayed too:
// they commit unless leadership changes, which reloads the shard.
func replayPartition(p *replica.Partition, record func(b records.Batch, r *records.Record), control func(b records.Batch)) error {
	log := p.Log()
	hw := log.LogEndOffset()
	off := log.LogStartOffset()
	for i := 0; off < hw && i < 1<<30; i++ {
		res, err := log.Read(off, 1<<20, hw, true)
		if err != nil {
			return fmt.Errorf("at %d: %w", off, err)
		}
		if len(res.Records) == 0 {
			break
		}
		batches, err := records.Split(res.Records)
		if err != nil {
			return fmt.Errorf("at %d: %w", off, err)
		}
		next := off
		for _, b := range batches {
			if b.NextOffset() <= next {
				continue
			}
			next = b.NextOffset()
			if b.IsControl() {
				if control != nil {
					control(b)
				}
				continue
			}
			base := b.BaseOffset()
			if err := b.ForEachRecord(func(r *records.Record) error {
				if base+int64(r.OffsetDelta) >= off {
					record(b, r)
				}
				return nil
			}); err != nil {
				return fmt.Errorf("batch at %d: %w", base, err)
			}
		}
		if next <= off {
			break
		}
		off = next
	}
	return nil
}

// appendLocked appends what a shard emitted, without waiting for
// replication, and moves the shard's writtenEnd past it. On failure the
// shard is marked for a reload from the log, undoing the state the
// records described (the log holds only the batches whose append
// succeeded). sh.mu held.
func (rt *coordinatorRuntime[S, X]) appendLocked(sh *coordinatorShard[S, X], recs []coordinator.Record) error {
	if len(recs) == 0 {
		return nil
	}
	if err := rt.appendRecords(sh, recs); err != nil {
		rt.b.logger.Warn("writing to "+rt.topic.name+" failed; reloading the shard", "partition", sh.partition, "err", err)
		sh.mu.failed = true
		return err
	}
	return nil
}

func (rt *coordinatorRuntime[S, X]) appendRecords(sh *coordinatorShard[S, X], recs []coordinator.Record) error {
	p := sh.mu.p
	// Coordinators write with acks=all, so min.insync.replicas guards
	// them as it guards a producer (Kafka's CoordinatorPartitionWriter).
	if err := p.CheckEnoughReplicas(); err != nil {
		return err
	}
	now := time.Now()
	ts := now.UnixMilli()
	for len(recs) > 0 {
		n, size := 0, 0
		for n < len(recs) && rt.fitsBatch(n, size, recs[n]) {
			size += len(recs[n].Key) + len(recs[n].Value) + 16
			n++
		}
		out := make([]records.Record, n)
		for i := 0; i < n; i++ {
			out[i] = records.Record{OffsetDelta: int32(i), Key: recs[i].Key, Value: recs[i].Value}
		}
		batch, err := records.Build(records.BatchHeader{
			BaseTimestamp: ts, MaxTimestamp: ts,
			ProducerID: records.NoProducerID, ProducerEpoch: -1, BaseSequence: -1,
		}, records.CodecNone, out)
		if err != nil {
			return err
		}
		res, err := rt.topic.appendBatch(p, batch, now)
		if err != nil {
			return err
		}
		if end := res.LastOffset + 1; end > sh.mu.writtenEnd {
			sh.mu.writtenEnd = end
		}
		recs = recs[n:]
	}
	return nil
}

// waitCommitted waits, without the shard's lock, until the high watermark
// reaches at (every ISR member holds what the response depends on) or
// offsets.commit.timeout.ms passes (REQUEST_TIMED_OUT). A shard unloaded
// meanwhile, or a partition whose leader epoch moved, answers
// NOT_COORDINATOR: the records may have been truncated and a high
// watermark reached under a newer epoch says nothing of them.
func (rt *coordinatorRuntime[S, X]) waitCommitted(sh *coordinatorShard[S, X], at commitPoint) error {
	if at.p == nil {
		return nil
	}
	repl := rt.replication()
	if repl.highWatermark(at.p) < at.end {
		if err := repl.waitHighWatermark(sh.ctx, at.p, at.end, rt.commitTimeout()); err != nil {
			if sh.ctx.Err() != nil {
				return kerr.NotCoordinator
			}
			return err
		}
	}
	if sh.ctx.Err() != nil || !at.p.IsLeader() || at.p.LeaderEpoch() != sh.leaderEpoch {
		return kerr.NotCoordinator
	}
	return nil
}

// fitsBatch reports whether r joins a batch holding n records of size
// bytes; a batch always takes its first record.
func (rt *coordinatorRuntime[S, X]) fitsBatch(n, size int, r coordinator.Record) bool {
	if n == 0 {
		return true
	}
	if max := rt.topic.maxBatchRecords; max > 0 && n >= max {
		return false
	}
	if max := rt.topic.maxBatchBytes; max > 0 && size+len(r.Key)+len(r.Value) >= max {
		return false
	}
	return true
}

func (rt *coordinatorRuntime[S, X]) commitTimeout() time.Duration {
	if ms := rt.b.cfg.OffsetsCommitTimeoutMs; ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	return 5 * time.Second
}

// errTooFewBrokers: fewer brokers are registered and unfenced than the
// internal topic's replication factor.
var errTooFewBrokers = errors.New("too few brokers for the replication factor")

// ensureTopic creates the topic on first need, as Kafka's auto-creation
// does: the configured number of partitions, compacted, with the
// configured replication factor (and min.insync.replicas, for
// __transaction_state). Kafka creates it only once that many brokers are
// registered (KIP-115 dropped the old cap at the live brokers, which left
// a cluster's offsets on one replica for good when it started a broker at
// a time); until then the coordinator is not available.
func (rt *coordinatorRuntime[S, X]) ensureTopic(ctx context.Context) error {
	name := rt.topic.name
	if _, ok := rt.b.ctrl.Image().Topics[name]; ok {
		return nil
	}
	rt.createMu.Lock()
	defer rt.createMu.Unlock()
	img := rt.b.ctrl.Image()
	if _, ok := img.Topics[name]; ok {
		return nil
	}
	rf := max(rt.topic.replicationFactor, 1)
	if live := len(img.UnfencedBrokerIDs()); live < int(rf) {
		return fmt.Errorf("%w: %s needs %d, %d registered", errTooFewBrokers, name, rf, live)
	}
	configs := map[string]string{"cleanup.policy": "compact", "compression.type": "producer"}
	if sb := rt.topic.segmentBytes; sb > 0 {
		configs["segment.bytes"] = strconv.Itoa(int(sb))
	}
	if n := rt.topic.minInsyncReplicas; n > 0 {
		configs["min.insync.replicas"] = strconv.Itoa(int(n))
	}
	res := rt.b.createTopics(ctx, []controller.TopicSpec{{
		Name: name, NumPartitions: rt.numPartitions(), ReplicationFactor: rf, Configs: configs,
	}})
	if len(res) == 1 && res[0].Err != nil && !errors.Is(res[0].Err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("creating %s: %w", name, res[0].Err)
	}
	rt.b.waitApplied(ctx, rt.b.ctrl.Image().Offset)
	rt.syncShards()
	return nil
}

// coordinatorFor answers FindCoordinator for key: the leader of the key's
// partition of the topic.
func (rt *coordinatorRuntime[S, X]) coordinatorFor(ctx context.Context, listener, key string) (int32, string, int32, *kerr.Error) {
	if err := rt.ensureTopic(ctx); err != nil {
		if errors.Is(err, errTooFewBrokers) {
			// Expected while a cluster starts a broker at a time.
			rt.b.logger.Debug(rt.topic.kind+" unavailable", "err", err)
		} else {
			rt.b.logger.Warn(rt.topic.kind+" unavailable", "err", err)
		}
		return -1, "", -1, kerr.CoordinatorNotAvailable
	}
	img := rt.b.ctrl.Image()
	t := img.Topics[rt.topic.name]
	if t == nil {
		return -1, "", -1, kerr.CoordinatorNotAvailable
	}
	pi, ok := t.Partition(coordinator.PartitionFor(key, int32(len(t.Partitions))))
	if !ok || pi.Leader < 0 {
		return -1, "", -1, kerr.CoordinatorNotAvailable
	}
	if pi.Leader == rt.b.cfg.NodeID {
		host, port := rt.b.selfEndpoint(listener)
		return pi.Leader, host, port, nil
	}
	// A fenced leader is not alive for clients (Metadata no longer
	// lists it): Kafka's FindCoordinator answers COORDINATOR_NOT_AVAILABLE
	// until the partition has a live leader.
	br, ok := img.Brokers[pi.Leader]
	if !ok || br.Fenced {
		return -1, "", -1, kerr.CoordinatorNotAvailable
	}
	ep, ok := endpointFor(br, listener)
	if !ok {
		return -1, "", -1, kerr.CoordinatorNotAvailable
	}
	return pi.Leader, ep.Host, ep.Port, nil
}

// shardForKey returns the loaded shard that owns key, waiting briefly for
// a load in progress; otherwise the Kafka error the client should see.
func (rt *coordinatorRuntime[S, X]) shardForKey(ctx context.Context, key string) (*coordinatorShard[S, X], *kerr.Error) {
	if err := rt.ensureTopic(ctx); err != nil {
		return nil, kerr.CoordinatorNotAvailable
	}
	// A request must see the metadata its client already saw: a topic
	// created a moment ago is known to the shards before the request is
	// stepped, rather than at the next tick (UNKNOWN_TOPIC_ID otherwise).
	if rt.b.ctrl.Image().Offset != rt.appliedImage.Load() {
		rt.syncShards()
	}
	t := rt.b.ctrl.Image().Topics[rt.topic.name]
	if t == nil {
		return nil, kerr.CoordinatorNotAvailable
	}
	part := coordinator.PartitionFor(key, int32(len(t.Partitions)))
	pi, ok := t.Partition(part)
	if !ok || pi.Leader != rt.b.cfg.NodeID {
		return nil, kerr.NotCoordinator
	}
	deadline := time.NewTimer(rt.topic.loadWait)
	defer deadline.Stop()
	for {
		rt.loadedMu.Lock()
		wake := rt.loaded
		rt.loadedMu.Unlock()
		rt.mu.Lock()
		sh, ok := rt.mu.shards[part]
		closed := rt.mu.closed
		rt.mu.Unlock()
		if closed {
			return nil, kerr.NotCoordinator
		}
		if ok {
			sh.mu.Lock()
			ready := sh.mu.ready && !sh.mu.failed
			sh.mu.Unlock()
			if ready {
				return sh, nil
			}
		}
		select {
		case <-wake:
		case <-deadline.C:
			return nil, kerr.CoordinatorLoadInProgress
		case <-ctx.Done():
			return nil, kerr.CoordinatorLoadInProgress
		}
	}
}

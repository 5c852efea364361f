package server

// The group coordinator on the coordinator runtime (coordinator_runtime.go):
// one coordinator.Shard per partition of __consumer_offsets led by this
// broker. A request is stepped into its shard, the records the shard emits
// are appended to the partition, and only then are the responses that
// depend on them released; a request the shard answers later (JoinGroup,
// SyncGroup) is parked under a token until it does. Session, rebalance and
// retention timeouts fire from one timer per shard, armed for the shard's
// next deadline whenever the shard has been stepped (Kafka's coordinator
// timers are precise to the millisecond; a periodic tick made sessions
// expire up to a tick late).
//
// Lock order: coordinatorRuntime.mu, then groupShard.mu, then the
// partition's own locks (taken inside replica and storage).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/controller"
	"github.com/riffle-io/riffle/coordinator"
	"github.com/riffle-io/riffle/protocol/records"
	"github.com/riffle-io/riffle/replica"
	"github.com/riffle-io/riffle/storage"
)

const offsetsTopic = "__consumer_offsets"

const (
	// groupTickInterval is how often the runtime looks for leadership
	// changes of __consumer_offsets partitions. Timers do not depend
	// on it (armTimerLocked).
	groupTickInterval = 25 * time.Millisecond
	// groupTimerFloor is the shortest wait armTimerLocked arms after a
	// tick: a deadline a tick did not consume must not make the timer
	// spin.
	groupTimerFloor = time.Millisecond
	// groupLoadWait bounds how long a request waits for its shard to
	// finish loading before it answers COORDINATOR_LOAD_IN_PROGRESS.
	groupLoadWait = 5 * time.Second
	// syncGroupWait bounds a parked SyncGroup; the shard itself answers
	// it within the group's rebalance timeout.
	syncGroupWait = 10 * time.Minute
	// recordsPerBatch keeps each appended batch well under
	// max.message.bytes.
	recordsPerBatch = 200
	maxBatchBytes   = 512 << 10
)

// groupAnswer is a response released by a group shard and the commit point
// it waits for; a nil resp means NOT_COORDINATOR.
type groupAnswer struct {
	resp kmsg.Response
	at   commitPoint
}

// groupWaiter is a request parked on a group shard. Its response waits for
// the writes of its group only (all: of the whole shard, for requests that
// span groups).
type groupWaiter struct {
	ch    chan groupAnswer
	group string
	all   bool
}

// groupShardState is kept beside each group shard, under its mutex: the
// requests parked on it, by token, and how far each group's writes go.
type groupShardState struct {
	waiters map[uint64]groupWaiter
	// groupEnd is the offset after the last write of each group; a
	// group's responses wait for the high watermark to reach it (and
	// sharedEnd), so a slow follower holds back the answers of the
	// groups that wrote, not of every group of the shard. Entries the
	// high watermark has passed are pruned.
	groupEnd map[string]int64
	// sharedEnd is the offset every group's responses wait for: the
	// log end at load, and transaction markers, which settle the
	// pending offsets of whichever groups the producer committed to.
	sharedEnd int64
	// timer fires at timerAt, the shard's next deadline; nil until
	// the shard first has one.
	timer   *time.Timer
	timerAt time.Time
}

// groupShard is one shard and the requests waiting on it.
type groupShard = coordinatorShard[*coordinator.Shard, groupShardState]

type groupRuntime struct {
	*coordinatorRuntime[*coordinator.Shard, groupShardState]
	cfg    coordinator.Config
	tokens atomic.Uint64
}

func newGroupRuntime(b *Broker) *groupRuntime {
	c := b.cfg
	cfg := coordinator.Config{
		InitialRebalanceDelay:     time.Duration(c.GroupInitialRebalanceDelayMs) * time.Millisecond,
		MinSessionTimeout:         time.Duration(c.GroupMinSessionTimeoutMs) * time.Millisecond,
		MaxSessionTimeout:         time.Duration(c.GroupMaxSessionTimeoutMs) * time.Millisecond,
		MaxSize:                   int(c.GroupMaxSize),
		OffsetMetadataMaxSize:     int(c.OffsetMetadataMaxBytes),
		OffsetsRetention:          time.Duration(c.OffsetsRetentionMinutes) * time.Minute,
		RetentionCheck:            time.Duration(c.OffsetsRetentionCheckIntervalMs) * time.Millisecond,
		ConsumerSessionTimeout:    time.Duration(c.GroupConsumerSessionTimeoutMs) * time.Millisecond,
		ConsumerHeartbeatInterval: time.Duration(c.GroupConsumerHeartbeatIntervalMs) * time.Millisecond,
		ConsumerMaxSize:           int(c.GroupConsumerMaxSize),
		ConsumerAssignors:         c.GroupConsumerAssignors,
	}
	for _, p := range c.GroupCoordinatorRebalanceProtocols {
		if p == "consumer" {
			cfg.ConsumerProtocolEnabled = true
		}
	}
	if cfg.OffsetMetadataMaxSize <= 0 {
		cfg.OffsetMetadataMaxSize = 4096
	}
	rt := &groupRuntime{cfg: cfg}
	rt.coordinatorRuntime = newCoordinatorRuntime(b, coordinatorTopic{
		name:              offsetsTopic,
		kind:              "group coordinator",
		numPartitions:     c.OffsetsTopicNumPartitions,
		replicationFactor: c.OffsetsTopicReplicationFactor,
		segmentBytes:      c.OffsetsTopicSegmentBytes,
		tickInterval:      groupTickInterval,
		shardTimers:       true,
		loadWait:          groupLoadWait,
		// Group records go through the leader's produce validation, so
		// max.message.bytes applies (see appendErrorCode).
		appendBatch: func(p *replica.Partition, b records.Batch, now time.Time) (storage.AppendResult, error) {
			return p.AppendRecordsToLeader(b, now)
		},
		maxBatchRecords: recordsPerBatch,
		maxBatchBytes:   maxBatchBytes,
	}, coordinatorHooks[*coordinator.Shard, groupShardState](rt))
	return rt
}

func (rt *groupRuntime) newShardState() groupShardState {
	return groupShardState{waiters: make(map[uint64]groupWaiter), groupEnd: make(map[string]int64)}
}

// tickLocked passes session, rebalance and retention timers. sh.mu held.
func (rt *groupRuntime) tickLocked(sh *groupShard, now time.Time) {
	sh.mu.shard.Tick(now)
	rt.flushLocked(sh)
}

// armTimerLocked points the shard's timer at its next deadline, or stops it
// when there is none. Every step of the shard ends in flushLocked, which
// calls it, so a deadline a step set or moved is always armed; a timer that
// fires early (the deadline moved later) only ticks once more. notBefore is
// the earliest the timer may fire (zero: any time). sh.mu held.
func (rt *groupRuntime) armTimerLocked(sh *groupShard, notBefore time.Time) {
	x := &sh.mu.x
	next, ok := sh.mu.shard.NextDeadline()
	if !ok || !sh.mu.ready || sh.mu.failed {
		if x.timer != nil {
			x.timer.Stop()
		}
		x.timerAt = time.Time{}
		return
	}
	if next.Before(notBefore) {
		next = notBefore
	}
	if x.timer != nil && x.timerAt.Equal(next) {
		return
	}
	x.timerAt = next
	d := time.Until(next)
	if x.timer == nil {
		x.timer = time.AfterFunc(d, func() { rt.fireTimer(sh) })
		return
	}
	x.timer.Reset(d)
}

// fireTimer ticks the shard when its timer fires, and arms the next one.
func (rt *groupRuntime) fireTimer(sh *groupShard) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if !sh.mu.ready || sh.mu.failed {
		return
	}
	now := time.Now()
	sh.mu.x.timerAt = time.Time{}
	sh.mu.shard.Tick(now)
	rt.flushLockedAfter(sh, now.Add(groupTimerFloor))
}

// imageChanged passes topic metadata to the ready shards when the image
// moved or shards were loaded.
func (rt *groupRuntime) imageChanged(img *controller.Image, newImage, loaded bool) {
	if !newImage && !loaded {
		return
	}
	topics := topicInfos(img)
	now := time.Now()
	rt.eachShardLocked(func(sh *groupShard) {
		if sh.mu.ready && !sh.mu.failed {
			sh.mu.shard.SetTopics(now, topics)
			rt.flushLocked(sh)
		}
	})
}

func topicInfos(img *controller.Image) map[string]coordinator.TopicInfo {
	out := make(map[string]coordinator.TopicInfo, len(img.Topics))
	for name, t := range img.Topics {
		out[name] = coordinator.TopicInfo{ID: t.ID, Partitions: int32(len(t.Partitions))}
	}
	return out
}

// replayShard replays the shard's partition up to its high watermark.
func (rt *groupRuntime) replayShard(sh *groupShard, p *replica.Partition, _ *controller.Image) (*coordinator.Shard, error) {
	shard := coordinator.NewShard(rt.cfg)
	bad := 0
	err := replayPartition(p, func(b records.Batch, r *records.Record) {
		var err error
		if b.IsTransactional() {
			err = shard.ReplayTxnOffset(b.ProducerID(), r.Key, r.Value)
		} else {
			err = shard.Replay(r.Key, r.Value)
		}
		if err != nil {
			bad++
		}
	}, func(b records.Batch) {
		if b.IsTransactional() {
			// A transaction marker: pending transactional offset
			// commits become visible or are dropped.
			shard.CompleteTxn(b.ProducerID(), controlIsCommit(b))
		}
	})
	if err != nil {
		return nil, fmt.Errorf("replaying %s-%d: %w", offsetsTopic, sh.partition, err)
	}
	if bad > 0 {
		rt.b.logger.Warn("skipped malformed records while loading group coordinator shard", "partition", sh.partition, "records", bad)
	}
	now := time.Now()
	shard.LoadComplete(now)
	// The shard knows the current topics before it serves its first
	// request (a commit by topic ID right after the topic was created).
	shard.SetTopics(now, topicInfos(rt.b.ctrl.Image()))
	return shard, nil
}

func (rt *groupRuntime) shardLoadedLocked(sh *groupShard) {
	// What replay read above the high watermark is every group's.
	sh.mu.x.sharedEnd = sh.mu.writtenEnd
	rt.b.logger.Debug("group coordinator shard loaded", "partition", sh.partition, "groups", sh.mu.shard.GroupCount())
	rt.flushLocked(sh) // records SetTopics may have emitted while loading
}

// unloadLocked answers the shard's parked requests NOT_COORDINATOR so that
// their clients look the coordinator up again. sh.mu held.
func (rt *groupRuntime) unloadLocked(sh *groupShard) {
	if sh.mu.x.timer != nil {
		sh.mu.x.timer.Stop()
	}
	for token, w := range sh.mu.x.waiters {
		w.ch <- groupAnswer{} // the waiter turns nil into NOT_COORDINATOR
		delete(sh.mu.x.waiters, token)
	}
}

// close answers every parked request so that connections drain at shutdown.
func (rt *groupRuntime) close() {
	for _, sh := range rt.markClosed() {
		rt.unload(sh)
	}
}

// flushLocked appends what the shard emitted, then hands its responses to
// their waiters, which send them once the high watermark passes the
// shard's writes (groupRuntime.await), without the shard's lock. If the
// append fails the responses carry an error instead and the shard is
// reloaded from the log, undoing the state the records described.
func (rt *groupRuntime) flushLocked(sh *groupShard) {
	rt.flushLockedAfter(sh, time.Time{})
}

// flushLockedAfter is flushLocked arming the shard's next timer no earlier
// than notBefore.
func (rt *groupRuntime) flushLockedAfter(sh *groupShard, notBefore time.Time) {
	rd := sh.mu.shard.Ready()
	err := rt.appendLocked(sh, rd.Records)
	if err != nil {
		code := appendErrorCode(err)
		for _, r := range rd.Responses {
			coordinator.FailResponse(r.Resp, code)
		}
	} else {
		rt.noteWritesLocked(sh, rd.Records)
	}
	for _, r := range rd.Responses {
		if w, ok := sh.mu.x.waiters[r.Token]; ok {
			a := groupAnswer{resp: r.Resp}
			if err == nil {
				a.at = rt.commitPointLocked(sh, w)
			}
			w.ch <- a
			delete(sh.mu.x.waiters, r.Token)
		}
	}
	if sh.mu.failed {
		for token, w := range sh.mu.x.waiters {
			w.ch <- groupAnswer{}
			delete(sh.mu.x.waiters, token)
		}
	}
	rt.armTimerLocked(sh, notBefore)
}

// noteWritesLocked records how far each group's writes now go. Every
// record of a flush is noted at the flush's end, which is where the
// shard's writtenEnd stands. sh.mu held.
func (rt *groupRuntime) noteWritesLocked(sh *groupShard, recs []coordinator.Record) {
	if len(recs) == 0 {
		return
	}
	x := &sh.mu.x
	end := sh.mu.writtenEnd
	for _, r := range recs {
		if g, ok := coordinator.RecordGroup(r.Key); ok {
			x.groupEnd[g] = end
		} else {
			x.sharedEnd = end
		}
	}
	if len(x.groupEnd) > groupEndPruneAt {
		hw := rt.replication().highWatermark(sh.mu.p)
		for g, e := range x.groupEnd {
			if e <= hw {
				delete(x.groupEnd, g)
			}
		}
	}
}

// groupEndPruneAt is the number of groups with noted writes above which
// those the high watermark has passed are forgotten.
const groupEndPruneAt = 1024

// commitPointLocked is where w's response may leave: once the high
// watermark passes the writes of w's group (of every group for a request
// spanning them) and the writes every group waits for. sh.mu held.
func (rt *groupRuntime) commitPointLocked(sh *groupShard, w groupWaiter) commitPoint {
	at := commitPointLocked(sh)
	if w.all {
		return at
	}
	at.end = sh.mu.x.sharedEnd
	if e, ok := sh.mu.x.groupEnd[w.group]; ok && e > at.end {
		at.end = e
	}
	return at
}

// appendErrorCode maps a failed write to __consumer_offsets to what the
// client is told, as Kafka's appendGroupMetadataErrorToResponseError does.
func appendErrorCode(err error) int16 {
	err = kafkaError(err)
	switch {
	case errors.Is(err, kerr.UnknownTopicOrPartition), errors.Is(err, kerr.NotEnoughReplicas), errors.Is(err, kerr.RequestTimedOut):
		return kerr.CoordinatorNotAvailable.Code
	case errors.Is(err, kerr.MessageTooLarge), errors.Is(err, kerr.RecordListTooLarge):
		return kerr.UnknownServerError.Code
	default:
		return kerr.NotCoordinator.Code
	}
}

// ensureOffsetsTopic creates __consumer_offsets on first need, with
// offsets.topic.num.partitions partitions, a replication factor of
// offsets.topic.replication.factor once that many brokers are registered,
// and cleanup.policy=compact, as Kafka's auto-creation does.
func (rt *groupRuntime) ensureOffsetsTopic(ctx context.Context) error {
	return rt.ensureTopic(ctx)
}

// shardFor returns the loaded shard that owns group, waiting briefly for a
// load in progress; otherwise the Kafka error the client should see.
func (rt *groupRuntime) shardFor(ctx context.Context, group string) (*groupShard, int16) {
	sh, kerrv := rt.shardForKey(ctx, group)
	if kerrv != nil {
		return nil, kerrv.Code
	}
	return sh, 0
}

// handle steps req into the shard of group and waits, at most wait, for
// its response.
func (rt *groupRuntime) handle(ctx context.Context, rc *requestContext, group string, req kmsg.Request, wait time.Duration) (kmsg.Response, error) {
	failed := func(code int16) kmsg.Response { return failedResponse(req, code) }
	sh, code := rt.shardFor(ctx, group)
	if code != 0 {
		return failed(code), nil
	}
	token := rt.tokens.Add(1)
	ch := make(chan groupAnswer, 1)
	sh.mu.Lock()
	if !sh.mu.ready || sh.mu.failed {
		sh.mu.Unlock()
		return failed(kerr.NotCoordinator.Code), nil
	}
	sh.mu.x.waiters[token] = groupWaiter{ch: ch, group: group}
	sh.mu.shard.Step(time.Now(), token, rt.client(rc), req)
	rt.flushLocked(sh)
	sh.mu.Unlock()

	// Waiting for the group (a rebalance) and for replication is not
	// request time for request_percentage quotas (quotas.go): Kafka's
	// coordinator answers asynchronously, off its request threads.
	waitStart := time.Now()
	defer func() { rc.waited += time.Since(waitStart) }()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case a := <-ch:
		if a.resp == nil {
			return failed(kerr.NotCoordinator.Code), nil
		}
		return rt.await(sh, a), nil
	case <-timer.C:
		rt.forget(sh, token)
		return failed(kerr.RebalanceInProgress.Code), nil
	case <-ctx.Done():
		rt.forget(sh, token)
		return nil, ctx.Err()
	}
}

// await returns a's response once the high watermark passes what it
// depends on, or the response failed with the error Kafka's group
// coordinator answers for a write that did not replicate
// (COORDINATOR_NOT_AVAILABLE on a timeout, NOT_COORDINATOR when
// leadership moved).
func (rt *groupRuntime) await(sh *groupShard, a groupAnswer) kmsg.Response {
	if err := rt.waitCommitted(sh, a.at); err != nil {
		coordinator.FailResponse(a.resp, appendErrorCode(err))
	}
	return a.resp
}

func (rt *groupRuntime) forget(sh *groupShard, token uint64) {
	sh.mu.Lock()
	delete(sh.mu.x.waiters, token)
	sh.mu.Unlock()
}

func (rt *groupRuntime) client(rc *requestContext) coordinator.Client {
	c := coordinator.Client{Host: "/"}
	if rc.header.ClientID != nil {
		c.ID = *rc.header.ClientID
	}
	if rc.conn != nil && rc.conn.nc != nil {
		if host, _, err := net.SplitHostPort(rc.conn.nc.RemoteAddr().String()); err == nil {
			c.Host = "/" + host
		}
	}
	return c
}

// stepAll steps req into every loaded shard and collects the responses.
func (rt *groupRuntime) stepAll(rc *requestContext, req kmsg.Request) []kmsg.Response {
	var out []kmsg.Response
	for _, sh := range rt.loadedShards() {
		token := rt.tokens.Add(1)
		ch := make(chan groupAnswer, 1)
		sh.mu.Lock()
		if !sh.mu.ready || sh.mu.failed {
			sh.mu.Unlock()
			continue
		}
		sh.mu.x.waiters[token] = groupWaiter{ch: ch, all: true}
		sh.mu.shard.Step(time.Now(), token, rt.client(rc), req)
		rt.flushLocked(sh)
		delete(sh.mu.x.waiters, token)
		sh.mu.Unlock()
		select {
		case a := <-ch:
			if a.resp != nil {
				out = append(out, rt.await(sh, a))
			}
		default:
		}
	}
	return out
}

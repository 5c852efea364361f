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

// groupShardState is kept beside each group shard, under its mutex: the
// requests parked on it, by token.
type groupShardState struct {
	waiters map[uint64]chan kmsg.Response
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
	return groupShardState{waiters: make(map[uint64]chan kmsg.Response)}
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
	rt.b.logger.Debug("group coordinator shard loaded", "partition", sh.partition, "groups", sh.mu.shard.GroupCount())
	rt.flushLocked(sh) // records SetTopics may have emitted while loading
}

// unloadLocked answers the shard's parked requests NOT_COORDINATOR so that
// their clients look the coordinator up again. sh.mu held.
func (rt *groupRuntime) unloadLocked(sh *groupShard) {
	if sh.mu.x.timer != nil {
		sh.mu.x.timer.Stop()
	}
	for token, ch := range sh.mu.x.waiters {
		ch <- nil // the waiter turns nil into code
		delete(sh.mu.x.waiters, token)
	}
}

// close answers every parked request so that connections drain at shutdown.
func (rt *groupRuntime) close() {
	for _, sh := range rt.markClosed() {
		rt.unload(sh)
	}
}

// flushLocked appends what the shard emitted, then releases its responses.
// If the append fails the responses carry an error instead and the shard
// is reloaded from the log, undoing the state the records described.
func (rt *groupRuntime) flushLocked(sh *groupShard) {
	rt.flushLockedAfter(sh, time.Time{})
}

// flushLockedAfter is flushLocked arming the shard's next timer no earlier
// than notBefore.
func (rt *groupRuntime) flushLockedAfter(sh *groupShard, notBefore time.Time) {
	rd := sh.mu.shard.Ready()
	if err := rt.appendLocked(sh, rd.Records); err != nil {
		code := appendErrorCode(err)
		for _, r := range rd.Responses {
			coordinator.FailResponse(r.Resp, code)
		}
	}
	for _, r := range rd.Responses {
		if ch, ok := sh.mu.x.waiters[r.Token]; ok {
			ch <- r.Resp
			delete(sh.mu.x.waiters, r.Token)
		}
	}
	if sh.mu.failed {
		for token, ch := range sh.mu.x.waiters {
			ch <- nil
			delete(sh.mu.x.waiters, token)
		}
	}
	rt.armTimerLocked(sh, notBefore)
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
// offsets.topic.replication.factor capped at the live brokers, and
// cleanup.policy=compact, as Kafka's auto-creation does.
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
	ch := make(chan kmsg.Response, 1)
	sh.mu.Lock()
	if !sh.mu.ready || sh.mu.failed {
		sh.mu.Unlock()
		return failed(kerr.NotCoordinator.Code), nil
	}
	sh.mu.x.waiters[token] = ch
	sh.mu.shard.Step(time.Now(), token, rt.client(rc), req)
	rt.flushLocked(sh)
	sh.mu.Unlock()

	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case resp := <-ch:
		if resp == nil {
			return failed(kerr.NotCoordinator.Code), nil
		}
		return resp, nil
	case <-timer.C:
		rt.forget(sh, token)
		return failed(kerr.RebalanceInProgress.Code), nil
	case <-ctx.Done():
		rt.forget(sh, token)
		return nil, ctx.Err()
	}
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
		ch := make(chan kmsg.Response, 1)
		sh.mu.Lock()
		if !sh.mu.ready || sh.mu.failed {
			sh.mu.Unlock()
			continue
		}
		sh.mu.x.waiters[token] = ch
		sh.mu.shard.Step(time.Now(), token, rt.client(rc), req)
		rt.flushLocked(sh)
		delete(sh.mu.x.waiters, token)
		sh.mu.Unlock()
		select {
		case resp := <-ch:
			if resp != nil {
				out = append(out, resp)
			}
		default:
		}
	}
	return out
}

package replica

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/storage"
)

// replCluster is several Managers in one process, each with its own logs,
// fetching from each other over LocalEndpoint, with a fake controller that
// applies AlterPartition as Kafka's does (partition epoch checks, then the
// new state published to every replica).
type replCluster struct {
	t        *testing.T
	tp       storage.TopicPartition
	managers map[int32]*Manager

	mu     sync.Mutex
	st     PartitionState
	cut    map[int32]bool // followers whose fetches fail
	fenced map[int32]bool // followers not eligible for the ISR
	alters int
	minIsr int
	lagMax time.Duration
}

// newReplCluster starts managers ids, the first leading the partition
// with every replica in the ISR; lagMax is replica.lag.time.max.ms.
func newReplCluster(t *testing.T, ids []int32, minIsr int, lagMax time.Duration) *replCluster {
	t.Helper()
	c := &replCluster{
		t: t, tp: storage.TopicPartition{Topic: "r", Partition: 0}, managers: make(map[int32]*Manager),
		cut: make(map[int32]bool), fenced: make(map[int32]bool), minIsr: minIsr, lagMax: lagMax,
	}
	for _, id := range ids {
		logs, err := storage.NewLogManager([]string{t.TempDir()}, storage.LogConfig{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		m := NewManager(id, logs, nil, Options{
			AlterPartition: func(ctx context.Context, req *kmsg.AlterPartitionRequest) (*kmsg.AlterPartitionResponse, error) {
				return c.alterPartition(req)
			},
			BrokerEpoch: func() int64 { return int64(100 + id) },
			IsrEligible: func(f int32, epoch int64) bool {
				c.mu.Lock()
				defer c.mu.Unlock()
				return !c.fenced[f] && (epoch < 0 || epoch == int64(100+f))
			},
			Endpoint:          func(leader int32) (LeaderEndpoint, error) { return &cutEndpoint{c: c, from: id, to: leader}, nil },
			ReplicaLagTimeMax: c.lagMax,
			Fetch:             FetcherConfig{MaxWait: 50 * time.Millisecond, Backoff: 20 * time.Millisecond, MaxBytes: 64 << 10},
		})
		c.managers[id] = m
		t.Cleanup(func() {
			m.Close()
			_ = logs.Shutdown()
		})
	}
	c.st = PartitionState{
		TopicID: [16]byte{7}, Leader: ids[0], LeaderEpoch: 0, PartitionEpoch: 0,
		ISR: slices.Clone(ids), Replicas: slices.Clone(ids), LogConfig: storage.LogConfig{CleanupDelete: true},
		Config: PartitionConfig{MaxMessageBytes: 1 << 20, TimestampBeforeMaxMs: math.MaxInt64, TimestampAfterMaxMs: math.MaxInt64, MinInsyncReplicas: minIsr},
	}
	c.publish()
	return c
}

// publish applies the controller's state to every replica (the image).
func (c *replCluster) publish() {
	c.mu.Lock()
	st := c.st
	st.ISR, st.Replicas = slices.Clone(st.ISR), slices.Clone(st.Replicas)
	c.mu.Unlock()
	for _, m := range c.managers {
		if err := m.ApplyPartitionState(c.tp, st); err != nil {
			c.t.Error(err)
		}
	}
}

// setLeader makes leader the leader in a new epoch with isr.
func (c *replCluster) setLeader(leader int32, isr []int32) {
	c.mu.Lock()
	c.st.Leader = leader
	c.st.LeaderEpoch++
	c.st.PartitionEpoch++
	c.st.ISR = slices.Clone(isr)
	c.mu.Unlock()
	c.publish()
}

func (c *replCluster) alterPartition(req *kmsg.AlterPartitionRequest) (*kmsg.AlterPartitionResponse, error) {
	resp := req.ResponseKind().(*kmsg.AlterPartitionResponse)
	rp := req.Topics[0].Partitions[0]
	out := kmsg.NewAlterPartitionResponseTopicPartition()
	out.Partition = rp.Partition
	c.mu.Lock()
	switch {
	case req.BrokerID != c.st.Leader || rp.LeaderEpoch != c.st.LeaderEpoch:
		out.ErrorCode = kerr.FencedLeaderEpoch.Code
	case rp.PartitionEpoch != c.st.PartitionEpoch:
		out.ErrorCode = kerr.InvalidUpdateVersion.Code
	default:
		var isr []int32
		for _, e := range rp.NewEpochISR {
			isr = append(isr, e.BrokerID)
		}
		c.st.ISR = isr
		c.st.PartitionEpoch++
		c.alters++
	}
	out.LeaderID, out.LeaderEpoch, out.PartitionEpoch, out.ISR = c.st.Leader, c.st.LeaderEpoch, c.st.PartitionEpoch, slices.Clone(c.st.ISR)
	ok := out.ErrorCode == 0
	c.mu.Unlock()
	if ok {
		c.publish()
	}
	rt := kmsg.NewAlterPartitionResponseTopic()
	rt.TopidID = req.Topics[0].TopicID
	rt.Partitions = append(rt.Partitions, out)
	resp.Topics = append(resp.Topics, rt)
	return resp, nil
}

func (c *replCluster) setCut(id int32, cut bool) {
	c.mu.Lock()
	c.cut[id] = cut
	c.mu.Unlock()
}

func (c *replCluster) isCut(id int32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cut[id]
}

func (c *replCluster) part(id int32) *Partition {
	p, err := c.managers[id].Partition(c.tp)
	if err != nil {
		c.t.Fatal(err)
	}
	return p
}

func (c *replCluster) controllerISR() []int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.st.ISR)
}

// cutEndpoint is LocalEndpoint with a switch that fails a follower's
// requests, as a network cut would.
type cutEndpoint struct {
	c        *replCluster
	from, to int32
}

var errCut = errors.New("connection refused (cut)")

func (e *cutEndpoint) Fetch(ctx context.Context, req *kmsg.FetchRequest) (*kmsg.FetchResponse, error) {
	if e.c.isCut(e.from) {
		return nil, errCut
	}
	return LocalEndpoint{Leader: e.c.managers[e.to]}.Fetch(ctx, req)
}

func (e *cutEndpoint) ListOffsets(ctx context.Context, req *kmsg.ListOffsetsRequest) (*kmsg.ListOffsetsResponse, error) {
	if e.c.isCut(e.from) {
		return nil, errCut
	}
	return LocalEndpoint{Leader: e.c.managers[e.to]}.ListOffsets(ctx, req)
}

func (e *cutEndpoint) Close() {}

// waitFor polls cond for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logBytes returns every stored batch of p's log.
func logBytes(t *testing.T, p *Partition) []byte {
	t.Helper()
	l := p.Log()
	res, err := l.Read(l.LogStartOffset(), math.MaxInt32, l.LogEndOffset(), true)
	if err != nil {
		t.Fatal(err)
	}
	return res.Records
}

func appendN(t *testing.T, p *Partition, n int, prefix string) int64 {
	t.Helper()
	for i := range n {
		appendOne(t, p, fmt.Sprintf("%s-%d", prefix, i))
	}
	return p.Log().LogEndOffset()
}

func (c *replCluster) requireSameLogs(ids ...int32) {
	c.t.Helper()
	want := logBytes(c.t, c.part(ids[0]))
	for _, id := range ids[1:] {
		if got := logBytes(c.t, c.part(id)); !bytes.Equal(got, want) {
			c.t.Fatalf("log of %d (%d bytes) differs from %d's (%d bytes)", id, len(got), ids[0], len(want))
		}
	}
}

// The leader's high watermark is the smallest log end offset over the ISR:
// it waits for every follower, which store the leader's batches byte for
// byte, and follow the leader's high watermark.
func TestReplicationHighWatermarkIsMinimumOverISR(t *testing.T) {
	c := newReplCluster(t, []int32{1, 2, 3}, 2, time.Minute)
	leader := c.part(1)
	c.setCut(3, true)
	end := appendN(t, leader, 5, "a")
	waitFor(t, "follower 2 to fetch", func() bool { return c.part(2).Log().LogEndOffset() == end })
	time.Sleep(50 * time.Millisecond)
	if hw := leader.HighWatermark(); hw != 0 {
		t.Fatalf("high watermark %d with follower 3 at 0 in the ISR, want 0", hw)
	}
	c.setCut(3, false)
	ctx := context.Background()
	if err := c.managers[1].WaitForAcksAll(ctx, leader, end, 20*time.Second); err != nil {
		t.Fatalf("acks=all wait: %v", err)
	}
	waitFor(t, "followers' high watermarks", func() bool {
		return c.part(2).HighWatermark() == end && c.part(3).HighWatermark() == end
	})
	c.requireSameLogs(1, 2, 3)
}

// A follower that stops fetching leaves the ISR after replica.lag.time.max.ms
// (through AlterPartition), the high watermark moves on without it, and once
// it fetches again and catches up it rejoins the ISR.
func TestIsrShrinksAndExpands(t *testing.T) {
	c := newReplCluster(t, []int32{1, 2, 3}, 2, 300*time.Millisecond)
	leader := c.part(1)
	c.setCut(3, true)
	end := appendN(t, leader, 3, "a")
	if err := c.managers[1].WaitForAcksAll(context.Background(), leader, end, 20*time.Second); err != nil {
		t.Fatalf("acks=all with follower 3 cut: %v", err)
	}
	if isr := c.controllerISR(); !slices.Equal(isr, []int32{1, 2}) {
		t.Fatalf("controller's ISR %v, want [1 2]", isr)
	}
	if isr := leader.ISR(); !slices.Equal(isr, []int32{1, 2}) {
		t.Fatalf("leader's ISR %v, want [1 2]", isr)
	}
	end = appendN(t, leader, 3, "b")
	if err := c.managers[1].WaitForAcksAll(context.Background(), leader, end, 20*time.Second); err != nil {
		t.Fatalf("acks=all after the shrink: %v", err)
	}
	c.setCut(3, false)
	waitFor(t, "follower 3 to rejoin the ISR", func() bool { return slices.Equal(c.controllerISR(), []int32{1, 2, 3}) })
	waitFor(t, "the leader to apply the ISR", func() bool { return slices.Equal(leader.ISR(), []int32{1, 2, 3}) })
	c.requireSameLogs(1, 2, 3)
}

// With both followers gone the ISR shrinks to the leader alone: a waiting
// acks=all append answers NOT_ENOUGH_REPLICAS_AFTER_APPEND, and the next one
// is refused before the append (NOT_ENOUGH_REPLICAS).
func TestNotEnoughReplicasAfterAppend(t *testing.T) {
	c := newReplCluster(t, []int32{1, 2, 3}, 2, 300*time.Millisecond)
	leader := c.part(1)
	c.setCut(2, true)
	c.setCut(3, true)
	end := appendN(t, leader, 1, "a")
	err := c.managers[1].WaitForAcksAll(context.Background(), leader, end, 20*time.Second)
	if !errors.Is(err, kerr.NotEnoughReplicasAfterAppend) {
		t.Fatalf("acks=all wait: %v, want NOT_ENOUGH_REPLICAS_AFTER_APPEND", err)
	}
	if err := leader.CheckEnoughReplicas(); !errors.Is(err, kerr.NotEnoughReplicas) {
		t.Fatalf("next acks=all: %v, want NOT_ENOUGH_REPLICAS", err)
	}
}

// A leader that loses its leadership answers its waiting acks=all appends
// NOT_LEADER_OR_FOLLOWER at once, not at their timeout.
func TestLeaderChangeFailsWaitingProduce(t *testing.T) {
	c := newReplCluster(t, []int32{1, 2, 3}, 1, time.Minute)
	leader := c.part(1)
	c.setCut(2, true)
	c.setCut(3, true)
	end := appendN(t, leader, 1, "a")
	done := make(chan error, 1)
	go func() { done <- c.managers[1].WaitForAcksAll(context.Background(), leader, end, time.Minute) }()
	time.Sleep(20 * time.Millisecond)
	c.setLeader(2, []int32{2, 3})
	select {
	case err := <-done:
		if !errors.Is(err, kerr.NotLeaderForPartition) {
			t.Fatalf("wait: %v, want NOT_LEADER_OR_FOLLOWER", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting produce was not answered on the leader change")
	}
	if _, err := leader.AppendRecordsToLeader(nil, time.Now()); !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Fatalf("append on the old leader: %v", err)
	}
}

// A replica that led an epoch whose records were never replicated truncates
// them when it follows the new leader (DivergingEpoch), then holds exactly
// the new leader's log.
func TestFollowerTruncatesDivergentTail(t *testing.T) {
	c := newReplCluster(t, []int32{1, 2, 3}, 1, time.Minute)
	old := c.part(1)
	end := appendN(t, old, 4, "shared")
	waitFor(t, "replication of the shared prefix", func() bool { return old.HighWatermark() == end })
	c.setCut(2, true)
	c.setCut(3, true)
	appendN(t, old, 3, "lost") // never replicated
	// The controller elects 2 from the ISR; node 1 hears of it late.
	c.mu.Lock()
	c.st.Leader, c.st.ISR = 2, []int32{2, 3}
	c.st.LeaderEpoch++
	c.st.PartitionEpoch++
	st := c.st
	c.mu.Unlock()
	for _, id := range []int32{2, 3} {
		if err := c.managers[id].ApplyPartitionState(c.tp, st); err != nil {
			t.Fatal(err)
		}
	}
	c.setCut(3, false)
	newLeader := c.part(2)
	newEnd := appendN(t, newLeader, 2, "new")
	waitFor(t, "3 to replicate the new leader", func() bool { return c.part(3).Log().LogEndOffset() == newEnd })
	// Now node 1 learns it follows 2.
	c.setCut(2, false)
	if err := c.managers[1].ApplyPartitionState(c.tp, st); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "1 to truncate and catch up", func() bool {
		return old.Log().LogEndOffset() == newEnd && bytes.Equal(logBytes(t, old), logBytes(t, newLeader))
	})
	c.requireSameLogs(2, 1, 3)
}

// A follower whose fetch offset fell below the leader's log start offset
// (DeleteRecords while it was away) restarts its log at the leader's start.
func TestFollowerBehindLogStartRestarts(t *testing.T) {
	c := newReplCluster(t, []int32{1, 2}, 1, 300*time.Millisecond)
	leader := c.part(1)
	c.setCut(2, true)
	end := appendN(t, leader, 6, "a")
	// The ISR shrinks to the leader, so the high watermark reaches end.
	waitFor(t, "the high watermark", func() bool { return leader.HighWatermark() == end })
	if _, err := leader.DeleteRecordsOnLeader(4); err != nil {
		t.Fatal(err)
	}
	c.setCut(2, false)
	f := c.part(2)
	waitFor(t, "the follower to restart at the leader's log start", func() bool {
		return f.Log().LogStartOffset() == 4 && f.Log().LogEndOffset() == end
	})
	c.requireSameLogs(1, 2)
}

// A transaction whose marker is above the high watermark still holds the
// last stable offset back: a new leader without the marker would find it
// open (Kafka's ProducerStateManager.unreplicatedTxns).
func TestLastStableOffsetWaitsForReplicatedMarker(t *testing.T) {
	c := newReplCluster(t, []int32{1, 2}, 1, time.Minute)
	leader := c.part(1)
	end := appendN(t, leader, 2, "plain")
	waitFor(t, "replication", func() bool { return leader.HighWatermark() == end })
	if _, err := leader.AppendTransactionalToLeader(txnBatch(t, 9, 0, 0), SkipVerification, time.Now()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the transactional batch to replicate", func() bool { return leader.HighWatermark() == end+1 })
	c.setCut(2, true)
	res, err := leader.AppendTxnMarker(9, 0, 0, true, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if hw, lso := leader.HighWatermark(), leader.LastStableOffset(); hw != end+1 || lso != end {
		t.Fatalf("marker not replicated: high watermark %d, last stable offset %d; want %d, %d", hw, lso, end+1, end)
	}
	c.setCut(2, false)
	waitFor(t, "the marker to replicate", func() bool { return leader.HighWatermark() == res.LastOffset+1 })
	if lso := leader.LastStableOffset(); lso != res.LastOffset+1 {
		t.Fatalf("last stable offset %d after the marker replicated, want %d", lso, res.LastOffset+1)
	}
	waitFor(t, "the follower's last stable offset", func() bool { return c.part(2).LastStableOffset() == res.LastOffset+1 })
}

// A follower that caught up joins the ISR only while it is eligible (not
// fenced, Kafka's isReplicaIsrEligible): the leader does not ask the
// controller for a member it would refuse.
func TestIsrExpandWaitsForEligibleFollower(t *testing.T) {
	c := newReplCluster(t, []int32{1, 2}, 1, 300*time.Millisecond)
	leader := c.part(1)
	c.setCut(2, true)
	waitFor(t, "the ISR to shrink", func() bool { return slices.Equal(c.controllerISR(), []int32{1}) })
	c.mu.Lock()
	c.fenced[2] = true
	alters := c.alters
	c.mu.Unlock()
	end := appendN(t, leader, 2, "a")
	c.setCut(2, false)
	waitFor(t, "the follower to catch up", func() bool { return c.part(2).Log().LogEndOffset() == end })
	time.Sleep(100 * time.Millisecond)
	c.mu.Lock()
	asked := c.alters != alters
	c.fenced[2] = false
	c.mu.Unlock()
	if asked || !slices.Equal(c.controllerISR(), []int32{1}) {
		t.Fatalf("a fenced follower was proposed for the ISR: %v", c.controllerISR())
	}
	waitFor(t, "the follower to rejoin once eligible", func() bool { return slices.Equal(c.controllerISR(), []int32{1, 2}) })
}

// DeleteRecords on the leader completes once every live follower has
// followed the new log start offset (Kafka's DelayedDeleteRecords): a
// follower that does not fetch holds it until the timeout, unless its
// broker is not alive.
func TestDeleteRecordsWaitsForLowWatermark(t *testing.T) {
	c := newReplCluster(t, []int32{1, 2}, 1, time.Minute)
	leader := c.part(1)
	end := appendN(t, leader, 5, "a")
	waitFor(t, "replication", func() bool { return leader.HighWatermark() == end })
	low, err := leader.DeleteRecordsOnLeader(3)
	if err != nil || low != 3 {
		t.Fatalf("DeleteRecordsOnLeader: %d %v", low, err)
	}
	m := c.managers[1]
	if low, err := m.WaitForLowWatermark(context.Background(), leader, 3, 20*time.Second); err != nil || low != 3 {
		t.Fatalf("low watermark %d, %v; want 3", low, err)
	}
	if s := c.part(2).Log().LogStartOffset(); s != 3 {
		t.Fatalf("follower's log start offset %d, want 3", s)
	}
	c.setCut(2, true)
	if _, err := leader.DeleteRecordsOnLeader(4); err != nil {
		t.Fatal(err)
	}
	if low, err := m.WaitForLowWatermark(context.Background(), leader, 4, 300*time.Millisecond); !errors.Is(err, kerr.RequestTimedOut) || low != 3 {
		t.Fatalf("with the follower cut: low watermark %d, %v; want 3, REQUEST_TIMED_OUT", low, err)
	}
}

// KIP-966's strict min ISR: while the ISR is below min.insync.replicas the
// leader appends (acks=1) but the high watermark stands still, so a
// replica that left the ISR still holds every committed record; an acks=all
// wait answers NOT_ENOUGH_REPLICAS_AFTER_APPEND at once. Once a follower
// is back in the ISR the high watermark moves past everything appended.
func TestHighWatermarkHeldUnderMinIsr(t *testing.T) {
	c := newReplCluster(t, []int32{1, 2, 3}, 2, 300*time.Millisecond)
	leader := c.part(1)
	before := appendN(t, leader, 2, "a")
	waitFor(t, "the high watermark with every follower", func() bool { return leader.HighWatermark() == before })
	c.setCut(2, true)
	c.setCut(3, true)
	// The cut followers fall behind only once there is something to fetch.
	end := appendN(t, leader, 3, "b")
	waitFor(t, "the ISR to shrink to the leader", func() bool { return slices.Equal(leader.ISR(), []int32{1}) })
	end = appendN(t, leader, 2, "c")
	start := time.Now()
	err := c.managers[1].WaitForAcksAll(context.Background(), leader, end, 20*time.Second)
	if !errors.Is(err, kerr.NotEnoughReplicasAfterAppend) || time.Since(start) > 5*time.Second {
		t.Fatalf("acks=all under min ISR: %v after %v, want NOT_ENOUGH_REPLICAS_AFTER_APPEND at once", err, time.Since(start))
	}
	if hw := leader.HighWatermark(); hw != before {
		t.Fatalf("high watermark %d under min ISR, want it held at %d (log end %d)", hw, before, end)
	}
	c.setCut(2, false)
	waitFor(t, "follower 2 back in the ISR", func() bool { return slices.Equal(leader.ISR(), []int32{1, 2}) })
	waitFor(t, "the high watermark at the log end", func() bool { return leader.HighWatermark() == end })
}

package replica

import (
	"bytes"
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/riffle-io/riffle/storage"
)

func TestRackAwareReplicaSelector(t *testing.T) {
	leader := ReplicaView{BrokerID: 1, Rack: "a", LogEndOffset: 100}
	b2 := ReplicaView{BrokerID: 2, Rack: "b", LogEndOffset: 90, TimeSinceLastCaughtUpMs: 5}
	b3 := ReplicaView{BrokerID: 3, Rack: "b", LogEndOffset: 100, TimeSinceLastCaughtUpMs: 50}
	b4 := ReplicaView{BrokerID: 4, Rack: "b", LogEndOffset: 100, TimeSinceLastCaughtUpMs: 10}
	c5 := ReplicaView{BrokerID: 5, Rack: "c", LogEndOffset: 100}
	for _, tc := range []struct {
		name     string
		rack     string
		replicas []ReplicaView
		want     int32
	}{
		{"no client rack: the leader", "", []ReplicaView{leader, b2, c5}, 1},
		{"leader in the client's rack", "a", []ReplicaView{leader, b2, c5}, 1},
		{"the one replica in the rack", "c", []ReplicaView{leader, b2, c5}, 5},
		{"no replica in the rack: the leader", "z", []ReplicaView{leader, b2, c5}, 1},
		{"most caught up in the rack: log end offset first", "b", []ReplicaView{leader, b2, b3}, 3},
		{"then the most recently caught up", "b", []ReplicaView{leader, b3, b4, b2}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := RackAwareReplicaSelector{}.Select(storage.TopicPartition{Topic: "t"}, ClientMetadata{RackID: tc.rack}, PartitionView{Replicas: tc.replicas, Leader: leader})
			if !ok || got.BrokerID != tc.want {
				t.Fatalf("selected %d (%v), want %d", got.BrokerID, ok, tc.want)
			}
		})
	}
}

// consumerFetch is one consumer fetch of the test partition on manager m.
func consumerFetch(m *Manager, tp FetchPartition, client *ClientMetadata, maxWait time.Duration) ReadResult {
	tp.MaxBytes, tp.LastFetchedEpoch, tp.LogStartOffset = 1<<20, -1, -1
	return m.Fetch(context.Background(), []FetchPartition{tp}, FetchParams{MinBytes: 1, MaxBytes: 1 << 20, MaxWait: maxWait, Client: client})[0]
}

// KIP-392 on the replica managers: the leader names the in-sync replica in
// the consumer's rack, followers serve v11+ consumers up to their own high
// watermark with Kafka's errors, and a delayed fetch on a follower
// completes when the follower's high watermark moves.
func TestFetchFromFollower(t *testing.T) {
	c := newReplCluster(t, []int32{1, 2, 3}, 1, time.Minute)
	racks := map[int32]string{1: "a", 2: "b", 3: "c"}
	alive := map[int32]bool{1: true, 2: true, 3: true}
	for _, m := range c.managers {
		m.opts.ReplicaSelector = RackAwareReplicaSelector{}
		m.opts.BrokerRack = func(id int32) (string, bool) {
			c.mu.Lock()
			defer c.mu.Unlock()
			return racks[id], alive[id]
		}
	}
	leader, f2 := c.part(1), c.part(2)
	end := appendN(t, leader, 10, "a")
	waitFor(t, "follower 2's high watermark", func() bool { return f2.HighWatermark() == end })
	fp := FetchPartition{TP: c.tp, CurrentLeaderEpoch: -1}
	rackB := &ClientMetadata{RackID: "b"}

	// The leader sends a rack-b consumer to replica 2, with no records.
	r := consumerFetch(c.managers[1], fp, rackB, 0)
	if r.Err != nil || !r.HasPreferredReadReplica || r.PreferredReadReplica != 2 || len(r.Records) != 0 || r.HighWatermark != end {
		t.Fatalf("leader answered %+v, want preferred read replica 2, no records, high watermark %d", r, end)
	}
	// Rack a (the leader's) and pre-v11 consumers read from the leader.
	for _, client := range []*ClientMetadata{{RackID: "a"}, nil} {
		if r := consumerFetch(c.managers[1], fp, client, 0); r.Err != nil || r.HasPreferredReadReplica || len(r.Records) == 0 {
			t.Fatalf("client %+v: leader answered %+v, want records", client, r)
		}
	}
	// A dead replica is never chosen.
	c.mu.Lock()
	alive[2] = false
	c.mu.Unlock()
	if r := consumerFetch(c.managers[1], fp, rackB, 0); r.HasPreferredReadReplica || len(r.Records) == 0 {
		t.Fatalf("with replica 2 dead the leader answered %+v, want records", r)
	}
	c.mu.Lock()
	alive[2] = true
	c.mu.Unlock()

	// The follower serves the v11+ consumer what the leader would.
	want, err := leader.Log().Read(0, math.MaxInt32, end, true)
	if err != nil {
		t.Fatal(err)
	}
	if r := consumerFetch(c.managers[2], fp, rackB, 0); r.Err != nil || !bytes.Equal(r.Records, want.Records) || r.HighWatermark != end {
		t.Fatalf("follower answered %+v, want the leader's %d bytes", r, len(want.Records))
	}
	if r := consumerFetch(c.managers[2], fp, nil, 0); !errors.Is(r.Err, kerr.NotLeaderForPartition) {
		t.Fatalf("follower answered a pre-v11 consumer %v, want NOT_LEADER_OR_FOLLOWER", r.Err)
	}
	ahead := fp
	ahead.CurrentLeaderEpoch = 7
	if r := consumerFetch(c.managers[2], ahead, rackB, 0); !errors.Is(r.Err, kerr.UnknownLeaderEpoch) {
		t.Fatalf("follower answered epoch 7 with %v, want UNKNOWN_LEADER_EPOCH", r.Err)
	}

	// Replica 3 stops fetching: the high watermark stays at end while
	// replica 2's log grows past it.
	c.setCut(3, true)
	end2 := appendN(t, leader, 10, "b")
	waitFor(t, "follower 2's log end offset", func() bool { return f2.Log().LogEndOffset() == end2 })
	if hw := f2.HighWatermark(); hw != end {
		t.Fatalf("follower 2's high watermark %d, want the leader's %d", hw, end)
	}
	// Between the follower's high watermark and log end: nothing, no
	// error; past its log end: OFFSET_OUT_OF_RANGE (Kafka's UnifiedLog.read).
	mid := fp
	mid.FetchOffset = end + 3
	if r := consumerFetch(c.managers[2], mid, rackB, 0); r.Err != nil || len(r.Records) != 0 || r.HighWatermark != end {
		t.Fatalf("follower answered offset %d with %+v, want no records and high watermark %d", mid.FetchOffset, r, end)
	}
	past := fp
	past.FetchOffset = end2 + 1
	if r := consumerFetch(c.managers[2], past, rackB, 0); !errors.Is(r.Err, storage.ErrOffsetOutOfRange) {
		t.Fatalf("follower answered offset %d past its log end with %v, want OFFSET_OUT_OF_RANGE", past.FetchOffset, r.Err)
	}
	// A consumer waiting at the follower's high watermark is answered as
	// soon as replica 3 catches up and the follower learns the new one.
	at := fp
	at.FetchOffset = end
	done := make(chan ReadResult, 1)
	start := time.Now()
	go func() { done <- consumerFetch(c.managers[2], at, rackB, 30*time.Second) }()
	time.Sleep(100 * time.Millisecond)
	c.setCut(3, false)
	select {
	case r := <-done:
		if r.Err != nil || len(r.Records) == 0 {
			t.Fatalf("delayed follower fetch answered %+v, want records", r)
		}
		t.Logf("delayed fetch on the follower answered after %v", time.Since(start))
	case <-time.After(20 * time.Second):
		t.Fatal("delayed fetch on the follower did not complete when its high watermark moved")
	}

	// A new leader epoch: a consumer still on the old one is fenced.
	c.setLeader(1, []int32{1, 2, 3})
	waitFor(t, "follower 2's leader epoch", func() bool { return f2.LeaderEpoch() == 1 })
	old := fp
	old.CurrentLeaderEpoch = 0
	if r := consumerFetch(c.managers[2], old, rackB, 0); !errors.Is(r.Err, kerr.FencedLeaderEpoch) {
		t.Fatalf("follower answered epoch 0 with %v, want FENCED_LEADER_EPOCH", r.Err)
	}
}

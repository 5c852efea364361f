package controller

// Follower progress for DescribeQuorum (KIP-836). hashicorp/raft does not
// publish what its leader knows of each follower, so the leader's transport
// is wrapped: every AppendEntries answer (heartbeats included) records the
// follower's last log index and when it answered, as Kafka's leader records
// each voter's fetches. Pipelined replication would bypass AppendEntries, so
// it is off (MaxRPCsInFlight 1): the metadata log is small and its writes
// are rare, so one request in flight per follower costs nothing that
// matters.

import (
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// followerProgress is one follower as the leader last heard from it.
type followerProgress struct {
	LogEndOffset int64     // its last log index (quorum.go: indexes are offsets)
	LastFetch    time.Time // its last successful answer
	LastCaughtUp time.Time // its last answer that reached the leader's last index
}

// progressTransport is raft's transport with AppendEntries observed.
type progressTransport struct {
	*raft.NetworkTransport
	lastIndex func() uint64 // the leader's last log index

	mu       sync.Mutex
	progress map[raft.ServerID]followerProgress
}

func (t *progressTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	err := t.NetworkTransport.AppendEntries(id, target, args, resp)
	if err != nil || !resp.Success {
		return err
	}
	now := time.Now()
	// What the follower holds now: its last index when it answered
	// (heartbeats carry no entries) or the last entry this request
	// carried.
	end := resp.LastLog
	if n := len(args.Entries); n > 0 {
		end = max(end, args.Entries[n-1].Index)
	}
	t.mu.Lock()
	p := t.progress[id]
	p.LogEndOffset = int64(end)
	p.LastFetch = now
	if end >= t.lastIndex() {
		p.LastCaughtUp = now
	}
	t.progress[id] = p
	t.mu.Unlock()
	return nil
}

// followerProgress returns what the leader knows of a follower.
func (t *progressTransport) followerProgress(id raft.ServerID) (followerProgress, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.progress[id]
	return p, ok
}

// resetProgress forgets every follower: a new leader knows nothing of them.
func (t *progressTransport) resetProgress() {
	t.mu.Lock()
	clear(t.progress)
	t.mu.Unlock()
}

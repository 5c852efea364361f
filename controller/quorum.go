package controller

// The metadata quorum as DescribeQuorum reports it (KIP-595, KIP-836): the
// Raft leader, its term as the leader epoch, the commit index as the high
// watermark, and each voter's log end offset. Raft indexes stand for the
// offsets of Kafka's __cluster_metadata log: both count the entries from 1,
// so an index is the log end offset after that entry.

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
	"github.com/twmb/franz-go/pkg/kerr"
)

// QuorumReplica is one voter of the metadata quorum.
type QuorumReplica struct {
	ID   int32
	Host string // of its controller listener
	Port int32
	// LogEndOffset is -1 when the leader does not know it (it has not
	// heard from the follower since it became the leader).
	LogEndOffset int64
	// LastFetch and LastCaughtUp are when the leader last heard from the
	// follower, and last heard that it held everything the leader had
	// (progress.go); zero when unknown.
	LastFetch, LastCaughtUp time.Time
}

// QuorumState describes the metadata quorum from its leader.
type QuorumState struct {
	LeaderID      int32
	LeaderEpoch   int32
	HighWatermark int64
	Voters        []QuorumReplica
	// Observers are the raft non-voters: broker-only nodes following the
	// metadata log (KIP-595's observers).
	Observers []QuorumReplica
}

// DescribeQuorum reports the quorum; only the active controller can
// (NOT_LEADER_OR_FOLLOWER elsewhere, as KafkaRaftClient answers).
func (c *Controller) DescribeQuorum() (QuorumState, error) {
	r := c.raft()
	if r == nil || r.State() != raft.Leader {
		return QuorumState{}, fmt.Errorf("node %d is not the metadata quorum's leader: %w", c.cfg.NodeID, kerr.NotLeaderForPartition)
	}
	f := r.GetConfiguration()
	if err := f.Error(); err != nil {
		return QuorumState{}, raftError(err)
	}
	stats := r.Stats()
	parse := func(k string) int64 {
		n, _ := strconv.ParseInt(stats[k], 10, 64)
		return n
	}
	st := QuorumState{
		LeaderID:      c.cfg.NodeID,
		LeaderEpoch:   int32(parse("term")),
		HighWatermark: parse("commit_index"),
	}
	for _, s := range f.Configuration().Servers {
		id, err := strconv.ParseInt(string(s.ID), 10, 32)
		if err != nil {
			continue
		}
		if s.Suffrage == raft.Nonvoter {
			o := QuorumReplica{ID: int32(id), LogEndOffset: -1}
			c.addProgress(&o, s.ID)
			st.Observers = append(st.Observers, o)
			continue
		}
		if s.Suffrage != raft.Voter {
			continue
		}
		v := QuorumReplica{ID: int32(id), LogEndOffset: -1}
		if host, port, err := net.SplitHostPort(string(s.Address)); err == nil {
			p, _ := strconv.ParseInt(port, 10, 32)
			v.Host, v.Port = host, int32(p)
		}
		if v.ID == c.cfg.NodeID {
			now := time.Now()
			v.LogEndOffset, v.LastFetch, v.LastCaughtUp = parse("last_log_index"), now, now
		} else {
			c.addProgress(&v, s.ID)
		}
		st.Voters = append(st.Voters, v)
	}
	return st, nil
}

// addProgress fills in what the leader knows of a follower.
func (c *Controller) addProgress(q *QuorumReplica, id raft.ServerID) {
	if p, ok := c.progress.followerProgress(id); ok {
		q.LogEndOffset, q.LastFetch, q.LastCaughtUp = p.LogEndOffset, p.LastFetch, p.LastCaughtUp
	}
}

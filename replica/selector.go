package replica

// Fetch from follower (KIP-392): a partition leader may answer a consumer's
// fetch with the replica it should read from instead (PreferredReadReplica),
// chosen by the broker's replica.selector.class. Kafka loads any
// ReplicaSelector class; Riffle has Kafka's RackAwareReplicaSelector built
// in, and no selector (the default) keeps every consumer on the leader.

import (
	"github.com/riffle-io/riffle/storage"
)

// ClientMetadata is what a consumer's fetch says about the client (Kafka's
// ClientMetadata): Fetch v11+ carries the rack (client.rack). Consumers
// that send it may be served by any replica of the partition.
type ClientMetadata struct {
	RackID   string
	ClientID string
}

// ReplicaView is one replica a selector may choose (Kafka's ReplicaView).
type ReplicaView struct {
	BrokerID                int32
	Rack                    string
	LogEndOffset            int64
	TimeSinceLastCaughtUpMs int64
}

// PartitionView is the replicas a selector chooses from: the leader and
// the in-sync followers that hold the fetch offset (Kafka's PartitionView).
type PartitionView struct {
	Replicas []ReplicaView // the leader among them
	Leader   ReplicaView
}

// ReplicaSelector is Kafka's org.apache.kafka.common.replica.ReplicaSelector.
type ReplicaSelector interface {
	// Select returns the replica the client should read from; false or
	// the leader keeps the client on the leader.
	Select(tp storage.TopicPartition, client ClientMetadata, view PartitionView) (ReplicaView, bool)
}

// RackAwareReplicaSelector is Kafka's RackAwareReplicaSelector: a client
// that names a rack reads from the leader when the leader is in that rack,
// else from the most caught-up replica in it; a client with no rack, or
// with no replica in its rack, reads from the leader.
type RackAwareReplicaSelector struct{}

// Select implements ReplicaSelector.
func (RackAwareReplicaSelector) Select(_ storage.TopicPartition, client ClientMetadata, view PartitionView) (ReplicaView, bool) {
	if client.RackID == "" {
		return view.Leader, true
	}
	var best ReplicaView
	found := false
	for _, r := range view.Replicas {
		if r.Rack != client.RackID {
			continue
		}
		if r.BrokerID == view.Leader.BrokerID {
			return view.Leader, true
		}
		if !found || moreCaughtUp(r, best) {
			best, found = r, true
		}
	}
	if !found {
		return view.Leader, true
	}
	return best, true
}

// moreCaughtUp is ReplicaView.comparator: the higher log end offset, then
// the more recently caught up.
func moreCaughtUp(a, b ReplicaView) bool {
	if a.LogEndOffset != b.LogEndOffset {
		return a.LogEndOffset > b.LogEndOffset
	}
	return a.TimeSinceLastCaughtUpMs < b.TimeSinceLastCaughtUpMs
}

// preferredReadReplica is Kafka's ReplicaManager.findPreferredReadReplica:
// on the leader, the replica the selector picks for a consumer at
// fetchOffset, when it is not the leader itself. Only ISR members that are
// alive (rackOf answers them: registered and unfenced) and hold fetchOffset
// between their log start and log end offsets are candidates, so that a
// consumer is never sent to a replica that cannot serve its position.
// leaderIsrUpdateLock held.
func (p *Partition) preferredReadReplicaLocked(sel ReplicaSelector, client ClientMetadata, fetchOffset, nowMs int64, rackOf func(int32) (string, bool)) (int32, bool) {
	if sel == nil || p.st.leader != p.nodeID {
		return -1, false
	}
	leaderRack, _ := rackOf(p.nodeID)
	leader := ReplicaView{BrokerID: p.nodeID, Rack: leaderRack, LogEndOffset: p.log.LogEndOffset()}
	view := PartitionView{Leader: leader}
	p.replicaMu.Lock()
	for id, r := range p.remote {
		if !contains(p.st.isr, id) || r.logEndOffset < fetchOffset || r.logStartOffset > fetchOffset {
			continue
		}
		rack, alive := rackOf(id)
		if !alive {
			continue
		}
		view.Replicas = append(view.Replicas, ReplicaView{
			BrokerID: id, Rack: rack, LogEndOffset: r.logEndOffset,
			TimeSinceLastCaughtUpMs: nowMs - r.lastCaughtUpTimeMs,
		})
	}
	p.replicaMu.Unlock()
	view.Replicas = append(view.Replicas, leader)
	chosen, ok := sel.Select(p.TP, client, view)
	if !ok || chosen.BrokerID == p.nodeID {
		return -1, false
	}
	return chosen.BrokerID, true
}

func contains(xs []int32, x int32) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

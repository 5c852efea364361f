package controller

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AlterPartition (key 56) is how a partition leader changes its ISR: it
// shrinks the ISR when a follower lags past replica.lag.time.max.ms and
// expands it when a follower catches up (KIP-497; v2 names topics by id,
// v3 carries each new member's broker epoch, KIP-903). The controller
// checks the request against the image exactly as Kafka's
// ReplicationControlManager.alterPartition does and writes one
// PartitionChangeRecord per changed partition: the partition epoch moves,
// the leader epoch does not.

// AlterPartition applies an AlterPartition request on the active controller.
// A Go error means the request was not handled (this node is not the active
// controller, or the change was not committed in time); Kafka outcomes are
// error codes in the response.
func (c *Controller) AlterPartition(ctx context.Context, req *kmsg.AlterPartitionRequest) (*kmsg.AlterPartitionResponse, error) {
	var resp *kmsg.AlterPartitionResponse
	err := c.propose(ctx, func(im *Image) ([]Record, error) {
		var recs []Record
		recs, resp = planAlterPartition(im, req)
		return recs, nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// planAlterPartition returns the records an AlterPartition request writes
// and the response to send once they are committed.
func planAlterPartition(im *Image, req *kmsg.AlterPartitionRequest) ([]Record, *kmsg.AlterPartitionResponse) {
	resp := req.ResponseKind().(*kmsg.AlterPartitionResponse)
	// ClusterControlManager.checkBrokerEpoch: a request from a broker that
	// is not registered, or from an earlier incarnation, changes nothing.
	if b, ok := im.Brokers[req.BrokerID]; !ok || b.Epoch != req.BrokerEpoch {
		resp.ErrorCode = kerr.StaleBrokerEpoch.Code
		return nil, resp
	}
	byID := req.Version > 1
	var recs []Record
	for _, rt := range req.Topics {
		st := kmsg.NewAlterPartitionResponseTopic()
		st.Topic, st.TopidID = rt.Topic, rt.TopicID
		var t *TopicImage
		if byID {
			t = im.TopicsByID[rt.TopicID]
		} else {
			t = im.Topics[rt.Topic]
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionResponseTopicPartition()
			sp.Partition = rp.Partition
			switch {
			case t == nil && byID:
				sp.ErrorCode = kerr.UnknownTopicID.Code
			case t == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				rec, p, errCode := alterPartition(im, req.BrokerID, req.Version, t, rp)
				sp.ErrorCode = errCode
				if rec != nil {
					recs = append(recs, rec)
				}
				if errCode == 0 {
					sp.LeaderID = p.Leader
					sp.LeaderEpoch = p.LeaderEpoch
					sp.ISR = slices.Clone(p.ISR)
					sp.LeaderRecoveryState = p.LeaderRecoveryState
					sp.PartitionEpoch = p.PartitionEpoch
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return recs, resp
}

// alterPartition checks one partition of the request (Kafka's
// validateAlterPartitionData) and returns the change to write, nil when
// the ISR and recovery state are already as asked, with the partition as it
// will be.
func alterPartition(im *Image, brokerID int32, version int16, t *TopicImage, rp kmsg.AlterPartitionRequestTopicPartition) (*PartitionChangeRecord, PartitionImage, int16) {
	p, ok := t.Partition(rp.Partition)
	if !ok {
		return nil, p, kerr.UnknownTopicOrPartition.Code
	}
	// A leader that knows newer epochs than this image has heard from a
	// newer controller: NOT_CONTROLLER sends it to look for that one.
	if rp.LeaderEpoch > p.LeaderEpoch || rp.PartitionEpoch > p.PartitionEpoch {
		return nil, p, kerr.NotController.Code
	}
	if rp.LeaderEpoch < p.LeaderEpoch {
		return nil, p, kerr.FencedLeaderEpoch.Code
	}
	// Kafka answers INVALID_REQUEST here, not NOT_LEADER_OR_FOLLOWER: with
	// the current leader epoch only the leader can be asking, so another
	// broker asking is a bug, not a stale view.
	if brokerID != p.Leader {
		return nil, p, kerr.InvalidRequest.Code
	}
	if rp.PartitionEpoch < p.PartitionEpoch {
		return nil, p, kerr.InvalidUpdateVersion.Code
	}
	newISR, epochs := requestedISR(version, rp)
	if !validISR(p.Replicas, newISR) || !slices.Contains(newISR, p.Leader) {
		return nil, p, kerr.InvalidRequest.Code
	}
	// KIP-704: a leader elected uncleanly has only itself in sync until it
	// has recovered; it may never go back to recovering.
	if rp.LeaderRecoveryState == LeaderRecovering && len(newISR) > 1 ||
		p.LeaderRecoveryState == LeaderRecovered && rp.LeaderRecoveryState == LeaderRecovering ||
		rp.LeaderRecoveryState != LeaderRecovered && rp.LeaderRecoveryState != LeaderRecovering {
		return nil, p, kerr.InvalidRequest.Code
	}
	// Every member of the new ISR must be a live broker that can lead:
	// registered, unfenced, not shutting down, and (v3, KIP-903) the same
	// incarnation the leader saw catch up, so a replica that restarted with
	// an empty log cannot be added on the strength of its old progress; its
	// replica must not be in a log dir it reported offline (KIP-858).
	for i, id := range newISR {
		b, ok := im.Brokers[id]
		if !ok || b.Fenced || b.InControlledShutdown || epochs[i] != -1 && epochs[i] != b.Epoch || !b.hasOnlineDir(p.Directory(id)) {
			return nil, p, kerr.IneligibleReplica.Code
		}
	}
	// The change may also complete a reassignment: once every adding
	// replica is in sync the removed ones leave, and when the leader is
	// one of them another is elected.
	recovery := rp.LeaderRecoveryState
	rec := partitionChange{topicID: t.ID, p: p, targetISR: newISR, targetRecovery: &recovery, acceptable: im.isActive}.withELR(im, t).build()
	if rec == nil {
		// PartitionChangeBuilder writes nothing for a no-op; the leader
		// gets the current state back.
		return nil, p, 0
	}
	next, err := p.merge(rec)
	if err != nil {
		return nil, p, kerr.InvalidRequest.Code
	}
	if rec.Leader != NoLeaderChange && rec.Leader != brokerID {
		// Written, yet an error: the asking broker no longer leads and
		// must learn the new state from metadata (Kafka answers
		// FENCED_LEADER_EPOCH before v2).
		if version > 1 {
			return rec, next, kerr.NewLeaderElected.Code
		}
		return rec, next, kerr.FencedLeaderEpoch.Code
	}
	return rec, next, 0
}

// requestedISR returns the ISR a partition of the request asks for and each
// member's broker epoch (-1: not checked, as before v3).
func requestedISR(version int16, rp kmsg.AlterPartitionRequestTopicPartition) ([]int32, []int64) {
	if version < 3 {
		epochs := make([]int64, len(rp.NewISR))
		for i := range epochs {
			epochs[i] = -1
		}
		return rp.NewISR, epochs
	}
	ids := make([]int32, len(rp.NewEpochISR))
	epochs := make([]int64, len(rp.NewEpochISR))
	for i, s := range rp.NewEpochISR {
		ids[i], epochs[i] = s.BrokerID, s.BrokerEpoch
	}
	return ids, epochs
}

// validISR is Kafka's Replicas.validateIsr: members are distinct replicas.
func validISR(replicas, isr []int32) bool {
	if len(isr) > len(replicas) {
		return false
	}
	for i, id := range isr {
		if !slices.Contains(replicas, id) || slices.Contains(isr[:i], id) {
			return false
		}
	}
	return true
}

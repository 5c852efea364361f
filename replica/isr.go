package replica

// ISR shrink and expand on the leader, after Kafka's Partition.maybeShrinkIsr,
// maybeExpandIsr and the AlterPartition round trip (AlterPartitionManager).
// The leader proposes a new ISR with the partition epoch it knows; until the
// controller answers (or a newer image arrives) the proposal is pending and
// the high watermark is computed over the larger of the two sets (Kafka's
// PendingExpandIsr / PendingShrinkIsr maximalIsr), so no record is counted
// committed on a replica set the controller may not commit.

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AlterPartitionFunc sends an AlterPartition request to the active
// controller; a Go error means it was not handled and is retried.
type AlterPartitionFunc func(ctx context.Context, req *kmsg.AlterPartitionRequest) (*kmsg.AlterPartitionResponse, error)

// isrProposal is one pending AlterPartition.
type isrProposal struct {
	seq            uint64
	leaderEpoch    int32
	partitionEpoch int32
	newIsr         []int32
	brokerEpochs   []int64 // of newIsr, -1 when unknown
}

// maybeShrinkIsr proposes an ISR without the followers that have not caught
// up with the leader for maxLagMs (Kafka's getOutOfSyncReplicas). It
// returns nil when there is nothing to propose.
func (p *Partition) maybeShrinkIsr(nowMs, maxLagMs int64) *isrProposal {
	needs := func() []int32 {
		if p.st.leader != p.nodeID || p.st.alterInFlight {
			return nil
		}
		leo := p.log.LogEndOffset()
		var out []int32
		p.replicaMu.Lock()
		defer p.replicaMu.Unlock()
		for _, id := range p.st.isr {
			if id == p.nodeID {
				continue
			}
			if r, ok := p.remote[id]; !ok || !r.isCaughtUp(leo, nowMs, maxLagMs) {
				out = append(out, id)
			}
		}
		return out
	}
	p.leaderIsrUpdateLock.RLock()
	outOfSync := needs()
	p.leaderIsrUpdateLock.RUnlock()
	if len(outOfSync) == 0 {
		return nil
	}
	p.leaderIsrUpdateLock.Lock()
	defer p.leaderIsrUpdateLock.Unlock()
	if outOfSync = needs(); len(outOfSync) == 0 {
		return nil
	}
	newIsr := slices.DeleteFunc(slices.Clone(p.st.isr), func(id int32) bool { return slices.Contains(outOfSync, id) })
	// PendingShrinkIsr: the maximal ISR stays the committed one.
	return p.proposeLocked(newIsr, p.st.isr)
}

// maybeExpandIsr proposes the ISR plus a follower that has caught up
// (needsExpandIsrLocked), or returns nil.
func (p *Partition) maybeExpandIsr(id int32) *isrProposal {
	p.leaderIsrUpdateLock.Lock()
	defer p.leaderIsrUpdateLock.Unlock()
	if !p.needsExpandIsrLocked(id) {
		return nil
	}
	newIsr := append(slices.Clone(p.st.isr), id)
	// PendingExpandIsr: the high watermark waits for the new member at
	// once.
	return p.proposeLocked(newIsr, newIsr)
}

// proposeLocked marks newIsr pending. leaderIsrUpdateLock held for writing.
func (p *Partition) proposeLocked(newIsr, maximal []int32) *isrProposal {
	p.st.alterInFlight = true
	p.st.alterSeq++
	p.st.maximalIsr = maximal
	prop := &isrProposal{
		seq: p.st.alterSeq, leaderEpoch: p.st.leaderEpoch, partitionEpoch: p.st.partitionEpoch,
		newIsr: newIsr,
	}
	p.replicaMu.Lock()
	for _, id := range newIsr {
		e := int64(-1)
		if r, ok := p.remote[id]; ok {
			e = r.brokerEpoch
		}
		prop.brokerEpochs = append(prop.brokerEpochs, e)
	}
	p.replicaMu.Unlock()
	return prop
}

// proposalPending reports whether prop is still the partition's pending
// ISR change (no image or other answer replaced it).
func (p *Partition) proposalPending(prop *isrProposal) bool {
	p.leaderIsrUpdateLock.RLock()
	defer p.leaderIsrUpdateLock.RUnlock()
	return p.st.alterInFlight && p.st.alterSeq == prop.seq
}

// alterPartitionRequest builds the AlterPartition v3 request for prop.
func (p *Partition) alterPartitionRequest(prop *isrProposal, brokerID int32, brokerEpoch int64) *kmsg.AlterPartitionRequest {
	req := kmsg.NewPtrAlterPartitionRequest()
	req.Version = 3
	req.BrokerID, req.BrokerEpoch = brokerID, brokerEpoch
	rt := kmsg.NewAlterPartitionRequestTopic()
	rt.Topic, rt.TopicID = p.TP.Topic, p.TopicID
	rp := kmsg.NewAlterPartitionRequestTopicPartition()
	rp.Partition = p.TP.Partition
	rp.LeaderEpoch, rp.PartitionEpoch = prop.leaderEpoch, prop.partitionEpoch
	rp.NewISR = slices.Clone(prop.newIsr)
	for i, id := range prop.newIsr {
		e := kmsg.NewAlterPartitionRequestTopicPartitionNewEpochISR()
		e.BrokerID, e.BrokerEpoch = id, prop.brokerEpochs[i]
		if id == brokerID {
			e.BrokerEpoch = brokerEpoch
		}
		rp.NewEpochISR = append(rp.NewEpochISR, e)
	}
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// handleAlterPartitionAnswer applies the controller's answer to prop
// (Kafka's handleAlterPartitionUpdate and handleAlterPartitionError). It
// reports whether prop is settled; false means send it again.
func (p *Partition) handleAlterPartitionAnswer(prop *isrProposal, resp *kmsg.AlterPartitionResponse) bool {
	if resp.ErrorCode != 0 {
		// NOT_CONTROLLER, STALE_BROKER_EPOCH (our registration is not
		// applied yet), ...: AlterPartitionManager sends again.
		return false
	}
	var rp *kmsg.AlterPartitionResponseTopicPartition
	for i := range resp.Topics {
		t := &resp.Topics[i]
		if t.TopidID != p.TopicID && t.Topic != p.TP.Topic {
			continue
		}
		for j := range t.Partitions {
			if t.Partitions[j].Partition == p.TP.Partition {
				rp = &t.Partitions[j]
			}
		}
	}
	if rp == nil {
		return false
	}
	p.leaderIsrUpdateLock.Lock()
	defer func() {
		p.leaderIsrUpdateLock.Unlock()
		p.wake()
	}()
	if !p.st.alterInFlight || p.st.alterSeq != prop.seq {
		return true // replaced by a newer image or proposal
	}
	if rp.ErrorCode != 0 {
		switch err := kerr.ErrorForCode(rp.ErrorCode); err {
		case kerr.OperationNotAttempted, kerr.IneligibleReplica:
			// The controller says the partition epoch is right and
			// nothing was applied: back to the committed ISR, so a
			// later check can propose again.
			p.st.alterInFlight = false
			p.st.maximalIsr = p.st.isr
		default:
			// FENCED_LEADER_EPOCH, INVALID_UPDATE_VERSION,
			// NEW_LEADER_ELECTED, UNKNOWN_TOPIC_OR_PARTITION: our
			// state is stale; the proposal stays pending until the
			// newer image arrives, as in Kafka.
		}
		return true
	}
	if rp.LeaderEpoch != p.st.leaderEpoch || rp.PartitionEpoch < p.st.partitionEpoch {
		return true // an answer about an older state; the image decides
	}
	p.st.isr = slices.Clone(rp.ISR)
	p.st.maximalIsr = p.st.isr
	p.st.partitionEpoch = rp.PartitionEpoch
	p.st.alterInFlight = false
	p.maybeIncrementHighWatermarkLocked()
	return true
}

// submitAlterPartition sends prop until it is settled, replaced, or the
// manager stops.
func (m *Manager) submitAlterPartition(p *Partition, prop *isrProposal) {
	if prop == nil {
		return
	}
	m.goAsync(func(ctx context.Context) {
		backoff := 50 * time.Millisecond
		for p.proposalPending(prop) {
			var resp *kmsg.AlterPartitionResponse
			err := errNoController
			if m.opts.AlterPartition != nil {
				req := p.alterPartitionRequest(prop, m.nodeID, m.brokerEpoch())
				rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				resp, err = m.opts.AlterPartition(rctx, req)
				cancel()
			}
			if err == nil && p.handleAlterPartitionAnswer(prop, resp) {
				return
			}
			if err != nil {
				m.logger.Debug("AlterPartition not handled; retrying", "topic", p.TP.Topic, "partition", p.TP.Partition, "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
		}
	})
}

package controller

import (
	"slices"
	"strconv"
	"strings"
)

// partitionChange is Kafka's PartitionChangeBuilder reduced to what Riffle
// writes: it moves a partition towards a target ISR (and replica set, for a
// reassignment), completes a reassignment once every adding replica is in
// sync, keeps the eligible leader replicas (KIP-966, elr.go) when the
// feature is on, and elects a leader when the current one cannot stay.
// Without ELR an ISR that would become empty keeps its last member instead
// and the partition is left without a leader, as Kafka does without ELR.
type partitionChange struct {
	topicID UUID
	p       PartitionImage
	// targetISR is the ISR the change aims at; nil keeps the current one.
	targetISR []int32
	// reassign sets targetReplicas, targetAdding and targetRemoving in
	// place of the partition's own (a reassignment starts or is cancelled).
	reassign                                     bool
	targetReplicas, targetAdding, targetRemoving []int32
	// targetRecovery, when set, is the leader recovery state to move to.
	targetRecovery *int8
	// acceptable reports whether a broker may lead (registered, unfenced,
	// not shutting down, and not the broker being removed).
	acceptable func(id int32) bool
	// unclean allows electing a live replica outside the ISR when no ISR
	// member can lead (unclean.leader.election.enable).
	unclean bool

	// elr turns on KIP-966 (eligible.leader.replicas.version >= 1);
	// minISR is the topic's effective min.insync.replicas; and
	// uncleanShutdown lists brokers that came back from an unclean
	// shutdown, which may not stay or become eligible (withELR sets the
	// first two from the image).
	elr             bool
	minISR          int
	uncleanShutdown []int32
}

// without returns ids less those in drop, in order.
func without(ids, drop []int32) []int32 {
	out := make([]int32, 0, len(ids))
	for _, id := range ids {
		if !slices.Contains(drop, id) {
			out = append(out, id)
		}
	}
	return out
}

// build returns the record for the change, or nil when nothing changes.
// The steps and their order are PartitionChangeBuilder.build's.
func (c partitionChange) build() *PartitionChangeRecord {
	isr := c.targetISR
	if isr == nil {
		isr = c.p.ISR
	}
	isr = slices.Clone(isr)
	replicas, adding, removing := c.p.Replicas, c.p.AddingReplicas, c.p.RemovingReplicas
	if c.reassign {
		replicas, adding, removing = c.targetReplicas, c.targetAdding, c.targetRemoving
	}
	// PartitionReassignmentReplicas.maybeCompleteReassignment: done once
	// every adding replica is in sync and something not being removed is.
	if len(adding) > 0 || len(removing) > 0 {
		newISR, newReplicas := without(isr, removing), without(replicas, removing)
		done := len(newISR) > 0 && len(newReplicas) > 0
		for _, id := range adding {
			done = done && slices.Contains(newISR, id)
		}
		if done {
			isr, replicas, adding, removing = newISR, newReplicas, nil, nil
		}
	}
	elr := slices.Clone(c.p.ELR)
	if c.elr {
		elr = c.targetELR(isr, replicas)
	}
	rec := &PartitionChangeRecord{PartitionId: c.p.Partition, TopicId: c.topicID, Leader: NoLeaderChange}
	// The current leader stays unless it leaves the ISR (NoLeader is never
	// in an ISR, so a leaderless partition always tries an election).
	if !slices.Contains(isr, c.p.Leader) || !c.acceptable(c.p.Leader) {
		leader, unclean := c.elect(replicas, isr, elr)
		if leader != c.p.Leader {
			rec.Leader = leader
			if slices.Contains(elr, leader) {
				// KIP-966: an eligible replica holds every committed
				// record, so electing it is clean; it alone is in sync.
				isr = []int32{leader}
				elr = without(elr, isr)
			} else if unclean {
				// The new leader may lack acknowledged records: it is
				// the whole ISR, and recovering (KIP-704).
				rec.Isr = []int32{leader}
				if c.p.LeaderRecoveryState != LeaderRecovering {
					s := LeaderRecovering
					rec.LeaderRecoveryState = &s
				}
			}
		}
	}
	// Replicas leaving the assignment must not accept a fetch of the old
	// leader epoch (triggerLeaderEpochBumpForReplicaReassignmentIfNeeded).
	if rec.Leader == NoLeaderChange && len(without(c.p.Replicas, replicas)) > 0 {
		rec.Leader = c.p.Leader
	}
	c.updateRecordELR(rec, elr)
	// Without ELR an empty target keeps the last member
	// (PartitionChangeBuilder sets the ISR only when the target is not
	// empty); with ELR the ISR may become empty.
	if rec.Isr == nil && (len(isr) > 0 || c.elr) && !slices.Equal(isr, c.p.ISR) {
		rec.Isr = append([]int32{}, isr...)
	}
	c.updateLastKnownLeader(rec)
	if !slices.Equal(replicas, c.p.Replicas) {
		rec.Replicas = slices.Clone(replicas)
	}
	if !slices.Equal(adding, c.p.AddingReplicas) {
		rec.AddingReplicas = append([]int32{}, adding...)
	}
	if !slices.Equal(removing, c.p.RemovingReplicas) {
		rec.RemovingReplicas = append([]int32{}, removing...)
	}
	if c.targetRecovery != nil && *c.targetRecovery != c.p.LeaderRecoveryState && rec.LeaderRecoveryState == nil {
		s := *c.targetRecovery
		rec.LeaderRecoveryState = &s
	}
	if rec.Isr == nil && rec.Leader == NoLeaderChange && rec.LeaderRecoveryState == nil &&
		rec.Replicas == nil && rec.AddingReplicas == nil && rec.RemovingReplicas == nil &&
		rec.EligibleLeaderReplicas == nil && rec.LastKnownElr == nil {
		return nil
	}
	return rec
}

// elect picks a leader as PartitionChangeBuilder.electAnyLeader does: the
// current leader if it may stay, else the first replica in (target)
// replica order that is in the ISR (or, when the ISR is empty, in the ELR)
// and acceptable, else the last known leader (elr.go), else, when allowed,
// the first acceptable replica (unclean).
func (c partitionChange) elect(replicas, isr, elr []int32) (leader int32, unclean bool) {
	valid := func(id int32) bool {
		return (slices.Contains(isr, id) || len(isr) == 0 && slices.Contains(elr, id)) && c.acceptable(id)
	}
	if c.p.Leader != NoLeader && valid(c.p.Leader) {
		return c.p.Leader, false
	}
	for _, r := range replicas {
		if valid(r) {
			return r, false
		}
	}
	if id, ok := c.lastKnownLeader(isr, elr); ok {
		return id, true
	}
	if c.unclean {
		for _, r := range replicas {
			if c.acceptable(r) {
				return r, true
			}
		}
	}
	return NoLeader, false
}

// isActive reports whether a broker may lead and join ISRs: registered,
// unfenced and not in controlled shutdown (Kafka's
// ClusterControlManager.isActive).
func (im *Image) isActive(id int32) bool {
	b, ok := im.Brokers[id]
	return ok && !b.Fenced && !b.InControlledShutdown
}

// uncleanLeaderElection is the effective unclean.leader.election.enable of
// a topic, looked up as Kafka's ConfigurationControlManager does: the
// topic's config, then this controller's dynamic broker config, then the
// cluster-wide dynamic default, then the static broker config.
func uncleanLeaderElection(im *Image, topic string, nodeID int32, static bool) bool {
	const key = "unclean.leader.election.enable"
	if t, ok := im.Topics[topic]; ok {
		if v, ok := t.Configs[key]; ok {
			return strings.EqualFold(v, "true")
		}
	}
	if v, ok := im.BrokerConfigs[strconv.Itoa(int(nodeID))][key]; ok {
		return strings.EqualFold(v, "true")
	}
	if v, ok := im.BrokerConfigs[""][key]; ok {
		return strings.EqualFold(v, "true")
	}
	return static
}

// electionPolicy says, per topic, whether unclean election is allowed.
type electionPolicy func(topic string) bool

// leadershipChanges returns the partition changes that follow a change in
// the set of brokers that may lead: every partition of parts (nil: every
// partition) moves towards an ISR without `remove` (when not NoLeader) and
// gets a leader from the brokers `acceptable` allows.
func leadershipChanges(im *Image, remove int32, acceptable func(int32) bool, unclean electionPolicy, match func(PartitionImage) bool) []Record {
	var recs []Record
	for _, name := range im.SortedTopicNames() {
		t := im.Topics[name]
		allowUnclean := unclean != nil && unclean(name)
		for _, p := range t.Partitions {
			if !match(p) {
				continue
			}
			// A replica whose log dir is offline cannot lead (KIP-858).
			canLead := func(r int32) bool { return acceptable(r) && im.replicaDirOnline(p, r) }
			ch := partitionChange{topicID: t.ID, p: p, acceptable: canLead, unclean: allowUnclean}.withELR(im, t)
			if remove != NoLeader && slices.Contains(p.ISR, remove) {
				ch.targetISR = slices.DeleteFunc(slices.Clone(p.ISR), func(id int32) bool { return id == remove })
			}
			if rec := ch.build(); rec != nil {
				recs = append(recs, rec)
			}
		}
	}
	return recs
}

// brokerRemovedChanges takes broker id out of every ISR and every
// leadership (Kafka's generateLeaderAndIsrUpdates with brokerToRemove):
// for fencing, controlled shutdown and a restart's new registration.
func brokerRemovedChanges(im *Image, id int32, unclean electionPolicy) []Record {
	acceptable := func(r int32) bool { return r != id && im.isActive(r) }
	return leadershipChanges(im, id, acceptable, unclean, func(p PartitionImage) bool {
		return p.Leader == id || slices.Contains(p.ISR, id)
	})
}

// brokerAddedChanges elects leaders for leaderless partitions now that
// broker id may lead (Kafka's handleBrokerUnfenced with brokerToAdd).
func brokerAddedChanges(im *Image, id int32, unclean electionPolicy) []Record {
	acceptable := func(r int32) bool { return r == id || im.isActive(r) }
	return leadershipChanges(im, NoLeader, acceptable, unclean, func(p PartitionImage) bool {
		return p.Leader == NoLeader
	})
}

// hasLeaderships reports whether broker id leads any partition.
func (im *Image) hasLeaderships(id int32) bool {
	for _, t := range im.Topics {
		for _, p := range t.Partitions {
			if p.Leader == id {
				return true
			}
		}
	}
	return false
}

// planUncleanLeaderElections gives a leader to every leaderless partition
// that can have one now: from its ISR when a member is active, else, where
// unclean.leader.election.enable allows it, a live replica outside the ISR.
// Kafka's controller runs this check periodically, so enabling unclean
// election for a topic takes effect without waiting for a broker to return.
func planUncleanLeaderElections(im *Image, unclean electionPolicy) []Record {
	return leadershipChanges(im, NoLeader, im.isActive, unclean, func(p PartitionImage) bool {
		return p.Leader == NoLeader
	})
}

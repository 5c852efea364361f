package controller

import (
	"slices"
	"strconv"
	"strings"
)

// partitionChange is Kafka's PartitionChangeBuilder reduced to what Riffle
// writes: it moves a partition towards a target ISR and elects a leader
// when the current one cannot stay. Eligible leader replicas (KIP-966) are
// not kept: an ISR that would become empty keeps its last member instead
// and the partition is left without a leader, as Kafka does without ELR.
type partitionChange struct {
	topicID UUID
	p       PartitionImage
	// targetISR is the ISR the change aims at; nil keeps the current one.
	targetISR []int32
	// acceptable reports whether a broker may lead (registered, unfenced,
	// not shutting down, and not the broker being removed).
	acceptable func(id int32) bool
	// unclean allows electing a live replica outside the ISR when no ISR
	// member can lead (unclean.leader.election.enable).
	unclean bool
}

// build returns the record for the change, or nil when nothing changes.
func (c partitionChange) build() *PartitionChangeRecord {
	target := c.targetISR
	if target == nil {
		target = c.p.ISR
	}
	rec := &PartitionChangeRecord{PartitionId: c.p.Partition, TopicId: c.topicID, Leader: NoLeaderChange}
	// The current leader stays unless it leaves the ISR (NoLeader is never
	// in an ISR, so a leaderless partition always tries an election).
	if !slices.Contains(target, c.p.Leader) || !c.acceptable(c.p.Leader) {
		leader, unclean := c.elect(target)
		if leader != c.p.Leader {
			rec.Leader = leader
			if unclean {
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
	// An empty target keeps the last member (PartitionChangeBuilder sets
	// the ISR only when the target is not empty).
	if rec.Isr == nil && len(target) > 0 && !slices.Equal(target, c.p.ISR) {
		rec.Isr = slices.Clone(target)
	}
	if rec.Isr == nil && rec.Leader == NoLeaderChange && rec.LeaderRecoveryState == nil {
		return nil
	}
	return rec
}

// elect picks a leader as PartitionChangeBuilder.electAnyLeader does: the
// current leader if it may stay, else the first replica in preferred
// (replica list) order that is in the ISR and acceptable, else, when
// allowed, the first acceptable replica (unclean).
func (c partitionChange) elect(target []int32) (leader int32, unclean bool) {
	valid := func(id int32) bool { return slices.Contains(target, id) && c.acceptable(id) }
	if c.p.Leader != NoLeader && valid(c.p.Leader) {
		return c.p.Leader, false
	}
	for _, r := range c.p.Replicas {
		if valid(r) {
			return r, false
		}
	}
	if c.unclean {
		for _, r := range c.p.Replicas {
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
			ch := partitionChange{topicID: t.ID, p: p, acceptable: acceptable, unclean: allowUnclean}
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

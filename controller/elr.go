package controller

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Eligible leader replicas (KIP-966), as Kafka 4.x keeps them in
// PartitionChangeBuilder and ReplicationControlManager.
//
// The partition leader never moves the high watermark while the ISR is
// below min.insync.replicas ("strict min ISR", replica package). A replica
// that leaves an ISR which is (or becomes) smaller than min.insync.replicas
// therefore holds every committed record, and the controller keeps it in
// the partition's ELR instead of forgetting it:
//
//   - the ISR may become empty; a leader is then elected from the ELR, and
//     that election is clean (the new leader is the whole ISR);
//   - a member that rejoins the ISR leaves the ELR, and once the ISR is back
//     at min.insync.replicas the ELR is emptied;
//   - a broker that restarts after an unclean shutdown (it cannot show the
//     broker epoch it stopped with) may have lost its unflushed tail: it
//     leaves every ISR and ELR;
//   - when ISR and ELR are both empty, LastKnownElr remembers the last
//     leader, which is elected (as an unclean election, KIP-704) if it
//     returns first: what Kafka without ELR did by keeping it in the ISR;
//   - changing min.insync.replicas clears ELR state (ClearElrRecord), and so
//     does turning the feature off.

// ELRFeature is the feature that turns ELR on at level 1.
const ELRFeature = "eligible.leader.replicas.version"

// MetadataVersionForELR is the lowest metadata.version ELR works at
// (Kafka's EligibleLeaderReplicasVersion.ELRV_1 depends on 4.0-IV2).
const MetadataVersionForELR = 24

// minInsyncReplicasKey is the config whose effective value the ELR follows.
const minInsyncReplicasKey = "min.insync.replicas"

// ELREnabled reports whether the controller keeps eligible leader replicas.
func (im *Image) ELREnabled() bool {
	return im.Features[ELRFeature] >= 1 && im.Features["metadata.version"] >= MetadataVersionForELR
}

// effectiveMinISR is ReplicationControlManager.getTopicEffectiveMinIsr: the
// topic's min.insync.replicas (its own config, else the cluster-wide
// dynamic default, which enabling ELR always writes), at most the
// replication factor. A value that does not parse counts as Kafka's
// default, 1.
func effectiveMinISR(im *Image, t *TopicImage) int {
	v, ok := t.Configs[minInsyncReplicasKey]
	if !ok {
		v, ok = im.BrokerConfigs[""][minInsyncReplicasKey]
	}
	n := 1
	if ok {
		if m, err := strconv.Atoi(v); err == nil && m > 0 {
			n = m
		}
	}
	if len(t.Partitions) > 0 {
		n = min(n, len(t.Partitions[0].Replicas))
	}
	return n
}

// withELR returns c keeping ELR as the image says: on when the feature is,
// with the topic's effective min ISR.
func (c partitionChange) withELR(im *Image, t *TopicImage) partitionChange {
	c.elr = im.ELREnabled()
	c.minISR = effectiveMinISR(im, t)
	return c
}

// targetELR is PartitionChangeBuilder.maybePopulateTargetElr: with the
// target ISR at min ISR or above there is no ELR; below it the ELR is the
// current ELR and ISR, less the target ISR and the replicas that shut down
// uncleanly (and anything no longer a replica after a reassignment). The
// order is ascending, so that every node writes the same record.
func (c partitionChange) targetELR(isr, replicas []int32) []int32 {
	if len(isr) >= c.minISR {
		return nil
	}
	var elr []int32
	for _, id := range append(slices.Clone(c.p.ELR), c.p.ISR...) {
		if slices.Contains(isr, id) || slices.Contains(c.uncleanShutdown, id) ||
			!slices.Contains(replicas, id) || slices.Contains(elr, id) {
			continue
		}
		elr = append(elr, id)
	}
	slices.Sort(elr)
	return elr
}

// updateRecordELR is PartitionChangeBuilder.maybeUpdateRecordElr: an
// unclean election (which set the ISR already) or a disabled feature
// empties the ELR; otherwise the record carries the target ELR if it
// differs.
func (c partitionChange) updateRecordELR(rec *PartitionChangeRecord, elr []int32) {
	if rec.Isr != nil || !c.elr {
		elr = nil
	}
	if !slices.Equal(elr, c.p.ELR) {
		rec.EligibleLeaderReplicas = append([]int32{}, elr...)
	}
}

// updateLastKnownLeader is PartitionChangeBuilder.maybeUpdateLastKnownLeader
// (Kafka keeps only the last leader there while KIP-966's unclean recovery
// is not built): the first time the ISR becomes empty the leader it had is
// remembered; once the partition has a leader again it is forgotten.
func (c partitionChange) updateLastKnownLeader(rec *PartitionChangeRecord) {
	if !c.elr {
		if len(c.p.LastKnownELR) > 0 {
			rec.LastKnownElr = []int32{}
		}
		return
	}
	remembered := len(c.p.LastKnownELR) == 1 && c.p.LastKnownELR[0] == c.p.Leader
	switch {
	case rec.Isr != nil && len(rec.Isr) == 0 && c.p.Leader >= 0 && !remembered:
		rec.LastKnownElr = []int32{c.p.Leader}
	case (rec.Leader >= 0 || c.p.Leader != NoLeader && rec.Leader != NoLeader) && len(c.p.LastKnownELR) > 0:
		rec.LastKnownElr = []int32{}
	}
}

// lastKnownLeader is PartitionChangeBuilder.canElectLastKnownLeader: with
// ISR and ELR empty, the last known leader may lead again if it is
// acceptable. The election counts as unclean: the ELR no longer vouched
// for it.
func (c partitionChange) lastKnownLeader(isr, elr []int32) (int32, bool) {
	if !c.elr || len(isr) > 0 || len(elr) > 0 || len(c.p.LastKnownELR) != 1 {
		return NoLeader, false
	}
	id := c.p.LastKnownELR[0]
	return id, c.acceptable(id)
}

// uncleanShutdownChanges takes a broker that restarted after an unclean
// shutdown out of every ISR and ELR, and moves its leaderships (Kafka's
// ReplicationControlManager.handleBrokerShutdown with isCleanShutdown
// false): its log may lack records it had acknowledged.
func uncleanShutdownChanges(im *Image, id int32, unclean electionPolicy) []Record {
	var recs []Record
	acceptable := func(r int32) bool { return r != id && im.isActive(r) }
	for _, name := range im.SortedTopicNames() {
		t := im.Topics[name]
		for _, p := range t.Partitions {
			if p.Leader != id && !slices.Contains(p.ISR, id) && !slices.Contains(p.ELR, id) {
				continue
			}
			// A replica whose log dir is offline cannot lead (KIP-858).
			canLead := func(r int32) bool { return acceptable(r) && im.replicaDirOnline(p, r) }
			ch := partitionChange{topicID: t.ID, p: p, acceptable: canLead,
				unclean: unclean != nil && unclean(name), uncleanShutdown: []int32{id}}.withELR(im, t)
			ch.targetISR = without(p.ISR, ch.uncleanShutdown)
			if rec := ch.build(); rec != nil {
				recs = append(recs, rec)
			}
		}
	}
	return recs
}

// cleanShutdown reports whether a registering broker shows that its
// previous incarnation stopped cleanly: BrokerRegistration v3+ carries the
// broker epoch it wrote into its clean-shutdown file, which must be the
// epoch the controller still holds for it
// (ClusterControlManager.registerBroker).
func cleanShutdown(im *Image, id int32, previousEpoch int64) bool {
	old, ok := im.Brokers[id]
	return ok && previousEpoch >= 0 && old.Epoch == previousEpoch
}

// elrConfigRecords adds what changing min.insync.replicas means to ELR
// (ConfigurationControlManager): with ELR on, a broker-level value may not
// be set and the cluster-wide one may not be removed; a topic's change
// clears the topic's ELR, a cluster-wide one (even to the same value)
// every ELR.
func elrConfigRecords(im *Image, resourceType int8, resourceName string, changes map[string]*string) ([]Record, error) {
	v, touched := changes[minInsyncReplicasKey]
	if !touched || !im.ELREnabled() {
		return nil, nil
	}
	switch {
	case resourceType == ConfigResourceBroker && resourceName != "":
		return nil, fmt.Errorf("broker-level %s cannot be altered while ELR is enabled: %w", minInsyncReplicasKey, kerr.InvalidConfig)
	case resourceType == ConfigResourceBroker && v == nil:
		return nil, fmt.Errorf("cluster-level %s cannot be removed while ELR is enabled: %w", minInsyncReplicasKey, kerr.InvalidConfig)
	case resourceType == ConfigResourceBroker:
		return []Record{&ClearElrRecord{}}, nil
	}
	t, ok := im.Topics[resourceName]
	if !ok {
		return nil, nil
	}
	old, had := t.Configs[minInsyncReplicasKey]
	if v == nil && had || v != nil && (!had || old != *v) {
		return []Record{&ClearElrRecord{TopicName: resourceName}}, nil
	}
	return nil, nil
}

// elrFeatureRecords adds what turning ELR on or off writes, given the
// feature levels after the update: turning it on makes the cluster-wide
// min.insync.replicas explicit (the static value of the active controller
// when none is set) and drops broker-level values, since only the
// cluster-wide and topic values count from now on; turning it off clears
// every ELR (ClearElrRecord).
func elrFeatureRecords(im *Image, newLevels map[string]int16, staticMinISR int) []Record {
	before := im.ELREnabled()
	after := newLevels[ELRFeature] >= 1 && newLevels["metadata.version"] >= MetadataVersionForELR
	switch {
	case !before && after:
		var recs []Record
		if _, ok := im.BrokerConfigs[""][minInsyncReplicasKey]; !ok {
			v := strconv.Itoa(max(staticMinISR, 1))
			recs = append(recs, &ConfigRecord{ResourceType: ConfigResourceBroker, Name: minInsyncReplicasKey, Value: &v})
		}
		for _, res := range im.sortedBrokerConfigResources() {
			if _, ok := im.BrokerConfigs[res][minInsyncReplicasKey]; ok && res != "" {
				recs = append(recs, &ConfigRecord{ResourceType: ConfigResourceBroker, ResourceName: res, Name: minInsyncReplicasKey})
			}
		}
		return recs
	case before && !after:
		return []Record{&ClearElrRecord{}}
	}
	return nil
}

func (im *Image) sortedBrokerConfigResources() []string {
	out := make([]string, 0, len(im.BrokerConfigs))
	for k := range im.BrokerConfigs {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

package controller

import (
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Replica placement for CreateTopics and CreatePartitions, with the
// properties of Kafka's StripedReplicaPlacer (KIP-660): only unfenced
// brokers get replicas, the replicas of a partition go to as many
// different racks as there are, and leaders (first replicas) rotate over
// every broker so that leadership is spread evenly. Brokers without a rack
// count as one rack of their own, as the placer treats an absent rack.
//
// The brokers are laid out rack-alternated (Kafka's AdminUtils
// getRackAlternatedBrokerList): the first broker of each rack, then the
// second of each, and so on. Partition p is led by the broker at
// (start+p) mod n; its followers are taken from there on with a shift that
// grows every n partitions, skipping racks already used until every rack
// has a replica. Without racks this is plain round-robin from a random
// start.

// usableBroker is a broker replicas may be placed on.
type usableBroker struct {
	id   int32
	rack string
}

// usableBrokers returns the unfenced brokers, by id.
func usableBrokers(im *Image) []usableBroker {
	var out []usableBroker
	for _, id := range im.UnfencedBrokerIDs() {
		out = append(out, usableBroker{id: id, rack: im.Brokers[id].Rack})
	}
	return out
}

// rackAlternated orders brokers (sorted by id) rack by rack in turn, racks
// in name order.
func rackAlternated(brokers []usableBroker) []usableBroker {
	byRack := map[string][]usableBroker{}
	for _, b := range brokers {
		byRack[b.rack] = append(byRack[b.rack], b)
	}
	racks := slices.Sorted(maps.Keys(byRack))
	out := make([]usableBroker, 0, len(brokers))
	for i := 0; len(out) < len(brokers); i++ {
		for _, r := range racks {
			if i < len(byRack[r]) {
				out = append(out, byRack[r][i])
			}
		}
	}
	return out
}

// placeReplicas places partitions first..first+n-1 with rf replicas each.
func placeReplicas(topic string, first, n int32, rf int16, brokers []usableBroker, pl placement) ([][]int32, error) {
	if int(rf) > len(brokers) {
		return nil, fmt.Errorf("topic %q: unable to replicate the partition %d time(s): the target replication factor of %d cannot be reached because only %d broker(s) are registered and unfenced: %w",
			topic, rf, rf, len(brokers), kerr.InvalidReplicationFactor)
	}
	order := rackAlternated(brokers)
	nb := len(order)
	racks := map[string]bool{}
	for _, b := range order {
		racks[b.rack] = true
	}
	start := pl.start(nb)
	out := make([][]int32, n)
	for i := range out {
		p := int(first) + i
		replicas := make([]int32, 0, rf)
		if len(racks) <= 1 {
			for j := range int(rf) {
				replicas = append(replicas, order[(start+p+j)%nb].id)
			}
			out[i] = replicas
			continue
		}
		leader := (start + p) % nb
		shift := 1 + (start+p/nb)%(nb-1) // nb > 1: there are at least two racks
		replicas = append(replicas, order[leader].id)
		used := map[string]bool{order[leader].rack: true}
		// First pass: only racks not used yet (all racks used: start over);
		// second pass: anything left, for a partition with more replicas
		// than the placement above could spread.
		for k := 0; len(replicas) < int(rf) && k < 2*nb; k++ {
			b := order[(leader+shift+k)%nb]
			if slices.Contains(replicas, b.id) || k < nb && used[b.rack] {
				continue
			}
			replicas = append(replicas, b.id)
			used[b.rack] = true
			if len(used) == len(racks) {
				clear(used)
			}
		}
		out[i] = replicas
	}
	return out, nil
}

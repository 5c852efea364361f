package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// This file holds the admin mutations beyond topic creation and deletion:
// dynamic broker configs, leader elections, partition reassignments and
// finalized features (Kafka's ConfigurationControlManager,
// ReplicationControlManager and FeatureControlManager). Planning is pure, as
// in replication.go; the methods propose what the plans return.

// SetBrokerConfigs sets dynamic broker configs on the BROKER resource
// resourceName: "" is the cluster-wide default, "<id>" one broker (Kafka's
// ConfigRecord with ResourceType 4). A nil value deletes the config. Values
// are validated by the caller.
func (c *Controller) SetBrokerConfigs(ctx context.Context, resourceName string, configs map[string]*string) error {
	return c.propose(ctx, func(im *Image) ([]Record, error) {
		return planBrokerConfigs(im, resourceName, configs)
	})
}

func planBrokerConfigs(im *Image, resourceName string, changes map[string]*string) ([]Record, error) {
	if resourceName != "" {
		if id, err := strconv.ParseInt(resourceName, 10, 32); err != nil || id < 0 {
			return nil, fmt.Errorf("broker resource name %q is neither empty nor a broker id: %w", resourceName, kerr.InvalidRequest)
		}
	}
	cur := im.BrokerConfigs[resourceName]
	var recs []Record
	for _, k := range slices.Sorted(maps.Keys(changes)) {
		if k == "" {
			return nil, fmt.Errorf("empty config name: %w", kerr.InvalidConfig)
		}
		v := changes[k]
		old, had := cur[k]
		if v == nil && !had || v != nil && had && old == *v {
			continue
		}
		var val *string
		if v != nil {
			s := *v
			val = &s
		}
		recs = append(recs, &ConfigRecord{ResourceType: ConfigResourceBroker, ResourceName: resourceName, Name: k, Value: val})
	}
	clear, err := elrConfigRecords(im, ConfigResourceBroker, resourceName, changes)
	if err != nil {
		return nil, err
	}
	return append(recs, clear...), nil
}

// Election types of ElectLeaders (KIP-460).
const (
	ElectionPreferred int8 = 0
	ElectionUnclean   int8 = 1
)

// PartitionRef names one partition.
type PartitionRef struct {
	Topic     string
	Partition int32
}

// ElectionResult is the outcome of one partition's election.
type ElectionResult struct {
	PartitionRef
	Err error // nil: a leader was elected
}

// ElectLeaders runs preferred or unclean leader elections. parts nil means
// every partition, and then, as Kafka does, partitions that need no election
// are left out of the results.
func (c *Controller) ElectLeaders(ctx context.Context, electionType int8, parts []PartitionRef) []ElectionResult {
	var results []ElectionResult
	err := c.propose(ctx, func(im *Image) ([]Record, error) {
		var recs []Record
		recs, results = planElectLeaders(im, electionType, parts)
		return recs, nil
	})
	if err != nil {
		if results == nil {
			for _, p := range parts {
				results = append(results, ElectionResult{PartitionRef: p})
			}
		}
		for i := range results {
			if results[i].Err == nil {
				results[i].Err = err
			}
		}
	}
	return results
}

func planElectLeaders(im *Image, electionType int8, parts []PartitionRef) ([]Record, []ElectionResult) {
	all := parts == nil
	if all {
		for _, name := range im.SortedTopicNames() {
			for _, p := range im.Topics[name].Partitions {
				parts = append(parts, PartitionRef{Topic: name, Partition: p.Partition})
			}
		}
	}
	var recs []Record
	var results []ElectionResult
	for _, ref := range parts {
		rec, err := electLeader(im, electionType, ref)
		if all && errorIs(err, kerr.ElectionNotNeeded) {
			continue
		}
		if rec != nil {
			recs = append(recs, rec)
		}
		results = append(results, ElectionResult{PartitionRef: ref, Err: err})
	}
	return recs, results
}

// maxElectionsPerImbalance bounds the leader moves of one imbalance check,
// as Kafka's ReplicationControlManager.maxElectionsPerImbalance does.
const maxElectionsPerImbalance = 1000

// planLeaderRebalance moves leadership back to the preferred replica of
// every partition whose preferred replica is active and in the ISR (Kafka's
// maybeBalancePartitionLeaders under auto.leader.rebalance.enable).
func planLeaderRebalance(im *Image) []Record {
	recs, _ := planElectLeaders(im, ElectionPreferred, nil)
	if len(recs) > maxElectionsPerImbalance {
		recs = recs[:maxElectionsPerImbalance]
	}
	return recs
}

// runLeaderRebalance runs the imbalance check on the active controller
// every LeaderImbalanceCheckInterval until Close.
func (c *Controller) runLeaderRebalance() {
	tick := time.NewTicker(c.cfg.LeaderImbalanceCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
		if !c.IsActive() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var n int
		err := c.propose(ctx, func(im *Image) ([]Record, error) {
			recs := planLeaderRebalance(im)
			n = len(recs)
			return recs, nil
		})
		cancel()
		if err != nil {
			c.log.Debug("preferred leader rebalance", "err", err)
		} else if n > 0 {
			c.log.Info("moved leadership back to preferred replicas", "partitions", n)
		}
	}
}

func errorIs(err error, target *kerr.Error) bool { return ErrorCode(err) == target.Code && err != nil }

// electLeader follows Kafka's PartitionChangeBuilder election: preferred
// elects the first replica when it is alive and in the ISR; unclean elects
// only for a leaderless partition, from the ISR first, else from any live
// replica (which then becomes the whole ISR).
func electLeader(im *Image, electionType int8, ref PartitionRef) (Record, error) {
	t, ok := im.Topics[ref.Topic]
	if !ok {
		return nil, fmt.Errorf("topic %q does not exist: %w", ref.Topic, kerr.UnknownTopicOrPartition)
	}
	p, ok := t.Partition(ref.Partition)
	if !ok {
		return nil, fmt.Errorf("partition %d of topic %q does not exist: %w", ref.Partition, ref.Topic, kerr.UnknownTopicOrPartition)
	}
	// Only brokers that may lead count: registered, unfenced and not in
	// controlled shutdown (Kafka's LeaderAcceptor over isActive).
	alive := im.isActive
	switch electionType {
	case ElectionPreferred:
		if len(p.Replicas) == 0 {
			return nil, fmt.Errorf("partition %s-%d has no replicas: %w", ref.Topic, ref.Partition, kerr.PreferredLeaderNotAvailable)
		}
		preferred := p.Replicas[0]
		if p.Leader == preferred {
			return nil, fmt.Errorf("the preferred replica %d already leads %s-%d: %w", preferred, ref.Topic, ref.Partition, kerr.ElectionNotNeeded)
		}
		if !slices.Contains(p.ISR, preferred) || !alive(preferred) {
			return nil, fmt.Errorf("the preferred replica %d of %s-%d is not alive and in the ISR: %w", preferred, ref.Topic, ref.Partition, kerr.PreferredLeaderNotAvailable)
		}
		return &PartitionChangeRecord{PartitionId: p.Partition, TopicId: t.ID, Leader: preferred}, nil
	case ElectionUnclean:
		if p.Leader != NoLeader {
			return nil, fmt.Errorf("%s-%d has a leader (%d): %w", ref.Topic, ref.Partition, p.Leader, kerr.ElectionNotNeeded)
		}
		// Election.UNCLEAN: the ISR first, then (KIP-966) the ELR, then
		// any live replica, which is then alone in the ISR and recovering
		// until it says it has recovered (KIP-704).
		rec := partitionChange{topicID: t.ID, p: p, acceptable: alive, unclean: true}.withELR(im, t).build()
		if rec != nil && rec.Leader >= 0 {
			return rec, nil
		}
		return nil, fmt.Errorf("no live replica of %s-%d: %w", ref.Topic, ref.Partition, kerr.EligibleLeadersNotAvailable)
	}
	return nil, fmt.Errorf("unknown election type %d: %w", electionType, kerr.InvalidRequest)
}

// Reassignment is one partition of AlterPartitionReassignments. Replicas nil
// cancels a reassignment in progress.
type Reassignment struct {
	PartitionRef
	Replicas []int32
	// AllowReplicationFactorChange is false when the request (v1+, KIP-860)
	// forbids changing the replication factor.
	AllowReplicationFactorChange bool
}

// AlterPartitionReassignments starts or cancels reassignments (KIP-455).
// One that needs no data movement (a reordering, or dropping replicas while
// one in sync remains) completes at once; one that adds replicas completes
// when the leader's AlterPartition brings them all into the ISR. One error
// per reassignment, nil for success.
func (c *Controller) AlterPartitionReassignments(ctx context.Context, rs []Reassignment) []error {
	var errs []error
	err := c.propose(ctx, func(im *Image) ([]Record, error) {
		var recs []Record
		recs, errs = planReassignments(im, rs)
		return recs, nil
	})
	if err != nil {
		if errs == nil {
			errs = make([]error, len(rs))
		}
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	return errs
}

func planReassignments(im *Image, rs []Reassignment) ([]Record, []error) {
	errs := make([]error, len(rs))
	var recs []Record
	for i, r := range rs {
		rec, err := reassign(im, r)
		errs[i] = err
		if rec != nil {
			recs = append(recs, rec)
		}
	}
	return recs, errs
}

func reassign(im *Image, r Reassignment) (Record, error) {
	t, ok := im.Topics[r.Topic]
	if !ok {
		return nil, fmt.Errorf("topic %q does not exist: %w", r.Topic, kerr.UnknownTopicOrPartition)
	}
	p, ok := t.Partition(r.Partition)
	if !ok {
		return nil, fmt.Errorf("partition %d of topic %q does not exist: %w", r.Partition, r.Topic, kerr.UnknownTopicOrPartition)
	}
	if r.Replicas == nil {
		return cancelReassignment(im, t, p)
	}
	if err := checkReplicas(r.Replicas); err != nil {
		return nil, fmt.Errorf("%s-%d: %v: %w", r.Topic, r.Partition, err, kerr.InvalidReplicaAssignment)
	}
	for _, id := range r.Replicas {
		if _, ok := im.Brokers[id]; !ok {
			return nil, fmt.Errorf("the manual partition assignment includes broker %d, but no broker with that id is registered: %w", id, kerr.InvalidReplicaAssignment)
		}
	}
	// The replication factor is that of the current target: during a
	// reassignment Replicas also holds the replicas being removed.
	if rf := len(p.Replicas) - len(p.RemovingReplicas); !r.AllowReplicationFactorChange && len(r.Replicas) != rf {
		return nil, fmt.Errorf("the replication factor of %s-%d would change from %d to %d: %w", r.Topic, r.Partition, rf, len(r.Replicas), kerr.InvalidReplicationFactor)
	}
	// PartitionReassignmentReplicas: the target first, then the replicas
	// being removed; the new ones are added and catch up as followers, and
	// AlterPartition completes the move once they are all in sync. A move
	// that adds nothing completes at once.
	removing := without(p.Replicas, r.Replicas)
	adding := without(r.Replicas, p.Replicas)
	merged := append(slices.Clone(r.Replicas), removing...)
	rec := partitionChange{topicID: t.ID, p: p, reassign: true, targetReplicas: merged,
		targetAdding: adding, targetRemoving: removing, acceptable: im.isActive}.withELR(im, t).build()
	return asRecord(rec), nil
}

// asRecord returns rec as a Record, nil when rec is nil (not a nil pointer
// in a non-nil interface).
func asRecord(rec *PartitionChangeRecord) Record {
	if rec == nil {
		return nil
	}
	return rec
}

// cancelReassignment reverts a reassignment in progress, as Kafka's
// PartitionReassignmentRevert: the replicas being added leave the replica
// set and the ISR, the ones being removed stay. Should no ISR member
// remain, the revert needs an unclean election and is refused unless the
// topic allows one.
func cancelReassignment(im *Image, t *TopicImage, p PartitionImage) (Record, error) {
	if !p.Reassigning() {
		return nil, fmt.Errorf("no reassignment of %s-%d is in progress: %w", t.Name, p.Partition, kerr.NoReassignmentInProgress)
	}
	replicas := without(p.Replicas, p.AddingReplicas)
	isr := without(p.ISR, p.AddingReplicas)
	unclean := len(isr) == 0
	if unclean {
		if !uncleanLeaderElection(im, t.Name, -1, false) {
			return nil, fmt.Errorf("unable to revert the reassignment of %s-%d because it would require an unclean leader election: %w", t.Name, p.Partition, kerr.InvalidReplicaAssignment)
		}
		isr = replicas[:1]
	}
	return asRecord(partitionChange{topicID: t.ID, p: p, targetISR: isr, reassign: true, targetReplicas: replicas,
		acceptable: im.isActive, unclean: unclean}.withELR(im, t).build()), nil
}

// OngoingReassignments returns the partitions of topic being reassigned
// (all of them when parts is nil), for ListPartitionReassignments.
func (im *Image) OngoingReassignments(topic string, parts []int32) []PartitionImage {
	t, ok := im.Topics[topic]
	if !ok {
		return nil
	}
	var out []PartitionImage
	if parts == nil {
		for _, p := range t.Partitions {
			if p.Reassigning() {
				out = append(out, p)
			}
		}
		return out
	}
	for _, id := range parts {
		if p, ok := t.Partition(id); ok && p.Reassigning() {
			out = append(out, p)
		}
	}
	return out
}

// FeatureUpdate is one UpdateFeatures item. Level 0 removes the feature.
type FeatureUpdate struct {
	Name  string
	Level int16
	// Downgrade allows a level below the finalized one (SAFE_DOWNGRADE or
	// UNSAFE_DOWNGRADE, or AllowDowngrade before v1).
	Downgrade bool
}

// UpdateFeatures finalizes feature levels (KIP-584). supported gives the
// [min, max] levels this node supports for each feature; a feature not in it
// cannot be finalized. All updates commit together, or none when any fails
// (Kafka's FeatureControlManager applies them atomically). The map holds an
// error for each failed feature; the returned error is for the request.
func (c *Controller) UpdateFeatures(ctx context.Context, updates []FeatureUpdate, supported map[string][2]int16, validateOnly bool) (map[string]error, error) {
	var errs map[string]error
	err := c.propose(ctx, func(im *Image) ([]Record, error) {
		var recs []Record
		recs, errs = planFeatures(im, updates, supported, c.cfg.MinInsyncReplicas)
		if len(errs) > 0 || validateOnly {
			return nil, nil
		}
		return recs, nil
	})
	return errs, err
}

func planFeatures(im *Image, updates []FeatureUpdate, supported map[string][2]int16, staticMinISR int) ([]Record, map[string]error) {
	errs := map[string]error{}
	var recs []Record
	seen := map[string]bool{}
	for _, u := range updates {
		if seen[u.Name] {
			errs[u.Name] = fmt.Errorf("feature %s appears more than once: %w", u.Name, kerr.InvalidRequest)
			continue
		}
		seen[u.Name] = true
		rng, ok := supported[u.Name]
		cur := im.Features[u.Name]
		switch {
		case !ok:
			errs[u.Name] = fmt.Errorf("feature %s is not supported: %w", u.Name, kerr.InvalidUpdateVersion)
		case u.Level < 0:
			errs[u.Name] = fmt.Errorf("feature %s: level %d is negative: %w", u.Name, u.Level, kerr.InvalidUpdateVersion)
		case u.Level == 0 && rng[0] > 0:
			errs[u.Name] = fmt.Errorf("feature %s cannot be removed: its lowest supported level is %d: %w", u.Name, rng[0], kerr.InvalidUpdateVersion)
		case u.Level != 0 && (u.Level < rng[0] || u.Level > rng[1]):
			errs[u.Name] = fmt.Errorf("feature %s: level %d is outside the supported range [%d, %d]: %w", u.Name, u.Level, rng[0], rng[1], kerr.InvalidUpdateVersion)
		case u.Level < cur && !u.Downgrade:
			errs[u.Name] = fmt.Errorf("feature %s: level %d is below the finalized level %d and no downgrade was allowed: %w", u.Name, u.Level, cur, kerr.InvalidUpdateVersion)
		case u.Level == cur:
		default:
			recs = append(recs, &FeatureLevelRecord{Name: u.Name, FeatureLevel: u.Level})
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	levels := maps.Clone(im.Features)
	if levels == nil {
		levels = map[string]int16{}
	}
	for _, r := range recs {
		levels[r.(*FeatureLevelRecord).Name] = r.(*FeatureLevelRecord).FeatureLevel
	}
	// Kafka's FeatureControlManager checks dependencies between levels:
	// eligible.leader.replicas.version 1 needs metadata.version 4.0-IV2.
	if levels[ELRFeature] >= 1 && levels["metadata.version"] < MetadataVersionForELR {
		name := ELRFeature
		if seen["metadata.version"] {
			name = "metadata.version"
		}
		errs[name] = fmt.Errorf("%s=%d requires metadata.version %d or above, not %d: %w", ELRFeature, levels[ELRFeature], MetadataVersionForELR, levels["metadata.version"], kerr.InvalidUpdateVersion)
		return nil, errs
	}
	return append(recs, elrFeatureRecords(im, levels, staticMinISR)...), nil
}

// CreatePartitionsAssigned grows topic to total partitions, placing the new
// partitions on the given replicas (one set per new partition, as
// CreatePartitions' Assignment), or as CreatePartitions does when assignment
// is nil.
func (c *Controller) CreatePartitionsAssigned(ctx context.Context, topic string, total int32, assignment [][]int32, validateOnly bool) error {
	if assignment == nil {
		return c.CreatePartitions(ctx, topic, total, validateOnly)
	}
	return c.propose(ctx, func(im *Image) ([]Record, error) {
		recs, err := planAssignedPartitions(im, topic, total, assignment)
		if validateOnly {
			return nil, err
		}
		return recs, err
	})
}

func planAssignedPartitions(im *Image, topic string, total int32, assignment [][]int32) ([]Record, error) {
	// The checks on the count itself are those of the unassigned form.
	if _, err := planCreatePartitions(im, topic, total, defaultPlacement); err != nil {
		return nil, err
	}
	t := im.Topics[topic]
	cur := int32(len(t.Partitions))
	if int64(len(assignment)) != int64(total)-int64(cur) {
		return nil, fmt.Errorf("increasing the number of partitions by %d but %d assignments provided: %w", total-cur, len(assignment), kerr.InvalidReplicaAssignment)
	}
	rf := len(t.Partitions[0].Replicas)
	recs := make([]Record, 0, len(assignment))
	for i, replicas := range assignment {
		if err := checkReplicas(replicas); err != nil {
			return nil, fmt.Errorf("partition %d: %v: %w", cur+int32(i), err, kerr.InvalidReplicaAssignment)
		}
		if len(replicas) != rf {
			return nil, fmt.Errorf("inconsistent replication factor between partitions, partition 0 has %d while partition %d has replicas %v: %w", rf, cur+int32(i), replicas, kerr.InvalidReplicaAssignment)
		}
		for _, id := range replicas {
			if b, ok := im.Brokers[id]; !ok || b.Fenced {
				return nil, fmt.Errorf("the manual partition assignment includes broker %d, but no such broker is registered and unfenced: %w", id, kerr.InvalidReplicaAssignment)
			}
		}
		recs = append(recs, newPartitionRecord(im, t.ID, cur+int32(i), slices.Clone(replicas)))
	}
	return recs, nil
}

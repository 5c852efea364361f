package controller

import (
	"errors"
	"fmt"
	"maps"
	"slices"
)

// errRejected marks a batch that does not fit the image it is applied to.
// Every node rejects it alike, so the images stay identical.
var errRejected = errors.New("metadata batch rejected")

// Apply folds one batch of records, the raft entry at offset, into im and
// returns the next image. im is not modified. On error the batch is rejected
// as a whole and the returned image is im at the new offset.
func (im *Image) Apply(offset uint64, recs []Record) (*Image, error) {
	b := newBuilder(im)
	b.offset = offset
	for i, r := range recs {
		if err := b.replay(r); err != nil {
			return im.withOffset(offset), fmt.Errorf("%w: record %d (%s): %v", errRejected, i, r.recordType(), err)
		}
	}
	next := b.next
	next.Offset = offset
	return &next, nil
}

// builder makes the next image copy-on-write: maps are copied the first time
// the batch touches them, topics the first time the batch changes them.
type builder struct {
	next   Image
	offset uint64 // of the entry being applied

	topicsCopied, brokersCopied, featuresCopied, brokerConfigsCopied, aclsCopied bool
	owned                                                                        map[*TopicImage]bool
}

func newBuilder(im *Image) *builder {
	return &builder{next: *im, owned: map[*TopicImage]bool{}}
}

func (b *builder) copyTopics() {
	if !b.topicsCopied {
		b.next.Topics = maps.Clone(b.next.Topics)
		b.next.TopicsByID = maps.Clone(b.next.TopicsByID)
		b.topicsCopied = true
	}
}

// mutableTopic returns a copy of the topic this batch may change in place.
func (b *builder) mutableTopic(id UUID) (*TopicImage, error) {
	t, ok := b.next.TopicsByID[id]
	if !ok {
		return nil, fmt.Errorf("unknown topic id %s", id)
	}
	if b.owned[t] {
		return t, nil
	}
	b.copyTopics()
	c := &TopicImage{
		Name:       t.Name,
		ID:         t.ID,
		Partitions: slices.Clone(t.Partitions),
		Configs:    maps.Clone(t.Configs),
	}
	if c.Configs == nil {
		c.Configs = map[string]string{}
	}
	b.next.Topics[c.Name] = c
	b.next.TopicsByID[c.ID] = c
	b.owned[c] = true
	return c, nil
}

func (b *builder) replay(r Record) error {
	switch r := r.(type) {
	case *TopicRecord:
		return b.replayTopic(r)
	case *PartitionRecord:
		return b.replayPartition(r)
	case *PartitionChangeRecord:
		return b.replayPartitionChange(r)
	case *RemoveTopicRecord:
		return b.replayRemoveTopic(r)
	case *ConfigRecord:
		return b.replayConfig(r)
	case *RegisterBrokerRecord:
		return b.replayRegisterBroker(r)
	case *ClientQuotaRecord:
		return b.replayClientQuota(r)
	case *UserScramCredentialRecord:
		return b.replayScram(r.Name, r.Mechanism, &ScramCredential{Salt: r.Salt, StoredKey: r.StoredKey, ServerKey: r.ServerKey, Iterations: r.Iterations})
	case *RemoveUserScramCredentialRecord:
		return b.replayScram(r.Name, r.Mechanism, nil)
	case *AccessControlEntryRecord:
		return b.replayACL(r)
	case *RemoveAccessControlEntryRecord:
		return b.replayRemoveACL(r)
	case *FenceBrokerRecord:
		return b.replayBrokerChange(r.Id, r.Epoch, FencingChangeFence, ControlledShutdownChangeNone)
	case *UnfenceBrokerRecord:
		return b.replayBrokerChange(r.Id, r.Epoch, FencingChangeUnfence, ControlledShutdownChangeNone)
	case *BrokerRegistrationChangeRecord:
		if err := b.replayBrokerChange(r.BrokerId, r.BrokerEpoch, r.Fenced, r.InControlledShutdown); err != nil {
			return err
		}
		if r.LogDirs != nil {
			b.next.Brokers[r.BrokerId].LogDirs = sortedDirs(r.LogDirs) // a copy made by replayBrokerChange
		}
		return nil
	case *UnregisterBrokerRecord:
		return b.replayUnregisterBroker(r)
	case *ProducerIdsRecord:
		// Kafka's ProducerIdControlManager refuses to move backwards: ids
		// below the mark may already be in use by producers.
		if r.NextProducerId <= b.next.NextProducerID || r.NextProducerId < 0 {
			return fmt.Errorf("next producer id %d does not exceed %d", r.NextProducerId, b.next.NextProducerID)
		}
		b.next.NextProducerID = r.NextProducerId
		return nil
	case *ClearElrRecord:
		return b.replayClearElr(r)
	case *FeatureLevelRecord:
		if !b.featuresCopied {
			b.next.Features = maps.Clone(b.next.Features)
			if b.next.Features == nil {
				b.next.Features = map[string]int16{}
			}
			b.featuresCopied = true
		}
		if r.FeatureLevel == 0 {
			delete(b.next.Features, r.Name) // level 0 removes the feature (KIP-584)
		} else {
			b.next.Features[r.Name] = r.FeatureLevel
		}
		return nil
	}
	return fmt.Errorf("unhandled record %T", r)
}

func (b *builder) replayTopic(r *TopicRecord) error {
	if err := ValidateTopicName(r.Name); err != nil {
		return err
	}
	if r.TopicId == (UUID{}) {
		return errors.New("zero topic id")
	}
	if _, ok := b.next.Topics[r.Name]; ok {
		return fmt.Errorf("topic %q exists", r.Name)
	}
	if _, ok := b.next.TopicsByID[r.TopicId]; ok {
		return fmt.Errorf("topic id %s exists", r.TopicId)
	}
	b.copyTopics()
	t := &TopicImage{Name: r.Name, ID: r.TopicId, Configs: map[string]string{}}
	b.next.Topics[t.Name] = t
	b.next.TopicsByID[t.ID] = t
	b.owned[t] = true
	return nil
}

// checkReplicas checks a replica set: non-empty, no duplicates, no negative ids.
func checkReplicas(replicas []int32) error {
	if len(replicas) == 0 {
		return errors.New("empty replica set")
	}
	for i, r := range replicas {
		if r < 0 {
			return fmt.Errorf("invalid replica %d", r)
		}
		if slices.Contains(replicas[:i], r) {
			return fmt.Errorf("duplicate replica %d", r)
		}
	}
	return nil
}

func checkLeaderAndISR(replicas, isr []int32, leader int32) error {
	for _, r := range isr {
		if !slices.Contains(replicas, r) {
			return fmt.Errorf("isr member %d is not a replica", r)
		}
	}
	if leader != NoLeader && !slices.Contains(isr, leader) {
		return fmt.Errorf("leader %d is not in the isr", leader)
	}
	return nil
}

func (b *builder) replayPartition(r *PartitionRecord) error {
	t, err := b.mutableTopic(r.TopicId)
	if err != nil {
		return err
	}
	if err := checkReplicas(r.Replicas); err != nil {
		return err
	}
	if err := checkLeaderAndISR(r.Replicas, r.Isr, r.Leader); err != nil {
		return err
	}
	if r.LeaderRecoveryState != LeaderRecovered && r.LeaderRecoveryState != LeaderRecovering {
		return fmt.Errorf("invalid leader recovery state %d", r.LeaderRecoveryState)
	}
	p := PartitionImage{
		Partition:      r.PartitionId,
		Replicas:       slices.Clone(r.Replicas),
		ISR:            nonEmpty(r.Isr),
		Leader:         r.Leader,
		LeaderEpoch:    r.LeaderEpoch,
		PartitionEpoch: r.PartitionEpoch,

		LeaderRecoveryState: r.LeaderRecoveryState,
		AddingReplicas:      nonEmpty(r.AddingReplicas),
		RemovingReplicas:    nonEmpty(r.RemovingReplicas),

		ELR:          nonEmpty(r.EligibleLeaderReplicas),
		LastKnownELR: nonEmpty(r.LastKnownElr),
	}
	if r.Directories != nil {
		if len(r.Directories) != len(r.Replicas) {
			return fmt.Errorf("%d directories for %d replicas", len(r.Directories), len(r.Replicas))
		}
		p.Directories = slices.Clone(r.Directories)
	}
	if err := checkReassignment(p); err != nil {
		return err
	}
	if err := checkELR(p); err != nil {
		return err
	}
	switch {
	case r.PartitionId >= 0 && int(r.PartitionId) < len(t.Partitions):
		t.Partitions[r.PartitionId] = p // Kafka replays a repeated PartitionRecord as a replacement
	case int(r.PartitionId) == len(t.Partitions):
		t.Partitions = append(t.Partitions, p)
	default:
		return fmt.Errorf("partition %d of %q does not follow partition %d", r.PartitionId, t.Name, len(t.Partitions)-1)
	}
	return nil
}

// replayPartitionChange merges a change into its partition.
func (b *builder) replayPartitionChange(r *PartitionChangeRecord) error {
	t, err := b.mutableTopic(r.TopicId)
	if err != nil {
		return err
	}
	if r.PartitionId < 0 || int(r.PartitionId) >= len(t.Partitions) {
		return fmt.Errorf("unknown partition %d of %q", r.PartitionId, t.Name)
	}
	p, err := t.Partitions[r.PartitionId].merge(r)
	if err != nil {
		return err
	}
	t.Partitions[r.PartitionId] = p
	return nil
}

// merge returns p changed by r as Kafka's PartitionRegistration.merge does:
// any change bumps the partition epoch; a new leader bumps the leader epoch.
// p is not modified. Planning uses it to answer with the state a record
// will produce.
func (p PartitionImage) merge(r *PartitionChangeRecord) (PartitionImage, error) {
	if r.Replicas != nil {
		if err := checkReplicas(r.Replicas); err != nil {
			return p, err
		}
		// PartitionRegistration.merge: replicas that stay keep their
		// log dirs, new ones are unassigned.
		p.Directories = directoriesFrom(p.Replicas, p.Directories, r.Replicas)
		p.Replicas = slices.Clone(r.Replicas)
	}
	if r.Directories != nil {
		if len(r.Directories) != len(p.Replicas) {
			return p, fmt.Errorf("%d directories for %d replicas", len(r.Directories), len(p.Replicas))
		}
		p.Directories = slices.Clone(r.Directories)
	}
	if r.Isr != nil {
		p.ISR = nonEmpty(r.Isr) // an empty ISR is possible with ELR (KIP-966)
	}
	if r.Leader != NoLeaderChange {
		if r.Leader < NoLeader {
			return p, fmt.Errorf("invalid leader %d", r.Leader)
		}
		p.Leader = r.Leader
		p.LeaderEpoch++
	}
	if r.AddingReplicas != nil {
		p.AddingReplicas = nonEmpty(r.AddingReplicas)
	}
	if r.RemovingReplicas != nil {
		p.RemovingReplicas = nonEmpty(r.RemovingReplicas)
	}
	if r.EligibleLeaderReplicas != nil {
		p.ELR = nonEmpty(r.EligibleLeaderReplicas)
	}
	if r.LastKnownElr != nil {
		p.LastKnownELR = nonEmpty(r.LastKnownElr)
	}
	if err := checkReassignment(p); err != nil {
		return p, err
	}
	if err := checkELR(p); err != nil {
		return p, err
	}
	if r.LeaderRecoveryState != nil {
		switch s := *r.LeaderRecoveryState; s {
		case LeaderRecovered, LeaderRecovering:
			p.LeaderRecoveryState = s
		default:
			return p, fmt.Errorf("invalid leader recovery state %d", s)
		}
	}
	if err := checkLeaderAndISR(p.Replicas, p.ISR, p.Leader); err != nil {
		return p, err
	}
	p.PartitionEpoch++
	return p, nil
}

func (b *builder) replayRemoveTopic(r *RemoveTopicRecord) error {
	t, ok := b.next.TopicsByID[r.TopicId]
	if !ok {
		return fmt.Errorf("unknown topic id %s", r.TopicId)
	}
	b.copyTopics()
	delete(b.next.Topics, t.Name)
	delete(b.next.TopicsByID, t.ID)
	return nil
}

func (b *builder) replayConfig(r *ConfigRecord) error {
	if r.Name == "" {
		return errors.New("empty config name")
	}
	switch r.ResourceType {
	case ConfigResourceTopic:
		t0, ok := b.next.Topics[r.ResourceName]
		if !ok {
			return fmt.Errorf("config for unknown topic %q", r.ResourceName)
		}
		t, err := b.mutableTopic(t0.ID)
		if err != nil {
			return err
		}
		if r.Value == nil {
			delete(t.Configs, r.Name)
		} else {
			t.Configs[r.Name] = *r.Value
		}
		return nil
	case ConfigResourceBroker:
		if !b.brokerConfigsCopied {
			b.next.BrokerConfigs = maps.Clone(b.next.BrokerConfigs)
			if b.next.BrokerConfigs == nil {
				b.next.BrokerConfigs = map[string]map[string]string{}
			}
			b.brokerConfigsCopied = true
		}
		cfg := maps.Clone(b.next.BrokerConfigs[r.ResourceName])
		if cfg == nil {
			cfg = map[string]string{}
		}
		if r.Value == nil {
			delete(cfg, r.Name)
		} else {
			cfg[r.Name] = *r.Value
		}
		if len(cfg) == 0 {
			delete(b.next.BrokerConfigs, r.ResourceName)
		} else {
			b.next.BrokerConfigs[r.ResourceName] = cfg
		}
		return nil
	}
	return fmt.Errorf("unsupported config resource type %d", r.ResourceType)
}

func (b *builder) copyBrokers() {
	if !b.brokersCopied {
		b.next.Brokers = maps.Clone(b.next.Brokers)
		if b.next.Brokers == nil {
			b.next.Brokers = map[int32]*BrokerRegistration{}
		}
		b.brokersCopied = true
	}
}

func (b *builder) replayRegisterBroker(r *RegisterBrokerRecord) error {
	if r.BrokerId < 0 {
		return fmt.Errorf("invalid broker id %d", r.BrokerId)
	}
	b.copyBrokers()
	reg := brokerFromRecord(r)
	if reg.Epoch <= 0 {
		reg.Epoch = int64(b.offset)
	}
	b.next.Brokers[r.BrokerId] = reg
	return nil
}

// replayBrokerChange applies a change to a registration as Kafka's
// ClusterControlManager.replayRegistrationChange does: the record must name
// the current incarnation's epoch, and a fencing change leaves the
// controlled-shutdown flag alone.
func (b *builder) replayBrokerChange(id int32, epoch int64, fencing, shutdown int8) error {
	cur, ok := b.next.Brokers[id]
	if !ok {
		return fmt.Errorf("broker %d is not registered", id)
	}
	if cur.Epoch != epoch {
		return fmt.Errorf("broker %d has epoch %d, not %d", id, cur.Epoch, epoch)
	}
	next := *cur
	switch fencing {
	case FencingChangeFence:
		next.Fenced = true
	case FencingChangeUnfence:
		next.Fenced = false
	case FencingChangeNone:
	default:
		return fmt.Errorf("invalid fencing change %d", fencing)
	}
	switch shutdown {
	case ControlledShutdownChangeEnter:
		next.InControlledShutdown = true
	case ControlledShutdownChangeNone:
	default:
		return fmt.Errorf("invalid controlled shutdown change %d", shutdown)
	}
	b.copyBrokers()
	b.next.Brokers[id] = &next
	return nil
}

func (b *builder) replayUnregisterBroker(r *UnregisterBrokerRecord) error {
	cur, ok := b.next.Brokers[r.BrokerId]
	if !ok {
		return fmt.Errorf("broker %d is not registered", r.BrokerId)
	}
	if cur.Epoch != r.BrokerEpoch {
		return fmt.Errorf("broker %d has epoch %d, not %d", r.BrokerId, cur.Epoch, r.BrokerEpoch)
	}
	b.copyBrokers()
	delete(b.next.Brokers, r.BrokerId)
	return nil
}

// nonEmpty clones ids, mapping an empty list to nil.
func nonEmpty(ids []int32) []int32 {
	if len(ids) == 0 {
		return nil
	}
	return slices.Clone(ids)
}

// checkReassignment checks that adding and removing replicas are distinct
// replicas of the partition.
func checkReassignment(p PartitionImage) error {
	for _, id := range p.AddingReplicas {
		if !slices.Contains(p.Replicas, id) || slices.Contains(p.RemovingReplicas, id) {
			return fmt.Errorf("adding replica %d is not a replica, or is also being removed", id)
		}
	}
	for _, id := range p.RemovingReplicas {
		if !slices.Contains(p.Replicas, id) {
			return fmt.Errorf("removing replica %d is not a replica", id)
		}
	}
	return nil
}

// checkELR checks the KIP-966 lists: the ELR holds distinct replicas
// outside the ISR, LastKnownElr distinct broker ids (a last leader that a
// reassignment has since removed may stay there).
func checkELR(p PartitionImage) error {
	for i, id := range p.ELR {
		if !slices.Contains(p.Replicas, id) || slices.Contains(p.ISR, id) || slices.Contains(p.ELR[:i], id) {
			return fmt.Errorf("eligible leader replica %d is not a replica, is in the isr, or is listed twice", id)
		}
	}
	for i, id := range p.LastKnownELR {
		if id < 0 || slices.Contains(p.LastKnownELR[:i], id) {
			return fmt.Errorf("invalid last known elr member %d, or listed twice", id)
		}
	}
	return nil
}

// replayClearElr empties the ELR and LastKnownElr of one topic's
// partitions, or of every topic's, as Kafka's
// ReplicationControlManager.replay(ClearElrRecord) does: each partition
// whose lists change takes a new partition epoch.
func (b *builder) replayClearElr(r *ClearElrRecord) error {
	var ids []UUID
	if r.TopicName != "" {
		t, ok := b.next.Topics[r.TopicName]
		if !ok {
			return fmt.Errorf("cannot clear the elr of unknown topic %q", r.TopicName)
		}
		ids = []UUID{t.ID}
	} else {
		for _, name := range b.next.SortedTopicNames() {
			ids = append(ids, b.next.Topics[name].ID)
		}
	}
	for _, id := range ids {
		if !hasELR(b.next.TopicsByID[id]) {
			continue
		}
		t, err := b.mutableTopic(id)
		if err != nil {
			return err
		}
		for i, p := range t.Partitions {
			if len(p.ELR) == 0 && len(p.LastKnownELR) == 0 {
				continue
			}
			p.ELR, p.LastKnownELR = nil, nil
			p.PartitionEpoch++
			t.Partitions[i] = p
		}
	}
	return nil
}

func hasELR(t *TopicImage) bool {
	for _, p := range t.Partitions {
		if len(p.ELR) > 0 || len(p.LastKnownELR) > 0 {
			return true
		}
	}
	return false
}

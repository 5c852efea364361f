package controller

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// This file turns admin requests into records, the job of Kafka's
// ReplicationControlManager. It is pure: it reads an image and returns the
// records to propose plus per-item outcomes; randomness comes in as arguments.

// MaxPartitionsPerTopic caps NumPartitions in one request. Kafka has no hard
// limit, but a request asking for 2^31-1 partitions must be refused before
// anything is allocated for it.
const MaxPartitionsPerTopic = 100_000

// MaxRecordsPerUserOp caps the partitions one admin request may add, as
// Kafka's controller bounds the records one user operation may generate
// (QuorumController.MAX_RECORDS_PER_USER_OP, one record per new partition).
// CreateTopics counts the partitions asked for before anything else and
// refuses the whole request (ReplicationControlManager
// .validateTotalNumberOfPartitions); CreatePartitions refuses the same way
// once its records overflow the bound (BoundedListTooLongException, which
// the controller answers as a policy violation). Either way POLICY_VIOLATION
// for every topic, nothing written: a random count can no longer make a
// broker open tens of thousands of logs in one request.
const MaxRecordsPerUserOp = 10_000

// Kafka's messages for the two refusals above.
const (
	msgTooManyPartitions = "Excessively large number of partitions per request."
	msgBatchTooLarge     = "Unable to perform excessively large batch operation."
)

// ErrBatchTooLarge is CreatePartitions' refusal of a request that adds more
// than MaxRecordsPerUserOp partitions; the server answers it for every topic.
var ErrBatchTooLarge = fmt.Errorf("%s: %w", msgBatchTooLarge, kerr.PolicyViolation)

// requestedPartitions is what validateTotalNumberOfPartitions counts for one
// topic: its assignments, else its count (the default for -1; nothing for
// an invalid count, which fails on its own).
func requestedPartitions(s TopicSpec, defPartitions int32) int64 {
	switch {
	case len(s.Assignments) > 0:
		return int64(len(s.Assignments))
	case s.NumPartitions == -1:
		return int64(defPartitions)
	case s.NumPartitions > 0:
		return int64(s.NumPartitions)
	}
	return 0
}

// maxTopicNameLength is Kafka's Topic.MAX_NAME_LENGTH.
const maxTopicNameLength = 249

// ValidateTopicName applies Kafka's topic name rules (Topic.validate).
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("topic name is illegal, it can't be empty: %w", kerr.InvalidTopicException)
	case name == "." || name == "..":
		return fmt.Errorf("topic name cannot be \".\" or \"..\": %w", kerr.InvalidTopicException)
	case len(name) > maxTopicNameLength:
		return fmt.Errorf("topic name is illegal, it can't be longer than %d characters, topic name: %.64s…: %w",
			maxTopicNameLength, name, kerr.InvalidTopicException)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("topic name %q is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-': %w",
				name, kerr.InvalidTopicException)
		}
	}
	return nil
}

// collisionName maps a topic name to the name its metrics use: Kafka refuses
// topics whose names differ only in '.' versus '_' (Topic.hasCollision).
func collisionName(name string) string { return strings.ReplaceAll(name, ".", "_") }

// TopicSpec is one topic of a CreateTopics request.
type TopicSpec struct {
	Name              string
	NumPartitions     int32 // -1: the controller's default
	ReplicationFactor int16 // -1: the controller's default
	// Assignments is an optional manual assignment, partition -> replicas.
	// When set, NumPartitions and ReplicationFactor must be -1.
	Assignments map[int32][]int32
	Configs     map[string]string
}

// CreateTopicResult is the outcome for one TopicSpec.
type CreateTopicResult struct {
	Name              string
	TopicID           [16]byte
	NumPartitions     int32
	ReplicationFactor int16
	Err               error
}

// placement supplies what is random in a plan: topic ids and where the
// round-robin placement starts.
type placement struct {
	newTopicID func() UUID
	start      func(n int) int
}

// planCreateTopics validates specs against im and returns the records creating
// every valid topic, in request order, and one result per spec.
func planCreateTopics(im *Image, specs []TopicSpec, defPartitions int32, defRF int16, pl placement) ([]Record, []CreateTopicResult) {
	results := make([]CreateTopicResult, len(specs))
	var requested int64
	for _, s := range specs {
		requested += requestedPartitions(s, defPartitions)
	}
	if requested > MaxRecordsPerUserOp {
		for i, s := range specs {
			results[i] = CreateTopicResult{Name: s.Name, Err: fmt.Errorf("%s: %w", msgTooManyPartitions, kerr.PolicyViolation)}
		}
		return nil, results
	}
	counts := map[string]int{}
	for _, s := range specs {
		counts[s.Name]++
	}
	collisions := map[string]string{}
	for name := range im.Topics {
		collisions[collisionName(name)] = name
	}
	brokers := usableBrokers(im)
	var recs []Record
	for i, s := range specs {
		res := &results[i]
		res.Name = s.Name
		if counts[s.Name] > 1 {
			// Kafka's ControllerApis answers every copy of a duplicated name.
			res.Err = fmt.Errorf("topic %q appears more than once in the request: %w", s.Name, kerr.InvalidRequest)
			continue
		}
		if err := ValidateTopicName(s.Name); err != nil {
			res.Err = err
			continue
		}
		if _, ok := im.Topics[s.Name]; ok {
			res.Err = fmt.Errorf("topic %q already exists: %w", s.Name, kerr.TopicAlreadyExists)
			continue
		}
		if other, ok := collisions[collisionName(s.Name)]; ok {
			res.Err = fmt.Errorf("topic %q collides with existing topic %q (a '.' and a '_' in the same place): %w",
				s.Name, other, kerr.InvalidTopicException)
			continue
		}
		assign, err := assignReplicas(im, s, defPartitions, defRF, brokers, pl)
		if err != nil {
			res.Err = err
			continue
		}
		for k := range s.Configs {
			if k == "" {
				res.Err = fmt.Errorf("topic %q: empty config name: %w", s.Name, kerr.InvalidConfig)
				break
			}
		}
		if res.Err != nil {
			continue
		}
		id := pl.newTopicID()
		for range 8 {
			if _, taken := im.TopicsByID[id]; !taken && id != (UUID{}) {
				break
			}
			id = pl.newTopicID()
		}
		if _, taken := im.TopicsByID[id]; taken || id == (UUID{}) {
			res.Err = fmt.Errorf("topic %q: no free topic id: %w", s.Name, kerr.UnknownServerError)
			continue
		}
		res.TopicID = id
		res.NumPartitions = int32(len(assign))
		res.ReplicationFactor = int16(len(assign[0]))
		collisions[collisionName(s.Name)] = s.Name

		recs = append(recs, &TopicRecord{Name: s.Name, TopicId: id})
		for _, k := range slices.Sorted(maps.Keys(s.Configs)) {
			v := s.Configs[k]
			recs = append(recs, &ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: s.Name, Name: k, Value: &v})
		}
		for p, replicas := range assign {
			recs = append(recs, newPartitionRecord(im, id, int32(p), replicas))
		}
	}
	return recs, results
}

// newPartitionRecord starts a partition as Kafka does: the first replica
// leads, every replica is in sync, epochs at 0, and a replica on a broker
// with a single log dir is placed in it (defaultDir).
func newPartitionRecord(im *Image, id UUID, p int32, replicas []int32) *PartitionRecord {
	return &PartitionRecord{
		PartitionId: p,
		TopicId:     id,
		Replicas:    replicas,
		Isr:         slices.Clone(replicas),
		Leader:      replicas[0],
		Directories: im.defaultDirectories(replicas),
	}
}

// assignReplicas returns the replica list of every partition of s.
func assignReplicas(im *Image, s TopicSpec, defPartitions int32, defRF int16, brokers []usableBroker, pl placement) ([][]int32, error) {
	if len(s.Assignments) > 0 {
		if s.NumPartitions != -1 || s.ReplicationFactor != -1 {
			return nil, fmt.Errorf("topic %q: both numPartitions or replicationFactor and replicasAssignments were set, both cannot be used at the same time: %w",
				s.Name, kerr.InvalidRequest)
		}
		return manualAssignment(im, s)
	}
	n, rf := s.NumPartitions, s.ReplicationFactor
	if n == -1 {
		n = max(defPartitions, 1)
	}
	if rf == -1 {
		rf = max(defRF, 1)
	}
	if n <= 0 {
		return nil, fmt.Errorf("topic %q: number of partitions was set to an invalid non-positive value %d: %w", s.Name, n, kerr.InvalidPartitions)
	}
	if n > MaxPartitionsPerTopic {
		return nil, fmt.Errorf("topic %q: %d partitions exceeds the limit of %d per topic: %w", s.Name, n, MaxPartitionsPerTopic, kerr.InvalidPartitions)
	}
	if rf <= 0 {
		return nil, fmt.Errorf("topic %q: replication factor must be larger than 0, or -1 to use the default value: %w", s.Name, kerr.InvalidReplicationFactor)
	}
	return placeReplicas(s.Name, 0, n, rf, brokers, pl)
}

// manualAssignment validates a CreateTopics replica assignment as Kafka's
// ReplicationControlManager does.
func manualAssignment(im *Image, s TopicSpec) ([][]int32, error) {
	n := len(s.Assignments)
	if n > MaxPartitionsPerTopic {
		return nil, fmt.Errorf("topic %q: %d partitions exceeds the limit of %d per topic: %w", s.Name, n, MaxPartitionsPerTopic, kerr.InvalidPartitions)
	}
	out := make([][]int32, n)
	for p, replicas := range s.Assignments {
		if p < 0 || int(p) >= n {
			return nil, fmt.Errorf("topic %q: partitions should be a consecutive 0-based integer sequence: %w", s.Name, kerr.InvalidReplicaAssignment)
		}
		if err := checkAssignment(im, s.Name, replicas); err != nil {
			return nil, err
		}
		out[p] = slices.Clone(replicas)
	}
	for _, r := range out {
		if len(r) != len(out[0]) {
			return nil, fmt.Errorf("topic %q: all partitions should have the same number of replicas: %w", s.Name, kerr.InvalidReplicaAssignment)
		}
	}
	return out, nil
}

func checkAssignment(im *Image, topic string, replicas []int32) error {
	if err := checkReplicas(replicas); err != nil {
		return fmt.Errorf("topic %q: invalid replica assignment %v: %v: %w", topic, replicas, err, kerr.InvalidReplicaAssignment)
	}
	for _, r := range replicas {
		if _, ok := im.Brokers[r]; !ok {
			return fmt.Errorf("topic %q: the manual partition assignment includes broker %d, but no such broker is registered: %w",
				topic, r, kerr.InvalidReplicaAssignment)
		}
	}
	return nil
}

// TopicRef names a topic to delete, by name or by id.
type TopicRef struct {
	Name string
	ID   [16]byte
}

// DeleteTopicResult is the outcome for one TopicRef.
type DeleteTopicResult struct {
	Name    string
	TopicID [16]byte
	Err     error
}

// planDeleteTopics resolves refs against im and returns the records deleting
// every valid one and one result per ref.
func planDeleteTopics(im *Image, refs []TopicRef) ([]Record, []DeleteTopicResult) {
	results := make([]DeleteTopicResult, len(refs))
	names, ids := map[string]int{}, map[[16]byte]int{}
	for _, r := range refs {
		if r.Name != "" {
			names[r.Name]++
		} else {
			ids[r.ID]++
		}
	}
	deleting := map[[16]byte]bool{}
	var recs []Record
	for i, r := range refs {
		res := &results[i]
		res.Name, res.TopicID = r.Name, r.ID
		var t *TopicImage
		switch {
		case r.Name != "" && r.ID != [16]byte{}:
			res.Err = fmt.Errorf("topic %q: set either the name or the id, not both: %w", r.Name, kerr.InvalidRequest)
			continue
		case r.Name != "":
			if names[r.Name] > 1 {
				res.Err = fmt.Errorf("topic %q appears more than once in the request: %w", r.Name, kerr.InvalidRequest)
				continue
			}
			var ok bool
			if t, ok = im.Topics[r.Name]; !ok {
				res.Err = fmt.Errorf("topic %q does not exist: %w", r.Name, kerr.UnknownTopicOrPartition)
				continue
			}
		default:
			if r.ID == [16]byte{} {
				res.Err = fmt.Errorf("neither topic name nor id given: %w", kerr.InvalidRequest)
				continue
			}
			if ids[r.ID] > 1 {
				res.Err = fmt.Errorf("topic id %s appears more than once in the request: %w", UUID(r.ID), kerr.InvalidRequest)
				continue
			}
			var ok bool
			if t, ok = im.TopicsByID[r.ID]; !ok {
				res.Err = fmt.Errorf("topic id %s does not exist: %w", UUID(r.ID), kerr.UnknownTopicID)
				continue
			}
		}
		res.Name, res.TopicID = t.Name, t.ID
		if deleting[t.ID] {
			// Named once by name and once by id: one removal, both succeed.
			continue
		}
		deleting[t.ID] = true
		recs = append(recs, &RemoveTopicRecord{TopicId: t.ID})
	}
	return recs, results
}

// planCreatePartitions returns the records growing topic to total partitions.
func planCreatePartitions(im *Image, topic string, total int32, pl placement) ([]Record, error) {
	t, ok := im.Topics[topic]
	if !ok {
		return nil, fmt.Errorf("topic %q does not exist: %w", topic, kerr.UnknownTopicOrPartition)
	}
	cur := int32(len(t.Partitions))
	switch {
	case total == cur:
		return nil, fmt.Errorf("topic %q already has %d partitions: %w", topic, cur, kerr.InvalidPartitions)
	case total < cur:
		return nil, fmt.Errorf("topic %q currently has %d partitions, %d would not be an increase: %w", topic, cur, total, kerr.InvalidPartitions)
	case int64(total)-int64(cur) > MaxRecordsPerUserOp:
		return nil, ErrBatchTooLarge
	case total > MaxPartitionsPerTopic:
		return nil, fmt.Errorf("topic %q: %d partitions exceeds the limit of %d per topic: %w", topic, total, MaxPartitionsPerTopic, kerr.InvalidPartitions)
	}
	rf := int16(1)
	if cur > 0 {
		rf = int16(len(t.Partitions[0].Replicas))
	}
	assign, err := placeReplicas(topic, cur, total-cur, rf, usableBrokers(im), pl)
	if err != nil {
		return nil, err
	}
	recs := make([]Record, 0, len(assign))
	for i, replicas := range assign {
		recs = append(recs, newPartitionRecord(im, t.ID, cur+int32(i), replicas))
	}
	return recs, nil
}

// planTopicConfigs returns the ConfigRecords applying changes (nil value =
// delete) to a topic's configs; only real changes produce records.
func planTopicConfigs(im *Image, topic string, changes map[string]*string) ([]Record, error) {
	t, ok := im.Topics[topic]
	if !ok {
		return nil, fmt.Errorf("topic %q does not exist: %w", topic, kerr.UnknownTopicOrPartition)
	}
	var recs []Record
	for _, k := range slices.Sorted(maps.Keys(changes)) {
		if k == "" {
			return nil, fmt.Errorf("topic %q: empty config name: %w", topic, kerr.InvalidConfig)
		}
		v := changes[k]
		old, had := t.Configs[k]
		if v == nil && !had || v != nil && had && old == *v {
			continue
		}
		var val *string
		if v != nil {
			s := *v
			val = &s
		}
		recs = append(recs, &ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: topic, Name: k, Value: val})
	}
	clear, err := elrConfigRecords(im, ConfigResourceTopic, topic, changes)
	if err != nil {
		return nil, err
	}
	return append(recs, clear...), nil
}

// maxProducerIDBlock bounds one AllocateProducerIDs call; Kafka hands out
// blocks of 1000 (ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE).
const maxProducerIDBlock = 1 << 20

// planProducerIDs returns the record handing out count producer ids and the
// first of them.
func planProducerIDs(im *Image, count int) ([]Record, int64, error) {
	if count <= 0 || count > maxProducerIDBlock {
		return nil, 0, fmt.Errorf("producer id block of %d is outside 1..%d: %w", count, maxProducerIDBlock, kerr.InvalidRequest)
	}
	first := im.NextProducerID
	// Kafka stops short of Long.MAX_VALUE so that ids plus epochs never wrap.
	if first > (1<<63-1)-int64(count)-maxProducerIDBlock {
		return nil, 0, fmt.Errorf("producer ids are exhausted: %w", kerr.UnknownServerError)
	}
	return []Record{&ProducerIdsRecord{BrokerId: -1, NextProducerId: first + int64(count)}}, first, nil
}

// registrationRecord returns the record registering reg, or nil when reg is
// already registered exactly so (re-registration is idempotent, as in Kafka
// for a repeated incarnation id).
func registrationRecord(im *Image, reg BrokerRegistration) (Record, error) {
	if reg.ID < 0 {
		return nil, fmt.Errorf("invalid broker id %d: %w", reg.ID, kerr.InvalidRequest)
	}
	for _, e := range reg.Endpoints {
		if _, ok := securityProtocols[e.SecurityProtocol]; !ok {
			return nil, fmt.Errorf("broker %d endpoint %q: unknown security protocol %q: %w", reg.ID, e.Name, e.SecurityProtocol, kerr.InvalidRequest)
		}
		if e.Port < 0 || e.Port > 65535 {
			return nil, fmt.Errorf("broker %d endpoint %q: invalid port %d: %w", reg.ID, e.Name, e.Port, kerr.InvalidRequest)
		}
	}
	if old, ok := im.Brokers[reg.ID]; ok && sameRegistration(old, &reg) {
		return nil, nil
	}
	return brokerRecord(&reg), nil
}

// planRegisterBroker is Kafka's ClusterControlManager.registerBroker: an id
// held by another incarnation whose session has not expired is
// DUPLICATE_BROKER_REGISTRATION; otherwise the registration (a new broker
// epoch) is written and the broker starts a new session. A fenced
// registration first takes the id out of every ISR and leadership: the
// previous incarnation's log may lack what it had acknowledged.
//
// previousEpoch is the broker epoch the registering broker says its
// previous incarnation stopped cleanly with (BrokerRegistration v3+), -1
// when it cannot say. With ELR on, a new incarnation that cannot show the
// epoch the image holds shut down uncleanly: it leaves every ISR and ELR
// (KIP-966, uncleanShutdownChanges).
func planRegisterBroker(im *Image, h *heartbeats, reg BrokerRegistration, previousEpoch int64, now time.Time, unclean electionPolicy) ([]Record, error) {
	h.sync(im, now)
	old, existed := im.Brokers[reg.ID]
	if existed && old.IncarnationID != reg.IncarnationID && h.hasValidSession(im, reg.ID, now) {
		return nil, fmt.Errorf("another broker is registered with id %d and its session has not expired: %w", reg.ID, kerr.DuplicateBrokerRegistration)
	}
	r, err := registrationRecord(im, reg)
	if err != nil || r == nil {
		return nil, err
	}
	var recs []Record
	newIncarnation := !existed || old.IncarnationID != reg.IncarnationID
	switch {
	case newIncarnation && im.ELREnabled() && !cleanShutdown(im, reg.ID, previousEpoch):
		recs = uncleanShutdownChanges(im, reg.ID, unclean)
	case reg.Fenced:
		recs = brokerRemovedChanges(im, reg.ID, unclean)
	}
	h.register(reg.ID, now)
	return append(recs, r), nil
}

func sameRegistration(a, b *BrokerRegistration) bool {
	// A registration in controlled shutdown is always replaced: the new
	// one starts afresh (Kafka writes a new record for every registration).
	return a.ID == b.ID && a.Rack == b.Rack && a.Fenced == b.Fenced && a.InControlledShutdown == b.InControlledShutdown &&
		a.IncarnationID == b.IncarnationID && slices.Equal(a.Endpoints, b.Endpoints) && slices.Equal(a.LogDirs, b.LogDirs)
}

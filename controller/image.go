package controller

import (
	"maps"
	"slices"
)

// Image is the cluster metadata as of one applied raft entry. It is immutable:
// readers may hold it for as long as they like without locks.
type Image struct {
	ClusterID string
	// ControllerID is the node id of the active controller (the raft
	// leader) when the image was published, -1 when unknown. It is not part
	// of the replicated state.
	ControllerID int32
	Offset       uint64 // index of the last applied raft entry

	Topics     map[string]*TopicImage
	TopicsByID map[[16]byte]*TopicImage
	Brokers    map[int32]*BrokerRegistration

	// NextProducerID is the first producer id not yet handed out.
	NextProducerID int64

	// Features holds finalized feature levels (FeatureLevelRecord).
	Features map[string]int16
	// BrokerConfigs holds dynamic broker configs by resource name: "" is the
	// cluster-wide default, "1" is broker 1 (Kafka's ConfigResource naming).
	BrokerConfigs map[string]map[string]string
	// ClientQuotas holds client quotas (ClientQuotaRecord) by entity; see
	// quotas.go.
	ClientQuotas map[string]ClientQuota
	// ScramCredentials holds SCRAM credentials by user and mechanism
	// (UserScramCredentialRecord); see scram.go.
	ScramCredentials map[string]map[int8]ScramCredential
	// ACLs holds the ACLs (AccessControlEntryRecord) by id, nil when there
	// are none; see acls.go.
	ACLs *ACLImage
}

// TopicImage is one topic. Partitions[i].Partition == i.
type TopicImage struct {
	Name       string
	ID         [16]byte
	Partitions []PartitionImage
	Configs    map[string]string
}

// PartitionImage is one partition's replica set and leadership.
type PartitionImage struct {
	Partition      int32
	Replicas, ISR  []int32
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	// LeaderRecoveryState is LeaderRecovered, or LeaderRecovering after an
	// unclean election until the new leader reports itself recovered (KIP-704).
	LeaderRecoveryState int8
	// AddingReplicas and RemovingReplicas describe a reassignment in
	// progress (KIP-455): Replicas holds the target replicas followed by
	// the ones being removed; the reassignment completes once every adding
	// replica is in the ISR.
	AddingReplicas, RemovingReplicas []int32
	// Directories holds the log dir id of each replica, in Replicas order
	// (KIP-858); nil when none is known (every replica DirUnassigned).
	Directories []UUID
	// ELR holds the eligible leader replicas (KIP-966): members that left
	// the ISR while it was below min.insync.replicas, so the high watermark
	// has not moved since and they hold every committed record; when the
	// ISR is empty one of them is elected cleanly. LastKnownELR holds the
	// last leader of a partition that became leaderless with an empty ISR,
	// elected (as an unclean election) if it returns while ISR and ELR are
	// empty. Both are empty unless eligible.leader.replicas.version >= 1.
	ELR, LastKnownELR []int32
}

// Reassigning reports whether a reassignment of the partition is in progress.
func (p PartitionImage) Reassigning() bool {
	return len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0
}

// Leader recovery states of a partition (Kafka's LeaderRecoveryState, KIP-704).
const (
	LeaderRecovered  int8 = 0
	LeaderRecovering int8 = 1
)

// Endpoint is one listener a broker registered.
type Endpoint struct {
	Name, Host       string
	Port             int32
	SecurityProtocol string // PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL
}

// BrokerRegistration is a broker as registered with the controller.
type BrokerRegistration struct {
	ID            int32
	Endpoints     []Endpoint
	Rack          string
	Fenced        bool
	IncarnationID [16]byte
	// Epoch is the broker epoch: the metadata offset of the entry that
	// registered this incarnation, as in Kafka. Requests from the broker
	// (heartbeats, AlterPartition) carry it; an older one is stale.
	Epoch int64
	// InControlledShutdown is set while the broker moves its leaderships
	// away before a clean stop (BrokerRegistrationChangeRecord).
	InControlledShutdown bool
	// LogDirs are the ids of the broker's online log dirs, sorted
	// (KIP-858); empty when the broker did not say.
	LogDirs []UUID
}

// NewImage returns the empty image of a cluster.
func NewImage(clusterID string) *Image {
	return &Image{
		ClusterID:     clusterID,
		ControllerID:  -1,
		Topics:        map[string]*TopicImage{},
		TopicsByID:    map[[16]byte]*TopicImage{},
		Brokers:       map[int32]*BrokerRegistration{},
		Features:      map[string]int16{},
		BrokerConfigs: map[string]map[string]string{},
	}
}

// Topic returns the named topic.
func (im *Image) Topic(name string) (*TopicImage, bool) {
	t, ok := im.Topics[name]
	return t, ok
}

// TopicByID returns the topic with the given id.
func (im *Image) TopicByID(id [16]byte) (*TopicImage, bool) {
	t, ok := im.TopicsByID[id]
	return t, ok
}

// SortedTopicNames returns every topic name in lexical order.
func (im *Image) SortedTopicNames() []string {
	return slices.Sorted(maps.Keys(im.Topics))
}

// SortedBrokerIDs returns every registered broker id in ascending order.
func (im *Image) SortedBrokerIDs() []int32 {
	return slices.Sorted(maps.Keys(im.Brokers))
}

// UnfencedBrokerIDs returns the ids of registered, unfenced brokers in
// ascending order: the brokers replicas may be placed on.
func (im *Image) UnfencedBrokerIDs() []int32 {
	var ids []int32
	for _, id := range im.SortedBrokerIDs() {
		if !im.Brokers[id].Fenced {
			ids = append(ids, id)
		}
	}
	return ids
}

// Partition returns partition p of the topic.
func (t *TopicImage) Partition(p int32) (PartitionImage, bool) {
	if p < 0 || int(p) >= len(t.Partitions) {
		return PartitionImage{}, false
	}
	return t.Partitions[p], true
}

// withControllerID returns a copy of im naming another active controller.
// The maps are shared: both images are immutable.
func (im *Image) withControllerID(id int32) *Image {
	next := *im
	next.ControllerID = id
	return &next
}

// withOffset returns a copy of im at another raft offset.
func (im *Image) withOffset(off uint64) *Image {
	next := *im
	next.Offset = off
	return &next
}

// Records returns the records that rebuild im from the empty image: Kafka
// writes snapshots this way too, and replaying them reuses the apply path.
func (im *Image) Records() []Record {
	var recs []Record
	for _, name := range slices.Sorted(maps.Keys(im.Features)) {
		recs = append(recs, &FeatureLevelRecord{Name: name, FeatureLevel: im.Features[name]})
	}
	for _, id := range im.SortedBrokerIDs() {
		b := im.Brokers[id]
		recs = append(recs, brokerRecord(b))
		if b.InControlledShutdown {
			recs = append(recs, &BrokerRegistrationChangeRecord{BrokerId: id, BrokerEpoch: b.Epoch, InControlledShutdown: ControlledShutdownChangeEnter})
		}
	}
	for _, res := range slices.Sorted(maps.Keys(im.BrokerConfigs)) {
		cfg := im.BrokerConfigs[res]
		for _, k := range slices.Sorted(maps.Keys(cfg)) {
			v := cfg[k]
			recs = append(recs, &ConfigRecord{ResourceType: ConfigResourceBroker, ResourceName: res, Name: k, Value: &v})
		}
	}
	for _, name := range im.SortedTopicNames() {
		t := im.Topics[name]
		recs = append(recs, &TopicRecord{Name: t.Name, TopicId: t.ID})
		for _, k := range slices.Sorted(maps.Keys(t.Configs)) {
			v := t.Configs[k]
			recs = append(recs, &ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: name, Name: k, Value: &v})
		}
		for _, p := range t.Partitions {
			recs = append(recs, &PartitionRecord{
				PartitionId:    p.Partition,
				TopicId:        t.ID,
				Replicas:       p.Replicas,
				Isr:            p.ISR,
				Leader:         p.Leader,
				LeaderEpoch:    p.LeaderEpoch,
				PartitionEpoch: p.PartitionEpoch,

				LeaderRecoveryState: p.LeaderRecoveryState,
				AddingReplicas:      p.AddingReplicas,
				RemovingReplicas:    p.RemovingReplicas,
				Directories:         p.Directories,

				EligibleLeaderReplicas: p.ELR,
				LastKnownElr:           p.LastKnownELR,
			})
		}
	}
	recs = append(recs, im.quotaRecords()...)
	recs = append(recs, im.scramRecords()...)
	recs = append(recs, im.aclRecords()...)
	if im.NextProducerID > 0 {
		recs = append(recs, &ProducerIdsRecord{BrokerId: -1, NextProducerId: im.NextProducerID})
	}
	return recs
}

// securityProtocols maps Kafka's SecurityProtocol names to their ids.
var securityProtocols = map[string]int16{
	"PLAINTEXT":      0,
	"SSL":            1,
	"SASL_PLAINTEXT": 2,
	"SASL_SSL":       3,
}

func securityProtocolName(id int16) string {
	for name, v := range securityProtocols {
		if v == id {
			return name
		}
	}
	return "UNKNOWN"
}

func brokerRecord(b *BrokerRegistration) *RegisterBrokerRecord {
	r := &RegisterBrokerRecord{BrokerId: b.ID, IncarnationId: b.IncarnationID, BrokerEpoch: b.Epoch, Fenced: b.Fenced,
		LogDirs: slices.Clone(b.LogDirs)}
	if b.Rack != "" {
		rack := b.Rack
		r.Rack = &rack
	}
	for _, e := range b.Endpoints {
		r.EndPoints = append(r.EndPoints, BrokerEndpoint{
			Name: e.Name, Host: e.Host, Port: uint16(e.Port),
			SecurityProtocol: securityProtocols[e.SecurityProtocol],
		})
	}
	return r
}

func brokerFromRecord(r *RegisterBrokerRecord) *BrokerRegistration {
	b := &BrokerRegistration{ID: r.BrokerId, IncarnationID: r.IncarnationId, Epoch: r.BrokerEpoch, Fenced: r.Fenced,
		LogDirs: sortedDirs(r.LogDirs)}
	if r.Rack != nil {
		b.Rack = *r.Rack
	}
	for _, e := range r.EndPoints {
		b.Endpoints = append(b.Endpoints, Endpoint{
			Name: e.Name, Host: e.Host, Port: int32(e.Port),
			SecurityProtocol: securityProtocolName(e.SecurityProtocol),
		})
	}
	return b
}

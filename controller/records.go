// Package controller holds Riffle's cluster metadata: typed records, applied in
// order, fold into an immutable Image (topics, partitions, replicas, leaders,
// ISR, epochs, configs, broker registrations, producer-id blocks). The records
// are Kafka's KRaft metadata records (metadata/src/main/resources/common/metadata)
// with the same field names; they travel through a hashicorp/raft quorum as
// JSON, one raft entry per atomic batch:
//
//	raft entry data = [ {"type":"TopicRecord","version":0,"data":{...}},
//	                    {"type":"PartitionRecord","version":0,"data":{...}}, ... ]
//
// Invariants:
//   - Images are never mutated once published; each applied entry yields a new
//     *Image that shares every unchanged topic with its predecessor.
//   - A batch applies entirely or not at all: a record that does not fit the
//     image rejects its whole entry, on every node alike (apply is a pure,
//     deterministic function of the previous image and the batch).
//   - Only the active controller (the raft leader) proposes, and it validates
//     requests against an image that has applied everything committed before
//     its own proposals, so replay never disagrees with validation.
package controller

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// UUID is Kafka's 128-bit identifier (topic IDs, incarnation IDs). In JSON it
// is written the way Kafka prints Uuid: URL-safe base64 without padding.
type UUID [16]byte

// MarshalText implements encoding.TextMarshaler.
func (u UUID) MarshalText() ([]byte, error) {
	return []byte(base64.RawURLEncoding.EncodeToString(u[:])), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (u *UUID) UnmarshalText(b []byte) error {
	// Check the length first: Decode panics when the output does not fit.
	if base64.RawURLEncoding.DecodedLen(len(b)) != 16 {
		return fmt.Errorf("invalid uuid %q", b)
	}
	var out [16]byte
	n, err := base64.RawURLEncoding.Decode(out[:], b)
	if err != nil || n != 16 {
		return fmt.Errorf("invalid uuid %q", b)
	}
	*u = out
	return nil
}

// String prints the UUID as Kafka does.
func (u UUID) String() string { return base64.RawURLEncoding.EncodeToString(u[:]) }

// Sentinel values of PartitionChangeRecord, as in Kafka's LeaderConstants.
const (
	NoLeader       int32 = -1 // the partition has no leader
	NoLeaderChange int32 = -2 // PartitionChangeRecord leaves the leader alone
)

// ConfigRecord resource types (Kafka's ConfigResource.Type ids).
const (
	ConfigResourceTopic  int8 = 2
	ConfigResourceBroker int8 = 4
)

// Record is one metadata record. Its type name is Kafka's record name.
type Record interface {
	recordType() string
}

// TopicRecord introduces a topic (Kafka TopicRecord v0).
type TopicRecord struct {
	Name    string `json:"Name"`
	TopicId UUID   `json:"TopicId"`
}

// PartitionRecord introduces (or replaces) one partition (Kafka PartitionRecord).
type PartitionRecord struct {
	PartitionId      int32   `json:"PartitionId"`
	TopicId          UUID    `json:"TopicId"`
	Replicas         []int32 `json:"Replicas"`
	Isr              []int32 `json:"Isr"`
	RemovingReplicas []int32 `json:"RemovingReplicas,omitempty"`
	AddingReplicas   []int32 `json:"AddingReplicas,omitempty"`
	Leader           int32   `json:"Leader"`
	LeaderEpoch      int32   `json:"LeaderEpoch"`
	PartitionEpoch   int32   `json:"PartitionEpoch"`
	// LeaderRecoveryState is LeaderRecovered (0) or LeaderRecovering (1).
	LeaderRecoveryState int8 `json:"LeaderRecoveryState,omitempty"`
	// Directories holds, per replica, the id of the log dir holding it
	// (KIP-858); DirUnassigned where unknown, absent when none is known.
	Directories []UUID `json:"Directories,omitempty"`
	// EligibleLeaderReplicas and LastKnownElr are KIP-966's (PartitionRecord
	// v1+): replicas outside the ISR that may still be elected cleanly, and
	// the last known leader of a partition left without ISR and ELR.
	// Entries written before ELR lack them and decode as empty.
	EligibleLeaderReplicas []int32 `json:"EligibleLeaderReplicas,omitempty"`
	LastKnownElr           []int32 `json:"LastKnownElr,omitempty"`
}

// PartitionChangeRecord changes a partition's ISR, leader or replicas (Kafka
// PartitionChangeRecord). A nil slice means "unchanged" (Kafka's null);
// Leader NoLeaderChange means the leader and leader epoch stay; a nil
// LeaderRecoveryState leaves it alone (Kafka's -1).
type PartitionChangeRecord struct {
	PartitionId int32   `json:"PartitionId"`
	TopicId     UUID    `json:"TopicId"`
	Isr         []int32 `json:"Isr"`
	Leader      int32   `json:"Leader"`
	Replicas    []int32 `json:"Replicas"`

	LeaderRecoveryState *int8 `json:"LeaderRecoveryState,omitempty"`
	// AddingReplicas and RemovingReplicas: nil (JSON null) leaves them
	// alone, empty clears them (a reassignment completed or cancelled).
	RemovingReplicas []int32 `json:"RemovingReplicas"`
	AddingReplicas   []int32 `json:"AddingReplicas"`
	// Directories, when present, replaces the replicas' log dir ids
	// (KIP-858, AssignReplicasToDirs); absent, a replica set change keeps
	// the ids of the replicas that stay.
	Directories []UUID `json:"Directories,omitempty"`
	// EligibleLeaderReplicas and LastKnownElr (PartitionChangeRecord v2,
	// KIP-966): nil leaves them alone, empty clears them. Entries written
	// before ELR lack them, which decodes as nil.
	EligibleLeaderReplicas []int32 `json:"EligibleLeaderReplicas"`
	LastKnownElr           []int32 `json:"LastKnownElr"`
}

// ClearElrRecord clears the ELR and LastKnownElr of every partition of a
// topic, or of every topic when TopicName is empty (Kafka's ClearElrRecord,
// written when min.insync.replicas changes or ELR is turned off).
type ClearElrRecord struct {
	TopicName string `json:"TopicName"`
}

// RemoveTopicRecord deletes a topic with its partitions and configs.
type RemoveTopicRecord struct {
	TopicId UUID `json:"TopicId"`
}

// ConfigRecord sets (Value non-nil) or deletes (Value nil) one dynamic config.
type ConfigRecord struct {
	ResourceType int8    `json:"ResourceType"`
	ResourceName string  `json:"ResourceName"`
	Name         string  `json:"Name"`
	Value        *string `json:"Value"`
}

// BrokerEndpoint is one listener of a RegisterBrokerRecord. SecurityProtocol
// is Kafka's SecurityProtocol id (PLAINTEXT 0, SSL 1, SASL_PLAINTEXT 2, SASL_SSL 3).
type BrokerEndpoint struct {
	Name             string `json:"Name"`
	Host             string `json:"Host"`
	Port             uint16 `json:"Port"`
	SecurityProtocol int16  `json:"SecurityProtocol"`
}

// RegisterBrokerRecord registers (or re-registers) a broker. BrokerEpoch 0
// (or below) means "the offset of the entry holding this record": Kafka's
// controller knows that offset before it writes, a raft proposer does not,
// so apply fills it in. Snapshots carry the epoch explicitly.
type RegisterBrokerRecord struct {
	BrokerId      int32            `json:"BrokerId"`
	IncarnationId UUID             `json:"IncarnationId"`
	BrokerEpoch   int64            `json:"BrokerEpoch"`
	EndPoints     []BrokerEndpoint `json:"EndPoints"`
	Rack          *string          `json:"Rack"`
	Fenced        bool             `json:"Fenced"`
	// LogDirs are the ids of the broker's online log dirs (KIP-858).
	LogDirs []UUID `json:"LogDirs,omitempty"`
}

// FenceBrokerRecord fences a broker (Kafka FenceBrokerRecord): it may lead
// nothing and join no ISR until it is unfenced.
type FenceBrokerRecord struct {
	Id    int32 `json:"Id"`
	Epoch int64 `json:"Epoch"`
}

// UnfenceBrokerRecord unfences a broker that has caught up with the
// metadata log (Kafka UnfenceBrokerRecord).
type UnfenceBrokerRecord struct {
	Id    int32 `json:"Id"`
	Epoch int64 `json:"Epoch"`
}

// Values of BrokerRegistrationChangeRecord's Fenced (Kafka's
// BrokerRegistrationFencingChange) and InControlledShutdown
// (BrokerRegistrationInControlledShutdownChange).
const (
	FencingChangeUnfence int8 = -1
	FencingChangeNone    int8 = 0
	FencingChangeFence   int8 = 1

	ControlledShutdownChangeNone  int8 = 0
	ControlledShutdownChangeEnter int8 = 1
)

// BrokerRegistrationChangeRecord changes a registered broker's state
// (Kafka BrokerRegistrationChangeRecord); Riffle writes it when a broker
// enters controlled shutdown and when log dirs of a broker go offline.
type BrokerRegistrationChangeRecord struct {
	BrokerId             int32 `json:"BrokerId"`
	BrokerEpoch          int64 `json:"BrokerEpoch"`
	Fenced               int8  `json:"Fenced"`
	InControlledShutdown int8  `json:"InControlledShutdown"`
	// LogDirs, when present, replaces the broker's online log dirs: the
	// broker reported the others offline (KIP-858).
	LogDirs []UUID `json:"LogDirs,omitempty"`
}

// UnregisterBrokerRecord removes a broker's registration (Kafka
// UnregisterBrokerRecord, written for UnregisterBroker).
type UnregisterBrokerRecord struct {
	BrokerId    int32 `json:"BrokerId"`
	BrokerEpoch int64 `json:"BrokerEpoch"`
}

// ProducerIdsRecord records that producer ids below NextProducerId are handed
// out, so that none is ever handed out twice (KIP-730).
type ProducerIdsRecord struct {
	BrokerId       int32 `json:"BrokerId"`
	BrokerEpoch    int64 `json:"BrokerEpoch"`
	NextProducerId int64 `json:"NextProducerId"`
}

// FeatureLevelRecord sets a finalized feature level (KIP-584, KIP-778).
type FeatureLevelRecord struct {
	Name         string `json:"Name"`
	FeatureLevel int16  `json:"FeatureLevel"`
}

func (*TopicRecord) recordType() string            { return "TopicRecord" }
func (*PartitionRecord) recordType() string        { return "PartitionRecord" }
func (*PartitionChangeRecord) recordType() string  { return "PartitionChangeRecord" }
func (*RemoveTopicRecord) recordType() string      { return "RemoveTopicRecord" }
func (*ConfigRecord) recordType() string           { return "ConfigRecord" }
func (*RegisterBrokerRecord) recordType() string   { return "RegisterBrokerRecord" }
func (*ProducerIdsRecord) recordType() string      { return "ProducerIdsRecord" }
func (*FenceBrokerRecord) recordType() string      { return "FenceBrokerRecord" }
func (*UnfenceBrokerRecord) recordType() string    { return "UnfenceBrokerRecord" }
func (*UnregisterBrokerRecord) recordType() string { return "UnregisterBrokerRecord" }
func (*BrokerRegistrationChangeRecord) recordType() string {
	return "BrokerRegistrationChangeRecord"
}
func (*FeatureLevelRecord) recordType() string { return "FeatureLevelRecord" }
func (*ClearElrRecord) recordType() string     { return "ClearElrRecord" }

// newRecord returns a record of the named type with Kafka's field defaults,
// ready to be decoded into; nil for an unknown type.
func newRecord(typ string) Record {
	switch typ {
	case "TopicRecord":
		return &TopicRecord{}
	case "PartitionRecord":
		return &PartitionRecord{PartitionId: -1}
	case "PartitionChangeRecord":
		return &PartitionChangeRecord{PartitionId: -1, Leader: NoLeaderChange}
	case "RemoveTopicRecord":
		return &RemoveTopicRecord{}
	case "ConfigRecord":
		return &ConfigRecord{}
	case "RegisterBrokerRecord":
		return &RegisterBrokerRecord{Fenced: true}
	case "ProducerIdsRecord":
		return &ProducerIdsRecord{}
	case "FenceBrokerRecord":
		return &FenceBrokerRecord{}
	case "UnfenceBrokerRecord":
		return &UnfenceBrokerRecord{}
	case "BrokerRegistrationChangeRecord":
		return &BrokerRegistrationChangeRecord{}
	case "UnregisterBrokerRecord":
		return &UnregisterBrokerRecord{}
	case "FeatureLevelRecord":
		return &FeatureLevelRecord{}
	case "ClientQuotaRecord":
		return &ClientQuotaRecord{}
	case "UserScramCredentialRecord":
		return &UserScramCredentialRecord{}
	case "RemoveUserScramCredentialRecord":
		return &RemoveUserScramCredentialRecord{}
	case "ClearElrRecord":
		return &ClearElrRecord{}
	case "AccessControlEntryRecord":
		return &AccessControlEntryRecord{}
	case "RemoveAccessControlEntryRecord":
		return &RemoveAccessControlEntryRecord{}
	}
	return nil
}

// recordVersion is the version every record is written at today. Decoding
// accepts this version only; a newer Riffle bumps it and keeps reading old ones.
const recordVersion = 0

type envelope struct {
	Type    string          `json:"type"`
	Version int16           `json:"version"`
	Data    json.RawMessage `json:"data"`
}

// maxBatchBytes bounds a decoded raft entry. An entry this large would only
// come from a corrupt or hostile log; creating 100,000 partitions is ~10 MiB.
const maxBatchBytes = 256 << 20

// EncodeBatch encodes records as one raft entry.
func EncodeBatch(recs []Record) ([]byte, error) {
	envs := make([]envelope, 0, len(recs))
	for _, r := range recs {
		data, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", r.recordType(), err)
		}
		envs = append(envs, envelope{Type: r.recordType(), Version: recordVersion, Data: data})
	}
	return json.Marshal(envs)
}

var errBadBatch = errors.New("malformed metadata batch")

// DecodeBatch decodes one raft entry. It never panics on bad input.
func DecodeBatch(b []byte) ([]Record, error) {
	if len(b) > maxBatchBytes {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", errBadBatch, len(b), maxBatchBytes)
	}
	var envs []envelope
	if err := json.Unmarshal(b, &envs); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadBatch, err)
	}
	recs := make([]Record, 0, len(envs))
	for i, e := range envs {
		r := newRecord(e.Type)
		if r == nil {
			return nil, fmt.Errorf("%w: record %d has unknown type %q", errBadBatch, i, e.Type)
		}
		if e.Version != recordVersion {
			return nil, fmt.Errorf("%w: record %d: %s version %d is not supported", errBadBatch, i, e.Type, e.Version)
		}
		if err := json.Unmarshal(e.Data, r); err != nil {
			return nil, fmt.Errorf("%w: record %d (%s): %v", errBadBatch, i, e.Type, err)
		}
		recs = append(recs, r)
	}
	return recs, nil
}

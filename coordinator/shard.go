package coordinator

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Config holds the broker settings the group coordinator obeys, with Kafka's
// property names in the comments.
type Config struct {
	InitialRebalanceDelay time.Duration // group.initial.rebalance.delay.ms
	MinSessionTimeout     time.Duration // group.min.session.timeout.ms
	MaxSessionTimeout     time.Duration // group.max.session.timeout.ms
	MaxSize               int           // group.max.size
	OffsetMetadataMaxSize int           // offset.metadata.max.bytes
	OffsetsRetention      time.Duration // offsets.retention.minutes
	RetentionCheck        time.Duration // offsets.retention.check.interval.ms

	// KIP-848 (ConsumerGroupHeartbeat).
	ConsumerProtocolEnabled   bool          // group.coordinator.rebalance.protocols contains "consumer"
	ConsumerSessionTimeout    time.Duration // group.consumer.session.timeout.ms
	ConsumerHeartbeatInterval time.Duration // group.consumer.heartbeat.interval.ms
	ConsumerMaxSize           int           // group.consumer.max.size
	ConsumerAssignors         []string      // group.consumer.assignors; the first is the default

	// NewMemberID returns a fresh UUID-like suffix for member ids (KIP-394);
	// nil uses crypto/rand. Scenario tests set it for determinism.
	NewMemberID func() string
}

// newMemberJoinTimeout is Kafka's classic.group.new.member.join.timeout.ms: a
// new member's JoinGroup that never completes is dropped after this long.
const newMemberJoinTimeout = 5 * time.Minute

// TopicInfo describes one topic for KIP-848 assignment and for topic-ID
// based requests.
type TopicInfo struct {
	ID         [16]byte
	Partitions int32
}

// Response is a response released by the shard; Token is the one given to
// Step for the request it answers.
type Response struct {
	Token uint64
	Resp  kmsg.Response
}

// Ready is the shard's output since the last call to Ready.
type Ready struct {
	Records   []Record
	Responses []Response
}

// Shard is the group coordinator for one partition of __consumer_offsets.
type Shard struct {
	cfg Config

	classic  map[string]*classicGroup
	consumer map[string]*consumerGroup
	offsets  map[string]map[string]map[int32]committedOffset // group → topic → partition
	txn      txnOffsets                                      // pending transactional commits (txn_offsets.go)

	topics   map[string]TopicInfo
	topicIDs map[[16]byte]string

	// consumerWritten is, per KIP-848 group, the records last written
	// (key → value), so that only changes are appended.
	consumerWritten map[string]map[string][]byte

	lastCleanup time.Time
	out         Ready
	client      Client // of the request being stepped
}

// Client identifies the sender of a request: the client.id of its request
// header and its address, which Kafka records for each group member.
type Client struct {
	ID   string
	Host string
}

// NewShard returns an empty shard.
func NewShard(cfg Config) *Shard {
	if cfg.NewMemberID == nil {
		cfg.NewMemberID = randomID
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = 1 << 30
	}
	if cfg.ConsumerMaxSize <= 0 {
		cfg.ConsumerMaxSize = 1 << 30
	}
	if len(cfg.ConsumerAssignors) == 0 {
		cfg.ConsumerAssignors = []string{"uniform", "range"}
	}
	return &Shard{
		cfg:      cfg,
		classic:  make(map[string]*classicGroup),
		consumer: make(map[string]*consumerGroup),
		offsets:  make(map[string]map[string]map[int32]committedOffset),
		topics:   make(map[string]TopicInfo),
		topicIDs: make(map[[16]byte]string),

		consumerWritten: make(map[string]map[string][]byte),
	}
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// Ready returns and clears what the shard has produced.
func (s *Shard) Ready() Ready {
	rd := s.out
	s.out = Ready{}
	return rd
}

func (s *Shard) respond(token uint64, resp kmsg.Response) {
	s.out.Responses = append(s.out.Responses, Response{Token: token, Resp: resp})
}

func (s *Shard) persist(r Record) { s.out.Records = append(s.out.Records, r) }

// SetTopics replaces the shard's view of the cluster's topics (from the
// metadata image). KIP-848 groups re-evaluate their subscriptions.
func (s *Shard) SetTopics(now time.Time, topics map[string]TopicInfo) {
	s.topics = topics
	s.topicIDs = make(map[[16]byte]string, len(topics))
	for name, t := range topics {
		s.topicIDs[t.ID] = name
	}
	for _, g := range s.consumer {
		s.consumerMetadataChanged(now, g)
	}
}

// Step feeds one request to the shard. Its response appears in Ready, at
// once or — for JoinGroup and SyncGroup — when the rebalance allows.
func (s *Shard) Step(now time.Time, token uint64, client Client, req kmsg.Request) {
	s.client = client
	switch r := req.(type) {
	case *kmsg.JoinGroupRequest:
		s.joinGroup(now, token, r)
	case *kmsg.SyncGroupRequest:
		s.syncGroup(now, token, r)
	case *kmsg.HeartbeatRequest:
		s.respond(token, s.heartbeat(now, r))
	case *kmsg.LeaveGroupRequest:
		s.respond(token, s.leaveGroup(now, r))
	case *kmsg.OffsetCommitRequest:
		s.respond(token, s.offsetCommit(now, r))
	case *kmsg.OffsetFetchRequest:
		s.respond(token, s.offsetFetch(r))
	case *kmsg.DescribeGroupsRequest:
		s.respond(token, s.describeGroups(r))
	case *kmsg.ListGroupsRequest:
		s.respond(token, s.listGroups(r))
	case *kmsg.DeleteGroupsRequest:
		s.respond(token, s.deleteGroups(r))
	case *kmsg.OffsetDeleteRequest:
		s.respond(token, s.offsetDelete(r))
	case *kmsg.ConsumerGroupHeartbeatRequest:
		resp := s.consumerGroupHeartbeat(now, r)
		if g, ok := s.consumer[r.Group]; ok {
			s.persistConsumerGroup(g.id, g)
		}
		s.respond(token, resp)
	case *kmsg.ConsumerGroupDescribeRequest:
		s.respond(token, s.consumerGroupDescribe(r))
	default:
		resp := req.ResponseKind()
		FailResponse(resp, kerr.UnsupportedVersion.Code)
		s.respond(token, resp)
	}
}

// Tick advances time: session timeouts, delayed joins, pending syncs,
// KIP-848 rebalance timeouts, and offset expiration.
func (s *Shard) Tick(now time.Time) {
	for _, id := range sortedKeys(s.classic) {
		if g, ok := s.classic[id]; ok {
			s.tickClassic(now, g)
		}
	}
	for _, id := range sortedKeys(s.consumer) {
		if g, ok := s.consumer[id]; ok {
			s.tickConsumer(now, g)
		}
	}
	if s.cfg.RetentionCheck > 0 && now.Sub(s.lastCleanup) >= s.cfg.RetentionCheck {
		s.lastCleanup = now
		s.cleanupGroupMetadata(now)
	}
}

// Replay applies one record read back from __consumer_offsets. Records of
// types this coordinator does not own are skipped; a malformed record is an
// error the caller logs (the shard stays usable).
func (s *Shard) Replay(key, value []byte) error {
	if len(key) >= 2 {
		switch kind := int16(binary.BigEndian.Uint16(key)); kind {
		case keyConsumerGroupMetadata, keyConsumerGroupMemberMetadata, keyConsumerTargetAssignmentMeta,
			keyConsumerTargetAssignmentMember, keyConsumerCurrentAssignment:
			return s.replayConsumerRecord(kind, key, value)
		}
	}
	d, ok, err := decodeRecord(key, value)
	if err != nil || !ok {
		return err
	}
	switch d.kind {
	case keyOffsetCommitV0, keyOffsetCommitV1:
		if d.isTombstone {
			s.removeOffset(d.group, d.topic, d.partition)
			return nil
		}
		if !s.groupExists(d.group) {
			// A commit without group membership makes a "simple"
			// group: empty, classic, without a protocol type.
			s.classic[d.group] = newClassicGroup(d.group, time.Time{})
		}
		s.setOffset(d.group, d.topic, d.partition, committedOffsetFromValue(d.offset))
	case keyGroupMetadataV2:
		if d.isTombstone {
			delete(s.classic, d.group)
			return nil
		}
		s.classic[d.group] = classicGroupFromRecord(d.group, d.groupValue)
		delete(s.consumer, d.group)
		delete(s.consumerWritten, d.group)
	}
	return nil
}

// LoadComplete finishes a replay: members of loaded groups get fresh session
// deadlines from now, as Kafka schedules heartbeats when a shard loads.
func (s *Shard) LoadComplete(now time.Time) {
	s.lastCleanup = now
	for _, g := range s.classic {
		for _, m := range g.members {
			m.heartbeatDeadline = now.Add(m.sessionTimeout)
		}
	}
	s.finishConsumerLoad(now)
}

func (s *Shard) groupExists(id string) bool {
	if _, ok := s.classic[id]; ok {
		return true
	}
	_, ok := s.consumer[id]
	return ok
}

// GroupCount returns the number of groups the shard holds.
func (s *Shard) GroupCount() int { return len(s.classic) + len(s.consumer) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func equalFoldAny(list []string, v string) bool {
	for _, s := range list {
		if strings.EqualFold(s, v) {
			return true
		}
	}
	return false
}

// FailResponse sets code as the error of every group or partition resp
// covers: the answer when the records a response depends on could not be
// written (Kafka maps such failures to NOT_COORDINATOR and friends).
func FailResponse(resp kmsg.Response, code int16) {
	switch r := resp.(type) {
	case *kmsg.JoinGroupResponse:
		r.ErrorCode = code
		r.Generation = -1
		r.Members = nil
		r.LeaderID = ""
	case *kmsg.SyncGroupResponse:
		r.ErrorCode = code
		r.MemberAssignment = []byte{}
	case *kmsg.HeartbeatResponse:
		r.ErrorCode = code
	case *kmsg.LeaveGroupResponse:
		r.ErrorCode = code
		r.Members = nil
	case *kmsg.OffsetCommitResponse:
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				r.Topics[i].Partitions[j].ErrorCode = code
			}
		}
	case *kmsg.OffsetFetchResponse:
		r.ErrorCode = code
		for i := range r.Groups {
			r.Groups[i].ErrorCode = code
			r.Groups[i].Topics = nil
		}
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				r.Topics[i].Partitions[j].ErrorCode = code
			}
		}
	case *kmsg.DescribeGroupsResponse:
		for i := range r.Groups {
			r.Groups[i].ErrorCode = code
		}
	case *kmsg.ListGroupsResponse:
		r.ErrorCode = code
	case *kmsg.DeleteGroupsResponse:
		for i := range r.Groups {
			r.Groups[i].ErrorCode = code
		}
	case *kmsg.OffsetDeleteResponse:
		r.ErrorCode = code
		r.Topics = nil
	case *kmsg.ConsumerGroupHeartbeatResponse:
		r.ErrorCode = code
		r.Assignment = nil
	case *kmsg.ConsumerGroupDescribeResponse:
		for i := range r.Groups {
			r.Groups[i].ErrorCode = code
		}
	}
}

func strp(s string) *string { return &s }

func errf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

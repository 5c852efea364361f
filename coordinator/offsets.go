package coordinator

// Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete and expiry,
// following Kafka's OffsetMetadataManager.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// committedOffset is one partition's committed position (OffsetAndMetadata).
type committedOffset struct {
	offset          int64
	leaderEpoch     int32
	metadata        string
	commitTimestamp int64 // ms
	expireTimestamp int64 // ms; -1 unless the commit set a retention (v2–v4)
}

func committedOffsetFromValue(v *kmsg.OffsetCommitValue) committedOffset {
	o := committedOffset{
		offset:          v.Offset,
		leaderEpoch:     -1,
		metadata:        v.Metadata,
		commitTimestamp: v.CommitTimestamp,
		expireTimestamp: -1,
	}
	if v.Version >= 3 {
		o.leaderEpoch = v.LeaderEpoch
	}
	if v.Version == 1 && v.ExpireTimestamp >= 0 {
		o.expireTimestamp = v.ExpireTimestamp
	}
	return o
}

func (s *Shard) setOffset(group, topic string, partition int32, o committedOffset) {
	byTopic, ok := s.offsets[group]
	if !ok {
		byTopic = make(map[string]map[int32]committedOffset)
		s.offsets[group] = byTopic
	}
	byPart, ok := byTopic[topic]
	if !ok {
		byPart = make(map[int32]committedOffset)
		byTopic[topic] = byPart
	}
	byPart[partition] = o
}

func (s *Shard) removeOffset(group, topic string, partition int32) bool {
	byTopic, ok := s.offsets[group]
	if !ok {
		return false
	}
	byPart, ok := byTopic[topic]
	if !ok {
		return false
	}
	if _, ok := byPart[partition]; !ok {
		return false
	}
	delete(byPart, partition)
	if len(byPart) == 0 {
		delete(byTopic, topic)
	}
	if len(byTopic) == 0 {
		delete(s.offsets, group)
	}
	return true
}

func (s *Shard) getOffset(group, topic string, partition int32) (committedOffset, bool) {
	o, ok := s.offsets[group][topic][partition]
	return o, ok
}

// validateOffsetCommit returns the error for a whole OffsetCommit request
// (OffsetMetadataManager.validateOffsetCommit and the groups' own checks).
func (s *Shard) validateOffsetCommit(now time.Time, req *kmsg.OffsetCommitRequest) int16 {
	if req.Group == "" {
		return kerr.InvalidGroupID.Code
	}
	if cg, ok := s.consumer[req.Group]; ok {
		return s.validateConsumerOffsetCommit(cg, req)
	}
	g, ok := s.classic[req.Group]
	if !ok {
		if req.Generation < 0 {
			// The admin client, or a consumer that assigns
			// partitions itself: a "simple" group is created.
			s.classic[req.Group] = newClassicGroup(req.Group, now)
			return 0
		}
		if req.Version >= 9 {
			return kerr.GroupIDNotFound.Code
		}
		return kerr.IllegalGeneration.Code
	}
	if g.state == stateDead {
		return kerr.CoordinatorNotAvailable.Code
	}
	if req.Generation < 0 && g.state == stateEmpty {
		return 0
	}
	if req.Generation >= 0 || req.MemberID != "" || req.InstanceID != nil {
		if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
			return code
		}
		if req.Generation != g.generation {
			return kerr.IllegalGeneration.Code
		}
	} else if g.state != stateEmpty {
		// Without member id and generation, commits are only taken
		// while the group is empty.
		return kerr.UnknownMemberID.Code
	}
	if g.state == stateCompletingRebalance {
		// The member has its new generation but not its assignment:
		// let it finish the rebalance first.
		return kerr.RebalanceInProgress.Code
	}
	if g.state == stateStable || g.state == statePreparingRebalance {
		// In the classic protocol a commit keeps the session alive.
		if m, ok := g.members[req.MemberID]; ok {
			m.heartbeatDeadline = now.Add(m.sessionTimeout)
		}
	}
	return 0
}

func (s *Shard) offsetCommit(now time.Time, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	code := s.validateOffsetCommit(now, req)
	expire := int64(-1)
	if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis >= 0 {
		expire = now.UnixMilli() + req.RetentionTimeMillis
	}
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		name := rt.Topic
		topicCode := code
		// v10 names topics by ID. The broker resolves them against
		// its metadata before the request gets here (as KafkaApis
		// does) and fills in the name; an ID alone is resolved with
		// the shard's own view of the topics.
		if req.Version >= 10 && rt.Topic == "" && topicCode == 0 {
			n, ok := s.topicIDs[rt.TopicID]
			if !ok {
				topicCode = kerr.UnknownTopicID.Code
			}
			name = n
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = topicCode
			if topicCode == 0 {
				// The leader epoch arrived with OffsetCommit v6 (KIP-320).
				o, code := s.newCommittedOffset(now, rp.Offset, rp.LeaderEpoch, req.Version >= 6, rp.Metadata, expire)
				sp.ErrorCode = code
				if code == 0 {
					s.setOffset(req.Group, name, rp.Partition, o)
					s.persist(offsetCommitRecord(req.Group, name, rp.Partition, o))
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// newCommittedOffset builds the offset a commit stores, or refuses metadata
// longer than offset.metadata.max.bytes (OFFSET_METADATA_TOO_LARGE). Without
// hasEpoch (older request versions) the leader epoch is unknown, -1.
func (s *Shard) newCommittedOffset(now time.Time, offset int64, epoch int32, hasEpoch bool, metadata *string, expire int64) (committedOffset, int16) {
	md := ""
	if metadata != nil {
		md = *metadata
	}
	if len(md) > s.cfg.OffsetMetadataMaxSize {
		return committedOffset{}, kerr.OffsetMetadataTooLarge.Code
	}
	if !hasEpoch {
		epoch = -1
	}
	return committedOffset{offset: offset, leaderEpoch: epoch, metadata: md,
		commitTimestamp: now.UnixMilli(), expireTimestamp: expire}, 0
}

func (s *Shard) offsetFetch(req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version < 8 {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = req.Group
		rg.MemberEpoch = -1
		if req.Topics != nil {
			rg.Topics = make([]kmsg.OffsetFetchRequestGroupTopic, 0, len(req.Topics))
			for _, t := range req.Topics {
				rt := kmsg.NewOffsetFetchRequestGroupTopic()
				rt.Topic, rt.Partitions = t.Topic, t.Partitions
				rg.Topics = append(rg.Topics, rt)
			}
		}
		sg := s.fetchGroupOffsets(req.Version, rg, req.RequireStable)
		if req.Version >= 2 {
			resp.ErrorCode = sg.ErrorCode
		}
		resp.Topics = []kmsg.OffsetFetchResponseTopic{}
		for _, t := range sg.Topics {
			st := kmsg.NewOffsetFetchResponseTopic()
			st.Topic = t.Topic
			for _, p := range t.Partitions {
				sp := kmsg.NewOffsetFetchResponseTopicPartition()
				sp.Partition, sp.Offset, sp.LeaderEpoch, sp.Metadata, sp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
				if sg.ErrorCode != 0 && req.Version < 2 {
					sp.ErrorCode = sg.ErrorCode
				}
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp
	}
	for _, rg := range req.Groups {
		resp.Groups = append(resp.Groups, s.fetchGroupOffsets(req.Version, rg, req.RequireStable))
	}
	return resp
}

// fetchGroupOffsets answers one group of an OffsetFetch. A group that does
// not exist is not an error: every requested partition answers offset -1
// (clients such as librdkafka fetch before they ever join). With
// requireStable, a partition whose offset an open transaction is moving
// answers UNSTABLE_OFFSET_COMMIT; the check runs on the topic's name, so v10's
// topic IDs are resolved first, as Kafka's KafkaApis does before it asks the
// group coordinator.
func (s *Shard) fetchGroupOffsets(version int16, rg kmsg.OffsetFetchRequestGroup, requireStable bool) kmsg.OffsetFetchResponseGroup {
	sg := kmsg.NewOffsetFetchResponseGroup()
	sg.Group = rg.Group
	sg.Topics = []kmsg.OffsetFetchResponseGroupTopic{}
	if rg.Group == "" && version >= 8 {
		sg.ErrorCode = kerr.InvalidGroupID.Code
		return sg
	}
	if cg, ok := s.consumer[rg.Group]; ok && (rg.MemberID != nil || rg.MemberEpoch >= 0) {
		// KIP-848: a member's fetch must carry its current epoch.
		id := ""
		if rg.MemberID != nil {
			id = *rg.MemberID
		}
		m, ok := cg.members[id]
		if !ok {
			sg.ErrorCode = kerr.UnknownMemberID.Code
			return sg
		}
		if rg.MemberEpoch != m.epoch {
			sg.ErrorCode = kerr.StaleMemberEpoch.Code
			return sg
		}
	}
	offsets := s.offsets[rg.Group]
	if rg.Topics == nil {
		for _, topic := range sortedKeys(offsets) {
			st := kmsg.NewOffsetFetchResponseGroupTopic()
			st.Topic = topic
			st.TopicID = s.topics[topic].ID
			for _, p := range sortedPartitions(offsets[topic]) {
				sp := fetchedPartition(p, offsets[topic][p], true)
				if requireStable && s.txn.has(rg.Group, topic, p) {
					sp = unstablePartition(p)
				}
				st.Partitions = append(st.Partitions, sp)
			}
			sg.Topics = append(sg.Topics, st)
		}
		return sg
	}
	for _, rt := range rg.Topics {
		st := kmsg.NewOffsetFetchResponseGroupTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		name := rt.Topic
		known := true
		if version >= 10 {
			name, known = s.topicIDs[rt.TopicID]
		}
		for _, p := range rt.Partitions {
			o, ok := offsets[name][p]
			sp := fetchedPartition(p, o, ok)
			switch {
			case !known:
				sp.ErrorCode = kerr.UnknownTopicID.Code
			case requireStable && s.txn.has(rg.Group, name, p):
				sp = unstablePartition(p)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		sg.Topics = append(sg.Topics, st)
	}
	return sg
}

func fetchedPartition(p int32, o committedOffset, ok bool) kmsg.OffsetFetchResponseGroupTopicPartition {
	sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
	sp.Partition = p
	if !ok {
		sp.Offset, sp.LeaderEpoch, sp.Metadata = -1, -1, strp("")
		return sp
	}
	sp.Offset, sp.LeaderEpoch, sp.Metadata = o.offset, o.leaderEpoch, strp(o.metadata)
	return sp
}

func sortedPartitions(m map[int32]committedOffset) []int32 {
	out := make([]int32, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func (s *Shard) offsetDelete(req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	var subscribed map[string]bool
	if cg, ok := s.consumer[req.Group]; ok {
		subscribed = cg.subscribedTopicNames()
	} else if g, ok := s.classic[req.Group]; ok {
		switch g.state {
		case stateDead:
			resp.ErrorCode = kerr.GroupIDNotFound.Code
			return resp
		case stateEmpty:
		default:
			if g.protocolType != "consumer" {
				resp.ErrorCode = kerr.NonEmptyGroup.Code
				return resp
			}
			subscribed, _ = g.subscribedTopics()
		}
	} else {
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		return resp
	}
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition = rp.Partition
			if subscribed[rt.Topic] {
				sp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			} else if s.removeOffset(req.Group, rt.Topic, rp.Partition) {
				s.persist(Record{Key: offsetCommitKey(req.Group, rt.Topic, rp.Partition)})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// cleanupGroupMetadata expires offsets (KIP-211: offsets of an empty group
// expire offsets.retention.minutes after it became empty; offsets of a
// simple group, or of topics a Stable consumer group no longer subscribes
// to, that long after their commit) and deletes empty groups left without
// offsets.
func (s *Shard) cleanupGroupMetadata(now time.Time) {
	nowMs := now.UnixMilli()
	retention := s.cfg.OffsetsRetention.Milliseconds()
	for _, id := range sortedKeys(s.offsets) {
		base, filter, ok := s.expirationCondition(id)
		if !ok {
			continue
		}
		for _, topic := range sortedKeys(s.offsets[id]) {
			if filter != nil && filter[topic] {
				continue
			}
			for _, p := range sortedPartitions(s.offsets[id][topic]) {
				o := s.offsets[id][topic][p]
				expired := false
				if o.expireTimestamp >= 0 {
					expired = nowMs >= o.expireTimestamp
				} else {
					b := o.commitTimestamp
					if base >= 0 {
						b = base
					}
					expired = nowMs-b >= retention
				}
				if expired {
					s.removeOffset(id, topic, p)
					s.persist(Record{Key: offsetCommitKey(id, topic, p)})
				}
			}
		}
	}
	for _, id := range sortedKeys(s.classic) {
		g := s.classic[id]
		if g.state == stateEmpty && len(g.pending) == 0 && len(s.offsets[id]) == 0 {
			delete(s.classic, id)
			s.persist(Record{Key: groupMetadataKey(id)})
		}
	}
	for _, id := range sortedKeys(s.consumer) {
		g := s.consumer[id]
		if len(g.members) == 0 && len(s.offsets[id]) == 0 {
			delete(s.consumer, id)
			s.persistConsumerGroup(id, nil)
		}
	}
}

// expirationCondition returns the base timestamp (-1: each commit's own)
// and the topics exempt from expiry, or ok false when nothing of the group
// may expire now.
func (s *Shard) expirationCondition(id string) (base int64, exempt map[string]bool, ok bool) {
	if cg, found := s.consumer[id]; found {
		if len(cg.members) == 0 {
			return millis(cg.emptySince), nil, true
		}
		return -1, cg.subscribedTopicNames(), true
	}
	g, found := s.classic[id]
	if !found {
		return -1, nil, true
	}
	if g.protocolType == "" {
		return -1, nil, true
	}
	switch g.state {
	case stateEmpty:
		return millis(g.stateTimestamp), nil, true
	case stateStable:
		if subs, known := g.subscribedTopics(); known {
			return -1, subs, true
		}
	}
	return 0, nil, false
}

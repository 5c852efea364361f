package coordinator

// Persistence of KIP-848 groups in __consumer_offsets with Kafka's record
// types (CoordinatorRecordType): the key's version field names the type,
// the key holds the group (and member) id, the value is the flexible v0
// schema of Kafka's group-coordinator JSON definitions.
//
//	3 ConsumerGroupMetadata          {GroupId}           → {Epoch}
//	5 ConsumerGroupMemberMetadata    {GroupId, MemberId} → {InstanceId, RackId, ClientId, ClientHost,
//	                                                        SubscribedTopicNames, SubscribedTopicRegex,
//	                                                        RebalanceTimeoutMs, ServerAssignor}
//	6 ConsumerGroupTargetAssignmentMetadata {GroupId}    → {AssignmentEpoch}
//	7 ConsumerGroupTargetAssignmentMember {GroupId, MemberId} → {TopicPartitions}
//	8 ConsumerGroupCurrentMemberAssignment {GroupId, MemberId} → {MemberEpoch, PreviousMemberEpoch,
//	                                                        State, AssignedPartitions,
//	                                                        PartitionsPendingRevocation}
//
// Rather than track every mutation, the shard renders a group's records
// after each operation and writes those whose bytes changed, plus
// tombstones for keys that no longer exist.

import (
	"sort"
	"time"
)

// unresolvedPartitions marks a replayed group whose subscriptions have not
// been resolved against topic metadata yet.
const unresolvedPartitions = "\x00unresolved"

const (
	keyConsumerGroupMetadata          = 3
	keyConsumerGroupMemberMetadata    = 5
	keyConsumerTargetAssignmentMeta   = 6
	keyConsumerTargetAssignmentMember = 7
	keyConsumerCurrentAssignment      = 8
)

func consumerKey(kind int16, group string, member *string) []byte {
	b := wbuf(nil).int16(kind).str(group)
	if member != nil {
		b = b.str(*member)
	}
	return b
}

// consumerRecords renders the group's state as records, keyed by the
// string of their key bytes.
func (s *Shard) consumerRecords(g *consumerGroup) map[string][]byte {
	out := make(map[string][]byte, 2+3*len(g.members))
	out[string(consumerKey(keyConsumerGroupMetadata, g.id, nil))] = wbuf(nil).int16(0).int32(g.epoch).noTags()
	out[string(consumerKey(keyConsumerTargetAssignmentMeta, g.id, nil))] = wbuf(nil).int16(0).int32(g.assignmentEpoch).noTags()
	for id, m := range g.members {
		mid := id
		names := append([]string{}, m.subscribedNames...)
		sort.Strings(names)
		md := wbuf(nil).int16(0).
			compactNullableString(m.instanceID).
			compactNullableString(m.rackID).
			compactString(m.clientID).
			compactString(m.clientHost).
			arrayLen(len(names))
		for _, n := range names {
			md = md.compactString(n)
		}
		md = md.compactNullableString(m.subscribedRegex).
			int32(int32(m.rebalanceTimeout / time.Millisecond)).
			compactNullableString(m.serverAssignor).
			noTags()
		out[string(consumerKey(keyConsumerGroupMemberMetadata, g.id, &mid))] = md
		out[string(consumerKey(keyConsumerTargetAssignmentMember, g.id, &mid))] = wbuf(nil).int16(0).topicPartitions(g.target[id]).noTags()
		out[string(consumerKey(keyConsumerCurrentAssignment, g.id, &mid))] = wbuf(nil).int16(0).
			int32(m.epoch).int32(m.previousEpoch).int8(int8(m.state)).
			topicPartitions(m.assigned).topicPartitions(m.revoking).noTags()
	}
	return out
}

// persistConsumerGroup writes what changed in g since it was last written;
// a nil g (deleted) tombstones everything written for id.
func (s *Shard) persistConsumerGroup(id string, g *consumerGroup) {
	prev := s.consumerWritten[id]
	var next map[string][]byte
	if g != nil {
		next = s.consumerRecords(g)
	}
	// Member records first, group records last, so that a replay of a
	// prefix never sees members of a deleted group.
	var keys []string
	for k := range prev {
		if _, ok := next[k]; !ok {
			keys = append(keys, k)
		}
	}
	for k, v := range next {
		if string(prev[k]) != string(v) {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		ki, kj := keys[i][:2], keys[j][:2]
		if ki != kj {
			return ki > kj // types 8, 7, 6, 5, 3
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		v, ok := next[k]
		if !ok {
			s.persist(Record{Key: []byte(k)})
			continue
		}
		s.persist(Record{Key: []byte(k), Value: v})
	}
	if g == nil {
		delete(s.consumerWritten, id)
	} else {
		s.consumerWritten[id] = next
	}
}

// replayConsumerRecord applies one KIP-848 record.
func (s *Shard) replayConsumerRecord(kind int16, key, value []byte) error {
	r := rbuf{b: key[2:]}
	group := r.str()
	member := ""
	if kind != keyConsumerGroupMetadata && kind != keyConsumerTargetAssignmentMeta {
		member = r.str()
	}
	if r.err != nil {
		return errBadRecord
	}
	written := s.consumerWritten[group]
	if value == nil {
		delete(written, string(key))
		g, ok := s.consumer[group]
		if !ok {
			return nil
		}
		switch kind {
		case keyConsumerGroupMetadata:
			delete(s.consumer, group)
			delete(s.consumerWritten, group)
		case keyConsumerGroupMemberMetadata:
			delete(g.members, member)
		case keyConsumerTargetAssignmentMember:
			delete(g.target, member)
		case keyConsumerCurrentAssignment:
			if m, ok := g.members[member]; ok {
				m.assigned, m.revoking = map[tp]bool{}, nil
			}
		}
		return nil
	}
	g := s.consumerGroupForReplay(group)
	if written == nil {
		written = map[string][]byte{}
		s.consumerWritten[group] = written
	}
	written[string(key)] = append([]byte(nil), value...)
	v := rbuf{b: value}
	if v.int16() != 0 {
		return nil // a future value version: keep the bytes, skip the content
	}
	memberFor := func() *consumerMember {
		m, ok := g.members[member]
		if !ok {
			m = &consumerMember{id: member, assigned: map[tp]bool{}}
			g.members[member] = m
		}
		return m
	}
	switch kind {
	case keyConsumerGroupMetadata:
		g.epoch = v.int32()
	case keyConsumerTargetAssignmentMeta:
		g.assignmentEpoch = v.int32()
	case keyConsumerGroupMemberMetadata:
		m := memberFor()
		m.instanceID = v.compactNullableString()
		m.rackID = v.compactNullableString()
		m.clientID = v.compactString()
		m.clientHost = v.compactString()
		n := v.length()
		m.subscribedNames = m.subscribedNames[:0]
		for i := 0; i < n && v.err == nil; i++ {
			m.subscribedNames = append(m.subscribedNames, v.compactString())
		}
		m.subscribedRegex = v.compactNullableString()
		m.rebalanceTimeout = ms(v.int32())
		m.serverAssignor = v.compactNullableString()
	case keyConsumerTargetAssignmentMember:
		g.target[member] = v.topicPartitions()
	case keyConsumerCurrentAssignment:
		m := memberFor()
		m.epoch = v.int32()
		m.previousEpoch = v.int32()
		m.state = memberState(v.int8())
		m.assigned = v.topicPartitions()
		m.revoking = v.topicPartitions()
		if len(m.revoking) == 0 {
			m.revoking = nil
		}
	}
	if v.err != nil {
		return errBadRecord
	}
	return nil
}

func (s *Shard) consumerGroupForReplay(id string) *consumerGroup {
	if g, ok := s.consumer[id]; ok {
		return g
	}
	// A simple group made for offsets replayed before the group's own
	// records gives way to the consumer group.
	if cg, ok := s.classic[id]; ok && cg.state == stateEmpty && cg.protocolType == "" {
		delete(s.classic, id)
	}
	g := newConsumerGroup(id, time.Time{})
	s.consumer[id] = g
	return g
}

// finishConsumerLoad rebuilds what is derived from the replayed records:
// partition owners and session deadlines.
func (s *Shard) finishConsumerLoad(now time.Time) {
	for _, g := range s.consumer {
		g.owner = map[tp]string{}
		for _, m := range g.members {
			for k := range m.assigned {
				g.owner[k] = m.id
			}
			for k := range m.revoking {
				g.owner[k] = m.id
			}
			m.sessionDeadline = now.Add(s.cfg.ConsumerSessionTimeout)
			if m.state == memberUnrevokedPartitions && m.epoch != leaveGroupStaticMemberEpoch {
				m.revocationDeadline = now.Add(m.rebalanceTimeout)
			}
			m.lastSent = nil
		}
		if len(g.members) == 0 {
			g.emptySince = now
		}
		// Resolved against the first metadata image the shard sees,
		// without bumping the epoch (consumerMetadataChanged).
		g.resolvedPartitions = unresolvedPartitions
	}
}

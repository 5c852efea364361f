package coordinator

// KIP-848 consumer groups: ConsumerGroupHeartbeat and ConsumerGroupDescribe.
// The coordinator computes a target assignment whenever the group epoch
// moves (a member joins, leaves, changes its subscription, or subscribed
// topics change) and reconciles each member towards it: partitions are
// revoked first and handed to their new owner only once the old owner has
// confirmed the revocation in a heartbeat, so no partition ever has two
// owners (Kafka's CurrentAssignmentBuilder).

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	leaveGroupMemberEpoch       = -1
	leaveGroupStaticMemberEpoch = -2
)

type memberState int8

const (
	memberStable               memberState = iota
	memberUnrevokedPartitions              // waiting for the member to drop partitions
	memberUnreleasedPartitions             // waiting for others to drop partitions it is owed
)

// assignment is topic ID → sorted partitions.
type assignment map[[16]byte][]int32

type tp struct {
	topic     [16]byte
	partition int32
}

func (a assignment) set() map[tp]bool {
	out := map[tp]bool{}
	for t, ps := range a {
		for _, p := range ps {
			out[tp{t, p}] = true
		}
	}
	return out
}

func fromSet(s map[tp]bool) assignment {
	out := assignment{}
	for k := range s {
		out[k.topic] = append(out[k.topic], k.partition)
	}
	for t := range out {
		sortInt32s(out[t])
	}
	return out
}

func sortInt32s(s []int32) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func equalSets(a, b map[tp]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

type consumerMember struct {
	id               string
	instanceID       *string
	rackID           *string
	clientID         string
	clientHost       string
	epoch            int32
	previousEpoch    int32
	state            memberState
	rebalanceTimeout time.Duration
	subscribedNames  []string
	subscribedRegex  *string
	serverAssignor   *string

	assigned           map[tp]bool // what the member may own
	revoking           map[tp]bool // asked to give up, not yet confirmed; still its own
	sessionDeadline    time.Time
	revocationDeadline time.Time
	lastSent           map[tp]bool // the assignment last sent; nil: none
}

type consumerGroup struct {
	id              string
	epoch           int32
	assignmentEpoch int32
	members         map[string]*consumerMember
	target          map[string]map[tp]bool // member id → target assignment
	owner           map[tp]string          // partition → member that owns it
	emptySince      time.Time
	// As of the last target computation: the subscribed topics, and a
	// fingerprint of their partitions to notice metadata changes.
	subscribedTopics   map[string]bool
	resolvedPartitions string
}

func newConsumerGroup(id string, now time.Time) *consumerGroup {
	return &consumerGroup{
		id:         id,
		members:    map[string]*consumerMember{},
		target:     map[string]map[tp]bool{},
		owner:      map[tp]string{},
		emptySince: now,
	}
}

func (g *consumerGroup) stateString() string {
	if len(g.members) == 0 {
		return "Empty"
	}
	if g.epoch != g.assignmentEpoch {
		return "Assigning"
	}
	for _, m := range g.members {
		if m.epoch != g.assignmentEpoch || m.state != memberStable {
			return "Reconciling"
		}
	}
	return "Stable"
}

// subscribedTopicNames is every topic some member subscribes to by name
// or, as of the last resolution, by regex.
func (g *consumerGroup) subscribedTopicNames() map[string]bool {
	out := map[string]bool{}
	for t := range g.subscribedTopics {
		out[t] = true
	}
	for _, m := range g.members {
		for _, t := range m.subscribedNames {
			out[t] = true
		}
	}
	return out
}

func (s *Shard) consumerGroupHeartbeat(now time.Time, req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	resp.HeartbeatIntervalMillis = int32(s.cfg.ConsumerHeartbeatInterval / time.Millisecond)
	fail := func(err *kerr.Error, msg string) *kmsg.ConsumerGroupHeartbeatResponse {
		resp.ErrorCode = err.Code
		if msg != "" {
			resp.ErrorMessage = strp(msg)
		}
		resp.MemberEpoch = req.MemberEpoch
		return resp
	}
	if !s.cfg.ConsumerProtocolEnabled {
		return fail(kerr.UnsupportedVersion, "the consumer group protocol is not enabled (group.coordinator.rebalance.protocols)")
	}
	// Request validation (GroupMetadataManager.throwIfConsumerGroupHeartbeatRequestIsInvalid).
	switch {
	case req.Group == "":
		return fail(kerr.InvalidRequest, "GroupId can't be empty.")
	case req.Version >= 1 && req.MemberID == "":
		return fail(kerr.InvalidRequest, "MemberId can't be empty.")
	case req.MemberEpoch < leaveGroupStaticMemberEpoch:
		return fail(kerr.InvalidRequest, "MemberEpoch is invalid.")
	case req.MemberEpoch == 0:
		if req.RebalanceTimeoutMillis == -1 {
			return fail(kerr.InvalidRequest, "RebalanceTimeoutMs must be provided in first request.")
		}
		if len(req.Topics) != 0 || req.Topics == nil {
			return fail(kerr.InvalidRequest, "TopicPartitions must be empty when (re-)joining.")
		}
		if req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil {
			return fail(kerr.InvalidRequest, "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.")
		}
	case req.MemberEpoch == leaveGroupStaticMemberEpoch && req.InstanceID == nil:
		return fail(kerr.InvalidRequest, "InstanceId can't be null.")
	}
	if req.Version == 0 && req.MemberID == "" && req.MemberEpoch == 0 {
		// v0: the coordinator names new members (v1+ clients do).
		req.MemberID = s.cfg.NewMemberID()
	}
	if req.ServerAssignor != nil && !s.knownAssignor(*req.ServerAssignor) {
		return fail(kerr.UnsupportedAssignor, "ServerAssignor "+*req.ServerAssignor+" is not supported.")
	}
	if req.SubscribedTopicRegex != nil {
		if _, err := compileTopicRegex(*req.SubscribedTopicRegex); err != nil {
			return fail(kerr.InvalidRegularExpression, "SubscribedTopicRegex "+*req.SubscribedTopicRegex+" is not a valid regular expression.")
		}
	}

	g, ok := s.consumer[req.Group]
	if !ok {
		if cg, isClassic := s.classic[req.Group]; isClassic {
			if cg.state != stateEmpty {
				return fail(kerr.GroupIDNotFound, "Group "+req.Group+" is not a consumer group.")
			}
			// An empty classic group converts; its offsets stay.
			delete(s.classic, req.Group)
			s.persist(Record{Key: groupMetadataKey(req.Group)})
		}
		if req.MemberEpoch != 0 {
			return fail(kerr.UnknownMemberID, "")
		}
		g = newConsumerGroup(req.Group, now)
		s.consumer[req.Group] = g
	}

	if req.MemberEpoch == leaveGroupMemberEpoch || req.MemberEpoch == leaveGroupStaticMemberEpoch {
		return s.consumerLeave(now, g, req, resp)
	}

	m, exists := g.members[req.MemberID]
	changed := false
	if req.MemberEpoch == 0 {
		if req.InstanceID != nil {
			for _, other := range g.members {
				if other.instanceID != nil && *other.instanceID == *req.InstanceID && other.id != req.MemberID {
					if other.epoch != leaveGroupStaticMemberEpoch {
						return fail(kerr.UnreleasedInstanceID, "Static member "+*req.InstanceID+" is already in use.")
					}
					// KIP-848 static membership: the restarted
					// instance takes over the departed one's
					// assignment without a rebalance.
					s.replaceConsumerMember(g, other, req.MemberID)
					m, exists = g.members[req.MemberID], true
					break
				}
			}
		}
		if !exists {
			if len(g.members) >= s.cfg.ConsumerMaxSize {
				return fail(kerr.GroupMaxSizeReached, "")
			}
			m = &consumerMember{id: req.MemberID, assigned: map[tp]bool{}}
			g.members[m.id] = m
			changed = true
		}
		// A rejoin with the same member id re-admits the member in place
		// and re-delivers its assignment (lost-response recovery).
		m.lastSent = nil
		m.clientID, m.clientHost = s.client.ID, s.client.Host
		if m.epoch == leaveGroupStaticMemberEpoch {
			// The replacement inherits the departed instance's
			// assignment; like Kafka's copy (epoch 0, previous 0)
			// it reconciles straight to the assignment epoch.
			m.epoch, m.previousEpoch = g.assignmentEpoch, 0
		}
	} else {
		if !exists {
			return fail(kerr.UnknownMemberID, "")
		}
		if req.MemberEpoch != m.epoch {
			// Kafka accepts the previous epoch when the member's
			// owned partitions are a subset of its assignment: the
			// response that bumped it may have been lost. A larger
			// epoch than the member's is always fenced
			// (throwIfMemberEpochIsInvalid); that includes every
			// heartbeat of a static member that has left (-2).
			if req.MemberEpoch > m.epoch || !(req.MemberEpoch == m.previousEpoch && req.Topics != nil && s.ownedSubset(req.Topics, m.assigned)) {
				return fail(kerr.FencedMemberEpoch, "The consumer group member has a smaller member epoch than expected.")
			}
			m.lastSent = nil
		}
		if req.InstanceID != nil && (m.instanceID == nil || *m.instanceID != *req.InstanceID) {
			return fail(kerr.FencedInstanceID, "")
		}
	}
	m.sessionDeadline = now.Add(s.cfg.ConsumerSessionTimeout)

	// Subscription and member settings: nil means "unchanged".
	if req.InstanceID != nil {
		m.instanceID = req.InstanceID
	}
	if req.RackID != nil {
		m.rackID = req.RackID
	}
	if req.RebalanceTimeoutMillis > 0 {
		m.rebalanceTimeout = ms(req.RebalanceTimeoutMillis)
	}
	if req.SubscribedTopicNames != nil && !equalStrings(req.SubscribedTopicNames, m.subscribedNames) {
		m.subscribedNames = append([]string{}, req.SubscribedTopicNames...)
		changed = true
	}
	if req.SubscribedTopicRegex != nil && (m.subscribedRegex == nil || *m.subscribedRegex != *req.SubscribedTopicRegex) {
		m.subscribedRegex = strp(*req.SubscribedTopicRegex)
		changed = true
	} else if req.SubscribedTopicRegex == nil && req.SubscribedTopicNames != nil && m.subscribedRegex != nil && req.MemberEpoch == 0 {
		m.subscribedRegex = nil
		changed = true
	}
	if req.ServerAssignor != nil {
		m.serverAssignor = req.ServerAssignor
	}
	if changed {
		g.epoch++
		s.computeTargetAssignment(g)
	}

	s.reconcile(now, g, m, req.Topics)

	resp.MemberID = strp(m.id)
	resp.MemberEpoch = m.epoch
	full := req.Topics != nil || req.MemberEpoch == 0
	if full || m.lastSent == nil || !equalSets(m.lastSent, m.sendable()) {
		send := m.sendable()
		m.lastSent = send
		resp.Assignment = toResponseAssignment(send)
	}
	return resp
}

// sendable is what the member is told it owns: its assigned partitions.
func (m *consumerMember) sendable() map[tp]bool {
	out := make(map[tp]bool, len(m.assigned))
	for k := range m.assigned {
		out[k] = true
	}
	return out
}

func toResponseAssignment(set map[tp]bool) *kmsg.ConsumerGroupHeartbeatResponseAssignment {
	a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
	a.Topics = []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}
	as := fromSet(set)
	for _, id := range sortedTopicIDs(as) {
		t := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
		t.TopicID, t.Partitions = id, as[id]
		a.Topics = append(a.Topics, t)
	}
	return &a
}

func sortedTopicIDs(a assignment) [][16]byte {
	out := make([][16]byte, 0, len(a))
	for id := range a {
		out = append(out, id)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && string(out[j][:]) < string(out[j-1][:]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func (s *Shard) ownedSubset(owned []kmsg.ConsumerGroupHeartbeatRequestTopic, assigned map[tp]bool) bool {
	for _, t := range owned {
		for _, p := range t.Partitions {
			if !assigned[tp{t.TopicID, p}] {
				return false
			}
		}
	}
	return true
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		seen[s]--
		if seen[s] < 0 {
			return false
		}
	}
	return true
}

func (s *Shard) knownAssignor(name string) bool {
	for _, a := range s.cfg.ConsumerAssignors {
		if a == name {
			return true
		}
	}
	return false
}

func (s *Shard) replaceConsumerMember(g *consumerGroup, old *consumerMember, newID string) {
	delete(g.members, old.id)
	if t, ok := g.target[old.id]; ok {
		delete(g.target, old.id)
		g.target[newID] = t
	}
	for k, owner := range g.owner {
		if owner == old.id {
			g.owner[k] = newID
		}
	}
	old.id = newID
	g.members[newID] = old
}

// consumerLeave is GroupMetadataManager.consumerGroupLeave. A leave that
// names an instance id acts on that instance's static member, and only if
// the request comes from it: an unknown instance is UNKNOWN_MEMBER_ID, one
// held by another member id FENCED_INSTANCE_ID, so a zombie of a replaced
// instance cannot take its successor out of the group.
func (s *Shard) consumerLeave(now time.Time, g *consumerGroup, req *kmsg.ConsumerGroupHeartbeatRequest, resp *kmsg.ConsumerGroupHeartbeatResponse) *kmsg.ConsumerGroupHeartbeatResponse {
	resp.MemberEpoch = req.MemberEpoch
	var m *consumerMember
	if req.InstanceID == nil {
		m = g.members[req.MemberID]
	} else {
		m = g.staticMember(*req.InstanceID)
		if m != nil && m.id != req.MemberID {
			resp.ErrorCode = kerr.FencedInstanceID.Code
			resp.ErrorMessage = strp("Static member " + req.MemberID + " with instance id " + *req.InstanceID + " is not the member " + m.id + " that holds it.")
			return resp
		}
	}
	if m == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp
	}
	resp.MemberID = strp(m.id)
	if req.MemberEpoch == leaveGroupStaticMemberEpoch {
		// consumerGroupStaticMemberGroupLeave: a static member leaving
		// temporarily keeps its assignment, so a restart of the same
		// instance takes it over without a rebalance. Its session
		// runs on from its last heartbeat (the leave does not extend
		// it); partitions it was still revoking are released at once,
		// since it will not confirm their revocation.
		m.epoch = leaveGroupStaticMemberEpoch
		for k := range m.revoking {
			if g.owner[k] == m.id {
				delete(g.owner, k)
			}
		}
		m.revoking = nil
		m.revocationDeadline = time.Time{}
		return resp
	}
	s.removeConsumerMember(now, g, m)
	return resp
}

// staticMember is the member holding instance id, or nil.
func (g *consumerGroup) staticMember(instance string) *consumerMember {
	for _, m := range g.members {
		if m.instanceID != nil && *m.instanceID == instance {
			return m
		}
	}
	return nil
}

func (s *Shard) removeConsumerMember(now time.Time, g *consumerGroup, m *consumerMember) {
	delete(g.members, m.id)
	delete(g.target, m.id)
	for k, owner := range g.owner {
		if owner == m.id {
			delete(g.owner, k)
		}
	}
	if len(g.members) == 0 {
		g.emptySince = now
	}
	g.epoch++
	s.computeTargetAssignment(g)
}

// reconcile moves m towards its target assignment. owned is the member's
// own account of what it holds (nil in a keepalive heartbeat). Partitions
// leave a member first (it is told to keep less, and they stay its own until
// a heartbeat shows it no longer holds them); only then are they given to
// their new owner, so no partition is ever consumed twice at once.
func (s *Shard) reconcile(now time.Time, g *consumerGroup, m *consumerMember, owned []kmsg.ConsumerGroupHeartbeatRequestTopic) {
	holds := func(k tp) bool {
		for _, t := range owned {
			if t.TopicID != k.topic {
				continue
			}
			for _, p := range t.Partitions {
				if p == k.partition {
					return true
				}
			}
		}
		return false
	}
	release := func(set map[tp]bool) {
		for k := range set {
			if g.owner[k] == m.id {
				delete(g.owner, k)
			}
		}
	}
	if len(m.revoking) > 0 {
		if owned == nil {
			return
		}
		for k := range m.revoking {
			if holds(k) {
				return
			}
		}
		release(m.revoking)
		m.revoking = nil
	}
	target := g.target[m.id]
	revoke := map[tp]bool{}
	for k := range m.assigned {
		if !target[k] {
			revoke[k] = true
			delete(m.assigned, k)
		}
	}
	if len(revoke) > 0 {
		stillHeld := owned == nil
		for k := range revoke {
			if holds(k) {
				stillHeld = true
			}
		}
		if stillHeld {
			m.revoking = revoke
			m.state = memberUnrevokedPartitions
			m.revocationDeadline = now.Add(m.rebalanceTimeout)
			return
		}
		release(revoke)
	}
	m.revocationDeadline = time.Time{}
	for k := range target {
		if owner, held := g.owner[k]; held && owner != m.id {
			continue
		}
		m.assigned[k] = true
		g.owner[k] = m.id
	}
	if m.epoch != g.assignmentEpoch {
		m.previousEpoch = m.epoch
		m.epoch = g.assignmentEpoch
	}
	if equalSets(m.assigned, target) {
		m.state = memberStable
	} else {
		m.state = memberUnreleasedPartitions
	}
}

// tickConsumer expires sessions and members that do not revoke in time.
func (s *Shard) tickConsumer(now time.Time, g *consumerGroup) {
	removed := false
	defer func() {
		if removed {
			s.persistConsumerGroup(g.id, g)
		}
	}()
	for _, id := range sortedKeys(g.members) {
		m, ok := g.members[id]
		if !ok {
			continue
		}
		if !now.Before(m.sessionDeadline) ||
			(m.state == memberUnrevokedPartitions && !m.revocationDeadline.IsZero() && !now.Before(m.revocationDeadline)) {
			s.removeConsumerMember(now, g, m)
			removed = true
		}
	}
}

// consumerMetadataChanged recomputes targets when the topics a group
// subscribes to appear, disappear or change partition counts.
func (s *Shard) consumerMetadataChanged(now time.Time, g *consumerGroup) {
	if len(g.members) == 0 {
		return
	}
	before := g.resolvedPartitions
	after := s.resolvePartitions(g)
	if before == after {
		return
	}
	if before == unresolvedPartitions {
		g.resolvedPartitions = after
		g.subscribedTopics = map[string]bool{}
		for _, m := range g.members {
			for _, t := range s.memberTopics(m) {
				g.subscribedTopics[t] = true
			}
		}
		return
	}
	g.epoch++
	s.computeTargetAssignment(g)
	s.persistConsumerGroup(g.id, g)
}

func (s *Shard) consumerGroupDescribe(req *kmsg.ConsumerGroupDescribeRequest) *kmsg.ConsumerGroupDescribeResponse {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	for _, id := range req.Groups {
		dg := kmsg.NewConsumerGroupDescribeResponseGroup()
		dg.Group = id
		if req.IncludeAuthorizedOperations {
			dg.AuthorizedOperations = groupAuthorizedOperations
		}
		g, ok := s.consumer[id]
		if !ok {
			dg.ErrorCode = kerr.GroupIDNotFound.Code
			if _, classic := s.classic[id]; classic {
				dg.ErrorMessage = strp("Group " + id + " is not a consumer group.")
			} else {
				dg.ErrorMessage = strp("Group " + id + " not found.")
			}
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		dg.State = g.stateString()
		dg.Epoch = g.epoch
		dg.AssignmentEpoch = g.assignmentEpoch
		dg.AssignorName = s.groupAssignor(g)
		for _, mid := range sortedKeys(g.members) {
			m := g.members[mid]
			dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
			dm.MemberID = m.id
			dm.InstanceID = m.instanceID
			dm.RackID = m.rackID
			dm.MemberEpoch = m.epoch
			dm.ClientID = m.clientID
			dm.ClientHost = m.clientHost
			dm.SubscribedTopics = append([]string{}, m.subscribedNames...)
			dm.SubscribedTopicRegex = m.subscribedRegex
			dm.Assignment = s.describeAssignment(m.assigned)
			dm.TargetAssignment = s.describeAssignment(g.target[m.id])
			dm.MemberType = 1 // consumer protocol
			dg.Members = append(dg.Members, dm)
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (s *Shard) describeAssignment(set map[tp]bool) kmsg.Assignment {
	a := kmsg.NewAssignment()
	as := fromSet(set)
	a.TopicPartitions = []kmsg.AssignmentTopicPartition{}
	for _, id := range sortedTopicIDs(as) {
		t := kmsg.NewAssignmentTopicPartition()
		t.TopicID, t.Topic, t.Partitions = id, s.topicIDs[id], as[id]
		a.TopicPartitions = append(a.TopicPartitions, t)
	}
	return a
}

// validateConsumerOffsetCommit is ConsumerGroup.validateOffsetCommit: an
// admin commit (epoch -1) needs an empty group; a member's commit must carry
// its current epoch (STALE_MEMBER_EPOCH otherwise, v9+).
func (s *Shard) validateConsumerOffsetCommit(g *consumerGroup, req *kmsg.OffsetCommitRequest) int16 {
	if req.Generation < 0 && len(g.members) == 0 {
		return 0
	}
	m, ok := g.members[req.MemberID]
	if !ok {
		return kerr.UnknownMemberID.Code
	}
	if req.Version < 9 {
		return kerr.UnsupportedVersion.Code
	}
	if req.Generation != m.epoch {
		return kerr.StaleMemberEpoch.Code
	}
	return 0
}

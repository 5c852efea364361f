package coordinator

// The classic group protocol: JoinGroup, SyncGroup, Heartbeat and LeaveGroup
// driving the states Empty → PreparingRebalance → CompletingRebalance →
// Stable, following Kafka's GroupMetadataManager (classicGroupJoin and
// friends) rule for rule, error codes included. Assignors run in the
// clients: the leader receives every member's metadata and returns the
// assignment in its SyncGroup, for eager and cooperative rebalancing alike.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func ms(v int32) time.Duration { return time.Duration(v) * time.Millisecond }

func (s *Shard) joinGroup(now time.Time, token uint64, req *kmsg.JoinGroupRequest) {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.Generation = -1
	resp.MemberID = req.MemberID
	fail := func(code int16) {
		resp.ErrorCode = code
		s.respond(token, resp)
	}
	if req.Group == "" {
		fail(kerr.InvalidGroupID.Code)
		return
	}
	session := ms(req.SessionTimeoutMillis)
	if session < s.cfg.MinSessionTimeout || session > s.cfg.MaxSessionTimeout {
		fail(kerr.InvalidSessionTimeout.Code)
		return
	}
	if cg, ok := s.consumer[req.Group]; ok {
		if len(cg.members) > 0 {
			// Riffle does not run KIP-848's online migration: a
			// classic member cannot join a live consumer group.
			fail(kerr.InconsistentGroupProtocol.Code)
			return
		}
		delete(s.consumer, req.Group) // an empty consumer group converts
		s.persistConsumerGroup(req.Group, nil)
	}
	unknown := req.MemberID == ""
	g, ok := s.classic[req.Group]
	created := false
	if !ok {
		if !unknown {
			fail(kerr.UnknownMemberID.Code)
			return
		}
		g = newClassicGroup(req.Group, now)
		s.classic[req.Group] = g
		created = true
	}
	switch {
	case !s.acceptJoiningMember(g, req.MemberID):
		if m, ok := g.members[req.MemberID]; ok {
			s.removeMemberAndUpdate(now, g, m)
		}
		resp.MemberID = ""
		fail(kerr.GroupMaxSizeReached.Code)
	case unknown:
		s.joinNewMember(now, token, g, req, resp)
	default:
		s.joinExistingMember(now, token, g, req, resp)
	}
	if created && len(g.members) == 0 && len(g.pending) == 0 && g.state == stateEmpty {
		if _, hasOffsets := s.offsets[g.id]; !hasOffsets {
			delete(s.classic, g.id)
		}
	}
}

// acceptJoiningMember enforces group.max.size (GroupMetadataManager).
func (s *Shard) acceptJoiningMember(g *classicGroup, memberID string) bool {
	switch g.state {
	case stateEmpty, stateDead:
		return true
	case statePreparingRebalance:
		if m, ok := g.members[memberID]; ok && m.awaitingJoin() {
			return true
		}
		return g.numAwaitingJoin() < s.cfg.MaxSize
	default:
		_, ok := g.members[memberID]
		return ok || len(g.members) < s.cfg.MaxSize
	}
}

func (s *Shard) joinNewMember(now time.Time, token uint64, g *classicGroup, req *kmsg.JoinGroupRequest, resp *kmsg.JoinGroupResponse) {
	if !g.supportsProtocols(req.ProtocolType, req.Protocols) {
		resp.ErrorCode = kerr.InconsistentGroupProtocol.Code
		s.respond(token, resp)
		return
	}
	// KIP-394 / KIP-345: member ids are the client id (or the instance
	// id) plus a UUID.
	prefix := s.client.ID
	if req.InstanceID != nil {
		prefix = *req.InstanceID
	}
	newID := prefix + "-" + s.cfg.NewMemberID()
	switch {
	case req.InstanceID != nil:
		if existing, ok := g.staticMembers[*req.InstanceID]; ok {
			s.replaceStaticMember(now, token, g, existing, newID, req, resp)
			return
		}
		s.addMemberAndRebalance(now, token, g, newID, req, resp)
	case req.Version >= 4:
		// KIP-394: hand out the member id and ask the client to join
		// again with it, so that a client that never gets the
		// response leaves no member behind.
		g.pending[newID] = now.Add(ms(req.SessionTimeoutMillis))
		resp.MemberID = newID
		resp.ErrorCode = kerr.MemberIDRequired.Code
		s.respond(token, resp)
	default:
		s.addMemberAndRebalance(now, token, g, newID, req, resp)
	}
}

func (s *Shard) joinExistingMember(now time.Time, token uint64, g *classicGroup, req *kmsg.JoinGroupRequest, resp *kmsg.JoinGroupResponse) {
	if g.state == stateDead {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		s.respond(token, resp)
		return
	}
	if !g.supportsProtocols(req.ProtocolType, req.Protocols) {
		resp.ErrorCode = kerr.InconsistentGroupProtocol.Code
		s.respond(token, resp)
		return
	}
	if _, ok := g.pending[req.MemberID]; ok {
		delete(g.pending, req.MemberID)
		s.addMemberAndRebalance(now, token, g, req.MemberID, req, resp)
		return
	}
	if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
		resp.ErrorCode = code
		s.respond(token, resp)
		return
	}
	m := g.members[req.MemberID]
	switch g.state {
	case statePreparingRebalance:
		s.updateMemberAndRebalance(now, token, g, m, req, resp)
	case stateCompletingRebalance:
		if m.matches(req.Protocols) {
			// A retried JoinGroup of this generation: answer again.
			m.heartbeatDeadline = now.Add(m.sessionTimeout)
			g.fillJoin(resp, m.id, g.leader == m.id)
			s.respond(token, resp)
			return
		}
		s.updateMemberAndRebalance(now, token, g, m, req, resp)
	case stateStable:
		if g.leader == m.id || !m.matches(req.Protocols) {
			// The leader rejoins to force a rebalance (e.g. its
			// subscription's topics changed); so does a member
			// whose metadata changed.
			s.updateMemberAndRebalance(now, token, g, m, req, resp)
			return
		}
		m.heartbeatDeadline = now.Add(m.sessionTimeout)
		g.fillJoin(resp, m.id, false)
		s.respond(token, resp)
	default:
		resp.ErrorCode = kerr.UnknownMemberID.Code
		s.respond(token, resp)
	}
}

// validateMember is ClassicGroup.validateMember: a static member must be the
// current holder of its instance id (else FENCED_INSTANCE_ID, KIP-345).
func (g *classicGroup) validateMember(memberID string, instanceID *string) int16 {
	if instanceID != nil {
		existing, ok := g.staticMembers[*instanceID]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		if existing != memberID {
			return kerr.FencedInstanceID.Code
		}
		return 0
	}
	if _, ok := g.members[memberID]; !ok {
		return kerr.UnknownMemberID.Code
	}
	return 0
}

func (g *classicGroup) fillJoin(resp *kmsg.JoinGroupResponse, memberID string, withMembers bool) {
	resp.ErrorCode = 0
	resp.MemberID = memberID
	resp.Generation = g.generation
	resp.ProtocolType = strp(g.protocolType)
	resp.Protocol = strp(g.protocolName)
	resp.LeaderID = g.leader
	resp.SkipAssignment = false
	resp.Members = []kmsg.JoinGroupResponseMember{}
	if withMembers {
		resp.Members = g.currentMembers()
	}
}

func (s *Shard) addMemberAndRebalance(now time.Time, token uint64, g *classicGroup, id string, req *kmsg.JoinGroupRequest, resp *kmsg.JoinGroupResponse) {
	rt := ms(req.RebalanceTimeoutMillis)
	if req.Version == 0 || rt <= 0 {
		rt = ms(req.SessionTimeoutMillis)
	}
	m := &classicMember{
		id:               id,
		instanceID:       req.InstanceID,
		clientID:         s.client.ID,
		clientHost:       s.client.Host,
		rebalanceTimeout: rt,
		sessionTimeout:   ms(req.SessionTimeoutMillis),
		protocolType:     req.ProtocolType,
		protocols:        req.Protocols,
		joinToken:        token,
		joinResp:         resp,
		isNew:            true,
		// A new member cannot heartbeat before its JoinGroup
		// completes; it is dropped if that takes too long.
		heartbeatDeadline: now.Add(newMemberJoinTimeout),
	}
	if g.state == statePreparingRebalance && g.prevState == stateEmpty {
		g.newMemberAdded = true
	}
	g.add(m)
	s.maybePrepareRebalanceOrCompleteJoin(now, g)
}

func (s *Shard) updateMemberAndRebalance(now time.Time, token uint64, g *classicGroup, m *classicMember, req *kmsg.JoinGroupRequest, resp *kmsg.JoinGroupResponse) {
	if m.joinResp != nil && m.joinToken != token {
		// A retried JoinGroup replaces the parked one.
		old := m.joinResp
		old.ErrorCode = kerr.RebalanceInProgress.Code
		s.respond(m.joinToken, old)
	}
	m.protocols = req.Protocols
	m.sessionTimeout = ms(req.SessionTimeoutMillis)
	if rt := ms(req.RebalanceTimeoutMillis); req.Version > 0 && rt > 0 {
		m.rebalanceTimeout = rt
	}
	m.joinToken, m.joinResp = token, resp
	m.heartbeatDeadline = now.Add(m.sessionTimeout)
	s.maybePrepareRebalanceOrCompleteJoin(now, g)
}

// replaceStaticMember handles a known group.instance.id joining with an
// unknown member id: a restarted static member (KIP-345). The old member id
// is fenced; a Stable group keeps its assignment and does not rebalance
// unless the selected protocol would change.
func (s *Shard) replaceStaticMember(now time.Time, token uint64, g *classicGroup, oldID, newID string, req *kmsg.JoinGroupRequest, resp *kmsg.JoinGroupResponse) {
	old := g.members[oldID]
	fence := func() {
		if old.joinResp != nil {
			old.joinResp.ErrorCode = kerr.FencedInstanceID.Code
			old.joinResp.MemberID = oldID
			s.respond(old.joinToken, old.joinResp)
			old.joinResp = nil
		}
		if old.syncResp != nil {
			old.syncResp.ErrorCode = kerr.FencedInstanceID.Code
			s.respond(old.syncToken, old.syncResp)
			old.syncResp = nil
		}
	}
	fence()
	oldLeader := g.leader
	delete(g.members, oldID)
	if g.pendingSync[oldID] {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = true
	}
	old.id = newID
	old.protocols = req.Protocols
	old.sessionTimeout = ms(req.SessionTimeoutMillis)
	if rt := ms(req.RebalanceTimeoutMillis); rt > 0 {
		old.rebalanceTimeout = rt
	}
	old.clientID = s.client.ID
	old.clientHost = s.client.Host
	old.heartbeatDeadline = now.Add(old.sessionTimeout)
	g.members[newID] = old
	g.staticMembers[*req.InstanceID] = newID
	if g.leader == oldID {
		g.leader = newID
	}
	m := old
	switch g.state {
	case stateStable:
		if g.selectProtocol() == g.protocolName {
			// Persist the new member id; answer with the current
			// generation. KIP-814 (v9+): a leader is told to skip
			// the assignment, which a Stable group would not
			// propagate anyway; older versions get the old leader
			// id so the member does not assign.
			s.persist(groupMetadataRecord(g))
			resp.ErrorCode = 0
			resp.MemberID = newID
			resp.Generation = g.generation
			resp.ProtocolType = strp(g.protocolType)
			resp.Protocol = strp(g.protocolName)
			resp.Members = []kmsg.JoinGroupResponseMember{}
			if req.Version >= 9 {
				isLeader := g.leader == newID
				resp.LeaderID = g.leader
				resp.SkipAssignment = isLeader
				if isLeader {
					resp.Members = g.currentMembers()
				}
			} else {
				resp.LeaderID = oldLeader
			}
			s.respond(token, resp)
			return
		}
		m.joinToken, m.joinResp = token, resp
		s.prepareRebalance(now, g)
	case stateCompletingRebalance:
		m.joinToken, m.joinResp = token, resp
		s.prepareRebalance(now, g)
	case statePreparingRebalance:
		m.joinToken, m.joinResp = token, resp
		s.maybeCompleteJoinPhase(now, g)
	default:
		m.joinToken, m.joinResp = token, resp
		s.prepareRebalance(now, g)
	}
}

func (s *Shard) maybePrepareRebalanceOrCompleteJoin(now time.Time, g *classicGroup) {
	switch g.state {
	case stateStable, stateCompletingRebalance, stateEmpty:
		s.prepareRebalance(now, g)
	default:
		s.maybeCompleteJoinPhase(now, g)
	}
}

// prepareRebalance starts a join phase. From Empty the join waits
// group.initial.rebalance.delay.ms, extended while new members keep arriving
// (KIP-134); otherwise it waits for every member to rejoin, at most the
// longest rebalance timeout.
func (s *Shard) prepareRebalance(now time.Time, g *classicGroup) {
	if g.state == stateCompletingRebalance {
		s.resetAssignmentWithError(g, kerr.RebalanceInProgress.Code)
	}
	g.syncDeadline = time.Time{}
	initial := g.state == stateEmpty
	if initial {
		delay := s.cfg.InitialRebalanceDelay
		g.initialJoin = true
		g.initialDelay = delay
		g.initialRemaining = max(g.maxRebalanceTimeout()-delay, 0)
		g.newMemberAdded = false
		g.joinDeadline = now.Add(delay)
	} else {
		g.initialJoin = false
		g.joinDeadline = now.Add(g.maxRebalanceTimeout())
	}
	g.transition(now, statePreparingRebalance)
	s.maybeCompleteJoinPhase(now, g)
}

// resetAssignmentWithError answers parked SyncGroups (a new rebalance
// supersedes the generation they belong to) and clears assignments.
func (s *Shard) resetAssignmentWithError(g *classicGroup, code int16) {
	for _, id := range g.sortedMemberIDs() {
		m := g.members[id]
		m.assignment = nil
		if m.syncResp != nil {
			m.syncResp.ErrorCode = code
			m.syncResp.MemberAssignment = []byte{}
			s.respond(m.syncToken, m.syncResp)
			m.syncResp = nil
		}
	}
}

func (s *Shard) maybeCompleteJoinPhase(now time.Time, g *classicGroup) {
	if g.state == statePreparingRebalance && g.hasAllMembersJoined() && g.prevState != stateEmpty {
		s.completeJoin(now, g)
	}
}

// completeJoin ends the join phase: dynamic members that did not rejoin are
// dropped, the generation advances, and every joined member gets its
// JoinGroup response (the leader with the member list).
func (s *Shard) completeJoin(now time.Time, g *classicGroup) {
	g.joinDeadline = time.Time{}
	g.initialJoin = false
	for _, id := range g.sortedMemberIDs() {
		m := g.members[id]
		if !m.awaitingJoin() && m.instanceID == nil {
			g.remove(id)
		}
	}
	if !g.electJoinedLeader() && len(g.members) > 0 {
		// Only static members that have not rejoined remain: wait
		// for them, or for their sessions to expire.
		g.joinDeadline = now.Add(g.maxRebalanceTimeout())
		return
	}
	g.generation++
	if len(g.members) == 0 {
		g.protocolName = ""
		g.leader = ""
		g.transition(now, stateEmpty)
		g.pendingSync = map[string]bool{}
		s.persist(groupMetadataRecord(g))
		return
	}
	g.protocolName = g.selectProtocol()
	g.transition(now, stateCompletingRebalance)
	g.pendingSync = map[string]bool{}
	for _, id := range g.sortedMemberIDs() {
		m := g.members[id]
		if m.joinResp != nil {
			g.fillJoin(m.joinResp, m.id, g.leader == m.id)
			s.respond(m.joinToken, m.joinResp)
			m.joinResp = nil
		}
		m.heartbeatDeadline = now.Add(m.sessionTimeout)
		m.isNew = false
		g.pendingSync[id] = true
	}
	// Members that never send SyncGroup are removed after the rebalance
	// timeout (Kafka's pending sync expiration).
	g.syncDeadline = now.Add(g.maxRebalanceTimeout())
	g.syncGeneration = g.generation
}

func (g *classicGroup) electJoinedLeader() bool {
	if m, ok := g.members[g.leader]; ok && m.awaitingJoin() {
		return true
	}
	for _, id := range g.sortedMemberIDs() {
		if g.members[id].awaitingJoin() {
			g.leader = id
			return true
		}
	}
	return false
}

// removeMemberAndUpdate removes a member (session expiry, leave, fencing)
// and moves the group on: a rebalance, or the end of the current join phase.
func (s *Shard) removeMemberAndUpdate(now time.Time, g *classicGroup, m *classicMember) {
	if m.joinResp != nil {
		m.joinResp.ErrorCode = kerr.UnknownMemberID.Code
		m.joinResp.MemberID = ""
		m.joinResp.Generation = -1
		s.respond(m.joinToken, m.joinResp)
		m.joinResp = nil
	}
	if m.syncResp != nil {
		m.syncResp.ErrorCode = kerr.UnknownMemberID.Code
		m.syncResp.MemberAssignment = []byte{}
		s.respond(m.syncToken, m.syncResp)
		m.syncResp = nil
	}
	g.remove(m.id)
	switch g.state {
	case stateStable, stateCompletingRebalance:
		s.maybePrepareRebalanceOrCompleteJoin(now, g)
	case statePreparingRebalance:
		s.maybeCompleteJoinPhase(now, g)
	}
}

func (s *Shard) syncGroup(now time.Time, token uint64, req *kmsg.SyncGroupRequest) {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	resp.MemberAssignment = []byte{}
	fail := func(code int16) {
		resp.ErrorCode = code
		s.respond(token, resp)
	}
	g, code := s.generationMember(req.Group, req.MemberID, req.InstanceID, req.Generation)
	if code != 0 {
		fail(code)
		return
	}
	if (req.ProtocolType != nil && *req.ProtocolType != g.protocolType) ||
		(req.Protocol != nil && *req.Protocol != g.protocolName) {
		fail(kerr.InconsistentGroupProtocol.Code)
		return
	}
	m := g.members[req.MemberID]
	switch g.state {
	case statePreparingRebalance:
		fail(kerr.RebalanceInProgress.Code)
	case stateCompletingRebalance:
		if m.syncResp != nil && m.syncToken != token {
			m.syncResp.ErrorCode = kerr.RebalanceInProgress.Code
			s.respond(m.syncToken, m.syncResp)
		}
		m.syncToken, m.syncResp = token, resp
		m.heartbeatDeadline = now.Add(m.sessionTimeout)
		delete(g.pendingSync, m.id)
		if g.leader != m.id {
			return
		}
		// The leader's assignment completes the generation; members
		// missing from it get an empty assignment.
		given := make(map[string][]byte, len(req.GroupAssignment))
		for _, a := range req.GroupAssignment {
			given[a.MemberID] = a.MemberAssignment
		}
		for id, mm := range g.members {
			mm.assignment = given[id]
			if mm.assignment == nil {
				mm.assignment = []byte{}
			}
		}
		g.transition(now, stateStable)
		s.persist(groupMetadataRecord(g))
		for _, id := range g.sortedMemberIDs() {
			mm := g.members[id]
			if mm.syncResp != nil {
				g.fillSync(mm.syncResp, mm)
				s.respond(mm.syncToken, mm.syncResp)
				mm.syncResp = nil
			}
		}
	case stateStable:
		delete(g.pendingSync, m.id)
		m.heartbeatDeadline = now.Add(m.sessionTimeout)
		g.fillSync(resp, m)
		s.respond(token, resp)
	default:
		fail(kerr.UnknownMemberID.Code)
	}
}

func (g *classicGroup) fillSync(resp *kmsg.SyncGroupResponse, m *classicMember) {
	resp.ErrorCode = 0
	resp.ProtocolType = strp(g.protocolType)
	resp.Protocol = strp(g.protocolName)
	resp.MemberAssignment = m.assignment
	if resp.MemberAssignment == nil {
		resp.MemberAssignment = []byte{}
	}
}

// memberGroup returns the classic group that a SyncGroup, Heartbeat or
// LeaveGroup from one of its members names, or the error Kafka answers:
// INVALID_GROUP_ID for an empty name, UNKNOWN_MEMBER_ID for a group the
// coordinator does not have (no member can belong to it).
func (s *Shard) memberGroup(group string) (*classicGroup, int16) {
	if group == "" {
		return nil, kerr.InvalidGroupID.Code
	}
	g, ok := s.classic[group]
	if !ok {
		return nil, kerr.UnknownMemberID.Code
	}
	return g, 0
}

// generationMember returns the group of a SyncGroup or Heartbeat, checking
// as Kafka does, in this order, that the group exists, that the member (a
// static one by its instance id) belongs to it, and that it speaks for the
// current generation; else the error to answer.
func (s *Shard) generationMember(group, memberID string, instanceID *string, generation int32) (*classicGroup, int16) {
	g, code := s.memberGroup(group)
	if code != 0 {
		return nil, code
	}
	if code := g.validateMember(memberID, instanceID); code != 0 {
		return nil, code
	}
	if generation != g.generation {
		return nil, kerr.IllegalGeneration.Code
	}
	return g, 0
}

func (s *Shard) heartbeat(now time.Time, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	g, code := s.generationMember(req.Group, req.MemberID, req.InstanceID, req.Generation)
	if code != 0 {
		resp.ErrorCode = code
		return resp
	}
	m := g.members[req.MemberID]
	switch g.state {
	case stateEmpty:
		resp.ErrorCode = kerr.UnknownMemberID.Code
	case statePreparingRebalance:
		m.heartbeatDeadline = now.Add(m.sessionTimeout)
		resp.ErrorCode = kerr.RebalanceInProgress.Code
	default:
		m.heartbeatDeadline = now.Add(m.sessionTimeout)
	}
	return resp
}

func (s *Shard) leaveGroup(now time.Time, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	g, code := s.memberGroup(req.Group)
	if code != 0 {
		resp.ErrorCode = code
		return resp
	}
	identities := req.Members
	if req.Version < 3 {
		identities = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	for _, id := range identities {
		out := kmsg.NewLeaveGroupResponseMember()
		out.MemberID, out.InstanceID = id.MemberID, id.InstanceID
		if id.InstanceID == nil {
			if _, ok := g.pending[id.MemberID]; ok {
				delete(g.pending, id.MemberID)
				s.maybeCompleteJoinPhase(now, g)
			} else if m, ok := g.members[id.MemberID]; ok {
				s.removeMemberAndUpdate(now, g, m)
			} else {
				out.ErrorCode = kerr.UnknownMemberID.Code
			}
		} else {
			existing, ok := g.staticMembers[*id.InstanceID]
			switch {
			case !ok:
				out.ErrorCode = kerr.UnknownMemberID.Code
			case id.MemberID != "" && id.MemberID != existing:
				out.ErrorCode = kerr.FencedInstanceID.Code
			default:
				s.removeMemberAndUpdate(now, g, g.members[existing])
			}
		}
		resp.Members = append(resp.Members, out)
	}
	if req.Version < 3 {
		resp.ErrorCode = resp.Members[0].ErrorCode
		resp.Members = nil
	}
	return resp
}

// tickClassic fires the group's timers whose time has come.
func (s *Shard) tickClassic(now time.Time, g *classicGroup) {
	for id, deadline := range g.pending {
		if !now.Before(deadline) {
			delete(g.pending, id)
			s.maybeCompleteJoinPhase(now, g)
		}
	}
	for _, id := range g.sortedMemberIDs() {
		m, ok := g.members[id]
		if !ok {
			continue
		}
		// Members parked in a join or sync are kept alive: they cannot
		// heartbeat while waiting (hasSatisfiedHeartbeat).
		if (m.awaitingJoin() && !m.isNew) || m.awaitingSync() {
			continue
		}
		if !now.Before(m.heartbeatDeadline) {
			s.removeMemberAndUpdate(now, g, m)
		}
	}
	if g.state == statePreparingRebalance && !g.joinDeadline.IsZero() && !now.Before(g.joinDeadline) {
		if g.initialJoin && g.newMemberAdded && g.initialRemaining > 0 && g.initialDelay > 0 {
			d := min(g.initialDelay, g.initialRemaining)
			g.initialRemaining = max(g.initialRemaining-g.initialDelay, 0)
			g.newMemberAdded = false
			g.joinDeadline = now.Add(d)
		} else {
			s.completeJoin(now, g)
		}
	}
	if (g.state == stateCompletingRebalance || g.state == stateStable) && !g.syncDeadline.IsZero() &&
		!now.Before(g.syncDeadline) && g.syncGeneration == g.generation {
		g.syncDeadline = time.Time{}
		if len(g.pendingSync) > 0 {
			for _, id := range sortedKeys(g.pendingSync) {
				if m, ok := g.members[id]; ok {
					if m.joinResp != nil || m.syncResp != nil {
						continue
					}
					g.remove(id)
				}
			}
			g.pendingSync = map[string]bool{}
			s.maybePrepareRebalanceOrCompleteJoin(now, g)
		}
	}
}

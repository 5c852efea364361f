package coordinator

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// classicState is a classic group's state (Kafka's ClassicGroupState).
type classicState int8

const (
	stateEmpty classicState = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

func (s classicState) String() string {
	switch s {
	case stateEmpty:
		return "Empty"
	case statePreparingRebalance:
		return "PreparingRebalance"
	case stateCompletingRebalance:
		return "CompletingRebalance"
	case stateStable:
		return "Stable"
	default:
		return "Dead"
	}
}

// classicMember is one member of a classic group (ClassicGroupMember).
type classicMember struct {
	id               string
	instanceID       *string
	clientID         string
	clientHost       string
	rebalanceTimeout time.Duration
	sessionTimeout   time.Duration
	protocolType     string
	protocols        []kmsg.JoinGroupRequestProtocol
	assignment       []byte

	// A JoinGroup or SyncGroup parked until the rebalance allows an
	// answer: its token and the response to fill in.
	joinToken uint64
	joinResp  *kmsg.JoinGroupResponse
	syncToken uint64
	syncResp  *kmsg.SyncGroupResponse

	isNew             bool
	heartbeatDeadline time.Time
}

func (m *classicMember) awaitingJoin() bool { return m.joinResp != nil }
func (m *classicMember) awaitingSync() bool { return m.syncResp != nil }

func (m *classicMember) metadataFor(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// matches reports whether a rejoin carries the same protocols, in order,
// with the same metadata (ClassicGroupMember.matches).
func (m *classicMember) matches(protocols []kmsg.JoinGroupRequestProtocol) bool {
	if len(protocols) != len(m.protocols) {
		return false
	}
	for i, p := range protocols {
		if p.Name != m.protocols[i].Name || string(p.Metadata) != string(m.protocols[i].Metadata) {
			return false
		}
	}
	return true
}

// vote picks the member's most preferred protocol among the candidates.
func (m *classicMember) vote(candidates map[string]bool) string {
	for _, p := range m.protocols {
		if candidates[p.Name] {
			return p.Name
		}
	}
	return ""
}

// classicGroup is one classic-protocol group (Kafka's ClassicGroup).
type classicGroup struct {
	id             string
	state          classicState
	prevState      classicState
	stateTimestamp time.Time
	protocolType   string // "" until the first member joins: a "simple" group
	protocolName   string
	generation     int32
	leader         string

	members       map[string]*classicMember
	staticMembers map[string]string    // group.instance.id → member id (KIP-345)
	pending       map[string]time.Time // member ids handed out, not yet joined (KIP-394) → expiry
	pendingSync   map[string]bool      // members yet to SyncGroup this generation

	// Join phase timers: joinDeadline completes the join; during the
	// initial rebalance (from Empty) the delay extends while new members
	// arrive, up to the rebalance timeout (InitialDelayedJoin).
	joinDeadline     time.Time
	initialJoin      bool
	initialDelay     time.Duration
	initialRemaining time.Duration
	newMemberAdded   bool

	syncDeadline   time.Time
	syncGeneration int32
}

func newClassicGroup(id string, now time.Time) *classicGroup {
	return &classicGroup{
		id:             id,
		state:          stateEmpty,
		prevState:      stateEmpty,
		stateTimestamp: now,
		members:        make(map[string]*classicMember),
		staticMembers:  make(map[string]string),
		pending:        make(map[string]time.Time),
		pendingSync:    make(map[string]bool),
	}
}

// classicGroupFromRecord rebuilds a group from its GroupMetadataValue: Empty
// without members, else Stable with the stored generation and assignment.
func classicGroupFromRecord(id string, v *kmsg.GroupMetadataValue) *classicGroup {
	var ts time.Time
	if v.CurrentStateTimestamp > 0 {
		ts = time.UnixMilli(v.CurrentStateTimestamp)
	}
	g := newClassicGroup(id, ts)
	g.protocolType = v.ProtocolType
	g.generation = v.Generation
	if v.Protocol != nil {
		g.protocolName = *v.Protocol
	}
	if v.Leader != nil {
		g.leader = *v.Leader
	}
	for _, vm := range v.Members {
		m := &classicMember{
			id:               vm.MemberID,
			instanceID:       vm.InstanceID,
			clientID:         vm.ClientID,
			clientHost:       vm.ClientHost,
			rebalanceTimeout: time.Duration(vm.RebalanceTimeoutMillis) * time.Millisecond,
			sessionTimeout:   time.Duration(vm.SessionTimeoutMillis) * time.Millisecond,
			protocolType:     v.ProtocolType,
			protocols:        []kmsg.JoinGroupRequestProtocol{{Name: g.protocolName, Metadata: vm.Subscription}},
			assignment:       vm.Assignment,
		}
		if m.rebalanceTimeout <= 0 {
			m.rebalanceTimeout = m.sessionTimeout
		}
		g.members[m.id] = m
		if m.instanceID != nil {
			g.staticMembers[*m.instanceID] = m.id
		}
	}
	if len(g.members) > 0 {
		g.state = stateStable
		if _, ok := g.members[g.leader]; !ok {
			g.leader = g.sortedMemberIDs()[0]
		}
	} else {
		g.leader = ""
	}
	return g
}

func (g *classicGroup) transition(now time.Time, to classicState) {
	g.prevState = g.state
	g.state = to
	g.stateTimestamp = now
}

func (g *classicGroup) sortedMemberIDs() []string { return sortedKeys(g.members) }

func (g *classicGroup) add(m *classicMember) {
	if len(g.members) == 0 && g.protocolType == "" {
		g.protocolType = m.protocolType
	}
	g.members[m.id] = m
	if m.instanceID != nil {
		g.staticMembers[*m.instanceID] = m.id
	}
	if g.leader == "" {
		g.leader = m.id
	}
}

func (g *classicGroup) remove(id string) {
	m, ok := g.members[id]
	if !ok {
		return
	}
	delete(g.members, id)
	delete(g.pendingSync, id)
	if m.instanceID != nil && g.staticMembers[*m.instanceID] == id {
		delete(g.staticMembers, *m.instanceID)
	}
	if g.leader == id {
		g.leader = ""
		if ids := g.sortedMemberIDs(); len(ids) > 0 {
			g.leader = ids[0]
		}
	}
}

func (g *classicGroup) numAwaitingJoin() int {
	n := 0
	for _, m := range g.members {
		if m.awaitingJoin() {
			n++
		}
	}
	return n
}

func (g *classicGroup) hasAllMembersJoined() bool {
	return g.numAwaitingJoin() == len(g.members) && len(g.pending) == 0
}

// maxRebalanceTimeout is the longest rebalance timeout of any member: how
// long the join phase waits for members to rejoin.
func (g *classicGroup) maxRebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		if m.rebalanceTimeout > d {
			d = m.rebalanceTimeout
		}
	}
	return d
}

// supportsProtocols mirrors ClassicGroup.supportsProtocols: an empty group
// takes any non-empty protocol type and list; otherwise the type must match
// and one protocol must be supported by every current member.
func (g *classicGroup) supportsProtocols(protocolType string, protocols []kmsg.JoinGroupRequestProtocol) bool {
	if len(g.members) == 0 {
		return protocolType != "" && len(protocols) > 0
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range protocols {
		all := true
		for _, m := range g.members {
			if !m.hasProtocol(p.Name) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func (m *classicMember) hasProtocol(name string) bool {
	for _, p := range m.protocols {
		if p.Name == name {
			return true
		}
	}
	return false
}

// selectProtocol picks the protocol for the next generation: among those
// every member supports, each member votes for its most preferred, and the
// most votes win (ties go to the name first in order, for determinism).
func (g *classicGroup) selectProtocol() string {
	candidates := map[string]bool{}
	first := true
	for _, m := range g.members {
		own := map[string]bool{}
		for _, p := range m.protocols {
			own[p.Name] = true
		}
		if first {
			candidates = own
			first = false
			continue
		}
		for c := range candidates {
			if !own[c] {
				delete(candidates, c)
			}
		}
	}
	votes := map[string]int{}
	for _, m := range g.members {
		if v := m.vote(candidates); v != "" {
			votes[v]++
		}
	}
	best, bestVotes := "", -1
	for _, name := range sortedKeys(votes) {
		if votes[name] > bestVotes {
			best, bestVotes = name, votes[name]
		}
	}
	return best
}

// currentMembers is the member list the leader receives in its JoinGroup
// response: each member's metadata for the selected protocol.
func (g *classicGroup) currentMembers() []kmsg.JoinGroupResponseMember {
	out := make([]kmsg.JoinGroupResponseMember, 0, len(g.members))
	for _, id := range g.sortedMemberIDs() {
		m := g.members[id]
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID = m.id
		jm.InstanceID = m.instanceID
		jm.ProtocolMetadata = m.metadataFor(g.protocolName)
		out = append(out, jm)
	}
	return out
}

// subscribedTopics decodes the consumer protocol subscriptions of a
// non-empty "consumer" group; ok is false when they are unknown (another
// protocol type, or undecodable metadata), in which case no topic counts
// as subscribed (ClassicGroup.isSubscribedToTopic).
func (g *classicGroup) subscribedTopics() (map[string]bool, bool) {
	if g.protocolType != "consumer" || g.protocolName == "" || len(g.members) == 0 {
		return nil, false
	}
	out := map[string]bool{}
	for _, m := range g.members {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(m.metadataFor(g.protocolName)); err != nil {
			return nil, false
		}
		for _, t := range md.Topics {
			out[t] = true
		}
	}
	return out, true
}

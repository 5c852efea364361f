package coordinator

// DescribeGroups, ListGroups and DeleteGroups for the groups of one shard.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupAuthorizedOperations is READ, DELETE and DESCRIBE as a bit field
// (KIP-430), what Kafka reports for a group when no authorizer restricts it.
const groupAuthorizedOperations = 1<<3 | 1<<6 | 1<<8

func (s *Shard) describeGroups(req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		sg := kmsg.NewDescribeGroupsResponseGroup()
		sg.Group = id
		if req.IncludeAuthorizedOperations {
			sg.AuthorizedOperations = groupAuthorizedOperations
		}
		g, ok := s.classic[id]
		switch {
		case id == "":
			sg.ErrorCode = kerr.InvalidGroupID.Code
		case !ok:
			// Kafka describes an unknown group (or one that is not
			// classic) as Dead; v6+ also says GROUP_ID_NOT_FOUND
			// (KIP-1043).
			sg.State = stateDead.String()
			if req.Version >= 6 {
				sg.ErrorCode = kerr.GroupIDNotFound.Code
				if _, isConsumer := s.consumer[id]; isConsumer {
					sg.ErrorMessage = strp(errf("Group %s is not a classic group.", id))
				} else {
					sg.ErrorMessage = strp(errf("Group %s not found.", id))
				}
			}
		default:
			sg.State = g.state.String()
			sg.ProtocolType = g.protocolType
			stable := g.state == stateStable
			if stable {
				sg.Protocol = g.protocolName
			}
			sg.Members = []kmsg.DescribeGroupsResponseGroupMember{}
			for _, mid := range g.sortedMemberIDs() {
				m := g.members[mid]
				sm := kmsg.NewDescribeGroupsResponseGroupMember()
				sm.MemberID = m.id
				sm.InstanceID = m.instanceID
				sm.ClientID = m.clientID
				sm.ClientHost = m.clientHost
				sm.ProtocolMetadata = []byte{}
				sm.MemberAssignment = []byte{}
				if stable {
					if md := m.metadataFor(g.protocolName); md != nil {
						sm.ProtocolMetadata = md
					}
					if m.assignment != nil {
						sm.MemberAssignment = m.assignment
					}
				}
				sg.Members = append(sg.Members, sm)
			}
		}
		resp.Groups = append(resp.Groups, sg)
	}
	return resp
}

func (s *Shard) listGroups(req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	match := func(state, typ string) bool {
		if len(req.StatesFilter) > 0 && !equalFoldAny(req.StatesFilter, state) {
			return false
		}
		return len(req.TypesFilter) == 0 || equalFoldAny(req.TypesFilter, typ)
	}
	for _, id := range sortedKeys(s.classic) {
		g := s.classic[id]
		if !match(g.state.String(), "classic") {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = id, g.protocolType, g.state.String(), "classic"
		resp.Groups = append(resp.Groups, lg)
	}
	for _, id := range sortedKeys(s.consumer) {
		g := s.consumer[id]
		if !match(g.stateString(), "consumer") {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = id, "consumer", g.stateString(), "consumer"
		resp.Groups = append(resp.Groups, lg)
	}
	return resp
}

func (s *Shard) deleteGroups(req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, id := range req.Groups {
		dg := kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = id
		dg.ErrorCode = s.deleteGroup(id)
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (s *Shard) deleteGroup(id string) int16 {
	if id == "" {
		return kerr.InvalidGroupID.Code
	}
	if cg, ok := s.consumer[id]; ok {
		if len(cg.members) > 0 {
			return kerr.NonEmptyGroup.Code
		}
		delete(s.consumer, id)
		s.persistConsumerGroup(id, nil)
	} else if g, ok := s.classic[id]; ok {
		switch g.state {
		case stateDead:
			return kerr.GroupIDNotFound.Code
		case stateEmpty:
			delete(s.classic, id)
		default:
			return kerr.NonEmptyGroup.Code
		}
	} else {
		return kerr.GroupIDNotFound.Code
	}
	for _, topic := range sortedKeys(s.offsets[id]) {
		for _, p := range sortedPartitions(s.offsets[id][topic]) {
			s.persist(Record{Key: offsetCommitKey(id, topic, p)})
		}
	}
	delete(s.offsets, id)
	s.persist(Record{Key: groupMetadataKey(id)})
	return 0
}

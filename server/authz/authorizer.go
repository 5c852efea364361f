package authz

import (
	"strings"
	"sync/atomic"

	"github.com/riffle-io/riffle/server/auth"
)

// Authorizer is Kafka's StandardAuthorizer over one set of ACLs. It is safe
// for concurrent use: SetACLs publishes a new index, which requests read
// without locks.
type Authorizer struct {
	superUsers    map[string]bool
	allowEveryone bool
	idx           atomic.Pointer[index]
}

// New returns an authorizer with no ACLs. superUsers are principals
// ("User:admin"; "User:*" makes every user one), as in super.users;
// allowEveryone is allow.everyone.if.no.acl.found.
func New(superUsers []string, allowEveryone bool) *Authorizer {
	a := &Authorizer{superUsers: map[string]bool{}, allowEveryone: allowEveryone}
	for _, s := range superUsers {
		if s = strings.TrimSpace(s); s != "" {
			a.superUsers[s] = true
		}
	}
	a.idx.Store(&index{})
	return a
}

// ParseSuperUsers splits super.users: principals separated by semicolons.
func ParseSuperUsers(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ";") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// index holds the ACLs by resource type, then by pattern: literal ACLs by
// exact name (the wildcard "*" among them), prefixed ACLs by their prefix.
// A lookup touches the resource's own name, "*", and each prefix of the
// name: at most len(name)+2 map reads, whatever the number of ACLs.
type index struct {
	byType map[ResourceType]*typeIndex
	all    []ACL
}

type typeIndex struct {
	literal  map[string][]ACL
	prefixed map[string][]ACL
	// prefixLens are the distinct lengths of the prefixed patterns, so a
	// lookup probes only the prefixes of the name that some ACL has.
	prefixLens []int
}

// SetACLs replaces the ACLs the authorizer decides by.
func (a *Authorizer) SetACLs(acls []ACL) {
	idx := &index{byType: map[ResourceType]*typeIndex{}, all: acls}
	for _, acl := range acls {
		ti := idx.byType[acl.ResourceType]
		if ti == nil {
			ti = &typeIndex{literal: map[string][]ACL{}, prefixed: map[string][]ACL{}}
			idx.byType[acl.ResourceType] = ti
		}
		switch acl.PatternType {
		case PatternLiteral:
			ti.literal[acl.ResourceName] = append(ti.literal[acl.ResourceName], acl)
		case PatternPrefixed:
			if _, ok := ti.prefixed[acl.ResourceName]; !ok {
				ti.prefixLens = appendLen(ti.prefixLens, len(acl.ResourceName))
			}
			ti.prefixed[acl.ResourceName] = append(ti.prefixed[acl.ResourceName], acl)
		}
	}
	a.idx.Store(idx)
}

func appendLen(lens []int, n int) []int {
	for _, l := range lens {
		if l == n {
			return lens
		}
	}
	return append(lens, n)
}

// ACLs returns every ACL the authorizer holds.
func (a *Authorizer) ACLs() []ACL { return a.idx.Load().all }

// IsSuperUser reports whether p is one of super.users.
func (a *Authorizer) IsSuperUser(p auth.Principal) bool {
	return a.superUsers[p.String()] || a.superUsers[p.Type+":"+Wildcard]
}

// Authorize reports whether principal p, connected from host (an IP
// address), may perform op on the resource (rt, name), as
// StandardAuthorizerData.authorize decides:
//   - a super user may do anything;
//   - a matching DENY ACL refuses, whatever else matches;
//   - otherwise a matching ALLOW ACL allows;
//   - a resource that no ACL applies to at all is allowed only with
//     allow.everyone.if.no.acl.found.
//
// An ACL matches when its pattern applies to the resource (literal of the
// same name, the wildcard, or a prefix of the name), its principal is p or
// User:*, its host is host or "*", and its operation is op or ALL; an
// ALLOW ACL for READ, WRITE, DELETE or ALTER also allows DESCRIBE, and one
// for ALTER_CONFIGS also allows DESCRIBE_CONFIGS (DENY ACLs imply nothing).
func (a *Authorizer) Authorize(p auth.Principal, host string, op Operation, rt ResourceType, name string) bool {
	if a.IsSuperUser(p) {
		return true
	}
	ti := a.idx.Load().byType[rt]
	if ti == nil {
		return a.allowEveryone
	}
	m := matcher{principal: p.String(), wildcard: p.Type + ":" + Wildcard, host: host, op: op}
	m.check(ti.literal[name])
	if name != Wildcard {
		m.check(ti.literal[Wildcard])
	}
	for _, l := range ti.prefixLens {
		if m.denied {
			break
		}
		if l <= len(name) {
			m.check(ti.prefixed[name[:l]])
		}
	}
	switch {
	case m.denied:
		return false
	case m.allowed:
		return true
	case !m.resourceHasACLs:
		return a.allowEveryone
	}
	return false
}

type matcher struct {
	principal, wildcard, host string
	op                        Operation

	resourceHasACLs, allowed, denied bool
}

func (m *matcher) check(acls []ACL) {
	for _, acl := range acls {
		m.resourceHasACLs = true
		if m.denied {
			return
		}
		if acl.Principal != m.principal && acl.Principal != m.wildcard {
			continue
		}
		if acl.Host != Wildcard && acl.Host != m.host {
			continue
		}
		if !operationMatches(acl, m.op) {
			continue
		}
		if acl.Permission == PermissionDeny {
			m.denied = true
			return
		}
		if acl.Permission == PermissionAllow {
			m.allowed = true
		}
	}
}

// operationMatches is StandardAuthorizerData's operation check: ALL
// matches everything; implications hold for ALLOW ACLs only.
func operationMatches(acl ACL, op Operation) bool {
	if acl.Operation == OpAll || acl.Operation == op {
		return true
	}
	if acl.Permission != PermissionAllow {
		return false
	}
	switch op {
	case OpDescribe:
		switch acl.Operation {
		case OpRead, OpWrite, OpDelete, OpAlter:
			return true
		}
	case OpDescribeConfigs:
		return acl.Operation == OpAlterConfigs
	}
	return false
}

// AuthorizeByResourceType reports whether p may perform op on at least one
// resource of type rt (Kafka's Authorizer.authorizeByResourceType, which
// InitProducerId uses: an idempotent producer needs IDEMPOTENT_WRITE on the
// cluster or WRITE on some topic). A super user may; a wildcard DENY
// refuses; otherwise some ALLOW pattern must exist that no DENY covers (a
// literal denied by the same literal or by a denied prefix of it, a prefix
// denied by a shorter or equal denied prefix).
func (a *Authorizer) AuthorizeByResourceType(p auth.Principal, host string, op Operation, rt ResourceType) bool {
	// As Kafka's default implementation, ask first about a made-up name:
	// super users and allow.everyone.if.no.acl.found answer here.
	if a.Authorize(p, host, op, rt, "hardcode") {
		return true
	}
	ti := a.idx.Load().byType[rt]
	if ti == nil {
		return false
	}
	principal, wildcard := p.String(), p.Type+":"+Wildcard
	denyLiteral, denyPrefix := map[string]bool{}, map[string]bool{}
	var allowLiteral, allowPrefix []string
	visit := func(acls []ACL) bool {
		for _, acl := range acls {
			if acl.Host != Wildcard && acl.Host != host {
				continue
			}
			if acl.Principal != principal && acl.Principal != wildcard {
				continue
			}
			if acl.Operation != op && acl.Operation != OpAll {
				continue
			}
			switch {
			case acl.Permission == PermissionDeny && acl.PatternType == PatternLiteral:
				if acl.ResourceName == Wildcard {
					return false
				}
				denyLiteral[acl.ResourceName] = true
			case acl.Permission == PermissionDeny && acl.PatternType == PatternPrefixed:
				denyPrefix[acl.ResourceName] = true
			case acl.Permission == PermissionAllow && acl.PatternType == PatternLiteral:
				allowLiteral = append(allowLiteral, acl.ResourceName)
			case acl.Permission == PermissionAllow && acl.PatternType == PatternPrefixed:
				allowPrefix = append(allowPrefix, acl.ResourceName)
			}
		}
		return true
	}
	for _, acls := range ti.literal {
		if !visit(acls) {
			return false
		}
	}
	for _, acls := range ti.prefixed {
		visit(acls)
	}
	dominated := func(name string) bool {
		for i := 1; i <= len(name); i++ {
			if denyPrefix[name[:i]] {
				return true
			}
		}
		return false
	}
	for _, name := range allowLiteral {
		if name == Wildcard {
			return true
		}
	}
	for _, name := range allowLiteral {
		if !denyLiteral[name] && !dominated(name) {
			return true
		}
	}
	for _, name := range allowPrefix {
		if !dominated(name) {
			return true
		}
	}
	return false
}

// AuthorizedOperations returns the bit field of the operations p may
// perform on the resource, out of those that apply to its type (Kafka's
// AuthHelper.authorizedOperations: bit n set for operation code n).
func (a *Authorizer) AuthorizedOperations(p auth.Principal, host string, rt ResourceType, name string) int32 {
	var bits int32
	for _, op := range SupportedOperations(rt) {
		if a.Authorize(p, host, op, rt, name) {
			bits |= 1 << op
		}
	}
	return bits
}

package authz

import (
	"testing"

	"github.com/riffle-io/riffle/server/auth"
)

func user(name string) auth.Principal {
	return auth.Principal{Type: auth.PrincipalTypeUser, Name: name}
}

func lit(rt ResourceType, name, principal, host string, op Operation, perm Permission) ACL {
	return ACL{ResourceType: rt, ResourceName: name, PatternType: PatternLiteral, Principal: principal, Host: host, Operation: op, Permission: perm}
}

func pre(rt ResourceType, name, principal, host string, op Operation, perm Permission) ACL {
	a := lit(rt, name, principal, host, op, perm)
	a.PatternType = PatternPrefixed
	return a
}

// TestAuthorize is a table of StandardAuthorizerTest's cases: literal,
// prefixed and wildcard patterns, DENY over ALLOW, hosts, implied
// operations, ALL, super users and allow.everyone.if.no.acl.found.
func TestAuthorize(t *testing.T) {
	acls := []ACL{
		lit(ResourceTopic, "foo", "User:alice", "*", OpRead, PermissionAllow),
		lit(ResourceTopic, "foo", "User:bob", "*", OpWrite, PermissionAllow),
		lit(ResourceTopic, "foo", "User:bob", "*", OpRead, PermissionDeny),
		pre(ResourceTopic, "fo", "User:carol", "*", OpAlterConfigs, PermissionAllow),
		pre(ResourceTopic, "foob", "User:carol", "*", OpAlterConfigs, PermissionDeny),
		lit(ResourceTopic, "*", "User:dave", "*", OpDelete, PermissionAllow),
		lit(ResourceTopic, "*", "User:*", "*", OpDescribe, PermissionDeny), // hits nobody's DESCRIBE? see below
		lit(ResourceTopic, "bar", "User:*", "192.168.0.1", OpAll, PermissionAllow),
		lit(ResourceTopic, "bar", "User:erin", "*", OpWrite, PermissionDeny),
		lit(ResourceGroup, "g", "User:alice", "*", OpRead, PermissionAllow),
		lit(ResourceCluster, ClusterName, "User:frank", "*", OpAlter, PermissionAllow),
		lit(ResourceTransactionalID, "tx-", "User:alice", "*", OpWrite, PermissionAllow),
		pre(ResourceTransactionalID, "tx-", "User:gina", "*", OpWrite, PermissionDeny),
	}
	a := New([]string{"User:root", "Group:*"}, false)
	a.SetACLs(acls)
	cases := []struct {
		who  auth.Principal
		host string
		op   Operation
		rt   ResourceType
		name string
		want bool
	}{
		{user("alice"), "1.2.3.4", OpRead, ResourceTopic, "foo", true},
		{user("alice"), "1.2.3.4", OpWrite, ResourceTopic, "foo", false},
		// READ would imply DESCRIBE, but the wildcard DENY DESCRIBE for
		// User:* wins: DENY beats ALLOW wherever it comes from.
		{user("alice"), "1.2.3.4", OpDescribe, ResourceTopic, "foo", false},
		{user("bob"), "1.2.3.4", OpWrite, ResourceTopic, "foo", true},
		{user("bob"), "1.2.3.4", OpRead, ResourceTopic, "foo", false},
		// A prefixed ALLOW and a longer prefixed DENY.
		{user("carol"), "1.2.3.4", OpAlterConfigs, ResourceTopic, "fox", true},
		{user("carol"), "1.2.3.4", OpAlterConfigs, ResourceTopic, "foobar", false},
		{user("carol"), "1.2.3.4", OpAlterConfigs, ResourceTopic, "f", false},
		// ALTER_CONFIGS implies DESCRIBE_CONFIGS; ALLOW implications only.
		{user("carol"), "1.2.3.4", OpDescribeConfigs, ResourceTopic, "fox", true},
		{user("carol"), "1.2.3.4", OpDescribeConfigs, ResourceTopic, "foobar", true},
		// A literal wildcard ALLOW.
		{user("dave"), "1.2.3.4", OpDelete, ResourceTopic, "anything", true},
		{user("dave"), "1.2.3.4", OpRead, ResourceTopic, "anything", false},
		// Hosts: the ALL ACL on bar applies from 192.168.0.1 only.
		{user("zed"), "192.168.0.1", OpWrite, ResourceTopic, "bar", true},
		{user("zed"), "192.168.0.2", OpWrite, ResourceTopic, "bar", false},
		{user("erin"), "192.168.0.1", OpWrite, ResourceTopic, "bar", false},
		{user("erin"), "192.168.0.1", OpRead, ResourceTopic, "bar", true},
		// Groups and the cluster.
		{user("alice"), "1.2.3.4", OpRead, ResourceGroup, "g", true},
		{user("alice"), "1.2.3.4", OpDescribe, ResourceGroup, "g", true},
		{user("alice"), "1.2.3.4", OpDelete, ResourceGroup, "g", false},
		{user("alice"), "1.2.3.4", OpRead, ResourceGroup, "g2", false},
		{user("frank"), "1.2.3.4", OpAlter, ResourceCluster, ClusterName, true},
		{user("frank"), "1.2.3.4", OpDescribe, ResourceCluster, ClusterName, true},
		{user("frank"), "1.2.3.4", OpClusterAction, ResourceCluster, ClusterName, false},
		// A literal "tx-" ACL does not cover "tx-1"; a prefixed one does.
		{user("alice"), "1.2.3.4", OpWrite, ResourceTransactionalID, "tx-", true},
		{user("alice"), "1.2.3.4", OpWrite, ResourceTransactionalID, "tx-1", false},
		// Super users, named and by type wildcard, pass every DENY.
		{user("root"), "1.2.3.4", OpDescribe, ResourceTopic, "foo", true},
		{auth.Principal{Type: "Group", Name: "ops"}, "1.2.3.4", OpClusterAction, ResourceCluster, ClusterName, true},
		// No ACL on the resource: denied without allow.everyone.if.no.acl.found.
		{user("alice"), "1.2.3.4", OpRead, ResourceDelegationToken, "t", false},
	}
	for _, c := range cases {
		if got := a.Authorize(c.who, c.host, c.op, c.rt, c.name); got != c.want {
			t.Errorf("%s from %s: op %d on %d:%q = %v, want %v", c.who, c.host, c.op, c.rt, c.name, got, c.want)
		}
	}
}

// TestAllowEveryoneIfNoACLFound: with allow.everyone.if.no.acl.found, a
// resource no ACL applies to is open to everyone; once any ACL applies to
// it (to any principal), only the ACLs decide.
func TestAllowEveryoneIfNoACLFound(t *testing.T) {
	a := New(nil, true)
	if !a.Authorize(user("x"), "h", OpRead, ResourceTopic, "t") {
		t.Fatal("no ACLs at all: want allowed")
	}
	a.SetACLs([]ACL{
		lit(ResourceTopic, "t", "User:alice", "*", OpRead, PermissionAllow),
		pre(ResourceGroup, "app-", "User:bob", "*", OpRead, PermissionAllow),
	})
	for _, c := range []struct {
		who  string
		rt   ResourceType
		name string
		want bool
	}{
		{"alice", ResourceTopic, "t", true},
		{"x", ResourceTopic, "t", false}, // t has an ACL, not for x
		{"x", ResourceTopic, "u", true},  // u has none
		{"x", ResourceGroup, "app-1", false},
		{"x", ResourceGroup, "other", true},
		{"bob", ResourceGroup, "app-1", true},
	} {
		if got := a.Authorize(user(c.who), "h", OpRead, c.rt, c.name); got != c.want {
			t.Errorf("%s on %d:%s = %v, want %v", c.who, c.rt, c.name, got, c.want)
		}
	}
	b := New(nil, false)
	if b.Authorize(user("x"), "h", OpRead, ResourceTopic, "t") {
		t.Fatal("no ACLs, allow.everyone.if.no.acl.found=false: want denied")
	}
}

// TestAuthorizeByResourceType follows Kafka's
// AuthorizerInterfaceDefaultTest: some ALLOW pattern that no DENY covers.
func TestAuthorizeByResourceType(t *testing.T) {
	cases := []struct {
		name string
		acls []ACL
		want bool
	}{
		{"none", nil, false},
		{"literal allow", []ACL{lit(ResourceTopic, "t", "User:u", "*", OpWrite, PermissionAllow)}, true},
		{"all allow", []ACL{lit(ResourceTopic, "t", "User:u", "*", OpAll, PermissionAllow)}, true},
		{"other op", []ACL{lit(ResourceTopic, "t", "User:u", "*", OpRead, PermissionAllow)}, false},
		{"other host", []ACL{lit(ResourceTopic, "t", "User:u", "9.9.9.9", OpWrite, PermissionAllow)}, false},
		{"literal denied", []ACL{
			lit(ResourceTopic, "t", "User:u", "*", OpWrite, PermissionAllow),
			lit(ResourceTopic, "t", "User:u", "*", OpWrite, PermissionDeny)}, false},
		{"literal under denied prefix", []ACL{
			lit(ResourceTopic, "abc", "User:u", "*", OpWrite, PermissionAllow),
			pre(ResourceTopic, "ab", "User:*", "*", OpWrite, PermissionDeny)}, false},
		{"prefix not dominated", []ACL{
			pre(ResourceTopic, "ab", "User:u", "*", OpWrite, PermissionAllow),
			pre(ResourceTopic, "abc", "User:u", "*", OpWrite, PermissionDeny)}, true},
		{"wildcard deny", []ACL{
			lit(ResourceTopic, "t", "User:u", "*", OpWrite, PermissionAllow),
			lit(ResourceTopic, "*", "User:u", "*", OpWrite, PermissionDeny)}, false},
		{"wildcard allow", []ACL{lit(ResourceTopic, "*", "User:*", "*", OpWrite, PermissionAllow)}, true},
	}
	for _, c := range cases {
		a := New(nil, false)
		a.SetACLs(c.acls)
		if got := a.AuthorizeByResourceType(user("u"), "1.1.1.1", OpWrite, ResourceTopic); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	if !New([]string{"User:u"}, false).AuthorizeByResourceType(user("u"), "1.1.1.1", OpWrite, ResourceTopic) {
		t.Error("super user: want allowed")
	}
}

// TestAuthorizedOperations: the bit field of Metadata and DescribeGroups.
func TestAuthorizedOperations(t *testing.T) {
	a := New(nil, false)
	a.SetACLs([]ACL{lit(ResourceTopic, "t", "User:u", "*", OpWrite, PermissionAllow)})
	if got, want := a.AuthorizedOperations(user("u"), "h", ResourceTopic, "t"), int32(1<<OpWrite|1<<OpDescribe); got != want {
		t.Fatalf("ops %b, want %b", got, want)
	}
	if got := New([]string{"User:u"}, false).AuthorizedOperations(user("u"), "h", ResourceCluster, ClusterName); got != 1<<5|1<<7|1<<8|1<<9|1<<10|1<<11|1<<12 {
		t.Fatalf("super user cluster ops %b", got)
	}
}

// TestFilterMatches is AclBindingFilterTest: ANY, exact and MATCH patterns.
func TestFilterMatches(t *testing.T) {
	s := func(v string) *string { return &v }
	foo := lit(ResourceTopic, "foo", "User:a", "*", OpRead, PermissionAllow)
	wild := lit(ResourceTopic, "*", "User:a", "*", OpRead, PermissionAllow)
	prefix := pre(ResourceTopic, "fo", "User:a", "*", OpRead, PermissionDeny)
	other := pre(ResourceTopic, "x", "User:a", "*", OpRead, PermissionAllow)
	any := Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}
	for _, c := range []struct {
		name string
		f    Filter
		want [4]bool // foo, wild, prefix, other
	}{
		{"any", any, [4]bool{true, true, true, true}},
		{"any named foo", func() Filter { f := any; f.ResourceName = s("foo"); return f }(), [4]bool{true, false, false, false}},
		{"literal", func() Filter { f := any; f.PatternType = PatternLiteral; return f }(), [4]bool{true, true, false, false}},
		{"prefixed fo", func() Filter { f := any; f.PatternType = PatternPrefixed; f.ResourceName = s("fo"); return f }(), [4]bool{false, false, true, false}},
		{"match foo", func() Filter { f := any; f.PatternType = PatternMatch; f.ResourceName = s("foo"); return f }(), [4]bool{true, true, true, false}},
		{"deny", func() Filter { f := any; f.Permission = PermissionDeny; return f }(), [4]bool{false, false, true, false}},
		{"group", func() Filter { f := any; f.ResourceType = ResourceGroup; return f }(), [4]bool{}},
		{"principal b", func() Filter { f := any; f.Principal = s("User:b"); return f }(), [4]bool{}},
		{"host", func() Filter { f := any; f.Host = s("*"); f.Operation = OpRead; return f }(), [4]bool{true, true, true, true}},
	} {
		for i, acl := range []ACL{foo, wild, prefix, other} {
			if got := c.f.Matches(acl); got != c.want[i] {
				t.Errorf("%s on %+v: %v, want %v", c.name, acl, got, c.want[i])
			}
		}
	}
}

package server

// DescribeAcls (key 29), v1–v3.
//
// kafka-acls.sh --list: the ACLs that match a filter (Kafka's
// AclBindingFilter: ANY codes and null strings match everything; pattern
// type MATCH finds the ACLs that apply to the named resource: its literal
// ACLs, the wildcard and the prefixes of its name), grouped by resource
// pattern. It needs DESCRIBE on the cluster (CLUSTER_AUTHORIZATION_FAILED).
// Without an authorizer (authorizer.class.name unset) every ACL API
// answers SECURITY_DISABLED with "No Authorizer is configured.", as
// Kafka's AclApis, which admin tools and UIs show as security being off.
// Served from this broker's metadata image, as Kafka's brokers serve it
// from their StandardAuthorizer. v0 left Kafka in 4.0 (KIP-896).

import (
	"cmp"
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.DescribeACLs, 1, 3, handleDescribeACLs) }

// noAuthorizerMessage is the message Kafka's AclApis gives.
const noAuthorizerMessage = "No Authorizer is configured."

func handleDescribeACLs(_ context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeACLsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	resp.Resources = []kmsg.DescribeACLsResponseResource{}
	filter := authz.Filter{
		ResourceType: authz.ResourceType(req.ResourceType), ResourceName: req.ResourceName,
		PatternType: authz.PatternType(req.ResourcePatternType), Principal: req.Principal, Host: req.Host,
		Operation: authz.Operation(req.Operation), Permission: authz.Permission(req.PermissionType),
	}
	switch {
	case !rc.authorizeCluster(authz.OpDescribe):
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
	case rc.b.authorizer == nil:
		resp.ErrorCode, resp.ErrorMessage = kerr.SecurityDisabled.Code, kmsg.StringPtr(noAuthorizerMessage)
	case filter.Unknown() || !knownACLCodes(filter.ResourceType, filter.PatternType, filter.Operation, filter.Permission):
		resp.ErrorCode, resp.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr("the filter contains UNKNOWN elements")
	default:
		resp.Resources = describeACLResources(rc.b.authorizer.ACLs(), filter)
	}
	return resp, nil
}

// knownACLCodes reports whether every code is one Kafka defines; the
// wire carries any int8.
func knownACLCodes(rt authz.ResourceType, pt authz.PatternType, op authz.Operation, perm authz.Permission) bool {
	return rt >= authz.ResourceUnknown && rt <= authz.ResourceUser &&
		pt >= authz.PatternUnknown && pt <= authz.PatternPrefixed &&
		op >= authz.OpUnknown && op <= authz.OpDescribeTokens &&
		perm >= authz.PermissionUnknown && perm <= authz.PermissionAllow
}

// describeACLResources groups the ACLs the filter matches by resource
// pattern, in a stable order (DescribeAclsResponse.aclsResources).
func describeACLResources(acls []authz.ACL, filter authz.Filter) []kmsg.DescribeACLsResponseResource {
	type pattern struct {
		rt   authz.ResourceType
		name string
		pt   authz.PatternType
	}
	byPattern := map[pattern][]authz.ACL{}
	for _, a := range acls {
		if filter.Matches(a) {
			p := pattern{a.ResourceType, a.ResourceName, a.PatternType}
			byPattern[p] = append(byPattern[p], a)
		}
	}
	out := make([]kmsg.DescribeACLsResponseResource, 0, len(byPattern))
	for p, matched := range byPattern {
		r := kmsg.NewDescribeACLsResponseResource()
		r.ResourceType, r.ResourceName, r.ResourcePatternType = kmsg.ACLResourceType(p.rt), p.name, kmsg.ACLResourcePatternType(p.pt)
		slices.SortFunc(matched, compareACLs)
		for _, a := range matched {
			ra := kmsg.NewDescribeACLsResponseResourceACL()
			ra.Principal, ra.Host = a.Principal, a.Host
			ra.Operation, ra.PermissionType = kmsg.ACLOperation(a.Operation), kmsg.ACLPermissionType(a.Permission)
			r.ACLs = append(r.ACLs, ra)
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b kmsg.DescribeACLsResponseResource) int {
		return cmp.Or(cmp.Compare(a.ResourceType, b.ResourceType), cmp.Compare(a.ResourceName, b.ResourceName),
			cmp.Compare(a.ResourcePatternType, b.ResourcePatternType))
	})
	return out
}

func compareACLs(a, b authz.ACL) int {
	return cmp.Or(cmp.Compare(a.ResourceType, b.ResourceType), cmp.Compare(a.ResourceName, b.ResourceName),
		cmp.Compare(a.PatternType, b.PatternType), cmp.Compare(a.Principal, b.Principal), cmp.Compare(a.Host, b.Host),
		cmp.Compare(a.Operation, b.Operation), cmp.Compare(a.Permission, b.Permission))
}

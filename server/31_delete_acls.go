package server

// DeleteAcls (key 31), v1–v3.
//
// kafka-acls.sh --remove. Needs ALTER on the cluster; without an
// authorizer every filter fails with SECURITY_DISABLED and matches nothing
// (see 29_describe_acls.go). A broker forwards it to the active controller
// (forwarding.go), which removes, for each filter (Kafka's
// AclBindingFilter, as in DescribeAcls), every ACL it matches with a
// RemoveAccessControlEntryRecord and answers them. A filter with UNKNOWN
// codes is INVALID_REQUEST, as AclControlManager.validateFilter answers.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/controller"
	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.DeleteACLs, 1, 3, handleDeleteACLs) }

func handleDeleteACLs(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	resp.Results = make([]kmsg.DeleteACLsResponseResult, len(req.Filters))
	for i := range resp.Results {
		resp.Results[i] = kmsg.NewDeleteACLsResponseResult()
		resp.Results[i].MatchingACLs = []kmsg.DeleteACLsResponseResultMatchingACL{}
	}
	failAll := func(code int16, msg *string) (kmsg.Response, error) {
		for i := range resp.Results {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code, msg
		}
		return resp, nil
	}
	if !rc.authorizeCluster(authz.OpAlter) {
		return failAll(kerr.ClusterAuthorizationFailed.Code, nil)
	}
	if rc.b.authorizer == nil {
		return failAll(kerr.SecurityDisabled.Code, kmsg.StringPtr(noAuthorizerMessage))
	}
	// Valid filters go to the controller; invalid ones are answered here.
	var matchers []func(controller.ACL) bool
	var valid []int
	for i, f := range req.Filters {
		filter := authz.Filter{
			ResourceType: authz.ResourceType(f.ResourceType), ResourceName: f.ResourceName,
			PatternType: authz.PatternType(f.ResourcePatternType), Principal: f.Principal, Host: f.Host,
			Operation: authz.Operation(f.Operation), Permission: authz.Permission(f.PermissionType),
		}
		if filter.Unknown() || !knownACLCodes(filter.ResourceType, filter.PatternType, filter.Operation, filter.Permission) {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr("the filter contains UNKNOWN elements")
			continue
		}
		valid = append(valid, i)
		matchers = append(matchers, func(a controller.ACL) bool { return filter.Matches(aclFromController(a)) })
	}
	if len(matchers) == 0 {
		return resp, nil
	}
	ctx, cancel := adminContext(ctx, 0)
	defer cancel()
	matched, err := rc.b.ctrl.DeleteACLs(ctx, matchers)
	rc.b.waitApplied(ctx, rc.b.ctrl.Image().Offset)
	for j, i := range valid {
		r := &resp.Results[i]
		if err != nil {
			r.ErrorCode, r.ErrorMessage = errCode(err), errMsg(err)
			continue
		}
		for _, a := range matched[j] {
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName, m.ResourcePatternType = kmsg.ACLResourceType(a.ResourceType), a.ResourceName, kmsg.ACLResourcePatternType(a.PatternType)
			m.Principal, m.Host = a.Principal, a.Host
			m.Operation, m.PermissionType = kmsg.ACLOperation(a.Operation), kmsg.ACLPermissionType(a.PermissionType)
			r.MatchingACLs = append(r.MatchingACLs, m)
		}
	}
	return resp, nil
}

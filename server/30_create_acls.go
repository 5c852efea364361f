package server

// CreateAcls (key 30), v1–v3.
//
// kafka-acls.sh --add. Needs ALTER on the cluster (each creation
// CLUSTER_AUTHORIZATION_FAILED otherwise); without an authorizer every
// creation fails with SECURITY_DISABLED (see 29_describe_acls.go). A
// broker forwards it to the active controller (forwarding.go), which
// validates each ACL as Kafka's AclControlManager does (INVALID_REQUEST
// for UNKNOWN or ANY codes, MATCH patterns, an empty resource name, a
// cluster resource not named kafka-cluster, a principal without a type)
// and writes the valid ones as AccessControlEntryRecords. An ACL that
// exists already is a success.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/controller"
	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.CreateACLs, 1, 3, handleCreateACLs) }

func handleCreateACLs(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	resp.Results = make([]kmsg.CreateACLsResponseResult, len(req.Creations))
	for i := range resp.Results {
		resp.Results[i] = kmsg.NewCreateACLsResponseResult()
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
	if len(req.Creations) == 0 {
		return resp, nil
	}
	acls := make([]controller.ACL, len(req.Creations))
	for i, c := range req.Creations {
		acls[i] = controller.ACL{
			ResourceType: int8(c.ResourceType), ResourceName: c.ResourceName, PatternType: int8(c.ResourcePatternType),
			Principal: c.Principal, Host: c.Host, Operation: int8(c.Operation), PermissionType: int8(c.PermissionType),
		}
	}
	ctx, cancel := adminContext(ctx, 0)
	defer cancel()
	for i, err := range rc.b.ctrl.CreateACLs(ctx, acls) {
		if err != nil {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = errCode(err), errMsg(err)
		}
	}
	// The ACLs take effect here before the answer: a client that lists
	// them or relies on them next finds them.
	rc.b.waitApplied(ctx, rc.b.ctrl.Image().Offset)
	return resp, nil
}

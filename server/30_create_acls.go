package server

// CreateAcls (key 30), v1–v3.
//
// kafka-acls.sh --add. Without an authorizer every creation fails with
// SECURITY_DISABLED, as Kafka's AclApis answers (see 29_describe_acls.go).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.CreateACLs, 1, 3, handleCreateACLs) }

func handleCreateACLs(_ context.Context, _ *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	resp.Results = make([]kmsg.CreateACLsResponseResult, 0, len(req.Creations))
	for range req.Creations {
		r := kmsg.NewCreateACLsResponseResult()
		r.ErrorCode, r.ErrorMessage = kerr.SecurityDisabled.Code, kmsg.StringPtr(noAuthorizerMessage)
		resp.Results = append(resp.Results, r)
	}
	return resp, nil
}

package server

// DescribeAcls (key 29), v1–v3.
//
// kafka-acls.sh --list. Riffle has no authorizer yet (authorizer.class.name
// must stay unset), and a Kafka broker without one answers every ACL API
// with SECURITY_DISABLED and "No Authorizer is configured." (AclApis), which
// admin tools and UIs show as security being off. v0 left Kafka in 4.0
// (KIP-896).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeACLs, 1, 3, handleDescribeACLs) }

// noAuthorizerMessage is the message Kafka's AclApis gives.
const noAuthorizerMessage = "No Authorizer is configured."

func handleDescribeACLs(_ context.Context, _ *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	resp := kreq.ResponseKind().(*kmsg.DescribeACLsResponse)
	resp.ErrorCode, resp.ErrorMessage = kerr.SecurityDisabled.Code, kmsg.StringPtr(noAuthorizerMessage)
	resp.Resources = []kmsg.DescribeACLsResponseResource{}
	return resp, nil
}

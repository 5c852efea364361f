package server

// DescribeUserScramCredentials (key 50), v0.
//
// KIP-554. kafka-configs.sh --describe --entity-type users asks for the
// users' SCRAM credentials besides their quotas, and fails outright when a
// broker does not offer this API. Riffle has no SASL yet, so no credential
// can exist: as Kafka's ScramImage.describe answers for users without one,
// a named user is RESOURCE_NOT_FOUND (DUPLICATE_RESOURCE when named twice)
// and a request for every user (none named) finds none.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeUserSCRAMCredentials, 0, 0, handleDescribeUserSCRAMCredentials) }

func handleDescribeUserSCRAMCredentials(_ context.Context, _ *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	resp.Results = []kmsg.DescribeUserSCRAMCredentialsResponseResult{}
	count := make(map[string]int, len(req.Users))
	for _, u := range req.Users {
		count[u.Name]++
	}
	for _, u := range req.Users {
		n, ok := count[u.Name]
		if !ok {
			continue // answered once already
		}
		delete(count, u.Name)
		r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		r.User = u.Name
		r.CredentialInfos = []kmsg.DescribeUserSCRAMCredentialsResponseResultCredentialInfo{}
		if n > 1 {
			r.ErrorCode = kerr.DuplicateResource.Code
			r.ErrorMessage = kmsg.StringPtr("Cannot describe SCRAM credentials for the same user twice in a single request: " + u.Name)
		} else {
			r.ErrorCode = kerr.ResourceNotFound.Code
			r.ErrorMessage = kmsg.StringPtr("Attempt to describe a user credential that does not exist: " + u.Name)
		}
		resp.Results = append(resp.Results, r)
	}
	return resp, nil
}

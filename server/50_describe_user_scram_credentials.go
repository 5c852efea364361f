package server

// DescribeUserScramCredentials (key 50), v0.
//
// KIP-554: the mechanisms and iteration counts of users' SCRAM credentials
// (never the keys), from the metadata image, as Kafka's
// ScramImage.describe: no users named lists every user with a credential;
// a named user without one is RESOURCE_NOT_FOUND, a user named twice
// DUPLICATE_RESOURCE. kafka-configs.sh --describe --entity-type users asks
// for them besides the users' quotas.

import (
	"context"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.DescribeUserSCRAMCredentials, 0, 0, handleDescribeUserSCRAMCredentials) }

func handleDescribeUserSCRAMCredentials(_ context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	resp.Results = []kmsg.DescribeUserSCRAMCredentialsResponseResult{}
	// DESCRIBE on the cluster (KafkaApis.handleDescribeUserScramCredentialsRequest).
	if !rc.authorizeCluster(authz.OpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	creds := rc.b.ctrl.Image().ScramCredentials
	describe := func(name string) kmsg.DescribeUserSCRAMCredentialsResponseResult {
		r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		r.User = name
		r.CredentialInfos = []kmsg.DescribeUserSCRAMCredentialsResponseResultCredentialInfo{}
		for _, m := range slices.Sorted(maps.Keys(creds[name])) {
			ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
			ci.Mechanism, ci.Iterations = m, creds[name][m].Iterations
			r.CredentialInfos = append(r.CredentialInfos, ci)
		}
		return r
	}
	if req.Users == nil {
		for _, name := range slices.Sorted(maps.Keys(creds)) {
			resp.Results = append(resp.Results, describe(name))
		}
		return resp, nil
	}
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
		r := describe(u.Name)
		switch {
		case n > 1:
			r.CredentialInfos = r.CredentialInfos[:0]
			r.ErrorCode = kerr.DuplicateResource.Code
			r.ErrorMessage = kmsg.StringPtr("Cannot describe SCRAM credentials for the same user twice in a single request: " + u.Name)
		case len(r.CredentialInfos) == 0:
			r.ErrorCode = kerr.ResourceNotFound.Code
			r.ErrorMessage = kmsg.StringPtr("Attempt to describe a user credential that does not exist: " + u.Name)
		}
		resp.Results = append(resp.Results, r)
	}
	return resp, nil
}

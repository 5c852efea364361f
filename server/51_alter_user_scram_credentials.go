package server

// AlterUserScramCredentials (key 51), v0.
//
// KIP-554 (kafka-configs.sh --alter --add-config 'SCRAM-SHA-256=[password=…]'
// --entity-type users, kadm AlterUserSCRAMs): the client salts and hashes
// the password; the controller stores the salt, iterations and RFC 5802's
// StoredKey and ServerKey as UserScramCredentialRecords
// (controller/scram.go). Forwarded to the active controller like other
// admin writes. One result per user named, with Kafka's errors: a user
// named twice DUPLICATE_RESOURCE, too few or many iterations
// UNACCEPTABLE_CREDENTIAL, an unknown mechanism UNSUPPORTED_SASL_MECHANISM,
// deleting a missing credential RESOURCE_NOT_FOUND.

import (
	"context"
	"errors"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/controller"
	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.AlterUserSCRAMCredentials, 0, 0, handleAlterUserSCRAMCredentials) }

func handleAlterUserSCRAMCredentials(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	ctx, cancel := adminContext(ctx, 0)
	defer cancel()
	var dels []controller.ScramDeletion
	var ups []controller.ScramUpsertion
	var order []string
	seen := map[string]bool{}
	named := func(n string) {
		if !seen[n] {
			seen[n] = true
			order = append(order, n)
		}
	}
	for _, d := range req.Deletions {
		named(d.Name)
		dels = append(dels, controller.ScramDeletion{Name: d.Name, Mechanism: d.Mechanism})
	}
	for _, u := range req.Upsertions {
		named(u.Name)
		ups = append(ups, controller.ScramUpsertion{Name: u.Name, Mechanism: u.Mechanism, Iterations: u.Iterations,
			Salt: u.Salt, SaltedPassword: u.SaltedPassword})
	}
	var results map[string]error
	var err error
	// ALTER on the cluster, else every user fails
	// (KafkaApis.handleAlterUserScramCredentialsRequest).
	if !rc.authorizeCluster(authz.OpAlter) {
		err = kerr.ClusterAuthorizationFailed
	} else if len(order) > 0 {
		results, err = rc.b.ctrl.AlterUserScramCredentials(ctx, dels, ups)
	}
	for _, n := range order {
		r := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		r.User = n
		e := results[n]
		if e == nil {
			e = err
		}
		if e != nil {
			r.ErrorCode, r.ErrorMessage = errCode(e), kmsg.StringPtr(kafkaErrorText(e))
		}
		resp.Results = append(resp.Results, r)
	}
	return resp, nil
}

// kafkaErrorText is an error's message without the Kafka error's own
// description in front ("UNACCEPTABLE_CREDENTIAL: …: Too few iterations"
// becomes "Too few iterations"), as Kafka's ApiError messages read.
func kafkaErrorText(err error) string {
	var ke *kerr.Error
	s := err.Error()
	if errors.As(err, &ke) {
		if rest, ok := strings.CutPrefix(s, ke.Error()+": "); ok {
			return rest
		}
	}
	return s
}

package server

// AlterPartition (key 56), v2–v3, on the CONTROLLER listener only.
//
// A partition leader asks the active controller to shrink or expand the
// ISR (Kafka's Partition.maybeShrinkIsr / maybeExpandIsr through
// AlterPartitionManager); controller.AlterPartition applies Kafka's checks
// and answers the committed state. v2 names topics by ID, v3 carries the
// broker epoch of each ISR member (KIP-903). Kafka 4.0 dropped v0–v1
// (KIP-896). A controller that is not the active one answers
// NOT_CONTROLLER; the leader then asks the new one.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/server/authz"
)

func init() { registerController(kmsg.AlterPartition, 2, 3, handleAlterPartition) }

func handleAlterPartition(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.AlterPartitionRequest)
	// Only brokers send it: CLUSTER_ACTION on the cluster (ControllerApis).
	if !rc.authorizeCluster(authz.OpClusterAction) {
		resp := req.ResponseKind().(*kmsg.AlterPartitionResponse)
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	resp, err := rc.b.ctrl.AlterPartition(ctx, req)
	if err != nil {
		resp = req.ResponseKind().(*kmsg.AlterPartitionResponse)
		resp.ErrorCode = kerr.NotController.Code
		if !errors.Is(err, kerr.NotController) {
			resp.ErrorCode = errCode(err)
		}
	}
	return resp, nil
}

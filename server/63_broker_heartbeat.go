package server

// BrokerHeartbeat (key 63), v0–v1, on the CONTROLLER listener only.
//
// Every broker heartbeats the active controller (broker_lifecycle.go) with
// its broker epoch and the metadata offset it has applied, and may ask to be
// fenced or to shut down; the answer says whether it has caught up, is
// fenced, and may stop (controller.BrokerHeartbeat, Kafka's
// BrokerHeartbeatManager). v1 adds the offline log dirs (KIP-858): the
// controller moves leadership away from the broker's replicas in them and
// takes those out of their ISRs (log_dir_failure.go). A controller that is
// not the active one answers NOT_CONTROLLER.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/server/authz"
)

func init() { registerController(kmsg.BrokerHeartbeat, 0, 1, handleBrokerHeartbeat) }

func handleBrokerHeartbeat(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.BrokerHeartbeatRequest)
	// Only brokers send it: CLUSTER_ACTION on the cluster (ControllerApis).
	if !rc.authorizeCluster(authz.OpClusterAction) {
		resp := req.ResponseKind().(*kmsg.BrokerHeartbeatResponse)
		resp.IsFenced = true
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	resp, err := rc.b.ctrl.BrokerHeartbeat(ctx, req)
	if err != nil {
		resp = req.ResponseKind().(*kmsg.BrokerHeartbeatResponse)
		resp.IsFenced = true
		resp.ErrorCode = kerr.NotController.Code
		if !errors.Is(err, kerr.NotController) {
			resp.ErrorCode = errCode(err)
		}
	}
	return resp, nil
}

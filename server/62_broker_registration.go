package server

// BrokerRegistration (key 62), v0–v4, on the CONTROLLER listener only.
//
// A broker registers with the active controller at start (Kafka's
// BrokerLifecycleManager): its listeners, rack, incarnation id, supported
// features and, from v2, the ids of its online log dirs (KIP-858). The answer's broker epoch is the offset of the
// RegisterBrokerRecord (controller.RegisterBroker). A controller that is not
// the active one answers NOT_CONTROLLER; the broker then asks the new one.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/server/authz"
)

func init() { registerController(kmsg.BrokerRegistration, 0, 4, handleBrokerRegistration) }

func handleBrokerRegistration(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.BrokerRegistrationRequest)
	// Only brokers send it: CLUSTER_ACTION on the cluster (ControllerApis).
	if !rc.authorizeCluster(authz.OpClusterAction) {
		resp := req.ResponseKind().(*kmsg.BrokerRegistrationResponse)
		resp.BrokerEpoch = -1
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	resp, err := rc.b.ctrl.RegisterBroker(ctx, req)
	if err != nil {
		resp = req.ResponseKind().(*kmsg.BrokerRegistrationResponse)
		resp.BrokerEpoch = -1
		resp.ErrorCode = kerr.NotController.Code
		if !errors.Is(err, kerr.NotController) {
			resp.ErrorCode = errCode(err)
		}
	}
	return resp, nil
}

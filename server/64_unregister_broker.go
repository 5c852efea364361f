package server

// UnregisterBroker (key 64), v0 (KIP-631).
//
// An operator removes a decommissioned broker's registration
// (kafka-cluster.sh unregister, Admin.unregisterBroker): the controller takes
// it out of every ISR and leadership and writes an UnregisterBrokerRecord.
// Served by the active controller; a broker that is not forwards the
// request to it in an Envelope, as Kafka's brokers do. An unknown broker id
// is BROKER_ID_NOT_REGISTERED.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.UnregisterBroker, 0, 0, handleUnregisterBroker) }

func handleUnregisterBroker(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.UnregisterBrokerRequest)
	// ALTER on the cluster (ControllerApis.handleUnregisterBroker).
	if !rc.authorizeCluster(authz.OpAlter) {
		resp := req.ResponseKind().(*kmsg.UnregisterBrokerResponse)
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	resp, err := rc.b.ctrl.UnregisterBroker(ctx, req)
	if err != nil {
		resp = req.ResponseKind().(*kmsg.UnregisterBrokerResponse)
		resp.ErrorCode = kerr.NotController.Code
		if !errors.Is(err, kerr.NotController) {
			resp.ErrorCode = errCode(err)
		}
	}
	return resp, nil
}

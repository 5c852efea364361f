package server

// AllocateProducerIds (key 67), v0, on the CONTROLLER listener only.
//
// KIP-730: brokers take producer ids from the active controller in blocks
// (of 1000, as Kafka's ProducerIdsBlock), so ids are unique across the
// cluster whichever broker answers InitProducerId. A controller that is not
// the active one answers NOT_CONTROLLER.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/server/authz"
)

func init() { registerController(kmsg.AllocateProducerIDs, 0, 0, handleAllocateProducerIDs) }

func handleAllocateProducerIDs(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.AllocateProducerIDsRequest)
	// Only brokers send it: CLUSTER_ACTION on the cluster (ControllerApis).
	if !rc.authorizeCluster(authz.OpClusterAction) {
		resp := req.ResponseKind().(*kmsg.AllocateProducerIDsResponse)
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	resp, err := rc.b.ctrl.AllocateProducerIDsReq(ctx, req)
	if err != nil {
		resp = req.ResponseKind().(*kmsg.AllocateProducerIDsResponse)
		resp.ErrorCode = kerr.NotController.Code
		if !errors.Is(err, kerr.NotController) {
			resp.ErrorCode = errCode(err)
		}
	}
	return resp, nil
}

package server

// AssignReplicasToDirs (key 73), v0, on the CONTROLLER listener only.
//
// KIP-858: a broker says which of its log dirs holds each of its replicas
// (directory_assignments.go sends it); the active controller records it in
// the partitions' Directories, so that an offline log dir's replicas can
// be found when the broker reports the dir offline
// (controller.AssignReplicasToDirs). A controller that is not the active
// one answers NOT_CONTROLLER.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerController(kmsg.AssignReplicasToDirs, 0, 0, handleAssignReplicasToDirs) }

func handleAssignReplicasToDirs(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.AssignReplicasToDirsRequest)
	resp, err := rc.b.ctrl.AssignReplicasToDirs(ctx, req)
	if err != nil {
		resp = req.ResponseKind().(*kmsg.AssignReplicasToDirsResponse)
		resp.ErrorCode = kerr.NotController.Code
		if !errors.Is(err, kerr.NotController) {
			resp.ErrorCode = errCode(err)
		}
	}
	return resp, nil
}

package server

// AlterPartitionReassignments (key 45), v0–v1.
//
// KIP-455 (kafka-reassign-partitions.sh --execute). Targets are checked as
// Kafka checks them: a non-empty replica set without duplicates of
// registered brokers (INVALID_REPLICA_ASSIGNMENT otherwise), the same size
// when v1's AllowReplicationFactorChange is false
// (INVALID_REPLICATION_FACTOR). A target equal to the current replicas is a
// no-op; a reordering, or dropping replicas, completes at once. A move to
// new brokers proceeds as in Kafka: the partition's replicas become the
// target followed by the replicas being removed (AddingReplicas and
// RemovingReplicas say which), the new replicas fetch from the leader, and
// the leader's AlterPartition adding the last of them to the ISR completes
// the move, electing a new leader if the old one was removed. A cancellation
// (null replicas) reverts a move in progress, NO_REASSIGNMENT_IN_PROGRESS
// when there is none.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/controller"
	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.AlterPartitionAssignments, 0, 1, handleAlterPartitionAssignments) }

func handleAlterPartitionAssignments(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.AlterPartitionAssignmentsRequest)
	b := rc.b
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	ctx, cancel := adminContext(ctx, req.TimeoutMillis)
	defer cancel()
	resp.AllowReplicationFactorChange = req.AllowReplicationFactorChange
	resp.Topics = []kmsg.AlterPartitionAssignmentsResponseTopic{}
	// ALTER on the cluster (ControllerApis.handleAlterPartitionReassignments).
	if !rc.authorizeCluster(authz.OpAlter) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		for _, t := range req.Topics {
			rt := kmsg.NewAlterPartitionAssignmentsResponseTopic()
			rt.Topic = t.Topic
			rt.Partitions = []kmsg.AlterPartitionAssignmentsResponseTopicPartition{}
			for _, p := range t.Partitions {
				rp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, kerr.ClusterAuthorizationFailed.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	}
	allowRF := req.Version < 1 || req.AllowReplicationFactorChange
	var rs []controller.Reassignment
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			rs = append(rs, controller.Reassignment{
				PartitionRef:                 controller.PartitionRef{Topic: t.Topic, Partition: p.Partition},
				Replicas:                     p.Replicas,
				AllowReplicationFactorChange: allowRF,
			})
		}
	}
	var errs []error
	if len(rs) > 0 {
		errs = b.ctrl.AlterPartitionReassignments(ctx, rs)
		b.waitApplied(ctx, b.ctrl.Image().Offset)
	}
	i := 0
	for _, t := range req.Topics {
		rt := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		rt.Topic = t.Topic
		rt.Partitions = []kmsg.AlterPartitionAssignmentsResponseTopicPartition{}
		for _, p := range t.Partitions {
			rp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			rp.Partition = p.Partition
			if i < len(errs) && errs[i] != nil {
				rp.ErrorCode, rp.ErrorMessage = errCode(errs[i]), errMsg(errs[i])
			}
			i++
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

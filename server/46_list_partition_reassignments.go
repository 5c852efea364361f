package server

// ListPartitionReassignments (key 46), v0.
//
// KIP-455 (kafka-reassign-partitions.sh --list). Riffle completes every
// reassignment it accepts when it is applied (see
// 45_alter_partition_assignments.go), so none is ever in progress: the
// answer is an empty list, for all partitions (null Topics) or those named.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ListPartitionReassignments, 0, 0, handleListPartitionReassignments) }

func handleListPartitionReassignments(_ context.Context, _ *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ListPartitionReassignmentsRequest)
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	resp.Topics = []kmsg.ListPartitionReassignmentsResponseTopic{}
	return resp, nil
}

package server

// ListPartitionReassignments (key 46), v0.
//
// KIP-455 (kafka-reassign-partitions.sh --list): the partitions whose
// reassignment is in progress, with their replicas (target then removing),
// adding and removing replicas; every topic when Topics is null, else the
// partitions named (unknown ones are left out, as Kafka's controller does).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.ListPartitionReassignments, 0, 0, handleListPartitionReassignments) }

func handleListPartitionReassignments(_ context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ListPartitionReassignmentsRequest)
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	resp.Topics = []kmsg.ListPartitionReassignmentsResponseTopic{}
	// DESCRIBE on the cluster (ControllerApis.handleListPartitionReassignments).
	if !rc.authorizeCluster(authz.OpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	im := rc.b.ctrl.Image()
	type ask struct {
		topic string
		parts []int32 // nil: all
	}
	var asks []ask
	if req.Topics == nil {
		for _, name := range im.SortedTopicNames() {
			asks = append(asks, ask{topic: name})
		}
	} else {
		for _, t := range req.Topics {
			asks = append(asks, ask{topic: t.Topic, parts: append([]int32{}, t.Partitions...)})
		}
	}
	for _, a := range asks {
		ongoing := im.OngoingReassignments(a.topic, a.parts)
		if len(ongoing) == 0 {
			continue
		}
		rt := kmsg.NewListPartitionReassignmentsResponseTopic()
		rt.Topic = a.topic
		for _, p := range ongoing {
			rp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
			rp.Partition = p.Partition
			rp.Replicas = append([]int32{}, p.Replicas...)
			rp.AddingReplicas = append([]int32{}, p.AddingReplicas...)
			rp.RemovingReplicas = append([]int32{}, p.RemovingReplicas...)
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

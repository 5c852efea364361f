package server

// ElectLeaders (key 43), v0–v2.
//
// KIP-460 (kafka-leader-election.sh): PREFERRED (v0's only kind) elects each
// partition's first replica when it is alive and in the ISR —
// ELECTION_NOT_NEEDED when it already leads, PREFERRED_LEADER_NOT_AVAILABLE
// when it cannot; UNCLEAN elects a leader only for a leaderless partition,
// from the ISR first, else from any live replica. Null Topics means every
// partition, and then partitions needing no election are left out, as Kafka
// does. Unknown partitions are UNKNOWN_TOPIC_OR_PARTITION.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/controller"
	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.ElectLeaders, 0, 2, handleElectLeaders) }

func handleElectLeaders(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ElectLeadersRequest)
	b := rc.b
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	ctx, cancel := adminContext(ctx, req.TimeoutMillis)
	defer cancel()
	resp.Topics = []kmsg.ElectLeadersResponseTopic{}
	// ALTER on the cluster (ControllerApis.handleElectLeaders): the whole
	// request and each partition named fail.
	if !rc.authorizeCluster(authz.OpAlter) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		for _, t := range req.Topics {
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewElectLeadersResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, kerr.ClusterAuthorizationFailed.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	}
	electionType := controller.ElectionPreferred
	if req.Version >= 1 {
		electionType = req.ElectionType
	}
	if electionType != controller.ElectionPreferred && electionType != controller.ElectionUnclean {
		err := fmt.Errorf("%w: unknown election type %d", kerr.InvalidRequest, req.ElectionType)
		resp.ErrorCode = errCode(err)
		return resp, nil
	}
	var parts []controller.PartitionRef
	if req.Topics != nil {
		parts = []controller.PartitionRef{}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				parts = append(parts, controller.PartitionRef{Topic: t.Topic, Partition: p})
			}
		}
	}
	results := b.ctrl.ElectLeaders(ctx, electionType, parts)
	idx := map[string]int{}
	for _, r := range results {
		i, ok := idx[r.Topic]
		if !ok {
			i = len(resp.Topics)
			idx[r.Topic] = i
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = r.Topic
			resp.Topics = append(resp.Topics, rt)
		}
		rp := kmsg.NewElectLeadersResponseTopicPartition()
		rp.Partition = r.Partition
		if r.Err != nil {
			rp.ErrorCode, rp.ErrorMessage = errCode(r.Err), errMsg(r.Err)
		}
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, rp)
	}
	b.waitApplied(ctx, b.ctrl.Image().Offset)
	return resp, nil
}

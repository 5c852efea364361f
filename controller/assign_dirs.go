package controller

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AssignReplicasToDirs (key 73, KIP-858): a broker with several log dirs
// says which dir holds each of its replicas, as Kafka's AssignmentsManager
// does once it has created a log; the controller records it in the
// partitions' Directories. A replica assigned to a dir the broker has
// reported offline loses its leadership and ISR membership at once, as in
// Kafka's ReplicationControlManager.handleAssignReplicasToDirs.

// AssignReplicasToDirs handles the request on the active controller. A Go
// error means it was not handled.
func (c *Controller) AssignReplicasToDirs(ctx context.Context, req *kmsg.AssignReplicasToDirsRequest) (*kmsg.AssignReplicasToDirsResponse, error) {
	var resp *kmsg.AssignReplicasToDirsResponse
	err := c.propose(ctx, func(im *Image) ([]Record, error) {
		var recs []Record
		recs, resp = planAssignReplicasToDirs(im, req, c.uncleanPolicy(im))
		return recs, nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// planAssignReplicasToDirs answers every partition of req and returns the
// records of the assignments that change something.
func planAssignReplicasToDirs(im *Image, req *kmsg.AssignReplicasToDirsRequest, unclean electionPolicy) ([]Record, *kmsg.AssignReplicasToDirsResponse) {
	resp := req.ResponseKind().(*kmsg.AssignReplicasToDirsResponse)
	b, ok := im.Brokers[req.BrokerID]
	if !ok || b.Epoch != req.BrokerEpoch {
		resp.ErrorCode = kerr.StaleBrokerEpoch.Code
		return nil, resp
	}
	type key struct {
		topic UUID
		part  int32
	}
	assigned := map[key][]UUID{} // the partitions' new Directories
	var order []key
	for _, rd := range req.Directories {
		out := kmsg.NewAssignReplicasToDirsResponseDirectory()
		out.ID = rd.ID
		for _, rt := range rd.Topics {
			ot := kmsg.NewAssignReplicasToDirsResponseDirectoryTopic()
			ot.TopicID = rt.TopicID
			t, tok := im.TopicsByID[rt.TopicID]
			for _, rp := range rt.Partitions {
				op := kmsg.NewAssignReplicasToDirsResponseDirectoryTopicPartition()
				op.Partition = rp.Partition
				switch {
				case !tok:
					op.ErrorCode = kerr.UnknownTopicID.Code
				case rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions):
					op.ErrorCode = kerr.UnknownTopicOrPartition.Code
				case !slices.Contains(t.Partitions[rp.Partition].Replicas, b.ID):
					op.ErrorCode = kerr.NotLeaderForPartition.Code
				case reservedDir(UUID(rd.ID)) && UUID(rd.ID) != DirLost:
					op.ErrorCode = kerr.InvalidRequest.Code
				default:
					p := t.Partitions[rp.Partition]
					k := key{UUID(t.ID), p.Partition}
					dirs, seen := assigned[k]
					if !seen {
						dirs = slices.Clone(p.Directories)
						if dirs == nil {
							dirs = make([]UUID, len(p.Replicas))
						}
						order = append(order, k)
					}
					dirs[slices.Index(p.Replicas, b.ID)] = UUID(rd.ID)
					assigned[k] = dirs
				}
				ot.Partitions = append(ot.Partitions, op)
			}
			out.Topics = append(out.Topics, ot)
		}
		resp.Directories = append(resp.Directories, out)
	}
	var recs []Record
	for _, k := range order {
		p := im.TopicsByID[k.topic].Partitions[k.part]
		if slices.Equal(p.Directories, assigned[k]) {
			continue
		}
		recs = append(recs, &PartitionChangeRecord{PartitionId: k.part, TopicId: k.topic, Leader: NoLeaderChange, Directories: assigned[k]})
	}
	if len(recs) == 0 {
		return nil, resp
	}
	after, err := im.Apply(im.Offset, recs)
	if err != nil {
		resp.ErrorCode = kerr.UnknownServerError.Code
		return nil, resp
	}
	// Replicas now known to sit in an offline dir step down.
	for _, k := range order {
		t := after.TopicsByID[k.topic]
		p := t.Partitions[k.part]
		if after.replicaDirOnline(p, b.ID) || !(p.Leader == b.ID || slices.Contains(p.ISR, b.ID)) {
			continue
		}
		ch := partitionChange{topicID: t.ID, p: p, targetISR: without(p.ISR, []int32{b.ID}),
			acceptable: func(r int32) bool { return r != b.ID && after.isActive(r) && after.replicaDirOnline(p, r) },
			unclean:    unclean != nil && unclean(t.Name)}
		if rec := ch.build(); rec != nil {
			recs = append(recs, rec)
		}
	}
	return recs, resp
}

package server

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/storage"
)

// Directory assignments, Kafka's AssignmentsManager (KIP-858): the
// controller places a new replica in its broker's log dir when the broker
// has exactly one; otherwise the broker, which chose the dir when it
// created the log, tells the controller with AssignReplicasToDirs. After
// every metadata change this broker compares the Directories of the
// partitions it hosts with where their logs are, and sends what differs.

// maxAssignmentsPerRequest bounds one AssignReplicasToDirs.
const maxAssignmentsPerRequest = 2000

// signalDirAssignments asks runDirectoryAssignments to look again.
func (b *Broker) signalDirAssignments() {
	select {
	case b.dirAssign <- struct{}{}:
	default:
	}
}

// runDirectoryAssignments sends this broker's directory assignments until
// it stops; it looks again after each metadata change and, while some
// remain unrecorded, every few seconds.
func (b *Broker) runDirectoryAssignments() {
	retry := time.NewTicker(5 * time.Second)
	defer retry.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-b.dirAssign:
		case <-retry.C:
		}
		req := b.pendingDirAssignments()
		if req == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(b.ctx, controllerRequestTimeout)
		kresp, err := b.sendToController(ctx, req)
		cancel()
		if err != nil {
			if b.ctx.Err() == nil {
				b.logger.Warn("assigning replicas to log dirs", "err", err)
			}
			continue
		}
		if resp := kresp.(*kmsg.AssignReplicasToDirsResponse); resp.ErrorCode != 0 {
			b.logger.Debug("assigning replicas to log dirs refused", "error_code", resp.ErrorCode)
		}
	}
}

// pendingDirAssignments returns an AssignReplicasToDirs for the replicas
// whose recorded log dir is not the one holding their log, nil if none.
func (b *Broker) pendingDirAssignments() *kmsg.AssignReplicasToDirsRequest {
	im := b.ctrl.Image()
	byDir := map[[16]byte]map[[16]byte][]int32{}
	n := 0
	for _, p := range b.replicas.Partitions() {
		if n == maxAssignmentsPerRequest {
			break
		}
		t, ok := im.TopicByID(p.TopicID)
		if !ok || int(p.TP.Partition) >= len(t.Partitions) {
			continue
		}
		pi := t.Partitions[p.TP.Partition]
		if !slices.Contains(pi.Replicas, b.cfg.NodeID) {
			continue
		}
		dir, ok := b.logs.LogDir(storage.TopicPartition{Topic: t.Name, Partition: pi.Partition})
		if !ok {
			continue
		}
		id := b.logs.DirectoryID(dir)
		if [16]byte(pi.Directory(b.cfg.NodeID)) == id {
			continue
		}
		if byDir[id] == nil {
			byDir[id] = map[[16]byte][]int32{}
		}
		byDir[id][t.ID] = append(byDir[id][t.ID], pi.Partition)
		n++
	}
	if n == 0 {
		return nil
	}
	req := kmsg.NewPtrAssignReplicasToDirsRequest()
	req.BrokerID = b.cfg.NodeID
	req.BrokerEpoch = b.brokerEpoch.Load()
	for id, topics := range byDir {
		rd := kmsg.NewAssignReplicasToDirsRequestDirectory()
		rd.ID = id
		for tid, parts := range topics {
			rt := kmsg.NewAssignReplicasToDirsRequestDirectoryTopic()
			rt.TopicID = tid
			for _, part := range parts {
				rp := kmsg.NewAssignReplicasToDirsRequestDirectoryTopicPartition()
				rp.Partition = part
				rt.Partitions = append(rt.Partitions, rp)
			}
			rd.Topics = append(rd.Topics, rt)
		}
		req.Directories = append(req.Directories, rd)
	}
	return req
}

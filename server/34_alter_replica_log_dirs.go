package server

// AlterReplicaLogDirs (key 34), v1–v2.
//
// Moves replicas between this broker's log dirs (KIP-113;
// kafka-reassign-partitions.sh with log dirs). A destination that is not one
// of log.dirs is LOG_DIR_NOT_FOUND; a partition already in the destination
// needs no move and succeeds; a partition this broker does not host is
// REPLICA_NOT_AVAILABLE. A real move is done before the answer
// (storage.LogManager.MoveLog: a -future copy in the destination, fsynced,
// then swapped in), so DescribeLogDirs shows the partition in its new dir
// at once and never as a future replica; a failed move is
// KAFKA_STORAGE_ERROR, as Kafka answers an I/O failure of the move.

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/server/authz"
	"github.com/riffle-io/riffle/storage"
)

func init() { register(kmsg.AlterReplicaLogDirs, 1, 2, handleAlterReplicaLogDirs) }

func handleAlterReplicaLogDirs(_ context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.AlterReplicaLogDirsRequest)
	b := rc.b
	resp := req.ResponseKind().(*kmsg.AlterReplicaLogDirsResponse)
	// ALTER on the cluster, else every partition is
	// CLUSTER_AUTHORIZATION_FAILED (KafkaApis.handleAlterReplicaLogDirsRequest).
	if !rc.authorizeCluster(authz.OpAlter) {
		for _, d := range req.Dirs {
			for _, t := range d.Topics {
				rt := kmsg.NewAlterReplicaLogDirsResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewAlterReplicaLogDirsResponseTopicPartition()
					rp.Partition, rp.ErrorCode = p, kerr.ClusterAuthorizationFailed.Code
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
		}
		return resp, nil
	}

	dirs := map[string]bool{}
	for _, d := range b.logs.Dirs() {
		dirs[absDir(d)] = true
	}
	topicIdx := map[string]int{}
	for _, d := range req.Dirs {
		dest := absDir(d.Dir)
		for _, t := range d.Topics {
			i, ok := topicIdx[t.Topic]
			if !ok {
				i = len(resp.Topics)
				topicIdx[t.Topic] = i
				rt := kmsg.NewAlterReplicaLogDirsResponseTopic()
				rt.Topic = t.Topic
				resp.Topics = append(resp.Topics, rt)
			}
			for _, p := range t.Partitions {
				rp := kmsg.NewAlterReplicaLogDirsResponseTopicPartition()
				rp.Partition = p
				tp := storage.TopicPartition{Topic: t.Topic, Partition: p}
				var err error
				cur, hosted := b.logs.LogDir(tp)
				switch {
				case !dirs[dest]:
					err = fmt.Errorf("%w: %s is not a log dir of broker %d", kerr.LogDirNotFound, d.Dir, b.cfg.NodeID)
				case !hosted:
					err = fmt.Errorf("%w: %s-%d is not hosted on broker %d", kerr.ReplicaNotAvailable, t.Topic, p, b.cfg.NodeID)
				case absDir(cur) != dest:
					err = moveReplica(b, tp, d.Dir)
				}
				if err != nil {
					rp.ErrorCode = errCode(err)
				}
				resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, rp)
			}
		}
	}
	return resp, nil
}

// moveReplica moves a hosted partition's log into dir, a log dir.
func moveReplica(b *Broker, tp storage.TopicPartition, dir string) error {
	err := b.logs.MoveLog(tp, dir)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrLogDirNotFound):
		return fmt.Errorf("%w: %v", kerr.LogDirNotFound, err)
	case errors.Is(err, storage.ErrUnknownPartition):
		return fmt.Errorf("%w: %v", kerr.ReplicaNotAvailable, err)
	default:
		return fmt.Errorf("%w: %v", kerr.KafkaStorageError, err)
	}
}

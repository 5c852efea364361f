package server

// WriteTxnMarkers (key 27), v0–v2.
//
// v2 carries the marker's transaction version: 2 when the coordinator
// bumped the producer epoch to end the transaction (KIP-890 part 2), which
// lets the partition refuse a late marker of an earlier transaction.
//
// The transaction coordinator's path to the partitions of a transaction: a
// COMMIT or ABORT control batch per partition (KafkaApis
// handleWriteTxnMarkersRequest). The coordinator calls writeTxnMarker
// directly for partitions led here; the same function serves the request
// from another broker's coordinator. A marker on a partition of
// __consumer_offsets also completes the producer's pending transactional
// offset commits in the group coordinator. Each marker waits until the
// high watermark covers it, as Kafka appends markers with acks=all.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/server/authz"
	"github.com/riffle-io/riffle/storage"
)

func init() { register(kmsg.WriteTxnMarkers, 0, 2, handleWriteTxnMarkers) }

func handleWriteTxnMarkers(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.WriteTxnMarkersRequest)
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	// Only brokers write markers: CLUSTER_ACTION on the cluster, else
	// every partition is CLUSTER_AUTHORIZATION_FAILED.
	clusterAction := rc.authorizeCluster(authz.OpClusterAction)
	for _, m := range req.Markers {
		rm := kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		for _, t := range m.Topics {
			rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition = p
				mk := txnMarker{pid: m.ProducerID, epoch: m.ProducerEpoch, coordinatorEpoch: m.CoordinatorEpoch,
					commit: m.Committed, transactionVersion: m.TransactionVersion}
				err := error(kerr.ClusterAuthorizationFailed)
				if clusterAction {
					err = rc.b.writeLocalTxnMarker(ctx, t.Topic, p, mk)
				}
				rp.ErrorCode = errCode(err)
				rt.Partitions = append(rt.Partitions, rp)
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	return resp, nil
}

var errMarkerElsewhere = errors.New("partition is led by another broker")

// txnMarker is one COMMIT or ABORT marker of a producer's transaction.
type txnMarker struct {
	pid                int64
	epoch              int16
	coordinatorEpoch   int32
	commit             bool
	transactionVersion int8
}

// writeTxnMarker writes one marker for the transaction coordinator. A
// partition of a topic that no longer exists needs none.
func (b *Broker) writeTxnMarker(ctx context.Context, topic string, partition int32, m txnMarker) error {
	t := b.ctrl.Image().Topics[topic]
	if t == nil {
		return nil
	}
	pi, ok := t.Partition(partition)
	if !ok {
		return nil
	}
	if pi.Leader != b.cfg.NodeID {
		return b.writeRemoteTxnMarker(ctx, pi.Leader, topic, partition, m)
	}
	return b.writeLocalTxnMarker(ctx, topic, partition, m)
}

func (b *Broker) writeLocalTxnMarker(ctx context.Context, topic string, partition int32, m txnMarker) error {
	p, err := b.replicas.Partition(storage.TopicPartition{Topic: topic, Partition: partition})
	if err != nil {
		return err
	}
	// Markers are written with acks=all (Kafka's WriteTxnMarkers appends
	// with requiredAcks -1), so below min.insync.replicas nothing is
	// written and the coordinator retries later. Appending anyway wrote a
	// duplicate marker on every retry while the ISR was short.
	if err := p.CheckEnoughReplicas(); err != nil {
		return err
	}
	res, err := p.AppendTxnMarker(m.pid, m.epoch, m.coordinatorEpoch, m.commit, m.transactionVersion, time.Now())
	if errors.Is(err, storage.ErrInvalidProducerEpoch) {
		// The producer already wrote with a newer epoch here, or (under
		// transaction version 2) this is a late repeat of a marker whose
		// transaction is over: the outcome no longer concerns the
		// partition.
		b.logger.Warn("transaction marker superseded by a newer producer epoch", "topic", topic, "partition", partition,
			"producer_id", m.pid, "epoch", m.epoch, "err", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("marker for %s-%d: %w", topic, partition, err)
	}
	timeout := 30 * time.Second
	if err := b.replicas.WaitForHighWatermark(ctx, p, res.LastOffset+1, timeout); err != nil {
		return err
	}
	if topic == offsetsTopic {
		b.groups.completeTxn(partition, m.pid, m.commit)
	}
	return nil
}

// writeRemoteTxnMarker sends WriteTxnMarkers to the partition's leader.
func (b *Broker) writeRemoteTxnMarker(ctx context.Context, leader int32, topic string, partition int32, mk txnMarker) error {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Version = 2
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = mk.pid, mk.epoch, mk.commit, mk.coordinatorEpoch
	m.TransactionVersion = mk.transactionVersion
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = topic, []int32{partition}
	m.Topics = append(m.Topics, mt)
	req.Markers = append(req.Markers, m)
	kresp, err := b.interBrokerRequest(ctx, leader, req)
	if err != nil {
		return err
	}
	resp := kresp.(*kmsg.WriteTxnMarkersResponse)
	for _, rm := range resp.Markers {
		for _, rt := range rm.Topics {
			for _, rp := range rt.Partitions {
				if e := kerr.ErrorForCode(rp.ErrorCode); e != nil {
					return e
				}
			}
		}
	}
	return nil
}

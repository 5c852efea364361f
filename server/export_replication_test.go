package server

import (
	"context"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/storage"
)

// ReplicaLog is what this broker stores of a partition: its log end offset,
// high watermark and every stored batch, byte for byte.
func (b *Broker) ReplicaLog(topic string, partition int32) (leo, hw int64, data []byte, err error) {
	p, err := b.replicas.Partition(storage.TopicPartition{Topic: topic, Partition: partition})
	if err != nil {
		return -1, -1, nil, err
	}
	l := p.Log()
	res, err := l.Read(l.LogStartOffset(), math.MaxInt32, l.LogEndOffset(), true)
	if err != nil {
		return -1, -1, nil, err
	}
	return l.LogEndOffset(), l.HighWatermark(), res.Records, nil
}

// UnregisterBroker removes broker id from the cluster through this node's
// controller, which must be the active one (kafka-cluster.sh unregister):
// the broker leaves every ISR and its leaderships move.
func (b *Broker) UnregisterBroker(ctx context.Context, id int32) error {
	req := kmsg.NewPtrUnregisterBrokerRequest()
	req.BrokerID = id
	resp, err := b.ctrl.UnregisterBroker(ctx, req)
	if err != nil {
		return err
	}
	return kerr.ErrorForCode(resp.ErrorCode)
}

// ReplicaLogStart is this broker's log start offset of a partition.
func (b *Broker) ReplicaLogStart(topic string, partition int32) (int64, error) {
	p, err := b.replicas.Partition(storage.TopicPartition{Topic: topic, Partition: partition})
	if err != nil {
		return -1, err
	}
	return p.Log().LogStartOffset(), nil
}

// PartitionEpoch is the partition epoch in this node's metadata image, -1
// for an unknown partition.
func PartitionEpoch(b *Broker, topic string, partition int32) int32 {
	t, ok := b.ctrl.Image().Topic(topic)
	if !ok {
		return -1
	}
	p, ok := t.Partition(partition)
	if !ok {
		return -1
	}
	return p.PartitionEpoch
}

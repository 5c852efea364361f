package server

// DescribeProducers (key 61), v0.
//
// KIP-664 (kafka-transactions.sh describe-producers): the active producers
// of each partition this broker leads, with their epoch, last sequence, last
// timestamp, coordinator epoch and the first offset of an open transaction
// (-1 when none). A partition this broker does not host is
// UNKNOWN_TOPIC_OR_PARTITION when the topic or partition does not exist,
// else NOT_LEADER_OR_FOLLOWER, as in Kafka.

import (
	"context"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/controller"
	"github.com/riffle-io/riffle/server/authz"
	"github.com/riffle-io/riffle/storage"
)

func init() { register(kmsg.DescribeProducers, 0, 0, handleDescribeProducers) }

func handleDescribeProducers(_ context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeProducersRequest)
	b := rc.b
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	im := b.ctrl.Image()
	// READ on each topic (KafkaApis.handleDescribeProducersRequest).
	canRead := rc.topicAuthorizer(authz.OpRead)
	for _, t := range req.Topics {
		rt := kmsg.NewDescribeProducersResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewDescribeProducersResponseTopicPartition()
			rp.Partition = p
			rp.ActiveProducers = []kmsg.DescribeProducersResponseTopicPartitionActiveProducer{}
			var err error
			part, ok := lookupPartition(im, t.Topic, p)
			switch {
			case !canRead.allowed(t.Topic):
				err = kerr.TopicAuthorizationFailed
			case !ok:
				err = fmt.Errorf("%w: %s-%d does not exist", kerr.UnknownTopicOrPartition, t.Topic, p)
			case part.Leader != b.cfg.NodeID:
				err = fmt.Errorf("%w: broker %d does not lead %s-%d", kerr.NotLeaderForPartition, b.cfg.NodeID, t.Topic, p)
			}
			var l *storage.Log
			if err == nil {
				var hosted bool
				l, hosted = b.logs.Log(storage.TopicPartition{Topic: t.Topic, Partition: p})
				if !hosted {
					err = fmt.Errorf("%w: %s-%d is not hosted here yet", kerr.NotLeaderForPartition, t.Topic, p)
				}
			}
			if err != nil {
				rp.ErrorCode, rp.ErrorMessage = errCode(err), errMsg(err)
				rt.Partitions = append(rt.Partitions, rp)
				continue
			}
			ids := l.ProducerIDs()
			keys := make([]int64, 0, len(ids))
			for id := range ids {
				keys = append(keys, id)
			}
			sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
			for _, id := range keys {
				e := ids[id]
				ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
				ap.ProducerID = e.ProducerID
				ap.ProducerEpoch = int32(e.ProducerEpoch)
				ap.LastSequence = e.LastSequence()
				ap.LastTimestamp = e.LastTimestamp
				ap.CoordinatorEpoch = e.CoordinatorEpoch
				ap.CurrentTxnStartOffset = e.CurrentTxnFirstOffset
				rp.ActiveProducers = append(rp.ActiveProducers, ap)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

// lookupPartition finds a partition in the metadata image.
func lookupPartition(im *controller.Image, topic string, p int32) (controller.PartitionImage, bool) {
	t, ok := im.Topics[topic]
	if !ok {
		return controller.PartitionImage{}, false
	}
	return t.Partition(p)
}

package server_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
)

// A Metadata request that auto-creates an internal topic creates it as
// Kafka's AutoTopicCreationManager does: with the internal topic's partition
// count and a compacted log, not with num.partitions and cleanup.policy=delete
// (which would let retention delete committed offsets and would place groups
// on a different partition count than the coordinator expects).
func TestMetadataAutoCreatesInternalTopicsAsInternal(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(c *config.Broker) {
		c.OffsetsTopicNumPartitions = 3
		c.TransactionStateLogNumPartitions = 2
	})
	rc := dialRaw(t, tb.addr())
	v := metadataVersion(t, rc)
	for topic, parts := range map[string]int{"__consumer_offsets": 3, "__transaction_state": 2} {
		// Created in the background: the first answer is unknown, but
		// already says the topic is internal, as Kafka's does.
		if first := metadataTopic(t, rc, v, true, topic); first.ErrorCode != kerr.UnknownTopicOrPartition.Code || !first.IsInternal {
			t.Fatalf("%s: first answer %v internal=%v, want UNKNOWN_TOPIC_OR_PARTITION, internal", topic, kerr.ErrorForCode(first.ErrorCode), first.IsInternal)
		}
		mt := waitCreated(t, rc, v, true, topic, parts)
		if !mt.IsInternal {
			t.Errorf("%s: not reported internal", topic)
		}
		req := kmsg.NewPtrDescribeConfigsRequest()
		res := kmsg.NewDescribeConfigsRequestResource()
		res.ResourceType = kmsg.ConfigResourceTypeTopic
		res.ResourceName = topic
		res.ConfigNames = []string{"cleanup.policy"}
		req.Resources = append(req.Resources, res)
		resp := rc.roundTrip(rc.maxVersion(req)).(*kmsg.DescribeConfigsResponse)
		if len(resp.Resources) != 1 || len(resp.Resources[0].Configs) != 1 {
			t.Fatalf("%s: describe configs: %+v", topic, resp.Resources)
		}
		if c := resp.Resources[0].Configs[0]; c.Value == nil || *c.Value != "compact" {
			t.Errorf("%s: cleanup.policy = %v, want compact", topic, c.Value)
		}
	}
}

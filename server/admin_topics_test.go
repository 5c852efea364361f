package server_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestAdminTopicsCLI performs what kafka-topics.sh does for --create,
// --list, --describe (with --topics-with-overrides and
// --under-replicated-partitions), --alter --partitions and --delete, and
// checks the answers against Kafka's.
func TestAdminTopicsCLI(t *testing.T) {
	t.Parallel()
	_, cl, adm, ctx := startAdminBroker(t)
	const topic = "cli-topic"

	// --create --partitions 6 --replication-factor 1 --config retention.ms=60000
	// --config cleanup.policy=compact: CreateTopics v7 answers with the
	// resolved configs (never null) and the topic ID.
	creq := kmsg.NewPtrCreateTopicsRequest()
	creq.Version = 7
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = topic, 6, 1
	for k, v := range map[string]string{"retention.ms": "60000", "cleanup.policy": "compact"} {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, sp(v)
		ct.Configs = append(ct.Configs, c)
	}
	creq.Topics = append(creq.Topics, ct)
	cresp := request[*kmsg.CreateTopicsResponse](t, cl, creq)
	rt := cresp.Topics[0]
	if rt.ErrorCode != 0 || rt.NumPartitions != 6 || rt.ReplicationFactor != 1 || rt.TopicID == [16]byte{} {
		t.Fatalf("create: %+v", rt)
	}
	var sawRetention bool
	for _, c := range rt.Configs {
		if c.Source < 1 || c.Source > 5 {
			t.Errorf("create: config %s has source %d", c.Name, c.Source)
		}
		if c.Name == "retention.ms" {
			sawRetention = c.Value != nil && *c.Value == "60000" && c.Source == int8(kmsg.ConfigSourceDynamicTopicConfig)
		}
	}
	if !sawRetention {
		t.Errorf("create: retention.ms not returned as a topic override: %+v", rt.Configs)
	}
	waitTopicReady(t, adm, topic, 6)
	topicID := rt.TopicID

	// --list
	listed, err := adm.ListTopics(ctx)
	if err != nil || !listed.Has(topic) {
		t.Fatalf("list: %v %v", listed.Names(), err)
	}

	// --describe: DescribeTopicPartitions, paged, with non-null ELR arrays.
	dreq := kmsg.NewPtrDescribeTopicPartitionsRequest()
	rtp := kmsg.NewDescribeTopicPartitionsRequestTopic()
	rtp.Topic = topic
	dreq.Topics = append(dreq.Topics, rtp)
	dreq.ResponsePartitionLimit = 4
	dresp := request[*kmsg.DescribeTopicPartitionsResponse](t, cl, dreq)
	if len(dresp.Topics) != 1 || dresp.Topics[0].ErrorCode != 0 || dresp.Topics[0].TopicID != topicID {
		t.Fatalf("describe: %+v", dresp.Topics)
	}
	got := dresp.Topics[0].Partitions
	if len(got) != 4 || dresp.NextCursor == nil || dresp.NextCursor.Topic != topic || dresp.NextCursor.Partition != 4 {
		t.Fatalf("describe page 1: %d partitions, cursor %+v", len(got), dresp.NextCursor)
	}
	dreq.Cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: topic, Partition: 4}
	dresp = request[*kmsg.DescribeTopicPartitionsResponse](t, cl, dreq)
	got = append(got, dresp.Topics[0].Partitions...)
	if len(got) != 6 || dresp.NextCursor != nil {
		t.Fatalf("describe page 2: %d partitions in all, cursor %+v", len(got), dresp.NextCursor)
	}
	for i, p := range got {
		if p.Partition != int32(i) || p.LeaderID != 1 || !slices.Equal(p.Replicas, []int32{1}) || !slices.Equal(p.ISR, []int32{1}) {
			t.Errorf("describe partition %d: %+v", i, p)
		}
		// Nullable in the schema: empty must arrive as [], not null.
		if p.EligibleLeaderReplicas == nil || p.LastKnownELR == nil {
			t.Errorf("describe partition %d: null array: %+v", i, p)
		}
		// --under-replicated-partitions lists partitions whose ISR is
		// smaller than the replica set: none here.
		if len(p.ISR) < len(p.Replicas) {
			t.Errorf("partition %d under-replicated", i)
		}
	}
	unknown := kmsg.NewPtrDescribeTopicPartitionsRequest()
	ut := kmsg.NewDescribeTopicPartitionsRequestTopic()
	ut.Topic = "no-such-topic"
	unknown.Topics = append(unknown.Topics, ut)
	uresp := request[*kmsg.DescribeTopicPartitionsResponse](t, cl, unknown)
	if len(uresp.Topics) != 1 || uresp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("describe unknown topic: %+v", uresp.Topics)
	}

	// --describe --topics-with-overrides: the topic's configs whose source
	// is DYNAMIC_TOPIC_CONFIG.
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil || len(rcs) != 1 || rcs[0].Err != nil {
		t.Fatalf("describe configs: %v %+v", err, rcs)
	}
	overrides := map[string]string{}
	for _, c := range rcs[0].Configs {
		if c.Source == kmsg.ConfigSourceDynamicTopicConfig {
			overrides[c.Key] = c.MaybeValue()
		}
	}
	if len(overrides) != 2 || overrides["retention.ms"] != "60000" || overrides["cleanup.policy"] != "compact" {
		t.Fatalf("overrides: %v", overrides)
	}

	// --alter --partitions 12; shrinking, or the same count, is refused.
	if _, err := adm.ValidateUpdatePartitions(ctx, 12, topic); err != nil {
		t.Fatal(err)
	}
	if md, _ := adm.Metadata(ctx, topic); len(md.Topics[topic].Partitions) != 6 {
		t.Fatalf("validate-only grew the topic")
	}
	pr, err := adm.UpdatePartitions(ctx, 12, topic)
	if err != nil || pr[topic].Err != nil {
		t.Fatalf("alter partitions: %v %+v", err, pr)
	}
	waitTopicReady(t, adm, topic, 12)
	pr, _ = adm.UpdatePartitions(ctx, 3, topic)
	if !errors.Is(pr[topic].Err, kerr.InvalidPartitions) {
		t.Fatalf("shrink: %+v", pr[topic])
	}
	pr, _ = adm.UpdatePartitions(ctx, 13, "no-such-topic")
	if !errors.Is(pr["no-such-topic"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("grow unknown topic: %+v", pr)
	}

	// --delete: by name, and (DeleteTopics v6) by topic ID.
	dr, err := adm.DeleteTopics(ctx, topic)
	if err != nil || dr[topic].Err != nil {
		t.Fatalf("delete: %v %+v", err, dr)
	}
	createTopic(t, adm, "cli-by-id", 1, nil)
	md, _ := adm.Metadata(ctx, "cli-by-id")
	delReq := kmsg.NewPtrDeleteTopicsRequest()
	delReq.Version = 6
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.TopicID = md.Topics["cli-by-id"].ID
	delReq.Topics = append(delReq.Topics, dt)
	delResp := request[*kmsg.DeleteTopicsResponse](t, cl, delReq)
	if delResp.Topics[0].ErrorCode != 0 || delResp.Topics[0].Topic == nil || *delResp.Topics[0].Topic != "cli-by-id" {
		t.Fatalf("delete by id: %+v", delResp.Topics[0])
	}
	// kadm caches metadata; ask the broker itself.
	mresp := request[*kmsg.MetadataResponse](t, cl, kmsg.NewPtrMetadataRequest())
	for _, mt := range mresp.Topics {
		if *mt.Topic == topic || *mt.Topic == "cli-by-id" {
			t.Fatalf("deleted topic %s still listed", *mt.Topic)
		}
	}
}

// TestAdminTopicsSarama drives the same topic administration through
// Sarama's ClusterAdmin.
func TestAdminTopicsSarama(t *testing.T) {
	t.Parallel()
	tb := startBroker(t)
	ca := saramaClusterAdmin(t, tb.addr())
	const topic = "sarama-admin"
	err := ca.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 6, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"retention.ms": sp("60000"), "cleanup.policy": sp("compact")}}, false)
	if err != nil {
		t.Fatal(err)
	}
	topics, err := ca.ListTopics()
	if err != nil || topics[topic].NumPartitions != 6 {
		t.Fatalf("list: %v %+v", err, topics[topic])
	}
	if topics[topic].ConfigEntries["retention.ms"] == nil || *topics[topic].ConfigEntries["retention.ms"] != "60000" {
		t.Fatalf("list: overrides %v", topics[topic].ConfigEntries)
	}
	if err := ca.CreatePartitions(topic, 12, nil, false); err != nil {
		t.Fatal(err)
	}
	md, err := ca.DescribeTopics([]string{topic})
	if err != nil || len(md) != 1 || len(md[0].Partitions) != 12 {
		t.Fatalf("describe: %v %+v", err, md)
	}
	entries, err := ca.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		if e.Name == "cleanup.policy" {
			found = e.Value == "compact" && e.Source == sarama.SourceTopic
		}
	}
	if !found {
		t.Fatalf("describe config: cleanup.policy missing or wrong: %+v", entries)
	}
	err = ca.IncrementalAlterConfig(sarama.TopicResource, topic, map[string]sarama.IncrementalAlterConfigsEntry{
		"retention.ms": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: sp("120000")},
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	err = ca.IncrementalAlterConfig(sarama.TopicResource, topic, map[string]sarama.IncrementalAlterConfigsEntry{
		"retention.mss": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: sp("1")},
	}, false)
	if !errors.Is(err, sarama.ErrInvalidConfig) || !strings.Contains(err.Error(), "retention.mss") {
		t.Fatalf("bad config name: %v", err)
	}
	if err := ca.DeleteTopic(topic); err != nil {
		t.Fatal(err)
	}
}

package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
)

func metadataTopic(t testing.TB, rc *rawConn, version int16, allow bool, topic string) kmsg.MetadataResponseTopic {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.Version = version
	req.AllowAutoTopicCreation = allow
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, mt)
	resp := rc.roundTrip(req).(*kmsg.MetadataResponse)
	if len(resp.Topics) != 1 {
		t.Fatalf("metadata v%d for %q: %d topics in the response", version, topic, len(resp.Topics))
	}
	return resp.Topics[0]
}

func metadataVersion(t testing.TB, rc *rawConn) int16 {
	return rc.maxVersion(kmsg.NewPtrMetadataRequest()).GetVersion()
}

// waitCreated polls Metadata until topic exists with partitions partitions,
// each with a leader.
func waitCreated(t testing.TB, rc *rawConn, version int16, allow bool, topic string, partitions int) kmsg.MetadataResponseTopic {
	t.Helper()
	var last kmsg.MetadataResponseTopic
	if !poll(requestTimeout, func() bool {
		last = metadataTopic(t, rc, version, allow, topic)
		if last.ErrorCode != 0 || len(last.Partitions) != partitions {
			return false
		}
		for _, p := range last.Partitions {
			if p.ErrorCode != 0 || p.Leader < 0 {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("topic %q not created: last metadata error %v, %d partitions", topic, kerr.ErrorForCode(last.ErrorCode), len(last.Partitions))
	}
	return last
}

func expectUnknown(t testing.TB, rc *rawConn, version int16, topic string) {
	t.Helper()
	mt := metadataTopic(t, rc, version, false, topic)
	if mt.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("topic %q: metadata error %v, want UNKNOWN_TOPIC_OR_PARTITION", topic, kerr.ErrorForCode(mt.ErrorCode))
	}
}

var invalidTopicNames = []string{
	"", ".", "..", "bad name", "a/b", "ünïcode", "tab\t", strings.Repeat("x", 250),
}

func TestMetadataAutoCreate(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(c *config.Broker) { c.NumPartitions = 3 })
	rc := dialRaw(t, tb.addr())
	v := metadataVersion(t, rc)

	// Allowed by request and broker: created with num.partitions
	// partitions, in the background. As Kafka's AutoTopicCreationManager
	// answers, the request that set the creation off sees the topic as
	// unknown, with no partitions and no topic ID.
	first := metadataTopic(t, rc, v, true, "auto-yes")
	if first.ErrorCode != kerr.UnknownTopicOrPartition.Code || len(first.Partitions) != 0 ||
		first.TopicID != ([16]byte{}) || first.Topic == nil || *first.Topic != "auto-yes" {
		t.Fatalf("auto-create: first answer %+v (%v), want UNKNOWN_TOPIC_OR_PARTITION with no partitions", first, kerr.ErrorForCode(first.ErrorCode))
	}
	mt := waitCreated(t, rc, v, false, "auto-yes", 3)
	if v >= 10 && mt.TopicID == ([16]byte{}) {
		t.Fatalf("metadata v%d: auto-created topic has no topic ID", v)
	}

	// Metadata v1–v3 have no AllowAutoTopicCreation field; Kafka auto-creates
	// for them (kafka-python relies on it).
	if vs := rc.versions()[3]; vs[0] <= 1 {
		req := kmsg.NewPtrMetadataRequest()
		req.Version = 1
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr("auto-v1")
		req.Topics = append(req.Topics, mt)
		resp := rc.roundTrip(req).(*kmsg.MetadataResponse)
		if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("metadata v1 auto-create: first answer %+v, want UNKNOWN_TOPIC_OR_PARTITION", resp.Topics)
		}
		waitCreated(t, rc, 1, false, "auto-v1", 3)
	} else {
		t.Errorf("broker does not serve Metadata v1 (min v%d), which kafka-python uses", vs[0])
	}

	// Not allowed by the request: not created.
	no := metadataTopic(t, rc, v, false, "auto-no")
	if no.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("allow_auto_topic_creation=false: error %v, want UNKNOWN_TOPIC_OR_PARTITION", kerr.ErrorForCode(no.ErrorCode))
	}
	expectUnknown(t, rc, v, "auto-no")

	// Invalid names are refused whether or not creation is allowed.
	for _, name := range invalidTopicNames {
		for _, allow := range []bool{true, false} {
			mt := metadataTopic(t, rc, v, allow, name)
			if mt.ErrorCode != kerr.InvalidTopicException.Code {
				t.Errorf("metadata for %q (allow=%v): error %v, want INVALID_TOPIC_EXCEPTION", name, allow, kerr.ErrorForCode(mt.ErrorCode))
			}
		}
	}
	checkAlive(t, tb.addr())
}

func TestMetadataAutoCreateDisabled(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(c *config.Broker) { c.AutoCreateTopicsEnable = false })
	rc := dialRaw(t, tb.addr())
	v := metadataVersion(t, rc)
	mt := metadataTopic(t, rc, v, true, "auto-off")
	if mt.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("auto.create.topics.enable=false: error %v, want UNKNOWN_TOPIC_OR_PARTITION", kerr.ErrorForCode(mt.ErrorCode))
	}
	expectUnknown(t, rc, v, "auto-off")
}

func createTopicsRaw(t testing.TB, rc *rawConn, validateOnly bool, topics ...kmsg.CreateTopicsRequestTopic) []kmsg.CreateTopicsResponseTopic {
	t.Helper()
	req := rc.maxVersion(kmsg.NewPtrCreateTopicsRequest()).(*kmsg.CreateTopicsRequest)
	req.ValidateOnly = validateOnly
	req.TimeoutMillis = 10000
	req.Topics = topics
	resp := rc.roundTrip(req).(*kmsg.CreateTopicsResponse)
	if len(resp.Topics) != len(topics) {
		t.Fatalf("CreateTopics: %d topics answered, %d asked", len(resp.Topics), len(topics))
	}
	return resp.Topics
}

func newCreatable(name string, partitions int32, rf int16) kmsg.CreateTopicsRequestTopic {
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = name, partitions, rf
	return ct
}

func TestCreateTopics(t *testing.T) {
	t.Parallel()
	tb := startBroker(t)
	rc := dialRaw(t, tb.addr())
	v := metadataVersion(t, rc)

	// validate_only checks everything and creates nothing.
	res := createTopicsRaw(t, rc, true, newCreatable("vo", 3, 1))
	if res[0].ErrorCode != 0 {
		t.Fatalf("validate-only create: %v", kerr.ErrorForCode(res[0].ErrorCode))
	}
	expectUnknown(t, rc, v, "vo")

	cases := []struct {
		name  string
		topic kmsg.CreateTopicsRequestTopic
		code  int16
	}{
		{"zero partitions", newCreatable("zero", 0, 1), kerr.InvalidPartitions.Code},
		{"negative partitions", newCreatable("neg", -5, 1), kerr.InvalidPartitions.Code},
		{"replication factor above broker count", newCreatable("rf3", 1, 3), kerr.InvalidReplicationFactor.Code},
		{"unknown config", func() kmsg.CreateTopicsRequestTopic {
			ct := newCreatable("badcfg", 1, 1)
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name, c.Value = "no.such.config", kmsg.StringPtr("1")
			ct.Configs = append(ct.Configs, c)
			return ct
		}(), kerr.InvalidConfig.Code},
	}
	for _, name := range invalidTopicNames {
		cases = append(cases, struct {
			name  string
			topic kmsg.CreateTopicsRequestTopic
			code  int16
		}{"invalid name " + name, newCreatable(name, 1, 1), kerr.InvalidTopicException.Code})
	}
	for _, validateOnly := range []bool{true, false} {
		for _, c := range cases {
			res := createTopicsRaw(t, rc, validateOnly, c.topic)
			if res[0].ErrorCode != c.code {
				t.Errorf("%s (validate_only=%v): error %v, want %v", c.name, validateOnly, kerr.ErrorForCode(res[0].ErrorCode), kerr.ErrorForCode(c.code))
			}
		}
	}

	// -1 partitions / replication factor mean the broker defaults (KIP-464).
	res = createTopicsRaw(t, rc, false, newCreatable("defaults", -1, -1))
	if res[0].ErrorCode != 0 {
		t.Fatalf("create with broker defaults: %v", kerr.ErrorForCode(res[0].ErrorCode))
	}
	waitCreated(t, rc, v, false, "defaults", 1)

	// The longest legal name works; a second create of it is refused.
	long := strings.Repeat("l", 249)
	if res := createTopicsRaw(t, rc, false, newCreatable(long, 1, 1)); res[0].ErrorCode != 0 {
		t.Fatalf("create 249-character name: %v", kerr.ErrorForCode(res[0].ErrorCode))
	}
	waitCreated(t, rc, v, false, long, 1)
	if res := createTopicsRaw(t, rc, false, newCreatable(long, 1, 1)); res[0].ErrorCode != kerr.TopicAlreadyExists.Code {
		t.Fatalf("create existing topic: %v, want TOPIC_ALREADY_EXISTS", kerr.ErrorForCode(res[0].ErrorCode))
	}

	// Kafka refuses names that collide with an existing topic once '.' and
	// '_' are treated alike (they map to the same metric names).
	if res := createTopicsRaw(t, rc, false, newCreatable("a_b", 1, 1)); res[0].ErrorCode != 0 {
		t.Fatalf("create a_b: %v", kerr.ErrorForCode(res[0].ErrorCode))
	}
	if res := createTopicsRaw(t, rc, false, newCreatable("a.b", 1, 1)); res[0].ErrorCode != kerr.InvalidTopicException.Code {
		t.Errorf("create a.b next to a_b: %v, want INVALID_TOPIC_EXCEPTION", kerr.ErrorForCode(res[0].ErrorCode))
	}

	// An absurd partition count is refused promptly, not attempted.
	start := time.Now()
	res = createTopicsRaw(t, rc, false, newCreatable("huge", 1<<31-1, 1))
	if el := time.Since(start); el > 2*time.Second || res[0].ErrorCode == 0 {
		t.Fatalf("create with 2^31-1 partitions: error %v after %v, want a refusal within 2s", kerr.ErrorForCode(res[0].ErrorCode), el)
	}
	expectUnknown(t, rc, v, "huge")
	checkAlive(t, tb.addr())
}

func TestDeleteTopics(t *testing.T) {
	t.Parallel()
	tb := startBroker(t)
	adm := newAdmin(t, tb.addr())
	rc := dialRaw(t, tb.addr())
	v := metadataVersion(t, rc)
	byName := createTopic(t, adm, "del-name", 2, nil)
	byID := createTopic(t, adm, "del-id", 2, nil)

	resps, err := adm.DeleteTopics(ctxFor(t, requestTimeout), "del-name")
	if err != nil || resps["del-name"].Err != nil {
		t.Fatalf("delete by name: %v %v", err, resps["del-name"].Err)
	}
	expectUnknown(t, rc, v, "del-name")

	del := rc.maxVersion(kmsg.NewPtrDeleteTopicsRequest()).(*kmsg.DeleteTopicsRequest)
	if del.Version < 6 {
		t.Fatalf("DeleteTopics v%d: deletion by topic ID needs v6", del.Version)
	}
	for _, id := range [][16]byte{byID.ID, {1, 2, 3}} {
		dt := kmsg.NewDeleteTopicsRequestTopic()
		dt.TopicID = id
		del.Topics = append(del.Topics, dt)
	}
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.Topic = kmsg.StringPtr("never-existed")
	del.Topics = append(del.Topics, dt)
	resp := rc.roundTrip(del).(*kmsg.DeleteTopicsResponse)
	if len(resp.Topics) != 3 {
		t.Fatalf("DeleteTopics: %d results, want 3", len(resp.Topics))
	}
	want := []int16{0, kerr.UnknownTopicID.Code, kerr.UnknownTopicOrPartition.Code}
	for k, r := range resp.Topics {
		if r.ErrorCode != want[k] {
			t.Errorf("DeleteTopics result %d (%v): error %v, want %v", k, r.Topic, kerr.ErrorForCode(r.ErrorCode), kerr.ErrorForCode(want[k]))
		}
	}
	if resp.Topics[0].Topic == nil || *resp.Topics[0].Topic != "del-id" {
		t.Errorf("delete by ID: response names topic %v, want del-id", resp.Topics[0].Topic)
	}
	expectUnknown(t, rc, v, "del-id")

	// A topic re-created under a deleted name gets a new ID and an empty log.
	again := createTopic(t, adm, "del-name", 1, nil)
	if again.ID == byName.ID {
		t.Fatalf("re-created topic reuses the deleted topic's ID %s", again.ID)
	}
	if o := endOffsets(t, adm, "del-name")[0]; o != 0 {
		t.Fatalf("re-created topic starts at end offset %d", o)
	}
}

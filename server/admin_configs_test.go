package server_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
)

// describeConfigs sends DescribeConfigs as kafka-configs.sh --describe --all
// does: synonyms and documentation included.
func describeConfigs(t testing.TB, cl *kgo.Client, typ kmsg.ConfigResourceType, name string, keys ...string) kmsg.DescribeConfigsResponseResource {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName = typ, name
	if len(keys) > 0 {
		r.ConfigNames = keys
	}
	req.Resources = append(req.Resources, r)
	req.IncludeSynonyms, req.IncludeDocumentation = true, true
	resp := request[*kmsg.DescribeConfigsResponse](t, cl, req)
	if len(resp.Resources) != 1 {
		t.Fatalf("describe configs: %d resources", len(resp.Resources))
	}
	return resp.Resources[0]
}

func configByName(rr kmsg.DescribeConfigsResponseResource, name string) (kmsg.DescribeConfigsResponseResourceConfig, bool) {
	for _, c := range rr.Configs {
		if c.Name == name {
			return c, true
		}
	}
	return kmsg.DescribeConfigsResponseResourceConfig{}, false
}

func wantConfig(t testing.TB, rr kmsg.DescribeConfigsResponseResource, name, value string, source kmsg.ConfigSource) {
	t.Helper()
	c, ok := configByName(rr, name)
	if !ok {
		t.Fatalf("%s %q: config %s missing", rr.ResourceType, rr.ResourceName, name)
	}
	if c.Value == nil || *c.Value != value || c.Source != source {
		v := "<null>"
		if c.Value != nil {
			v = *c.Value
		}
		t.Fatalf("%s %q: %s = %s (source %v), want %s (source %v)", rr.ResourceType, rr.ResourceName, name, v, c.Source, value, source)
	}
}

func set(name, value string) kadm.AlterConfig {
	return kadm.AlterConfig{Op: kadm.SetConfig, Name: name, Value: sp(value)}
}

// TestAdminConfigsTopic performs kafka-configs.sh --entity-type topics
// --describe --all, --alter --add-config and --alter --delete-config.
func TestAdminConfigsTopic(t *testing.T) {
	t.Parallel()
	_, cl, adm, ctx := startAdminBroker(t)
	const topic = "configs-topic"
	createTopic(t, adm, topic, 1, map[string]*string{"retention.ms": sp("60000")})

	// --describe --all: every topic config, with Kafka's default, a real
	// source, synonyms, type and documentation.
	rr := describeConfigs(t, cl, kmsg.ConfigResourceTypeTopic, topic)
	if rr.ErrorCode != 0 {
		t.Fatalf("describe: %d %v", rr.ErrorCode, rr.ErrorMessage)
	}
	if len(rr.Configs) != len(config.TopicConfigDefs()) {
		t.Errorf("describe: %d configs, want %d", len(rr.Configs), len(config.TopicConfigDefs()))
	}
	for _, c := range rr.Configs {
		if c.Source < kmsg.ConfigSourceDynamicTopicConfig || c.Source > kmsg.ConfigSourceDefaultConfig || c.ReadOnly ||
			c.ConfigType == kmsg.ConfigTypeUnknown || c.Documentation == nil {
			t.Errorf("describe: %+v", c)
		}
	}
	wantConfig(t, rr, "retention.ms", "60000", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, rr, "segment.bytes", "1073741824", kmsg.ConfigSourceDefaultConfig)
	wantConfig(t, rr, "cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig)
	ret, _ := configByName(rr, "retention.ms")
	// Kafka (ConfigHelper.configSynonyms): the override, then the broker
	// layers of log.retention.ms from that name on; log.retention.ms is
	// unset (only .hours has a default), so nothing follows.
	if len(ret.ConfigSynonyms) != 1 || ret.ConfigSynonyms[0].Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("retention.ms synonyms: %+v", ret.ConfigSynonyms)
	}
	if seg, _ := configByName(rr, "segment.bytes"); len(seg.ConfigSynonyms) != 1 || seg.ConfigSynonyms[0].Name != "log.segment.bytes" ||
		seg.ConfigSynonyms[0].Source != kmsg.ConfigSourceDefaultConfig || *seg.ConfigSynonyms[0].Value != "1073741824" {
		t.Errorf("segment.bytes synonyms: %+v", seg.ConfigSynonyms)
	}
	if only := describeConfigs(t, cl, kmsg.ConfigResourceTypeTopic, topic, "retention.ms", "no.such.config"); len(only.Configs) != 1 {
		t.Errorf("describe by name: %+v", only.Configs)
	}
	if rr := describeConfigs(t, cl, kmsg.ConfigResourceTypeTopic, "no-such-topic"); rr.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("describe unknown topic: %+v", rr)
	}

	// --alter --add-config retention.ms=1000,cleanup.policy=[compact,delete]
	resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{set("retention.ms", "1000"), set("cleanup.policy", "compact,delete")}, topic)
	if err != nil || resp[0].Err != nil {
		t.Fatalf("add-config: %v %+v", err, resp)
	}
	rr = describeConfigs(t, cl, kmsg.ConfigResourceTypeTopic, topic)
	wantConfig(t, rr, "retention.ms", "1000", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, rr, "cleanup.policy", "compact,delete", kmsg.ConfigSourceDynamicTopicConfig)

	// APPEND / SUBTRACT work on lists only.
	resp, _ = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SubtractConfig, Name: "cleanup.policy", Value: sp("delete")}}, topic)
	if resp[0].Err != nil {
		t.Fatalf("subtract: %+v", resp[0])
	}
	wantConfig(t, describeConfigs(t, cl, kmsg.ConfigResourceTypeTopic, topic), "cleanup.policy", "compact", kmsg.ConfigSourceDynamicTopicConfig)
	resp, _ = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "retention.ms", Value: sp("5")}}, topic)
	if !errors.Is(resp[0].Err, kerr.InvalidConfig) {
		t.Fatalf("append to a LONG: %+v", resp[0])
	}

	// Bad names and values are INVALID_CONFIG saying what is wrong, and
	// change nothing.
	for _, bad := range []kadm.AlterConfig{set("retention.mss", "1"), set("retention.ms", "soon"), set("cleanup.policy", "shred"), set("segment.bytes", "1000")} {
		resp, _ = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{bad}, topic)
		if !errors.Is(resp[0].Err, kerr.InvalidConfig) || !strings.Contains(resp[0].ErrMessage, bad.Name) {
			t.Errorf("%s=%s: %v %q", bad.Name, *bad.Value, resp[0].Err, resp[0].ErrMessage)
		}
	}
	// validate-only checks without writing.
	resp, _ = adm.ValidateAlterTopicConfigs(ctx, []kadm.AlterConfig{set("retention.ms", "2000")}, topic)
	if resp[0].Err != nil {
		t.Fatalf("validate-only: %+v", resp[0])
	}
	wantConfig(t, describeConfigs(t, cl, kmsg.ConfigResourceTypeTopic, topic), "retention.ms", "1000", kmsg.ConfigSourceDynamicTopicConfig)

	// --delete-config retention.ms: back to the broker default.
	resp, _ = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "retention.ms"}}, topic)
	if resp[0].Err != nil {
		t.Fatalf("delete-config: %+v", resp[0])
	}
	wantConfig(t, describeConfigs(t, cl, kmsg.ConfigResourceTypeTopic, topic), "retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)

	// Legacy AlterConfigs replaces the whole set of overrides.
	resp, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{set("max.message.bytes", "2000000")}, topic)
	if err != nil || resp[0].Err != nil {
		t.Fatalf("alter (legacy): %v %+v", err, resp)
	}
	rr = describeConfigs(t, cl, kmsg.ConfigResourceTypeTopic, topic)
	wantConfig(t, rr, "max.message.bytes", "2000000", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, rr, "cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig)

	// Unknown topics, and a resource named twice.
	resp, _ = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{set("retention.ms", "1")}, "no-such-topic")
	if !errors.Is(resp[0].Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("alter unknown topic: %+v", resp[0])
	}
	ireq := kmsg.NewPtrIncrementalAlterConfigsRequest()
	for range 2 {
		r := kmsg.NewIncrementalAlterConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, topic
		ireq.Resources = append(ireq.Resources, r)
	}
	iresp := request[*kmsg.IncrementalAlterConfigsResponse](t, cl, ireq)
	for _, r := range iresp.Resources {
		if r.ErrorCode != kerr.InvalidRequest.Code {
			t.Errorf("duplicate resource: %+v", r)
		}
	}
}

// TestAdminConfigsBroker performs kafka-configs.sh --entity-type brokers
// --describe --all, --alter --add-config (per broker and --entity-default)
// and --delete-config, and checks that dynamic broker configs change the
// defaults of topics and survive a restart together with topic overrides.
func TestAdminConfigsBroker(t *testing.T) {
	t.Parallel()
	tb, cl, adm, ctx := startAdminBroker(t)
	createTopic(t, adm, "plain", 1, nil)
	createTopic(t, adm, "overridden", 1, map[string]*string{"retention.ms": sp("60000"), "cleanup.policy": sp("compact")})

	rr := describeConfigs(t, cl, kmsg.ConfigResourceTypeBroker, "1")
	if rr.ErrorCode != 0 || len(rr.Configs) < 100 {
		t.Fatalf("describe broker: code %d, %d configs", rr.ErrorCode, len(rr.Configs))
	}
	wantConfig(t, rr, "log.retention.hours", "168", kmsg.ConfigSourceDefaultConfig)
	for name, readOnly := range map[string]bool{"listeners": true, "node.id": true, "log.retention.ms": false, "num.io.threads": false} {
		if c, _ := configByName(rr, name); c.ReadOnly != readOnly {
			t.Errorf("%s: read-only %v", name, c.ReadOnly)
		}
	}
	for _, c := range rr.Configs {
		if c.IsSensitive && c.Value != nil {
			t.Errorf("sensitive %s has a value", c.Name)
		}
	}
	// A broker describes itself only (kgo would route this request to
	// broker 7, so it is sent to broker 1 directly).
	other := kmsg.NewPtrDescribeConfigsRequest()
	or := kmsg.NewDescribeConfigsRequestResource()
	or.ResourceType, or.ResourceName = kmsg.ConfigResourceTypeBroker, "7"
	other.Resources = append(other.Resources, or)
	if oresp, err := cl.Broker(1).Request(ctx, other); err != nil || oresp.(*kmsg.DescribeConfigsResponse).Resources[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("describe another broker: %v %+v", err, oresp)
	}
	// A new cluster turns on eligible leader replicas, which writes the
	// static min.insync.replicas as the cluster-wide value (KIP-966).
	if rr := describeConfigs(t, cl, kmsg.ConfigResourceTypeBroker, ""); rr.ErrorCode != 0 || len(rr.Configs) != 1 {
		t.Errorf("describe cluster default: %+v", rr)
	} else {
		wantConfig(t, rr, "min.insync.replicas", "1", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
	}
	if rr := describeConfigs(t, cl, kmsg.ConfigResourceTypeBrokerLogger, "1"); rr.ErrorCode != 0 || len(rr.Configs) != 1 ||
		rr.Configs[0].Source != kmsg.ConfigSourceDynamicBrokerLoggerConfig {
		t.Errorf("describe broker loggers: %+v", rr)
	}

	// --entity-default --alter --add-config log.retention.ms=3600000: the
	// cluster-wide default; topics without an override follow it.
	alterBroker := func(name string, ops ...kmsg.IncrementalAlterConfigsRequestResourceConfig) kmsg.IncrementalAlterConfigsResponseResource {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		r := kmsg.NewIncrementalAlterConfigsRequestResource()
		r.ResourceType, r.ResourceName, r.Configs = kmsg.ConfigResourceTypeBroker, name, ops
		req.Resources = append(req.Resources, r)
		return request[*kmsg.IncrementalAlterConfigsResponse](t, cl, req).Resources[0]
	}
	op := func(name string, value *string, o kmsg.IncrementalAlterConfigOp) kmsg.IncrementalAlterConfigsRequestResourceConfig {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value, c.Op = name, value, o
		return c
	}
	if r := alterBroker("", op("log.retention.ms", sp("3600000"), kmsg.IncrementalAlterConfigOpSet)); r.ErrorCode != 0 {
		t.Fatalf("entity-default add-config: %+v", r)
	}
	rr = describeConfigs(t, cl, kmsg.ConfigResourceTypeBroker, "")
	wantConfig(t, rr, "log.retention.ms", "3600000", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
	if c, _ := configByName(rr, "log.retention.ms"); len(rr.Configs) != 2 || len(c.ConfigSynonyms) != 1 {
		t.Errorf("cluster default: %+v", rr.Configs)
	}
	wantConfig(t, describeConfigs(t, cl, kmsg.ConfigResourceTypeBroker, "1"), "log.retention.ms", "3600000", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
	wantConfig(t, describeConfigs(t, cl, kmsg.ConfigResourceTypeTopic, "plain"), "retention.ms", "3600000", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
	wantConfig(t, describeConfigs(t, cl, kmsg.ConfigResourceTypeTopic, "overridden"), "retention.ms", "60000", kmsg.ConfigSourceDynamicTopicConfig)

	// --entity-name 1 --alter --add-config: this broker's own layer wins.
	resp, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{set("log.retention.ms", "7200000"), set("log.segment.bytes", "2097152")}, 1)
	if err != nil || resp[0].Err != nil {
		t.Fatalf("broker add-config: %v %+v", err, resp)
	}
	rr = describeConfigs(t, cl, kmsg.ConfigResourceTypeBroker, "1")
	wantConfig(t, rr, "log.retention.ms", "7200000", kmsg.ConfigSourceDynamicBrokerConfig)
	c, _ := configByName(rr, "log.retention.ms")
	if len(c.ConfigSynonyms) < 3 || c.ConfigSynonyms[1].Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Errorf("log.retention.ms synonyms: %+v", c.ConfigSynonyms)
	}
	wantConfig(t, describeConfigs(t, cl, kmsg.ConfigResourceTypeTopic, "plain"), "segment.bytes", "2097152", kmsg.ConfigSourceDynamicBrokerConfig)

	// Refused: unknown names, configs that cannot change at runtime, bad
	// values, and values that do not resolve (retention 0).
	for _, bad := range []struct{ name, value string }{
		{"log.retention.mss", "1"}, {"node.id", "3"}, {"listeners", "PLAINTEXT://:9092"},
		{"log.segment.bytes", "big"}, {"log.retention.ms", "0"},
	} {
		r := alterBroker("1", op(bad.name, sp(bad.value), kmsg.IncrementalAlterConfigOpSet))
		if r.ErrorCode != kerr.InvalidConfig.Code || r.ErrorMessage == nil || !strings.Contains(*r.ErrorMessage, bad.name) {
			t.Errorf("%s=%s: %+v", bad.name, bad.value, r)
		}
	}
	if r := alterBroker("x", op("log.retention.ms", sp("1"), kmsg.IncrementalAlterConfigOpSet)); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("bad broker resource name: %+v", r)
	}

	// Everything survives a restart: it lives in the metadata log.
	tb.restart()
	cl = newClient(t, tb.addr())
	rr = describeConfigs(t, cl, kmsg.ConfigResourceTypeBroker, "1")
	wantConfig(t, rr, "log.retention.ms", "7200000", kmsg.ConfigSourceDynamicBrokerConfig)
	wantConfig(t, rr, "log.segment.bytes", "2097152", kmsg.ConfigSourceDynamicBrokerConfig)
	wantConfig(t, describeConfigs(t, cl, kmsg.ConfigResourceTypeBroker, ""), "log.retention.ms", "3600000", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
	rr = describeConfigs(t, cl, kmsg.ConfigResourceTypeTopic, "overridden")
	wantConfig(t, rr, "retention.ms", "60000", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, rr, "cleanup.policy", "compact", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, describeConfigs(t, cl, kmsg.ConfigResourceTypeTopic, "plain"), "retention.ms", "7200000", kmsg.ConfigSourceDynamicBrokerConfig)

	// --delete-config on both layers: back to the static default.
	if r := alterBroker("1", op("log.retention.ms", nil, kmsg.IncrementalAlterConfigOpDelete), op("log.segment.bytes", nil, kmsg.IncrementalAlterConfigOpDelete)); r.ErrorCode != 0 {
		t.Fatalf("broker delete-config: %+v", r)
	}
	if r := alterBroker("", op("log.retention.ms", nil, kmsg.IncrementalAlterConfigOpDelete)); r.ErrorCode != 0 {
		t.Fatalf("entity-default delete-config: %+v", r)
	}
	wantConfig(t, describeConfigs(t, cl, kmsg.ConfigResourceTypeTopic, "plain"), "retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)
	if c, ok := configByName(describeConfigs(t, cl, kmsg.ConfigResourceTypeBroker, "1"), "log.retention.ms"); !ok || c.Value != nil || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("log.retention.ms after delete: %+v", c)
	}
}

// TestAdminConfigsSarama checks broker configs through Sarama's ClusterAdmin.
func TestAdminConfigsSarama(t *testing.T) {
	t.Parallel()
	tb := startBroker(t)
	ca := saramaClusterAdmin(t, tb.addr())
	err := ca.AlterConfig(sarama.BrokerResource, "1", map[string]*string{"log.cleaner.threads": sp("2")}, false)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := ca.DescribeConfig(sarama.ConfigResource{Type: sarama.BrokerResource, Name: "1", ConfigNames: []string{"log.cleaner.threads", "node.id"}})
	if err != nil || len(entries) != 2 {
		t.Fatalf("describe: %v %+v", err, entries)
	}
	for _, e := range entries {
		switch e.Name {
		case "log.cleaner.threads":
			if e.Value != "2" || e.Source != sarama.SourceDynamicBroker || e.ReadOnly {
				t.Errorf("%+v", e)
			}
		case "node.id":
			if e.Value != "1" || !e.ReadOnly {
				t.Errorf("%+v", e)
			}
		}
	}
}

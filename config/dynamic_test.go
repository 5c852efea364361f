package config

import (
	"strings"
	"testing"
)

func TestWithDynamicLayers(t *testing.T) {
	static, _, err := Parse(map[string]string{"log.retention.hours": "24", "log.segment.bytes": "2097152"})
	if err != nil {
		t.Fatal(err)
	}
	same, err := static.WithDynamic(nil, nil)
	if err != nil || same != static {
		t.Fatalf("no dynamic configs: %v, same=%v", err, same == static)
	}

	// The cluster default overrides server.properties; this broker's own
	// layer overrides the cluster default.
	eff, err := static.WithDynamic(
		map[string]string{"log.retention.ms": "3600000", "log.segment.bytes": "4194304"},
		map[string]string{"log.segment.bytes": "8388608", "log.cleaner.threads": "2"})
	if err != nil {
		t.Fatal(err)
	}
	if eff.LogRetentionMs != 3600000 || eff.LogSegmentBytes != 8388608 || eff.LogCleanerThreads != 2 {
		t.Fatalf("effective: retention %d, segment %d, cleaner threads %d", eff.LogRetentionMs, eff.LogSegmentBytes, eff.LogCleanerThreads)
	}
	if eff.Sources["log.retention.ms"] != SourceDynamicDefault || eff.Sources["log.segment.bytes"] != SourceDynamicBroker {
		t.Fatalf("sources: %v %v", eff.Sources["log.retention.ms"], eff.Sources["log.segment.bytes"])
	}
	if static.LogRetentionMs != 24*3600*1000 || static.Raw["log.segment.bytes"] != "2097152" {
		t.Fatal("WithDynamic modified the static configuration")
	}
	// Topic defaults follow, with the dynamic source.
	v, src, _ := eff.TopicDefault("retention.ms")
	if v != "3600000" || src.KafkaConfigSource() != 3 {
		t.Fatalf("retention.ms default %s from %v", v, src)
	}
	if v, src, _ := eff.TopicDefault("segment.bytes"); v != "8388608" || src.KafkaConfigSource() != 2 {
		t.Fatalf("segment.bytes default %s from %v", v, src)
	}
	// Kafka resolves retention across layers by name: a dynamic
	// log.retention.hours does not beat a static log.retention.ms.
	ms, _, _ := Parse(map[string]string{"log.retention.ms": "1000"})
	eff, _ = ms.WithDynamic(map[string]string{"log.retention.hours": "5"}, nil)
	if eff.LogRetentionMs != 1000 {
		t.Fatalf("retention %d, want the static log.retention.ms", eff.LogRetentionMs)
	}
	if _, err := static.WithDynamic(map[string]string{"log.retention.ms": "0"}, nil); err == nil {
		t.Fatal("log.retention.ms=0 accepted")
	}
}

func TestValidateDynamicBrokerConfigs(t *testing.T) {
	for _, c := range []struct {
		name, value, want string
	}{
		{"log.retention.ms", "60000", ""},
		{"num.io.threads", "4", ""},
		{"log.retention.mss", "1", "unknown broker config name: log.retention.mss"},
		{"node.id", "2", "cannot update these configs dynamically: [node.id]"},
		{"listeners", "PLAINTEXT://:9092", "cannot update listeners dynamically"},
		{"ssl.keystore.location", "/x", "cannot update ssl.keystore.location dynamically"},
		{"log.segment.bytes", "huge", "log.segment.bytes"},
	} {
		err := ValidateDynamicBrokerConfigs(map[string]string{c.name: c.value}, true)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s=%s: %v", c.name, c.value, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s=%s: %v, want %q", c.name, c.value, err, c.want)
		}
	}
	if !IsDynamicBrokerConfig("log.retention.hours") || IsDynamicBrokerConfig("log.dirs") {
		t.Error("IsDynamicBrokerConfig")
	}
	if got := BrokerConfigSynonyms("log.retention.hours"); strings.Join(got, ",") != "log.retention.ms,log.retention.minutes,log.retention.hours" {
		t.Errorf("synonyms: %v", got)
	}
}

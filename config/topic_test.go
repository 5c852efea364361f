package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestTopicConfigDefaults(t *testing.T) {
	t.Parallel()
	tc, err := Default().TopicConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Topic{
		CleanupPolicy:               []string{"delete"},
		CompressionType:             "producer",
		CompressionGzipLevel:        -1,
		CompressionLz4Level:         9,
		CompressionZstdLevel:        3,
		MaxMessageBytes:             1048588,
		SegmentBytes:                1 << 30,
		SegmentMs:                   604800000,
		SegmentIndexBytes:           10485760,
		IndexIntervalBytes:          4096,
		RetentionMs:                 604800000,
		RetentionBytes:              -1,
		LocalRetentionMs:            -2,
		LocalRetentionBytes:         -2,
		DeleteRetentionMs:           86400000,
		MaxCompactionLagMs:          1<<63 - 1,
		MinCleanableDirtyRatio:      0.5,
		FileDeleteDelayMs:           60000,
		FlushMessages:               1<<63 - 1,
		FlushMs:                     1<<63 - 1,
		MessageTimestampType:        "CreateTime",
		MessageTimestampBeforeMaxMs: 1<<63 - 1,
		MessageTimestampAfterMaxMs:  3600000,
		MinInsyncReplicas:           1,
	}
	raw := tc.Raw
	tc.Raw = nil
	if !reflect.DeepEqual(*tc, want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", *tc, want)
	}
	if len(raw) != len(TopicConfigDefs()) {
		t.Errorf("Raw has %d entries, want %d", len(raw), len(TopicConfigDefs()))
	}
	if !tc.Delete() || tc.Compact() {
		t.Errorf("Delete/Compact = %v/%v", tc.Delete(), tc.Compact())
	}
	// The topic defaults agree with the documented defaults.
	for _, d := range TopicConfigDefs() {
		if raw[d.Name] != d.Default {
			t.Errorf("%s: effective default %q, documented %q", d.Name, raw[d.Name], d.Default)
		}
	}
}

func TestTopicConfigFromBroker(t *testing.T) {
	t.Parallel()
	b, _, err := Parse(map[string]string{
		"log.segment.bytes":          "2097152",
		"log.roll.hours":             "1",
		"log.retention.minutes":      "10",
		"log.cleanup.policy":         "compact",
		"compression.type":           "zstd",
		"message.max.bytes":          "2000000",
		"log.message.timestamp.type": "LogAppendTime",
		"min.insync.replicas":        "2",
		"log.flush.interval.ms":      "1000",
	})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := b.TopicConfig(map[string]string{"retention.ms": "-1", "segment.bytes": "1048576"})
	if err != nil {
		t.Fatal(err)
	}
	if tc.SegmentBytes != 1048576 || tc.SegmentMs != 3600000 || tc.RetentionMs != -1 ||
		!tc.Compact() || tc.CompressionType != "zstd" || tc.MaxMessageBytes != 2000000 ||
		tc.MessageTimestampType != LogAppendTime || tc.MinInsyncReplicas != 2 || tc.FlushMs != 1000 {
		t.Fatalf("topic config %+v", tc)
	}
	if tc.Raw["retention.ms"] != "-1" || tc.Raw["segment.ms"] != "3600000" {
		t.Errorf("Raw = %v", tc.Raw)
	}
	tc, _ = b.TopicConfig(nil)
	if tc.RetentionMs != 600000 || tc.SegmentBytes != 2097152 {
		t.Errorf("broker defaults not applied: %+v", tc)
	}
}

func TestValidateTopicConfigs(t *testing.T) {
	t.Parallel()
	ok := []map[string]string{
		nil,
		{"cleanup.policy": "compact,delete"},
		{"cleanup.policy": ""},
		{"segment.bytes": "1048576"},
		{"retention.ms": "-1"},
		{"min.cleanable.dirty.ratio": "0.01"},
		{"leader.replication.throttled.replicas": "*"},
		{"follower.replication.throttled.replicas": "0:1,1:2"},
		{"compression.gzip.level": "-1"},
		{"compression.zstd.level": "-5"},
		{"message.timestamp.type": "LogAppendTime"},
		{"remote.storage.enable": "false"},
		{"unclean.leader.election.enable": "true"},
	}
	for _, o := range ok {
		if err := ValidateTopicConfigs(o); err != nil {
			t.Errorf("ValidateTopicConfigs(%v): %v", o, err)
		}
	}
	bad := []struct {
		overrides map[string]string
		want      string
	}{
		{map[string]string{"segment.bytes": "1000"}, `invalid value "1000" for segment.bytes: must be at least 1048576`},
		{map[string]string{"segment.bytes": "x"}, `segment.bytes: not an integer`},
		{map[string]string{"segment.bytes": "3000000000"}, `segment.bytes: out of range`},
		{map[string]string{"no.such.config": "1"}, `unknown topic config name: no.such.config`},
		{map[string]string{"log.segment.bytes": "1048576"}, `unknown topic config name: log.segment.bytes`},
		{map[string]string{"message.timestamp.difference.max.ms": "1"}, `unknown topic config name: message.timestamp.difference.max.ms`},
		{map[string]string{"cleanup.policy": "compact,remove"}, `cleanup.policy: item "remove"`},
		{map[string]string{"compression.type": "brotli"}, `compression.type: must be one of`},
		{map[string]string{"retention.ms": "-2"}, `retention.ms: must be at least -1`},
		{map[string]string{"min.insync.replicas": "0"}, `min.insync.replicas: must be at least 1`},
		{map[string]string{"min.cleanable.dirty.ratio": "2"}, `min.cleanable.dirty.ratio: must be between 0 and 1`},
		{map[string]string{"max.compaction.lag.ms": "0"}, `max.compaction.lag.ms: must be at least 1`},
		{map[string]string{"message.timestamp.type": "Now"}, `message.timestamp.type: must be one of CreateTime, LogAppendTime`},
		{map[string]string{"preallocate": "1"}, `preallocate: not a boolean`},
		{map[string]string{"leader.replication.throttled.replicas": "0-1"}, `leader.replication.throttled.replicas`},
		{map[string]string{"compression.lz4.level": "18"}, `compression.lz4.level: must be between 1 and 17`},
		{map[string]string{"segment.index.bytes": "2"}, `segment.index.bytes: must be at least 4`},
		{map[string]string{"remote.storage.enable": "true"}, `remote.storage.enable`},
	}
	for _, tt := range bad {
		err := ValidateTopicConfigs(tt.overrides)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ValidateTopicConfigs(%v) = %v, want %q", tt.overrides, err, tt.want)
		}
	}
	// Cross-field: LogConfig.validateValues.
	_, err := Default().TopicConfig(map[string]string{"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"})
	if err == nil || !strings.Contains(err.Error(), "min.compaction.lag.ms (10) > max.compaction.lag.ms (5)") {
		t.Errorf("compaction lag conflict: %v", err)
	}
}

func TestTopicConfigDefsComplete(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"cleanup.policy", "compression.type", "delete.retention.ms", "file.delete.delay.ms",
		"flush.messages", "flush.ms", "follower.replication.throttled.replicas", "index.interval.bytes",
		"leader.replication.throttled.replicas", "local.retention.bytes", "local.retention.ms", "max.compaction.lag.ms",
		"max.message.bytes", "message.timestamp.after.max.ms", "message.timestamp.before.max.ms", "message.timestamp.type",
		"min.cleanable.dirty.ratio", "min.compaction.lag.ms", "min.insync.replicas", "preallocate", "remote.storage.enable",
		"retention.bytes", "retention.ms", "segment.bytes", "segment.index.bytes", "segment.jitter.ms", "segment.ms",
		"unclean.leader.election.enable", "compression.gzip.level", "compression.lz4.level", "compression.zstd.level"} {
		if !IsTopicConfig(name) {
			t.Errorf("missing topic config %s", name)
		}
	}
	defs := TopicConfigDefs()
	for i := 1; i < len(defs); i++ {
		if defs[i-1].Name >= defs[i].Name {
			t.Errorf("not sorted or duplicate at %s", defs[i].Name)
		}
	}
}

func TestTopicDefault(t *testing.T) {
	t.Parallel()
	b, _, err := Load("", []string{"KAFKA_LOG_RETENTION_HOURS=1"}, map[string]string{"log.roll.hours": "2", "log.segment.bytes": " 2097152 "})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		value  string
		source Source
	}{
		{"retention.ms", "3600000", SourceEnv},
		{"segment.ms", "7200000", SourceFlag},
		{"segment.bytes", "2097152", SourceFlag},
		{"max.message.bytes", "1048588", SourceDefault},
		{"flush.ms", maxInt64, SourceDefault},
		{"remote.storage.enable", "false", SourceDefault},
	}
	for _, tt := range tests {
		v, s, ok := b.TopicDefault(tt.name)
		if !ok || v != tt.value || s != tt.source {
			t.Errorf("TopicDefault(%s) = %q, %v, %v; want %q, %v", tt.name, v, s, ok, tt.value, tt.source)
		}
	}
	if _, _, ok := b.TopicDefault("log.segment.bytes"); ok {
		t.Error("TopicDefault accepted a broker property")
	}
	if b.Raw["log.segment.bytes"] != "2097152" {
		t.Errorf("Raw value not trimmed: %q", b.Raw["log.segment.bytes"])
	}
}

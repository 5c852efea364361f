package config

import (
	"os"
	"path/filepath"
	"testing"
)

// A broker started with no properties file runs as a single node with
// working group and transaction coordinators (the sample server.properties'
// values); a file, even an empty one, starts from Kafka's defaults; and
// env and flags override either.
func TestNoFileDefaults(t *testing.T) {
	check := func(name string, b *Broker, offsets, txn int16, minIsr int32) {
		t.Helper()
		if b.OffsetsTopicReplicationFactor != offsets || b.TransactionStateLogReplicationFactor != txn || b.TransactionStateLogMinIsr != minIsr {
			t.Errorf("%s: offsets rf %d, txn rf %d, txn min isr %d; want %d, %d, %d", name,
				b.OffsetsTopicReplicationFactor, b.TransactionStateLogReplicationFactor, b.TransactionStateLogMinIsr, offsets, txn, minIsr)
		}
	}
	b, _, err := Load("", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	check("no file", b, 1, 1, 1)
	if s := b.Sources["offsets.topic.replication.factor"]; s != SourceDefault {
		t.Errorf("no file: source %v, want the default", s)
	}

	empty := filepath.Join(t.TempDir(), "empty.properties")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	b, _, err = Load(empty, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	check("empty file", b, 3, 3, 2)

	b, _, err = Load("", []string{"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR=3"}, map[string]string{"transaction.state.log.min.isr": "2"})
	if err != nil {
		t.Fatal(err)
	}
	check("no file, env and flag", b, 3, 1, 2)
}

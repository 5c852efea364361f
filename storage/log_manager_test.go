package storage

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnsureFormattedAndMetaProperties(t *testing.T) {
	t.Parallel()
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	id, err := EnsureFormatted([]string{a, b}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(id) != 22 || strings.HasPrefix(id, "-") {
		t.Fatalf("cluster id %q", id)
	}
	mp, err := ReadMetaProperties(a)
	if err != nil || mp.NodeID != 3 || mp.ClusterID != id || mp.Version != 1 || len(mp.DirectoryID) != 22 {
		t.Fatalf("%+v %v", mp, err)
	}
	mpb, _ := ReadMetaProperties(b)
	if mpb.DirectoryID == mp.DirectoryID {
		t.Fatal("directory ids must differ")
	}
	data, _ := os.ReadFile(filepath.Join(a, MetaPropertiesFile))
	for _, line := range []string{"node.id=3\n", "version=1\n", "cluster.id=" + id + "\n", "directory.id="} {
		if !strings.Contains(string(data), line) {
			t.Fatalf("meta.properties lacks %q:\n%s", line, data)
		}
	}
	if again, err := EnsureFormatted([]string{a, b}, 3); err != nil || again != id {
		t.Fatalf("second start: %q %v", again, err)
	}
	if _, err := EnsureFormatted([]string{a}, 4); err == nil {
		t.Fatal("other node id accepted")
	}
	c := filepath.Join(t.TempDir(), "c")
	if err := FormatLogDirs([]string{c}, NewClusterID(), 3); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureFormatted([]string{a, c}, 3); err == nil {
		t.Fatal("dirs of different clusters accepted")
	}
	if err := FormatLogDirs([]string{a}, NewClusterID(), 3); err == nil {
		t.Fatal("reformat with another cluster id accepted")
	}
	if _, err := ReadMetaProperties(t.TempDir()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("unformatted: %v", err)
	}
}

func TestLogManagerLifecycle(t *testing.T) {
	t.Parallel()
	dirs := []string{t.TempDir(), t.TempDir()}
	if _, err := EnsureFormatted(dirs, 1); err != nil {
		t.Fatal(err)
	}
	cfg := LogConfig{SegmentBytes: 1500}
	m, err := NewLogManager(dirs, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	topicID := [16]byte{0xaa, 1}
	var tps []TopicPartition
	for p := int32(0); p < 4; p++ {
		tp := TopicPartition{Topic: "events", Partition: p}
		tps = append(tps, tp)
		l, err := m.GetOrCreateLog(tp, topicID, cfg)
		if err != nil {
			t.Fatal(err)
		}
		fillLog(t, l, 10+int(p))
		l.SetHighWatermark(int64(2 * (10 + int(p))))
	}
	// Placement: fewest partitions first, so two per dir.
	for _, d := range dirs {
		n := 0
		for _, tp := range tps {
			if got, _ := m.LogDir(tp); got == d {
				n++
			}
		}
		if n != 2 {
			t.Fatalf("dir %s holds %d partitions", d, n)
		}
	}
	if _, err := m.GetOrCreateLog(tps[0], [16]byte{0xbb}, cfg); !errors.Is(err, ErrInconsistentTopicID) {
		t.Fatalf("other topic id: %v", err)
	}
	if _, err := m.GetOrCreateLog(TopicPartition{Topic: "../x", Partition: 0}, topicID, cfg); err == nil {
		t.Fatal("bad topic name accepted")
	}
	if err := m.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	d0, _ := m.LogDir(tps[0])
	data, err := os.ReadFile(filepath.Join(d0, ReplicationCheckpointFile))
	if err != nil || !strings.HasPrefix(string(data), "0\n2\n") || !strings.Contains(string(data), "events 0 20\n") {
		t.Fatalf("replication-offset-checkpoint %q %v", data, err)
	}
	if err := m.DeleteLog(tps[3]); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Log(tps[3]); ok {
		t.Fatal("deleted log still listed")
	}
	leos := map[TopicPartition]int64{}
	for tp, l := range m.Logs() {
		leos[tp] = l.LogEndOffset()
	}
	if err := m.Shutdown(); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, CleanShutdownFile)); err != nil {
			t.Fatalf("no clean shutdown marker: %v", err)
		}
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "events-3") {
				t.Fatalf("deleted partition left %s", e.Name())
			}
		}
	}

	// Clean restart: same logs, same offsets, producer state from snapshots.
	m2, err := NewLogManager(dirs, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(m2.Logs()); got != 3 {
		t.Fatalf("%d logs after restart", got)
	}
	for tp, leo := range leos {
		l, ok := m2.Log(tp)
		if !ok || l.LogEndOffset() != leo || l.HighWatermark() != leo || l.TopicID() != topicID {
			t.Fatalf("%s after restart: %v", tp, l)
		}
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, CleanShutdownFile)); !os.IsNotExist(err) {
			t.Fatalf("marker not removed after load: %v", err)
		}
	}
	l0, _ := m2.Log(tps[0])
	checkProducerContinues(t, l0, 10)

	// Crash: no Shutdown, a torn tail. Recovery keeps the valid prefix.
	leo0 := l0.LogEndOffset()
	for _, l := range m2.Logs() {
		abandon(l)
	}
	half := makeBatch(t, batchSpec{n: 2})
	appendToFile(t, lastLogFile(t, l0.Dir()), half[:40])
	m3, err := NewLogManager(dirs, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	l0, _ = m3.Log(tps[0])
	if l0.LogEndOffset() != leo0 {
		t.Fatalf("LEO %d after crash, want %d", l0.LogEndOffset(), leo0)
	}
	r, err := l0.AppendAsLeader(makeBatch(t, batchSpec{n: 1, pid: 77, seq: 21}), 5, t0)
	if err != nil || r.FirstOffset != leo0 {
		t.Fatalf("producer after crash: %+v %v", r, err)
	}
	if err := m3.Shutdown(); err != nil {
		t.Fatal(err)
	}
}

func TestOffsetCheckpointFormat(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, RecoveryPointCheckpointFile)
	in := map[TopicPartition]int64{{"a", 0}: 5, {"b.c-d", 12}: 1 << 40}
	if err := WriteOffsetCheckpoint(osFS(), path, in); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if string(data) != "0\n2\na 0 5\nb.c-d 12 1099511627776\n" {
		t.Fatalf("%q", data)
	}
	out, err := ReadOffsetCheckpoint(osFS(), path)
	if err != nil || len(out) != 2 || out[TopicPartition{"b.c-d", 12}] != 1<<40 {
		t.Fatalf("%v %v", out, err)
	}
	for _, bad := range []string{"1\n0\n", "0\n2\na 0 5\n", "0\n1\na 0\n", "0\n1\na x 5\n", ""} {
		os.WriteFile(path, []byte(bad), 0o644)
		if _, err := ReadOffsetCheckpoint(osFS(), path); err == nil {
			t.Fatalf("accepted %q", bad)
		}
	}
	if m, err := ReadOffsetCheckpoint(osFS(), filepath.Join(dir, "missing")); err != nil || len(m) != 0 {
		t.Fatalf("missing: %v %v", m, err)
	}
}

func TestParseTopicPartitionDir(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		tp   TopicPartition
		ok   bool
	}{
		{"orders-0", TopicPartition{"orders", 0}, true},
		{"my-topic-12", TopicPartition{"my-topic", 12}, true},
		{"__consumer_offsets-49", TopicPartition{"__consumer_offsets", 49}, true},
		{"orders-0.abcdef-delete", TopicPartition{}, false},
		{"orders-0-future", TopicPartition{}, false},
		{"orders", TopicPartition{}, false},
		{"__cluster_metadata-0", TopicPartition{}, false},
		{"-1", TopicPartition{}, false},
		{"orders--1", TopicPartition{"orders-", 1}, true},
	}
	for _, tc := range tests {
		tp, ok := parseTopicPartitionDir(tc.name)
		if ok != tc.ok || tp != tc.tp {
			t.Errorf("%s: %v %v", tc.name, tp, ok)
		}
	}
}

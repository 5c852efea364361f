package server_test

import (
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riffle-io/riffle/config"
)

// partitionDirs maps each partition of topic to the log dir DescribeLogDirs
// reports it in, failing on a partition reported twice.
func partitionDirs(t testing.TB, adm *kadm.Client, topic string) map[int32]string {
	t.Helper()
	all, err := adm.DescribeAllLogDirs(ctxFor(t, requestTimeout), nil)
	if err != nil {
		t.Fatalf("DescribeLogDirs: %v", err)
	}
	out := map[int32]string{}
	for _, d := range all[1] {
		if d.Err != nil {
			t.Fatalf("log dir %s: %v", d.Dir, d.Err)
		}
		for p, dp := range d.Topics[topic] {
			if prev, dup := out[p]; dup {
				t.Fatalf("partition %d in %s and %s", p, prev, d.Dir)
			}
			if dp.Size <= 0 {
				t.Fatalf("partition %d in %s: size %d", p, d.Dir, dp.Size)
			}
			out[p] = d.Dir
		}
	}
	return out
}

// TestAdminAlterReplicaLogDirs reproduces kafka-reassign-partitions.sh
// --execute with log dirs on a broker with two log dirs: AlterReplicaLogDirs
// moves both partitions of a topic into one dir, DescribeLogDirs shows them
// there, every record written before and after the move reads back, and
// the placement survives a restart.
func TestAdminAlterReplicaLogDirs(t *testing.T) {
	t.Parallel()
	second, _ := filepath.Abs(t.TempDir())
	var first string
	tb := startBroker(t, func(c *config.Broker) {
		c.LogDirs = append(c.LogDirs, second)
	})
	first, _ = filepath.Abs(tb.dir)
	adm := newAdmin(t, tb.addr())
	const topic, parts = "moving", 2
	createTopic(t, adm, topic, parts, nil)
	cl := newClient(t, tb.addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	base := genBase()
	produceGenerated(t, cl, topic, 0, 300, parts, base, nil)

	before := partitionDirs(t, adm, topic)
	if len(before) != parts {
		t.Fatalf("before the move: %v", before)
	}
	// Move everything into the dir that does not hold partition 0.
	target := first
	if before[0] == first {
		target = second
	}
	var req kadm.AlterReplicaLogDirsReq
	req.Add(target, kadm.TopicsSet{topic: {0: {}, 1: {}}})
	res, err := adm.AlterAllReplicaLogDirs(ctxFor(t, requestTimeout), req)
	if err != nil {
		t.Fatalf("AlterReplicaLogDirs: %v", err)
	}
	n := 0
	res.Each(func(r kadm.AlterReplicaLogDirsResponse) {
		n++
		if r.Err != nil {
			t.Errorf("move %s/%d to %s: %v", r.Topic, r.Partition, r.Dir, r.Err)
		}
	})
	if n != parts {
		t.Fatalf("%d partitions answered, want %d", n, parts)
	}
	if after := partitionDirs(t, adm, topic); after[0] != target || after[1] != target {
		t.Fatalf("after the move: %v, want both in %s", after, target)
	}

	// The moved partitions take appends and serve everything.
	produceGenerated(t, cl, topic, 300, 600, parts, base, nil)
	consumeGenerated(t, tb.addr(), topic, 600, parts, base)

	tb.restart()
	adm = newAdmin(t, tb.addr())
	if after := partitionDirs(t, adm, topic); after[0] != target || after[1] != target {
		t.Fatalf("after a restart: %v, want both in %s", after, target)
	}
	cl = newClient(t, tb.addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceGenerated(t, cl, topic, 600, 700, parts, base, nil)
	consumeGenerated(t, tb.addr(), topic, 700, parts, base)
}

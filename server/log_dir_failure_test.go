package server_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
	"github.com/riffle-io/riffle/protocol/records"
	"github.com/riffle-io/riffle/server"
	"github.com/riffle-io/riffle/storage/vfs"
)

// TestLogDirFailureMovesLeadership: three nodes with two log dirs each, a
// topic with RF=3 and min.insync.replicas=2, and a franz-go acks=all
// producer. Writes to one log dir of node 3 start failing: the dir goes
// offline, node 3 reports it in its heartbeat and the controller moves
// leadership of the replicas in it to the other nodes and takes them out
// of the ISRs, within a bounded time, while node 3 keeps serving its other
// dir. kadm sees the dir with KAFKA_STORAGE_ERROR (DescribeLogDirs) and
// node 3 among the partitions' offline replicas (Metadata). Every
// acknowledged record is consumed back. Restarted on a repaired disk, node
// 3 catches up and rejoins every ISR.
func TestLogDirFailureMovesLeadership(t *testing.T) {
	second := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	tc := newTestCluster(t, 3, func(id int32, c *config.Broker) {
		c.LogDirs = []string{c.LogDirs[0], second[id-1]}
		c.ReplicaLagTimeMaxMs = 2000
		c.ReplicaFetchWaitMaxMs = 100
		c.ReplicaFetchBackoffMs = 100
	})
	faulty := vfs.NewErrorFS(vfs.Default)
	tc.node(2).prepare = func(b *server.Broker) { b.SetStorageFS(faulty) }
	tc.startAll()
	addrs := tc.addrs()
	adm := kadm.NewClient(newClient(t, addrs[0]))
	const topic, partitions = "logdirs", 6
	two := "2"
	if _, err := adm.CreateTopic(ctxFor(t, requestTimeout), partitions, 3, map[string]*string{"min.insync.replicas": &two}, topic); err != nil {
		t.Fatal(err)
	}
	// metadata asks node 1 or 2 (node 3's own answers are no different,
	// but these nodes keep a healthy view throughout).
	healthy := kadm.NewClient(newClient(t, addrs[0]))
	metadata := func() kadm.TopicDetail {
		m, err := healthy.Metadata(ctxFor(t, requestTimeout), topic)
		if err != nil {
			return kadm.TopicDetail{}
		}
		return m.Topics[topic]
	}
	if !poll(requestTimeout, func() bool {
		td := metadata()
		for p := range int32(partitions) {
			if pd, ok := td.Partitions[p]; !ok || pd.Leader < 0 || len(pd.ISR) != 3 {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("the topic never had leaders and full ISRs: %+v", metadata())
	}
	// Node 3's replicas are placed in its two dirs and the controller
	// has recorded where (AssignReplicasToDirs).
	var dirs kadm.DescribedLogDirs
	hosted := func() int {
		n := 0
		for _, ld := range dirs {
			n += len(ld.Topics[topic])
		}
		return n
	}
	if !poll(requestTimeout, func() bool {
		var err error
		dirs, err = adm.DescribeBrokerLogDirs(ctxFor(t, requestTimeout), 3, nil)
		return err == nil && hosted() == partitions && tc.node(2).b.PendingDirAssignments() == 0
	}) {
		t.Fatalf("node 3 hosts %d partitions, %d not recorded in their log dirs", hosted(), tc.node(2).b.PendingDirAssignments())
	}
	// The dir to fail holds a partition node 3 leads.
	td := metadata()
	var failDir string
	var failed []int32
	for d, ld := range dirs {
		for p := range ld.Topics[topic] {
			if td.Partitions[p].Leader == 3 {
				failDir = d
			}
		}
	}
	if failDir == "" {
		t.Fatalf("node 3 leads no partition of %s: %+v", topic, td.Partitions)
	}
	for p := range dirs[failDir].Topics[topic] {
		failed = append(failed, p)
	}
	slices.Sort(failed)
	t.Logf("failing %s on node 3, holding partitions %v", failDir, failed)

	// A producer runs throughout, bounded in count and time.
	prod := newClient(t, addrs[0], kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(60*time.Second))
	var (
		mu        sync.Mutex
		acked     = map[string]bool{}
		afterFail int
		failing   bool
	)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		deadline := time.Now().Add(3 * time.Minute)
		for i := 0; i < 20000 && time.Now().Before(deadline); i++ {
			select {
			case <-stop:
				return
			default:
			}
			v := fmt.Sprintf("v-%d", i)
			r := &kgo.Record{Key: []byte(fmt.Sprintf("k-%d", i)), Value: []byte(v)}
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			err := prod.ProduceSync(ctx, r).FirstErr()
			cancel()
			if err != nil {
				continue // not acknowledged: may or may not be there
			}
			mu.Lock()
			acked[v] = true
			if failing {
				afterFail++
			}
			mu.Unlock()
		}
	}()
	countAcked := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	if !poll(requestTimeout, func() bool { return countAcked() >= 200 }) {
		t.Fatalf("only %d records acknowledged before the failure", countAcked())
	}

	mu.Lock()
	failing = true
	mu.Unlock()
	start := time.Now()
	t.Logf("injecting write errors at %s", start.UTC().Format("15:04:05.000"))
	faulty.SetFail(func(op vfs.Op, name string) bool {
		return op == vfs.OpWrite && strings.HasPrefix(name, failDir+string(filepath.Separator))
	})
	moved := func() bool {
		td := metadata()
		for _, p := range failed {
			pd := td.Partitions[p]
			if pd.Leader < 0 || pd.Leader == 3 || slices.Contains(pd.ISR, 3) || !slices.Contains(pd.OfflineReplicas, 3) {
				return false
			}
		}
		return true
	}
	if !poll(60*time.Second, moved) {
		t.Fatalf("leadership did not move off node 3's failed dir: %+v", metadata().Partitions)
	}
	took := time.Since(start)
	t.Logf("leadership moved off the failed dir %v after the fault was injected", took.Round(time.Millisecond))
	// Node 3 stays up and in the ISRs of its replicas in the healthy dir,
	// which are not offline.
	td = metadata()
	for p, pd := range td.Partitions {
		if slices.Contains(failed, p) {
			continue
		}
		if slices.Contains(pd.OfflineReplicas, 3) {
			t.Fatalf("partition %d in node 3's healthy dir reported offline: %+v", p, pd)
		}
	}
	dirs, err := adm.DescribeBrokerLogDirs(ctxFor(t, requestTimeout), 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	for d, ld := range dirs {
		switch {
		case d == failDir && !errors.Is(ld.Err, kerr.KafkaStorageError):
			t.Fatalf("DescribeLogDirs of the failed dir: %v, want KAFKA_STORAGE_ERROR", ld.Err)
		case d != failDir && ld.Err != nil:
			t.Fatalf("DescribeLogDirs of the healthy dir %s: %v", d, ld.Err)
		}
	}

	// Acknowledgements go on after the failure.
	if !poll(60*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return afterFail >= 200
	}) {
		t.Fatalf("only %d records acknowledged after the failure", afterFail)
	}
	close(stop)
	<-done
	want := countAcked()

	// Every acknowledged record is there.
	cons := newClient(t, addrs[0], kgo.SeedBrokers(addrs[0], addrs[1]), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]bool{}
	ctx := ctxFor(t, readTimeout)
	for missing := want; missing > 0; {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%d of %d acknowledged records never consumed", missing, want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			if acked[v] && !seen[v] {
				seen[v] = true
				missing--
			}
		})
	}
	t.Logf("%d acknowledged records, all consumed back", want)

	// Repaired: node 3 restarts on a healthy disk, catches up, and its
	// replicas are online and in sync again.
	tc.stop(2)
	tc.node(2).prepare = nil
	tc.start(2)
	if !poll(readTimeout, func() bool {
		td := metadata()
		for p := range int32(partitions) {
			pd := td.Partitions[p]
			if len(pd.ISR) != 3 || len(pd.OfflineReplicas) != 0 {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("node 3 did not rejoin every ISR: %+v", metadata().Partitions)
	}
	dirs, err = adm.DescribeBrokerLogDirs(ctxFor(t, requestTimeout), 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	for d, ld := range dirs {
		if ld.Err != nil {
			t.Fatalf("DescribeLogDirs of %s after the restart: %v", d, ld.Err)
		}
	}
}

// TestLogDirFailureSingleBroker: one broker with two log dirs. A produce
// whose write fails answers KAFKA_STORAGE_ERROR and takes its dir offline:
// the partition there has no leader and lists the broker as an offline
// replica, the dir is KAFKA_STORAGE_ERROR in DescribeLogDirs, and the
// partition in the other dir keeps taking writes. When the second dir
// fails too the broker stops, as Kafka's halts. Restarted on a repaired
// disk, it serves every acknowledged record of both partitions.
func TestLogDirFailureSingleBroker(t *testing.T) {
	t.Parallel()
	second := t.TempDir()
	faulty := vfs.NewErrorFS(vfs.Default)
	tb := &testBroker{t: t, dir: t.TempDir(), opts: []func(*config.Broker){func(c *config.Broker) {
		c.LogDirs = append(c.LogDirs, second)
	}}, prepare: func(b *server.Broker) { b.SetStorageFS(faulty) }}
	tb.start()
	t.Cleanup(func() {
		if tb.running {
			tb.stop()
		}
	})
	adm := newAdmin(t, tb.addr())
	createTopic(t, adm, "a", 1, nil)
	createTopic(t, adm, "b", 1, nil)
	cl := newClient(t, tb.addr())
	for _, topic := range []string{"a", "b"} {
		for range 3 {
			if code := lcRawProduce(t, cl, topic); code != 0 {
				t.Fatalf("produce to %s: %v", topic, kerr.ErrorForCode(code))
			}
		}
	}
	dirs, err := adm.DescribeBrokerLogDirs(ctxFor(t, requestTimeout), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	dirOf := map[string]string{}
	for d, ld := range dirs {
		for topic := range ld.Topics {
			dirOf[topic] = d
		}
	}
	if dirOf["a"] == "" || dirOf["b"] == "" || dirOf["a"] == dirOf["b"] {
		t.Fatalf("partitions placed in %v", dirOf)
	}

	sep := string(filepath.Separator)
	faulty.SetFail(func(op vfs.Op, name string) bool {
		return op == vfs.OpWrite && strings.Contains(name, sep+"a-0"+sep)
	})
	if code := lcRawProduce(t, cl, "a"); code != kerr.KafkaStorageError.Code {
		t.Fatalf("produce whose write fails: %v, want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(code))
	}
	if !poll(requestTimeout, func() bool {
		m, err := adm.Metadata(ctxFor(t, requestTimeout), "a")
		if err != nil {
			return false
		}
		pd := m.Topics["a"].Partitions[0]
		return pd.Leader == -1 && slices.Equal(pd.OfflineReplicas, []int32{1})
	}) {
		t.Fatal("the partition in the failed dir kept its leader or was not reported offline")
	}
	dirs, err = adm.DescribeBrokerLogDirs(ctxFor(t, requestTimeout), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := dirs[dirOf["a"]].Err; !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("DescribeLogDirs of the failed dir: %v", err)
	}
	if err := dirs[dirOf["b"]].Err; err != nil {
		t.Fatalf("DescribeLogDirs of the healthy dir: %v", err)
	}
	if code := lcRawProduce(t, cl, "b"); code != 0 {
		t.Fatalf("produce to the healthy dir: %v", kerr.ErrorForCode(code))
	}

	// The last dir fails: the broker stops.
	faulty.SetFail(func(op vfs.Op, name string) bool {
		return op == vfs.OpWrite && strings.Contains(name, sep+"b-0"+sep)
	})
	tds, err := adm.ListTopics(ctxFor(t, requestTimeout), "b")
	if err != nil {
		t.Fatal(err)
	}
	lcRawProduceNoFatal(cl, "b", tds["b"].ID)
	select {
	case <-tb.b.Halted():
	case <-time.After(requestTimeout):
		t.Fatal("the broker did not stop after its last log dir failed")
	}
	tb.running = false // halted: it closed itself
	if !poll(requestTimeout, func() bool {
		c, err := net.DialTimeout("tcp", tb.addr(), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	}) {
		t.Fatal("the halted broker still accepts connections")
	}

	// Repaired: both partitions serve their acknowledged records.
	tb.prepare = nil
	tb.start()
	cl = newClient(t, tb.addr())
	want := map[string]int64{"a": 3, "b": 4}
	for topic, n := range want {
		if !poll(requestTimeout, func() bool {
			fp := lcFetch(t, cl, topic, 0)
			got := int64(0)
			for b := fp.RecordBatches; len(b) > 0; {
				batch, rest, err := records.ReadBatch(b)
				if err != nil {
					break
				}
				got += int64(batch.NumRecords())
				b = rest
			}
			return fp.ErrorCode == 0 && got >= n
		}) {
			t.Fatalf("%s after the restart does not serve its %d acknowledged records", topic, n)
		}
	}
}

// lcRawProduceNoFatal sends one acks=all record to partition 0 and
// ignores the outcome: the broker may be stopping.
func lcRawProduceNoFatal(cl *kgo.Client, topic string, id [16]byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := records.Build(records.BatchHeader{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, PartitionLeaderEpoch: -1},
		records.CodecNone, []records.Record{{Value: []byte("x")}})
	if err != nil {
		return
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = b
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	_, _ = req.RequestWith(ctx, cl)
}

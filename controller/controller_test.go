package controller

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/riffle-io/riffle/internal/freeport"
)

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func startController(t testing.TB, dir string) *Controller {
	t.Helper()
	return startControllerWith(t, dir, nil)
}

// startControllerWith is startController with the config adjusted by opt.
func startControllerWith(t testing.TB, dir string, opt func(*Config)) *Controller {
	t.Helper()
	cfg := Config{
		NodeID:                   1,
		ClusterID:                "riffle-test",
		Dir:                      dir,
		ListenAddr:               "127.0.0.1:0",
		DefaultNumPartitions:     2,
		DefaultReplicationFactor: 1,
		Logger:                   testLogger(t),
	}
	if opt != nil {
		opt(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

func registerSelf(t testing.TB, c *Controller) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.registerBroker(ctx, BrokerRegistration{
		ID:        1,
		Endpoints: []Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9092, SecurityProtocol: "PLAINTEXT"}},
		Rack:      "r1",
	})
	if err != nil {
		t.Fatal(err)
	}
}

func mustCreate(t testing.TB, c *Controller, specs ...TopicSpec) []CreateTopicResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res := c.CreateTopics(ctx, specs, false)
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("create %s: %v", r.Name, r.Err)
		}
	}
	return res
}

// sameState compares the replicated parts of two images.
func sameState(a, b *Image) error {
	switch {
	case a.ClusterID != b.ClusterID:
		return fmt.Errorf("cluster id %q vs %q", a.ClusterID, b.ClusterID)
	case !reflect.DeepEqual(a.Topics, b.Topics):
		return fmt.Errorf("topics %v vs %v", a.SortedTopicNames(), b.SortedTopicNames())
	case !reflect.DeepEqual(a.TopicsByID, b.TopicsByID):
		return errors.New("topic ids differ")
	case !reflect.DeepEqual(a.Brokers, b.Brokers):
		return fmt.Errorf("brokers %v vs %v", a.SortedBrokerIDs(), b.SortedBrokerIDs())
	case a.NextProducerID != b.NextProducerID:
		return fmt.Errorf("next producer id %d vs %d", a.NextProducerID, b.NextProducerID)
	}
	return nil
}

func TestControllerSingleVoterRestart(t *testing.T) {
	dir := t.TempDir()
	began := time.Now()
	c := startController(t, dir)
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("single-voter start took %v", d)
	}
	if !c.IsActive() || c.Image().ControllerID != 1 || c.Addr() == "" || strings.HasPrefix(c.Addr(), "0.0.0.0") {
		t.Fatalf("after start: active %v, controller id %d, addr %q", c.IsActive(), c.Image().ControllerID, c.Addr())
	}

	var mu sync.Mutex
	var events [][2]*Image
	c.Subscribe(func(prev, next *Image) {
		mu.Lock()
		events = append(events, [2]*Image{prev, next})
		mu.Unlock()
	})

	registerSelf(t, c)
	registerSelf(t, c) // idempotent: no second entry
	res := mustCreate(t, c,
		TopicSpec{Name: "orders", NumPartitions: 3, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "1000"}},
		TopicSpec{Name: "defaults", NumPartitions: -1, ReplicationFactor: -1})
	if res[1].NumPartitions != 2 || res[1].ReplicationFactor != 1 {
		t.Fatalf("defaults not applied: %+v", res[1])
	}
	im := c.Image()
	if tp, ok := im.Topic("orders"); !ok || len(tp.Partitions) != 3 || tp.ID != res[0].TopicID {
		t.Fatalf("orders in image: %+v", tp)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	again := c.CreateTopics(ctx, []TopicSpec{{Name: "orders", NumPartitions: 1, ReplicationFactor: 1}}, false)
	if !errors.Is(again[0].Err, kerr.TopicAlreadyExists) {
		t.Fatalf("create again: %v", again[0].Err)
	}
	huge := c.CreateTopics(ctx, []TopicSpec{{Name: "huge", NumPartitions: 1<<31 - 1, ReplicationFactor: 1}}, false)
	if !errors.Is(huge[0].Err, kerr.PolicyViolation) {
		t.Fatalf("create huge: %v", huge[0].Err)
	}
	dry := c.CreateTopics(ctx, []TopicSpec{{Name: "dry", NumPartitions: 1, ReplicationFactor: 1}}, true)
	if dry[0].Err != nil || dry[0].TopicID == ([16]byte{}) {
		t.Fatalf("validate only: %+v", dry[0])
	}
	if _, ok := c.Image().Topic("dry"); ok {
		t.Fatal("validate-only created a topic")
	}
	// Large entries (MiBs each, more than a raft-wal segment holds when
	// counted with their neighbours) travel through raft whole: the most
	// partitions one request may add, twice.
	wideCtx, wideCancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer wideCancel()
	wide := c.CreateTopics(wideCtx, []TopicSpec{{Name: "wide", NumPartitions: MaxRecordsPerUserOp, ReplicationFactor: 1}}, false)
	if wide[0].Err != nil {
		t.Fatalf("wide: %v", wide[0].Err)
	}
	if err := c.CreatePartitions(wideCtx, "wide", 2*MaxRecordsPerUserOp, false); err != nil {
		t.Fatalf("widen: %v", err)
	}
	if tp, _ := c.Image().Topic("wide"); tp == nil || len(tp.Partitions) != 2*MaxRecordsPerUserOp {
		t.Fatalf("wide in image: %v", tp)
	}
	if err := c.CreatePartitions(ctx, "orders", 5, false); err != nil {
		t.Fatal(err)
	}
	if err := c.CreatePartitions(ctx, "orders", 4, false); !errors.Is(err, kerr.InvalidPartitions) {
		t.Fatalf("shrink: %v", err)
	}
	v := "compact"
	if err := c.SetTopicConfigs(ctx, "orders", map[string]*string{"cleanup.policy": &v, "retention.ms": nil}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetTopicConfigs(ctx, "missing", map[string]*string{"cleanup.policy": &v}); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("configs of missing topic: %v", err)
	}
	first, err := c.AllocateProducerIDs(ctx, 1000)
	if err != nil || first != 0 {
		t.Fatalf("producer ids: %d %v", first, err)
	}
	del := c.DeleteTopics(ctx, []TopicRef{{Name: "defaults"}, {ID: [16]byte{1}}})
	if del[0].Err != nil || del[0].TopicID != res[1].TopicID || !errors.Is(del[1].Err, kerr.UnknownTopicID) {
		t.Fatalf("delete: %+v", del)
	}

	// Subscribers see a gapless chain of images starting from empty.
	want := c.Image()
	waitFor(t, "subscriber to catch up", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(events) > 0 && events[len(events)-1][1].Offset == want.Offset
	})
	mu.Lock()
	if len(events[0][0].Topics) != 0 {
		t.Error("first event does not start from the empty image")
	}
	for i := 1; i < len(events); i++ {
		if events[i][0].Offset != events[i-1][1].Offset {
			t.Errorf("event %d starts at offset %d, previous ended at %d", i, events[i][0].Offset, events[i-1][1].Offset)
		}
	}
	mu.Unlock()

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	// Metadata survives a clean restart, on a new port.
	c2 := startController(t, dir)
	defer c2.Close()
	if err := sameState(c2.Image(), want); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if c2.Image().Offset != want.Offset {
		t.Fatalf("offset %d after restart, want %d", c2.Image().Offset, want.Offset)
	}
	tp, _ := c2.Image().Topic("orders")
	if len(tp.Partitions) != 5 || tp.Configs["cleanup.policy"] != "compact" || tp.Configs["retention.ms"] != "" {
		t.Fatalf("orders after restart: %+v", tp)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if first, err := c2.AllocateProducerIDs(ctx2, 10); err != nil || first != 1000 {
		t.Fatalf("producer ids after restart: %d %v (ids must never repeat)", first, err)
	}
	mustCreate(t, c2, TopicSpec{Name: "after-restart", NumPartitions: 1, ReplicationFactor: 1})
}

func TestControllerSnapshotRestore(t *testing.T) {
	dir := t.TempDir()
	c := startController(t, dir)
	registerSelf(t, c)
	mustCreate(t, c, TopicSpec{Name: "before", NumPartitions: 2, ReplicationFactor: 1})
	if err := c.raft().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, c, TopicSpec{Name: "after", NumPartitions: 1, ReplicationFactor: 1})
	want := c.Image()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c2 := startController(t, dir)
	defer c2.Close()
	if err := sameState(c2.Image(), want); err != nil {
		t.Fatalf("after snapshot restore and replay: %v", err)
	}
	snaps, err := os.ReadDir(filepath.Join(dir, "snapshots"))
	if err != nil || len(snaps) == 0 {
		t.Fatalf("no snapshot on disk: %v", err)
	}
	// A late subscriber gets the whole image once, from empty.
	got := make(chan []string, 1)
	c2.Subscribe(func(prev, next *Image) {
		if len(prev.Topics) == 0 {
			got <- next.SortedTopicNames()
		}
	})
	select {
	case names := <-got:
		if !reflect.DeepEqual(names, []string{"after", "before"}) {
			t.Fatalf("initial subscription saw %v", names)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no initial subscription event")
	}
}

func TestControllerSecondProcessRefused(t *testing.T) {
	dir := t.TempDir()
	c := startController(t, dir)
	defer c.Close()
	c2, err := New(Config{NodeID: 1, Dir: dir, ListenAddr: "127.0.0.1:0", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c2.Start(ctx); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second controller on one dir: %v", err)
	}
}

func TestControllerNotStarted(t *testing.T) {
	c, err := New(Config{NodeID: 1, Dir: t.TempDir(), ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Image() == nil {
		t.Fatal("nil image before start")
	}
	res := c.CreateTopics(context.Background(), []TopicSpec{{Name: "t", NumPartitions: 1, ReplicationFactor: 1}}, false)
	if !errors.Is(res[0].Err, kerr.NotController) {
		t.Fatalf("create before start: %v", res[0].Err)
	}
	if _, err := New(Config{NodeID: 5, Dir: "x", ListenAddr: ":0", Voters: []Voter{{1, "h:1"}}}); err == nil {
		t.Fatal("node outside the voters accepted")
	}
}

// crashEnv names the metadata dir for TestCrashHelper, run as a child process.
const crashEnv = "RIFFLE_CONTROLLER_CRASH_DIR"

// TestCrashHelper is the child half of TestControllerCrashRecovery: it writes
// metadata, reports it, and waits to be killed. Without crashEnv it is a no-op.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		return
	}
	c := startController(t, dir)
	registerSelf(t, c)
	mustCreate(t, c, TopicSpec{Name: "survivor", NumPartitions: 4, ReplicationFactor: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.AllocateProducerIDs(ctx, 500); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("READY %d\n", c.Image().Offset)
	os.Stdout.Sync()
	time.Sleep(60 * time.Second) // the parent kills us long before this
}

func TestControllerCrashRecovery(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "READY ") {
				ready <- line
				break
			}
		}
		close(ready)
		io.Copy(io.Discard, out)
	}()
	select {
	case line, ok := <-ready:
		if !ok {
			cmd.Wait()
			t.Fatal("child exited without becoming ready")
		}
		t.Logf("child: %s", line)
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("child not ready within 30s")
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no Close, no flush
		t.Fatal(err)
	}
	cmd.Wait()

	c := startController(t, dir)
	defer c.Close()
	im := c.Image()
	tp, ok := im.Topic("survivor")
	if !ok || len(tp.Partitions) != 4 || im.Brokers[1] == nil || im.NextProducerID != 500 {
		t.Fatalf("after crash: topics %v, brokers %v, next producer id %d", im.SortedTopicNames(), im.SortedBrokerIDs(), im.NextProducerID)
	}
	mustCreate(t, c, TopicSpec{Name: "after-crash", NumPartitions: 1, ReplicationFactor: 1})
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// freePorts returns n distinct loopback addresses that were free a moment ago.
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		p, err := freeport.Port()
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", p))
	}
	return addrs
}

func TestControllerThreeVoters(t *testing.T) {
	addrs := freePorts(t, 3)
	var voters []Voter
	for i, a := range addrs {
		voters = append(voters, Voter{ID: int32(i + 1), Addr: a})
	}
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	start := func(i int) (*Controller, error) {
		c, err := New(Config{
			NodeID: int32(i + 1), ClusterID: "riffle-3", Dir: dirs[i], ListenAddr: addrs[i],
			Voters: voters, DefaultNumPartitions: 1, DefaultReplicationFactor: 3, Logger: testLogger(t),
		})
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		return c, c.Start(ctx)
	}
	nodes := make([]*Controller, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() { nodes[i], errs[i] = start(i) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
	}
	defer func() {
		for _, c := range nodes {
			if c != nil {
				c.Close()
			}
		}
	}()

	leader := func(except int) int {
		t.Helper()
		found := -1
		waitFor(t, "a leader", func() bool {
			for i, c := range nodes {
				if i != except && c != nil && c.IsActive() {
					found = i
					return true
				}
			}
			return false
		})
		return found
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l := leader(-1)
	for i := range nodes {
		err := nodes[l].registerBroker(ctx, BrokerRegistration{ID: int32(i + 1), Endpoints: []Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: int32(9092 + i), SecurityProtocol: "PLAINTEXT"}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	mustCreate(t, nodes[l], TopicSpec{Name: "replicated", NumPartitions: 3, ReplicationFactor: -1})

	f := (l + 1) % 3
	res := nodes[f].CreateTopics(ctx, []TopicSpec{{Name: "on-follower", NumPartitions: 1, ReplicationFactor: 1}}, false)
	if !errors.Is(res[0].Err, kerr.NotController) {
		t.Fatalf("create on a follower: %v", res[0].Err)
	}
	want := nodes[l].Image()
	for i, c := range nodes {
		waitFor(t, fmt.Sprintf("node %d to converge", i+1), func() bool {
			return sameState(c.Image(), want) == nil && c.Image().ControllerID == int32(l+1)
		})
	}
	if tp, _ := want.Topic("replicated"); len(tp.Partitions[0].Replicas) != 3 {
		t.Fatalf("replicas %v, want 3", tp.Partitions[0].Replicas)
	}

	// The leader dies; the other two elect a leader whose image holds
	// everything committed before.
	old := l
	if err := nodes[old].Close(); err != nil {
		t.Fatal(err)
	}
	nodes[old] = nil
	l = leader(old)
	res = nodes[l].CreateTopics(ctx, []TopicSpec{{Name: "replicated", NumPartitions: 1, ReplicationFactor: 1}}, false)
	if !errors.Is(res[0].Err, kerr.TopicAlreadyExists) {
		t.Fatalf("new leader re-created an existing topic: %v", res[0].Err)
	}
	mustCreate(t, nodes[l], TopicSpec{Name: "after-failover", NumPartitions: 1, ReplicationFactor: 2})

	// The old leader comes back and catches up.
	c, err := start(old)
	if err != nil {
		t.Fatal(err)
	}
	nodes[old] = c
	want = nodes[l].Image()
	waitFor(t, "restarted node to catch up", func() bool { return sameState(c.Image(), want) == nil })
}

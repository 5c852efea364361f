// Command chaos runs a fault-injection test against a Kafka-compatible
// cluster in Docker containers and judges what the clients saw.
//
// It creates a topic (replication factor -rf, min.insync.replicas
// -min-isr), runs idempotent acks=all producers at a steady rate whose
// record values say who wrote them ("p=<producer> s=<sequence>"), a
// transactional producer that aborts one transaction in three, two live
// consumers (read_uncommitted and read_committed), and optionally an
// exactly-once consume-transform-produce pipeline; meanwhile it injects
// faults on a schedule (-dry-run prints it): kill -9 the leader of a
// partition and restart it, cut the leader off from its peers, pause a
// node past the session timeout, a rolling restart, kills of the
// pipeline's coordinators. Then it reads every partition back at both
// isolation levels and hands the history to compat-tests/chaos/checker.
//
//	chaos -seeds 127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096 \
//	      -nodes 1=riffle-1,2=riffle-2,3=riffle-3 [-short] [-history h.json]
//	chaos -dry-run [-short]         # print the fault schedule only
//	chaos -check h.json             # judge a saved history again
//
// Exit status: 0 clean, 1 anomalies, 2 the harness could not do its job
// (a fault not injected, the final read incomplete, bad flags).
// docker/chaos.sh (make chaos) brings a cluster up around it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/riffle-io/riffle/compat-tests/chaos/checker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

type config struct {
	seeds           []string
	nodes           map[int32]string // node id → container
	runID           string
	topic           string
	partitions      int
	rf              int
	minISR          string
	producers       int
	rate            float64
	scenarios       map[string]bool
	warmup          time.Duration
	killFor         time.Duration
	killEvery       time.Duration
	killDown        time.Duration
	isolateFor      time.Duration
	pauseFor        time.Duration
	settle          time.Duration
	stopGrace       time.Duration
	drain           time.Duration
	idle            time.Duration
	deliveryTimeout time.Duration
	maxErrLog       int
	compareReplicas bool
	// hosts maps the host names of the nodes' containers to the containers
	// (-resolve-containers): clients then dial container addresses directly.
	hosts map[string]string

	done chan struct{} // closed when clients may close

	errMu   sync.Mutex
	errN    int
	errSeen map[string]int
}

func (c *config) has(s string) bool { return c.scenarios[s] }

// logErr counts client errors and prints the first of each kind.
func (c *config) logErr(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	// The kind is the message without its numbers (producer ids,
	// partitions, offsets), so that one failure on many records counts once.
	kind := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return -1
		}
		return r
	}, msg)
	c.errMu.Lock()
	defer c.errMu.Unlock()
	c.errN++
	c.errSeen[kind]++
	if c.errSeen[kind] <= c.maxErrLog {
		log.Print("client error: ", msg)
	}
}

const allScenarios = "kill,isolate,pause,rolling,txn,eos"

// selfTest scenarios are never in the default set: they break the cluster
// on purpose to show that the checker notices.
const selfTests = "wipe"

func main() {
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	c := &config{done: make(chan struct{}), errSeen: map[string]int{}, scenarios: map[string]bool{}}
	seeds := flag.String("seeds", os.Getenv("BROKER_SEEDS"), "client listeners, comma-separated (default $BROKER_SEEDS)")
	nodes := flag.String("nodes", "", "node id=container name, comma-separated, e.g. 1=riffle-1,2=riffle-2")
	scen := flag.String("scenarios", allScenarios, "faults and workloads to run: "+allScenarios+"; self-test: "+selfTests+" (loses data on purpose: must exit 1)")
	flag.StringVar(&c.topic, "topic", "", "topic (default chaos-<run id>)")
	flag.IntVar(&c.partitions, "partitions", 6, "partitions of the topic")
	flag.IntVar(&c.rf, "rf", 3, "replication factor")
	flag.StringVar(&c.minISR, "min-isr", "2", "min.insync.replicas of the topic")
	flag.IntVar(&c.producers, "producers", 3, "idempotent producers")
	flag.Float64Var(&c.rate, "rate", 50, "records per second per producer")
	flag.DurationVar(&c.warmup, "warmup", 5*time.Second, "load before the first fault")
	flag.DurationVar(&c.killFor, "kill-for", 5*time.Minute, "how long the leader-kill scenario lasts")
	flag.DurationVar(&c.killEvery, "kill-every", 10*time.Second, "interval between leader kills")
	flag.DurationVar(&c.killDown, "kill-down", 0, "how long a killed node stays down before its restart")
	flag.DurationVar(&c.isolateFor, "isolate-for", 30*time.Second, "how long the leader is cut off")
	flag.DurationVar(&c.pauseFor, "pause-for", 15*time.Second, "how long a node is paused (past broker.session.timeout.ms)")
	flag.DurationVar(&c.settle, "settle", 15*time.Second, "load without faults after an isolation, a pause or each restart")
	flag.DurationVar(&c.stopGrace, "stop-grace", 30*time.Second, "docker stop's grace before SIGKILL in the rolling restart")
	flag.DurationVar(&c.drain, "drain", 90*time.Second, "bound on waiting for outstanding acknowledgements and the pipeline")
	flag.DurationVar(&c.idle, "idle", 10*time.Second, "the final read stops after this long without a new record")
	flag.DurationVar(&c.deliveryTimeout, "delivery-timeout", time.Minute, "producers give a record up after this long")
	flag.BoolVar(&c.compareReplicas, "compare-replicas", true, "after the final read, compare every replica's log files on the nodes' volumes (needs root)")
	flag.IntVar(&c.maxErrLog, "log-errors", 3, "client errors printed per kind (all are counted)")
	resolve := flag.Bool("resolve-containers", false, "dial the -nodes containers' host names (their in-network listeners) at the containers' addresses, asked of docker at each dial")
	short := flag.Bool("short", false, "CI mode: 60 s of leader kills, 10 s isolation and settle")
	dry := flag.Bool("dry-run", false, "print the fault schedule and exit")
	histPath := flag.String("history", "", "write the run's history (JSON) here")
	checkPath := flag.String("check", "", "judge this saved history and exit")
	failoverOf := flag.Bool("failover", false, "print the failover times pooled over the saved histories named as arguments, and exit")
	timeout := flag.Duration("timeout", 0, "bound on the whole run (default: the schedule plus 10 minutes)")
	flag.Parse()

	if *failoverOf {
		os.Exit(failoverFiles(flag.Args()))
	}
	if *checkPath != "" {
		os.Exit(judgeFile(*checkPath))
	}
	if *short {
		c.killFor, c.isolateFor, c.settle = 60*time.Second, 10*time.Second, 10*time.Second
	}
	for _, s := range strings.Split(*scen, ",") {
		if s = strings.TrimSpace(s); s != "" {
			if !strings.Contains(","+allScenarios+","+selfTests+",", ","+s+",") {
				log.Printf("unknown scenario %q (known: %s, %s)", s, allScenarios, selfTests)
				os.Exit(2)
			}
			c.scenarios[s] = true
		}
	}
	c.runID = strconv.FormatInt(time.Now().Unix(), 36)
	if c.topic == "" {
		c.topic = "chaos-" + c.runID
	}
	var err error
	if c.nodes, err = parseNodes(*nodes); err != nil && !*dry {
		log.Print(err)
		os.Exit(2)
	}
	if *dry {
		if len(c.nodes) == 0 {
			c.nodes = map[int32]string{1: "riffle-1", 2: "riffle-2", 3: "riffle-3"}
		}
		printPlan(c.plan(nil))
		return
	}
	c.seeds = strings.Split(*seeds, ",")
	if *seeds == "" {
		log.Print("-seeds (or BROKER_SEEDS) is required")
		os.Exit(2)
	}
	if *resolve {
		if c.hosts, err = containerHosts(c.nodes); err != nil {
			log.Print(err)
			os.Exit(2)
		}
	}
	steps := c.plan(nil)
	if *timeout == 0 {
		*timeout = steps[len(steps)-1].at + 10*time.Minute
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	os.Exit(c.run(ctx, *histPath))
}

func parseNodes(s string) (map[int32]string, error) {
	m := map[int32]string{}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		id, name, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseInt(id, 10, 32)
		if !ok || err != nil || name == "" {
			return nil, fmt.Errorf("-nodes: %q is not id=container", kv)
		}
		m[int32(n)] = name
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("-nodes is required (id=container,...)")
	}
	return m, nil
}

func (c *config) run(ctx context.Context, histPath string) int {
	status := 0
	harnessFail := func(format string, args ...any) {
		log.Printf("HARNESS: "+format, args...)
		status = 2
	}
	topics := []string{c.topic}
	if err := c.createTopic(ctx, c.topic, int32(c.partitions)); err != nil {
		harnessFail("%v", err)
		return status
	}
	if c.has("eos") {
		for _, t := range []string{c.eosIn(), c.eosOut()} {
			if err := c.createTopic(ctx, t, eosPartitions); err != nil {
				harnessFail("%v", err)
				return status
			}
		}
		topics = append(topics, c.eosIn(), c.eosOut())
	}
	log.Printf("topic %s: %d partitions, RF %d, min.insync.replicas %s; %d producers at %.0f/s",
		c.topic, c.partitions, c.rf, c.minISR, c.producers, c.rate)

	rec := &recorder{}
	fl := &inflight{pending: map[*checker.Write]bool{}}
	prodCtx, stopProducing := context.WithCancel(ctx)
	defer stopProducing()
	var producers sync.WaitGroup
	goProduce := func(f func()) {
		producers.Add(1)
		go func() { defer producers.Done(); f() }()
	}
	for i := 0; i < c.producers; i++ {
		goProduce(func() {
			if err := c.producer(prodCtx, i, c.topic, int32(c.partitions), c.rate, rec, fl); err != nil {
				harnessFail("producer %d: %v", i, err)
			}
		})
	}
	if c.has("txn") {
		goProduce(func() { c.txnProducer(prodCtx, 100, c.topic, int32(c.partitions), rec, fl) })
	}
	pipeCtx, stopPipeline := context.WithCancel(ctx)
	defer stopPipeline()
	var pipeDone sync.WaitGroup
	var moved atomic.Int64
	if c.has("eos") {
		goProduce(func() {
			if err := c.producer(prodCtx, 200, c.eosIn(), eosPartitions, 20, rec, fl); err != nil {
				harnessFail("pipeline input producer: %v", err)
			}
		})
		pipeDone.Add(1)
		go func() { defer pipeDone.Done(); c.pipeline(pipeCtx, &moved) }()
	}
	conCtx, stopConsuming := context.WithCancel(ctx)
	defer stopConsuming()
	consumers := make([]checker.Consumer, 2)
	var conDone sync.WaitGroup
	for i, committed := range []bool{false, true} {
		conDone.Add(1)
		go func() {
			defer conDone.Done()
			name := map[bool]string{false: "consumer-read_uncommitted", true: "consumer-read_committed"}[committed]
			consumers[i] = c.consumer(conCtx, name, committed, []string{c.topic})
		}()
	}

	r, closeRunner, err := newRunner(c, rec)
	if err != nil {
		harnessFail("%v", err)
		return status
	}
	defer closeRunner()
	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	go r.watchLeaders(watchCtx, 500*time.Millisecond)
	start := time.Now()
	for _, s := range c.plan(r) {
		sleepCtx(ctx, time.Until(start.Add(s.at)))
		if ctx.Err() != nil {
			harnessFail("run interrupted or over its -timeout before %q", s.name)
			break
		}
		log.Printf("+%v %s", time.Since(start).Round(time.Second), s.name)
		if s.run != nil {
			if err := s.run(ctx); err != nil {
				harnessFail("%s: %v", s.name, err)
			}
		}
	}

	// Stop producing, then wait (bounded) for every outcome.
	stopProducing()
	producers.Wait()
	for deadline := time.Now().Add(c.drain); fl.len() > 0 && time.Now().Before(deadline) && ctx.Err() == nil; {
		sleepCtx(ctx, 200*time.Millisecond)
	}
	if n := fl.abandon(rec); n > 0 {
		log.Printf("%d writes had no outcome after %v: counted as unknown", n, c.drain)
	}
	adm, err := kgo.NewClient(c.clientOpts()...)
	if err != nil {
		harnessFail("%v", err)
		return status
	}
	defer adm.Close()
	if c.has("eos") {
		if err := c.waitPipelineDrained(ctx, kadm.NewClient(adm), c.drain); err != nil {
			harnessFail("the exactly-once pipeline did not finish: %v", err)
		}
		stopPipeline()
		pipeDone.Wait()
		log.Printf("pipeline committed %d records", moved.Load())
		rec.h.Pipelines = append(rec.h.Pipelines, checker.Pipeline{Input: c.eosIn(), Output: c.eosOut()})
	}
	// Let the live consumers catch up with the end before judging them.
	sleepCtx(ctx, 5*time.Second)
	stopConsuming()
	conDone.Wait()
	close(c.done)

	log.Printf("final read of %v", topics)
	final, err := c.finalRead(ctx, topics)
	if err != nil {
		harnessFail("final read: %v", err)
		final.Ends = nil // judge no write lost on an incomplete read
	}
	if c.compareReplicas {
		logs, err := r.replicaLogs(ctx, topics)
		if err != nil {
			harnessFail("comparing replicas: %v", err)
		}
		rec.mu.Lock()
		rec.h.Replicas = logs
		rec.mu.Unlock()
		log.Printf("compared %d replica logs", len(logs))
	}
	rec.mu.Lock()
	h := rec.h
	rec.mu.Unlock()
	h.Consumers = consumers
	h.Final = final
	if histPath != "" {
		if err := writeHistory(histPath, &h); err != nil {
			harnessFail("%v", err)
		}
	}
	c.errMu.Lock()
	log.Printf("client errors: %d (%d kinds)", c.errN, len(c.errSeen))
	c.errMu.Unlock()
	if st := judge(&h); st > status {
		status = st
	}
	return status
}

// judge prints the checker's report and the failover times.
func judge(h *checker.History) int {
	rep := checker.Check(h)
	fmt.Println("== chaos: checker report")
	rep.Print(os.Stdout)
	faults := map[string]int{}
	for _, f := range h.Faults {
		faults[f.Kind]++
	}
	fmt.Printf("faults injected: %v\n", faults)
	// Leadership that never moves means failover was a restart of the
	// same leader: say so, or a clean report over-claims.
	moved := map[string]int{}
	first := map[string]bool{}
	for _, l := range h.Leaders {
		k := fmt.Sprintf("%s/%d", l.Topic, l.Partition)
		if first[k] {
			moved[k]++
		}
		first[k] = true
	}
	total := 0
	for _, n := range moved {
		total += n
	}
	fmt.Printf("leader or leader-epoch changes seen by polling Metadata every 500 ms: %d over %d partitions %v\n", total, len(first), moved)
	fmt.Printf("writes failed or without outcome, by the fault they were sent during: %v\n", checker.FailedWrites(h))
	fmt.Println("writes sent during each fault (sent → acknowledged):")
	for _, l := range checker.LatencyDuring(h) {
		f := l.Fault
		fmt.Printf("  %-8s node %d at %s for %v: %d acknowledged (p50 %v, max %v), %d failed\n",
			f.Kind, f.Node, f.Start.Format("15:04:05"), f.End.Sub(f.Start).Round(100*time.Millisecond),
			l.Acked, l.P50.Round(time.Millisecond), l.Max.Round(time.Millisecond), l.Failed)
	}
	d, unresolved := checker.Failover(h)
	if len(d)+unresolved > 0 {
		fmt.Printf("failover (leader killed → next acks=all write to its partition acknowledged): %d kills, p50 %v, max %v, %d without any later acknowledgement\n",
			len(d), checker.Percentile(d, 50).Round(time.Millisecond), checker.Percentile(d, 100).Round(time.Millisecond), unresolved)
	}
	printFailoverSplit(h)
	if rep.Anomalies() > 0 {
		return 1
	}
	return 0
}

// printFailoverSplit prints the failover of kills with no other fault before
// the partition recovered apart from those with one (checker.FailoverSplit).
func printFailoverSplit(hs ...*checker.History) {
	var single, overlapped []time.Duration
	unresolved := 0
	for _, h := range hs {
		s, o, u := checker.FailoverSplit(h)
		single, overlapped, unresolved = append(single, s...), append(overlapped, o...), unresolved+u
	}
	line := func(name string, d []time.Duration) {
		if len(d) > 0 {
			fmt.Printf("  %-38s %3d kills, p50 %v, p90 %v, max %v\n", name, len(d), checker.Percentile(d, 50).Round(100*time.Millisecond),
				checker.Percentile(d, 90).Round(100*time.Millisecond), checker.Percentile(d, 100).Round(100*time.Millisecond))
		}
	}
	line("single fault until recovered:", single)
	line("another fault before it recovered:", overlapped)
	line("all:", append(slices.Clone(single), overlapped...))
	if unresolved > 0 {
		fmt.Printf("  %d kills without any later acknowledgement\n", unresolved)
	}
}

func writeHistory(path string, h *checker.History) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func judgeFile(path string) int {
	h, err := readHistory(path)
	if err != nil {
		log.Print(err)
		return 2
	}
	return judge(h)
}

func readHistory(path string) (*checker.History, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var h checker.History
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &h, nil
}

// failoverFiles pools the failover of several runs' histories: one run of
// the kill scenario has about 30 kills.
func failoverFiles(paths []string) int {
	var hs []*checker.History
	for _, p := range paths {
		h, err := readHistory(p)
		if err != nil {
			log.Print(err)
			return 2
		}
		hs = append(hs, h)
	}
	fmt.Printf("failover (leader killed → next acks=all write to its partition acknowledged) over %d runs:\n", len(hs))
	printFailoverSplit(hs...)
	return 0
}

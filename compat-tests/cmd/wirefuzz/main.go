// Command wirefuzz is a black-box fuzzer for a running Kafka-compatible
// broker. It talks to the broker only over TCP (requests built with kmsg,
// malformed bytes by hand) and never imports the broker's code, so it runs
// against Riffle, Apache Kafka or kfake alike.
//
//	wirefuzz -brokers 127.0.0.1:9092 -duration 60s -seed 42 -broker-pid 1234
//	wirefuzz -mode memory -brokers 127.0.0.1:9092 -broker-pid 1234
//	wirefuzz -replay findings/unanswered-001.bin
//
// Fuzz mode sends malformed frames, every advertised API at every advertised
// version with random field values, and valid and corrupt record batches of
// every codec; it then checks a control topic byte for byte and reads every
// fuzzed partition to its end with franz-go, kafka-python and librdkafka.
// Memory mode floods the broker with pipelined fetches and produces that are
// never read and with huge claimed array lengths while a well-behaved client
// must keep being served. Every failed check is a finding, printed with the
// seed and the request bytes; the exit status is 1 when a finding's class is
// not named in -allow.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

type options struct {
	brokers   string
	seed      int64
	duration  time.Duration
	mode      string
	pid       int
	maxRSS    int64
	allow     string
	workers   int
	timeout   time.Duration
	outDir    string
	python    string
	consumers string
	conns     int
	only      string
}

func main() {
	var o options
	flag.StringVar(&o.brokers, "brokers", "127.0.0.1:9092", "broker address (one; the fuzzer talks to it directly)")
	flag.Int64Var(&o.seed, "seed", 0, "random seed (0: from the clock); printed so a run can be repeated")
	flag.DurationVar(&o.duration, "duration", time.Minute, "how long to fuzz")
	flag.StringVar(&o.mode, "mode", "fuzz", "fuzz or memory")
	flag.IntVar(&o.pid, "broker-pid", 0, "broker process id, to watch its VmRSS")
	flag.Int64Var(&o.maxRSS, "max-rss-mib", 1024, "RSS bound for the broker (MiB)")
	flag.StringVar(&o.allow, "allow", "", "comma-separated finding classes reported without failing the run")
	flag.IntVar(&o.workers, "workers", 4, "concurrent fuzzing connections (one batch partition each)")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Second, "how long a request may go unanswered")
	flag.StringVar(&o.outDir, "out", "", "directory to save the request frame of each printed finding")
	flag.StringVar(&o.python, "python", "/usr/bin/python3", "python with kafka-python and confluent-kafka (Debian's import only under /usr/bin/python3)")
	flag.StringVar(&o.consumers, "consumers", "franz-go,kafka-python,librdkafka", "consumers that read the fuzzed partitions afterwards")
	flag.IntVar(&o.conns, "conns", 48, "memory mode: flooding connections")
	flag.StringVar(&o.only, "only", "", "fuzz mode: only these case kinds (comma-separated: api, batch, frame)")
	replay := flag.String("replay", "", "send one saved request frame and print what comes back")
	flag.Parse()

	if *replay != "" {
		os.Exit(replayFrame(o.brokers, *replay, o.timeout))
	}
	if o.seed == 0 {
		o.seed = time.Now().UnixNano() % 1e9
	}
	fmt.Printf("== wirefuzz: mode %s, seed %d, %v against %s (repeat with -seed %d)\n", o.mode, o.seed, o.duration, o.brokers, o.seed)
	if o.outDir != "" {
		os.MkdirAll(o.outDir, 0o755)
	}
	rep := newReporter(o.seed, o.allow, o.outDir)
	var err error
	switch o.mode {
	case "fuzz":
		err = fuzz(o, rep)
	case "memory":
		err = memory(o, rep)
	default:
		err = fmt.Errorf("unknown -mode %q", o.mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wirefuzz:", err)
		os.Exit(2)
	}
	if rep.summary() {
		fmt.Printf("== wirefuzz: FAILED (seed %d)\n", o.seed)
		os.Exit(1)
	}
	fmt.Printf("== wirefuzz: ok (seed %d)\n", o.seed)
}

const (
	controlTopic = "wirefuzz-control"
	batchTopic   = "wirefuzz-batches"
)

func fuzz(o options, rep *reporter) error {
	ctx := context.Background()
	apis, err := apiVersions(o.brokers)
	if err != nil {
		return fmt.Errorf("ApiVersions: %w", err)
	}
	adm, err := newAdmin(o.brokers)
	if err != nil {
		return err
	}
	defer adm.close()
	ids, err := adm.ensureTopics(ctx, map[string]int32{controlTopic: 1, batchTopic: int32(o.workers)})
	if err != nil {
		return err
	}
	if err := adm.seedControl(ctx, controlTopic); err != nil {
		return fmt.Errorf("writing the control topic: %w", err)
	}
	before, err := snapshot(o.brokers, controlTopic)
	if err != nil {
		return fmt.Errorf("reading the control topic: %w", err)
	}
	ends, err := listEnds(o.brokers, batchTopic)
	if err != nil {
		return err
	}

	var produce apiRange
	var flexible []apiRange
	for _, a := range apis {
		if a.key == 0 {
			produce = a
		}
		r := kmsg.RequestForKey(a.key)
		r.SetVersion(a.max)
		if r.IsFlexible() {
			flexible = append(flexible, a)
		}
	}
	if produce.max < 3 || len(flexible) == 0 {
		return fmt.Errorf("the broker advertises Produce up to v%d and %d flexible APIs; need v3+ and one", produce.max, len(flexible))
	}
	produce.min = max(produce.min, 3)

	stop := make(chan struct{})
	var bg sync.WaitGroup
	var rss rssWatch
	if o.pid > 0 {
		bg.Add(1)
		go func() { defer bg.Done(); rss.run(o.pid, o.maxRSS, rep, stop) }()
	}
	bg.Add(1)
	go func() { defer bg.Done(); healthProbe(o.brokers, o.timeout, rep, stop) }()

	st := &stats{}
	deadline := time.Now().Add(o.duration)
	var wg sync.WaitGroup
	only := map[string]bool{}
	for _, k := range strings.Split(o.only, ",") {
		if k = strings.TrimSpace(k); k != "" {
			only[k] = true
		}
	}
	brd := newBoard()
	workers := make([]*worker, o.workers)
	for i := range workers {
		w := &worker{id: i, addr: o.brokers, rng: rand.New(rand.NewSource(o.seed*1000 + int64(i))),
			apis: apis, flexible: flexible, produce: produce, protected: []string{controlTopic, batchTopic},
			topic: batchTopic, topicID: ids[batchTopic], partition: int32(i), next: ends[int32(i)],
			timeout: o.timeout, rep: rep, stats: st, only: only, board: brd}
		workers[i] = w
		wg.Add(1)
		go func() { defer wg.Done(); w.run(deadline) }()
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	fmt.Printf("== fuzzed %v: %s\n", o.duration, st)
	if o.pid > 0 {
		fmt.Printf("== broker peak VmRSS %d MiB (bound %d MiB)\n", rss.peakMiB(), o.maxRSS)
	}

	after, err := snapshot(o.brokers, controlTopic)
	switch {
	case err != nil:
		rep.report(finding{class: classControlChanged, what: controlTopic, detail: fmt.Sprintf("reading it back: %v", err)})
	case string(before) != string(after):
		rep.report(finding{class: classControlChanged, what: controlTopic, detail: fmt.Sprintf("%d bytes before the run, %d after, contents differ", len(before), len(after))})
	default:
		fmt.Printf("== control topic: %d bytes, identical\n", len(after))
	}
	consumeAll(o, rep, []string{batchTopic, controlTopic})
	return nil
}

// healthProbe asks for ApiVersions on a fresh connection every two seconds;
// the broker must keep answering whatever the fuzzers do.
func healthProbe(addr string, timeout time.Duration, rep *reporter, stop <-chan struct{}) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		start := time.Now()
		c, err := dial(addr)
		if err == nil {
			req := kmsg.NewPtrApiVersionsRequest()
			_, _, err = c.roundTrip(req, timeout)
			c.Close()
		}
		if err != nil {
			rep.report(finding{class: classUnresponsive, what: "ApiVersions v0 probe", detail: fmt.Sprintf("after %v: %v", time.Since(start).Round(time.Millisecond), err)})
		}
	}
}

// replayFrame sends a saved frame as it is and shows the answer.
func replayFrame(addr, path string, timeout time.Duration) int {
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	c, err := dial(addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer c.Close()
	if err := c.write(b, timeout); err != nil {
		fmt.Println("write:", err)
		return 1
	}
	resp, err := c.readFrame(timeout)
	if err != nil {
		fmt.Println("response:", err)
		return 1
	}
	fmt.Printf("response: %d bytes\n", len(resp))
	if len(b) >= 12 {
		key, ver := int16(uint16(b[4])<<8|uint16(b[5])), int16(uint16(b[6])<<8|uint16(b[7]))
		corr := int32(uint32(b[8])<<24 | uint32(b[9])<<16 | uint32(b[10])<<8 | uint32(b[11]))
		if req := kmsg.RequestForKey(key); req != nil && ver >= 0 && ver <= req.MaxVersion() {
			req.SetVersion(ver)
			r, err := decodeResponse(req, corr, resp)
			if err != nil {
				fmt.Println("decode:", err)
				return 1
			}
			fmt.Printf("decodes as %s v%d: %+v\n", kmsg.NameForKey(key), ver, r)
		}
	}
	return 0
}

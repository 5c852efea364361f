package server_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riffle-io/riffle/config"
)

// The exactly-once stress test: input records flow through a chain of three
// consume-transform-produce stages, each a consumer group of franz-go
// GroupTransactSession workers (KIP-98 transactions, KIP-447 offset commits
// in the transaction and RequireStable offset fetches). The stages use the
// range assignor with static members, the cooperative-sticky assignor, and
// the KIP-848 protocol with static members. While records flow, every stage
// gains a worker (a rebalance), loses one that crashes with its transaction
// open (its replacement, under the same transactional and instance ids,
// fences it), loses the added one, and restarts another. When the last
// record is through, a read_committed reader checks every stage's output:
// each input record appears exactly once and no upstream offset was
// transformed twice.
//
// Each output record names the upstream partition/offset it came from and
// the transactional id of the worker that wrote it, so a failure names the
// writers of a duplicate. RIFFLE_EOS_RECORDS sets the number of input
// records (default 2,000, a run of 10-30 s on two busy cores; 500 with
// -short); RIFFLE_EOS_RECORDS=100000 is the long version.

const eosPartitions = 6

type eosStage struct {
	name, group, from, to string
	static                bool
	opts                  []kgo.Opt // the assignor
}

func eosRecordCount(t *testing.T) int {
	n := 2000
	if testing.Short() {
		n = 500
	}
	if s := os.Getenv("RIFFLE_EOS_RECORDS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			t.Fatalf("RIFFLE_EOS_RECORDS=%q: want a positive count", s)
		}
		n = v
	}
	return n
}

func eosConfig(c *config.Broker) {
	txnConfig(c)
	// Short sessions, so that a crashed dynamic member's partitions move
	// on within seconds.
	c.GroupMinSessionTimeoutMs = 1000
	c.GroupConsumerMinSessionTimeoutMs = 1000
	c.GroupConsumerSessionTimeoutMs = 4000
	c.GroupConsumerMinHeartbeatIntervalMs = 100
	c.GroupConsumerHeartbeatIntervalMs = 300
}

func TestEOSStress(t *testing.T) {
	n := eosRecordCount(t)
	tb := startBroker(t, eosConfig)
	adm := newAdmin(t, tb.addr())
	// The coordinator writes a transaction's markers in topic order; these
	// names sort before __consumer_offsets, so the group's offsets stay
	// pending while the data markers are written: a wider window for a
	// new owner to read an offset a committing transaction is moving.
	topics := []string{"EOS-s0", "EOS-s1", "EOS-s2", "EOS-s3"}
	for _, tp := range topics {
		createTopic(t, adm, tp, eosPartitions, nil)
	}
	stages := []eosStage{
		{name: "range", group: "eos-range", from: topics[0], to: topics[1], static: true,
			opts: []kgo.Opt{kgo.Balancers(kgo.RangeBalancer())}},
		{name: "coop", group: "eos-coop", from: topics[1], to: topics[2],
			opts: []kgo.Opt{kgo.Balancers(kgo.CooperativeStickyBalancer())}},
		{name: "848", group: "eos-848", from: topics[2], to: topics[3], static: true,
			opts: []kgo.Opt{kgo.ServerSideBalancer()}},
	}
	deadline := time.Now().Add(90*time.Second + time.Duration(n)*20*time.Millisecond)
	runCtx, cancelRun := context.WithDeadline(context.Background(), deadline)
	defer cancelRun()

	// Input arrives while the stages run, so that their work spreads over
	// many transactions and across every rebalance.
	in := newClient(t, tb.addr(), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	produced := make(chan error, 1)
	go func() {
		chunk := max(n/50, 1)
		for i := 0; i < n; i++ {
			in.Produce(runCtx, &kgo.Record{Topic: topics[0], Key: []byte(fmt.Sprintf("k%07d", i)), Value: []byte(fmt.Sprintf("v%07d", i))}, nil)
			if i%chunk == chunk-1 {
				if err := in.Flush(runCtx); err != nil {
					produced <- err
					return
				}
				time.Sleep(20 * time.Millisecond) // pacing, not synchronisation
			}
		}
		produced <- in.Flush(runCtx)
	}()

	began := time.Now()
	var wg sync.WaitGroup
	for i := range stages {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runEOSStage(t, runCtx, tb.addr(), adm, stages[i], n)
		}()
	}
	if err := <-produced; err != nil {
		t.Fatalf("producing input: %v", err)
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d records through %d stages in %v", n, len(stages), time.Since(began).Round(time.Millisecond))

	// Every stage stopped with its transactions ended: each topic's last
	// stable offset is its high watermark, and its read_committed content
	// is final.
	for i, st := range stages {
		checkEOSOutput(t, tb.addr(), adm, topics[i], st, n)
	}
}

// eosWorker is one GroupTransactSession member of a stage.
type eosWorker struct {
	txnID, instance string
	stop, crash     chan struct{}
	done            chan struct{}
	txns            atomic.Int64 // committed transactions with records
}

// runEOSStage runs one stage until its output holds every input record,
// putting its group through the scripted membership changes on the way.
func runEOSStage(t *testing.T, ctx context.Context, addr string, adm *kadm.Client, st eosStage, n int) {
	start := func(idx int) *eosWorker {
		w := &eosWorker{txnID: fmt.Sprintf("%s-tx%d", st.group, idx), stop: make(chan struct{}),
			crash: make(chan struct{}), done: make(chan struct{})}
		if st.static && idx < 100 {
			w.instance = fmt.Sprintf("%s-i%d", st.group, idx)
		}
		go w.run(t, ctx, addr, st)
		return w
	}
	stop := func(w *eosWorker) {
		close(w.stop)
		<-w.done
	}
	workers := []*eosWorker{start(0), start(1)}
	defer func() {
		for _, w := range workers {
			if w != nil {
				stop(w)
			}
		}
	}()
	// progress waits until the stage's output high watermarks (which
	// count aborted records and markers too: pacing, not a check) reach
	// frac of the input.
	progress := func(frac float64) bool {
		return poll(time.Until(mustDeadline(ctx)), func() bool {
			lo, err := adm.ListEndOffsets(ctx, st.to)
			if err != nil {
				return false
			}
			sum := int64(0)
			lo.Each(func(o kadm.ListedOffset) { sum += o.Offset })
			return sum >= int64(frac*float64(n))
		})
	}
	steps := []struct {
		at   float64
		what string
		do   func()
	}{
		{0.15, "a third worker joins", func() { workers = append(workers, start(2)) }},
		{0.35, "a worker crashes with its transaction open and is replaced", func() {
			close(workers[1].crash)
			select {
			case <-workers[1].done:
			case <-ctx.Done():
				return
			}
			workers[1] = start(1)
		}},
		{0.55, "the third worker leaves", func() { stop(workers[2]); workers[2] = nil }},
		{0.75, "a worker restarts", func() { stop(workers[0]); workers[0] = start(0) }},
	}
	// Besides the scripted steps, a dynamic member keeps joining and
	// leaving: every join and leave is a rebalance that moves partitions
	// between owners right after their transactions end, which is when a
	// new owner must not read an offset a committing transaction is still
	// moving (KIP-447).
	churnDone := make(chan struct{})
	stopChurn := make(chan struct{})
	go func() {
		defer close(churnDone)
		for i := 0; ; i++ {
			w := start(100 + i%2)
			select {
			case <-stopChurn:
				stop(w)
				return
			case <-time.After(600 * time.Millisecond): // pacing, not synchronisation
			}
			stop(w)
			select {
			case <-stopChurn:
				return
			case <-time.After(300 * time.Millisecond):
			}
		}
	}()
	defer func() {
		close(stopChurn)
		<-churnDone
	}()
	for _, s := range steps {
		if !progress(s.at) {
			t.Errorf("stage %s: output never reached %.0f%% of %d records before %q", st.name, 100*s.at, n, s.what)
			return
		}
		s.do()
		if ctx.Err() != nil {
			t.Errorf("stage %s: deadline passed during %q", st.name, s.what)
			return
		}
	}
	// Done when a read_committed reader has seen every input record once
	// in this stage's output (duplicates are counted at the end).
	if !waitEOSComplete(t, ctx, addr, st.to, n) {
		t.Errorf("stage %s: its output never held all %d input records", st.name, n)
	}
}

func mustDeadline(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

func (w *eosWorker) run(t *testing.T, ctx context.Context, addr string, st eosStage) {
	defer close(w.done)
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.TransactionalID(w.txnID),
		kgo.TransactionTimeout(10 * time.Second),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumerGroup(st.group),
		kgo.ConsumeTopics(st.from),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(4 * time.Second),
		kgo.HeartbeatInterval(300 * time.Millisecond),
		kgo.RebalanceTimeout(10 * time.Second),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.FetchMaxPartitionBytes(1024), // small polls: many transactions
		kgo.RetryTimeout(requestTimeout),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
	}, st.opts...)
	if w.instance != "" {
		opts = append(opts, kgo.InstanceID(w.instance))
	}
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		t.Errorf("%s: %v", w.txnID, err)
		return
	}
	crashed := false
	defer func() {
		if !crashed {
			sess.Close()
		}
	}()
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := sess.PollRecords(pctx, 100)
		cancel()
		if fs.IsClientClosed() || ctx.Err() != nil {
			return
		}
		fs.EachError(func(topic string, p int32, err error) {
			// Group errors reach the poll too: UNRELEASED_INSTANCE_ID
			// while a departed static member's session runs out,
			// UNKNOWN_MEMBER_ID for a member that missed a
			// rebalance on a busy machine. franz-go rejoins after
			// each; the output checks judge the outcome.
			//
			// The first is expected, not a broker fault: franz-go's
			// KIP-848 static leave (epoch -2) omits the instance
			// id, which Kafka's GroupMetadataManager refuses with
			// INVALID_REQUEST ("InstanceId can't be null."), as
			// Riffle does; the member stays active, so its restarted
			// instance is UNRELEASED_INSTANCE_ID until the session
			// expires. A well-formed -2 leave is replaced at once
			// (TestGroupConsumerProtocolStaticRestart).
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				t.Logf("%s: poll %s[%d]: %v", w.txnID, topic, p, err)
			}
		})
		if err := sess.Begin(); err != nil {
			t.Errorf("%s: begin: %v", w.txnID, err)
			return
		}
		var produceErr atomic.Value
		fs.EachRecord(func(r *kgo.Record) {
			out := &kgo.Record{Topic: st.to, Key: r.Key, Value: r.Value,
				Headers: append(r.Headers[:len(r.Headers):len(r.Headers)],
					kgo.RecordHeader{Key: st.name, Value: []byte(fmt.Sprintf("%d/%d", r.Partition, r.Offset))},
					kgo.RecordHeader{Key: st.name + "-by", Value: []byte(w.txnID)})}
			sess.Produce(ctx, out, func(_ *kgo.Record, err error) {
				if err != nil {
					produceErr.Store(err)
				}
			})
		})
		select {
		case <-w.crash:
			// Crash with the transaction open: its records are
			// written, but it is neither committed nor aborted.
			if err := sess.Client().Flush(ctx); err != nil {
				t.Errorf("%s: flush before crash: %v", w.txnID, err)
			}
			crashed = true
			sess.Client().Close()
			return
		default:
		}
		ectx, ecancel := context.WithTimeout(ctx, requestTimeout)
		committed, err := sess.End(ectx, kgo.TryCommit)
		ecancel()
		if err != nil {
			// End's errors are not retriable: leave the stage to the
			// other workers rather than spin.
			t.Logf("%s: end: %v", w.txnID, err)
			if ctx.Err() == nil {
				t.Errorf("%s: ending a transaction failed: %v", w.txnID, err)
			}
			return
		}
		if committed && produceErr.Load() != nil {
			t.Errorf("%s: committed a transaction with a failed produce: %v", w.txnID, produceErr.Load())
		}
		if committed && fs.NumRecords() > 0 {
			w.txns.Add(1)
		}
	}
}

// waitEOSComplete reads topic read_committed until every one of the n input
// values has appeared in it.
func waitEOSComplete(t *testing.T, ctx context.Context, addr, topic string, n int) bool {
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(200*time.Millisecond))
	defer cl.Close()
	seen := make(map[string]bool, n)
	for len(seen) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Logf("%s: %d of %d input records read_committed before the deadline", topic, len(seen), n)
			return false
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
	return true
}

// checkEOSOutput reads all of a stage's output read_committed, control
// records included (so that the reader knows it reached each partition's
// last marker), and checks that it holds each input value once and names
// each upstream offset once.
func checkEOSOutput(t *testing.T, addr string, adm *kadm.Client, from string, st eosStage, n int) {
	t.Helper()
	ctx := ctxFor(t, readTimeout)
	var hw map[int32]int64
	if !poll(requestTimeout, func() bool {
		hw = endOffsets(t, adm, st.to)
		lso, err := adm.ListCommittedOffsets(ctx, st.to)
		if err != nil {
			return false
		}
		for p, o := range hw {
			if l, ok := lso.Lookup(st.to, p); !ok || l.Err != nil || l.Offset != o {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("%s: a transaction is still open after every worker stopped", st.to)
	}
	parts := map[int32]kgo.Offset{}
	for p, o := range hw {
		if o > 0 {
			parts[p] = kgo.NewOffset().AtStart()
		}
	}
	cl := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{st.to: parts}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(), kgo.FetchMaxWait(200*time.Millisecond))
	defer cl.Close()
	values := make(map[string]int, n)
	sources := make(map[string]int, n)
	writers := make(map[string][]string) // upstream offset -> stage output offsets and writers
	records := 0
	next := map[int32]int64{}
	reached := func() bool {
		for p, o := range hw {
			if o > 0 && next[p] < o {
				return false
			}
		}
		return true
	}
	for !reached() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: read %v of high watermarks %v before the deadline", st.to, next, hw)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Errorf("%s[%d]: %v", st.to, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			next[r.Partition] = r.Offset + 1
			if r.Attrs.IsControl() {
				return
			}
			records++
			values[string(r.Value)]++
			src, by := "", ""
			for _, h := range r.Headers {
				switch h.Key {
				case st.name:
					src = string(h.Value)
				case st.name + "-by":
					by = string(h.Value)
				}
			}
			writers[src] = append(writers[src], fmt.Sprintf("%d/%d by %s", r.Partition, r.Offset, by))
			if src == "" {
				t.Errorf("%s[%d]@%d: no %q source header", st.to, r.Partition, r.Offset, st.name)
			}
			sources[src]++
		})
	}
	dupValues, missing, dupSources := 0, 0, 0
	for i := 0; i < n; i++ {
		switch c := values[fmt.Sprintf("v%07d", i)]; {
		case c == 0:
			missing++
		case c > 1:
			dupValues++
		}
	}
	var example string
	for src, c := range sources {
		if c > 1 {
			dupSources++
			if example == "" {
				example = fmt.Sprintf("%s offset %s transformed %d times: %v", from, src, c, writers[src])
			}
		}
	}
	if records != n || dupValues > 0 || missing > 0 || dupSources > 0 {
		t.Errorf("stage %s (%s -> %s): %d committed records for %d inputs: %d values duplicated, %d missing, %d upstream offsets transformed more than once (%s)",
			st.name, from, st.to, records, n, dupValues, missing, dupSources, example)
	}
}

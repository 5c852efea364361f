package server_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
)

// txnConfig makes transaction tests quick: small internal topics, fast
// timeout checks and rebalances.
func txnConfig(c *config.Broker) {
	c.OffsetsTopicNumPartitions = 3
	c.TransactionStateLogNumPartitions = 3
	c.GroupInitialRebalanceDelayMs = 0
	c.TransactionAbortTimedOutTransactionCleanupIntervalMs = 100
}

// consumeAll reads topic from the start with the given isolation level
// until want records arrived or d elapsed, then a little longer to catch
// extras; it returns the values in partition/offset order.
func consumeAll(t *testing.T, addr, topic string, committed bool, want int, d time.Duration) []string {
	t.Helper()
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(iso), kgo.FetchMaxWait(200*time.Millisecond))
	defer cl.Close()
	var got []string
	type po struct {
		p int32
		o int64
		v string
	}
	var recs []po
	deadline := time.Now().Add(d)
	extra := time.Time{}
	for time.Now().Before(deadline) {
		if len(recs) >= want && extra.IsZero() {
			extra = time.Now().Add(500 * time.Millisecond)
		}
		if !extra.IsZero() && time.Now().After(extra) {
			break
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("fetch: %v", err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) { recs = append(recs, po{r.Partition, r.Offset, string(r.Value)}) })
	}
	sort.Slice(recs, func(i, j int) bool {
		return recs[i].p < recs[j].p || recs[i].p == recs[j].p && recs[i].o < recs[j].o
	})
	for _, r := range recs {
		got = append(got, r.v)
	}
	return got
}

func txnProducer(t *testing.T, addr, id string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return newClient(t, addr, append([]kgo.Opt{kgo.TransactionalID(id), kgo.TransactionTimeout(10 * time.Second),
		kgo.RecordRetries(10)}, opts...)...)
}

func produceTxn(t *testing.T, cl *kgo.Client, topic string, commit bool, values ...string) {
	t.Helper()
	ctx := ctxFor(t, requestTimeout)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatalf("begin: %v", err)
	}
	for _, v := range values {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", v, err)
		}
	}
	end := kgo.TryAbort
	if commit {
		end = kgo.TryCommit
	}
	if err := cl.EndTransaction(ctx, end); err != nil {
		t.Fatalf("end transaction (commit=%v): %v", commit, err)
	}
}

func TestTxnCommitAbortReadCommitted(t *testing.T) {
	tb := startBroker(t, txnConfig)
	adm := newAdmin(t, tb.addr())
	createTopic(t, adm, "txn-basic", 1, nil)
	cl := txnProducer(t, tb.addr(), "tx-basic")

	produceTxn(t, cl, "txn-basic", true, "a1", "a2")
	produceTxn(t, cl, "txn-basic", false, "b1", "b2", "b3")
	produceTxn(t, cl, "txn-basic", true, "c1")

	committed := consumeAll(t, tb.addr(), "txn-basic", true, 3, 10*time.Second)
	if fmt.Sprint(committed) != "[a1 a2 c1]" {
		t.Errorf("read_committed saw %v, want [a1 a2 c1]", committed)
	}
	all := consumeAll(t, tb.addr(), "txn-basic", false, 6, 10*time.Second)
	if fmt.Sprint(all) != "[a1 a2 b1 b2 b3 c1]" {
		t.Errorf("read_uncommitted saw %v, want [a1 a2 b1 b2 b3 c1]", all)
	}

	// An open transaction holds the last stable offset back.
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctxFor(t, requestTimeout), &kgo.Record{Topic: "txn-basic", Value: []byte("d1")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	hw := endOffsets(t, adm, "txn-basic")[0]
	lso := committedEnd(t, tb.addr(), "txn-basic")
	if lso >= hw || lso != 9 { // a1 a2 C b1 b2 b3 A c1 C = 9 offsets
		t.Errorf("with a transaction open: LSO %d, HW %d; want LSO 9 < HW", lso, hw)
	}
	if err := cl.EndTransaction(ctxFor(t, requestTimeout), kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if !poll(requestTimeout, func() bool { return committedEnd(t, tb.addr(), "txn-basic") == endOffsets(t, adm, "txn-basic")[0] }) {
		t.Errorf("LSO did not reach the high watermark after commit")
	}

	// The coordinator describes and lists the transaction.
	ctx := ctxFor(t, requestTimeout)
	desc, err := adm.DescribeTransactions(ctx, "tx-basic")
	if err != nil {
		t.Fatalf("describe transactions: %v", err)
	}
	if d, ok := desc["tx-basic"]; !ok || d.State != "CompleteCommit" {
		t.Errorf("describe: %+v", desc)
	}
	list, err := adm.ListTransactions(ctx, nil, nil)
	if err != nil {
		t.Fatalf("list transactions: %v", err)
	}
	if _, ok := list["tx-basic"]; !ok {
		t.Errorf("list transactions: %+v", list)
	}
}

// committedEnd is ListOffsets(latest) with read_committed: the LSO.
func committedEnd(t *testing.T, addr, topic string) int64 {
	return committedEndPartition(t, addr, topic, 0)
}

// committedEndPartition is the LSO of one partition.
func committedEndPartition(t *testing.T, addr, topic string, partition int32) int64 {
	t.Helper()
	cl := newClient(t, addr)
	defer cl.Close()
	req := kmsgListOffsets(topic, 1)
	req.Topics[0].Partitions[0].Partition = partition
	resp, err := req.RequestWith(ctxFor(t, requestTimeout), cl)
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	return p.Offset
}

func TestTxnZombieFenced(t *testing.T) {
	tb := startBroker(t, txnConfig)
	adm := newAdmin(t, tb.addr())
	createTopic(t, adm, "txn-zombie", 2, nil)
	old := txnProducer(t, tb.addr(), "tx-zombie")
	if err := old.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t, requestTimeout)
	if err := old.ProduceSync(ctx, &kgo.Record{Topic: "txn-zombie", Partition: 0, Value: []byte("zombie-1")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// A new producer with the same transactional id fences the old one
	// and aborts its open transaction.
	fresh := txnProducer(t, tb.addr(), "tx-zombie")
	produceTxn(t, fresh, "txn-zombie", true, "new-1")

	// Everything the old producer tries from now on fails.
	zctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := old.ProduceSync(zctx, &kgo.Record{Topic: "txn-zombie", Partition: 1, Value: []byte("zombie-2")}).FirstErr()
	if err == nil {
		if cerr := old.EndTransaction(zctx, kgo.TryCommit); cerr == nil {
			t.Fatalf("fenced producer committed")
		}
	} else if cerr := old.EndTransaction(zctx, kgo.TryCommit); cerr == nil {
		t.Fatalf("fenced producer committed after produce error %v", err)
	}
	got := consumeAll(t, tb.addr(), "txn-zombie", true, 1, 10*time.Second)
	if fmt.Sprint(got) != "[new-1]" {
		t.Errorf("read_committed saw %v, want [new-1]", got)
	}
}

func TestTxnTimeoutAborts(t *testing.T) {
	tb := startBroker(t, txnConfig)
	adm := newAdmin(t, tb.addr())
	createTopic(t, adm, "txn-timeout", 1, nil)
	cl := txnProducer(t, tb.addr(), "tx-timeout", kgo.TransactionTimeout(time.Second))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctxFor(t, requestTimeout), &kgo.Record{Topic: "txn-timeout", Value: []byte("left-open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if lso := committedEnd(t, tb.addr(), "txn-timeout"); lso != 0 {
		t.Fatalf("LSO %d with the transaction open, want 0", lso)
	}
	// The coordinator aborts it after transaction.timeout.ms: the LSO
	// moves past the abort marker.
	if !poll(requestTimeout, func() bool { return committedEnd(t, tb.addr(), "txn-timeout") == 2 }) {
		t.Fatalf("LSO did not advance after the transaction timed out: %d", committedEnd(t, tb.addr(), "txn-timeout"))
	}
	if got := consumeAll(t, tb.addr(), "txn-timeout", true, 0, 2*time.Second); len(got) != 0 {
		t.Errorf("read_committed saw %v of an aborted transaction", got)
	}
	// The timed-out producer is fenced.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Errorf("commit after timeout succeeded")
	}
}

func kmsgListOffsets(topic string, isolation int8) *kmsg.ListOffsetsRequest {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	req.IsolationLevel = isolation
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = 0, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// TestTxnGroupTransactSessionExactlyOnce is consume-transform-produce with
// franz-go's GroupTransactSession: workers join and leave (rebalances), one
// crashes mid-transaction and is replaced under its transactional id; a
// read_committed reader of the output sees every input record exactly once.
func TestTxnGroupTransactSessionExactlyOnce(t *testing.T) {
	tb := startBroker(t, txnConfig)
	adm := newAdmin(t, tb.addr())
	const n = 3000
	createTopic(t, adm, "eos-in", 4, nil)
	createTopic(t, adm, "eos-out", 2, nil)
	// Input arrives while the workers run, so that work spreads over
	// many transactions and across every rebalance.
	in := newClient(t, tb.addr(), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	produced := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			in.Produce(context.Background(), &kgo.Record{Topic: "eos-in", Value: []byte(fmt.Sprintf("v%05d", i))}, nil)
			if i%100 == 99 {
				if err := in.Flush(context.Background()); err != nil {
					produced <- err
					return
				}
				time.Sleep(20 * time.Millisecond) // pacing, not synchronisation
			}
		}
		produced <- in.Flush(context.Background())
	}()

	type worker struct {
		sess *kgo.GroupTransactSession
		stop chan struct{}
		done chan struct{}
	}
	start := func(id string, crashAfter int) *worker {
		sess, err := kgo.NewGroupTransactSession(
			kgo.SeedBrokers(tb.addr()),
			kgo.TransactionalID(id),
			kgo.TransactionTimeout(5*time.Second),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.ConsumerGroup("eos-group"),
			kgo.ConsumeTopics("eos-in"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.SessionTimeout(6*time.Second),
			kgo.RebalanceTimeout(10*time.Second),
			kgo.FetchMaxWait(200*time.Millisecond),
			kgo.FetchMaxPartitionBytes(2048), // small polls: many transactions
			kgo.RetryTimeout(requestTimeout),
		)
		if err != nil {
			t.Fatal(err)
		}
		w := &worker{sess: sess, stop: make(chan struct{}), done: make(chan struct{})}
		go func() {
			defer close(w.done)
			txns := 0
			for {
				select {
				case <-w.stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				fs := sess.PollRecords(ctx, 50)
				cancel()
				if fs.IsClientClosed() {
					return
				}
				if err := sess.Begin(); err != nil {
					t.Errorf("%s begin: %v", id, err)
					return
				}
				fs.EachRecord(func(r *kgo.Record) {
					sess.Produce(context.Background(), &kgo.Record{Topic: "eos-out", Value: append([]byte("out-"), r.Value...)}, nil)
				})
				if fs.NumRecords() > 0 {
					txns++
				}
				if crashAfter > 0 && txns >= crashAfter {
					// Crash with the transaction open: its records
					// are written, but the worker neither commits
					// nor aborts; it just disappears.
					if err := sess.Client().Flush(context.Background()); err != nil {
						t.Errorf("%s flush: %v", id, err)
					}
					sess.Client().Close()
					return
				}
				ectx, ecancel := context.WithTimeout(context.Background(), requestTimeout)
				if _, err := sess.End(ectx, kgo.TryCommit); err != nil {
					t.Logf("%s end: %v", id, err)
				}
				ecancel()
			}
		}()
		return w
	}
	w0 := start("eos-w0", 0)
	w1 := start("eos-w1", 8)
	// A third worker joins once output flows: another rebalance.
	if !poll(requestTimeout, func() bool {
		sum := int64(0)
		for _, o := range endOffsets(t, adm, "eos-out") {
			sum += o
		}
		return sum > n/10
	}) {
		t.Fatalf("no output from the first workers")
	}
	w2 := start("eos-w2", 0)
	select {
	case <-w1.done: // crashed mid-transaction
	case <-time.After(30 * time.Second):
		t.Fatalf("worker 1 never crashed")
	}
	// Its replacement fences it (same transactional id), aborting its
	// open transaction.
	w1b := start("eos-w1", 0)

	if err := <-produced; err != nil {
		t.Fatalf("producing input: %v", err)
	}
	out := consumeAll(t, tb.addr(), "eos-out", true, n, 90*time.Second)
	for _, w := range []*worker{w0, w2, w1b} {
		close(w.stop)
	}
	for _, w := range []*worker{w0, w2, w1b} {
		<-w.done
		w.sess.Close()
	}

	seen := make(map[string]int, n)
	for _, v := range out {
		seen[v]++
	}
	dups, missing := 0, 0
	for i := 0; i < n; i++ {
		switch c := seen[fmt.Sprintf("out-v%05d", i)]; {
		case c == 0:
			missing++
		case c > 1:
			dups++
		}
	}
	if dups > 0 || missing > 0 || len(out) != n {
		t.Fatalf("output holds %d records for %d inputs: %d duplicated, %d missing", len(out), n, dups, missing)
	}
}

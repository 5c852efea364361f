package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
)

// notWithin fails the test if ch delivers within d: what it stands for
// must still be waiting.
func notWithin[T any](t *testing.T, ch <-chan T, d time.Duration, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("%s answered while its records were not replicated: %v", what, v)
	case <-time.After(d):
	}
}

// within returns what ch delivers within d, failing the test otherwise.
func within[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("%s: no answer within %v", what, d)
		panic("unreachable")
	}
}

func commitOffset(ctx context.Context, adm *kadm.Client, group, topic string, offset int64) error {
	var os kadm.Offsets
	os.AddOffset(topic, 0, offset, -1)
	return adm.CommitAllOffsets(ctx, group, os)
}

func fetchOffset(ctx context.Context, adm *kadm.Client, group, topic string) (int64, error) {
	rs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return 0, err
	}
	r, ok := rs.Lookup(topic, 0)
	if !ok {
		return -1, nil
	}
	return r.At, r.Err
}

type offsetAnswer struct {
	offset int64
	err    error
}

// A group coordinator waits for replication without its shard's lock, as
// Kafka's CoordinatorRuntime does: while a commit of one group waits for
// the high watermark, another group of the same __consumer_offsets
// partition is served at once, a read of the committing group waits with
// the commit (it must not see an offset that is not replicated), and both
// complete when replication catches up.
func TestGroupCommitWaitsForReplicationWithoutTheShardLock(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(c *config.Broker) {
		c.OffsetsTopicNumPartitions = 1 // every group on one shard
		c.OffsetsCommitTimeoutMs = 60_000
	})
	adm := newAdmin(t, tb.addr())
	ctx := ctxFor(t, 2*time.Minute)
	createTopic(t, adm, "held", 1, nil)
	waitTopicReady(t, adm, "held", 1)
	for _, g := range []string{"writer", "reader"} {
		if err := commitOffset(ctx, adm, g, "held", 1); err != nil {
			t.Fatalf("first commit of %s: %v", g, err)
		}
	}

	// One client per concurrent request: a connection serves one request
	// at a time, in Riffle as in Kafka.
	admW, admF, admR := newAdmin(t, tb.addr()), newAdmin(t, tb.addr()), newAdmin(t, tb.addr())
	h := tb.b.HoldCoordinatorReplication()
	released := false
	defer func() {
		if !released {
			h.Release()
		}
	}()
	committed := make(chan error, 1)
	go func() { committed <- commitOffset(ctx, admW, "writer", "held", 10) }()
	notWithin(t, committed, 300*time.Millisecond, "the held commit")
	fetched := make(chan offsetAnswer, 1)
	go func() {
		o, err := fetchOffset(ctx, admF, "writer", "held")
		fetched <- offsetAnswer{o, err}
	}()

	// The other group's requests do not queue behind the held write.
	other := make(chan offsetAnswer, 1)
	go func() {
		o, err := fetchOffset(ctx, admR, "reader", "held")
		other <- offsetAnswer{o, err}
	}()
	if a := within(t, other, requestTimeout, "fetching another group's offset"); a.err != nil || a.offset != 1 {
		t.Fatalf("other group: offset %d, err %v; want 1", a.offset, a.err)
	}
	notWithin(t, fetched, 200*time.Millisecond, "fetching the committing group's offset")
	notWithin(t, committed, 0, "the held commit")

	h.Release()
	released = true
	if err := within(t, committed, requestTimeout, "the commit after replication"); err != nil {
		t.Fatalf("commit after replication: %v", err)
	}
	if a := within(t, fetched, requestTimeout, "the fetch after replication"); a.err != nil || a.offset != 10 {
		t.Fatalf("fetch after replication: offset %d, err %v; want 10", a.offset, a.err)
	}
}

// A commit whose records are not replicated within offsets.commit.timeout.ms
// answers COORDINATOR_NOT_AVAILABLE (Kafka maps the write's
// REQUEST_TIMED_OUT so), and the records stay in the log: once replicated,
// the offset is the committed one, as in Kafka, where a timed-out write is
// not reverted.
func TestGroupCommitReplicationTimeout(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(c *config.Broker) {
		c.OffsetsTopicNumPartitions = 1
		c.OffsetsCommitTimeoutMs = 300
	})
	adm := newAdmin(t, tb.addr())
	ctx := ctxFor(t, time.Minute)
	createTopic(t, adm, "timeout", 1, nil)
	waitTopicReady(t, adm, "timeout", 1)
	if err := commitOffset(ctx, adm, "g", "timeout", 1); err != nil {
		t.Fatalf("first commit: %v", err)
	}

	h := tb.b.HoldCoordinatorReplication()
	rc := dialRaw(t, tb.addr())
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 2 // no member: a simple commit
	req.Group = "g"
	req.Generation = -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "timeout"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = 0, 7
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	start := time.Now()
	resp := rc.roundTrip(req).(*kmsg.OffsetCommitResponse)
	took := time.Since(start)
	h.Release()
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("response: %+v", resp.Topics)
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("held commit answered %v, want COORDINATOR_NOT_AVAILABLE", kerr.ErrorForCode(code))
	}
	if took < 250*time.Millisecond {
		t.Fatalf("held commit answered after %v, before offsets.commit.timeout.ms", took)
	}
	if !poll(requestTimeout, func() bool {
		o, err := fetchOffset(ctx, adm, "g", "timeout")
		return err == nil && o == 7
	}) {
		o, err := fetchOffset(ctx, adm, "g", "timeout")
		t.Fatalf("after replication the offset is %d (err %v), want 7", o, err)
	}
}

// A transaction coordinator answers EndTxn, and writes the markers of the
// decided transaction, only once its PrepareCommit is replicated: a new
// coordinator that took over before then could load the transaction as
// still open. Until then the data partition's last stable offset stays
// before the transaction.
func TestEndTxnWaitsForReplicationBeforeMarkers(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(c *config.Broker) {
		c.TransactionStateLogNumPartitions = 1
	})
	adm := newAdmin(t, tb.addr())
	ctx := ctxFor(t, 2*time.Minute)
	createTopic(t, adm, "txn-held", 1, nil)
	waitTopicReady(t, adm, "txn-held", 1)
	cl := newClient(t, tb.addr(), kgo.TransactionalID("held-txn"), kgo.DefaultProduceTopic("txn-held"))

	produceTxn := func(v string) {
		t.Helper()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatalf("begin: %v", err)
		}
		if err := cl.ProduceSync(ctx, kgo.StringRecord(v)).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	produceTxn("first")
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("first commit: %v", err)
	}
	produceTxn("second")
	lso := func() int64 {
		l, err := adm.ListCommittedOffsets(ctx, "txn-held")
		if err != nil {
			t.Fatalf("list committed offsets: %v", err)
		}
		o, _ := l.Lookup("txn-held", 0)
		return o.Offset
	}
	before := lso() // after the first transaction's marker: 2

	h := tb.b.HoldCoordinatorReplication()
	released := false
	defer func() {
		if !released {
			h.Release()
		}
	}()
	ended := make(chan error, 1)
	go func() { ended <- cl.EndTransaction(ctx, kgo.TryCommit) }()
	notWithin(t, ended, 500*time.Millisecond, "EndTxn")
	if got := lso(); got != before {
		t.Fatalf("last stable offset moved to %d (from %d) before the commit decision was replicated", got, before)
	}

	h.Release()
	released = true
	if err := within(t, ended, requestTimeout, "EndTxn after replication"); err != nil {
		t.Fatalf("EndTxn after replication: %v", err)
	}
	if !poll(requestTimeout, func() bool { return lso() > before+1 }) {
		t.Fatalf("last stable offset stays at %d after the commit", lso())
	}
}

package server_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// requestCounter counts the requests a client writes, by key.
type requestCounter struct{ n [128]atomic.Int64 }

func (c *requestCounter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err == nil && key >= 0 && int(key) < len(c.n) {
		c.n[key].Add(1)
	}
}

func (c *requestCounter) count(k kmsg.Key) int64 { return c.n[k].Load() }

// TestTxnVersion2Franz: a new cluster finalizes transaction.version=2, so
// franz-go runs KIP-890 part 2: no AddPartitionsToTxn (the produce adds
// the partition), an epoch bump at every EndTxn, and a write the producer
// sent with the epoch of an ended transaction is fenced instead of opening
// a hanging one. After a downgrade to transaction.version 0 a new client
// goes back to AddPartitionsToTxn and a stable epoch.
func TestTxnVersion2Franz(t *testing.T) {
	tb := startBroker(t, txnConfig)
	adm := newAdmin(t, tb.addr())
	const topic = "txn-v2"
	createTopic(t, adm, topic, 2, nil)
	ctx := ctxFor(t, 60*time.Second)

	vs, err := adm.ApiVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var tv int16 = -1
	for _, bv := range vs {
		for _, f := range bv.Raw().FinalizedFeatures {
			if f.Name == "transaction.version" {
				tv = f.MaxVersionLevel
			}
		}
	}
	if tv != 2 {
		t.Fatalf("finalized transaction.version %d, want 2", tv)
	}

	epochOf := func(id string) (int64, int16, string) {
		t.Helper()
		var d kadm.DescribedTransaction
		if !poll(requestTimeout, func() bool {
			ds, err := adm.DescribeTransactions(ctx, id)
			if err != nil {
				return false
			}
			d = ds[id]
			return d.Err == nil && (d.State == "CompleteCommit" || d.State == "CompleteAbort" || d.State == "Empty")
		}) {
			t.Fatalf("transaction %s never completed: %+v", id, d)
		}
		return d.ProducerID, d.ProducerEpoch, d.State
	}
	run := func(cl *kgo.Client, n int, commit bool, tag string) {
		t.Helper()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			r := &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: []byte(tag)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce %s: %v", tag, err)
			}
		}
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("end %s: %v", tag, err)
		}
	}

	var rc requestCounter
	cl := newClient(t, tb.addr(), kgo.TransactionalID("tv2"), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.WithHooks(&rc))
	// franz-go runs its first transaction the old way and, seeing the
	// feature in the EndTxn exchange, re-initialises and opts in.
	run(cl, 2, true, "c0")
	added := rc.count(kmsg.AddPartitionsToTxn)
	run(cl, 4, true, "c1")
	pid, e1, st := epochOf("tv2")
	run(cl, 4, false, "a1")
	_, e2, st2 := epochOf("tv2")
	run(cl, 4, true, "c2")
	_, e3, st3 := epochOf("tv2")
	if st != "CompleteCommit" || st2 != "CompleteAbort" || st3 != "CompleteCommit" || e2 != e1+1 || e3 != e2+1 {
		t.Fatalf("epochs %d %s, %d %s, %d %s: want one bump per transaction", e1, st, e2, st2, e3, st3)
	}
	if n := rc.count(kmsg.AddPartitionsToTxn) - added; n != 0 {
		t.Fatalf("the client sent %d AddPartitionsToTxn under transaction version 2", n)
	}

	// A write of the first transaction's epoch arriving now, to a
	// partition in that transaction and to one that was not, must be
	// fenced, not open a transaction nobody will end.
	// Kafka 4.0's versions: Produce v12, topics by name.
	raw := newClient(t, tb.addr(), kgo.MaxVersions(kversion.V4_0_0()))
	for _, part := range []int32{0, 1} {
		code := rawTxnProduce(t, raw, "tv2", topic, part, pid, e1-1, 2)
		if code != kerr.InvalidProducerEpoch.Code {
			t.Fatalf("late write to partition %d: %v, want INVALID_PRODUCER_EPOCH", part, kerr.ErrorForCode(code))
		}
	}
	got := consumeAll(t, tb.addr(), topic, true, 10, 15*time.Second)
	counts := map[string]int{}
	for _, v := range got {
		counts[v]++
	}
	if counts["c0"] != 2 || counts["c1"] != 4 || counts["c2"] != 4 || len(got) != 10 {
		t.Fatalf("read_committed saw %v", counts)
	}
	ends := endOffsets(t, adm, topic)
	for p := int32(0); p < 2; p++ {
		if lso := committedEndPartition(t, tb.addr(), topic, p); lso != ends[p] {
			t.Fatalf("partition %d: LSO %d below the high watermark %d", p, lso, ends[p])
		}
	}

	// kafka-features.sh downgrade --feature transaction.version=0.
	uf, err := adm.UpdateFeatures(ctx, false, kadm.FeatureUpdate{Feature: "transaction.version", MaxVersionLevel: 0, UpgradeType: 2})
	if err != nil || uf.Error() != nil {
		t.Fatalf("downgrade transaction.version: %v %+v", err, uf)
	}
	var rc1 requestCounter
	cl1 := newClient(t, tb.addr(), kgo.TransactionalID("tv1"), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.WithHooks(&rc1))
	run(cl1, 2, true, "v1a")
	_, f1, _ := epochOf("tv1")
	run(cl1, 2, true, "v1b")
	_, f2, _ := epochOf("tv1")
	if f1 != f2 {
		t.Fatalf("epoch moved from %d to %d between transactions at transaction.version 0", f1, f2)
	}
	if rc1.count(kmsg.AddPartitionsToTxn) == 0 {
		t.Fatal("no AddPartitionsToTxn at transaction.version 0")
	}
	if got := consumeAll(t, tb.addr(), topic, true, 14, 15*time.Second); len(got) != 14 {
		t.Fatalf("read_committed saw %d records after the downgrade, want 14", len(got))
	}
}

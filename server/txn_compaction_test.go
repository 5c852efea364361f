package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riffle-io/riffle/config"
)

// TestTxnCompactionRemovesAbortedData: on a compacted topic the log cleaner
// removes aborted transactional records and compacts committed ones, so
// that read_uncommitted and read_committed consumers of the cleaned log both
// see exactly the latest committed value of every key.
func TestTxnCompactionRemovesAbortedData(t *testing.T) {
	tb := startBroker(t, txnConfig, func(c *config.Broker) { c.LogCleanerBackoffMs = 50 })
	adm := newAdmin(t, tb.addr())
	const topic = "txn-compacted"
	s := func(v string) *string { return &v }
	createTopic(t, adm, topic, 1, map[string]*string{
		"cleanup.policy": s("compact"), "segment.ms": s("1"), "min.cleanable.dirty.ratio": s("0.01"),
		"delete.retention.ms": s("0"),
	})
	txn := txnProducer(t, tb.addr(), "tx-compacted")
	plain := newClient(t, tb.addr())
	produce := func(cl *kgo.Client, kvs ...string) {
		t.Helper()
		for _, x := range kvs {
			k, _, _ := strings.Cut(x, "=")
			r := &kgo.Record{Topic: topic, Key: []byte(k), Value: []byte(x)}
			if err := cl.ProduceSync(ctxFor(t, requestTimeout), r).FirstErr(); err != nil {
				t.Fatalf("produce %s: %v", x, err)
			}
		}
	}
	inTxn := func(commit bool, kvs ...string) {
		t.Helper()
		if err := txn.BeginTransaction(); err != nil {
			t.Fatalf("begin: %v", err)
		}
		produce(txn, kvs...)
		end := kgo.TryAbort
		if commit {
			end = kgo.TryCommit
		}
		if err := txn.EndTransaction(ctxFor(t, requestTimeout), end); err != nil {
			t.Fatalf("end transaction: %v", err)
		}
	}
	inTxn(true, "k0=a", "k1=a")
	produce(plain, "k3=p")
	inTxn(false, "k0=x", "k2=x")
	inTxn(true, "k1=b")

	const want = "[k0=a k3=p k1=b]"
	keyed := func(vs []string) string {
		var out []string
		for _, v := range vs {
			if !strings.HasPrefix(v, "f=") {
				out = append(out, v)
			}
		}
		return fmt.Sprint(out)
	}
	// Fillers roll the segments (segment.ms=1) so that the cleaner reaches
	// everything above; each round gives it another chance.
	i := 0
	var uncommitted string
	ok := poll(30*time.Second, func() bool {
		i++
		produce(plain, fmt.Sprintf("f=%d", i))
		uncommitted = keyed(consumeAll(t, tb.addr(), topic, false, 1<<20, 700*time.Millisecond))
		return uncommitted == want
	})
	if !ok {
		t.Fatalf("read_uncommitted of the cleaned log: %s, want %s", uncommitted, want)
	}
	if got := keyed(consumeAll(t, tb.addr(), topic, true, 1<<20, 700*time.Millisecond)); got != want {
		t.Fatalf("read_committed of the cleaned log: %s, want %s", got, want)
	}
	// A transaction after cleaning still works on the compacted log.
	inTxn(true, "k2=c")
	if got := keyed(consumeAll(t, tb.addr(), topic, true, 1<<20, 700*time.Millisecond)); got != "[k0=a k3=p k1=b k2=c]" {
		t.Fatalf("read_committed after a new transaction: %s", got)
	}
}

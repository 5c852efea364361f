package server_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTxnKillDashNine kills the broker process with SIGKILL while a
// transactional producer runs, at a different phase each round: between
// transactions, with a transaction open, and while EndTxn commits (the
// coordinator between PrepareCommit, the markers and CompleteCommit).
// After each restart every transaction is atomic for read_committed
// readers (all of its records or none), every commit the client saw
// acknowledged is visible, aborted transactions never are, and the last
// stable offset catches up with the high watermark.
func TestTxnKillDashNine(t *testing.T) {
	t.Setenv("KAFKA_TRANSACTION_STATE_LOG_NUM_PARTITIONS", "2")
	t.Setenv("KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS", "2")
	t.Setenv("KAFKA_TRANSACTION_ABORT_TIMED_OUT_TRANSACTION_CLEANUP_INTERVAL_MS", "200")
	bin := buildRiffle(t)
	proc := startProc(t, bin, t.TempDir(), freePort(t), freePort(t))
	const topic, parts, perTxn = "txn-crash", 3, 9
	adm := newAdmin(t, proc.addr())
	createTopic(t, adm, topic, parts, nil)

	acked := map[string]bool{}   // transactions whose commit was acknowledged
	aborted := map[string]bool{} // transactions the client aborted
	phases := []string{"between", "open", "committing"}
	for round := 0; round < 6; round++ {
		phase := phases[round%len(phases)]
		events := make(chan string, 64)
		stop := make(chan struct{})
		done := make(chan map[string]string, 1)
		go func() {
			out := map[string]string{}
			defer func() { done <- out }()
			cl, err := kgo.NewClient(kgo.SeedBrokers(proc.addr()), kgo.TransactionalID("crash-tx"),
				kgo.TransactionTimeout(3*time.Second), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
				kgo.RetryTimeout(5*time.Second), kgo.RequestTimeoutOverhead(2*time.Second))
			if err != nil {
				return
			}
			defer cl.Close()
			for k := 0; k < 1000; k++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("r%d-t%d", round, k)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if cl.BeginTransaction() != nil {
					cancel()
					return
				}
				for i := 0; i < perTxn; i++ {
					cl.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("%s-%d", name, i))}, nil)
				}
				if err := cl.Flush(ctx); err != nil {
					cancel()
					return
				}
				events <- "open"
				commit := k%3 != 2
				events <- "committing"
				err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit))
				cancel()
				if err != nil {
					return
				}
				if commit {
					out[name] = "commit"
				} else {
					out[name] = "abort"
				}
				events <- "between"
			}
		}()
		// Kill at the chosen phase, once a few transactions are done.
		seen := 0
		deadline := time.After(60 * time.Second)
	wait:
		for {
			select {
			case e := <-events:
				if e == "between" {
					seen++
				}
				if seen >= 2 && e == phase {
					break wait
				}
			case <-deadline:
				t.Fatalf("round %d: producer made no progress\n%s", round, proc.output())
			}
		}
		proc.kill()
		close(stop)
		go func() {
			for range events {
			}
		}()
		for name, outcome := range <-done {
			if outcome == "commit" {
				acked[name] = true
			} else {
				aborted[name] = true
			}
		}
		proc.start()
		adm = newAdmin(t, proc.addr())
		checkTxnAtomic(t, proc.addr(), adm, topic, parts, perTxn, acked, aborted, round)
	}
}

// checkTxnAtomic waits until no transaction is open on the topic, then
// reads it read_committed and checks every transaction's atomicity.
func checkTxnAtomic(t *testing.T, addr string, adm *kadm.Client, topic string, parts, perTxn int, acked, aborted map[string]bool, round int) {
	t.Helper()
	cl := newClient(t, addr)
	lsoEqualsHW := func() bool {
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = -1
		req.IsolationLevel = 1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		for p := 0; p < parts; p++ {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = int32(p), -1, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return false
		}
		lo, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return false
		}
		for _, p := range resp.Topics[0].Partitions {
			hw, ok := lo.Lookup(topic, p.Partition)
			if kerr.ErrorForCode(p.ErrorCode) != nil || !ok || hw.Err != nil || p.Offset != hw.Offset {
				return false
			}
		}
		return true
	}
	if !poll(30*time.Second, lsoEqualsHW) {
		t.Fatalf("round %d: the last stable offset did not reach the high watermark after restart", round)
	}
	values := consumeAll(t, addr, topic, true, 1<<30, 3*time.Second)
	byTxn := map[string]map[string]int{}
	for _, v := range values {
		i := strings.LastIndexByte(v, '-')
		name := v[:i]
		if byTxn[name] == nil {
			byTxn[name] = map[string]int{}
		}
		byTxn[name][v]++
	}
	var bad []string
	for name, recs := range byTxn {
		if len(recs) != perTxn {
			bad = append(bad, fmt.Sprintf("%s: %d of %d records", name, len(recs), perTxn))
		}
		for v, c := range recs {
			if c != 1 {
				bad = append(bad, fmt.Sprintf("%s: %d copies", v, c))
			}
		}
		if aborted[name] {
			bad = append(bad, name+": aborted but visible")
		}
	}
	for name := range acked {
		if byTxn[name] == nil {
			bad = append(bad, name+": commit acknowledged but not visible")
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Fatalf("round %d: %d problems:\n%s", round, len(bad), strings.Join(bad, "\n"))
	}
}

package server_test

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// stableStressDuration is how long TestOffsetFetchRequireStableStress runs
// at least: a few seconds in `make test`, longer with
// RIFFLE_STABLE_STRESS=<duration> (e.g. 60s).
func stableStressDuration(t *testing.T) time.Duration {
	s := os.Getenv("RIFFLE_STABLE_STRESS")
	if s == "" {
		return 3 * time.Second
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		t.Fatalf("RIFFLE_STABLE_STRESS=%q: want a positive duration", s)
	}
	return d
}

// stableWindow is one transaction's hold on a partition's committed offset:
// from the moment its TxnOffsetCommit was answered until the moment its
// EndTxn was sent, the group coordinator holds the pending offset `to`, and
// a fetch that requires stable offsets must not read `from`.
type stableWindow struct {
	partition   int32
	from, to    int64
	open, close time.Time
}

// stablePoll is one partition's answer to one OffsetFetch of a poller.
type stablePoll struct {
	version    int16
	partition  int32
	sent, recv time.Time
	offset     int64
	code       int16
}

// TestOffsetFetchRequireStableStress is the consume-transform-produce
// handover at its most exposed (KIP-447): transactional producers move a
// group's committed offsets with TxnOffsetCommit and keep each transaction
// open for a few milliseconds before EndTxn, as a slow processor does, while
// pollers play the partition's next owner and fetch the group's offsets
// with RequireStable at every version that has the flag (v7 single group,
// v8-v9 groups by topic name, v10 by topic ID). A poll sent after a
// TxnOffsetCommit was answered and answered before that transaction's
// EndTxn was sent must be UNSTABLE_OFFSET_COMMIT: an answer with the old
// offset makes the new owner consume the transaction's input a second time
// once it commits (the duplicates of the exactly-once chain). Offsets seen
// by one poller never go back. The test runs until enough polls have landed
// inside open transactions, so a loaded machine cannot make it vacuous.
func TestOffsetFetchRequireStableStress(t *testing.T) {
	const (
		in, out, group = "stable-stress-in", "stable-stress-out", "stable-stress-g"
		parts          = 4
		perTxn         = 5  // input offsets each transaction moves
		minInWindow    = 40 // polls that must land inside open transactions
	)
	minRun := stableStressDuration(t)
	hardStop := minRun + 90*time.Second
	tb := startBroker(t, txnConfig)
	adm := newAdmin(t, tb.addr())
	topicID := [16]byte(createTopic(t, adm, in, parts, nil).ID)
	createTopic(t, adm, out, parts, nil)

	ctx, cancel := context.WithTimeout(context.Background(), hardStop+30*time.Second)
	defer cancel()
	start := time.Now()
	stop := make(chan struct{})
	var (
		mu      sync.Mutex
		windows []stableWindow
		polls   []stablePoll
		errs    []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(errs) < 20 {
			errs = append(errs, fmt.Sprintf(format, args...))
		}
	}
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}

	var wg sync.WaitGroup
	for p := int32(0); p < parts; p++ {
		txnID := fmt.Sprintf("stable-stress-%d", p)
		cl := newClient(t, tb.addr(), kgo.TransactionalID(txnID), kgo.DefaultProduceTopic(out),
			kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionTimeout(60*time.Second))
		rng := rand.New(rand.NewSource(int64(p) + time.Now().UnixNano()))
		wg.Add(1)
		go func() {
			defer wg.Done()
			var committed int64
			for !stopped() {
				if err := cl.BeginTransaction(); err != nil {
					fail("%s: begin: %v", txnID, err)
					return
				}
				recs := make([]*kgo.Record, perTxn)
				for i := range recs {
					recs[i] = &kgo.Record{Partition: p, Value: fmt.Appendf(nil, "%d:%d", p, committed+int64(i))}
				}
				if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
					fail("%s: produce: %v", txnID, err)
					return
				}
				pid, epoch, err := cl.ProducerID(ctx)
				if err != nil {
					fail("%s: producer id: %v", txnID, err)
					return
				}
				add := kmsg.NewPtrAddOffsetsToTxnRequest()
				add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = txnID, pid, epoch, group
				if resp, err := add.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
					fail("%s: add offsets to txn: %v %+v", txnID, err, resp)
					return
				}
				toc := kmsg.NewPtrTxnOffsetCommitRequest()
				toc.TransactionalID, toc.Group, toc.ProducerID, toc.ProducerEpoch = txnID, group, pid, epoch
				toc.Generation = -1
				tt := kmsg.NewTxnOffsetCommitRequestTopic()
				tt.Topic = in
				tp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
				tp.Partition, tp.Offset, tp.LeaderEpoch = p, committed+perTxn, -1
				tt.Partitions = append(tt.Partitions, tp)
				toc.Topics = append(toc.Topics, tt)
				resp, err := toc.RequestWith(ctx, cl)
				if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
					fail("%s: txn offset commit: %v %+v", txnID, err, resp)
					return
				}
				w := stableWindow{partition: p, from: committed, to: committed + perTxn, open: time.Now()}
				// A transaction that stays open a little, as one whose
				// processor is slow to finish does.
				time.Sleep(time.Duration(5+rng.Intn(30)) * time.Millisecond)
				w.close = time.Now()
				mu.Lock()
				windows = append(windows, w)
				mu.Unlock()
				if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
					fail("%s: end transaction: %v", txnID, err)
					return
				}
				committed += perTxn
			}
		}()
	}

	for v := int16(7); v <= 10; v++ {
		vs := kversion.Stable()
		vs.SetMaxKeyVersion(int16(kmsg.OffsetFetch), v)
		cl := newClient(t, tb.addr(), kgo.MaxVersions(vs))
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := make(map[int32]int64)
			for !stopped() {
				req := kmsg.NewPtrOffsetFetchRequest()
				req.RequireStable = true
				all := []int32{0, 1, 2, 3}
				if v < 8 {
					req.Group = group
					rt := kmsg.NewOffsetFetchRequestTopic()
					rt.Topic, rt.Partitions = in, all
					req.Topics = append(req.Topics, rt)
				} else {
					rg := kmsg.NewOffsetFetchRequestGroup()
					rg.Group = group
					rt := kmsg.NewOffsetFetchRequestGroupTopic()
					rt.Topic, rt.Partitions = in, all
					if v >= 10 {
						rt.Topic, rt.TopicID = "", topicID
					}
					rg.Topics = append(rg.Topics, rt)
					req.Groups = append(req.Groups, rg)
				}
				sent := time.Now()
				resp, err := req.RequestWith(ctx, cl)
				recv := time.Now()
				if err != nil {
					fail("OffsetFetch v%d: %v", v, err)
					return
				}
				if resp.Version != v {
					fail("OffsetFetch sent at v%d, want v%d", resp.Version, v)
					return
				}
				var got []stablePoll
				add := func(p int32, offset int64, code int16) {
					got = append(got, stablePoll{version: v, partition: p, sent: sent, recv: recv, offset: offset, code: code})
				}
				if v < 8 {
					if resp.ErrorCode != 0 {
						fail("OffsetFetch v%d: %v", v, kerr.ErrorForCode(resp.ErrorCode))
						return
					}
					for _, rt := range resp.Topics {
						for _, rp := range rt.Partitions {
							add(rp.Partition, rp.Offset, rp.ErrorCode)
						}
					}
				} else {
					for _, rg := range resp.Groups {
						if rg.ErrorCode != 0 {
							fail("OffsetFetch v%d: %v", v, kerr.ErrorForCode(rg.ErrorCode))
							return
						}
						for _, rt := range rg.Topics {
							for _, rp := range rt.Partitions {
								add(rp.Partition, rp.Offset, rp.ErrorCode)
							}
						}
					}
				}
				if len(got) != parts {
					fail("OffsetFetch v%d: %d partitions answered, want %d: %+v", v, len(got), parts, resp)
					return
				}
				for _, g := range got {
					switch g.code {
					case 0:
						if prev, ok := last[g.partition]; ok && g.offset < prev {
							fail("OffsetFetch v%d: partition %d went back from offset %d to %d", v, g.partition, prev, g.offset)
						}
						last[g.partition] = g.offset
					case kerr.UnstableOffsetCommit.Code:
					default:
						fail("OffsetFetch v%d partition %d: %v", v, g.partition, kerr.ErrorForCode(g.code))
					}
				}
				mu.Lock()
				polls = append(polls, got...)
				mu.Unlock()
			}
		}()
	}

	// inWindow counts the polls that must have been answered
	// UNSTABLE_OFFSET_COMMIT (sent after a TxnOffsetCommit was answered,
	// answered before its EndTxn was sent) and returns the ones that were
	// not.
	inWindow := func() (n int, bad []string) {
		mu.Lock()
		defer mu.Unlock()
		byPart := make(map[int32][]stableWindow)
		for _, w := range windows {
			byPart[w.partition] = append(byPart[w.partition], w)
		}
		for _, pl := range polls {
			// One committer per partition: its windows do not overlap
			// and are in time order, so only the last one opened before
			// the poll was sent can contain it.
			ws := byPart[pl.partition]
			i := sort.Search(len(ws), func(i int) bool { return !ws[i].open.Before(pl.sent) }) - 1
			if i < 0 || !pl.recv.Before(ws[i].close) {
				continue
			}
			w := ws[i]
			n++
			if pl.code != kerr.UnstableOffsetCommit.Code {
				bad = append(bad, fmt.Sprintf("v%d partition %d: read committed offset %d (code %d) %v into a transaction moving it %d→%d that stayed open %v longer",
					pl.version, pl.partition, pl.offset, pl.code, pl.sent.Sub(w.open).Round(time.Microsecond), w.from, w.to, w.close.Sub(pl.recv).Round(time.Microsecond)))
			}
		}
		return n, bad
	}
	for {
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		failed := len(errs) > 0
		mu.Unlock()
		if failed || time.Since(start) >= hardStop {
			break
		}
		if time.Since(start) >= minRun {
			if n, _ := inWindow(); n >= minInWindow {
				break
			}
		}
	}
	close(stop)
	wg.Wait()
	for _, e := range errs {
		t.Error(e)
	}
	n, bad := inWindow()
	t.Logf("%v: %d transactions, %d partition answers, %d inside open transactions, %d of them not UNSTABLE_OFFSET_COMMIT",
		time.Since(start).Round(time.Millisecond), len(windows), len(polls), n, len(bad))
	for i, b := range bad {
		if i == 10 {
			t.Errorf("… and %d more", len(bad)-i)
			break
		}
		t.Error(b)
	}
	if n < minInWindow && len(errs) == 0 {
		t.Fatalf("only %d polls landed inside open transactions in %v, want %d", n, hardStop, minInWindow)
	}
}

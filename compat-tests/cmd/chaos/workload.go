package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/riffle-io/riffle/compat-tests/chaos/checker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// recorder collects the history; every producer and consumer appends to it.
type recorder struct {
	mu sync.Mutex
	h  checker.History
}

func (r *recorder) write(w checker.Write) {
	r.mu.Lock()
	r.h.Writes = append(r.h.Writes, w)
	r.mu.Unlock()
}

func (r *recorder) txn(t checker.Txn) {
	r.mu.Lock()
	r.h.Txns = append(r.h.Txns, t)
	r.mu.Unlock()
}

func (r *recorder) fault(f checker.Fault) {
	r.mu.Lock()
	r.h.Faults = append(r.h.Faults, f)
	r.mu.Unlock()
}

// clientOpts are the options every client of the run shares: metadata
// refreshed soon after a leader moves, so that failover times measure the
// cluster and not the client's metadata cache.
func (c *config) clientOpts(extra ...kgo.Opt) []kgo.Opt {
	if c.hosts != nil {
		extra = append(extra, kgo.Dialer(c.dialContainer))
	}
	return append([]kgo.Opt{
		kgo.SeedBrokers(c.seeds...),
		kgo.MetadataMinAge(250 * time.Millisecond),
		kgo.MetadataMaxAge(5 * time.Second),
		kgo.RetryTimeout(time.Minute),
	}, extra...)
}

// inflight tracks records whose outcome has not arrived, so that the run
// can wait for them (bounded) and mark the rest as of unknown outcome.
type inflight struct {
	mu      sync.Mutex
	pending map[*checker.Write]bool
}

func (f *inflight) add(w *checker.Write) {
	f.mu.Lock()
	f.pending[w] = true
	f.mu.Unlock()
}

func (f *inflight) done(w *checker.Write) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.pending[w] {
		return false // already given up on
	}
	delete(f.pending, w)
	return true
}

func (f *inflight) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pending)
}

// abandon marks every pending write as of unknown outcome.
func (f *inflight) abandon(rec *recorder) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for w := range f.pending {
		w.Lost = true
		w.Err = "no outcome before the run ended"
		rec.write(*w)
		n++
	}
	f.pending = map[*checker.Write]bool{}
	return n
}

// producer writes "p=<id> s=<seq>" at a steady rate, round-robin over the
// topic's partitions, with an idempotent acks=all client, until ctx ends.
func (c *config) producer(ctx context.Context, id int, topic string, partitions int32, rate float64, rec *recorder, fl *inflight) error {
	cl, err := kgo.NewClient(c.clientOpts(
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MaxBufferedRecords(int(rate*30)+10),
		kgo.RecordDeliveryTimeout(c.deliveryTimeout),
		kgo.ProducerLinger(5*time.Millisecond),
	)...)
	if err != nil {
		return err
	}
	go func() {
		<-c.done // close after the outcomes are collected
		cl.Close()
	}()
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	for seq := int64(0); ; seq++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		w := &checker.Write{Topic: topic, Partition: int32(seq % int64(partitions)), Producer: id, Seq: seq, Sent: time.Now()}
		fl.add(w)
		r := &kgo.Record{Topic: topic, Partition: w.Partition, Value: []byte(w.Value())}
		cl.TryProduce(context.Background(), r, func(r *kgo.Record, err error) {
			if !fl.done(w) {
				return
			}
			w.Done = time.Now()
			if err != nil {
				w.Err = err.Error()
				c.logErr("producer %d: %v", id, err)
			} else {
				w.Offset = r.Offset
			}
			rec.write(*w)
		})
	}
}

// txnProducer runs transactions of three records each over the topic, one
// in three aborted on purpose, recording every record and each outcome. A
// client whose transaction fails is replaced by a new one (same
// transactional id: InitProducerID fences and aborts what was open).
func (c *config) txnProducer(ctx context.Context, id int, topic string, partitions int32, rec *recorder, fl *inflight) {
	var seq int64
	for txn := int64(1); ctx.Err() == nil; {
		cl, err := kgo.NewClient(c.clientOpts(
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.TransactionalID(fmt.Sprintf("chaos-txn-%s", c.runID)),
			kgo.TransactionTimeout(20*time.Second),
			kgo.RecordDeliveryTimeout(c.deliveryTimeout),
		)...)
		if err != nil {
			c.logErr("txn producer: %v", err)
			sleepCtx(ctx, time.Second)
			continue
		}
		for ; ctx.Err() == nil; txn++ {
			if err := cl.BeginTransaction(); err != nil {
				c.logErr("txn %d begin: %v", txn, err)
				break
			}
			intent := "commit"
			if txn%3 == 0 {
				intent = "abort"
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			failed := false
			for i := 0; i < 3; i++ {
				w := &checker.Write{Topic: topic, Partition: int32((seq + int64(i)) % int64(partitions)), Producer: id, Seq: seq, Sent: time.Now(), Txn: txn}
				seq++
				fl.add(w)
				wg.Add(1)
				cl.Produce(context.Background(), &kgo.Record{Topic: topic, Partition: w.Partition, Value: []byte(w.Value())}, func(r *kgo.Record, err error) {
					defer wg.Done()
					if !fl.done(w) {
						return
					}
					w.Done = time.Now()
					if err != nil {
						w.Err = err.Error()
						mu.Lock()
						failed = true
						mu.Unlock()
					} else {
						w.Offset = r.Offset
					}
					rec.write(*w)
				})
			}
			wg.Wait()
			if failed {
				intent = "abort"
			}
			ectx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := cl.EndTransaction(ectx, kgo.TransactionEndTry(intent == "commit"))
			cancel()
			t := checker.Txn{ID: txn, Intent: intent, Outcome: map[string]string{"commit": "committed", "abort": "aborted"}[intent]}
			if err != nil {
				t.Outcome = "unknown"
				c.logErr("txn %d end (%s): %v", txn, intent, err)
			}
			rec.txn(t)
			if err != nil {
				txn++
				break
			}
			sleepCtx(ctx, 200*time.Millisecond)
		}
		cl.Close()
	}
}

// consumer polls the topic from the start as a direct (groupless)
// consumer and records every record in the order polled.
func (c *config) consumer(ctx context.Context, name string, committed bool, topics []string) checker.Consumer {
	out := checker.Consumer{Name: name, ReadCommitted: committed}
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl, err := kgo.NewClient(c.clientOpts(
		kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(iso),
		kgo.FetchMaxWait(time.Second),
	)...)
	if err != nil {
		c.logErr("consumer %s: %v", name, err)
		return out
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				c.logErr("consumer %s %s/%d: %v", name, t, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			out.Records = append(out.Records, checker.Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Value: string(r.Value)})
		})
	}
	return out
}

// finalRead reads every partition of the topics from its log start, at
// both isolation levels, up to the ends listed first (the producers have
// stopped). A partition counts as read to its end once its last record
// reaches the end offset less one, or once nothing has arrived for
// idle (transaction markers can sit at the very end).
func (c *config) finalRead(ctx context.Context, topics []string) (checker.FinalRead, error) {
	var fr checker.FinalRead
	adm, err := kgo.NewClient(c.clientOpts()...)
	if err != nil {
		return fr, err
	}
	defer adm.Close()
	ad := kadm.NewClient(adm)
	var starts, hws, lsos kadm.ListedOffsets
	for attempt := 0; ; attempt++ {
		starts, err = ad.ListStartOffsets(ctx, topics...)
		if err == nil {
			err = starts.Error()
		}
		if err == nil {
			hws, err = ad.ListEndOffsets(ctx, topics...)
		}
		if err == nil {
			err = hws.Error()
		}
		if err == nil {
			lsos, err = ad.ListCommittedOffsets(ctx, topics...)
		}
		if err == nil {
			err = lsos.Error()
		}
		if err == nil || attempt == 30 || ctx.Err() != nil {
			break
		}
		sleepCtx(ctx, 2*time.Second)
	}
	if err != nil {
		return fr, fmt.Errorf("listing offsets: %w", err)
	}
	hws.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(o.Topic, o.Partition)
		l, _ := lsos.Lookup(o.Topic, o.Partition)
		fr.Ends = append(fr.Ends, checker.PartitionEnd{Topic: o.Topic, Partition: o.Partition,
			LogStart: s.Offset, HighWatermark: o.Offset, LastStable: l.Offset})
	})
	read := func(committed bool, ends kadm.ListedOffsets) ([]checker.Record, error) {
		from := map[string]map[int32]kgo.Offset{}
		want := 0
		ends.Each(func(o kadm.ListedOffset) {
			if from[o.Topic] == nil {
				from[o.Topic] = map[int32]kgo.Offset{}
			}
			from[o.Topic][o.Partition] = kgo.NewOffset().AtStart()
			want++
		})
		iso := kgo.ReadUncommitted()
		if committed {
			iso = kgo.ReadCommitted()
		}
		cl, err := kgo.NewClient(c.clientOpts(kgo.ConsumePartitions(from), kgo.FetchIsolationLevel(iso), kgo.FetchMaxWait(500*time.Millisecond))...)
		if err != nil {
			return nil, err
		}
		defer cl.Close()
		var out []checker.Record
		finished := map[string]bool{}
		last := time.Now()
		for len(finished) < want && time.Since(last) < c.idle && ctx.Err() == nil {
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			fs := cl.PollFetches(pctx)
			cancel()
			fs.EachError(func(t string, p int32, err error) {
				if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
					c.logErr("final read %s/%d: %v", t, p, err)
				}
			})
			fs.EachRecord(func(r *kgo.Record) {
				last = time.Now()
				out = append(out, checker.Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Value: string(r.Value)})
				if e, ok := ends.Lookup(r.Topic, r.Partition); ok && r.Offset >= e.Offset-1 {
					finished[fmt.Sprintf("%s/%d", r.Topic, r.Partition)] = true
				}
			})
		}
		return out, ctx.Err()
	}
	if fr.Uncommitted, err = read(false, hws); err != nil {
		return fr, err
	}
	fr.Committed, err = read(true, lsos)
	return fr, err
}

// createTopic creates a topic, retrying while the cluster is not ready.
func (c *config) createTopic(ctx context.Context, topic string, partitions int32) error {
	cl, err := kgo.NewClient(c.clientOpts()...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ad := kadm.NewClient(cl)
	cfg := map[string]*string{"min.insync.replicas": &c.minISR}
	for attempt := 0; ; attempt++ {
		r, err := ad.CreateTopic(ctx, partitions, int16(c.rf), cfg, topic)
		if err == nil {
			err = r.Err
		}
		if err == nil {
			break
		}
		if attempt == 30 || ctx.Err() != nil {
			return fmt.Errorf("create %s: %w", topic, err)
		}
		log.Printf("create %s: %v (retrying)", topic, err)
		sleepCtx(ctx, 2*time.Second)
	}
	// Wait until every partition has a leader.
	for attempt := 0; attempt < 60; attempt++ {
		md, err := ad.Metadata(ctx, topic)
		if err == nil {
			t := md.Topics[topic]
			ok := t.Err == nil && len(t.Partitions) == int(partitions)
			for _, p := range t.Partitions {
				ok = ok && p.Leader >= 0 && p.Err == nil
			}
			if ok {
				return nil
			}
		}
		sleepCtx(ctx, 500*time.Millisecond)
	}
	return fmt.Errorf("%s: partitions without a leader after 30 s", topic)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

package main

import (
	"context"
	"fmt"
	"log"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func (c *config) eosGroup() string { return "chaos-eos-" + c.runID }
func (c *config) eosTxnID() string { return "chaos-eos-txn-" + c.runID }
func (c *config) eosIn() string    { return c.topic + "-eos-in" }
func (c *config) eosOut() string   { return c.topic + "-eos-out" }

// eosPartitions is the partition count of the pipeline's topics; the
// output record goes to the input record's partition number.
const eosPartitions = 3

// pipeline is an exactly-once consume-transform-produce loop (franz-go's
// GroupTransactSession): each input record is copied to the output topic,
// and the consumed offsets are committed in the same transaction. It runs
// until ctx ends, replacing its session after a failed transaction (no
// error End returns is retryable).
func (c *config) pipeline(ctx context.Context, moved *atomic.Int64) {
	for ctx.Err() == nil {
		sess, err := kgo.NewGroupTransactSession(c.clientOpts(
			kgo.ConsumerGroup(c.eosGroup()),
			kgo.ConsumeTopics(c.eosIn()),
			kgo.TransactionalID(c.eosTxnID()),
			kgo.TransactionTimeout(20*time.Second),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.RequireStableFetchOffsets(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.SessionTimeout(15*time.Second),
			kgo.FetchMaxWait(time.Second),
		)...)
		if err != nil {
			c.logErr("pipeline: %v", err)
			sleepCtx(ctx, time.Second)
			continue
		}
		for ctx.Err() == nil {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			fs := sess.PollFetches(pctx)
			cancel()
			if ctx.Err() != nil {
				break
			}
			fs.EachError(func(t string, p int32, err error) {
				if pctx.Err() == nil {
					c.logErr("pipeline fetch %s/%d: %v", t, p, err)
				}
			})
			if fs.NumRecords() == 0 {
				continue
			}
			if err = sess.Begin(); err != nil {
				c.logErr("pipeline begin: %v", err)
				break
			}
			n := int64(0)
			fs.EachRecord(func(r *kgo.Record) {
				n++
				sess.Produce(ctx, &kgo.Record{Topic: c.eosOut(), Partition: r.Partition, Value: r.Value}, func(_ *kgo.Record, err error) {
					if err != nil {
						c.logErr("pipeline produce: %v", err)
					}
				})
			})
			ectx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			committed, err := sess.End(ectx, kgo.TryCommit)
			cancel()
			if err != nil {
				c.logErr("pipeline end: %v", err)
				break
			}
			if committed {
				moved.Add(n)
			}
		}
		sess.Close()
	}
}

// waitPipelineDrained waits until the pipeline's group has committed the
// end offset of every input partition, or the bound passes.
func (c *config) waitPipelineDrained(ctx context.Context, adm *kadm.Client, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	var lastErr error
	for time.Now().Before(deadline) && ctx.Err() == nil {
		ends, err := adm.ListEndOffsets(ctx, c.eosIn())
		if err == nil {
			err = ends.Error()
		}
		var committed kadm.OffsetResponses
		if err == nil {
			committed, err = adm.FetchOffsets(ctx, c.eosGroup())
		}
		if err == nil {
			behind := 0
			ends.Each(func(o kadm.ListedOffset) {
				got, ok := committed.Lookup(o.Topic, o.Partition)
				if !ok || got.At < o.Offset {
					behind++
				}
			})
			if behind == 0 {
				return nil
			}
			err = fmt.Errorf("%d input partitions not yet committed to their end", behind)
		}
		lastErr = err
		sleepCtx(ctx, time.Second)
	}
	log.Printf("pipeline not drained within %v: %v", bound, lastErr)
	return lastErr
}

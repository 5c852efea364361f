package franzgo

import (
	"context"
	"fmt"
	"time"

	"github.com/riffle-io/riffle/compat-tests/suite"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ProduceTxns runs kgo's transactional producer: BeginTransaction, produce,
// Flush, then EndTransaction with TryCommit or TryAbort.
func (d Driver) ProduceTxns(ctx context.Context, topic, txnID string, txns []suite.Txn) error {
	cl, err := d.client(
		kgo.TransactionalID(txnID),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(5*time.Millisecond),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	for i, txn := range txns {
		if err := cl.BeginTransaction(); err != nil {
			return fmt.Errorf("transaction %d: begin: %w", i, err)
		}
		recs := make([]*kgo.Record, len(txn.Records))
		for j, r := range txn.Records {
			recs[j] = suite.ToKgo(topic, r)
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return fmt.Errorf("transaction %d: produce: %w", i, err)
		}
		end := kgo.TryAbort
		if txn.Commit {
			end = kgo.TryCommit
		}
		if err := cl.EndTransaction(ctx, end); err != nil {
			return fmt.Errorf("transaction %d: end (commit %v): %w", i, txn.Commit, err)
		}
	}
	return nil
}

// ConsumeCommitted is Consume with kgo.FetchIsolationLevel(ReadCommitted).
func (d Driver) ConsumeCommitted(ctx context.Context, topic string, counts map[int32]int) ([]suite.Record, error) {
	return d.consume(ctx, topic, counts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
}

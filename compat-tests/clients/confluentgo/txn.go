package confluentgo

import (
	"context"
	"fmt"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/riffle-io/riffle/compat-tests/suite"
)

// ProduceTxns runs librdkafka's transactional producer: InitTransactions,
// then per transaction BeginTransaction, Produce with delivery reports,
// and CommitTransaction or AbortTransaction.
func (d Driver) ProduceTxns(ctx context.Context, topic, txnID string, txns []suite.Txn) error {
	prod, err := kafka.NewProducer(d.config(kafka.ConfigMap{
		"transactional.id": txnID,
		"compression.type": "none",
		"linger.ms":        5,
	}))
	if err != nil {
		return err
	}
	defer prod.Close()
	if err := prod.InitTransactions(ctx); err != nil {
		return fmt.Errorf("init transactions: %w", err)
	}
	for i, txn := range txns {
		if err := prod.BeginTransaction(); err != nil {
			return fmt.Errorf("transaction %d: begin: %w", i, err)
		}
		events := make(chan kafka.Event, len(txn.Records))
		for _, r := range txn.Records {
			m := &kafka.Message{
				TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: r.Partition},
				Key:            r.Key,
				Value:          r.Value,
				Timestamp:      r.Timestamp,
			}
			for _, h := range r.Headers {
				m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: h.Value})
			}
			if err := prod.Produce(m, events); err != nil {
				return fmt.Errorf("transaction %d: produce: %w", i, err)
			}
		}
		// Wait for every delivery report, so that the records are in the
		// log before the transaction ends (an abort would purge them).
		for done := 0; done < len(txn.Records); done++ {
			select {
			case ev := <-events:
				m, ok := ev.(*kafka.Message)
				if !ok {
					return fmt.Errorf("transaction %d: unexpected event %v", i, ev)
				}
				if m.TopicPartition.Error != nil {
					return fmt.Errorf("transaction %d: delivery: %w", i, m.TopicPartition.Error)
				}
			case <-ctx.Done():
				return fmt.Errorf("transaction %d: %d of %d delivery reports before the deadline", i, done, len(txn.Records))
			}
		}
		if txn.Commit {
			err = prod.CommitTransaction(ctx)
		} else {
			err = prod.AbortTransaction(ctx)
		}
		if err != nil {
			return fmt.Errorf("transaction %d: end (commit %v): %w", i, txn.Commit, err)
		}
	}
	return nil
}

// ConsumeCommitted is Consume with isolation.level=read_committed, set
// explicitly rather than relying on the default.
func (d Driver) ConsumeCommitted(ctx context.Context, topic string, counts map[int32]int) ([]suite.Record, error) {
	return d.consume(ctx, topic, counts, "read_committed")
}

package sarama

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/riffle-io/riffle/compat-tests/suite"
)

// ProduceTxns runs Sarama's transactional SyncProducer (BeginTxn,
// SendMessages, CommitTxn or AbortTxn) with the settings Sarama requires of
// one: idempotence, one in-flight request, acks=all.
func (d Driver) ProduceTxns(ctx context.Context, topic, txnID string, txns []suite.Txn) error {
	cfg := d.config(ctx)
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Idempotent = true
	cfg.Producer.Transaction.ID = txnID
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	cfg.Net.MaxOpenRequests = 1
	prod, err := sarama.NewSyncProducer(d.Seeds, cfg)
	if err != nil {
		return err
	}
	defer prod.Close()
	for i, txn := range txns {
		if err := prod.BeginTxn(); err != nil {
			return fmt.Errorf("transaction %d: begin: %w", i, err)
		}
		msgs := make([]*sarama.ProducerMessage, len(txn.Records))
		for j, r := range txn.Records {
			m := &sarama.ProducerMessage{
				Topic:     topic,
				Partition: r.Partition,
				Key:       sarama.ByteEncoder(r.Key),
				Value:     sarama.ByteEncoder(r.Value),
				Timestamp: r.Timestamp,
			}
			for _, h := range r.Headers {
				m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
			}
			msgs[j] = m
		}
		if err := prod.SendMessages(msgs); err != nil {
			var perrs sarama.ProducerErrors
			if errors.As(err, &perrs) && len(perrs) > 0 {
				err = perrs[0].Err
			}
			return fmt.Errorf("transaction %d: produce: %w", i, err)
		}
		if txn.Commit {
			err = prod.CommitTxn()
		} else {
			err = prod.AbortTxn()
		}
		if err != nil {
			return fmt.Errorf("transaction %d: end (commit %v): %w", i, txn.Commit, err)
		}
	}
	return nil
}

// ConsumeCommitted is Consume with Consumer.IsolationLevel = ReadCommitted.
func (d Driver) ConsumeCommitted(ctx context.Context, topic string, counts map[int32]int) ([]suite.Record, error) {
	return d.consume(ctx, topic, counts, sarama.ReadCommitted)
}

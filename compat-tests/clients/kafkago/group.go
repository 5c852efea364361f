package kafkago

import (
	"context"
	"fmt"
	"time"

	"github.com/riffle-io/riffle/compat-tests/suite"
	"github.com/segmentio/kafka-go"
)

// GroupConsume uses a Reader with a GroupID (kafka-go's default balancers,
// range and round-robin), FetchMessage and an explicit CommitMessages.
func (d Driver) GroupConsume(ctx context.Context, group, topic string, n int) ([]suite.Record, error) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           d.Seeds,
		GroupID:           group,
		Topic:             topic,
		StartOffset:       kafka.FirstOffset,
		MaxWait:           200 * time.Millisecond,
		HeartbeatInterval: 500 * time.Millisecond,
		// CommitInterval 0: CommitMessages commits synchronously.
	})
	defer r.Close() // LeaveGroup
	var msgs []kafka.Message
	out := make([]suite.Record, 0, n)
	for len(msgs) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return nil, fmt.Errorf("after %d of %d records: %w", len(msgs), n, err)
		}
		msgs = append(msgs, m)
		rec := suite.Record{Partition: int32(m.Partition), Offset: m.Offset, Key: m.Key, Value: m.Value, Timestamp: m.Time}
		for _, h := range m.Headers {
			rec.Headers = append(rec.Headers, suite.Header{Key: h.Key, Value: h.Value})
		}
		out = append(out, rec)
	}
	if err := r.CommitMessages(ctx, msgs...); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	if err := r.Close(); err != nil {
		return nil, fmt.Errorf("close: %w", err)
	}
	return out, nil
}

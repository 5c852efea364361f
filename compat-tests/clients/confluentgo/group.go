package confluentgo

import (
	"context"
	"fmt"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/riffle-io/riffle/compat-tests/suite"
)

// GroupConsume subscribes with librdkafka's default assignors (range,
// roundrobin), polls n messages and commits their offsets explicitly.
func (d Driver) GroupConsume(ctx context.Context, group, topic string, n int) ([]suite.Record, error) {
	cons, err := kafka.NewConsumer(d.config(kafka.ConfigMap{
		"group.id":           group,
		"enable.auto.commit": false,
		"auto.offset.reset":  "earliest",
		"fetch.wait.max.ms":  200,
	}))
	if err != nil {
		return nil, err
	}
	closed := false
	defer func() {
		if !closed {
			cons.Close()
		}
	}()
	if err := cons.Subscribe(topic, nil); err != nil {
		return nil, err
	}
	out := make([]suite.Record, 0, n)
	next := map[int32]kafka.Offset{}
	for len(out) < n {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%d of %d records before the deadline", len(out), n)
		}
		switch e := cons.Poll(100).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				return nil, e.TopicPartition.Error
			}
			r := suite.Record{Partition: e.TopicPartition.Partition, Offset: int64(e.TopicPartition.Offset), Key: e.Key, Value: e.Value, Timestamp: e.Timestamp}
			for _, h := range e.Headers {
				r.Headers = append(r.Headers, suite.Header{Key: h.Key, Value: h.Value})
			}
			out = append(out, r)
			next[r.Partition] = e.TopicPartition.Offset + 1
		case kafka.Error:
			if e.IsFatal() {
				return nil, e
			}
		}
	}
	var tps []kafka.TopicPartition
	for p, o := range next {
		tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: p, Offset: o})
	}
	if _, err := cons.CommitOffsets(tps); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	closed = true
	if err := cons.Close(); err != nil { // LeaveGroup
		return nil, fmt.Errorf("close: %w", err)
	}
	return out, nil
}

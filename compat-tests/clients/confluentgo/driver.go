// Package confluentgo drives github.com/confluentinc/confluent-kafka-go/v2
// (librdkafka through cgo; the bundled static librdkafka by default, or the
// system one with -tags dynamic) in the compat matrix.
package confluentgo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/riffle-io/riffle/compat-tests/suite"
)

// Driver implements suite.Driver with confluent-kafka-go.
type Driver struct{ Seeds []string }

func (Driver) Name() string     { return "confluent-go" }
func (Driver) Caps() suite.Caps { return suite.Caps{SetsTimestamps: true} }

func (d Driver) config(extra kafka.ConfigMap) *kafka.ConfigMap {
	cm := kafka.ConfigMap{
		"bootstrap.servers": strings.Join(d.Seeds, ","),
		"client.id":         "riffle-compat",
		"log_level":         3, // errors only: librdkafka is chatty on stderr
	}
	for k, v := range extra {
		cm[k] = v
	}
	return &cm
}

// timeoutMs turns the context deadline into librdkafka's millisecond timeouts.
func timeoutMs(ctx context.Context) int {
	if dl, ok := ctx.Deadline(); ok {
		return max(int(time.Until(dl).Milliseconds()), 1)
	}
	return 15000
}

func (d Driver) Metadata(ctx context.Context, topic string) (suite.Metadata, error) {
	adm, err := kafka.NewAdminClient(d.config(nil))
	if err != nil {
		return suite.Metadata{}, err
	}
	defer adm.Close()
	m, err := adm.GetMetadata(&topic, false, timeoutMs(ctx))
	if err != nil {
		return suite.Metadata{}, err
	}
	md := suite.Metadata{Leaders: map[int32]int32{}}
	for _, b := range m.Brokers {
		md.Brokers = append(md.Brokers, suite.Broker{ID: b.ID, Host: b.Host, Port: int32(b.Port)})
	}
	tm, ok := m.Topics[topic]
	if !ok {
		return md, fmt.Errorf("topic %s missing from metadata", topic)
	}
	if tm.Error.Code() != kafka.ErrNoError {
		return md, tm.Error
	}
	for _, p := range tm.Partitions {
		md.Leaders[p.ID] = p.Leader
	}
	// librdkafka performs ApiVersions on every connection but does not
	// expose the answer; APIVersions stays nil.
	return md, nil
}

func (d Driver) Produce(ctx context.Context, p suite.Produce) ([]int64, error) {
	prod, err := kafka.NewProducer(d.config(kafka.ConfigMap{
		"compression.type":   p.Codec,
		"enable.idempotence": p.Idempotent,
		"acks":               "all",
		"linger.ms":          5,
	}))
	if err != nil {
		return nil, err
	}
	defer prod.Close()
	events := make(chan kafka.Event, len(p.Records))
	for i, r := range p.Records {
		topic := p.Topic
		m := &kafka.Message{
			TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: r.Partition},
			Key:            r.Key,
			Value:          r.Value,
			Timestamp:      r.Timestamp,
			Opaque:         i,
		}
		for _, h := range r.Headers {
			m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
		if err := prod.Produce(m, events); err != nil {
			return nil, err
		}
	}
	offsets := make([]int64, len(p.Records))
	var first error
	for done := 0; done < len(p.Records); done++ {
		select {
		case ev := <-events:
			m, ok := ev.(*kafka.Message)
			if !ok {
				return nil, fmt.Errorf("unexpected event %v", ev)
			}
			if err := m.TopicPartition.Error; err != nil {
				var kerr kafka.Error
				if errors.As(err, &kerr) && kerr.Code() == kafka.ErrMsgSizeTooLarge {
					err = fmt.Errorf("%w: %v", suite.ErrMessageTooLarge, err)
				}
				if first == nil {
					first = err
				}
				continue
			}
			offsets[m.Opaque.(int)] = int64(m.TopicPartition.Offset)
		case <-ctx.Done():
			return nil, fmt.Errorf("%d of %d delivery reports before the deadline", done, len(p.Records))
		}
	}
	if first != nil {
		return nil, first
	}
	return offsets, nil
}

// Consume keeps librdkafka's default isolation.level (read_committed).
func (d Driver) Consume(ctx context.Context, topic string, counts map[int32]int) ([]suite.Record, error) {
	return d.consume(ctx, topic, counts, "")
}

func (d Driver) consume(ctx context.Context, topic string, counts map[int32]int, isolation string) ([]suite.Record, error) {
	// group.id is required by the Go binding even for assign(); no group
	// coordination happens without subscribe().
	extra := kafka.ConfigMap{
		"group.id":           "riffle-compat-assign",
		"enable.auto.commit": false,
		"fetch.wait.max.ms":  200,
	}
	if isolation != "" {
		extra["isolation.level"] = isolation
	}
	cons, err := kafka.NewConsumer(d.config(extra))
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	var tps []kafka.TopicPartition
	for p := int32(0); int(p) < len(counts); p++ {
		tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.OffsetBeginning})
	}
	if err := cons.Assign(tps); err != nil {
		return nil, err
	}
	byPart := map[int32][]suite.Record{}
	total, got := 0, 0
	for _, n := range counts {
		total += n
	}
	for got < total {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%d of %d records before the deadline", got, total)
		}
		ev := cons.Poll(100)
		switch e := ev.(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				return nil, e.TopicPartition.Error
			}
			p := e.TopicPartition.Partition
			if len(byPart[p]) >= counts[p] {
				continue
			}
			r := suite.Record{Partition: p, Offset: int64(e.TopicPartition.Offset), Key: e.Key, Value: e.Value, Timestamp: e.Timestamp}
			for _, h := range e.Headers {
				r.Headers = append(r.Headers, suite.Header{Key: h.Key, Value: h.Value})
			}
			byPart[p] = append(byPart[p], r)
			got++
		case kafka.Error:
			if e.IsFatal() {
				return nil, e
			}
		}
	}
	var out []suite.Record
	for p := int32(0); int(p) < len(counts); p++ {
		out = append(out, byPart[p]...)
	}
	return out, nil
}

func (d Driver) OffsetForTime(ctx context.Context, topic string, partition int32, ts int64) (int64, error) {
	cons, err := kafka.NewConsumer(d.config(kafka.ConfigMap{"group.id": "riffle-compat-offsets"}))
	if err != nil {
		return 0, err
	}
	defer cons.Close()
	if ts == -1 || ts == -2 {
		// librdkafka answers latest/earliest through watermarks.
		lo, hi, err := cons.QueryWatermarkOffsets(topic, partition, timeoutMs(ctx))
		if ts == -2 {
			return lo, err
		}
		return hi, err
	}
	res, err := cons.OffsetsForTimes([]kafka.TopicPartition{{Topic: &topic, Partition: partition, Offset: kafka.Offset(ts)}}, timeoutMs(ctx))
	if err != nil {
		return 0, err
	}
	if len(res) != 1 {
		return 0, fmt.Errorf("OffsetsForTimes: %d partitions in the answer", len(res))
	}
	if res[0].Error != nil {
		return 0, res[0].Error
	}
	return int64(res[0].Offset), nil
}

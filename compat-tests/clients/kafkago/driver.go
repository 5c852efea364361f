// Package kafkago drives github.com/segmentio/kafka-go in the compat matrix:
// Writer and Reader as applications use them, Client for metadata and
// ApiVersions, Conn for ListOffsets.
package kafkago

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/riffle-io/riffle/compat-tests/suite"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
)

// Driver implements suite.Driver with kafka-go.
type Driver struct{ Seeds []string }

func (Driver) Name() string     { return "kafka-go" }
func (Driver) Caps() suite.Caps { return suite.Caps{SetsTimestamps: true} }

func (d Driver) client() *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(d.Seeds...), Timeout: 15 * time.Second}
}

func (d Driver) Metadata(ctx context.Context, topic string) (suite.Metadata, error) {
	// kafka-go's Transport answers Metadata from a cache it refreshes every
	// MetadataTTL (6 s), and the default Transport is shared by every Client
	// in the process; a fresh Transport makes this call reach the broker.
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	cl := &kafka.Client{Addr: kafka.TCP(d.Seeds...), Timeout: 15 * time.Second, Transport: tr}
	resp, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return suite.Metadata{}, err
	}
	md := suite.Metadata{Leaders: map[int32]int32{}}
	for _, b := range resp.Brokers {
		md.Brokers = append(md.Brokers, suite.Broker{ID: int32(b.ID), Host: b.Host, Port: int32(b.Port)})
	}
	for _, t := range resp.Topics {
		if t.Error != nil {
			return md, fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			md.Leaders[int32(p.ID)] = int32(p.Leader.ID)
		}
	}
	av, err := cl.ApiVersions(ctx, &kafka.ApiVersionsRequest{})
	if err != nil {
		return md, fmt.Errorf("ApiVersions: %w", err)
	}
	if av.Error != nil {
		return md, fmt.Errorf("ApiVersions: %w", av.Error)
	}
	md.APIVersions = map[int16]int16{}
	for _, k := range av.ApiKeys {
		md.APIVersions[int16(k.ApiKey)] = int16(k.MaxVersion)
	}
	return md, nil
}

var codecs = map[string]compress.Compression{
	"none":   0,
	"gzip":   kafka.Gzip,
	"snappy": kafka.Snappy,
	"lz4":    kafka.Lz4,
	"zstd":   kafka.Zstd,
}

func (d Driver) Produce(ctx context.Context, p suite.Produce) ([]int64, error) {
	codec, ok := codecs[p.Codec]
	if !ok {
		return nil, fmt.Errorf("unknown codec %q", p.Codec)
	}
	if p.Idempotent {
		return nil, errors.New("kafka-go has no idempotent producer")
	}
	offsets := make([]int64, len(p.Records))
	var mu sync.Mutex
	w := &kafka.Writer{
		Addr:  kafka.TCP(d.Seeds...),
		Topic: p.Topic,
		// The suite names each record's partition.
		Balancer:               kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return m.Partition }),
		RequiredAcks:           kafka.RequireAll,
		Compression:            codec,
		BatchTimeout:           5 * time.Millisecond,
		AllowAutoTopicCreation: true,
		Completion: func(msgs []kafka.Message, err error) {
			if err != nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, m := range msgs {
				if i, ok := m.WriterData.(int); ok {
					offsets[i] = m.Offset
				}
			}
		},
	}
	defer w.Close()
	msgs := make([]kafka.Message, len(p.Records))
	for i, r := range p.Records {
		m := kafka.Message{Partition: int(r.Partition), Key: r.Key, Value: r.Value, Time: r.Timestamp, WriterData: i}
		for _, h := range r.Headers {
			m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
		msgs[i] = m
	}
	if err := writeRetryingMissingTopic(ctx, w, msgs); err != nil {
		var werrs kafka.WriteErrors
		if errors.As(err, &werrs) {
			for _, e := range werrs {
				if e != nil {
					err = e
					break
				}
			}
		}
		if errors.Is(err, kafka.MessageSizeTooLarge) {
			return nil, fmt.Errorf("%w: %v", suite.ErrMessageTooLarge, err)
		}
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	return append([]int64(nil), offsets...), nil
}

func (d Driver) Consume(ctx context.Context, topic string, counts map[int32]int) ([]suite.Record, error) {
	var out []suite.Record
	for p := int32(0); int(p) < len(counts); p++ {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers:   d.Seeds,
			Topic:     topic,
			Partition: int(p),
			MaxWait:   200 * time.Millisecond,
		})
		if err := r.SetOffset(kafka.FirstOffset); err != nil {
			r.Close()
			return nil, err
		}
		for got := 0; got < counts[p]; got++ {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				return nil, fmt.Errorf("partition %d after %d of %d records: %w", p, got, counts[p], err)
			}
			rec := suite.Record{Partition: int32(m.Partition), Offset: m.Offset, Key: m.Key, Value: m.Value, Timestamp: m.Time}
			for _, h := range m.Headers {
				rec.Headers = append(rec.Headers, suite.Header{Key: h.Key, Value: h.Value})
			}
			out = append(out, rec)
		}
		r.Close()
	}
	return out, nil
}

func (d Driver) OffsetForTime(ctx context.Context, topic string, partition int32, ts int64) (int64, error) {
	conn, err := kafka.DialLeader(ctx, "tcp", d.Seeds[0], topic, int(partition))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	switch ts {
	case -2:
		return conn.ReadFirstOffset()
	case -1:
		return conn.ReadLastOffset()
	}
	return conn.ReadOffset(time.UnixMilli(ts))
}

// writeRetryingMissingTopic is WriteMessages as kafka-go's README prescribes
// for a topic that auto-creation has yet to create: a broker creates it in
// the background and answers the Metadata request that asked for it
// UNKNOWN_TOPIC_OR_PARTITION (LEADER_NOT_AVAILABLE before Kafka 2.8), and
// the Writer returns that error before writing anything, so the whole write
// is tried again. An error from a write that was sent (WriteErrors) is not
// retried, which could duplicate records.
func writeRetryingMissingTopic(ctx context.Context, w *kafka.Writer, msgs []kafka.Message) error {
	for {
		err := w.WriteMessages(ctx, msgs...)
		var werrs kafka.WriteErrors
		if err == nil || errors.As(err, &werrs) ||
			!(errors.Is(err, kafka.UnknownTopicOrPartition) || errors.Is(err, kafka.LeaderNotAvailable)) {
			return err
		}
		t := time.NewTimer(250 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

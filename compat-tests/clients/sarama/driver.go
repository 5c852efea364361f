// Package sarama drives github.com/IBM/sarama in the compat matrix, with the
// library's default protocol version (Config.Version), as most Sarama users
// run it.
package sarama

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/riffle-io/riffle/compat-tests/suite"
)

// Driver implements suite.Driver with Sarama.
type Driver struct{ Seeds []string }

func (Driver) Name() string     { return "sarama" }
func (Driver) Caps() suite.Caps { return suite.Caps{SetsTimestamps: true} }

func (d Driver) config(ctx context.Context) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = "riffle-compat"
	// Sarama has no contexts: bound every network wait by the scenario's.
	timeout := 15 * time.Second
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = max(time.Until(dl), time.Second)
	}
	cfg.Net.DialTimeout, cfg.Net.ReadTimeout, cfg.Net.WriteTimeout = timeout, timeout, timeout
	cfg.Metadata.Retry.Max = 10
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	return cfg
}

func (d Driver) Metadata(ctx context.Context, topic string) (suite.Metadata, error) {
	cfg := d.config(ctx)
	cl, err := sarama.NewClient(d.Seeds, cfg)
	if err != nil {
		return suite.Metadata{}, err
	}
	defer cl.Close()
	if err := cl.RefreshMetadata(topic); err != nil {
		return suite.Metadata{}, err
	}
	md := suite.Metadata{Leaders: map[int32]int32{}}
	for _, b := range cl.Brokers() {
		host, port, err := splitHostPort(b.Addr())
		if err != nil {
			return md, err
		}
		md.Brokers = append(md.Brokers, suite.Broker{ID: b.ID(), Host: host, Port: port})
	}
	parts, err := cl.Partitions(topic)
	if err != nil {
		return md, err
	}
	for _, p := range parts {
		leader, err := cl.Leader(topic, p)
		if err != nil {
			return md, fmt.Errorf("leader of %s[%d]: %w", topic, p, err)
		}
		md.Leaders[p] = leader.ID()
	}

	// The ApiVersions exchange itself, on a connection of its own.
	b := sarama.NewBroker(d.Seeds[0])
	if err := b.Open(cfg); err != nil {
		return md, err
	}
	defer b.Close()
	resp, err := b.ApiVersions(&sarama.ApiVersionsRequest{Version: 3, ClientSoftwareName: "sarama", ClientSoftwareVersion: "1.61.1"})
	if err != nil {
		return md, fmt.Errorf("ApiVersions: %w", err)
	}
	if resp.ErrorCode != 0 {
		return md, fmt.Errorf("ApiVersions: %w", sarama.KError(resp.ErrorCode))
	}
	md.APIVersions = map[int16]int16{}
	for _, k := range resp.ApiKeys {
		md.APIVersions[k.ApiKey] = k.MaxVersion
	}
	return md, nil
}

var codecs = map[string]sarama.CompressionCodec{
	"none":   sarama.CompressionNone,
	"gzip":   sarama.CompressionGZIP,
	"snappy": sarama.CompressionSnappy,
	"lz4":    sarama.CompressionLZ4,
	"zstd":   sarama.CompressionZSTD,
}

func (d Driver) Produce(ctx context.Context, p suite.Produce) ([]int64, error) {
	codec, ok := codecs[p.Codec]
	if !ok {
		return nil, fmt.Errorf("unknown codec %q", p.Codec)
	}
	cfg := d.config(ctx)
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Compression = codec
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	if p.Idempotent {
		// Sarama's documented requirements for an idempotent producer.
		cfg.Producer.Idempotent = true
		cfg.Net.MaxOpenRequests = 1
		cfg.Producer.Retry.Max = 5
	}
	prod, err := sarama.NewSyncProducer(d.Seeds, cfg)
	if err != nil {
		return nil, err
	}
	defer prod.Close()
	msgs := make([]*sarama.ProducerMessage, len(p.Records))
	for i, r := range p.Records {
		m := &sarama.ProducerMessage{
			Topic:     p.Topic,
			Partition: r.Partition,
			Key:       sarama.ByteEncoder(r.Key),
			Value:     sarama.ByteEncoder(r.Value),
			Timestamp: r.Timestamp,
		}
		for _, h := range r.Headers {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
		}
		msgs[i] = m
	}
	if err := prod.SendMessages(msgs); err != nil {
		var perrs sarama.ProducerErrors
		if errors.As(err, &perrs) && len(perrs) > 0 {
			if errors.Is(perrs[0].Err, sarama.ErrMessageSizeTooLarge) {
				return nil, fmt.Errorf("%w: %v", suite.ErrMessageTooLarge, perrs[0].Err)
			}
			return nil, perrs[0].Err
		}
		return nil, err
	}
	offsets := make([]int64, len(msgs))
	for i, m := range msgs {
		offsets[i] = m.Offset
	}
	return offsets, nil
}

func (d Driver) Consume(ctx context.Context, topic string, counts map[int32]int) ([]suite.Record, error) {
	return d.consume(ctx, topic, counts, sarama.ReadUncommitted)
}

func (d Driver) consume(ctx context.Context, topic string, counts map[int32]int, isolation sarama.IsolationLevel) ([]suite.Record, error) {
	cfg := d.config(ctx)
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	cfg.Consumer.IsolationLevel = isolation
	cons, err := sarama.NewConsumer(d.Seeds, cfg)
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	var out []suite.Record
	for p := int32(0); int(p) < len(counts); p++ {
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			return nil, fmt.Errorf("partition %d: %w", p, err)
		}
		for got := 0; got < counts[p]; got++ {
			select {
			case m := <-pc.Messages():
				r := suite.Record{Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Timestamp: m.Timestamp}
				for _, h := range m.Headers {
					r.Headers = append(r.Headers, suite.Header{Key: string(h.Key), Value: h.Value})
				}
				out = append(out, r)
			case cerr := <-pc.Errors():
				pc.Close()
				return nil, fmt.Errorf("partition %d: %w", p, cerr)
			case <-ctx.Done():
				pc.Close()
				return nil, fmt.Errorf("partition %d: %d of %d records before the deadline", p, got, counts[p])
			}
		}
		pc.Close()
	}
	return out, nil
}

func (d Driver) OffsetForTime(ctx context.Context, topic string, partition int32, ts int64) (int64, error) {
	cl, err := sarama.NewClient(d.Seeds, d.config(ctx))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	// GetOffset takes OffsetNewest (-1), OffsetOldest (-2) or a timestamp.
	return cl.GetOffset(topic, partition, ts)
}

func splitHostPort(addr string) (string, int32, error) {
	var host string
	var port int32
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			host = addr[:i]
			if _, err := fmt.Sscanf(addr[i+1:], "%d", &port); err != nil {
				return "", 0, fmt.Errorf("broker address %q: %w", addr, err)
			}
			return host, port, nil
		}
	}
	return "", 0, fmt.Errorf("broker address %q has no port", addr)
}

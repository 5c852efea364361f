package server_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

const (
	saramaParts        = 4
	saramaSyncRecords  = 2_000
	saramaAsyncRecords = 20_000
)

func saramaMessage(topic string, g genRecord) *sarama.ProducerMessage {
	m := &sarama.ProducerMessage{
		Topic:     topic,
		Partition: g.partition,
		Value:     sarama.ByteEncoder(g.value),
		Timestamp: g.ts,
		Metadata:  g.i,
	}
	if g.key != nil {
		m.Key = sarama.ByteEncoder(g.key)
	}
	for _, h := range g.headers {
		m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h[0]), Value: []byte(h[1])})
	}
	return m
}

func saramaConfig(version *sarama.KafkaVersion, codec sarama.CompressionCodec) *sarama.Config {
	cfg := sarama.NewConfig()
	if version != nil {
		cfg.Version = *version
	}
	cfg.ClientID = "riffle-itest"
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Compression = codec
	cfg.Producer.Flush.Messages = 500
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.MaxWaitTime = 250 * time.Millisecond
	cfg.Net.DialTimeout = requestTimeout
	cfg.Net.ReadTimeout = requestTimeout
	cfg.Net.WriteTimeout = requestTimeout
	cfg.Metadata.Retry.Max = 10
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	return cfg
}

// checkAckOffset verifies an acknowledged message: record i of the stream
// must sit at offset i/parts of its partition.
func checkAckOffset(m *sarama.ProducerMessage, parts int) error {
	i := m.Metadata.(int)
	if want := int64(i / parts); m.Partition != int32(i%parts) || m.Offset != want {
		return fmt.Errorf("record %d acknowledged at %d/%d, want %d/%d", i, m.Partition, m.Offset, i%parts, want)
	}
	return nil
}

// TestSarama covers Sarama's SyncProducer, AsyncProducer with every codec
// and PartitionConsumer, at Sarama's default protocol version and at 3.6.
func TestSarama(t *testing.T) {
	t.Parallel()
	tb := startBroker(t)
	adm := newAdmin(t, tb.addr())
	v36 := sarama.V3_6_0_0
	versions := []struct {
		name string
		v    *sarama.KafkaVersion
	}{
		{"default-" + sarama.NewConfig().Version.String(), nil},
		{"3.6", &v36},
	}
	codecs := []sarama.CompressionCodec{
		sarama.CompressionNone, sarama.CompressionGZIP, sarama.CompressionSnappy,
		sarama.CompressionLZ4, sarama.CompressionZSTD,
	}
	for vi, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			t.Run("sync", func(t *testing.T) {
				topic := fmt.Sprintf("sarama-%d-sync", vi)
				createTopic(t, adm, topic, saramaParts, nil)
				base := genBase()
				p, err := sarama.NewSyncProducer([]string{tb.addr()}, saramaConfig(ver.v, sarama.CompressionNone))
				if err != nil {
					t.Fatalf("NewSyncProducer: %v", err)
				}
				defer p.Close()
				// One message per request first, then the rest in one call.
				for i := range 100 {
					m := saramaMessage(topic, gen(i, saramaParts, base))
					if _, _, err := p.SendMessage(m); err != nil {
						t.Fatalf("SendMessage %d: %v", i, err)
					}
					if err := checkAckOffset(m, saramaParts); err != nil {
						t.Fatal(err)
					}
				}
				var msgs []*sarama.ProducerMessage
				for i := 100; i < saramaSyncRecords; i++ {
					msgs = append(msgs, saramaMessage(topic, gen(i, saramaParts, base)))
				}
				if err := p.SendMessages(msgs); err != nil {
					t.Fatalf("SendMessages: %v", err)
				}
				for _, m := range msgs {
					if err := checkAckOffset(m, saramaParts); err != nil {
						t.Fatal(err)
					}
				}
				saramaConsume(t, tb.addr(), ver.v, topic, saramaSyncRecords, base)
			})
			for _, codec := range codecs {
				t.Run("async-"+codec.String(), func(t *testing.T) {
					topic := fmt.Sprintf("sarama-%d-%s", vi, codec)
					createTopic(t, adm, topic, saramaParts, nil)
					base := genBase()
					saramaAsyncProduce(t, tb.addr(), saramaConfig(ver.v, codec), topic, saramaAsyncRecords, base)
					saramaConsume(t, tb.addr(), ver.v, topic, saramaAsyncRecords, base)
				})
			}
		})
	}
}

func saramaAsyncProduce(t *testing.T, addr string, cfg *sarama.Config, topic string, count int, base time.Time) {
	t.Helper()
	p, err := sarama.NewAsyncProducer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("NewAsyncProducer: %v", err)
	}
	defer p.Close()
	deadline := time.After(readTimeout)
	sent, acked := 0, 0
	for acked < count {
		in := p.Input()
		var next *sarama.ProducerMessage
		if sent < count {
			next = saramaMessage(topic, gen(sent, saramaParts, base))
		} else {
			in = nil // everything sent; only drain
		}
		select {
		case in <- next:
			sent++
		case m := <-p.Successes():
			if err := checkAckOffset(m, saramaParts); err != nil {
				t.Fatal(err)
			}
			acked++
		case e := <-p.Errors():
			t.Fatalf("async produce: %v", e.Err)
		case <-deadline:
			t.Fatalf("sent %d, acknowledged %d of %d before the deadline", sent, acked, count)
		}
	}
}

// saramaConsume reads every partition from the oldest offset with a
// PartitionConsumer and checks each record against the generated stream.
func saramaConsume(t *testing.T, addr string, version *sarama.KafkaVersion, topic string, count int, base time.Time) {
	t.Helper()
	c, err := sarama.NewConsumer([]string{addr}, saramaConfig(version, sarama.CompressionNone))
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	defer c.Close()
	deadline := time.After(readTimeout)
	for p := int32(0); p < saramaParts; p++ {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("ConsumePartition %d: %v", p, err)
		}
		want := (count - int(p) + saramaParts - 1) / saramaParts
		for off := range int64(want) {
			select {
			case m := <-pc.Messages():
				if m.Offset != off {
					t.Fatalf("partition %d: offset %d, want %d", p, m.Offset, off)
				}
				var hs [][2]string
				for _, h := range m.Headers {
					hs = append(hs, [2]string{string(h.Key), string(h.Value)})
				}
				g := gen(int(off)*saramaParts+int(p), saramaParts, base)
				if d := g.check(m.Partition, m.Key, m.Value, hs, m.Timestamp); d != "" {
					t.Fatalf("%s/%d@%d: %s", topic, p, off, d)
				}
			case e := <-pc.Errors():
				t.Fatalf("partition %d: %v", p, e.Err)
			case <-deadline:
				t.Fatalf("partition %d: read %d of %d before the deadline", p, off, want)
			}
		}
		if hw := pc.HighWaterMarkOffset(); hw != int64(want) {
			t.Fatalf("partition %d: high watermark %d, want %d", p, hw, want)
		}
		pc.AsyncClose()
	}
}

package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

const (
	kafkaGoParts   = 3
	kafkaGoRecords = 20_000
)

// TestKafkaGo writes with segmentio/kafka-go's Writer under every codec and
// reads back with a Reader per partition (no group).
func TestKafkaGo(t *testing.T) {
	t.Parallel()
	tb := startBroker(t)
	adm := newAdmin(t, tb.addr())
	codecs := []struct {
		name  string
		codec kafka.Compression
	}{
		{"none", 0},
		{"gzip", kafka.Gzip},
		{"snappy", kafka.Snappy},
		{"lz4", kafka.Lz4},
		{"zstd", kafka.Zstd},
	}
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			topic := "kafkago-" + c.name
			createTopic(t, adm, topic, kafkaGoParts, nil)
			base := genBase()
			// A Transport of its own: the default one caches metadata across
			// writers and would not yet know the topic just created.
			transport := &kafka.Transport{ClientID: "riffle-itest", DialTimeout: requestTimeout}
			defer transport.CloseIdleConnections()
			w := &kafka.Writer{
				Addr:         kafka.TCP(tb.addr()),
				Transport:    transport,
				Topic:        topic,
				Balancer:     kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return m.WriterData.(int) % kafkaGoParts }),
				Compression:  c.codec,
				RequiredAcks: kafka.RequireAll,
				BatchSize:    1000,
				BatchTimeout: 5 * time.Millisecond,
				WriteTimeout: requestTimeout,
				ReadTimeout:  requestTimeout,
				MaxAttempts:  3,
			}
			defer w.Close()
			ctx := ctxFor(t, readTimeout)
			for from := 0; from < kafkaGoRecords; from += 1000 {
				var msgs []kafka.Message
				for i := from; i < min(from+1000, kafkaGoRecords); i++ {
					g := gen(i, kafkaGoParts, base)
					m := kafka.Message{Key: g.key, Value: g.value, Time: g.ts, WriterData: i}
					for _, h := range g.headers {
						m.Headers = append(m.Headers, kafka.Header{Key: h[0], Value: []byte(h[1])})
					}
					msgs = append(msgs, m)
				}
				if err := w.WriteMessages(ctx, msgs...); err != nil {
					t.Fatalf("WriteMessages [%d, %d): %v", from, from+len(msgs), err)
				}
			}
			for p := range kafkaGoParts {
				kafkaGoRead(t, tb.addr(), topic, p, base)
			}
		})
	}
}

func kafkaGoRead(t *testing.T, addr, topic string, p int, base time.Time) {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   []string{addr},
		Topic:     topic,
		Partition: p,
		MinBytes:  1,
		MaxBytes:  4 << 20,
		MaxWait:   250 * time.Millisecond,
	})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	want := (kafkaGoRecords - p + kafkaGoParts - 1) / kafkaGoParts
	for off := range int64(want) {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("partition %d: read offset %d: %v", p, off, err)
		}
		if m.Offset != off {
			t.Fatalf("partition %d: offset %d, want %d", p, m.Offset, off)
		}
		var hs [][2]string
		for _, h := range m.Headers {
			hs = append(hs, [2]string{h.Key, string(h.Value)})
		}
		g := gen(int(off)*kafkaGoParts+p, kafkaGoParts, base)
		if d := g.check(int32(m.Partition), m.Key, m.Value, hs, m.Time); d != "" {
			t.Fatalf("%s/%d@%d: %s", topic, p, off, d)
		}
		if off == int64(want-1) && m.HighWaterMark != int64(want) {
			t.Fatalf("partition %d: high watermark %d, want %d", p, m.HighWaterMark, want)
		}
	}
}

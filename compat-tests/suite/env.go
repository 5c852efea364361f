package suite

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ReplicationFactor is the replication factor every scenario and driver
// creates topics with: $COMPAT_REPLICATION_FACTOR, 1 when unset (one
// broker); docker/compat.sh sets 3 against the three-node cluster.
func ReplicationFactor() int16 {
	v := os.Getenv("COMPAT_REPLICATION_FACTOR")
	if v == "" {
		return 1
	}
	n, err := strconv.ParseInt(v, 10, 16)
	if err != nil || n < 1 {
		// A typo must not quietly turn a replicated run into an RF 1 one.
		panic(fmt.Sprintf("COMPAT_REPLICATION_FACTOR=%q is not a replication factor", v))
	}
	return int16(n)
}

// Seeds returns BROKER_SEEDS split on commas; the suite is pointed at a
// running broker and never starts one itself.
func Seeds(t testing.TB) []string {
	t.Helper()
	v := strings.TrimSpace(os.Getenv("BROKER_SEEDS"))
	if v == "" {
		t.Fatal("BROKER_SEEDS is not set (host:port,...): point the compat suite at a running broker")
	}
	var seeds []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			seeds = append(seeds, s)
		}
	}
	return seeds
}

// runID keeps topic names unique across runs against a long-lived broker.
var runID = func() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}()

// TopicName returns a unique, valid Kafka topic name for one cell.
func TopicName(client, scenario string) string {
	return fmt.Sprintf("compat-%s-%s-%s", client, scenario, runID)
}

// Reference returns a franz-go client and admin on the seeds, closed at the
// end of the test.
func Reference(t testing.TB) (*kgo.Client, *kadm.Client) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(Seeds(t)...), kgo.RequestTimeoutOverhead(5*time.Second))
	if err != nil {
		t.Fatalf("reference client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl, kadm.NewClient(cl)
}

// CreateTopic creates topic with partitions and configs through kadm and
// waits until Metadata shows every partition with a leader, so that no
// scenario depends on auto-creation or on metadata propagation timing.
func CreateTopic(ctx context.Context, t testing.TB, adm *kadm.Client, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	resp, err := adm.CreateTopic(ctx, partitions, ReplicationFactor(), configs, topic)
	if err != nil {
		t.Fatalf("CreateTopics %s: %v", topic, err)
	}
	if resp.Err != nil {
		t.Fatalf("CreateTopics %s: %v (%s)", topic, resp.Err, resp.ErrMessage)
	}
	WaitTopic(ctx, t, adm, topic, int(partitions))
}

// WaitTopic polls Metadata until topic has want partitions, all led.
func WaitTopic(ctx context.Context, t testing.TB, adm *kadm.Client, topic string, want int) {
	t.Helper()
	var last string
	for ctx.Err() == nil {
		md, err := adm.Metadata(ctx, topic)
		switch {
		case err != nil:
			last = err.Error()
		default:
			td, ok := md.Topics[topic]
			switch {
			case !ok:
				last = "topic missing from metadata"
			case td.Err != nil:
				last = td.Err.Error()
			case want > 0 && len(td.Partitions) != want:
				last = fmt.Sprintf("%d partitions, want %d", len(td.Partitions), want)
			default:
				ready := len(td.Partitions) > 0
				for _, p := range td.Partitions {
					if p.Err != nil || p.Leader < 0 {
						ready = false
						last = fmt.Sprintf("partition %d: leader %d err %v", p.Partition, p.Leader, p.Err)
					}
				}
				if ready {
					return
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("topic %s not ready: %s", topic, last)
}

// EndOffsets lists the high watermark of every partition of topic.
func EndOffsets(ctx context.Context, t testing.TB, adm *kadm.Client, topic string) map[int32]int64 {
	t.Helper()
	lo, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("ListOffsets latest %s: %v", topic, err)
	}
	out := map[int32]int64{}
	for _, o := range lo[topic] {
		if o.Err != nil {
			t.Fatalf("ListOffsets latest %s[%d]: %v", topic, o.Partition, o.Err)
		}
		out[o.Partition] = o.Offset
	}
	return out
}

// ReferenceConsume reads counts[p] records from the start of each partition
// with franz-go and returns them with their batch attributes.
func ReferenceConsume(ctx context.Context, t testing.TB, topic string, counts map[int32]int) []*kgo.Record {
	t.Helper()
	return referenceRead(ctx, t, topic, counts, false)
}

// ReferenceProduce writes recs with franz-go (no compression, acks=all) and
// fails the test on any error.
func ReferenceProduce(ctx context.Context, t testing.TB, topic string, recs []Record) {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(Seeds(t)...),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
	)
	if err != nil {
		t.Fatalf("reference producer: %v", err)
	}
	defer cl.Close()
	for _, r := range recs {
		kr := ToKgo(topic, r)
		if err := cl.ProduceSync(ctx, kr).FirstErr(); err != nil {
			t.Fatalf("reference produce to %s[%d]: %v", topic, r.Partition, err)
		}
	}
}

// ToKgo converts a Record into a franz-go record for topic.
func ToKgo(topic string, r Record) *kgo.Record {
	kr := &kgo.Record{Topic: topic, Partition: r.Partition, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}
	for _, h := range r.Headers {
		kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return kr
}

// FromKgo converts a franz-go record into a Record.
func FromKgo(kr *kgo.Record) Record {
	r := Record{Partition: kr.Partition, Offset: kr.Offset, Key: kr.Key, Value: kr.Value, Timestamp: kr.Timestamp}
	for _, h := range kr.Headers {
		r.Headers = append(r.Headers, Header{Key: h.Key, Value: h.Value})
	}
	return r
}

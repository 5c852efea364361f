// Package franzgo drives github.com/twmb/franz-go (kgo for produce, consume
// and raw requests; kadm for admin) in the compat matrix.
package franzgo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riffle-io/riffle/compat-tests/suite"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Driver implements suite.Driver with franz-go.
type Driver struct{ Seeds []string }

func (Driver) Name() string     { return "franz-go" }
func (Driver) Caps() suite.Caps { return suite.Caps{SetsTimestamps: true} }

func (d Driver) client(opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(d.Seeds...)}, opts...)...)
}

func (d Driver) Metadata(ctx context.Context, topic string) (suite.Metadata, error) {
	cl, err := d.client()
	if err != nil {
		return suite.Metadata{}, err
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return suite.Metadata{}, err
	}
	md := suite.Metadata{Leaders: map[int32]int32{}}
	for _, b := range resp.Brokers {
		md.Brokers = append(md.Brokers, suite.Broker{ID: b.NodeID, Host: b.Host, Port: b.Port})
	}
	for _, t := range resp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return md, fmt.Errorf("topic %s: %w", topic, err)
		}
		for _, p := range t.Partitions {
			md.Leaders[p.Partition] = p.Leader
		}
	}
	vs, err := kadm.NewClient(cl).ApiVersions(ctx)
	if err != nil {
		return md, err
	}
	for _, v := range vs.Sorted() {
		if v.Err != nil {
			return md, fmt.Errorf("ApiVersions from broker %d: %w", v.NodeID, v.Err)
		}
		md.APIVersions = map[int16]int16{}
		v.EachKeySorted(func(key, _, max int16) { md.APIVersions[key] = max })
		break
	}
	return md, nil
}

var codecs = map[string]kgo.CompressionCodec{
	"none":   kgo.NoCompression(),
	"gzip":   kgo.GzipCompression(),
	"snappy": kgo.SnappyCompression(),
	"lz4":    kgo.Lz4Compression(),
	"zstd":   kgo.ZstdCompression(),
}

func (d Driver) Produce(ctx context.Context, p suite.Produce) ([]int64, error) {
	codec, ok := codecs[p.Codec]
	if !ok {
		return nil, fmt.Errorf("unknown codec %q", p.Codec)
	}
	opts := []kgo.Opt{
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(codec),
		kgo.AllowAutoTopicCreation(),
		kgo.ProducerLinger(5 * time.Millisecond),
	}
	if !p.Idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	cl, err := d.client(opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	recs := make([]*kgo.Record, len(p.Records))
	index := make(map[*kgo.Record]int, len(recs))
	for i, r := range p.Records {
		recs[i] = suite.ToKgo(p.Topic, r)
		index[recs[i]] = i
	}
	// Idempotent producers may give up on a partition after a retriable error;
	// a non-retriable broker answer is what the size scenario looks for.
	// ProduceSync lists results in completion order, not input order.
	results := cl.ProduceSync(ctx, recs...)
	offsets := make([]int64, len(recs))
	for _, res := range results {
		if res.Err != nil {
			if errors.Is(res.Err, kerr.MessageTooLarge) {
				return nil, fmt.Errorf("%w: %v", suite.ErrMessageTooLarge, res.Err)
			}
			return nil, res.Err
		}
		offsets[index[res.Record]] = res.Record.Offset
	}
	return offsets, nil
}

func (d Driver) Consume(ctx context.Context, topic string, counts map[int32]int) ([]suite.Record, error) {
	return d.consume(ctx, topic, counts)
}

// consume reads each partition with a client of its own; opts add to the
// consumer's options (the isolation level).
func (d Driver) consume(ctx context.Context, topic string, counts map[int32]int, opts ...kgo.Opt) ([]suite.Record, error) {
	var out []suite.Record
	for p := int32(0); int(p) < len(counts); p++ {
		n, ok := counts[p]
		if !ok {
			return nil, fmt.Errorf("partitions to consume must be 0..%d", len(counts)-1)
		}
		cl, err := d.client(append([]kgo.Opt{
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().AtStart()}}),
			kgo.FetchMaxWait(200 * time.Millisecond),
		}, opts...)...)
		if err != nil {
			return nil, err
		}
		got := 0
		for got < n {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				cl.Close()
				return nil, fmt.Errorf("partition %d: %d of %d records before the deadline", p, got, n)
			}
			var ferr error
			fs.EachError(func(_ string, _ int32, err error) {
				if !kerr.IsRetriable(err) {
					ferr = err
				}
			})
			if ferr != nil {
				cl.Close()
				return nil, ferr
			}
			fs.EachRecord(func(r *kgo.Record) {
				if got < n {
					out = append(out, suite.FromKgo(r))
					got++
				}
			})
		}
		cl.Close()
	}
	return out, nil
}

func (d Driver) OffsetForTime(ctx context.Context, topic string, partition int32, ts int64) (int64, error) {
	cl, err := d.client()
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	// A raw ListOffsets request: kadm's helper maps "no such record" to the
	// end offset, but the suite checks Kafka's own answer (-1).
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition = partition
	rp.Timestamp = ts
	rp.CurrentLeaderEpoch = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, err
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return 0, err
			}
			return p.Offset, nil
		}
	}
	return 0, fmt.Errorf("ListOffsets: no partition in the response")
}

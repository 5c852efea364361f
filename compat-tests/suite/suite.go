package suite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/riffle-io/riffle/compat-tests/matrix"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// scenarioTimeout bounds one cell; a hung client fails its cell instead of
// the whole binary.
const scenarioTimeout = 60 * time.Second

// scenarios implements every matrix column. A column without an entry here
// fails loudly in Run, so the table and the code cannot drift apart.
var scenarios = map[string]func(ctx context.Context, t *testing.T, d Driver){
	matrix.Metadata:       testMetadata,
	matrix.AutoCreate:     testAutoCreate,
	matrix.CodecNone:      testCodec("none"),
	matrix.CodecGzip:      testCodec("gzip"),
	matrix.CodecSnappy:    testCodec("snappy"),
	matrix.CodecLz4:       testCodec("lz4"),
	matrix.CodecZstd:      testCodec("zstd"),
	matrix.Idempotent:     testIdempotent,
	matrix.ListOffsets:    testListOffsets,
	matrix.LargeMessage:   testLargeMessage,
	matrix.TooLargeReject: testTooLarge,
	matrix.Group:          testGroup,
	matrix.Rebalance:      testRebalance,
	matrix.AdminTopics:    testAdminTopics,
	matrix.AdminConfigs:   testAdminConfigs,
	matrix.Transactions:   testTransactions,
}

// Run runs every scenario supported by d's row of the matrix as a subtest.
func Run(t *testing.T, d Driver) {
	client, ok := matrix.ClientByName(d.Name())
	if !ok {
		t.Fatalf("driver %q has no row in matrix.Clients", d.Name())
	}
	Seeds(t) // fail once, clearly, when no broker is configured
	for _, sc := range matrix.Scenarios {
		if !client.Supported(sc.Name) {
			continue // rendered as n/a by the runner
		}
		fn, ok := scenarios[sc.Name]
		if !ok {
			t.Errorf("scenario %q has no implementation", sc.Name)
			continue
		}
		t.Run(sc.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), scenarioTimeout)
			defer cancel()
			fn(ctx, t, d)
		})
	}
}

func testMetadata(ctx context.Context, t *testing.T, d Driver) {
	_, adm := Reference(t)
	topic := TopicName(d.Name(), "md")
	CreateTopic(ctx, t, adm, topic, 3, nil)

	ref, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatalf("reference Metadata: %v", err)
	}
	got, err := d.Metadata(ctx, topic)
	if err != nil {
		t.Fatalf("%s Metadata: %v", d.Name(), err)
	}

	refBrokers := map[int32]string{}
	for _, b := range ref.Brokers {
		refBrokers[b.NodeID] = fmt.Sprintf("%s:%d", b.Host, b.Port)
	}
	if len(got.Brokers) != len(refBrokers) {
		t.Errorf("brokers: client sees %d, reference sees %d", len(got.Brokers), len(refBrokers))
	}
	for _, b := range got.Brokers {
		if want, ok := refBrokers[b.ID]; !ok || want != fmt.Sprintf("%s:%d", b.Host, b.Port) {
			t.Errorf("broker %d at %s:%d, reference has %q", b.ID, b.Host, b.Port, want)
		}
	}
	td := ref.Topics[topic]
	if len(got.Leaders) != 3 {
		t.Errorf("topic %s: client sees %d partitions, want 3", topic, len(got.Leaders))
	}
	for p, leader := range got.Leaders {
		rp, ok := td.Partitions[p]
		if !ok {
			t.Errorf("partition %d unknown to the reference", p)
			continue
		}
		if leader != rp.Leader {
			t.Errorf("partition %d: leader %d, reference says %d", p, leader, rp.Leader)
		}
		if _, ok := refBrokers[leader]; !ok {
			t.Errorf("partition %d: leader %d is not a listed broker", p, leader)
		}
	}

	if got.APIVersions == nil {
		return // the client does not expose ApiVersions; Metadata above still needed it
	}
	refVersions, err := adm.ApiVersions(ctx)
	if err != nil {
		t.Fatalf("reference ApiVersions: %v", err)
	}
	var refKeys map[int16]int16
	refVersions.Each(func(b kadm.BrokerApiVersions) {
		if refKeys == nil && b.Err == nil {
			refKeys = map[int16]int16{}
			b.EachKeySorted(func(key, _, max int16) { refKeys[key] = max })
		}
	})
	// Produce, Fetch, ListOffsets, Metadata and ApiVersions are what every
	// client needs before anything else works.
	for _, key := range []int16{0, 1, 2, 3, 18} {
		if _, ok := got.APIVersions[key]; !ok {
			t.Errorf("ApiVersions: key %d missing in the client's view", key)
		}
	}
	for key, max := range got.APIVersions {
		if want, ok := refKeys[key]; !ok || want != max {
			t.Errorf("ApiVersions: key %d max %d, reference sees %d (present %v)", key, max, want, ok)
		}
	}
	if len(got.APIVersions) != len(refKeys) {
		t.Errorf("ApiVersions: client sees %d keys, reference %d", len(got.APIVersions), len(refKeys))
	}
}

func testAutoCreate(ctx context.Context, t *testing.T, d Driver) {
	_, adm := Reference(t)
	topic := TopicName(d.Name(), "auto")
	recs := Dataset(1, 3, BaseTime())
	produceAndCheck(ctx, t, d, Produce{Topic: topic, Codec: "none", Records: recs}, 0)
	WaitTopic(ctx, t, adm, topic, 0)
}

func testCodec(codec string) func(ctx context.Context, t *testing.T, d Driver) {
	return func(ctx context.Context, t *testing.T, d Driver) {
		_, adm := Reference(t)
		topic := TopicName(d.Name(), codec)
		CreateTopic(ctx, t, adm, topic, 3, nil)
		recs := Dataset(3, 4, BaseTime())
		produceAndCheck(ctx, t, d, Produce{Topic: topic, Codec: codec, Records: recs}, codecID[codec])
	}
}

// codecID is the compression type in a v2 batch's attributes (KIP-110 added
// zstd as 4).
var codecID = map[string]uint8{"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}

// produceAndCheck produces p, then reads it back with the driver and with
// the reference client and compares everything observable.
func produceAndCheck(ctx context.Context, t *testing.T, d Driver, p Produce, codec uint8) []*kgo.Record {
	t.Helper()
	from := time.Now().Add(-time.Second)
	offsets, err := d.Produce(ctx, p)
	if err != nil {
		t.Fatalf("%s produce (codec %s, idempotent %v): %v", d.Name(), p.Codec, p.Idempotent, err)
	}
	window := &TimeWindow{From: from, To: time.Now().Add(time.Second)}
	if d.Caps().SetsTimestamps {
		window = nil
	}
	if len(offsets) != len(p.Records) {
		t.Errorf("produce returned %d offsets for %d records", len(offsets), len(p.Records))
	}
	for i, bad := 0, 0; i < len(offsets) && i < len(p.Records) && bad < 5; i++ {
		if offsets[i] != -1 && offsets[i] != p.Records[i].Offset {
			bad++
			t.Errorf("record %d (partition %d): acknowledged at offset %d, want %d", i, p.Records[i].Partition, offsets[i], p.Records[i].Offset)
		}
	}

	counts := Counts(p.Records)
	got, err := d.Consume(ctx, p.Topic, counts)
	if err != nil {
		t.Fatalf("%s consume: %v", d.Name(), err)
	}
	for _, msg := range Compare(p.Records, got, window) {
		t.Errorf("%s consumer: %s", d.Name(), msg)
	}

	ref := ReferenceConsume(ctx, t, p.Topic, counts)
	refRecs := make([]Record, len(ref))
	codecReported := false
	for i, r := range ref {
		refRecs[i] = FromKgo(r)
		if c := r.Attrs.CompressionType(); c != codec && !codecReported {
			codecReported = true // one line is enough: the whole run shares the cause
			t.Errorf("reference consumer: partition %d offset %d stored with codec %d, want %d", r.Partition, r.Offset, c, codec)
		}
		if r.Attrs.TimestampType() != 0 {
			t.Errorf("reference consumer: partition %d offset %d has timestamp type %d, want CreateTime (0)", r.Partition, r.Offset, r.Attrs.TimestampType())
		}
	}
	for _, msg := range Compare(p.Records, refRecs, window) {
		t.Errorf("reference consumer: %s", msg)
	}
	return ref
}

func testIdempotent(ctx context.Context, t *testing.T, d Driver) {
	_, adm := Reference(t)
	topic := TopicName(d.Name(), "idem")
	CreateTopic(ctx, t, adm, topic, 3, nil)
	recs := Dataset(3, 30, BaseTime())
	ref := produceAndCheck(ctx, t, d, Produce{Topic: topic, Codec: "none", Idempotent: true, Records: recs}, 0)
	// KIP-98: an idempotent producer stamps batches with its producer id and
	// epoch; -1 would mean the client silently fell back to plain produce.
	for _, r := range ref {
		if r.ProducerID < 0 || r.ProducerEpoch < 0 {
			t.Fatalf("partition %d offset %d: producer id %d epoch %d, want an idempotent producer's", r.Partition, r.Offset, r.ProducerID, r.ProducerEpoch)
		}
	}
	if ends := EndOffsets(ctx, t, adm, topic); ends[0] != 30 || ends[1] != 30 || ends[2] != 30 {
		t.Errorf("end offsets %v, want 30 per partition (duplicates or losses)", ends)
	}
}

func testListOffsets(ctx context.Context, t *testing.T, d Driver) {
	_, adm := Reference(t)
	topic := TopicName(d.Name(), "lo")
	CreateTopic(ctx, t, adm, topic, 1, nil)
	base := BaseTime()
	recs := make([]Record, 5)
	for i := range recs {
		recs[i] = Record{Key: []byte{byte('a' + i)}, Value: []byte("v"), Timestamp: base.Add(time.Duration(i) * time.Second)}
	}
	ReferenceProduce(ctx, t, topic, recs)
	b := base.UnixMilli()
	for _, c := range []struct {
		name string
		ts   int64
		want int64
	}{
		{"earliest (-2)", -2, 0},
		{"latest (-1)", -1, 5},
		{"first record's timestamp", b, 0},
		{"between records 1 and 2", b + 1500, 2},
		{"last record's timestamp", b + 4000, 4},
		{"before every record", b - 60000, 0},
		{"after every record", b + 60000, -1},
	} {
		got, err := d.OffsetForTime(ctx, topic, 0, c.ts)
		if err != nil {
			t.Errorf("ListOffsets %s (ts %d): %v", c.name, c.ts, err)
			continue
		}
		if got != c.want {
			t.Errorf("ListOffsets %s (ts %d): offset %d, want %d", c.name, c.ts, got, c.want)
		}
	}
}

// maxMessageBytes is the topic-level limit used by the size scenarios; small
// enough that no client's own default limit (about 1 MB) interferes.
const maxMessageBytes = 256 * 1024

// bigRecord returns one record whose single-record, uncompressed v2 batch is
// about size bytes (61-byte batch header plus ~20 bytes of record framing).
func bigRecord(size int) Record {
	return Record{Key: []byte("big"), Value: []byte(strings.Repeat("x", size-61-20)), Timestamp: BaseTime()}
}

func sizeTopic(ctx context.Context, t *testing.T, d Driver, name string) string {
	_, adm := Reference(t)
	topic := TopicName(d.Name(), name)
	limit := fmt.Sprint(maxMessageBytes)
	CreateTopic(ctx, t, adm, topic, 1, map[string]*string{"max.message.bytes": &limit})
	return topic
}

func testLargeMessage(ctx context.Context, t *testing.T, d Driver) {
	topic := sizeTopic(ctx, t, d, "large")
	// 64 bytes of slack: the exact framing differs a little per client.
	produceAndCheck(ctx, t, d, Produce{Topic: topic, Codec: "none", Records: []Record{bigRecord(maxMessageBytes - 64)}}, 0)
}

func testTooLarge(ctx context.Context, t *testing.T, d Driver) {
	_, adm := Reference(t)
	topic := sizeTopic(ctx, t, d, "toolarge")
	_, err := d.Produce(ctx, Produce{Topic: topic, Codec: "none", Records: []Record{bigRecord(maxMessageBytes + 1024)}})
	if err == nil {
		t.Fatalf("produce of a %d-byte batch to a topic with max.message.bytes=%d succeeded", maxMessageBytes+1024, maxMessageBytes)
	}
	if !errors.Is(err, ErrMessageTooLarge) {
		t.Errorf("produce over max.message.bytes: %v, want MESSAGE_TOO_LARGE", err)
	}
	if ends := EndOffsets(ctx, t, adm, topic); ends[0] != 0 {
		t.Errorf("end offset %d after a rejected produce, want 0", ends[0])
	}
}

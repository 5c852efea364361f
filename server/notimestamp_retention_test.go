package server_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// logFiles lists the partition's .log files in the broker's log dir.
func logFiles(t *testing.T, tb *testBroker, topic string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(tb.dir, topic+"-0", "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRecordsWithoutTimestampAreNotAgedByTheHeader: librdkafka can write a
// batch whose records carry timestamp -1 under a header max timestamp of 0.
// Trusting the header made the segment look 56 years old: rolled at the
// next retention check and deleted with it. The broker now stores the
// records' max timestamp (-1) in the header, as Kafka's LogValidator does;
// such a segment rolls segment.ms after its creation and ages by its file's
// modification time (Kafka's LogSegment.largestTimestamp).
func TestRecordsWithoutTimestampAreNotAgedByTheHeader(t *testing.T) {
	t.Parallel()
	tb := lifecycleBroker(t)
	adm := newAdmin(t, tb.addr())
	cl := newClient(t, tb.addr())
	const topic, control = "no-timestamps", "retention-control"
	tenMinutes := lcStr("600000")
	created := createTopic(t, adm, topic, 1, map[string]*string{
		"segment.ms": tenMinutes, "retention.ms": tenMinutes, "file.delete.delay.ms": lcStr("0")})
	createTopic(t, adm, control, 1, map[string]*string{
		"segment.ms": lcStr("100"), "retention.ms": tenMinutes, "file.delete.delay.ms": lcStr("0")})

	// Three records at timestamp -1 (base -1, deltas 0), header max 0.
	var payload []byte
	for i := range 3 {
		r := kmsg.Record{OffsetDelta: int32(i), Value: []byte("no timestamp")}
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		payload = r.AppendTo(payload)
	}
	rp := newRawProducer(t, tb.addr(), topic, created.ID)
	if resp := rp.send(0, rawBatch(0, 3, -1, 0, 0, payload)); resp.ErrorCode != 0 || resp.BaseOffset != 0 {
		t.Fatalf("produce: %v at %d", kerr.ErrorForCode(resp.ErrorCode), resp.BaseOffset)
	}
	fp := lcFetch(t, cl, topic, 0)
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(fp.RecordBatches); err != nil || rb.MaxTimestamp != -1 || rb.NumRecords != 3 {
		t.Fatalf("stored batch: max timestamp %d, %d records, %v; want the records' -1", rb.MaxTimestamp, rb.NumRecords, err)
	}

	// Three retention passes over the control topic, each rolling and
	// deleting a segment of 20-minute-old data written after the last, so
	// at least one whole pass over every log ran after the append (passes
	// run one after another).
	for round := int64(1); round <= 3; round++ {
		lcProduce(t, cl, control, 1, time.Now().Add(-20*time.Minute), nil)
		if !poll(requestTimeout, func() bool { return lcStartOffset(t, adm, control) == round }) {
			t.Fatalf("control round %d: earliest offset %d, want %d", round, lcStartOffset(t, adm, control), round)
		}
	}
	if got := lcStartOffset(t, adm, topic); got != 0 {
		t.Fatalf("records without timestamps deleted at once: earliest offset %d", got)
	}
	if files := logFiles(t, tb, topic); len(files) != 1 {
		t.Fatalf("segment of records without timestamps rolled at once: %v", files)
	}

	// segment.ms counts from the segment's creation: lowered to 100 ms, the
	// segment rolls; its file was just written, so retention keeps it.
	if _, err := adm.AlterTopicConfigs(ctxFor(t, requestTimeout), []kadm.AlterConfig{{Name: "segment.ms", Value: lcStr("100")}}, topic); err != nil {
		t.Fatal(err)
	}
	if !poll(requestTimeout, func() bool { return len(logFiles(t, tb, topic)) == 2 }) {
		t.Fatalf("not rolled after segment.ms: %v", logFiles(t, tb, topic))
	}
	if got := lcStartOffset(t, adm, topic); got != 0 {
		t.Fatalf("a segment written just now deleted: earliest offset %d", got)
	}
	// Its file last modified 20 minutes ago, past retention.ms: it goes.
	first := filepath.Join(tb.dir, topic+"-0", "00000000000000000000.log")
	old := time.Now().Add(-20 * time.Minute)
	if err := os.Chtimes(first, old, old); err != nil {
		t.Fatal(err)
	}
	if !poll(requestTimeout, func() bool { return lcStartOffset(t, adm, topic) == 3 }) {
		t.Fatalf("segment last modified 20 minutes ago kept: earliest offset %d", lcStartOffset(t, adm, topic))
	}
	// A consumer still reads what came after.
	lcProduce(t, cl, topic, 1, time.Now(), nil)
	cons := newClient(t, tb.addr(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	fs := cons.PollFetches(ctxFor(t, requestTimeout))
	if recs := fs.Records(); len(recs) != 1 || recs[0].Offset != 3 {
		t.Fatalf("consumer read %d records (%v)", len(recs), fs.Errors())
	}
}

package suite

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Txn is one transaction: its records, and whether it ends with a commit
// (EndTxn committed=true) or an abort.
type Txn struct {
	Records []Record
	Commit  bool
}

// TxnDriver is a Driver whose client has a transactional producer (KIP-98):
// InitProducerId with a transactional.id, AddPartitionsToTxn, Produce and
// EndTxn.
type TxnDriver interface {
	Driver
	// ProduceTxns runs txns in order with the transactional.id txnID: for
	// each, begin, produce every record (uncompressed) to its Partition and
	// wait for the acknowledgements, then commit or abort. It returns only
	// once the last EndTxn has been answered. A client that cannot span
	// partitions in one transaction may split one Txn into one transaction
	// per partition, each ended the same way.
	ProduceTxns(ctx context.Context, topic, txnID string, txns []Txn) error
}

// ReadCommittedDriver is a Driver whose consumer can fetch with
// isolation.level=read_committed (Fetch IsolationLevel 1).
type ReadCommittedDriver interface {
	Driver
	// ConsumeCommitted is Consume with read_committed: counts[p] records
	// from the start of each partition p, aborted ones filtered out.
	ConsumeCommitted(ctx context.Context, topic string, counts map[int32]int) ([]Record, error)
}

func txnDriver(t *testing.T, d Driver) TxnDriver {
	t.Helper()
	td, ok := d.(TxnDriver)
	if !ok {
		t.Fatalf("%s has no transactional driver: implement suite.TxnDriver or mark the scenario n/a in matrix.Clients", d.Name())
	}
	return td
}

// txnRecords returns n records per partition of partitions, keys prefixed
// by tag, at offsets from first. Headers are per partition (kcat sets them
// per invocation); keys and values hold no tab or newline (kcat's lines).
func txnRecords(tag string, partitions int32, n int, first int64, base time.Time) []Record {
	recs := Dataset(partitions, n, base)
	for i := range recs {
		recs[i].Key = append([]byte(tag+"-"), recs[i].Key...)
		recs[i].Value = append([]byte(tag+" "), recs[i].Value...)
		recs[i].Offset += first
	}
	return recs
}

// testTransactions: the client aborts a transaction of records B, then
// commits one of records A, spanning both partitions of a fresh topic. With
// the aborted records first in the log, a read_committed reader that failed
// to filter them (KIP-98's aborted-transaction index in the Fetch answer)
// would return B in place of A. Every offset is accounted for: per
// partition, B, an abort marker, A, a commit marker.
func testTransactions(ctx context.Context, t *testing.T, d Driver) {
	td := txnDriver(t, d)
	_, adm := Reference(t)
	const partitions, perB, perA = 2, 3, 4
	topic := TopicName(d.Name(), "txn")
	CreateTopic(ctx, t, adm, topic, partitions, nil)
	base := BaseTime()
	b := txnRecords("B", partitions, perB, 0, base)
	a := txnRecords("A", partitions, perA, perB+1, base.Add(time.Second))

	window := &TimeWindow{From: time.Now().Add(-time.Second)}
	err := td.ProduceTxns(ctx, topic, TopicName(d.Name(), "txnid"), []Txn{{Records: b}, {Records: a, Commit: true}})
	if err != nil {
		t.Fatalf("%s transactional produce: %v", d.Name(), err)
	}
	window.To = time.Now().Add(time.Second)
	if d.Caps().SetsTimestamps {
		window = nil
	}

	// Control markers take one offset each (KIP-98), in both isolation levels.
	// The coordinator answers EndTxn once PrepareCommit/PrepareAbort is
	// written and writes the markers afterwards (Kafka's
	// TransactionCoordinator.endTransaction answers, then hands the markers
	// to TransactionMarkerChannelManager), so the last marker may land just
	// after EndTxn returns: wait for it, within a bound, as a client must.
	want := int64(perB + 1 + perA + 1)
	var ends, lsos map[int32]int64
	markersDeadline := time.Now().Add(10 * time.Second)
	for {
		ends = EndOffsets(ctx, t, adm, topic)
		// With no transaction open, the last stable offset is the high watermark.
		lsos = lastStableOffsets(ctx, t, topic, partitions)
		done := true
		for p := int32(0); p < partitions; p++ {
			done = done && ends[p] == want && lsos[p] == want
		}
		if done || time.Now().After(markersDeadline) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	for p := int32(0); p < partitions; p++ {
		if ends[p] != want {
			t.Errorf("partition %d: high watermark %d, want %d (%d aborted, abort marker, %d committed, commit marker)", p, ends[p], want, perB, perA)
		}
		if lsos[p] != want {
			t.Errorf("partition %d: read_committed ListOffsets latest %d, want %d (no open transaction)", p, lsos[p], want)
		}
	}

	committed := referenceRead(ctx, t, topic, Counts(a), true)
	refA := make([]Record, len(committed))
	for i, r := range committed {
		refA[i] = FromKgo(r)
		if !r.Attrs.IsTransactional() || r.ProducerID < 0 {
			t.Errorf("reference read_committed: partition %d offset %d not in a transactional batch (producer id %d)", r.Partition, r.Offset, r.ProducerID)
		}
	}
	for _, msg := range Compare(a, refA, window) {
		t.Errorf("reference read_committed: %s", msg)
	}

	all := append(append([]Record(nil), b...), a...)
	uncommitted := referenceRead(ctx, t, topic, Counts(all), false)
	refAll := make([]Record, len(uncommitted))
	for i, r := range uncommitted {
		refAll[i] = FromKgo(r)
	}
	for _, msg := range Compare(all, refAll, window) {
		t.Errorf("reference read_uncommitted: %s", msg)
	}

	if rc, ok := d.(ReadCommittedDriver); ok {
		got, err := rc.ConsumeCommitted(ctx, topic, Counts(a))
		if err != nil {
			t.Fatalf("%s read_committed consume: %v", d.Name(), err)
		}
		for _, msg := range Compare(a, got, window) {
			t.Errorf("%s read_committed: %s", d.Name(), msg)
		}
	}
}

// referenceRead reads counts[p] records from the start of each partition
// with franz-go at the given isolation level, failing the test on a
// non-retriable fetch error or the deadline.
func referenceRead(ctx context.Context, t testing.TB, topic string, counts map[int32]int, readCommitted bool) []*kgo.Record {
	t.Helper()
	parts := map[int32]kgo.Offset{}
	total := 0
	for p, n := range counts {
		parts[p] = kgo.NewOffset().AtStart()
		total += n
	}
	level := kgo.ReadUncommitted()
	if readCommitted {
		level = kgo.ReadCommitted()
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(Seeds(t)...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchIsolationLevel(level),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	if err != nil {
		t.Fatalf("reference consumer: %v", err)
	}
	defer cl.Close()
	byPart := map[int32][]*kgo.Record{}
	for got := 0; got < total; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reference consume %s (read_committed %v): %d of %d records before the deadline", topic, readCommitted, got, total)
		}
		fs.EachError(func(_ string, p int32, err error) {
			if err != context.Canceled && !kerr.IsRetriable(err) {
				t.Errorf("reference fetch %s[%d]: %v", topic, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			if len(byPart[r.Partition]) < counts[r.Partition] {
				byPart[r.Partition] = append(byPart[r.Partition], r)
				got++
			}
		})
	}
	var out []*kgo.Record
	for _, p := range sortedPartitions(counts) {
		out = append(out, byPart[p]...)
	}
	return out
}

// lastStableOffsets issues ListOffsets latest with IsolationLevel 1
// (read_committed), which Kafka answers with the last stable offset.
func lastStableOffsets(ctx context.Context, t *testing.T, topic string, partitions int32) map[int32]int64 {
	t.Helper()
	cl, _ := Reference(t)
	req := kmsg.NewPtrListOffsetsRequest()
	req.IsolationLevel = 1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := int32(0); p < partitions; p++ {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p
		rp.Timestamp = -1
		rp.CurrentLeaderEpoch = -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	// kgo sends ListOffsets to each partition's leader and merges the answers.
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("ListOffsets read_committed %s: %v", topic, err)
	}
	out := map[int32]int64{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				t.Fatalf("ListOffsets read_committed %s[%d]: %v", topic, rp.Partition, err)
			}
			out[rp.Partition] = rp.Offset
		}
	}
	if len(out) != int(partitions) {
		t.Fatalf("ListOffsets read_committed %s: %d partitions answered, want %d", topic, len(out), partitions)
	}
	return out
}

package replica

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/riffle-io/riffle/protocol/records"
	"github.com/riffle-io/riffle/storage"
)

func testManager(t *testing.T) (*Manager, *Partition) {
	t.Helper()
	logs, err := storage.NewLogManager([]string{t.TempDir()}, storage.LogConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = logs.Shutdown() })
	m := NewManager(1, logs, nil)
	tp := storage.TopicPartition{Topic: "t", Partition: 0}
	err = m.ApplyPartitionState(tp, PartitionState{
		TopicID: [16]byte{1}, Leader: 1, ISR: []int32{1}, Replicas: []int32{1},
		Config: PartitionConfig{MaxMessageBytes: 1 << 20, TimestampBeforeMaxMs: math.MaxInt64, TimestampAfterMaxMs: math.MaxInt64},
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Partition(tp)
	if err != nil {
		t.Fatal(err)
	}
	return m, p
}

func appendOne(t *testing.T, p *Partition, value string) {
	t.Helper()
	now := time.Now()
	b, err := records.Build(records.BatchHeader{
		BaseTimestamp: now.UnixMilli(), MaxTimestamp: now.UnixMilli(),
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
	}, records.CodecNone, []records.Record{{Value: []byte(value)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.AppendRecordsToLeader(b, now); err != nil {
		t.Fatal(err)
	}
}

// An append that lands after a delayed fetch's first read but before it
// watches the partition must still complete the fetch at once, not after
// MaxWait (Kafka's tryCompleteElseWatch).
func TestFetchSeesAppendRacingItsRegistration(t *testing.T) {
	m, p := testManager(t)
	fetchWatchHook = func() { appendOne(t, p, "late") }
	t.Cleanup(func() { fetchWatchHook = nil })

	start := time.Now()
	res := m.Fetch(context.Background(), []FetchPartition{{TP: p.TP, FetchOffset: 0, CurrentLeaderEpoch: -1, MaxBytes: 1 << 20}},
		FetchParams{MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 5 * time.Second})
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("fetch waited %v for a record appended before it began to wait", d)
	}
	if res[0].Err != nil || len(res[0].Records) == 0 {
		t.Fatalf("fetch returned err %v, %d bytes", res[0].Err, len(res[0].Records))
	}
}

// A log left on disk by an earlier incarnation of the topic (deleted and
// re-created while this broker did not apply the deletion, e.g. a crash
// between the metadata commit and the directory removal) must not keep the
// new topic's partition offline: like Kafka's stray-replica handling, the
// stale log is deleted and a fresh one created.
func TestApplyPartitionStateReplacesStaleLogOnDisk(t *testing.T) {
	dir := t.TempDir()
	tp := storage.TopicPartition{Topic: "t", Partition: 0}
	logs, err := storage.NewLogManager([]string{dir}, storage.LogConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := NewManager(1, logs, nil)
	st := PartitionState{
		TopicID: [16]byte{1}, Leader: 1, ISR: []int32{1}, Replicas: []int32{1},
		Config: PartitionConfig{MaxMessageBytes: 1 << 20, TimestampBeforeMaxMs: math.MaxInt64, TimestampAfterMaxMs: math.MaxInt64},
	}
	if err := m.ApplyPartitionState(tp, st); err != nil {
		t.Fatal(err)
	}
	p, _ := m.Partition(tp)
	appendOne(t, p, "old incarnation")
	if err := logs.Shutdown(); err != nil {
		t.Fatal(err)
	}

	logs, err = storage.NewLogManager([]string{dir}, storage.LogConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = logs.Shutdown() })
	m = NewManager(1, logs, nil)
	st.TopicID = [16]byte{2}
	if err := m.ApplyPartitionState(tp, st); err != nil {
		t.Fatalf("new incarnation of the topic: %v", err)
	}
	p, err = m.Partition(tp)
	if err != nil {
		t.Fatal(err)
	}
	if p.Log().TopicID() != st.TopicID || p.Log().LogEndOffset() != 0 {
		t.Fatalf("log has topic id %x and end offset %d; want the new id and an empty log", p.Log().TopicID(), p.Log().LogEndOffset())
	}
}

package replica

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riffle-io/riffle/protocol/records"
	"github.com/riffle-io/riffle/storage"
	"github.com/riffle-io/riffle/storage/vfs"
)

// TestPartitionChangesDoNotBlockOtherPartitions: creating a partition's
// log (recovery, fsyncs) or deleting it (a flush, removing files) runs
// outside the lock that produce and fetch take to find their partition, so
// a slow disk under one partition's creation or deletion does not stall
// the others (Kafka's ReplicaManager and LogManager create and delete logs
// without a global lock).
func TestPartitionChangesDoNotBlockOtherPartitions(t *testing.T) {
	sep := string(filepath.Separator)
	slowTP := storage.TopicPartition{Topic: "slow", Partition: 0}
	for _, tc := range []struct {
		name   string
		op     vfs.Op
		create bool // the slow partition exists before
		run    func(m *Manager, st PartitionState) error
	}{
		{"create", vfs.OpOpen, false, func(m *Manager, st PartitionState) error { return m.ApplyPartitionState(slowTP, st) }},
		{"delete", vfs.OpSync, true, func(m *Manager, _ PartitionState) error { return m.RemovePartition(slowTP) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var armed atomic.Bool
			gate, blocked := make(chan struct{}), make(chan struct{})
			var once, opened sync.Once
			open := func() { opened.Do(func() { close(gate) }) }
			fs := vfs.NewErrorFS(vfs.Default)
			fs.SetHook(func(op vfs.Op, name string) {
				if armed.Load() && op == tc.op && strings.Contains(name, sep+"slow-0"+sep) {
					once.Do(func() { close(blocked) })
					<-gate
				}
			})
			logs, err := storage.NewLogManager([]string{t.TempDir()}, storage.LogConfig{}, nil, storage.WithFS(fs))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = logs.Shutdown() })
			t.Cleanup(open) // before the shutdown: cleanups run last first
			m := NewManager(1, logs, nil)
			st := func(id byte) PartitionState {
				return PartitionState{
					TopicID: [16]byte{id}, Leader: 1, ISR: []int32{1}, Replicas: []int32{1},
					Config: PartitionConfig{MaxMessageBytes: 1 << 20, TimestampBeforeMaxMs: math.MaxInt64, TimestampAfterMaxMs: math.MaxInt64},
				}
			}
			aTP := storage.TopicPartition{Topic: "a", Partition: 0}
			if err := m.ApplyPartitionState(aTP, st(1)); err != nil {
				t.Fatal(err)
			}
			if tc.create {
				if err := m.ApplyPartitionState(slowTP, st(9)); err != nil {
					t.Fatal(err)
				}
			}
			armed.Store(true)
			slowDone := make(chan error, 1)
			go func() { slowDone <- tc.run(m, st(9)) }()
			select {
			case <-blocked:
			case <-time.After(30 * time.Second):
				t.Fatal("the slow partition's disk work never started")
			}

			done := make(chan string, 1)
			go func() {
				p, err := m.Partition(aTP)
				if err != nil {
					done <- err.Error()
					return
				}
				before := p.Log().LogEndOffset()
				if err := appendOneErr(p, "while another partition changes"); err != nil {
					done <- err.Error()
					return
				}
				res := m.Fetch(context.Background(), []FetchPartition{{TP: aTP, FetchOffset: before, CurrentLeaderEpoch: -1, MaxBytes: 1 << 20}},
					FetchParams{MinBytes: 1, MaxBytes: 1 << 20, MaxWait: time.Second})
				if res[0].Err != nil || len(res[0].Records) == 0 {
					done <- "fetch found nothing"
					return
				}
				done <- ""
			}()
			select {
			case msg := <-done:
				if msg != "" {
					t.Fatal(msg)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("produce and fetch on another partition blocked behind the %s", tc.name)
			}
			open()
			select {
			case err := <-slowDone:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("%s did not finish", tc.name)
			}
			_, err = m.Partition(slowTP)
			if (err == nil) != (tc.name == "create") {
				t.Fatalf("after %s: partition lookup %v", tc.name, err)
			}
		})
	}
}

// appendOneErr is appendOne for goroutines other than the test's.
func appendOneErr(p *Partition, value string) error {
	now := time.Now()
	b, err := records.Build(records.BatchHeader{
		BaseTimestamp: now.UnixMilli(), MaxTimestamp: now.UnixMilli(),
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
	}, records.CodecNone, []records.Record{{Value: []byte(value)}})
	if err != nil {
		return err
	}
	_, err = p.AppendRecordsToLeader(b, now)
	return err
}

package replica

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/riffle-io/riffle/storage"
)

// The quota measures bytes over its windows, counted as at least
// windowNum-1 whole windows (Kafka's Rate), and forgets samples older than
// windowNum windows.
func TestReplicationQuotaRate(t *testing.T) {
	q := NewReplicationQuota(11, time.Second)
	t0 := time.Unix(1000, 0)
	if q.IsQuotaExceeded(t0) {
		t.Fatal("an unthrottled quota is exceeded")
	}
	q.Record(100<<20, t0)
	if q.IsQuotaExceeded(t0) {
		t.Fatal("an unthrottled quota is exceeded by any traffic")
	}
	q.UpdateQuota(100 << 10) // 100 KiB/s
	// 100 MiB over at least 10 s is far above 100 KiB/s.
	if !q.IsQuotaExceeded(t0.Add(time.Second)) {
		t.Fatalf("rate %.0f B/s not over 100 KiB/s", q.Rate(t0.Add(time.Second)))
	}
	// After 11 windows the sample is gone.
	if q.IsQuotaExceeded(t0.Add(11 * time.Second)) {
		t.Fatalf("rate %.0f B/s 11 s later, want the sample forgotten", q.Rate(t0.Add(11*time.Second)))
	}
	// 500 KiB in the first second: 500 KiB / 10 s = 50 KiB/s, under.
	t1 := t0.Add(20 * time.Second)
	q.Record(500<<10, t1)
	if r := q.Rate(t1.Add(100 * time.Millisecond)); r < 49<<10 || r > 51<<10 {
		t.Fatalf("rate %.0f B/s, want 50 KiB/s (500 KiB over the 10 s minimum)", r)
	}
	if q.IsQuotaExceeded(t1.Add(100 * time.Millisecond)) {
		t.Fatal("50 KiB/s exceeds 100 KiB/s")
	}
	// Another 600 KiB a few seconds later: 1.1 MiB / 10 s, over.
	q.Record(600<<10, t1.Add(3*time.Second))
	if !q.IsQuotaExceeded(t1.Add(3 * time.Second)) {
		t.Fatalf("rate %.0f B/s, want over 100 KiB/s", q.Rate(t1.Add(3*time.Second)))
	}
	// Raising the bound takes effect at once.
	q.UpdateQuota(Unthrottled)
	if q.IsQuotaExceeded(t1.Add(3 * time.Second)) {
		t.Fatal("exceeded after the bound was removed")
	}
	var nilQuota *ReplicationQuota
	nilQuota.Record(1, t0)
	if nilQuota.IsQuotaExceeded(t0) {
		t.Fatal("a nil quota is exceeded")
	}
}

// KIP-73 on the leader (ReplicaManager.shouldLeaderThrottle): while the
// leader quota is exceeded, an out-of-sync follower of a throttled
// partition gets nothing; an in-sync follower, or any follower of an
// unthrottled partition, is never held back.
func TestLeaderThrottleHoldsBackOnlyOutOfSyncThrottledFollowers(t *testing.T) {
	logs, err := storage.NewLogManager([]string{t.TempDir()}, storage.LogConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = logs.Shutdown() })
	quota := NewReplicationQuota(2, time.Second)
	m := NewManager(1, logs, nil, Options{LeaderQuota: quota})
	t.Cleanup(m.Close)
	parts := map[string]*Partition{}
	for _, topic := range []string{"throttled", "free"} {
		tp := storage.TopicPartition{Topic: topic}
		// Replica 3 is being added (a reassignment): not in the ISR.
		err := m.ApplyPartitionState(tp, PartitionState{
			TopicID: [16]byte{byte(len(topic))}, Leader: 1, ISR: []int32{1, 2}, Replicas: []int32{1, 2, 3},
			Config: PartitionConfig{MaxMessageBytes: 1 << 20, TimestampBeforeMaxMs: math.MaxInt64, TimestampAfterMaxMs: math.MaxInt64,
				LeaderThrottled: topic == "throttled"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if parts[topic], err = m.Partition(tp); err != nil {
			t.Fatal(err)
		}
		appendOne(t, parts[topic], "v")
	}
	fetch := func(topic string, follower int32) ReadResult {
		return m.Fetch(context.Background(), []FetchPartition{{
			TP: storage.TopicPartition{Topic: topic}, CurrentLeaderEpoch: -1, MaxBytes: 1 << 20, LastFetchedEpoch: -1, LogStartOffset: 0,
		}}, FetchParams{MaxBytes: 1 << 20, Follower: &FollowerID{ID: follower, BrokerEpoch: -1}})[0]
	}
	quota.UpdateQuota(1)
	quota.Record(1<<20, time.Now())
	if r := fetch("throttled", 3); r.Err != nil || len(r.Records) != 0 {
		t.Fatalf("out-of-sync follower of a throttled partition got %d bytes (%v) over the quota, want none", len(r.Records), r.Err)
	}
	if r := fetch("throttled", 2); r.Err != nil || len(r.Records) == 0 {
		t.Fatalf("in-sync follower held back (%v)", r.Err)
	}
	if r := fetch("free", 3); r.Err != nil || len(r.Records) == 0 {
		t.Fatalf("follower of an unthrottled partition held back (%v)", r.Err)
	}
	quota.UpdateQuota(Unthrottled)
	if r := fetch("throttled", 3); r.Err != nil || len(r.Records) == 0 {
		t.Fatalf("follower held back after the throttle was lifted (%v)", r.Err)
	}
}

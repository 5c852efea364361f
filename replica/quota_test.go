package replica

import (
	"testing"
	"time"
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

package replica

// Replication throttles (KIP-73), after Kafka's ReplicationQuotaManager: a
// byte rate measured over replication.quota.window.num samples of
// replication.quota.window.size.seconds each, against a bound in bytes/s
// (leader.replication.throttled.rate / follower.replication.throttled.rate).
// Which replicas are throttled is the topics' business
// (leader/follower.replication.throttled.replicas, PartitionConfig); the
// quota only says whether the throttled traffic is over its rate. A replica
// that is in sync is never held back, so a throttle cannot shrink the ISR.

import (
	"math"
	"sync"
	"time"
)

// Unthrottled is the rate of a quota that never holds anything back
// (Kafka's default, Long.MAX_VALUE).
const Unthrottled = math.MaxInt64

// ReplicationQuota is one side's replication throttle (Kafka's
// ReplicationQuotaManager with its Rate sensor).
type ReplicationQuota struct {
	windowNum  int
	windowSize time.Duration

	mu      sync.Mutex
	bound   int64 // bytes/s
	samples []quotaSample
}

// quotaSample is the bytes recorded in one window starting at start.
type quotaSample struct {
	start time.Time
	bytes int64
}

// NewReplicationQuota returns an unthrottled quota measured over windowNum
// windows of windowSize (replication.quota.window.num / .size.seconds).
func NewReplicationQuota(windowNum int, windowSize time.Duration) *ReplicationQuota {
	return &ReplicationQuota{windowNum: max(windowNum, 1), windowSize: max(windowSize, time.Millisecond), bound: Unthrottled}
}

// UpdateQuota sets the bound in bytes/s; Unthrottled (or any value at least
// as large) removes it. Dynamic configs call it without a restart.
func (q *ReplicationQuota) UpdateQuota(bytesPerSec int64) {
	if q == nil {
		return
	}
	q.mu.Lock()
	q.bound = bytesPerSec
	q.mu.Unlock()
}

// Bound returns the bound in bytes/s.
func (q *ReplicationQuota) Bound() int64 {
	if q == nil {
		return Unthrottled
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bound
}

// Record counts n throttled bytes replicated at now (Kafka records without
// checking: the check comes before the next fetch).
func (q *ReplicationQuota) Record(n int64, now time.Time) {
	if q == nil || n <= 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.purgeLocked(now)
	if k := len(q.samples); k == 0 || now.Sub(q.samples[k-1].start) >= q.windowSize {
		q.samples = append(q.samples, quotaSample{start: now})
	}
	q.samples[len(q.samples)-1].bytes += n
}

// IsQuotaExceeded reports whether the measured rate is above the bound
// (Kafka's sensor.checkQuotas).
func (q *ReplicationQuota) IsQuotaExceeded(now time.Time) bool {
	if q == nil {
		return false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.bound >= Unthrottled {
		return false
	}
	return q.rateLocked(now) > float64(q.bound)
}

// Rate returns the measured rate in bytes/s.
func (q *ReplicationQuota) Rate(now time.Time) float64 {
	if q == nil {
		return 0
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.rateLocked(now)
}

// rateLocked is Kafka's Rate.measure: the bytes of the retained samples
// over the time since the oldest began, counted as at least windowNum-1
// whole windows so that a quiet quota does not allow a burst of a whole
// window's bytes in its first milliseconds.
func (q *ReplicationQuota) rateLocked(now time.Time) float64 {
	q.purgeLocked(now)
	if len(q.samples) == 0 {
		return 0
	}
	var total int64
	for _, s := range q.samples {
		total += s.bytes
	}
	elapsed := now.Sub(q.samples[0].start)
	if full := time.Duration(q.windowNum-1) * q.windowSize; elapsed < full {
		elapsed = full
	}
	if elapsed <= 0 {
		elapsed = q.windowSize
	}
	return float64(total) / elapsed.Seconds()
}

// purgeLocked drops samples older than the windowNum windows measured.
func (q *ReplicationQuota) purgeLocked(now time.Time) {
	keep := time.Duration(q.windowNum) * q.windowSize
	i := 0
	for i < len(q.samples) && now.Sub(q.samples[i].start) >= keep {
		i++
	}
	if i > 0 {
		q.samples = append(q.samples[:0], q.samples[i:]...)
	}
}

package quota

import (
	"math"
	"sync"
	"time"
)

// Controller mutation quotas (KIP-599): topic and partition creations and
// deletions are rate limited in partitions per second with a token bucket
// instead of a windowed rate, so that a burst of up to
// Samples × Window × quota partitions is accepted at once and the bucket
// then refills at the quota (Kafka's TokenBucket stat).

// TokenBucket is Kafka's TokenBucket: tokens refill at the quota per
// second up to the burst; recording takes tokens, possibly below zero.
type TokenBucket struct {
	tokens float64
	lastMs int64
	init   bool
}

func (tb *TokenBucket) refill(quota, burst float64, nowMs int64) {
	if !tb.init {
		tb.tokens, tb.lastMs, tb.init = burst, nowMs, true
		return
	}
	if nowMs > tb.lastMs {
		tb.tokens = math.Min(burst, tb.tokens+quota*float64(nowMs-tb.lastMs)/1000)
		tb.lastMs = nowMs
	}
	tb.tokens = math.Min(burst, tb.tokens)
}

// MutationManager holds the token buckets of the clients under a
// controller_mutation_rate quota (Kafka's ControllerMutationQuotaManager).
type MutationManager struct {
	cfg Config

	mu      sync.Mutex
	buckets map[Tags]*mutationSensor
	sweep   int64
}

type mutationSensor struct {
	bucket   TokenBucket
	rate     Rate // mutation-rate metric
	throttle avg
	lastUse  int64
}

// NewMutationManager returns a manager whose bursts are
// cfg.Samples × cfg.Window of quota.
func NewMutationManager(cfg Config) *MutationManager {
	return &MutationManager{cfg: cfg, buckets: map[Tags]*mutationSensor{}}
}

// SetConfig changes the sampling (controller.quota.window.* changed).
func (m *MutationManager) SetConfig(cfg Config) {
	m.mu.Lock()
	m.cfg = cfg
	m.mu.Unlock()
}

func (m *MutationManager) sensorLocked(tags Tags, nowMs int64) *mutationSensor {
	if nowMs-m.sweep >= time.Minute.Milliseconds() {
		m.sweep = nowMs
		for t, s := range m.buckets {
			if nowMs-s.lastUse >= sensorExpiry.Milliseconds() {
				delete(m.buckets, t)
			}
		}
	}
	s := m.buckets[tags]
	if s == nil {
		s = &mutationSensor{}
		m.buckets[tags] = s
	}
	s.lastUse = nowMs
	return s
}

func (m *MutationManager) burst(limit float64) float64 {
	return float64(m.cfg.samples()) * m.cfg.Window.Seconds() * limit
}

// Quota returns the mutation quota of one request. Strict quotas (the
// request's version can carry THROTTLING_QUOTA_EXCEEDED: CreateTopics v6+,
// CreatePartitions v3+, DeleteTopics v5+) refuse a mutation once the
// bucket is empty; permissive ones accept everything and only throttle.
// A nil *MutationManager or ok=false gives a quota that never limits.
func (m *MutationManager) Quota(tags Tags, limit float64, ok, strict bool) *MutationQuota {
	if m == nil || !ok || limit <= 0 {
		return &MutationQuota{}
	}
	return &MutationQuota{m: m, tags: tags, limit: limit, strict: strict}
}

// MutationQuota is the controller mutation quota of one request (Kafka's
// StrictControllerMutationQuota / PermissiveControllerMutationQuota).
type MutationQuota struct {
	m        *MutationManager
	tags     Tags
	limit    float64
	strict   bool
	throttle time.Duration
	recorded time.Time
}

// Record takes permits (partitions created or deleted) from the bucket at
// now. A strict quota whose bucket is already below zero refuses: Record
// returns false and the mutation must fail with THROTTLING_QUOTA_EXCEEDED;
// it accepts otherwise, even if the permits take the bucket below zero
// (the request is throttled afterwards). A permissive quota always
// accepts.
func (q *MutationQuota) Record(permits float64, now time.Time) bool {
	if q.m == nil {
		return true
	}
	m := q.m
	nowMs := now.UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sensorLocked(q.tags, nowMs)
	burst := m.burst(q.limit)
	s.bucket.refill(q.limit, burst, nowMs)
	if q.strict && s.bucket.tokens < 0 {
		q.setThrottle(s.bucket.tokens, now)
		return false
	}
	s.bucket.tokens -= permits
	s.rate.Record(m.cfg, permits, nowMs)
	if !q.strict && s.bucket.tokens < 0 {
		q.setThrottle(s.bucket.tokens, now)
	}
	return true
}

// setThrottle is ControllerMutationQuotaManager.throttleTimeMs: the time
// the bucket needs to refill to zero.
func (q *MutationQuota) setThrottle(tokens float64, now time.Time) {
	q.throttle = time.Duration(math.Round(-tokens/q.limit*1000)) * time.Millisecond
	q.recorded = now
}

// Refund gives back permits recorded for a mutation that then failed
// (Kafka records a topic's permits only once the controller has validated
// it; Riffle records before asking the controller, then refunds).
func (q *MutationQuota) Refund(permits float64, now time.Time) {
	if q.m == nil || permits <= 0 {
		return
	}
	m := q.m
	nowMs := now.UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sensorLocked(q.tags, nowMs)
	s.bucket.refill(q.limit, m.burst(q.limit), nowMs)
	s.bucket.tokens = math.Min(m.burst(q.limit), s.bucket.tokens+permits)
	s.rate.Record(m.cfg, -permits, nowMs)
}

// Tags are what the quota's usage is measured under.
func (q *MutationQuota) Tags() Tags { return q.tags }

// ThrottleTime is the throttle the request's response carries: the last
// violation's throttle less the time since it was computed.
func (q *MutationQuota) ThrottleTime(now time.Time) time.Duration {
	if q.throttle <= 0 {
		return 0
	}
	return max(0, q.throttle-now.Sub(q.recorded))
}

// RecordThrottle counts a throttle applied to tags' client.
func (m *MutationManager) RecordThrottle(tags Tags, d time.Duration, now time.Time) {
	nowMs := now.UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sensorLocked(tags, nowMs).throttle.record(throttleTimeConfig, float64(d.Milliseconds()), nowMs)
}

// Stats returns every measured client's mutation rate and mean throttle.
func (m *MutationManager) Stats(now time.Time) []Stat {
	nowMs := now.UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Stat, 0, len(m.buckets))
	for t, s := range m.buckets {
		out = append(out, Stat{Tags: t, Rate: s.rate.Measure(m.cfg, nowMs), ThrottleMs: s.throttle.measure(throttleTimeConfig, nowMs)})
	}
	return out
}

package quota

import (
	"math"
	"sort"
	"sync"
	"time"
)

// throttleTimeConfig is the sampling of the throttle-time averages: the
// default MetricConfig of Kafka's throttle-time sensors (2 × 30 s).
var throttleTimeConfig = Config{Samples: 2, Window: 30 * time.Second}

// sensorExpiry is how long a client's sensors outlive its last request
// (Kafka's INACTIVE_SENSOR_EXPIRATION_TIME_SECONDS); the quota metrics of
// that client disappear with them.
const sensorExpiry = time.Hour

// Manager measures one kind of client quota (produce bytes, fetch bytes,
// request time) for every client under its Tags: Kafka's
// ClientQuotaManager and ClientRequestQuotaManager. Safe for concurrent
// use.
type Manager struct {
	cfg Config
	// maxThrottle bounds a throttle time (0: unbounded). Kafka bounds
	// request-time throttles to one window (ClientRequestQuotaManager),
	// not byte-rate ones.
	maxThrottle time.Duration

	mu        sync.Mutex
	sensors   map[Tags]*sensor
	lastSweep int64
}

type sensor struct {
	rate     Rate
	throttle avg
	lastUse  int64
}

// NewManager returns a manager sampling with cfg; maxThrottle bounds the
// throttle times it computes (0: no bound).
func NewManager(cfg Config, maxThrottle time.Duration) *Manager {
	return &Manager{cfg: cfg, maxThrottle: maxThrottle, sensors: map[Tags]*sensor{}}
}

// SetConfig changes the sampling (quota.window.* changed dynamically);
// rates measured so far are kept.
func (m *Manager) SetConfig(cfg Config) {
	m.mu.Lock()
	m.cfg = cfg
	m.mu.Unlock()
}

func (m *Manager) sensorLocked(tags Tags, nowMs int64) *sensor {
	if nowMs-m.lastSweep >= time.Minute.Milliseconds() {
		m.lastSweep = nowMs
		for t, s := range m.sensors {
			if nowMs-s.lastUse >= sensorExpiry.Milliseconds() {
				delete(m.sensors, t)
			}
		}
	}
	s := m.sensors[tags]
	if s == nil {
		s = &sensor{}
		m.sensors[tags] = s
	}
	s.lastUse = nowMs
	return s
}

// Record adds value to the usage of tags at now and returns how long the
// client must be throttled to bring its rate back to limit: 0 while the
// rate is within it. As Kafka's Sensor.record, the value counts even when
// it breaks the quota.
func (m *Manager) Record(tags Tags, limit, value float64, now time.Time) time.Duration {
	nowMs := now.UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sensorLocked(tags, nowMs)
	s.rate.Record(m.cfg, value, nowMs)
	rate := s.rate.Measure(m.cfg, nowMs)
	if rate <= limit || limit <= 0 {
		return 0
	}
	d := ThrottleTime(rate, limit, s.rate.WindowSizeMs(m.cfg, nowMs))
	if m.maxThrottle > 0 && d > m.maxThrottle {
		d = m.maxThrottle
	}
	return d
}

// RecordNoThrottle adds value without checking the quota: the next
// request pays for it (Kafka's recordNoThrottle).
func (m *Manager) RecordNoThrottle(tags Tags, value float64, now time.Time) {
	nowMs := now.UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sensorLocked(tags, nowMs).rate.Record(m.cfg, value, nowMs)
}

// Unrecord takes back a value recorded at now, for a fetch answered empty
// because it was throttled (Kafka's unrecordQuotaSensor).
func (m *Manager) Unrecord(tags Tags, value float64, now time.Time) {
	m.RecordNoThrottle(tags, -value, now)
}

// RecordThrottle counts a throttle applied to tags' client, for the
// throttle-time metric.
func (m *Manager) RecordThrottle(tags Tags, d time.Duration, now time.Time) {
	nowMs := now.UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sensorLocked(tags, nowMs).throttle.record(throttleTimeConfig, float64(d.Milliseconds()), nowMs)
}

// MaxValueInWindow is the most a client may use at once without being
// throttled for certain, whatever it used before (Kafka's
// maxValueInQuotaWindow): a fetch is never asked for more bytes than this.
func (m *Manager) MaxValueInWindow(limit float64) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return limit * float64(m.cfg.samples()-1) * m.cfg.Window.Seconds()
}

// Stat is one client's measured rate and mean throttle time.
type Stat struct {
	Tags       Tags
	Rate       float64
	ThrottleMs float64
}

// Stats returns the rate and mean throttle time of every measured
// client, sorted by tags.
func (m *Manager) Stats(now time.Time) []Stat {
	nowMs := now.UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Stat, 0, len(m.sensors))
	for t, s := range m.sensors {
		if nowMs-s.lastUse >= sensorExpiry.Milliseconds() {
			continue
		}
		out = append(out, Stat{Tags: t, Rate: s.rate.Measure(m.cfg, nowMs), ThrottleMs: s.throttle.measure(throttleTimeConfig, nowMs)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Tags.User != out[j].Tags.User {
			return out[i].Tags.User < out[j].Tags.User
		}
		return out[i].Tags.ClientID < out[j].Tags.ClientID
	})
	return out
}

// ThrottleTime is how long a client whose rate is value must pause for its
// rate over windowMs to fall back to bound (Kafka's
// QuotaUtils.throttleTime): the excess over the bound, as a fraction of
// the bound, of the window the rate is measured over.
func ThrottleTime(value, bound float64, windowMs int64) time.Duration {
	if bound <= 0 || value <= bound {
		return 0
	}
	ms := math.Round((value - bound) / bound * float64(windowMs))
	if ms > math.MaxInt32 {
		ms = math.MaxInt32
	}
	return time.Duration(ms) * time.Millisecond
}

// Package quota measures client usage and computes throttle times as
// Apache Kafka's client quotas do (KIP-13, KIP-55, KIP-124, KIP-219,
// KIP-599): rates kept over quota.window.num windows of
// quota.window.size.seconds each (Kafka's Sensor with a Rate over a
// SampledStat), the throttle time that brings a client back to its quota
// (ClientQuotaManager.throttleTime), token buckets for controller
// mutations (ControllerMutationQuotaManager), and the resolution of a
// request's user and client-id to the quota entity that applies
// (ClientQuotaManager's eight levels). It holds no connections and no
// clock: callers pass the time, so the arithmetic is testable to the
// millisecond. The server records and mutes connections.
package quota

import "time"

// Config is the sampling of a quota's rate: Kafka's quota.window.num
// (Samples, 11 by default) and quota.window.size.seconds (Window, 1 s).
type Config struct {
	Samples int
	Window  time.Duration
}

// DefaultConfig is Kafka's default quota sampling.
var DefaultConfig = Config{Samples: 11, Window: time.Second}

func (c Config) windowMs() int64 {
	if ms := c.Window.Milliseconds(); ms > 0 {
		return ms
	}
	return 1
}

func (c Config) samples() int {
	if c.Samples < 1 {
		return 1
	}
	return c.Samples
}

// sample is one window of a sampledStat (Kafka's SampledStat.Sample).
type sample struct {
	value     float64
	count     int64
	startMs   int64
	lastEvent int64
}

func (s *sample) reset(nowMs int64) { *s = sample{startMs: nowMs, lastEvent: nowMs} }

// sampledStat keeps values in Samples+1 rotating windows, as Kafka's
// SampledStat does: one more than configured, so that the oldest window
// still overlapping the measured span is kept while the current one fills.
type sampledStat struct {
	samples []sample
	current int
}

func (st *sampledStat) cur(nowMs int64) *sample {
	if len(st.samples) == 0 {
		st.samples = append(st.samples, sample{startMs: nowMs, lastEvent: nowMs})
	}
	return &st.samples[st.current]
}

func (st *sampledStat) record(c Config, v float64, nowMs int64) {
	s := st.cur(nowMs)
	if nowMs-s.startMs >= c.windowMs() {
		s = st.advance(c, nowMs)
	}
	s.value += v
	s.count++
	s.lastEvent = nowMs
}

func (st *sampledStat) advance(c Config, nowMs int64) *sample {
	st.current = (st.current + 1) % (c.samples() + 1)
	if st.current >= len(st.samples) {
		st.samples = append(st.samples, sample{startMs: nowMs, lastEvent: nowMs})
	} else {
		st.samples[st.current].reset(nowMs)
	}
	return &st.samples[st.current]
}

// purge resets the windows whose last event is older than the measured
// span (Samples × Window): they no longer count.
func (st *sampledStat) purge(c Config, nowMs int64) {
	expire := int64(c.samples()) * c.windowMs()
	for i := range st.samples {
		if nowMs-st.samples[i].lastEvent >= expire {
			st.samples[i].reset(nowMs)
		}
	}
}

func (st *sampledStat) oldestStart(nowMs int64) int64 {
	st.cur(nowMs)
	oldest := st.samples[0].startMs
	for _, s := range st.samples[1:] {
		if s.startMs < oldest {
			oldest = s.startMs
		}
	}
	return oldest
}

// sum is WindowedSum.combine; count the events of the windows.
func (st *sampledStat) sum(c Config, nowMs int64) (float64, int64) {
	st.purge(c, nowMs)
	var v float64
	var n int64
	for _, s := range st.samples {
		v += s.value
		n += s.count
	}
	return v, n
}

// Rate is Kafka's Rate over a WindowedSum: the sum of the retained
// windows divided by the span they cover, in units per second.
type Rate struct{ st sampledStat }

// Record adds v at nowMs.
func (r *Rate) Record(c Config, v float64, nowMs int64) { r.st.record(c, v, nowMs) }

// Measure is the rate per second at nowMs.
func (r *Rate) Measure(c Config, nowMs int64) float64 {
	v, _ := r.st.sum(c, nowMs)
	return v / (float64(r.WindowSizeMs(c, nowMs)) / 1000)
}

// WindowSizeMs is the span the rate is computed over (Rate.windowSize):
// from the start of the oldest retained window to now, but never less
// than Samples-1 whole windows, so that a client's first burst is spread
// over the full span instead of being measured over a few milliseconds.
func (r *Rate) WindowSizeMs(c Config, nowMs int64) int64 {
	r.st.purge(c, nowMs)
	elapsed := nowMs - r.st.oldestStart(nowMs)
	full := elapsed / c.windowMs()
	if minFull := int64(c.samples() - 1); full < minFull {
		elapsed += (minFull - full) * c.windowMs()
	}
	return max(elapsed, 1)
}

// avg is Kafka's Avg: the mean of the values recorded in the retained
// windows (NaN in Kafka when there are none; 0 here, for Prometheus).
type avg struct{ st sampledStat }

func (a *avg) record(c Config, v float64, nowMs int64) { a.st.record(c, v, nowMs) }

func (a *avg) measure(c Config, nowMs int64) float64 {
	v, n := a.st.sum(c, nowMs)
	if n == 0 {
		return 0
	}
	return v / float64(n)
}

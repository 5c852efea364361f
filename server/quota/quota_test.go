package quota

import (
	"math"
	"testing"
	"time"
)

func at(ms int64) time.Time { return time.UnixMilli(1_700_000_000_000 + ms) }

// A first burst is spread over Samples-1 whole windows (Rate.windowSize),
// and the throttle time is the excess over the bound, as a fraction of it,
// of that span (QuotaUtils.throttleTime).
func TestFirstBurstThrottle(t *testing.T) {
	m := NewManager(DefaultConfig, 0)
	tags := Tags{ClientID: "c"}
	if d := m.Record(tags, 100, 1000, at(0)); d != 0 {
		t.Fatalf("1000 B over 10 s at 100 B/s: throttled %v, want 0", d)
	}
	// 2000 B over a 10 s span is 200 B/s: 100% over, for 10 s.
	if d := m.Record(tags, 100, 1000, at(0)); d != 10*time.Second {
		t.Fatalf("throttle %v, want 10s", d)
	}
}

// A client that sends at a steady rate above its quota and pauses for each
// throttle time it is given averages its quota once its first burst is
// spent. (With 11 windows the average overshoots: whenever the client's
// old windows expire together, Rate assumes empty windows before the
// remaining ones and grants a burst again, as in Kafka.)
func TestThrottledClientConvergesToQuota(t *testing.T) {
	for _, samples := range []int{2, 3, 5} {
		c := Config{Samples: samples, Window: time.Second}
		m := NewManager(c, 0)
		tags := Tags{User: "u", ClientID: "c"}
		const limit, chunk = 512 << 10, 16 << 10
		warm := int64(samples+1) * 1000
		var now, sent int64
		for now < 60_000 {
			d := m.Record(tags, limit, chunk, at(now))
			if now >= warm {
				sent += chunk
			}
			now += 5 + d.Milliseconds() // 5 ms per request, then the throttle
		}
		got := float64(sent) / (float64(now-warm) / 1000)
		if math.Abs(got-limit)/limit > 0.05 {
			t.Errorf("%d windows: averaged %.0f B/s, want within 5%% of %d", samples, got, limit)
		}
	}
}

// Windows older than Samples × Window no longer count.
func TestRateForgetsOldWindows(t *testing.T) {
	var r Rate
	c := DefaultConfig
	r.Record(c, 5000, at(0).UnixMilli())
	// Half a window has passed, but the span is at least 10 windows.
	if got := r.Measure(c, at(500).UnixMilli()); got != 5000/10.5 {
		t.Fatalf("rate %v, want 5000/10.5", got)
	}
	if got := r.Measure(c, at(11_000).UnixMilli()); got != 0 {
		t.Fatalf("rate after the span %v, want 0", got)
	}
}

func TestUnrecordAndBound(t *testing.T) {
	m := NewManager(DefaultConfig, time.Second)
	tags := Tags{ClientID: "c"}
	m.Record(tags, 10, 1000, at(0))
	m.Unrecord(tags, 1000, at(0))
	if d := m.Record(tags, 10, 50, at(1)); d != 0 {
		t.Fatalf("after unrecord: throttled %v", d)
	}
	if d := m.Record(tags, 10, 1e6, at(2)); d != time.Second {
		t.Fatalf("bounded throttle %v, want 1s", d)
	}
	if got := m.MaxValueInWindow(100); got != 1000 {
		t.Fatalf("max value in window %v, want 1000", got)
	}
}

// The eight levels of ClientQuotaManager, and the tags usage is shared
// under.
func TestResolveLevels(t *testing.T) {
	u, c, d, none := Named("alice"), Named("app"), DefaultPart, Part{}
	all := []struct {
		e    Entity
		v    float64
		tags Tags
	}{
		{Entity{u, c}, 1, Tags{"alice", "app"}},
		{Entity{u, d}, 2, Tags{"alice", "app"}},
		{Entity{u, none}, 3, Tags{"alice", ""}},
		{Entity{d, c}, 4, Tags{"alice", "app"}},
		{Entity{d, d}, 5, Tags{"alice", "app"}},
		{Entity{d, none}, 6, Tags{"alice", ""}},
		{Entity{none, c}, 7, Tags{"", "app"}},
		{Entity{none, d}, 8, Tags{"", "app"}},
	}
	// With levels i..8 configured, level i applies.
	for i := range all {
		values := map[Entity]float64{}
		for _, l := range all[i:] {
			values[l.e] = l.v
		}
		tags, limit, ok := NewIndex(values).Resolve("alice", "app")
		if !ok || limit != all[i].v || tags != all[i].tags {
			t.Errorf("levels %d..8: got %+v %v %v, want %+v %v", i+1, tags, limit, ok, all[i].tags, all[i].v)
		}
	}
	// Entities of other users and clients do not apply.
	ix := NewIndex(map[Entity]float64{{Named("bob"), none}: 1, {none, Named("other")}: 2})
	if _, _, ok := ix.Resolve("alice", "app"); ok {
		t.Error("a quota of other entities applied")
	}
	if tags, limit, ok := ix.Resolve("bob", "app"); !ok || limit != 1 || tags != (Tags{User: "bob"}) {
		t.Errorf("bob: %+v %v %v", tags, limit, ok)
	}
	if _, _, ok := NewIndex(nil).Resolve("alice", "app"); ok {
		t.Error("an empty index applied a quota")
	}
}

// KIP-599: a strict quota refuses once the bucket is below zero; a
// permissive one accepts and throttles.
func TestMutationQuota(t *testing.T) {
	m := NewMutationManager(DefaultConfig) // burst = 11 s of quota
	tags := Tags{ClientID: "c"}
	q := m.Quota(tags, 2, true, true) // 2 partitions/s, burst 22
	if !q.Record(30, at(0)) {
		t.Fatal("strict: the first mutation past the burst was refused")
	}
	if got := q.ThrottleTime(at(0)); got != 0 {
		t.Fatalf("strict: accepted mutation throttled %v", got)
	}
	if q.Record(1, at(0)) {
		t.Fatal("strict: a mutation with the bucket at -8 was accepted")
	}
	if got := q.ThrottleTime(at(1000)); got != 3*time.Second {
		t.Fatalf("strict: throttle %v, want 3s (8 tokens at 2/s, 1 s later)", got)
	}
	// After 4 s, the bucket is back at 0: accepted again.
	q2 := m.Quota(tags, 2, true, true)
	if !q2.Record(1, at(4000)) {
		t.Fatal("strict: refused once refilled")
	}
	p := m.Quota(Tags{ClientID: "p"}, 2, true, false)
	if !p.Record(26, at(0)) {
		t.Fatal("permissive refused")
	}
	if got := p.ThrottleTime(at(0)); got != 2*time.Second {
		t.Fatalf("permissive throttle %v, want 2s", got)
	}
	if nq := m.Quota(tags, 0, false, true); !nq.Record(1e9, at(0)) || nq.ThrottleTime(at(0)) != 0 {
		t.Fatal("no quota limited")
	}
}

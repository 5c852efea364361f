package coordinator

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// nextDeadline is the shard's next deadline, failing when there is none.
func (h *harness) nextDeadline() time.Time {
	h.t.Helper()
	next, ok := h.s.NextDeadline()
	if !ok {
		h.t.Fatal("no deadline pending")
	}
	return next
}

// TestNextDeadlineClassicSession: the shard reports a classic member's
// session deadline to the millisecond, and the member is still there a
// millisecond before it and gone at it: what the runtime's timer relies on.
func TestNextDeadlineClassicSession(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RetentionCheck = time.Hour })
	h.s.LoadComplete(h.now)
	if got, want := h.nextDeadline(), h.now.Add(time.Hour); !got.Equal(want) {
		t.Fatalf("empty shard: next deadline %v, want the retention check at %v", got, want)
	}
	a, b := h.stableGroup("g")
	synced := h.now
	// Both synced now with a 10 s session; a heartbeats 4 s later.
	h.now = h.now.Add(4 * time.Second)
	wantCode(t, "heartbeat a", h.answer(h.send(hbReq("g", a, 1))).(*kmsg.HeartbeatResponse).ErrorCode, nil)
	bDeadline := synced.Add(10 * time.Second)
	if got := h.nextDeadline(); !got.Equal(bDeadline) {
		t.Fatalf("next deadline %v, want b's session deadline %v", got, bDeadline)
	}
	h.now = bDeadline.Add(-time.Millisecond)
	h.s.Tick(h.now)
	h.collect()
	if _, ok := h.s.classic["g"].members[b]; !ok {
		t.Fatal("b expired before its session deadline")
	}
	h.now = bDeadline
	h.s.Tick(h.now)
	h.collect()
	if _, ok := h.s.classic["g"].members[b]; ok {
		t.Fatal("b did not expire at its session deadline")
	}
	// The rebalance b's expiry started has its own deadline; a's
	// session is suspended while it must rejoin, so the join deadline
	// (a's rebalance timeout, 20 s) is next.
	if got := h.nextDeadline(); !got.After(h.now) {
		t.Fatalf("next deadline %v is not after the tick at %v", got, h.now)
	}
}

// TestNextDeadlineConsumerSession: the same for a KIP-848 member, whose
// session is group.consumer.session.timeout.ms from its last heartbeat.
func TestNextDeadlineConsumerSession(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RetentionCheck = 0 })
	if _, ok := h.s.NextDeadline(); ok {
		t.Fatal("an empty shard without retention checks has a deadline")
	}
	h.s.SetTopics(h.now, map[string]TopicInfo{"t": {ID: topicT, Partitions: 2}})
	ra := h.answer(h.send(cgHeartbeat("A", 0, nil))).(*kmsg.ConsumerGroupHeartbeatResponse)
	wantCode(t, "A joins", ra.ErrorCode, nil)
	h.now = h.now.Add(1500 * time.Millisecond)
	ra = h.answer(h.send(cgHeartbeat("A", ra.MemberEpoch, assigned(ra)))).(*kmsg.ConsumerGroupHeartbeatResponse)
	wantCode(t, "A heartbeats", ra.ErrorCode, nil)
	deadline := h.now.Add(45 * time.Second)
	if got := h.nextDeadline(); !got.Equal(deadline) {
		t.Fatalf("next deadline %v, want A's session deadline %v", got, deadline)
	}
	h.now = deadline.Add(-time.Millisecond)
	h.s.Tick(h.now)
	if _, ok := h.s.consumer["cg"].members["A"]; !ok {
		t.Fatal("A expired before its session deadline")
	}
	h.now = deadline
	h.s.Tick(h.now)
	if _, ok := h.s.consumer["cg"].members["A"]; ok {
		t.Fatal("A did not expire at its session deadline")
	}
	if next, ok := h.s.NextDeadline(); ok {
		t.Fatalf("deadline %v pending after the last member expired", next)
	}
}

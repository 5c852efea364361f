package coordinator

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func staticHeartbeat(member, instance string, epoch int32) *kmsg.ConsumerGroupHeartbeatRequest {
	r := cgHeartbeat(member, epoch, nil)
	r.InstanceID = strp(instance)
	return r
}

// TestScenarioConsumerStaticMembership checks KIP-848 static membership
// against GroupMetadataManager: a second instance with an id in use is
// UNRELEASED_INSTANCE_ID; a leave with epoch -2 keeps the assignment and a
// restart with a new member id replaces the member without a rebalance; a
// leave naming an instance held by another member id is fenced; a departed
// member whose session runs out is removed, and its instance rejoins as a
// new member; a static member leaving with -1 is removed at once.
func TestScenarioConsumerStaticMembership(t *testing.T) {
	h := newHarness(t)
	h.s.SetTopics(h.now, map[string]TopicInfo{"t": {ID: topicT, Partitions: 4}})
	hb := func(req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
		t.Helper()
		return h.answer(h.send(req)).(*kmsg.ConsumerGroupHeartbeatResponse)
	}
	g := func() *consumerGroup { return h.s.consumer["cg"] }

	r := hb(staticHeartbeat("A", "i1", 0))
	wantCode(t, "A joins", r.ErrorCode, nil)
	if r.MemberEpoch != 1 || len(assigned(r)) != 4 {
		t.Fatalf("A: epoch %d assignment %v", r.MemberEpoch, assigned(r))
	}

	// A second process configured with the same instance id, while A
	// is active.
	wantCode(t, "duplicate instance", hb(staticHeartbeat("A2", "i1", 0)).ErrorCode, kerr.UnreleasedInstanceID)

	// Kafka requires the instance id with epoch -2 (franz-go omits it).
	noInstance := cgHeartbeat("A", leaveGroupStaticMemberEpoch, nil)
	wantCode(t, "-2 without instance id", hb(noInstance).ErrorCode, kerr.InvalidRequest)
	// A leave for i1 from a member id that does not hold it.
	wantCode(t, "zombie leave", hb(staticHeartbeat("Z", "i1", leaveGroupStaticMemberEpoch)).ErrorCode, kerr.FencedInstanceID)
	wantCode(t, "unknown instance leave", hb(staticHeartbeat("A", "i9", leaveGroupStaticMemberEpoch)).ErrorCode, kerr.UnknownMemberID)
	if m := g().members["A"]; m == nil || m.epoch != 1 {
		t.Fatalf("A after refused leaves: %+v", m)
	}

	// A leaves temporarily: it keeps its assignment, the group does
	// not rebalance, and its own later heartbeats are fenced.
	h.advance(10 * time.Second)
	r = hb(staticHeartbeat("A", "i1", leaveGroupStaticMemberEpoch))
	wantCode(t, "A leaves with -2", r.ErrorCode, nil)
	if r.MemberEpoch != leaveGroupStaticMemberEpoch || r.MemberID == nil || *r.MemberID != "A" {
		t.Fatalf("leave answered member %v epoch %d", r.MemberID, r.MemberEpoch)
	}
	if m := g().members["A"]; m == nil || m.epoch != leaveGroupStaticMemberEpoch || len(m.assigned) != 4 || g().epoch != 1 {
		t.Fatalf("after -2: member %+v, group epoch %d", m, g().epoch)
	}
	wantCode(t, "heartbeat after -2", hb(staticHeartbeat("A", "i1", 1)).ErrorCode, kerr.FencedMemberEpoch)

	// The restarted instance, with a new member id, replaces A: same
	// assignment, same epoch, no rebalance.
	r = hb(staticHeartbeat("A2", "i1", 0))
	wantCode(t, "A2 replaces A", r.ErrorCode, nil)
	if r.MemberID == nil || *r.MemberID != "A2" || r.MemberEpoch != 1 || len(assigned(r)) != 4 {
		t.Fatalf("A2: id %v epoch %d assignment %v", r.MemberID, r.MemberEpoch, assigned(r))
	}
	if _, ok := g().members["A"]; ok || len(g().members) != 1 || g().epoch != 1 {
		t.Fatalf("after replacement: members %v, group epoch %d", sortedKeys(g().members), g().epoch)
	}
	wantCode(t, "A2 heartbeats", hb(staticHeartbeat("A2", "i1", 1)).ErrorCode, nil)
	wantCode(t, "old member id", hb(staticHeartbeat("A", "i1", 1)).ErrorCode, kerr.UnknownMemberID)

	// The -2 leave does not extend the session: A2 left 40 s after its
	// last heartbeat, so it is gone 45 s after that heartbeat.
	h.advance(40 * time.Second)
	wantCode(t, "A2 leaves with -2", hb(staticHeartbeat("A2", "i1", leaveGroupStaticMemberEpoch)).ErrorCode, nil)
	h.advance(5 * time.Second)
	if len(g().members) != 0 || g().epoch != 2 {
		t.Fatalf("after session expiry: members %v, group epoch %d", sortedKeys(g().members), g().epoch)
	}
	r = hb(staticHeartbeat("A3", "i1", 0))
	wantCode(t, "A3 joins as a new member", r.ErrorCode, nil)
	if r.MemberEpoch != 3 || len(assigned(r)) != 4 {
		t.Fatalf("A3: epoch %d assignment %v", r.MemberEpoch, assigned(r))
	}

	// A second static member; then A3 leaves for good with -1: removed
	// at once, and the group rebalances its partitions to B.
	r = hb(staticHeartbeat("B", "i2", 0))
	wantCode(t, "B joins", r.ErrorCode, nil)
	if r.MemberEpoch != 4 || len(assigned(r)) != 0 {
		t.Fatalf("B while A3 holds everything: epoch %d assignment %v", r.MemberEpoch, assigned(r))
	}
	wantCode(t, "A3 leaves with -1", hb(staticHeartbeat("A3", "i1", leaveGroupMemberEpoch)).ErrorCode, nil)
	if _, ok := g().members["A3"]; ok || g().epoch != 5 {
		t.Fatalf("after -1: members %v, group epoch %d", sortedKeys(g().members), g().epoch)
	}
	r = hb(staticHeartbeat("B", "i2", 4))
	wantCode(t, "B heartbeats", r.ErrorCode, nil)
	if r.MemberEpoch != 5 || len(assigned(r)) != 4 {
		t.Fatalf("B after A3 left: epoch %d assignment %v", r.MemberEpoch, assigned(r))
	}
	// The instance that left for good rejoins as a new member.
	r = hb(staticHeartbeat("A4", "i1", 0))
	wantCode(t, "A4 joins", r.ErrorCode, nil)
	if r.MemberEpoch != 6 {
		t.Fatalf("A4: epoch %d", r.MemberEpoch)
	}
}

// TestScenarioConsumerStaticLeaveWhileRevoking: a static member that leaves
// with -2 while it still holds partitions it was asked to revoke gives them
// up at once (Kafka clears its partitions pending revocation), so their new
// owner gets them; the departed member is not removed by the revocation
// timer, also after a coordinator restart, but only when its session ends.
func TestScenarioConsumerStaticLeaveWhileRevoking(t *testing.T) {
	h := newHarness(t)
	topics := map[string]TopicInfo{"t": {ID: topicT, Partitions: 4}}
	h.s.SetTopics(h.now, topics)
	hb := func(req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
		t.Helper()
		return h.answer(h.send(req)).(*kmsg.ConsumerGroupHeartbeatResponse)
	}
	hb(staticHeartbeat("A", "i1", 0))
	rb := hb(staticHeartbeat("B", "i2", 0))
	if len(assigned(rb)) != 0 {
		t.Fatalf("B got %v before A revoked", assigned(rb))
	}
	// A learns what to keep (rebalance timeout 30 s), and leaves
	// without confirming the revocation.
	req := staticHeartbeat("A", "i1", 1)
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{TopicID: topicT, Partitions: []int32{0, 1, 2, 3}}}
	ra := hb(req)
	if len(assigned(ra)) != 2 || h.s.consumer["cg"].members["A"].state != memberUnrevokedPartitions {
		t.Fatalf("A told to keep %v", assigned(ra))
	}
	wantCode(t, "A leaves with -2", hb(staticHeartbeat("A", "i1", leaveGroupStaticMemberEpoch)).ErrorCode, nil)
	rb = hb(cgHeartbeat("B", 2, []int32{}))
	wantCode(t, "B heartbeats", rb.ErrorCode, nil)
	if got := assigned(rb); len(got) != 2 || got[0] == assigned(ra)[0] {
		t.Fatalf("B assigned %v, A keeps %v", got, assigned(ra))
	}

	// Rebuilt from its records, the group still parks A.
	s2 := NewShard(h.s.cfg)
	for _, r := range h.records {
		if err := s2.Replay(r.Key, r.Value); err != nil {
			t.Fatalf("replay: %v", err)
		}
	}
	s2.LoadComplete(h.now)
	s2.SetTopics(h.now, topics)
	h.s = s2
	h.advance(35 * time.Second) // past A's rebalance timeout
	if m := h.s.consumer["cg"].members["A"]; m == nil || m.epoch != leaveGroupStaticMemberEpoch || len(m.assigned) != 2 {
		t.Fatalf("A after its rebalance timeout: %+v", m)
	}
	wantCode(t, "B keeps its session", hb(cgHeartbeat("B", 2, nil)).ErrorCode, nil)
	h.advance(10 * time.Second) // 45 s: A's session ends
	if _, ok := h.s.consumer["cg"].members["A"]; ok {
		t.Fatal("A outlived its session")
	}
}

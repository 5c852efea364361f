package coordinator

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var topicT = [16]byte{1}

func cgHeartbeat(member string, epoch int32, owned []int32) *kmsg.ConsumerGroupHeartbeatRequest {
	r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	r.Version = 1
	r.Group, r.MemberID, r.MemberEpoch = "cg", member, epoch
	r.RebalanceTimeoutMillis = -1
	if epoch == 0 {
		r.RebalanceTimeoutMillis = 30_000
		r.SubscribedTopicNames = []string{"t"}
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	} else if owned != nil {
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{TopicID: topicT, Partitions: owned}}
	}
	return r
}

func assigned(r *kmsg.ConsumerGroupHeartbeatResponse) []int32 {
	if r.Assignment == nil {
		return nil
	}
	var out []int32
	for _, t := range r.Assignment.Topics {
		out = append(out, t.Partitions...)
	}
	return out
}

// TestScenarioConsumerGroupReconciliation: KIP-848's revoke-then-assign. A
// owns all four partitions; B joins; A is told to keep two, and B gets them
// only after A's heartbeat shows it let them go.
func TestScenarioConsumerGroupReconciliation(t *testing.T) {
	h := newHarness(t)
	h.s.SetTopics(h.now, map[string]TopicInfo{"t": {ID: topicT, Partitions: 4}})
	ra := h.answer(h.send(cgHeartbeat("A", 0, nil))).(*kmsg.ConsumerGroupHeartbeatResponse)
	wantCode(t, "A joins", ra.ErrorCode, nil)
	if ra.MemberEpoch != 1 || len(assigned(ra)) != 4 {
		t.Fatalf("A: epoch %d assignment %v", ra.MemberEpoch, assigned(ra))
	}
	rb := h.answer(h.send(cgHeartbeat("B", 0, nil))).(*kmsg.ConsumerGroupHeartbeatResponse)
	wantCode(t, "B joins", rb.ErrorCode, nil)
	if rb.MemberEpoch != 2 || len(assigned(rb)) != 0 {
		t.Fatalf("B before A revokes: epoch %d assignment %v", rb.MemberEpoch, assigned(rb))
	}
	// A's keepalive learns what to keep; its epoch waits for the revocation.
	ra = h.answer(h.send(cgHeartbeat("A", 1, nil))).(*kmsg.ConsumerGroupHeartbeatResponse)
	keep := assigned(ra)
	if ra.MemberEpoch != 1 || len(keep) != 2 {
		t.Fatalf("A told to keep %v at epoch %d", keep, ra.MemberEpoch)
	}
	// B asks again: still nothing, A has not confirmed.
	rb = h.answer(h.send(cgHeartbeat("B", 2, []int32{}))).(*kmsg.ConsumerGroupHeartbeatResponse)
	if len(assigned(rb)) != 0 {
		t.Fatalf("B got %v before A revoked", assigned(rb))
	}
	// A confirms by reporting only what it keeps: epoch 2.
	ra = h.answer(h.send(cgHeartbeat("A", 1, keep))).(*kmsg.ConsumerGroupHeartbeatResponse)
	wantCode(t, "A confirms", ra.ErrorCode, nil)
	if ra.MemberEpoch != 2 {
		t.Fatalf("A epoch %d after revoking", ra.MemberEpoch)
	}
	rb = h.answer(h.send(cgHeartbeat("B", 2, nil))).(*kmsg.ConsumerGroupHeartbeatResponse)
	if got := assigned(rb); len(got) != 2 || got[0] == keep[0] {
		t.Fatalf("B assigned %v, A keeps %v", got, keep)
	}
	if st := h.s.consumer["cg"].stateString(); st != "Stable" {
		t.Fatalf("state %s", st)
	}
	// A stale epoch is fenced; an unknown member is unknown.
	wantCode(t, "stale epoch", h.answer(h.send(cgHeartbeat("A", 7, nil))).(*kmsg.ConsumerGroupHeartbeatResponse).ErrorCode, kerr.FencedMemberEpoch)
	wantCode(t, "unknown member", h.answer(h.send(cgHeartbeat("C", 3, nil))).(*kmsg.ConsumerGroupHeartbeatResponse).ErrorCode, kerr.UnknownMemberID)

	// B's session expires: A gets everything back.
	for i := 0; i < 4; i++ {
		h.advance(15 * time.Second)
		ra = h.answer(h.send(cgHeartbeat("A", ra.MemberEpoch, nil))).(*kmsg.ConsumerGroupHeartbeatResponse)
	}
	if len(assigned(ra)) != 4 && len(h.s.consumer["cg"].members["A"].assigned) != 4 {
		t.Fatalf("A after B expired: %v", assigned(ra))
	}
	// A leaves: the group is empty.
	leave := cgHeartbeat("A", -1, nil)
	wantCode(t, "leave", h.answer(h.send(leave)).(*kmsg.ConsumerGroupHeartbeatResponse).ErrorCode, nil)
	if st := h.s.consumer["cg"].stateString(); st != "Empty" {
		t.Fatalf("state %s after leave", st)
	}
}

func TestScenarioConsumerGroupRange(t *testing.T) {
	h := newHarness(t)
	h.s.SetTopics(h.now, map[string]TopicInfo{"t": {ID: topicT, Partitions: 5}})
	a := cgHeartbeat("A", 0, nil)
	a.ServerAssignor = strp("range")
	h.answer(h.send(a))
	h.answer(h.send(cgHeartbeat("B", 0, nil)))
	ra := h.answer(h.send(cgHeartbeat("A", 1, nil))).(*kmsg.ConsumerGroupHeartbeatResponse)
	ra = h.answer(h.send(cgHeartbeat("A", 1, assigned(ra)))).(*kmsg.ConsumerGroupHeartbeatResponse)
	if got := assigned(ra); len(got) != 3 || got[0] != 0 || got[2] != 2 {
		t.Fatalf("range gives A %v, want [0 1 2]", got)
	}
	if g := h.s.consumer["cg"]; h.s.groupAssignor(g) != "range" {
		t.Fatalf("assignor %s", h.s.groupAssignor(g))
	}
	// A classic join to a live consumer group is refused.
	j := joinReq("cg", "", nil, "x")
	wantCode(t, "classic join", h.answer(h.send(j)).(*kmsg.JoinGroupResponse).ErrorCode, kerr.InconsistentGroupProtocol)
}

// TestScenarioConsumerGroupReplay: a KIP-848 group rebuilt from its records
// (Kafka's ConsumerGroup* record types) keeps epochs and assignments, so its
// members carry on heartbeating after a coordinator restart.
func TestScenarioConsumerGroupReplay(t *testing.T) {
	h := newHarness(t)
	topics := map[string]TopicInfo{"t": {ID: topicT, Partitions: 4}}
	h.s.SetTopics(h.now, topics)
	h.answer(h.send(cgHeartbeat("A", 0, nil)))
	h.answer(h.send(cgHeartbeat("B", 0, nil)))
	ra := h.answer(h.send(cgHeartbeat("A", 1, nil))).(*kmsg.ConsumerGroupHeartbeatResponse)
	ra = h.answer(h.send(cgHeartbeat("A", 1, assigned(ra)))).(*kmsg.ConsumerGroupHeartbeatResponse)
	rb := h.answer(h.send(cgHeartbeat("B", 2, nil))).(*kmsg.ConsumerGroupHeartbeatResponse)
	if len(assigned(rb)) != 2 {
		t.Fatalf("B: %v", assigned(rb))
	}
	for _, r := range h.records {
		if len(r.Key) < 2 {
			t.Fatal("short key")
		}
	}

	s2 := NewShard(h.s.cfg)
	for _, r := range h.records {
		if err := s2.Replay(r.Key, r.Value); err != nil {
			t.Fatalf("replay: %v", err)
		}
	}
	s2.LoadComplete(h.now)
	s2.SetTopics(h.now, topics)
	g, old := s2.consumer["cg"], h.s.consumer["cg"]
	if g == nil || g.epoch != old.epoch || g.assignmentEpoch != old.assignmentEpoch || len(g.members) != 2 {
		t.Fatalf("replayed group %+v, want epoch %d", g, old.epoch)
	}
	for id, m := range old.members {
		r := g.members[id]
		if r == nil || r.epoch != m.epoch || !equalSets(r.assigned, m.assigned) || !equalSets(g.target[id], old.target[id]) ||
			!equalStrings(r.subscribedNames, m.subscribedNames) {
			t.Fatalf("member %s replayed as %+v, was %+v", id, r, m)
		}
	}
	h.s = s2
	ra = h.answer(h.send(cgHeartbeat("A", ra.MemberEpoch, nil))).(*kmsg.ConsumerGroupHeartbeatResponse)
	wantCode(t, "heartbeat after restart", ra.ErrorCode, nil)
	if ra.MemberEpoch != old.members["A"].epoch {
		t.Fatalf("epoch %d after restart", ra.MemberEpoch)
	}

	// Both leave; cleanup deletes the group with tombstones for every key.
	h.answer(h.send(cgHeartbeat("A", -1, nil)))
	h.answer(h.send(cgHeartbeat("B", -1, nil)))
	h.records = nil
	h.advance(11 * time.Minute)
	if _, ok := h.s.consumer["cg"]; ok {
		t.Fatal("empty consumer group without offsets not deleted")
	}
	s3 := NewShard(h.s.cfg)
	for _, r := range h.records {
		_ = s3.Replay(r.Key, r.Value)
	}
	if len(h.records) == 0 || h.records[len(h.records)-1].Value != nil {
		t.Fatalf("no tombstones written: %d records", len(h.records))
	}
}

// FuzzReplayNeverPanics: any bytes replayed as a record leave the shard
// usable and never panic.
func FuzzReplayNeverPanics(f *testing.F) {
	f.Add([]byte{0, 8, 0, 1, 'g', 0, 1, 'm'}, []byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 1, 1, 0})
	f.Add([]byte{0, 3, 0, 1, 'g'}, []byte{0, 0, 0, 0, 0, 7, 0})
	f.Add([]byte{0, 2, 0, 1, 'g'}, []byte{0, 3})
	f.Add([]byte{0, 1, 0, 1, 'g', 0, 1, 't', 0, 0, 0, 0}, []byte{0, 3, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		s := NewShard(Config{})
		_ = s.Replay(key, value)
		s.LoadComplete(time.Unix(0, 0))
		s.SetTopics(time.Unix(0, 0), map[string]TopicInfo{"t": {ID: topicT, Partitions: 2}})
		s.Tick(time.Unix(1000, 0))
		_ = s.Ready()
	})
}

// TestConsumerRegexMatchesWholeName: a KIP-848 SubscribedTopicRegex is
// resolved as Kafka resolves it (RE2/J matcher(topic).matches() over every
// topic of the image): it must match the whole name, and internal topics
// are candidates like any other.
func TestConsumerRegexMatchesWholeName(t *testing.T) {
	topics := map[string]TopicInfo{}
	for i, name := range []string{"orders", "orders-v2", "pre-orders", "__consumer_offsets", "__transaction_state", "a"} {
		topics[name] = TopicInfo{ID: [16]byte{byte(i + 1)}, Partitions: 1}
	}
	for _, tc := range []struct {
		regex string
		want  []string
	}{
		{"orders", []string{"orders"}},
		{"orders.*", []string{"orders", "orders-v2"}},
		{".*orders", []string{"orders", "pre-orders"}},
		{"__consumer_offsets", []string{"__consumer_offsets"}},
		{"__.*", []string{"__consumer_offsets", "__transaction_state"}},
		{"orders|a", []string{"a", "orders"}},
		{"(?m)^a$", []string{"a"}},
		{"rders", nil},
	} {
		t.Run(tc.regex, func(t *testing.T) {
			h := newHarness(t)
			h.s.SetTopics(h.now, topics)
			m := &consumerMember{subscribedRegex: strp(tc.regex)}
			got := h.s.memberTopics(m)
			if len(got) != len(tc.want) {
				t.Fatalf("regex %q resolves to %v, want %v", tc.regex, got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("regex %q resolves to %v, want %v", tc.regex, got, tc.want)
				}
			}
		})
	}
	// A pattern that is invalid alone stays invalid when anchored.
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version = 1
	req.Group, req.MemberID, req.MemberEpoch, req.RebalanceTimeoutMillis = "cg", "M", 0, 30_000
	req.SubscribedTopicRegex = strp("a)|(b")
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	h := newHarness(t)
	wantCode(t, "unbalanced regex", h.answer(h.send(req)).(*kmsg.ConsumerGroupHeartbeatResponse).ErrorCode, kerr.InvalidRegularExpression)
}

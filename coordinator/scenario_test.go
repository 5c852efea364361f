package coordinator

// Scripted scenarios of the group coordinator: each test reads as a story of
// requests, ticks and the answers Kafka's coordinator gives.

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type harness struct {
	t       *testing.T
	s       *Shard
	now     time.Time
	token   uint64
	ids     int
	records []Record
	pending map[uint64]kmsg.Response // answers not yet claimed
}

func newHarness(t *testing.T, mutate ...func(*Config)) *harness {
	h := &harness{t: t, now: time.Unix(1_700_000_000, 0), pending: map[uint64]kmsg.Response{}}
	cfg := Config{
		InitialRebalanceDelay:     3 * time.Second,
		MinSessionTimeout:         6 * time.Second,
		MaxSessionTimeout:         30 * time.Minute,
		MaxSize:                   100,
		OffsetMetadataMaxSize:     4096,
		OffsetsRetention:          7 * 24 * time.Hour,
		RetentionCheck:            10 * time.Minute,
		ConsumerProtocolEnabled:   true,
		ConsumerSessionTimeout:    45 * time.Second,
		ConsumerHeartbeatInterval: 5 * time.Second,
		NewMemberID:               func() string { h.ids++; return fmt.Sprintf("uuid%d", h.ids) },
	}
	for _, m := range mutate {
		m(&cfg)
	}
	h.s = NewShard(cfg)
	return h
}

func (h *harness) collect() {
	rd := h.s.Ready()
	h.records = append(h.records, rd.Records...)
	for _, r := range rd.Responses {
		h.pending[r.Token] = r.Resp
	}
}

// send steps a request and returns its token.
func (h *harness) send(req kmsg.Request) uint64 {
	h.token++
	h.s.Step(h.now, h.token, Client{ID: "client", Host: "/127.0.0.1"}, req)
	h.collect()
	return h.token
}

// answer returns the response to token, failing if there is none yet.
func (h *harness) answer(token uint64) kmsg.Response {
	h.t.Helper()
	r, ok := h.pending[token]
	if !ok {
		h.t.Fatalf("request %d has no answer yet", token)
	}
	delete(h.pending, token)
	return r
}

func (h *harness) noAnswer(token uint64) {
	h.t.Helper()
	if r, ok := h.pending[token]; ok {
		h.t.Fatalf("request %d answered early: %+v", token, r)
	}
}

func (h *harness) advance(d time.Duration) {
	h.now = h.now.Add(d)
	h.s.Tick(h.now)
	h.collect()
}

func joinReq(group, member string, instance *string, meta string) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = 9
	r.Group, r.MemberID, r.InstanceID = group, member, instance
	r.SessionTimeoutMillis = 10_000
	r.RebalanceTimeoutMillis = 20_000
	r.ProtocolType = "consumer"
	r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte(meta)}}
	return r
}

func syncReq(group, member string, gen int32, assign map[string]string) *kmsg.SyncGroupRequest {
	r := kmsg.NewPtrSyncGroupRequest()
	r.Version = 5
	r.Group, r.MemberID, r.Generation = group, member, gen
	for m, a := range assign {
		r.GroupAssignment = append(r.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: m, MemberAssignment: []byte(a)})
	}
	return r
}

func hbReq(group, member string, gen int32) *kmsg.HeartbeatRequest {
	r := kmsg.NewPtrHeartbeatRequest()
	r.Version = 4
	r.Group, r.MemberID, r.Generation = group, member, gen
	return r
}

func wantCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	wc := int16(0)
	if want != nil {
		wc = want.Code
	}
	if got != wc {
		t.Fatalf("%s: error code %d (%v), want %d (%v)", what, got, kerr.ErrorForCode(got), wc, want)
	}
}

// joinDynamic runs KIP-394's two-step join and returns the parked second
// join's token and the member id handed out.
func (h *harness) joinDynamic(group, meta string) (uint64, string) {
	h.t.Helper()
	first := h.answer(h.send(joinReq(group, "", nil, meta))).(*kmsg.JoinGroupResponse)
	wantCode(h.t, "first join", first.ErrorCode, kerr.MemberIDRequired)
	return h.send(joinReq(group, first.MemberID, nil, meta)), first.MemberID
}

// stableGroup brings two dynamic members to a Stable generation 1 and
// returns their ids, leader first.
func (h *harness) stableGroup(group string) (leader, follower string) {
	h.t.Helper()
	ta, a := h.joinDynamic(group, "a")
	tbk, b := h.joinDynamic(group, "b")
	h.noAnswer(ta)
	// group.initial.rebalance.delay.ms, extended once because b arrived
	// during the first delay (KIP-134).
	h.advance(3 * time.Second)
	h.noAnswer(ta)
	h.advance(3 * time.Second)
	ja := h.answer(ta).(*kmsg.JoinGroupResponse)
	jb := h.answer(tbk).(*kmsg.JoinGroupResponse)
	wantCode(h.t, "join a", ja.ErrorCode, nil)
	wantCode(h.t, "join b", jb.ErrorCode, nil)
	if ja.Generation != 1 || jb.Generation != 1 || ja.LeaderID != a || jb.LeaderID != a {
		h.t.Fatalf("generation/leader: %d %d %q %q, want 1 and %q", ja.Generation, jb.Generation, ja.LeaderID, jb.LeaderID, a)
	}
	if len(ja.Members) != 2 || len(jb.Members) != 0 {
		h.t.Fatalf("leader got %d members, follower %d", len(ja.Members), len(jb.Members))
	}
	sb := h.send(syncReq(group, b, 1, nil))
	h.noAnswer(sb)
	sa := h.send(syncReq(group, a, 1, map[string]string{a: "A", b: "B"}))
	if r := h.answer(sa).(*kmsg.SyncGroupResponse); string(r.MemberAssignment) != "A" || r.ErrorCode != 0 {
		h.t.Fatalf("leader sync: %+v", r)
	}
	if r := h.answer(sb).(*kmsg.SyncGroupResponse); string(r.MemberAssignment) != "B" || r.ErrorCode != 0 {
		h.t.Fatalf("follower sync: %+v", r)
	}
	if g := h.s.classic[group]; g.state != stateStable {
		h.t.Fatalf("state %s, want Stable", g.state)
	}
	return a, b
}

func TestScenarioJoinSyncStable(t *testing.T) {
	h := newHarness(t)
	a, b := h.stableGroup("g")
	if a != "client-uuid1" || b != "client-uuid2" {
		t.Fatalf("member ids %q %q: want client.id-UUID (KIP-394)", a, b)
	}
	// The stored assignment is a GroupMetadataValue record.
	last := h.records[len(h.records)-1]
	d, ok, err := decodeRecord(last.Key, last.Value)
	if err != nil || !ok || d.groupValue == nil || len(d.groupValue.Members) != 2 || d.groupValue.Generation != 1 {
		t.Fatalf("last record: %+v %v %v", d, ok, err)
	}
	wantCode(t, "heartbeat", h.answer(h.send(hbReq("g", b, 1))).(*kmsg.HeartbeatResponse).ErrorCode, nil)
	wantCode(t, "stale generation", h.answer(h.send(hbReq("g", b, 0))).(*kmsg.HeartbeatResponse).ErrorCode, kerr.IllegalGeneration)
	wantCode(t, "unknown member", h.answer(h.send(hbReq("g", "nobody", 1))).(*kmsg.HeartbeatResponse).ErrorCode, kerr.UnknownMemberID)
	wantCode(t, "unknown group", h.answer(h.send(hbReq("other", b, 1))).(*kmsg.HeartbeatResponse).ErrorCode, kerr.UnknownMemberID)
}

func TestScenarioSessionExpiry(t *testing.T) {
	h := newHarness(t)
	a, b := h.stableGroup("g")
	// b heartbeats, a falls silent: after the session timeout a is gone.
	for i := 0; i < 4; i++ {
		h.advance(3 * time.Second)
		code := h.answer(h.send(hbReq("g", b, 1))).(*kmsg.HeartbeatResponse).ErrorCode
		if i < 3 {
			wantCode(t, "heartbeat while a lives", code, nil)
		} else {
			wantCode(t, "heartbeat after a expired", code, kerr.RebalanceInProgress)
		}
	}
	if _, ok := h.s.classic["g"].members[a]; ok {
		t.Fatal("a still a member after its session expired")
	}
	// b rejoins alone: generation 2, b leads (leader change).
	jb := h.answer(h.send(joinReq("g", b, nil, "b"))).(*kmsg.JoinGroupResponse)
	wantCode(t, "rejoin", jb.ErrorCode, nil)
	if jb.Generation != 2 || jb.LeaderID != b || len(jb.Members) != 1 {
		t.Fatalf("rejoin: %+v", jb)
	}
}

func TestScenarioLeaderLeaves(t *testing.T) {
	h := newHarness(t)
	a, b := h.stableGroup("g")
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version = 5
	leave.Group = "g"
	leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: a, Reason: strp("bye")}, {MemberID: "ghost"}}
	lr := h.answer(h.send(leave)).(*kmsg.LeaveGroupResponse)
	wantCode(t, "leave", lr.ErrorCode, nil)
	wantCode(t, "leave a", lr.Members[0].ErrorCode, nil)
	wantCode(t, "leave ghost", lr.Members[1].ErrorCode, kerr.UnknownMemberID)
	g := h.s.classic["g"]
	if g.state != statePreparingRebalance || g.leader != b {
		t.Fatalf("after leader left: state %s leader %q", g.state, g.leader)
	}
	jb := h.answer(h.send(joinReq("g", b, nil, "b"))).(*kmsg.JoinGroupResponse)
	if jb.Generation != 2 || jb.LeaderID != b {
		t.Fatalf("rejoin: %+v", jb)
	}
	// The last member leaving empties the group (generation 3).
	leave = kmsg.NewPtrLeaveGroupRequest()
	leave.Version = 1
	leave.Group, leave.MemberID = "g", b
	wantCode(t, "v1 leave", h.answer(h.send(leave)).(*kmsg.LeaveGroupResponse).ErrorCode, nil)
	if g.state != stateEmpty || g.generation != 3 {
		t.Fatalf("state %s generation %d, want Empty 3", g.state, g.generation)
	}
}

func TestScenarioStaticMemberRestart(t *testing.T) {
	h := newHarness(t)
	inst := strp("instance-1")
	tok := h.send(joinReq("g", "", inst, "s"))
	h.advance(3 * time.Second)
	j := h.answer(tok).(*kmsg.JoinGroupResponse)
	wantCode(t, "static join", j.ErrorCode, nil)
	old := j.MemberID
	if old != "instance-1-uuid1" {
		t.Fatalf("static member id %q", old)
	}
	h.answer(h.send(syncReq("g", old, 1, map[string]string{old: "P0"})))
	// The process restarts: same instance id, unknown member id. No
	// rebalance: same generation, assignment kept, new member id.
	j2 := h.answer(h.send(joinReq("g", "", inst, "s"))).(*kmsg.JoinGroupResponse)
	wantCode(t, "static rejoin", j2.ErrorCode, nil)
	if j2.Generation != 1 || j2.MemberID == old || !j2.SkipAssignment {
		t.Fatalf("static rejoin: %+v", j2)
	}
	g := h.s.classic["g"]
	if g.state != stateStable || string(g.members[j2.MemberID].assignment) != "P0" {
		t.Fatalf("state %s assignment %q", g.state, g.members[j2.MemberID].assignment)
	}
	hb := hbReq("g", old, 1)
	hb.InstanceID = inst
	wantCode(t, "old member id", h.answer(h.send(hb)).(*kmsg.HeartbeatResponse).ErrorCode, kerr.FencedInstanceID)
	s := syncReq("g", j2.MemberID, 1, nil)
	s.InstanceID = inst
	if r := h.answer(h.send(s)).(*kmsg.SyncGroupResponse); string(r.MemberAssignment) != "P0" {
		t.Fatalf("sync after restart: %+v", r)
	}
}

func TestScenarioCooperativeRebalance(t *testing.T) {
	// The cooperative protocol is two rebalances: the first revokes,
	// the second assigns. For the coordinator it is a member rejoining
	// a Stable group with new metadata (its owned partitions).
	h := newHarness(t)
	a, b := h.stableGroup("g")
	ta := h.send(joinReq("g", a, nil, "a-owns-less"))
	h.noAnswer(ta)
	hb := h.answer(h.send(hbReq("g", b, 1))).(*kmsg.HeartbeatResponse)
	wantCode(t, "heartbeat during rebalance", hb.ErrorCode, kerr.RebalanceInProgress)
	tbk := h.send(joinReq("g", b, nil, "b"))
	ja, jb := h.answer(ta).(*kmsg.JoinGroupResponse), h.answer(tbk).(*kmsg.JoinGroupResponse)
	if ja.Generation != 2 || jb.Generation != 2 {
		t.Fatalf("generations %d %d", ja.Generation, jb.Generation)
	}
	if string(ja.Members[0].ProtocolMetadata) != "a-owns-less" {
		t.Fatalf("leader sees %q", ja.Members[0].ProtocolMetadata)
	}
	h.answer(h.send(syncReq("g", a, 2, map[string]string{a: "A1", b: "B1"})))
	if r := h.answer(h.send(syncReq("g", b, 2, nil))).(*kmsg.SyncGroupResponse); string(r.MemberAssignment) != "B1" {
		t.Fatalf("b: %+v", r)
	}
	// A follower rejoining with unchanged metadata gets the current
	// generation back without a rebalance.
	jb = h.answer(h.send(joinReq("g", b, nil, "b"))).(*kmsg.JoinGroupResponse)
	if jb.Generation != 2 || h.s.classic["g"].state != stateStable {
		t.Fatalf("unchanged rejoin: %+v state %s", jb, h.s.classic["g"].state)
	}
}

func TestScenarioMemberNeverSyncs(t *testing.T) {
	h := newHarness(t)
	ta, a := h.joinDynamic("g", "a")
	tbk, b := h.joinDynamic("g", "b")
	h.advance(3 * time.Second)
	h.advance(3 * time.Second)
	h.answer(ta)
	h.answer(tbk)
	// a (leader) syncs; b heartbeats but never syncs.
	h.answer(h.send(syncReq("g", a, 1, map[string]string{a: "A", b: "B"})))
	for i := 0; i < 4; i++ {
		h.advance(4 * time.Second)
		h.answer(h.send(hbReq("g", a, 1)))
		h.answer(h.send(hbReq("g", b, 1)))
	}
	if _, ok := h.s.classic["g"].members[b]; !ok {
		t.Fatal("b removed before the rebalance timeout")
	}
	h.advance(5 * time.Second) // past the 20 s rebalance timeout
	g := h.s.classic["g"]
	if _, ok := g.members[b]; ok {
		t.Fatal("b still a member after never syncing")
	}
	if g.state != statePreparingRebalance {
		t.Fatalf("state %s, want PreparingRebalance", g.state)
	}
}

func TestScenarioReplay(t *testing.T) {
	h := newHarness(t)
	a, _ := h.stableGroup("g")
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version = 8
	commit.Group, commit.MemberID, commit.Generation = "g", a, 1
	commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{
		{Partition: 0, Offset: 10, LeaderEpoch: 3, Metadata: strp("meta")},
	}}}
	wantCode(t, "commit", h.answer(h.send(commit)).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode, nil)

	s2 := NewShard(h.s.cfg)
	for _, r := range h.records {
		if err := s2.Replay(r.Key, r.Value); err != nil {
			t.Fatal(err)
		}
	}
	s2.LoadComplete(h.now)
	g := s2.classic["g"]
	if g == nil || g.state != stateStable || g.generation != 1 || len(g.members) != 2 || g.leader != a {
		t.Fatalf("replayed group: %+v", g)
	}
	o, ok := s2.getOffset("g", "t", 0)
	if !ok || o.offset != 10 || o.leaderEpoch != 3 || o.metadata != "meta" {
		t.Fatalf("replayed offset %+v %v", o, ok)
	}
}

func TestScenarioOffsetsQuietCases(t *testing.T) {
	h := newHarness(t)
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version = 7
	fetch.Group = "nobody"
	fetch.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0, 1}}}
	fr := h.answer(h.send(fetch)).(*kmsg.OffsetFetchResponse)
	wantCode(t, "fetch unknown group", fr.ErrorCode, nil)
	for _, p := range fr.Topics[0].Partitions {
		if p.Offset != -1 || p.ErrorCode != 0 {
			t.Fatalf("unknown group partition: %+v", p)
		}
	}
	commit := func(version int16, gen int32) int16 {
		c := kmsg.NewPtrOffsetCommitRequest()
		c.Version = version
		c.Group, c.Generation, c.MemberID = "nobody", gen, ""
		c.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 5}}}}
		return h.answer(h.send(c)).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
	}
	wantCode(t, "v8 commit with generation to unknown group", commit(8, 3), kerr.IllegalGeneration)
	wantCode(t, "v9 commit with generation to unknown group", commit(9, 3), kerr.GroupIDNotFound)
	wantCode(t, "simple commit", commit(8, -1), nil)
	if g := h.s.classic["nobody"]; g == nil || g.state != stateEmpty || g.protocolType != "" {
		t.Fatalf("simple group: %+v", g)
	}
	// Offsets of a simple group expire retention after their commit.
	h.advance(7*24*time.Hour + 11*time.Minute)
	if _, ok := h.s.getOffset("nobody", "t", 0); ok {
		t.Fatal("offset did not expire")
	}
	if _, ok := h.s.classic["nobody"]; ok {
		t.Fatal("empty group without offsets not deleted")
	}
}

func TestScenarioDeleteGroups(t *testing.T) {
	h := newHarness(t)
	h.stableGroup("g")
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Version = 2
	del.Groups = []string{"g", "missing"}
	dr := h.answer(h.send(del)).(*kmsg.DeleteGroupsResponse)
	wantCode(t, "delete live group", dr.Groups[0].ErrorCode, kerr.NonEmptyGroup)
	wantCode(t, "delete missing group", dr.Groups[1].ErrorCode, kerr.GroupIDNotFound)
}

func TestScenarioMaxSizeAndSessionBounds(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxSize = 1 })
	j := joinReq("g", "", nil, "x")
	j.SessionTimeoutMillis = 1000
	wantCode(t, "session below min", h.answer(h.send(j)).(*kmsg.JoinGroupResponse).ErrorCode, kerr.InvalidSessionTimeout)
	ta, _ := h.joinDynamic("g", "a")
	tbk := h.send(joinReq("g", "", nil, "b"))
	wantCode(t, "second member over group.max.size", h.answer(tbk).(*kmsg.JoinGroupResponse).ErrorCode, kerr.GroupMaxSizeReached)
	h.advance(3 * time.Second)
	wantCode(t, "first member", h.answer(ta).(*kmsg.JoinGroupResponse).ErrorCode, nil)
}

func TestPartitionForMatchesKafka(t *testing.T) {
	// "polygenelubricants".hashCode() is Integer.MIN_VALUE, which
	// Kafka's Utils.abs maps to 0.
	if got := PartitionFor("polygenelubricants", 50); got != 0 {
		t.Fatalf("PartitionFor(MIN_VALUE hash) = %d", got)
	}
	// "group".hashCode() = 98629247 → 98629247 % 50 = 47.
	if got := PartitionFor("group", 50); got != 47 {
		t.Fatalf("PartitionFor(group) = %d, want 47", got)
	}
}

// TestScenarioOffsetsExpireOnceEmpty: KIP-211. A live group's offsets never
// expire; once the group is empty they expire offsets.retention.minutes
// after it became empty, then the group itself is deleted (tombstones).
func TestScenarioOffsetsExpireOnceEmpty(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.OffsetsRetention = time.Hour; c.RetentionCheck = time.Minute })
	a, b := h.stableGroup("g")
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version = 8
	commit.Group, commit.MemberID, commit.Generation = "g", a, 1
	commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1}}}}
	h.answer(h.send(commit))
	// Past the retention with heartbeats: the group lives, its offsets stay.
	h.advance(0)
	for i := 0; i < 800; i++ {
		h.advance(5 * time.Second)
		h.answer(h.send(hbReq("g", a, 1)))
		h.answer(h.send(hbReq("g", b, 1)))
	}
	if _, ok := h.s.getOffset("g", "t", 0); !ok {
		t.Fatal("offset of a live group expired")
	}
	for _, m := range []string{a, b} {
		leave := kmsg.NewPtrLeaveGroupRequest()
		leave.Version = 2
		leave.Group, leave.MemberID = "g", m
		h.answer(h.send(leave))
	}
	if g := h.s.classic["g"]; g.state != stateEmpty {
		t.Fatalf("state %s", g.state)
	}
	h.records = nil
	h.advance(59 * time.Minute)
	if _, ok := h.s.getOffset("g", "t", 0); !ok {
		t.Fatal("offset expired before the retention passed")
	}
	h.advance(2 * time.Minute)
	if _, ok := h.s.getOffset("g", "t", 0); ok {
		t.Fatal("offset of an empty group did not expire")
	}
	if _, ok := h.s.classic["g"]; ok {
		t.Fatal("empty group without offsets not deleted")
	}
	tombstones := 0
	for _, r := range h.records {
		if r.Value == nil {
			tombstones++
		}
	}
	if tombstones != 2 {
		t.Fatalf("%d tombstones, want the offset's and the group's", tombstones)
	}
}

func TestScenarioConsumerGroupOffsetCommit(t *testing.T) {
	h := newHarness(t)
	h.s.SetTopics(h.now, map[string]TopicInfo{"t": {ID: topicT, Partitions: 1}})
	h.answer(h.send(cgHeartbeat("A", 0, nil)))
	commit := func(version int16, member string, epoch int32) int16 {
		c := kmsg.NewPtrOffsetCommitRequest()
		c.Version = version
		c.Group, c.MemberID, c.Generation = "cg", member, epoch
		c.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 3}}}}
		return h.answer(h.send(c)).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
	}
	wantCode(t, "current epoch", commit(9, "A", 1), nil)
	wantCode(t, "stale epoch", commit(9, "A", 0), kerr.StaleMemberEpoch)
	wantCode(t, "unknown member", commit(9, "B", 1), kerr.UnknownMemberID)
	wantCode(t, "admin commit to a live group", commit(9, "", -1), kerr.UnknownMemberID)
}

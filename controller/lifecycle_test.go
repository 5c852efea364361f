package controller

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// cluster drives broker lifecycles through the pure core: registrations,
// heartbeats and the session timer, with an explicit clock.
type cluster struct {
	*script
	hb      *heartbeats
	now     time.Time
	unclean bool // static unclean.leader.election.enable
}

const testSession = 9 * time.Second

func newCluster(t *testing.T, brokers ...int32) *cluster {
	c := &cluster{script: newScript(t), hb: newHeartbeats(testSession), now: time.Unix(1_000_000, 0)}
	for _, id := range brokers {
		c.register(id, UUID{byte(id)})
		c.heartbeat(id, false)
		if c.im.Brokers[id].Fenced {
			t.Fatalf("broker %d still fenced after catching up", id)
		}
	}
	return c
}

func (c *cluster) policy() electionPolicy {
	return func(topic string) bool { return uncleanLeaderElection(c.im, topic, 0, c.unclean) }
}

func (c *cluster) register(id int32, incarnation UUID) error {
	c.t.Helper()
	recs, err := planRegisterBroker(c.im, c.hb, BrokerRegistration{
		ID: id, IncarnationID: incarnation, Fenced: true,
		Endpoints: []Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9000 + id, SecurityProtocol: "PLAINTEXT"}},
	}, -1, c.now, c.policy())
	if err == nil {
		c.commit(recs...)
	}
	return err
}

// heartbeat sends a heartbeat from a broker that has replayed the whole
// metadata log (or, with behind, nothing of it).
func (c *cluster) heartbeat(id int32, wantShutdown bool) *kmsg.BrokerHeartbeatResponse {
	c.t.Helper()
	req := kmsg.NewPtrBrokerHeartbeatRequest()
	req.BrokerID = id
	if b, ok := c.im.Brokers[id]; ok {
		req.BrokerEpoch = b.Epoch
	}
	req.CurrentMetadataOffset = int64(c.im.Offset)
	req.WantShutdown = wantShutdown
	return c.send(req)
}

func (c *cluster) send(req *kmsg.BrokerHeartbeatRequest) *kmsg.BrokerHeartbeatResponse {
	c.t.Helper()
	res := planBrokerHeartbeat(c.im, c.hb, req, c.now, c.policy())
	c.commit(res.recs...)
	if res.state == brokerControlledShutdown {
		c.hb.enteredControlledShutdown(req.BrokerID, c.im.Offset)
	}
	return res.resp
}

// tick advances the clock and fences expired brokers as the timer does.
func (c *cluster) tick(d time.Duration) {
	c.now = c.now.Add(d)
	c.hb.sync(c.im, c.now)
	for _, id := range c.hb.expired(c.im, c.now) {
		c.commit(planFenceBroker(c.im, c.im.Brokers[id], c.policy())...)
	}
}

func (c *cluster) part(topic string, p int32) PartitionImage {
	c.t.Helper()
	pi, ok := c.im.Topics[topic].Partition(p)
	if !ok {
		c.t.Fatalf("no partition %s-%d", topic, p)
	}
	return pi
}

func (c *cluster) wantPart(what, topic string, p int32, leader int32, isr ...int32) PartitionImage {
	c.t.Helper()
	pi := c.part(topic, p)
	if pi.Leader != leader || !slices.Equal(pi.ISR, isr) {
		c.t.Fatalf("%s: %s-%d has leader %d ISR %v, want leader %d ISR %v", what, topic, p, pi.Leader, pi.ISR, leader, isr)
	}
	return pi
}

func (c *cluster) createAssigned(topic string, assignments ...[]int32) {
	c.t.Helper()
	m := map[int32][]int32{}
	for i, a := range assignments {
		m[int32(i)] = a
	}
	for _, r := range c.create(false, TopicSpec{Name: topic, NumPartitions: -1, ReplicationFactor: -1, Assignments: m}) {
		if r.Err != nil {
			c.t.Fatal(r.Err)
		}
	}
}

// TestScriptBrokerDeathAndReturn: a broker stops heartbeating, is fenced
// after the session timeout, its leaderships move to the next ISR member in
// replica order, it leaves the ISRs; it restarts with a new epoch, stays
// fenced until it has replayed its registration, and rejoins ISRs only with
// the new epoch.
func TestScriptBrokerDeathAndReturn(t *testing.T) {
	c := newCluster(t, 1, 2, 3)
	c.createAssigned("t", []int32{1, 2, 3}, []int32{2, 3, 1})
	before := c.part("t", 0)

	// Brokers 2 and 3 keep heartbeating; 1 falls silent.
	for range 4 {
		c.tick(3 * time.Second)
		c.heartbeat(2, false)
		c.heartbeat(3, false)
	}
	if !c.im.Brokers[1].Fenced || c.im.Brokers[2].Fenced || c.im.Brokers[3].Fenced {
		t.Fatalf("after 12 s of silence from 1: fenced 1=%v 2=%v 3=%v", c.im.Brokers[1].Fenced, c.im.Brokers[2].Fenced, c.im.Brokers[3].Fenced)
	}
	p0 := c.wantPart("fenced leader", "t", 0, 2, 2, 3)
	if p0.LeaderEpoch != before.LeaderEpoch+1 || p0.PartitionEpoch != before.PartitionEpoch+1 {
		t.Fatalf("leader change epochs: %+v (was %+v)", p0, before)
	}
	p1 := c.wantPart("fenced follower", "t", 1, 2, 2, 3)
	if p1.LeaderEpoch != 0 || p1.PartitionEpoch != 1 {
		t.Fatalf("ISR shrink must not bump the leader epoch: %+v", p1)
	}
	oldEpoch := c.im.Brokers[1].Epoch

	// A paused broker that resumes is unfenced by its first caught-up
	// heartbeat; its old leaderships stay where they went.
	if r := c.heartbeat(1, false); r.ErrorCode != 0 || r.IsFenced || c.im.Brokers[1].Fenced {
		t.Fatalf("heartbeat after a pause: %+v", r)
	}
	c.wantPart("after a pause", "t", 0, 2, 2, 3)
	// Now it dies for good.
	for range 4 {
		c.tick(3 * time.Second)
		c.heartbeat(2, false)
		c.heartbeat(3, false)
	}
	if !c.im.Brokers[1].Fenced {
		t.Fatal("broker 1 not fenced again")
	}

	// Restart: a new incarnation registers (new epoch, fenced).
	if err := c.register(1, UUID{1, 1}); err != nil {
		t.Fatal(err)
	}
	b1 := c.im.Brokers[1]
	if !b1.Fenced || b1.Epoch <= oldEpoch {
		t.Fatalf("re-registration: %+v (old epoch %d)", b1, oldEpoch)
	}
	stale := kmsg.NewPtrBrokerHeartbeatRequest()
	stale.BrokerID, stale.BrokerEpoch, stale.CurrentMetadataOffset = 1, oldEpoch, int64(c.im.Offset)
	if r := c.send(stale); r.ErrorCode != kerr.StaleBrokerEpoch.Code {
		t.Fatalf("old epoch: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	behind := kmsg.NewPtrBrokerHeartbeatRequest()
	behind.BrokerID, behind.BrokerEpoch, behind.CurrentMetadataOffset = 1, b1.Epoch, b1.Epoch-1
	if r := c.send(behind); r.ErrorCode != 0 || r.IsCaughtUp || !r.IsFenced || !c.im.Brokers[1].Fenced {
		t.Fatalf("heartbeat behind its registration: %+v", r)
	}
	if r := c.heartbeat(1, false); r.ErrorCode != 0 || !r.IsCaughtUp || r.IsFenced || c.im.Brokers[1].Fenced {
		t.Fatalf("caught-up heartbeat: %+v", r)
	}
	// Partitions with a leader keep it: the returning broker is no one's
	// leader until a preferred election, and joins ISRs via AlterPartition.
	c.wantPart("after return", "t", 0, 2, 2, 3)
	p0 = c.part("t", 0)
	req := c.isrChange(2, "t", 0, p0.LeaderEpoch, p0.PartitionEpoch, 2, 3, 1)
	req.Topics[0].Partitions[0].NewEpochISR[2].BrokerEpoch = oldEpoch
	wantCode(t, "expand with the old incarnation", partitionCode(t, c.alterPartition(req)), kerr.IneligibleReplica)
	wantCode(t, "expand", partitionCode(t, c.alterPartition(c.isrChange(2, "t", 0, p0.LeaderEpoch, p0.PartitionEpoch, 2, 3, 1))), nil)
	c.wantPart("expanded", "t", 0, 2, 2, 3, 1)

	// The imbalance check (auto.leader.rebalance.enable) gives leadership
	// back to the preferred replica, now live and in sync.
	c.commit(planLeaderRebalance(c.im)...)
	c.wantPart("rebalanced", "t", 0, 1, 2, 3, 1)
	if recs := planLeaderRebalance(c.im); len(recs) != 0 {
		t.Fatalf("balanced cluster: rebalance wrote %v", recs)
	}
}

// TestScriptLastISRMemberAndUncleanElection: the last ISR member's death
// leaves the partition leaderless with that member kept in the ISR; with
// unclean election off the partition waits for it, and its return makes it
// leader again; with unclean election on (per topic), a live out-of-sync
// replica leads instead, alone in the ISR and recovering.
func TestScriptLastISRMemberAndUncleanElection(t *testing.T) {
	c := newCluster(t, 1, 2)
	c.createAssigned("t", []int32{1, 2})
	c.alterPartition(c.isrChange(1, "t", 0, 0, 0, 1)) // 2 lags
	c.wantPart("shrunk", "t", 0, 1, 1)

	// 1 dies. Unclean election is off: no leader, ISR keeps 1.
	for range 4 {
		c.tick(3 * time.Second)
		c.heartbeat(2, false)
	}
	if !c.im.Brokers[1].Fenced {
		t.Fatal("broker 1 not fenced")
	}
	p := c.wantPart("unclean off", "t", 0, NoLeader, 1)
	if p.LeaderEpoch != 1 {
		t.Fatalf("losing the leader bumps the leader epoch: %+v", p)
	}
	// Broker 2 heartbeats on; nothing changes.
	c.tick(time.Second)
	c.heartbeat(2, false)
	c.wantPart("unclean off, later", "t", 0, NoLeader, 1)

	// 1 comes back (same incarnation, session expired): it is the ISR, so
	// it leads again once unfenced.
	c.heartbeat(1, false)
	p = c.wantPart("last ISR member back", "t", 0, 1, 1)
	if p.LeaderEpoch != 2 || p.LeaderRecoveryState != LeaderRecovered {
		t.Fatalf("after return: %+v", p)
	}

	// Unclean election enabled for the topic while its only ISR member is
	// down: the periodic check elects the live out-of-sync replica.
	c.createAssigned("w", []int32{1, 2})
	c.alterPartition(c.isrChange(1, "w", 0, 0, 0, 1))
	for range 4 {
		c.tick(3 * time.Second)
		c.heartbeat(2, false)
	}
	c.wantPart("w: unclean off", "w", 0, NoLeader, 1)
	if recs := planUncleanLeaderElections(c.im, c.policy()); len(recs) != 0 {
		t.Fatalf("unclean off: periodic check wrote %v", recs)
	}
	on := "true"
	c.commit(&ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "w", Name: "unclean.leader.election.enable", Value: &on})
	c.commit(planUncleanLeaderElections(c.im, c.policy())...)
	if p := c.wantPart("w: unclean on", "w", 0, 2, 2); p.LeaderRecoveryState != LeaderRecovering {
		t.Fatalf("w after the unclean election: %+v", p)
	}
	c.heartbeat(1, false) // 1 returns; it is no longer in the ISR of w
	c.wantPart("w: 1 back", "w", 0, 2, 2)

	// Unclean election enabled for the topic; 1 dies again.
	v := "true"
	c.commit(&ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "t", Name: "unclean.leader.election.enable", Value: &v})
	for range 4 {
		c.tick(3 * time.Second)
		c.heartbeat(2, false)
	}
	p = c.wantPart("unclean on", "t", 0, 2, 2)
	if p.LeaderRecoveryState != LeaderRecovering {
		t.Fatalf("an unclean leader is recovering: %+v", p)
	}
	// The new leader reports recovery with AlterPartition (KIP-704).
	wantCode(t, "recovered", partitionCode(t, c.alterPartition(c.isrChange(2, "t", 0, p.LeaderEpoch, p.PartitionEpoch, 2))), nil)
	if p := c.part("t", 0); p.LeaderRecoveryState != LeaderRecovered {
		t.Fatalf("after recovery: %+v", p)
	}

	// The static default applies to topics without an override.
	c.createAssigned("u", []int32{1, 2})
	c.heartbeat(1, false) // back again
	c.alterPartition(c.isrChange(1, "u", 0, 0, 0, 1))
	c.unclean = true
	for range 4 {
		c.tick(3 * time.Second)
		c.heartbeat(2, false)
	}
	c.wantPart("static unclean default", "u", 0, 2, 2)
}

// TestScriptControlledShutdown: a broker asking to shut down gives up its
// leaderships and ISR places at once, and is told to stop only once it leads
// nothing and every live broker has replayed that change; a broker that
// leads nothing stops at once.
func TestScriptControlledShutdown(t *testing.T) {
	c := newCluster(t, 1, 2, 3)
	c.createAssigned("t", []int32{1, 2, 3}, []int32{2, 1, 3})
	c.createAssigned("solo", []int32{1})
	r := c.heartbeat(1, true)
	if r.ShouldShutdown || r.IsFenced || !c.im.Brokers[1].InControlledShutdown {
		t.Fatalf("first shutdown heartbeat: %+v, registration %+v", r, c.im.Brokers[1])
	}
	c.wantPart("led by 1", "t", 0, 2, 2, 3)
	c.wantPart("followed by 1", "t", 1, 2, 2, 3)
	// The only replica: no one else can lead, the ISR keeps it.
	c.wantPart("only on 1", "solo", 0, NoLeader, 1)
	// A broker in controlled shutdown cannot rejoin an ISR.
	p := c.part("t", 0)
	wantCode(t, "expand with a stopping broker", partitionCode(t, c.alterPartition(c.isrChange(2, "t", 0, p.LeaderEpoch, p.PartitionEpoch, 2, 3, 1))), kerr.IneligibleReplica)

	// Broker 3 has not heartbeated since the change: 1 must wait.
	c.tick(time.Second)
	c.heartbeat(2, false)
	if r := c.heartbeat(1, true); r.ShouldShutdown {
		t.Fatalf("shut down before broker 3 replayed the change: %+v", r)
	}
	c.heartbeat(3, false)
	r = c.heartbeat(1, true)
	if !r.ShouldShutdown || !r.IsFenced || !c.im.Brokers[1].Fenced {
		t.Fatalf("final shutdown heartbeat: %+v", r)
	}

	// Broker 3 leads nothing: it may stop at once.
	c.createAssigned("v", []int32{2, 3})
	if r := c.heartbeat(3, true); !r.ShouldShutdown || !c.im.Brokers[3].Fenced {
		t.Fatalf("a broker leading nothing must stop at once: %+v", r)
	}
	c.wantPart("follower stopped", "v", 0, 2, 2)
}

// TestScriptDuplicateRegistrationAndUnregister: another incarnation cannot
// take a live broker's id until its session expires; UnregisterBroker
// removes a broker and its ISR places.
func TestScriptDuplicateRegistrationAndUnregister(t *testing.T) {
	c := newCluster(t, 1, 2)
	c.createAssigned("t", []int32{1, 2})
	if err := c.register(1, UUID{9}); !errorIs(err, kerr.DuplicateBrokerRegistration) {
		t.Fatalf("second incarnation while the first is alive: %v", err)
	}
	// The same incarnation registering again (a retry) is fine.
	if err := c.register(1, UUID{1}); err != nil {
		t.Fatal(err)
	}
	c.tick(testSession)
	c.heartbeat(2, false)
	if err := c.register(1, UUID{9}); err != nil {
		t.Fatalf("after the session expired: %v", err)
	}
	// A broker that stopped cleanly (fenced) may come back as a new
	// incarnation at once.
	c.heartbeat(1, false)
	c.heartbeat(1, true)
	if r := c.heartbeat(1, true); !r.ShouldShutdown || !c.im.Brokers[1].Fenced {
		t.Fatalf("controlled shutdown of 1: %+v", r)
	}
	if err := c.register(1, UUID{10}); err != nil {
		t.Fatalf("new incarnation after a clean stop: %v", err)
	}
	c.wantPart("re-registered", "t", 0, 2, 2)

	if _, err := planUnregisterBroker(c.im, 7, c.policy()); !errorIs(err, kerr.BrokerIDNotRegistered) {
		t.Fatalf("unregister unknown: %v", err)
	}
	recs, err := planUnregisterBroker(c.im, 2, c.policy())
	if err != nil {
		t.Fatal(err)
	}
	c.commit(recs...)
	if _, ok := c.im.Brokers[2]; ok {
		t.Fatal("broker 2 still registered")
	}
	c.wantPart("unregistered leader", "t", 0, NoLeader, 2)
	// Broker 1 is not in the ISR: without unclean election the partition
	// waits for 2, as Kafka's does without ELR.
	c.heartbeat(1, false)
	c.wantPart("unregistered leader, 1 back", "t", 0, NoLeader, 2)
}

// TestScriptControllerFailoverFreshSessions: a new active controller knows no
// heartbeat times; it gives every broker a full session from its first look
// instead of fencing them all, then fences those that stay silent.
func TestScriptControllerFailoverFreshSessions(t *testing.T) {
	c := newCluster(t, 1, 2)
	c.hb = newHeartbeats(testSession) // the new controller
	c.now = c.now.Add(time.Hour)      // long after the old one last heard anything
	before := c.im.Offset
	c.hb.sync(c.im, c.now) // its first look, on becoming active
	c.tick(testSession - time.Second)
	if c.im.Offset != before {
		t.Fatal("brokers fenced before a full session on the new controller")
	}
	c.heartbeat(2, false)
	c.tick(2 * time.Second)
	if !c.im.Brokers[1].Fenced || c.im.Brokers[2].Fenced {
		t.Fatalf("after the session: fenced 1=%v 2=%v", c.im.Brokers[1].Fenced, c.im.Brokers[2].Fenced)
	}
}

// TestControllerSessionTimer runs the lifecycle on a real quorum: the
// active controller's timer fences a broker that stops heartbeating, and
// its next caught-up heartbeat unfences it and gives it back the partition
// it alone was in sync for.
func TestControllerSessionTimer(t *testing.T) {
	c := startControllerWith(t, t.TempDir(), func(cfg *Config) { cfg.BrokerSessionTimeout = time.Second })
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	reg := BrokerRegistration{ID: 1, IncarnationID: UUID{1}, Fenced: true,
		Endpoints: []Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9092, SecurityProtocol: "PLAINTEXT"}}}
	if err := c.registerBroker(ctx, reg); err != nil {
		t.Fatal(err)
	}
	b := c.Image().Brokers[1]
	if !b.Fenced || b.Epoch <= 0 {
		t.Fatalf("registration: %+v", b)
	}
	beat := func() *kmsg.BrokerHeartbeatResponse {
		t.Helper()
		req := kmsg.NewPtrBrokerHeartbeatRequest()
		req.BrokerID, req.BrokerEpoch, req.CurrentMetadataOffset = 1, b.Epoch, int64(c.Image().Offset)
		resp, err := c.BrokerHeartbeat(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if r := beat(); r.IsFenced || !r.IsCaughtUp {
		t.Fatalf("caught-up heartbeat: %+v", r)
	}
	// Placement needs an unfenced broker; on a starved machine the session
	// may lapse between the two calls, so heartbeat again and retry.
	for i := 0; ; i++ {
		res := c.CreateTopics(ctx, []TopicSpec{{Name: "t", NumPartitions: 1, ReplicationFactor: 1}}, false)
		if res[0].Err == nil {
			break
		}
		if i == 10 || !errorIs(res[0].Err, kerr.InvalidReplicationFactor) {
			t.Fatal(res[0].Err)
		}
		beat()
	}

	// Silence: fenced within a few session timeouts (wide margin for a
	// loaded machine), and the partition it led has no leader.
	waitFor(t, "broker 1 fenced", func() bool { return c.Image().Brokers[1].Fenced })
	if p, _ := c.Image().Topics["t"].Partition(0); p.Leader != NoLeader || !slices.Equal(p.ISR, []int32{1}) {
		t.Fatalf("after fencing: %+v", p)
	}
	if r := beat(); r.IsFenced {
		t.Fatalf("heartbeat after fencing: %+v", r)
	}
	if p, _ := c.Image().Topics["t"].Partition(0); p.Leader != 1 {
		t.Fatalf("after unfencing: %+v", p)
	}
}

// TestControllerAutoLeaderRebalance: with auto.leader.rebalance.enable the
// active controller moves leadership to the preferred replica on its own.
func TestControllerAutoLeaderRebalance(t *testing.T) {
	c := startControllerWith(t, t.TempDir(), func(cfg *Config) { cfg.LeaderImbalanceCheckInterval = 50 * time.Millisecond })
	defer c.Close()
	registerSelf(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.registerBroker(ctx, BrokerRegistration{ID: 2, Endpoints: []Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9093, SecurityProtocol: "PLAINTEXT"}}}); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, c, TopicSpec{Name: "t", NumPartitions: 1, ReplicationFactor: 2})
	p, _ := c.Image().Topics["t"].Partition(0)
	// Reordering the replicas makes the other broker preferred; the leader
	// stays until the imbalance check runs.
	swapped := []int32{p.Replicas[1], p.Replicas[0]}
	if errs := c.AlterPartitionReassignments(ctx, []Reassignment{{PartitionRef: PartitionRef{"t", 0}, Replicas: swapped}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	waitFor(t, "leadership back on the preferred replica", func() bool {
		p, _ := c.Image().Topics["t"].Partition(0)
		return p.Leader == swapped[0]
	})
}

// TestScriptReassignmentMovesReplica: a replica moves to a new broker in
// Kafka's three steps: the target and the replicas being removed are all
// replicas while the new one catches up; the leader's AlterPartition adding
// it to the ISR completes the move (here also electing a new leader, since
// the old one is the replica removed); cancelling reverts a move in progress.
func TestScriptReassignmentMovesReplica(t *testing.T) {
	c := newCluster(t, 1, 2, 3, 4)
	c.createAssigned("t", []int32{1, 2, 3})
	ref := PartitionRef{"t", 0}
	move := func(replicas ...int32) {
		t.Helper()
		recs, errs := planReassignments(c.im, []Reassignment{{PartitionRef: ref, Replicas: replicas, AllowReplicationFactorChange: true}})
		if errs[0] != nil {
			t.Fatal(errs[0])
		}
		c.commit(recs...)
	}
	if _, errs := planReassignments(c.im, []Reassignment{{PartitionRef: ref}}); !errorIs(errs[0], kerr.NoReassignmentInProgress) {
		t.Fatalf("cancel with nothing in progress: %v", errs[0])
	}

	move(4, 2, 3)
	p := c.wantPart("moving", "t", 0, 1, 1, 2, 3)
	if !slices.Equal(p.Replicas, []int32{4, 2, 3, 1}) || !slices.Equal(p.AddingReplicas, []int32{4}) || !slices.Equal(p.RemovingReplicas, []int32{1}) {
		t.Fatalf("reassignment started: %+v", p)
	}
	if got := c.im.OngoingReassignments("t", nil); len(got) != 1 {
		t.Fatalf("ongoing: %+v", got)
	}
	// The leader adds the new replica to the ISR: the move completes, the
	// removed leader hands over to the first in-sync target replica.
	resp := c.alterPartition(c.isrChange(1, "t", 0, p.LeaderEpoch, p.PartitionEpoch, 1, 2, 3, 4))
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.NewLeaderElected.Code {
		t.Fatalf("completing AlterPartition: %v", kerr.ErrorForCode(code))
	}
	p = c.wantPart("moved", "t", 0, 4, 2, 3, 4)
	if !slices.Equal(p.Replicas, []int32{4, 2, 3}) || p.Reassigning() || p.LeaderEpoch != 1 {
		t.Fatalf("reassignment completed: %+v", p)
	}
	if got := c.im.OngoingReassignments("t", nil); len(got) != 0 {
		t.Fatalf("ongoing after completion: %+v", got)
	}

	// Start moving back, then cancel: the replica being added goes.
	move(1, 2, 3)
	p = c.part("t", 0)
	if !slices.Equal(p.Replicas, []int32{1, 2, 3, 4}) || !slices.Equal(p.AddingReplicas, []int32{1}) {
		t.Fatalf("second move: %+v", p)
	}
	recs, errs := planReassignments(c.im, []Reassignment{{PartitionRef: ref}})
	if errs[0] != nil {
		t.Fatal(errs[0])
	}
	c.commit(recs...)
	p = c.wantPart("cancelled", "t", 0, 4, 2, 3, 4)
	if !slices.Equal(p.Replicas, []int32{2, 3, 4}) || p.Reassigning() {
		t.Fatalf("after cancel: %+v", p)
	}

	// Dropping the leader without adding anyone completes at once.
	recs, errs = planReassignments(c.im, []Reassignment{{PartitionRef: ref, Replicas: []int32{2, 3}, AllowReplicationFactorChange: true}})
	if errs[0] != nil {
		t.Fatal(errs[0])
	}
	c.commit(recs...)
	p = c.wantPart("shrunk", "t", 0, 2, 2, 3)
	if !slices.Equal(p.Replicas, []int32{2, 3}) || p.Reassigning() {
		t.Fatalf("after dropping the leader: %+v", p)
	}

	// A replica being added that dies is simply not in sync: the move
	// waits, and the partition's leadership is unaffected.
	move(2, 3, 1)
	for range 4 {
		c.tick(3 * time.Second)
		for _, id := range []int32{2, 3, 4} {
			c.heartbeat(id, false)
		}
	}
	p = c.wantPart("adding replica fenced", "t", 0, 2, 2, 3)
	if !slices.Equal(p.AddingReplicas, []int32{1}) {
		t.Fatalf("move in progress: %+v", p)
	}
}

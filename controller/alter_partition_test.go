package controller

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// alterPartition plans an AlterPartition request, commits its records, and
// checks that every successful answer is the partition as now committed.
func (s *script) alterPartition(req *kmsg.AlterPartitionRequest) *kmsg.AlterPartitionResponse {
	s.t.Helper()
	recs, resp := planAlterPartition(s.im, req)
	s.commit(recs...)
	for _, rt := range resp.Topics {
		t := s.im.TopicsByID[rt.TopidID]
		if req.Version < 2 {
			t = s.im.Topics[rt.Topic]
		}
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 {
				continue
			}
			p, _ := t.Partition(rp.Partition)
			if rp.LeaderID != p.Leader || rp.LeaderEpoch != p.LeaderEpoch || rp.PartitionEpoch != p.PartitionEpoch ||
				!slices.Equal(rp.ISR, p.ISR) || rp.LeaderRecoveryState != p.LeaderRecoveryState {
				s.t.Fatalf("answer %+v differs from the committed partition %+v", rp, p)
			}
		}
	}
	return resp
}

// isrChange builds a one-partition AlterPartition v3 request from broker
// `from`, naming each ISR member with its registered broker epoch.
func (s *script) isrChange(from int32, topic string, part int32, leaderEpoch, partitionEpoch int32, isr ...int32) *kmsg.AlterPartitionRequest {
	req := kmsg.NewPtrAlterPartitionRequest()
	req.Version = 3
	req.BrokerID = from
	if b, ok := s.im.Brokers[from]; ok {
		req.BrokerEpoch = b.Epoch
	}
	rt := kmsg.NewAlterPartitionRequestTopic()
	if t, ok := s.im.Topics[topic]; ok {
		rt.TopicID = t.ID
	}
	rp := kmsg.NewAlterPartitionRequestTopicPartition()
	rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch = part, leaderEpoch, partitionEpoch
	for _, id := range isr {
		st := kmsg.NewAlterPartitionRequestTopicPartitionNewEpochISR()
		st.BrokerID = id
		if b, ok := s.im.Brokers[id]; ok {
			st.BrokerEpoch = b.Epoch
		}
		rp.NewEpochISR = append(rp.NewEpochISR, st)
	}
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func partitionCode(t *testing.T, resp *kmsg.AlterPartitionResponse) int16 {
	t.Helper()
	if resp.ErrorCode != 0 {
		t.Fatalf("top-level error %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("response shape: %+v", resp)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

func wantCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	wantCode := int16(0)
	if want != nil {
		wantCode = want.Code
	}
	if got != wantCode {
		t.Fatalf("%s: got %v, want %v", what, kerr.ErrorForCode(got), kerr.ErrorForCode(wantCode))
	}
}

// TestScriptAlterPartitionShrinkExpand is the life of an ISR: the leader
// drops a lagging follower, then adds it back once it caught up, and every
// stale or malformed request is refused as Kafka's controller refuses it.
func TestScriptAlterPartitionShrinkExpand(t *testing.T) {
	s := newScript(t, 1, 2, 3)
	s.create(false, TopicSpec{Name: "t", NumPartitions: 1, ReplicationFactor: 3})
	p, _ := s.im.Topics["t"].Partition(0)
	if !slices.Equal(p.Replicas, []int32{1, 2, 3}) || p.Leader != 1 {
		t.Fatalf("placement: %+v", p)
	}
	for _, id := range []int32{1, 2, 3} {
		if e := s.im.Brokers[id].Epoch; e != int64(id) {
			t.Fatalf("broker %d has epoch %d, want the offset of its registration %d", id, e, id)
		}
	}

	// Shrink: broker 3 lags. Partition epoch 0 -> 1, leader epoch stays.
	resp := s.alterPartition(s.isrChange(1, "t", 0, 0, 0, 1, 2))
	wantCode(t, "shrink", partitionCode(t, resp), nil)
	if got := resp.Topics[0].Partitions[0]; got.PartitionEpoch != 1 || got.LeaderEpoch != 0 || got.LeaderID != 1 || !slices.Equal(got.ISR, []int32{1, 2}) {
		t.Fatalf("shrink answered %+v", got)
	}

	// The same request again carries a stale partition epoch.
	wantCode(t, "stale partition epoch", partitionCode(t, s.alterPartition(s.isrChange(1, "t", 0, 0, 0, 1, 2))), kerr.InvalidUpdateVersion)
	// An epoch newer than the controller's means another controller.
	wantCode(t, "newer partition epoch", partitionCode(t, s.alterPartition(s.isrChange(1, "t", 0, 0, 5, 1, 2))), kerr.NotController)
	wantCode(t, "newer leader epoch", partitionCode(t, s.alterPartition(s.isrChange(1, "t", 0, 3, 1, 1, 2))), kerr.NotController)
	// Only the leader may ask.
	wantCode(t, "follower asks", partitionCode(t, s.alterPartition(s.isrChange(2, "t", 0, 0, 1, 1, 2))), kerr.InvalidRequest)
	// The ISR must hold the leader, replicas only, each once.
	wantCode(t, "leader left out", partitionCode(t, s.alterPartition(s.isrChange(1, "t", 0, 0, 1, 2))), kerr.InvalidRequest)
	wantCode(t, "empty isr", partitionCode(t, s.alterPartition(s.isrChange(1, "t", 0, 0, 1))), kerr.InvalidRequest)
	wantCode(t, "duplicate member", partitionCode(t, s.alterPartition(s.isrChange(1, "t", 0, 0, 1, 1, 2, 2))), kerr.InvalidRequest)
	s.commit(&RegisterBrokerRecord{BrokerId: 4, IncarnationId: UUID{4}, EndPoints: []BrokerEndpoint{{Name: "PLAINTEXT", Host: "h", Port: 4}}})
	wantCode(t, "not a replica", partitionCode(t, s.alterPartition(s.isrChange(1, "t", 0, 0, 1, 1, 4))), kerr.InvalidRequest)
	// KIP-704: recovering is only for a lone leader, and only before recovery.
	req := s.isrChange(1, "t", 0, 0, 1, 1)
	req.Topics[0].Partitions[0].LeaderRecoveryState = LeaderRecovering
	wantCode(t, "recovered to recovering", partitionCode(t, s.alterPartition(req)), kerr.InvalidRequest)

	// Expand: broker 3 caught up, but the leader saw an older incarnation of it.
	req = s.isrChange(1, "t", 0, 0, 1, 1, 2, 3)
	req.Topics[0].Partitions[0].NewEpochISR[2].BrokerEpoch--
	wantCode(t, "old incarnation", partitionCode(t, s.alterPartition(req)), kerr.IneligibleReplica)
	// Epoch -1 skips the check (Kafka's convention for "unknown").
	req.Topics[0].Partitions[0].NewEpochISR[2].BrokerEpoch = -1
	resp = s.alterPartition(req)
	wantCode(t, "expand", partitionCode(t, resp), nil)
	if got := resp.Topics[0].Partitions[0]; got.PartitionEpoch != 2 || got.LeaderEpoch != 0 || !slices.Equal(got.ISR, []int32{1, 2, 3}) {
		t.Fatalf("expand answered %+v", got)
	}

	// A request that changes nothing writes nothing and answers the state.
	before := s.im.Offset
	resp = s.alterPartition(s.isrChange(1, "t", 0, 0, 2, 1, 2, 3))
	wantCode(t, "no-op", partitionCode(t, resp), nil)
	if s.im.Offset != before || resp.Topics[0].Partitions[0].PartitionEpoch != 2 {
		t.Fatalf("no-op wrote a record or answered %+v", resp.Topics[0].Partitions[0])
	}

	// A fenced broker, or one shutting down, cannot join the ISR.
	s.alterPartition(s.isrChange(1, "t", 0, 0, 2, 1, 2))
	for _, state := range []string{"fenced", "shutting down"} {
		b := *s.im.Brokers[3]
		reg := brokerRecord(&b)
		if state == "fenced" {
			reg.Fenced = true
		}
		s.commit(reg)
		if state == "shutting down" {
			// Until the lifecycle records exist, set the flag on a copy.
			im := *s.im
			im.Brokers = map[int32]*BrokerRegistration{}
			for id, br := range s.im.Brokers {
				im.Brokers[id] = br
			}
			cp := *im.Brokers[3]
			cp.InControlledShutdown = true
			im.Brokers[3] = &cp
			s.im = &im
		}
		wantCode(t, state, partitionCode(t, s.alterPartition(s.isrChange(1, "t", 0, 0, 3, 1, 2, 3))), kerr.IneligibleReplica)
	}
}

func TestScriptAlterPartitionRequestChecks(t *testing.T) {
	s := newScript(t, 1, 2)
	s.create(false, TopicSpec{Name: "t", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {1, 2}, 1: {1, 2}}})

	// A broker epoch that is not the registered one: stale, nothing happens.
	req := s.isrChange(1, "t", 0, 0, 0, 1)
	req.BrokerEpoch++
	recs, resp := planAlterPartition(s.im, req)
	if len(recs) != 0 || resp.ErrorCode != kerr.StaleBrokerEpoch.Code {
		t.Fatalf("stale broker epoch: %d records, code %v", len(recs), kerr.ErrorForCode(resp.ErrorCode))
	}
	req = s.isrChange(9, "t", 0, 0, 0, 1)
	if _, resp := planAlterPartition(s.im, req); resp.ErrorCode != kerr.StaleBrokerEpoch.Code {
		t.Fatalf("unregistered broker: code %v", kerr.ErrorForCode(resp.ErrorCode))
	}

	// Unknown topic id, unknown partition.
	req = s.isrChange(1, "t", 0, 0, 0, 1)
	req.Topics[0].TopicID = [16]byte{9, 9}
	wantCode(t, "unknown topic id", partitionCode(t, s.alterPartition(req)), kerr.UnknownTopicID)
	wantCode(t, "unknown partition", partitionCode(t, s.alterPartition(s.isrChange(1, "t", 7, 0, 0, 1))), kerr.UnknownTopicOrPartition)

	// v0-v1 name topics and carry plain ids; an unknown name is
	// UNKNOWN_TOPIC_OR_PARTITION.
	t0, _ := s.im.Topics["t"].Partition(0)
	legacy := kmsg.NewPtrAlterPartitionRequest()
	legacy.Version = 1
	legacy.BrokerID, legacy.BrokerEpoch = t0.Leader, s.im.Brokers[t0.Leader].Epoch
	rt := kmsg.NewAlterPartitionRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewAlterPartitionRequestTopicPartition()
	rp.Partition, rp.NewISR = 0, []int32{t0.Leader}
	rt.Partitions = append(rt.Partitions, rp)
	gone := kmsg.NewAlterPartitionRequestTopic()
	gone.Topic = "nope"
	gone.Partitions = append(gone.Partitions, rp)
	legacy.Topics = append(legacy.Topics, rt, gone)
	resp = s.alterPartition(legacy)
	if c := resp.Topics[0].Partitions[0].ErrorCode; c != 0 {
		t.Fatalf("v1 shrink: %v", kerr.ErrorForCode(c))
	}
	if c := resp.Topics[1].Partitions[0].ErrorCode; c != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("v1 unknown name: %v", kerr.ErrorForCode(c))
	}
	if p, _ := s.im.Topics["t"].Partition(0); !slices.Equal(p.ISR, []int32{t0.Leader}) {
		t.Fatalf("v1 shrink not applied: %+v", p)
	}

	// One request, several partitions: each is judged on its own and the
	// valid ones commit together.
	req = s.isrChange(1, "t", 1, 0, 0, 1)
	bad := req.Topics[0].Partitions[0]
	bad.Partition, bad.PartitionEpoch = 0, 0 // partition 0 is at epoch 1 now
	req.Topics[0].Partitions = append(req.Topics[0].Partitions, bad)
	resp = s.alterPartition(req)
	got := []int16{resp.Topics[0].Partitions[0].ErrorCode, resp.Topics[0].Partitions[1].ErrorCode}
	if want := []int16{0, kerr.InvalidUpdateVersion.Code}; !reflect.DeepEqual(got, want) {
		t.Fatalf("mixed request: codes %v, want %v", got, want)
	}
	if p, _ := s.im.Topics["t"].Partition(1); !slices.Equal(p.ISR, []int32{1}) || p.PartitionEpoch != 1 {
		t.Fatalf("mixed request: partition 1 is %+v", p)
	}
}

// TestScriptAlterPartitionRecovery: after an unclean election the leader is
// recovering with only itself in sync; it reports recovery, then may grow
// the ISR (KIP-704).
func TestScriptAlterPartitionRecovery(t *testing.T) {
	s := newScript(t, 1, 2)
	s.create(false, TopicSpec{Name: "t", NumPartitions: 1, ReplicationFactor: 2})
	id := UUID(s.im.Topics["t"].ID)
	recovering := LeaderRecovering
	s.commit(&PartitionChangeRecord{PartitionId: 0, TopicId: id, Leader: 2, Isr: []int32{2}, LeaderRecoveryState: &recovering})
	p, _ := s.im.Topics["t"].Partition(0)
	if p.LeaderRecoveryState != LeaderRecovering || p.LeaderEpoch != 1 || p.PartitionEpoch != 1 {
		t.Fatalf("after unclean election: %+v", p)
	}
	// Growing the ISR while still recovering is refused.
	req := s.isrChange(2, "t", 0, 1, 1, 2, 1)
	req.Topics[0].Partitions[0].LeaderRecoveryState = LeaderRecovering
	wantCode(t, "grow while recovering", partitionCode(t, s.alterPartition(req)), kerr.InvalidRequest)
	// Recovered, same ISR: a change of its own.
	resp := s.alterPartition(s.isrChange(2, "t", 0, 1, 1, 2))
	wantCode(t, "recovered", partitionCode(t, resp), nil)
	if got := resp.Topics[0].Partitions[0]; got.LeaderRecoveryState != LeaderRecovered || got.PartitionEpoch != 2 {
		t.Fatalf("recovered answered %+v", got)
	}
	wantCode(t, "grow", partitionCode(t, s.alterPartition(s.isrChange(2, "t", 0, 1, 2, 2, 1))), nil)
}

// TestControllerAlterPartition goes through the raft quorum: the change is
// committed before the answer, and a node that is not the active controller
// does not handle the request.
func TestControllerAlterPartition(t *testing.T) {
	c := startController(t, t.TempDir())
	defer c.Close()
	registerSelf(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.registerBroker(ctx, BrokerRegistration{ID: 2, Endpoints: []Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9093, SecurityProtocol: "PLAINTEXT"}}}); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, c, TopicSpec{Name: "t", NumPartitions: 1, ReplicationFactor: 2})
	im := c.Image()
	p, _ := im.Topics["t"].Partition(0)
	req := kmsg.NewPtrAlterPartitionRequest()
	req.Version = 3
	req.BrokerID, req.BrokerEpoch = p.Leader, im.Brokers[p.Leader].Epoch
	rt := kmsg.NewAlterPartitionRequestTopic()
	rt.TopicID = im.Topics["t"].ID
	rp := kmsg.NewAlterPartitionRequestTopicPartition()
	st := kmsg.NewAlterPartitionRequestTopicPartitionNewEpochISR()
	st.BrokerID, st.BrokerEpoch = p.Leader, im.Brokers[p.Leader].Epoch
	rp.NewEpochISR = append(rp.NewEpochISR, st)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)

	resp, err := c.AlterPartition(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	got := resp.Topics[0].Partitions[0]
	after, _ := c.Image().Topics["t"].Partition(0)
	if got.ErrorCode != 0 || got.PartitionEpoch != 1 || !slices.Equal(after.ISR, []int32{p.Leader}) || after.PartitionEpoch != 1 {
		t.Fatalf("shrink answered %+v; the image holds %+v", got, after)
	}
	// Sent again, the request is stale and changes nothing.
	if resp, err = c.AlterPartition(ctx, req); err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.InvalidUpdateVersion.Code {
		t.Fatalf("repeat answered %v", kerr.ErrorForCode(code))
	}

	c.Close()
	if _, err := c.AlterPartition(ctx, req); !errors.Is(err, kerr.NotController) {
		t.Fatalf("closed controller: got %v, want NOT_CONTROLLER", err)
	}
}

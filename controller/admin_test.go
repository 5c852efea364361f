package controller

import (
	"reflect"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestScriptElectLeaders(t *testing.T) {
	s := newScript(t, 0, 1, 2)
	s.create(false, TopicSpec{Name: "t", NumPartitions: 2, ReplicationFactor: 3})
	id := UUID(s.im.Topics["t"].ID)
	p0 := s.im.Topics["t"].Partitions[0]

	recs, res := planElectLeaders(s.im, ElectionPreferred, []PartitionRef{{"t", 0}, {"t", 9}, {"nope", 0}})
	if len(recs) != 0 {
		t.Fatalf("preferred election with the preferred leader in place wrote %v", recs)
	}
	wantKerr(t, "preferred, already leading", res[0].Err, kerr.ElectionNotNeeded)
	wantKerr(t, "unknown partition", res[1].Err, kerr.UnknownTopicOrPartition)
	wantKerr(t, "unknown topic", res[2].Err, kerr.UnknownTopicOrPartition)

	// Move leadership away from the preferred replica; preferred election
	// brings it back and bumps the leader epoch.
	other := p0.Replicas[1]
	s.commit(&PartitionChangeRecord{PartitionId: 0, TopicId: id, Leader: other})
	recs, res = planElectLeaders(s.im, ElectionPreferred, nil)
	if len(res) != 1 || res[0].Partition != 0 || res[0].Err != nil || len(recs) != 1 {
		t.Fatalf("all-partition preferred election: %+v %v", res, recs)
	}
	epoch := s.im.Topics["t"].Partitions[0].LeaderEpoch
	s.commit(recs...)
	if p := s.im.Topics["t"].Partitions[0]; p.Leader != p0.Replicas[0] || p.LeaderEpoch != epoch+1 {
		t.Fatalf("after preferred election: %+v", p)
	}

	// The preferred replica out of the ISR cannot be elected.
	s.commit(&PartitionChangeRecord{PartitionId: 0, TopicId: id, Leader: other, Isr: []int32{other}})
	_, res = planElectLeaders(s.im, ElectionPreferred, []PartitionRef{{"t", 0}})
	wantKerr(t, "preferred out of the ISR", res[0].Err, kerr.PreferredLeaderNotAvailable)

	// Unclean: only for a leaderless partition; a live replica outside the
	// ISR is taken when the ISR has none.
	_, res = planElectLeaders(s.im, ElectionUnclean, []PartitionRef{{"t", 0}})
	wantKerr(t, "unclean with a leader", res[0].Err, kerr.ElectionNotNeeded)
	s.commit(&PartitionChangeRecord{PartitionId: 0, TopicId: id, Leader: NoLeader, Isr: []int32{}})
	recs, res = planElectLeaders(s.im, ElectionUnclean, []PartitionRef{{"t", 0}})
	if res[0].Err != nil || len(recs) != 1 {
		t.Fatalf("unclean election: %+v", res)
	}
	s.commit(recs...)
	if p := s.im.Topics["t"].Partitions[0]; p.Leader != p0.Replicas[0] || !slices.Equal(p.ISR, []int32{p0.Replicas[0]}) || p.LeaderRecoveryState != LeaderRecovering {
		t.Fatalf("after unclean election: %+v", p)
	}

	// A preferred replica in controlled shutdown is not live.
	p1 := s.im.Topics["t"].Partitions[1]
	s.commit(&PartitionChangeRecord{PartitionId: 1, TopicId: id, Leader: p1.Replicas[1]})
	pref := p1.Replicas[0]
	s.commit(&BrokerRegistrationChangeRecord{BrokerId: pref, BrokerEpoch: s.im.Brokers[pref].Epoch, InControlledShutdown: ControlledShutdownChangeEnter})
	_, res = planElectLeaders(s.im, ElectionPreferred, []PartitionRef{{"t", 1}})
	wantKerr(t, "preferred in controlled shutdown", res[0].Err, kerr.PreferredLeaderNotAvailable)
}

func TestScriptReassignments(t *testing.T) {
	s := newScript(t, 0, 1, 2)
	s.create(false, TopicSpec{Name: "t", NumPartitions: 1, ReplicationFactor: 3})
	cur := s.im.Topics["t"].Partitions[0].Replicas
	rev := slices.Clone(cur)
	slices.Reverse(rev)
	ref := PartitionRef{"t", 0}
	cases := []struct {
		r    Reassignment
		want *kerr.Error
		recs int
	}{
		{Reassignment{PartitionRef: ref, Replicas: cur}, nil, 0},
		{Reassignment{PartitionRef: ref, Replicas: rev}, nil, 1},
		{Reassignment{PartitionRef: ref, Replicas: cur[:2], AllowReplicationFactorChange: true}, nil, 1},
		{Reassignment{PartitionRef: ref, Replicas: cur[:2]}, kerr.InvalidReplicationFactor, 0},
		{Reassignment{PartitionRef: ref, Replicas: []int32{0, 0, 1}}, kerr.InvalidReplicaAssignment, 0},
		{Reassignment{PartitionRef: ref, Replicas: []int32{0, 1, 7}}, kerr.InvalidReplicaAssignment, 0},
		{Reassignment{PartitionRef: ref}, kerr.NoReassignmentInProgress, 0},
		{Reassignment{PartitionRef: PartitionRef{"t", 3}, Replicas: cur}, kerr.UnknownTopicOrPartition, 0},
	}
	for i, c := range cases {
		recs, errs := planReassignments(s.im, []Reassignment{c.r})
		wantKerr(t, "reassignment", errs[0], c.want)
		if len(recs) != c.recs {
			t.Fatalf("case %d: %d records, want %d", i, len(recs), c.recs)
		}
	}
	recs, _ := planReassignments(s.im, []Reassignment{{PartitionRef: ref, Replicas: rev}})
	s.commit(recs...)
	if p := s.im.Topics["t"].Partitions[0]; !slices.Equal(p.Replicas, rev) || p.Leader != cur[0] {
		t.Fatalf("after reordering: %+v", p)
	}
}

func TestScriptBrokerConfigsFeaturesQuotas(t *testing.T) {
	s := newScript(t, 1)
	v := "3600000"
	recs, err := planBrokerConfigs(s.im, "", map[string]*string{"log.retention.ms": &v})
	if err != nil || len(recs) != 1 {
		t.Fatalf("plan broker configs: %v %v", recs, err)
	}
	s.commit(recs...)
	recs, _ = planBrokerConfigs(s.im, "1", map[string]*string{"log.retention.ms": &v})
	s.commit(recs...)
	if s.im.BrokerConfigs[""]["log.retention.ms"] != v || s.im.BrokerConfigs["1"]["log.retention.ms"] != v {
		t.Fatalf("broker configs: %v", s.im.BrokerConfigs)
	}
	if recs, _ := planBrokerConfigs(s.im, "", map[string]*string{"log.retention.ms": &v}); len(recs) != 0 {
		t.Fatalf("unchanged config wrote %v", recs)
	}
	recs, _ = planBrokerConfigs(s.im, "1", map[string]*string{"log.retention.ms": nil})
	s.commit(recs...)
	if _, ok := s.im.BrokerConfigs["1"]; ok {
		t.Fatalf("deleted broker config remains: %v", s.im.BrokerConfigs)
	}
	_, err = planBrokerConfigs(s.im, "broker-one", map[string]*string{"x": &v})
	wantKerr(t, "bad broker resource", err, kerr.InvalidRequest)

	supported := map[string][2]int16{"metadata.version": {7, 25}}
	recs, errs := planFeatures(s.im, []FeatureUpdate{{Name: "metadata.version", Level: 25}}, supported, 1)
	if len(errs) != 0 || len(recs) != 1 {
		t.Fatalf("features: %v %v", recs, errs)
	}
	s.commit(recs...)
	_, errs = planFeatures(s.im, []FeatureUpdate{{Name: "metadata.version", Level: 20}}, supported, 1)
	wantKerr(t, "downgrade", errs["metadata.version"], kerr.InvalidUpdateVersion)
	_, errs = planFeatures(s.im, []FeatureUpdate{{Name: "metadata.version", Level: 30}}, supported, 1)
	wantKerr(t, "beyond range", errs["metadata.version"], kerr.InvalidUpdateVersion)
	_, errs = planFeatures(s.im, []FeatureUpdate{{Name: "transaction.version", Level: 2}}, supported, 1)
	wantKerr(t, "unsupported", errs["transaction.version"], kerr.InvalidUpdateVersion)

	alice, bad := "alice", "not-an-ip"
	user := []QuotaEntityData{{EntityType: QuotaEntityUser, EntityName: &alice}}
	if err := validateQuotaOps(user, []QuotaOp{{Key: "producer_byte_rate", Value: 1.5}}); err == nil {
		t.Fatal("fractional byte rate accepted")
	}
	if err := ValidateQuotaEntity([]QuotaEntityData{{EntityType: QuotaEntityIP, EntityName: &bad}}); err == nil {
		t.Fatal("bad ip accepted")
	}
	if err := ValidateQuotaEntity([]QuotaEntityData{{EntityType: QuotaEntityIP}, {EntityType: QuotaEntityUser}}); err == nil {
		t.Fatal("ip with user accepted")
	}
	s.commit(&ClientQuotaRecord{Entity: user, Key: "producer_byte_rate", Value: 1024},
		&ClientQuotaRecord{Entity: []QuotaEntityData{{EntityType: QuotaEntityClientID}}, Key: "request_percentage", Value: 50})
	s.commit(&ClientQuotaRecord{Entity: user, Key: "consumer_byte_rate", Value: 2048})
	if q := s.im.ClientQuotas[quotaEntityKey(user)]; len(q.Values) != 2 {
		t.Fatalf("quotas: %+v", s.im.ClientQuotas)
	}

	// Snapshots carry configs, features and quotas.
	rebuilt, err := NewImage("test-cluster").Apply(s.im.Offset, s.im.Records())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rebuilt, s.im) {
		t.Fatalf("rebuilt image differs:\n got %+v\nwant %+v", rebuilt, s.im)
	}
	s.commit(&ClientQuotaRecord{Entity: user, Key: "consumer_byte_rate", Remove: true},
		&ClientQuotaRecord{Entity: user, Key: "producer_byte_rate", Remove: true})
	if _, ok := s.im.ClientQuotas[quotaEntityKey(user)]; ok || len(s.im.ClientQuotas) != 1 {
		t.Fatalf("removed quotas remain: %+v", s.im.ClientQuotas)
	}
}

package controller

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Scenario tests of eligible leader replicas (KIP-966) through the pure
// core: the records are planned, encoded, decoded and applied as the active
// controller does.

var elrSupported = map[string][2]int16{"metadata.version": {7, 25}, ELRFeature: {0, 1}}

// newELRCluster is three live brokers at metadata.version 25 with ELR
// turned on as UpdateFeatures turns it on, the static min.insync.replicas
// being minISR.
func newELRCluster(t *testing.T, minISR int) *cluster {
	c := newCluster(t, 1, 2, 3)
	c.commit(&FeatureLevelRecord{Name: "metadata.version", FeatureLevel: 25})
	recs, errs := planFeatures(c.im, []FeatureUpdate{{Name: ELRFeature, Level: 1}}, elrSupported, minISR)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	c.commit(recs...)
	if !c.im.ELREnabled() {
		t.Fatal("ELR not enabled")
	}
	return c
}

func (c *cluster) fence(id int32) {
	c.t.Helper()
	c.commit(planFenceBroker(c.im, c.im.Brokers[id], c.policy())...)
}

// restart registers a new incarnation of broker id, showing previousEpoch
// as the epoch of a clean shutdown (-1: it cannot).
func (c *cluster) restart(id int32, previousEpoch int64) {
	c.t.Helper()
	old := c.im.Brokers[id]
	inc := old.IncarnationID
	inc[15]++
	recs, err := planRegisterBroker(c.im, c.hb, BrokerRegistration{
		ID: id, IncarnationID: inc, Fenced: true,
		Endpoints: old.Endpoints, LogDirs: old.LogDirs,
	}, previousEpoch, c.now, c.policy())
	if err != nil {
		c.t.Fatal(err)
	}
	c.commit(recs...)
}

func (c *cluster) wantELR(what, topic string, p int32, leader int32, isr, elr, lastKnown []int32) PartitionImage {
	c.t.Helper()
	pi := c.part(topic, p)
	if pi.Leader != leader || !slices.Equal(pi.ISR, isr) || !slices.Equal(pi.ELR, elr) || !slices.Equal(pi.LastKnownELR, lastKnown) {
		c.t.Fatalf("%s: %s-%d has leader %d ISR %v ELR %v LastKnownElr %v; want leader %d ISR %v ELR %v LastKnownElr %v",
			what, topic, p, pi.Leader, pi.ISR, pi.ELR, pi.LastKnownELR, leader, isr, elr, lastKnown)
	}
	return pi
}

func ids(v ...int32) []int32 { return v }

// TestScriptELRFillsAndElects: min ISR 2 of three replicas. A follower the
// leader drops from an ISR of two goes to the ELR; when the leader is then
// fenced the ISR is empty and the ELR member is elected, cleanly; the old
// leader, back, waits in the ELR and leaves it when it rejoins the ISR.
func TestScriptELRFillsAndElects(t *testing.T) {
	c := newELRCluster(t, 2)
	if v := c.im.BrokerConfigs[""][minInsyncReplicasKey]; v != "2" {
		t.Fatalf("enabling ELR wrote cluster min.insync.replicas %q, want the static 2", v)
	}
	c.createAssigned("t", []int32{1, 2, 3})

	c.fence(3)
	c.wantELR("ISR at min ISR", "t", 0, 1, ids(1, 2), nil, nil)

	p := c.part("t", 0)
	wantCode(t, "shrink", partitionCode(t, c.alterPartition(c.isrChange(1, "t", 0, p.LeaderEpoch, p.PartitionEpoch, 1))), nil)
	c.wantELR("ISR below min ISR", "t", 0, 1, ids(1), ids(2), nil)

	before := c.part("t", 0)
	c.fence(1)
	after := c.wantELR("leader fenced", "t", 0, 2, ids(2), ids(1), nil)
	if after.LeaderEpoch != before.LeaderEpoch+1 || after.LeaderRecoveryState != LeaderRecovered {
		t.Fatalf("election from the ELR: %+v (was %+v), want a clean election with a new leader epoch", after, before)
	}

	// Broker 1 resumes (same incarnation): it stays eligible until the
	// leader adds it to the ISR, which is then back at min ISR.
	c.heartbeat(1, false)
	c.wantELR("old leader back", "t", 0, 2, ids(2), ids(1), nil)
	p = c.part("t", 0)
	wantCode(t, "expand", partitionCode(t, c.alterPartition(c.isrChange(2, "t", 0, p.LeaderEpoch, p.PartitionEpoch, 2, 1))), nil)
	c.wantELR("ELR member rejoined", "t", 0, 2, ids(2, 1), nil, nil)
}

// TestScriptELRAllFenced: every replica stops; the ISR empties into the ELR
// and the last leader is remembered. A restart that cannot show a clean
// shutdown leaves the ELR; a clean one stays and is elected (clean) when it
// is unfenced.
func TestScriptELRAllFenced(t *testing.T) {
	c := newELRCluster(t, 2)
	c.createAssigned("t", []int32{1, 2, 3})
	c.fence(3)
	c.fence(2)
	c.wantELR("two fenced", "t", 0, 1, ids(1), ids(2), nil)
	c.fence(1)
	c.wantELR("all fenced", "t", 0, NoLeader, nil, ids(1, 2), ids(1))

	c.restart(2, -1) // unclean
	c.wantELR("unclean restart", "t", 0, NoLeader, nil, ids(1), ids(1))
	c.heartbeat(2, false)
	c.wantELR("unclean broker unfenced", "t", 0, NoLeader, nil, ids(1), ids(1))

	c.restart(1, c.im.Brokers[1].Epoch) // clean
	c.wantELR("clean restart", "t", 0, NoLeader, nil, ids(1), ids(1))
	c.heartbeat(1, false)
	p := c.wantELR("clean broker unfenced", "t", 0, 1, ids(1), nil, nil)
	if p.LeaderRecoveryState != LeaderRecovered {
		t.Fatalf("election from the ELR marked recovering: %+v", p)
	}
}

// TestScriptELRLastKnownLeader: when every eligible replica restarted
// uncleanly, the last known leader is elected on its return as an unclean
// election (alone in the ISR, recovering), as Kafka without ELR would have.
func TestScriptELRLastKnownLeader(t *testing.T) {
	c := newELRCluster(t, 2)
	c.createAssigned("t", []int32{1, 2})
	c.fence(2)
	c.fence(1)
	c.wantELR("all fenced", "t", 0, NoLeader, nil, ids(1, 2), ids(1))
	c.restart(2, -1)
	c.restart(1, -1)
	c.wantELR("both unclean", "t", 0, NoLeader, nil, nil, ids(1))
	c.heartbeat(2, false)
	c.wantELR("non-last leader back", "t", 0, NoLeader, nil, nil, ids(1))
	c.heartbeat(1, false)
	p := c.wantELR("last leader back", "t", 0, 1, ids(1), nil, nil)
	if p.LeaderRecoveryState != LeaderRecovering {
		t.Fatalf("last known leader election not marked recovering: %+v", p)
	}
}

// TestScriptELROff: without the feature nothing is kept: the last ISR
// member stays in the ISR of a leaderless partition. Turning the feature
// off clears ELR state.
func TestScriptELROff(t *testing.T) {
	c := newCluster(t, 1, 2, 3)
	c.commit(&FeatureLevelRecord{Name: "metadata.version", FeatureLevel: 25})
	c.commit(&ConfigRecord{ResourceType: ConfigResourceBroker, Name: minInsyncReplicasKey, Value: strp("2")})
	c.createAssigned("t", []int32{1, 2, 3})
	c.fence(3)
	c.fence(2)
	c.wantELR("two fenced", "t", 0, 1, ids(1), nil, nil)
	c.fence(1)
	c.wantELR("all fenced", "t", 0, NoLeader, ids(1), nil, nil)

	e := newELRCluster(t, 2)
	e.createAssigned("t", []int32{1, 2, 3})
	e.fence(3)
	e.fence(2)
	e.wantELR("two fenced", "t", 0, 1, ids(1), ids(2), nil)
	recs, errs := planFeatures(e.im, []FeatureUpdate{{Name: ELRFeature, Level: 0, Downgrade: true}}, elrSupported, 2)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if !slices.ContainsFunc(recs, func(r Record) bool { _, ok := r.(*ClearElrRecord); return ok }) {
		t.Fatalf("turning ELR off wrote %v, want a ClearElrRecord", recs)
	}
	epoch := e.part("t", 0).PartitionEpoch
	e.commit(recs...)
	if p := e.wantELR("feature off", "t", 0, 1, ids(1), nil, nil); p.PartitionEpoch != epoch+1 {
		t.Fatalf("clearing the ELR kept partition epoch %d", p.PartitionEpoch)
	}
	e.fence(1)
	e.wantELR("all fenced, feature off", "t", 0, NoLeader, ids(1), nil, nil)

	// ELR needs metadata.version 4.0-IV2.
	d := newCluster(t, 1)
	d.commit(&FeatureLevelRecord{Name: "metadata.version", FeatureLevel: 23})
	_, errs = planFeatures(d.im, []FeatureUpdate{{Name: ELRFeature, Level: 1}}, elrSupported, 1)
	wantKerr(t, "ELR at 4.0-IV1", errs[ELRFeature], kerr.InvalidUpdateVersion)
	_, errs = planFeatures(e.im, []FeatureUpdate{{Name: ELRFeature, Level: 1}, {Name: "metadata.version", Level: 23, Downgrade: true}}, elrSupported, 1)
	wantKerr(t, "downgrade under ELR", errs["metadata.version"], kerr.InvalidUpdateVersion)
}

// TestScriptELRMinISRChanges: changing a topic's min.insync.replicas clears
// its ELR, the cluster-wide value every ELR; broker-level values may not be
// set, nor the cluster-wide one removed, while ELR is on.
func TestScriptELRMinISRChanges(t *testing.T) {
	c := newELRCluster(t, 2)
	c.createAssigned("a", []int32{1, 2, 3})
	c.createAssigned("b", []int32{1, 2, 3})
	c.fence(3)
	c.fence(2)
	c.wantELR("a", "a", 0, 1, ids(1), ids(2), nil)
	c.wantELR("b", "b", 0, 1, ids(1), ids(2), nil)

	recs, err := planTopicConfigs(c.im, "a", map[string]*string{minInsyncReplicasKey: strp("3")})
	if err != nil {
		t.Fatal(err)
	}
	c.commit(recs...)
	c.wantELR("a after its min ISR changed", "a", 0, 1, ids(1), nil, nil)
	c.wantELR("b untouched", "b", 0, 1, ids(1), ids(2), nil)
	// The next change recomputes the ELR against the new min ISR.
	c.heartbeat(2, false)
	p := c.part("a", 0)
	wantCode(t, "expand", partitionCode(t, c.alterPartition(c.isrChange(1, "a", 0, p.LeaderEpoch, p.PartitionEpoch, 1, 2))), nil)
	c.wantELR("expanded under min ISR 3", "a", 0, 1, ids(1, 2), nil, nil)
	p = c.part("a", 0)
	wantCode(t, "shrink", partitionCode(t, c.alterPartition(c.isrChange(1, "a", 0, p.LeaderEpoch, p.PartitionEpoch, 1))), nil)
	c.wantELR("shrunk under min ISR 3", "a", 0, 1, ids(1), ids(2), nil)

	recs, err = planBrokerConfigs(c.im, "", map[string]*string{minInsyncReplicasKey: strp("2")})
	if err != nil {
		t.Fatal(err)
	}
	c.commit(recs...)
	c.wantELR("a after the cluster value was set again", "a", 0, 1, ids(1), nil, nil)
	c.wantELR("b after the cluster value was set again", "b", 0, 1, ids(1), nil, nil)

	_, err = planBrokerConfigs(c.im, "1", map[string]*string{minInsyncReplicasKey: strp("1")})
	wantKerr(t, "broker-level min ISR", err, kerr.InvalidConfig)
	_, err = planBrokerConfigs(c.im, "", map[string]*string{minInsyncReplicasKey: nil})
	wantKerr(t, "removing the cluster-level min ISR", err, kerr.InvalidConfig)
}

// TestScriptELRSnapshotAndOldRecords: an image with ELR state rebuilds
// from its own records, and entries written before ELR still decode.
func TestScriptELRSnapshotAndOldRecords(t *testing.T) {
	c := newELRCluster(t, 2)
	c.createAssigned("t", []int32{1, 2, 3})
	c.fence(3)
	c.fence(2)
	c.fence(1)
	want := c.part("t", 0)
	rebuilt, err := NewImage("test-cluster").Apply(1, c.im.Records())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := rebuilt.Topics["t"].Partition(0)
	if !slices.Equal(got.ELR, want.ELR) || !slices.Equal(got.LastKnownELR, want.LastKnownELR) || len(got.ISR) != 0 || got.PartitionEpoch != want.PartitionEpoch {
		t.Fatalf("rebuilt %+v, want %+v", got, want)
	}

	id, _ := UUID(c.im.Topics["t"].ID).MarshalText()
	recs, err := DecodeBatch([]byte(`[{"type":"PartitionChangeRecord","version":0,"data":{"PartitionId":0,"TopicId":"` + string(id) +
		`","Isr":[2],"Leader":2,"Replicas":null,"RemovingReplicas":null,"AddingReplicas":null}}]`))
	if err != nil {
		t.Fatal(err)
	}
	if r := recs[0].(*PartitionChangeRecord); r.EligibleLeaderReplicas != nil || r.LastKnownElr != nil {
		t.Fatalf("an old record decodes with ELR fields %v %v", r.EligibleLeaderReplicas, r.LastKnownElr)
	}
}

func strp(s string) *string { return &s }

package server_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/server"
)

// TestAdminClusterCLI covers kafka-log-dirs.sh --describe,
// kafka-get-offsets.sh, kafka-leader-election.sh --election-type preferred,
// kafka-broker-api-versions.sh, kafka-cluster.sh cluster-id and
// kafka-reassign-partitions.sh --list (and --execute on one broker).
func TestAdminClusterCLI(t *testing.T) {
	t.Parallel()
	tb, cl, adm, ctx := startAdminBroker(t)
	const topic = "cluster-cli"
	createTopic(t, adm, topic, 3, nil)
	produceN(t, tb.addr(), topic, 10)

	// kafka-log-dirs.sh --describe --broker-list 1: DescribeLogDirs.
	dirs, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(tb.dir)
	d, ok := dirs[1][abs]
	if !ok || d.Err != nil || d.TotalBytes <= 0 || d.UsableBytes <= 0 {
		t.Fatalf("log dirs: %+v", dirs)
	}
	p0, ok := d.Topics[topic][0]
	if !ok || p0.Size <= 0 || p0.OffsetLag != 0 || len(d.Topics[topic]) != 3 {
		t.Fatalf("log dir partitions: %+v", d.Topics[topic])
	}
	some, _ := adm.DescribeAllLogDirs(ctx, kadm.TopicsSet{topic: {1: {}}})
	if ps := some[1][abs].Topics[topic]; len(ps) != 1 {
		t.Fatalf("log dirs for one partition: %+v", ps)
	}

	// kafka-get-offsets.sh --topic cluster-cli: ListOffsets (latest).
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup(topic, 0); o.Offset != 10 {
		t.Fatalf("end offset of partition 0: %+v", o)
	}
	if o, _ := ends.Lookup(topic, 1); o.Offset != 0 {
		t.Fatalf("end offset of partition 1: %+v", o)
	}

	// kafka-leader-election.sh --election-type preferred: the preferred
	// replica already leads everything.
	el, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}, 1: {}}, "no-such-topic": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if r := el[topic][0]; !errors.Is(r.Err, kerr.ElectionNotNeeded) {
		t.Fatalf("preferred election: %+v", r)
	}
	if r := el["no-such-topic"][0]; !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("election on unknown topic: %+v", r)
	}
	all := kmsg.NewPtrElectLeadersRequest()
	all.Topics = nil // --all-topic-partitions
	if resp := request[*kmsg.ElectLeadersResponse](t, cl, all); resp.ErrorCode != 0 || len(resp.Topics) != 0 {
		t.Fatalf("election on all partitions: %+v", resp)
	}
	unclean, _ := adm.ElectLeaders(ctx, kadm.ElectLiveReplica, kadm.TopicsSet{topic: {2: {}}})
	if r := unclean[topic][2]; !errors.Is(r.Err, kerr.ElectionNotNeeded) {
		t.Fatalf("unclean election with a leader: %+v", r)
	}

	// kafka-broker-api-versions.sh: every API of the table, with the
	// supported features (v3+).
	vs, err := adm.ApiVersions(ctx)
	if err != nil || vs[1].Err != nil {
		t.Fatalf("api versions: %v %+v", err, vs)
	}
	bv := vs[1]
	for _, api := range server.APIs() {
		lo, hi, ok := bv.KeyVersions(api.Key)
		if !ok || lo != api.MinVersion || hi != api.MaxVersion {
			t.Errorf("api %s: %d–%d %v, want %d–%d", api.Name, lo, hi, ok, api.MinVersion, api.MaxVersion)
		}
	}
	supported := map[string][2]int16{}
	for _, f := range bv.Raw().SupportedFeatures {
		supported[f.Name] = [2]int16{f.MinVersion, f.MaxVersion}
	}
	if supported["metadata.version"] != [2]int16{7, 25} || supported["eligible.leader.replicas.version"] != [2]int16{0, 1} {
		t.Errorf("supported features: %+v", bv.Raw().SupportedFeatures)
	}

	// kafka-cluster.sh cluster-id: DescribeCluster.
	dc := kmsg.NewPtrDescribeClusterRequest()
	dcr := request[*kmsg.DescribeClusterResponse](t, cl, dc)
	if dcr.ErrorCode != 0 || dcr.ClusterID != tb.b.ClusterID() || dcr.ControllerID != 1 || len(dcr.Brokers) != 1 || dcr.Brokers[0].NodeID != 1 {
		t.Fatalf("describe cluster: %+v", dcr)
	}
	dc.EndpointType = 2 // controller endpoints: not served by a broker
	if dcr := request[*kmsg.DescribeClusterResponse](t, cl, dc); dcr.ErrorCode != kerr.UnsupportedEndpointType.Code {
		t.Fatalf("describe cluster (controllers): %+v", dcr)
	}

	// kafka-reassign-partitions.sh --list: nothing in progress; --execute
	// with the only broker is a no-op, another broker is refused.
	lr, err := adm.ListPartitionReassignments(ctx, nil)
	if err != nil || len(lr) != 0 {
		t.Fatalf("list reassignments: %v %+v", err, lr)
	}
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign(topic, 0, []int32{1})
	req.Assign(topic, 1, []int32{2})
	ar, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if r := ar[topic][0]; r.Err != nil {
		t.Fatalf("reassign to itself: %+v", r)
	}
	if r := ar[topic][1]; !errors.Is(r.Err, kerr.InvalidReplicaAssignment) {
		t.Fatalf("reassign to an unknown broker: %+v", r)
	}
	cancel := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	ct := kmsg.NewAlterPartitionAssignmentsRequestTopic()
	ct.Topic = topic
	cp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
	cp.Partition = 0 // Replicas nil: cancel
	ct.Partitions = append(ct.Partitions, cp)
	cancel.Topics = append(cancel.Topics, ct)
	if resp := request[*kmsg.AlterPartitionAssignmentsResponse](t, cl, cancel); resp.Topics[0].Partitions[0].ErrorCode != kerr.NoReassignmentInProgress.Code {
		t.Fatalf("cancel: %+v", resp.Topics[0].Partitions[0])
	}

	// kafka-reassign-partitions.sh with log dirs: the only log dir is
	// where the partitions already are; another path is not a log dir.
	var lreq kadm.AlterReplicaLogDirsReq
	lreq.Add(abs, kadm.TopicsSet{topic: {0: {}}})
	lreq.Add("/no/such/dir", kadm.TopicsSet{topic: {1: {}}})
	lres, err := adm.AlterAllReplicaLogDirs(ctx, lreq)
	if err != nil {
		t.Fatal(err)
	}
	lres.Each(func(r kadm.AlterReplicaLogDirsResponse) {
		switch r.Partition {
		case 0:
			if r.Err != nil {
				t.Errorf("alter log dir to the current one: %+v", r)
			}
		case 1:
			if !errors.Is(r.Err, kerr.LogDirNotFound) {
				t.Errorf("alter log dir to a missing one: %+v", r)
			}
		}
	})
}

// TestAdminProducersQuotasFeatures covers DescribeProducers
// (kafka-transactions.sh describe-producers), client quotas
// (kafka-configs.sh --entity-type users/clients) and UpdateFeatures
// (kafka-features.sh), and that quotas and features survive a restart.
func TestAdminProducersQuotasFeatures(t *testing.T) {
	t.Parallel()
	tb, cl, adm, ctx := startAdminBroker(t)
	const topic = "producers"
	createTopic(t, adm, topic, 2, nil)
	produceN(t, tb.addr(), topic, 5)

	dp, err := adm.DescribeProducers(ctx, kadm.TopicsSet{topic: {0: {}, 1: {}}})
	if err != nil {
		t.Fatal(err)
	}
	p0 := dp[topic].Partitions[0]
	if p0.Err != nil || len(p0.ActiveProducers) != 1 {
		t.Fatalf("producers on partition 0: %+v", p0)
	}
	for _, ap := range p0.ActiveProducers {
		if ap.ProducerID < 0 || ap.LastSequence != 4 || ap.CurrentTxnStartOffset != -1 {
			t.Fatalf("active producer: %+v", ap)
		}
	}
	if p1 := dp[topic].Partitions[1]; p1.Err != nil || len(p1.ActiveProducers) != 0 {
		t.Fatalf("producers on partition 1: %+v", p1)
	}

	// kafka-configs.sh --alter --add-config producer_byte_rate=1024
	// --entity-type users --entity-name alice (and the default client-id).
	alice := kadm.ClientQuotaEntity{{Type: "user", Name: sp("alice")}}
	defClient := kadm.ClientQuotaEntity{{Type: "client-id"}}
	aq, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		{Entity: alice, Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1024}, {Key: "consumer_byte_rate", Value: 2048}}},
		{Entity: defClient, Ops: []kadm.AlterClientQuotaOp{{Key: "request_percentage", Value: 50}}},
		{Entity: kadm.ClientQuotaEntity{{Type: "user", Name: sp("bob")}}, Ops: []kadm.AlterClientQuotaOp{{Key: "no_such_quota", Value: 1}}},
	})
	if err != nil || len(aq) != 3 || aq[0].Err != nil || aq[1].Err != nil || !errors.Is(aq[2].Err, kerr.InvalidRequest) {
		t.Fatalf("alter quotas: %v %+v", err, aq)
	}
	describeUsers := func() kadm.DescribedClientQuotas {
		t.Helper()
		q, err := adm.DescribeClientQuotas(ctxFor(t, requestTimeout), false, []kadm.DescribeClientQuotaComponent{{Type: "user", MatchType: 2}})
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	if q := describeUsers(); len(q) != 1 || len(q[0].Values) != 2 || q[0].Values[0].Key != "consumer_byte_rate" || q[0].Values[0].Value != 2048 {
		t.Fatalf("describe user quotas: %+v", q)
	}
	q, err := adm.DescribeClientQuotas(ctx, true, []kadm.DescribeClientQuotaComponent{{Type: "client-id", MatchType: 1}})
	if err != nil || len(q) != 1 || q[0].Values[0].Value != 50 {
		t.Fatalf("describe default client quota: %v %+v", err, q)
	}

	// kafka-features.sh upgrade --metadata 4.0-IV3 (level 25).
	uf, err := adm.UpdateFeatures(ctx, false, kadm.FeatureUpdate{Feature: "metadata.version", MaxVersionLevel: 25, UpgradeType: 1})
	if err != nil || uf.Error() != nil {
		t.Fatalf("update features: %v %+v", err, uf)
	}
	uf, _ = adm.UpdateFeatures(ctx, false, kadm.FeatureUpdate{Feature: "metadata.version", MaxVersionLevel: 20, UpgradeType: 1})
	if !errors.Is(uf.Error(), kerr.InvalidUpdateVersion) {
		t.Fatalf("downgrade without permission: %+v", uf)
	}

	tb.restart()
	cl = newClient(t, tb.addr())
	adm = kadm.NewClient(cl)
	if q := describeUsers(); len(q) != 1 || len(q[0].Values) != 2 {
		t.Fatalf("user quotas after restart: %+v", q)
	}
	vs, err := adm.ApiVersions(ctxFor(t, requestTimeout))
	if err != nil {
		t.Fatal(err)
	}
	bv := vs[1]
	fin := bv.Raw().FinalizedFeatures
	if len(fin) != 3 || fin[0].Name != "eligible.leader.replicas.version" || fin[0].MaxVersionLevel != 1 ||
		fin[1].Name != "metadata.version" || fin[1].MaxVersionLevel != 25 ||
		fin[2].Name != "transaction.version" || fin[2].MaxVersionLevel != 2 {
		t.Fatalf("finalized features after restart: %+v", fin)
	}
}

// TestAdminClusterSarama asks for the cluster and log dirs through Sarama's
// ClusterAdmin.
func TestAdminClusterSarama(t *testing.T) {
	t.Parallel()
	tb := startBroker(t)
	ca := saramaClusterAdmin(t, tb.addr())
	if err := ca.CreateTopic("sarama-cluster", &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	brokers, controller, err := ca.DescribeCluster()
	if err != nil || len(brokers) != 1 || brokers[0].ID() != 1 || controller != 1 {
		t.Fatalf("describe cluster: %v %v %d", err, brokers, controller)
	}
	dirs, err := ca.DescribeLogDirs([]int32{1})
	if err != nil || len(dirs[1]) != 1 || dirs[1][0].ErrorCode != sarama.ErrNoError {
		t.Fatalf("log dirs: %v %+v", err, dirs)
	}
	found := 0
	for _, tp := range dirs[1][0].Topics {
		if tp.Topic == "sarama-cluster" {
			found = len(tp.Partitions)
		}
	}
	if found != 2 {
		t.Fatalf("log dirs: sarama-cluster has %d partitions: %+v", found, dirs[1][0].Topics)
	}
	reassigning, err := ca.ListPartitionReassignments("sarama-cluster", []int32{0, 1})
	if err != nil || len(reassigning) != 0 {
		t.Fatalf("list reassignments: %v %+v", err, reassigning)
	}
	if err := ca.AlterClientQuotas([]sarama.QuotaEntityComponent{{EntityType: sarama.QuotaEntityUser, MatchType: sarama.QuotaMatchExact, Name: "carol"}},
		sarama.ClientQuotasOp{Key: "producer_byte_rate", Value: 4096}, false); err != nil {
		t.Fatal(err)
	}
	entries, err := ca.DescribeClientQuotas([]sarama.QuotaFilterComponent{{EntityType: sarama.QuotaEntityUser, MatchType: sarama.QuotaMatchExact, Match: "carol"}}, true)
	if err != nil || len(entries) != 1 || entries[0].Values["producer_byte_rate"] != 4096 {
		t.Fatalf("describe quotas: %v %+v", err, entries)
	}
}

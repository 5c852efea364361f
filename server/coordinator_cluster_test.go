package server_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
	"github.com/riffle-io/riffle/coordinator"
)

// coordinatorOn asks the node at addr for the coordinator of key (typ 0:
// group, 1: transaction) and returns its node id, or -1 with the error.
func coordinatorOn(t testing.TB, addr, key string, typ int8) (int32, error) {
	t.Helper()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorType = typ
	req.CoordinatorKey = key
	req.CoordinatorKeys = []string{key}
	resp := requestTo(t, addr, req).(*kmsg.FindCoordinatorResponse)
	if len(resp.Coordinators) == 1 {
		c := resp.Coordinators[0]
		return c.NodeID, kerr.ErrorForCode(c.ErrorCode)
	}
	return resp.NodeID, kerr.ErrorForCode(resp.ErrorCode)
}

// waitCoordinatorMoved polls the running nodes until each names the same
// coordinator for key, other than from, and returns its node id.
func waitCoordinatorMoved(t testing.TB, tc *testCluster, key string, typ int8, from int32) int32 {
	t.Helper()
	var got int32 = -1
	if !poll(startTimeout, func() bool {
		seen := map[int32]bool{}
		for _, i := range tc.running() {
			id, err := coordinatorOn(t, tc.addrs()[i], key, typ)
			if err != nil || id == from || id < 1 {
				return false
			}
			seen[id] = true
			got = id
		}
		return len(seen) == 1
	}) {
		t.Fatalf("the coordinator of %s never moved away from node %d (last seen %d)", key, from, got)
	}
	return got
}

func clusterCoordinatorOpts(_ int32, c *config.Broker) {
	c.OffsetsTopicNumPartitions = 3
	c.TransactionStateLogNumPartitions = 3
	c.GroupInitialRebalanceDelayMs = 0
}

// produceAndCommitPart produces total records to topic (three
// partitions) through addr, and has a member of group read a third of
// them and commit; it returns the committed offsets and how many records
// were read.
func produceAndCommitPart(t *testing.T, ctx context.Context, addr, topic, group string, total int) (map[int32]int64, int) {
	t.Helper()
	prod := newClient(t, addr, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	for i := range total {
		if err := prod.ProduceSync(ctx, kgo.StringRecord(string(rune('a'+i%26)))).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	cons := newClient(t, addr, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.FetchMaxBytes(200), kgo.MaxConcurrentFetches(1))
	defer cons.Close()
	committed := map[int32]int64{}
	read := 0
	for read < total/3 {
		fs := cons.PollRecords(ctx, total/3-read)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			read++
			committed[r.Partition] = r.Offset + 1
		})
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	return committed, read
}

// resumeGroup has a new member of group, bootstrapped from seeds, read the
// rest of topic: it must start at the committed offsets and read want
// records.
func resumeGroup(t *testing.T, ctx context.Context, seeds []string, topic, group string, committed map[int32]int64, want int) {
	t.Helper()
	cons := newClient(t, seeds[0], kgo.SeedBrokers(seeds...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	first := map[int32]int64{}
	got := 0
	pollCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for got < want {
		fs := cons.PollFetches(pollCtx)
		if pollCtx.Err() != nil {
			t.Fatalf("read %d of the %d records after the move", got, want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if _, ok := first[r.Partition]; !ok {
				first[r.Partition] = r.Offset
			}
			got++
		})
	}
	for p, c := range committed {
		if f, ok := first[p]; ok && f != c {
			t.Errorf("partition %d: resumed at %d, committed %d", p, f, c)
		}
	}
	if got != want {
		t.Errorf("read %d records after the move, want %d", got, want)
	}
}

// moveLeaderByElection moves the leadership of topic's partition away
// from node from while every node stays up, as an operator does with
// kafka-reassign-partitions.sh (the same replicas, from's last) and
// kafka-leader-election.sh --election-type PREFERRED.
func moveLeaderByElection(t *testing.T, ctx context.Context, tc *testCluster, topic string, part int32, from int32) {
	t.Helper()
	addrs := tc.addrs()
	mt, ok := topicOn(t, addrs[0], topic)
	if !ok || int(part) >= len(mt.Partitions) {
		t.Fatalf("%s: %+v", topic, mt)
	}
	mp := mt.Partitions[part]
	if mp.Leader != from {
		t.Fatalf("%s-%d is led by %d, not %d", topic, part, mp.Leader, from)
	}
	var order []int32
	for _, r := range mp.Replicas {
		if r != from {
			order = append(order, r)
		}
	}
	order = append(order, from)
	adm := newAdmin(t, addrs[0])
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign(topic, part, order)
	res, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatalf("reorder replicas: %v", err)
	}
	res.Each(func(r kadm.AlterPartitionAssignmentsResponse) {
		if r.Err != nil {
			t.Fatalf("reorder replicas of %s-%d: %v", r.Topic, r.Partition, r.Err)
		}
	})
	if !poll(requestTimeout, func() bool {
		mt, ok := topicOn(t, addrs[0], topic)
		return ok && len(mt.Partitions[part].Replicas) == len(order) && mt.Partitions[part].Replicas[0] == order[0]
	}) {
		t.Fatalf("replicas of %s-%d never became %v", topic, part, order)
	}
	if !poll(requestTimeout, func() bool {
		var ts kadm.TopicsSet
		ts.Add(topic, part)
		rs, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, ts)
		if err != nil {
			return false
		}
		r := rs[topic][part]
		return r.Err == nil || errors.Is(r.Err, kerr.ElectionNotNeeded)
	}) {
		t.Fatalf("preferred leader election of %s-%d failed", topic, part)
	}
}

// Leadership of the group's __consumer_offsets partition moves while every
// node stays up (a preferred-leader election after reordering the
// replicas, as kafka-reassign-partitions.sh and kafka-leader-election.sh
// do): the old leader unloads the group and answers NOT_COORDINATOR, the
// new one loads it, and the group carries on from its committed offsets.
func TestClusterGroupCoordinatorMovesOnElection(t *testing.T) {
	tc := startCluster(t, 3, clusterCoordinatorOpts)
	addrs := tc.addrs()
	const topic, group = "elected-group", "elected"
	createTopicOn(t, addrs[0], topic, 3, 3)
	ctx := ctxFor(t, 3*time.Minute)
	const total = 60
	committed, read := produceAndCommitPart(t, ctx, addrs[0], topic, group, total)

	coord, err := coordinatorOn(t, addrs[0], group, 0)
	if err != nil {
		t.Fatalf("find coordinator: %v", err)
	}
	moveLeaderByElection(t, ctx, tc, "__consumer_offsets", coordinator.PartitionFor(group, 3), coord)
	moved := waitCoordinatorMoved(t, tc, group, 0, coord)
	t.Logf("group coordinator moved from node %d to node %d", coord, moved)

	// The old leader no longer serves the group.
	fetch := kmsg.NewPtrOffsetFetchRequest() // v8+: groups in an array
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	fetch.Groups = append(fetch.Groups, rg)
	if !poll(requestTimeout, func() bool {
		resp := requestTo(t, addrs[coord-1], fetch).(*kmsg.OffsetFetchResponse)
		return len(resp.Groups) == 1 && resp.Groups[0].ErrorCode == kerr.NotCoordinator.Code
	}) {
		t.Fatalf("node %d still serves the group after losing leadership", coord)
	}
	resumeGroup(t, ctx, addrs, topic, group, committed, total-read)
}

// The same for a transactional producer: leadership of its
// __transaction_state partition moves to another node, which loads the
// transactional id; the producer's next transaction commits there and a
// read_committed consumer sees both.
func TestClusterTxnCoordinatorMovesOnElection(t *testing.T) {
	tc := startCluster(t, 3, clusterCoordinatorOpts)
	addrs := tc.addrs()
	const topic, txnID = "elected-txn", "elected-txn-id"
	createTopicOn(t, addrs[0], topic, 1, 3)
	ctx := ctxFor(t, 3*time.Minute)
	prod := newClient(t, addrs[0], kgo.SeedBrokers(addrs...), kgo.TransactionalID(txnID), kgo.DefaultProduceTopic(topic))
	commitOne := func(v string) {
		t.Helper()
		if err := prod.BeginTransaction(); err != nil {
			t.Fatalf("begin: %v", err)
		}
		if err := prod.ProduceSync(ctx, kgo.StringRecord(v)).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", v, err)
		}
		if err := prod.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatalf("commit %s: %v", v, err)
		}
	}
	commitOne("before")
	coord, err := coordinatorOn(t, addrs[0], txnID, 1)
	if err != nil {
		t.Fatalf("find coordinator: %v", err)
	}
	moveLeaderByElection(t, ctx, tc, "__transaction_state", coordinator.PartitionFor(txnID, 3), coord)
	moved := waitCoordinatorMoved(t, tc, txnID, 1, coord)
	t.Logf("transaction coordinator moved from node %d to node %d", coord, moved)
	commitOne("after")

	cons := newClient(t, addrs[0], kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	var got []string
	pollCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for len(got) < 2 && pollCtx.Err() == nil {
		cons.PollFetches(pollCtx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if len(got) != 2 || got[0] != "before" || got[1] != "after" {
		t.Fatalf("read_committed reads %q, want [before after]", got)
	}
}

// On three nodes, a consumer group's coordinator is the leader of the
// group's __consumer_offsets partition. When that node stops, the
// partition's leadership moves, the new leader loads the group, every node
// names it in FindCoordinator, and the group carries on from its committed
// offsets.
func TestClusterGroupCoordinatorMovesWithLeadership(t *testing.T) {
	tc := startCluster(t, 3, clusterCoordinatorOpts)
	addrs := tc.addrs()
	const topic, group = "moving-group", "mover"
	createTopicOn(t, addrs[0], topic, 3, 3)
	ctx := ctxFor(t, 3*time.Minute)
	const total = 60
	committed, read := produceAndCommitPart(t, ctx, addrs[0], topic, group, total)

	coord, err := coordinatorOn(t, addrs[0], group, 0)
	if err != nil {
		t.Fatalf("find coordinator: %v", err)
	}
	tc.stop(int(coord - 1))
	moved := waitCoordinatorMoved(t, tc, group, 0, coord)
	t.Logf("group coordinator moved from node %d to node %d", coord, moved)

	var seeds []string
	for _, i := range tc.running() {
		seeds = append(seeds, addrs[i])
	}
	resumeGroup(t, ctx, seeds, topic, group, committed, total-read)
}

// The same for a transactional producer: when the node leading its
// __transaction_state partition stops, the new leader loads the
// transactional id, and the producer's next transaction commits there.
func TestClusterTxnCoordinatorMovesWithLeadership(t *testing.T) {
	tc := startCluster(t, 3, clusterCoordinatorOpts)
	addrs := tc.addrs()
	const topic, txnID = "moving-txn", "mover-txn"
	ctx := ctxFor(t, 3*time.Minute)
	// The data partition lives on the other two nodes, so that stopping
	// the coordinator's node moves only the coordinator.
	var coord int32
	if !poll(requestTimeout, func() bool {
		var err error
		coord, err = coordinatorOn(t, addrs[0], txnID, 1)
		return err == nil && coord > 0
	}) {
		t.Fatalf("no transaction coordinator for %s", txnID)
	}
	create := kmsg.NewPtrCreateTopicsRequest()
	create.TimeoutMillis = int32(requestTimeout / time.Millisecond)
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = topic, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	for id := int32(1); id <= 3; id++ {
		if id != coord {
			ra.Replicas = append(ra.Replicas, id)
		}
	}
	ct.ReplicaAssignment = append(ct.ReplicaAssignment, ra)
	create.Topics = append(create.Topics, ct)
	if cr := requestTo(t, addrs[0], create).(*kmsg.CreateTopicsResponse); len(cr.Topics) != 1 || cr.Topics[0].ErrorCode != 0 {
		t.Fatalf("create %s on %v: %+v", topic, ra.Replicas, cr.Topics)
	}
	prod := newClient(t, addrs[0], kgo.SeedBrokers(addrs...), kgo.TransactionalID(txnID), kgo.DefaultProduceTopic(topic))
	commitOne := func(v string) {
		t.Helper()
		if err := prod.BeginTransaction(); err != nil {
			t.Fatalf("begin: %v", err)
		}
		if err := prod.ProduceSync(ctx, kgo.StringRecord(v)).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", v, err)
		}
		if err := prod.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatalf("commit %s: %v", v, err)
		}
	}
	commitOne("before")
	tc.stop(int(coord - 1))
	moved := waitCoordinatorMoved(t, tc, txnID, 1, coord)
	t.Logf("transaction coordinator moved from node %d to node %d", coord, moved)
	commitOne("after")

	var seeds []string
	for _, i := range tc.running() {
		seeds = append(seeds, addrs[i])
	}
	cons := newClient(t, seeds[0], kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	var got []string
	pollCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for len(got) < 2 && pollCtx.Err() == nil {
		cons.PollFetches(pollCtx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if len(got) != 2 || got[0] != "before" || got[1] != "after" {
		t.Fatalf("read_committed reads %q, want [before after]", got)
	}
}

// A node killed without a controlled shutdown: once the controller fences
// it (broker.session.timeout.ms), the leadership of its __consumer_offsets
// partitions moves to a surviving in-sync replica, which loads the group;
// the group resumes at its committed offsets.
func TestClusterGroupCoordinatorMovesWhenItsNodeIsKilled(t *testing.T) {
	tc := startCluster(t, 3, func(id int32, c *config.Broker) {
		clusterCoordinatorOpts(id, c)
		c.BrokerHeartbeatIntervalMs = 200
		c.BrokerSessionTimeoutMs = 2000
	})
	addrs := tc.addrs()
	const topic, group = "killed-group", "killed"
	createTopicOn(t, addrs[0], topic, 3, 3)
	ctx := ctxFor(t, 3*time.Minute)
	const total = 60
	committed, read := produceAndCommitPart(t, ctx, addrs[0], topic, group, total)
	coord, err := coordinatorOn(t, addrs[0], group, 0)
	if err != nil {
		t.Fatalf("find coordinator: %v", err)
	}
	tc.kill(int(coord - 1))
	moved := waitCoordinatorMoved(t, tc, group, 0, coord)
	t.Logf("group coordinator moved from killed node %d to node %d", coord, moved)
	var seeds []string
	for _, i := range tc.running() {
		seeds = append(seeds, addrs[i])
	}
	resumeGroup(t, ctx, seeds, topic, group, committed, total-read)
}

package server_test

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// clusterView is what a node's Metadata says about the cluster.
func clusterView(t testing.TB, addr string) (brokers []int32, controller int32) {
	t.Helper()
	adm := newAdmin(t, addr)
	m, err := adm.BrokerMetadata(ctxFor(t, requestTimeout))
	if err != nil {
		t.Fatalf("metadata from %s: %v", addr, err)
	}
	for _, b := range m.Brokers {
		brokers = append(brokers, b.NodeID)
	}
	slices.Sort(brokers)
	return brokers, m.Controller
}

// createTopicOn creates a topic by sending CreateTopics to the node at
// addr, which forwards it to the active controller unless it is the one.
func createTopicOn(t testing.TB, addr, topic string, partitions int32, rf int16) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = int32(requestTimeout / time.Millisecond)
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, rf
	req.Topics = append(req.Topics, rt)
	resp := requestTo(t, addr, req).(*kmsg.CreateTopicsResponse)
	if len(resp.Topics) != 1 {
		t.Fatalf("CreateTopics %s on %s: %d results", topic, addr, len(resp.Topics))
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("CreateTopics %s on %s: %v", topic, addr, err)
	}
	if resp.Topics[0].NumPartitions != partitions || resp.Topics[0].ReplicationFactor != rf {
		t.Fatalf("CreateTopics %s on %s: %d partitions, RF %d", topic, addr, resp.Topics[0].NumPartitions, resp.Topics[0].ReplicationFactor)
	}
}

// topicOn returns the topic as the node at addr itself describes it.
func topicOn(t testing.TB, addr, topic string) (kmsg.MetadataResponseTopic, bool) {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, mt)
	resp := requestTo(t, addr, req).(*kmsg.MetadataResponse)
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		return kmsg.MetadataResponseTopic{}, false
	}
	return resp.Topics[0], true
}

// activeController returns the index of the node whose controller is
// active, as the running nodes' Metadata agree on it.
func activeController(t testing.TB, tc *testCluster) int {
	t.Helper()
	idx := -1
	if !poll(startTimeout, func() bool {
		ids := map[int32]bool{}
		for _, i := range tc.running() {
			_, c := clusterView(t, tc.addrs()[i])
			ids[c] = true
		}
		if len(ids) != 1 {
			return false
		}
		for id := range ids {
			idx = int(id) - 1
		}
		return idx >= 0 && slices.Contains(tc.running(), idx)
	}) {
		t.Fatal("the running nodes do not agree on a running active controller")
	}
	return idx
}

// TestClusterThreeNodes: three combined nodes form one quorum; every node
// lists the three brokers and names the same controller; CreateTopics sent
// to each node in turn works (forwarded to the active controller), and the
// forwarding node answers with the topic already in its own metadata; an
// idempotent producer gets its producer id from a node that is not the
// controller; after the active controller stops, the survivors elect
// another and CreateTopics still works against them.
func TestClusterThreeNodes(t *testing.T) {
	tc := startCluster(t, 3)
	addrs := tc.addrs()
	// startCluster waited for every node to list every broker.
	var want int32 = -1
	for i, a := range addrs {
		brokers, ctrl := clusterView(t, a)
		if !slices.Equal(brokers, []int32{1, 2, 3}) {
			t.Fatalf("node %d lists brokers %v, want [1 2 3]", i+1, brokers)
		}
		if want == -1 {
			want = ctrl
		}
		if ctrl != want || ctrl < 1 || ctrl > 3 {
			t.Fatalf("node %d names controller %d, another node %d", i+1, ctrl, want)
		}
	}

	for i, a := range addrs {
		topic := fmt.Sprintf("created-on-%d", i+1)
		createTopicOn(t, a, topic, 3, 3)
		// The node that took the request already knows the topic.
		mt, ok := topicOn(t, a, topic)
		if !ok || len(mt.Partitions) != 3 {
			t.Fatalf("node %d does not describe %s right after creating it: %+v", i+1, topic, mt)
		}
		for _, p := range mt.Partitions {
			if len(p.Replicas) != 3 {
				t.Fatalf("%s partition %d has replicas %v, want 3", topic, p.Partition, p.Replicas)
			}
		}
	}
	// A topic created through node 3 is in node 1's metadata.
	if !poll(requestTimeout, func() bool { _, ok := topicOn(t, addrs[0], "created-on-3"); return ok }) {
		t.Fatal("node 1 never lists the topic created through node 3")
	}

	// kadm against each node: CreateTopics with RF 3.
	for i, a := range addrs {
		adm := newAdmin(t, a)
		topic := "kadm-" + strconv.Itoa(i+1)
		res, err := adm.CreateTopic(ctxFor(t, requestTimeout), 2, 3, nil, topic)
		if err != nil || res.Err != nil {
			t.Fatalf("kadm CreateTopic via node %d: %v %v", i+1, err, res.Err)
		}
	}

	// An idempotent producer bootstrapped from a node that is not the
	// controller: InitProducerId there takes a block from the controller.
	active := activeController(t, tc)
	other := (active + 1) % 3
	prodCl := newClient(t, addrs[other], kgo.DefaultProduceTopic("created-on-1"), kgo.RequiredAcks(kgo.AllISRAcks()))
	for i := range 10 {
		if err := prodCl.ProduceSync(ctxFor(t, requestTimeout), &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatalf("idempotent produce through node %d: %v", other+1, err)
		}
	}
	pid := kmsg.NewPtrInitProducerIDRequest()
	pid.ProducerID, pid.ProducerEpoch = -1, -1
	pr := requestTo(t, addrs[other], pid).(*kmsg.InitProducerIDResponse)
	if pr.ErrorCode != 0 || pr.ProducerID < 0 {
		t.Fatalf("InitProducerId on node %d: %v, id %d", other+1, kerr.ErrorForCode(pr.ErrorCode), pr.ProducerID)
	}

	// Stop the active controller: the others elect a new one, and
	// writes through either survivor work.
	tc.stop(active)
	next := activeController(t, tc)
	if next == active {
		t.Fatalf("node %d still named controller after it stopped", active+1)
	}
	for _, i := range tc.running() {
		topic := fmt.Sprintf("after-failover-via-%d", i+1)
		createTopicOn(t, addrs[i], topic, 1, 2)
		if _, ok := topicOn(t, addrs[i], topic); !ok {
			t.Fatalf("node %d does not describe %s after creating it", i+1, topic)
		}
	}
	// The stopped node comes back, registers again, and sees everything.
	tc.start(active)
	if !poll(requestTimeout, func() bool { _, ok := topicOn(t, addrs[active], "after-failover-via-"+strconv.Itoa(next+1)); return ok }) {
		t.Fatalf("restarted node %d never lists the topics created while it was down", active+1)
	}
	if !poll(requestTimeout, func() bool {
		brokers, _ := clusterView(t, addrs[active])
		return slices.Equal(brokers, []int32{1, 2, 3})
	}) {
		t.Fatal("restarted node never lists the three brokers")
	}
}

// TestControllerListenerSpeaksKafka: KIP-919. A Kafka client on a node's
// CONTROLLER listener gets ApiVersions listing only the controller's APIs
// (with features), DescribeCluster with the controller endpoint type lists
// the voters and names the active one, and a non-active controller answers
// CreateTopics with NOT_CONTROLLER.
func TestControllerListenerSpeaksKafka(t *testing.T) {
	tc := startCluster(t, 3)
	active := activeController(t, tc)
	for i := range 3 {
		addr := tc.node(i).b.ControllerAddr()
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		seed := cl.SeedBrokers()[0]
		ctx := ctxFor(t, requestTimeout)
		kav, err := seed.Request(ctx, kmsg.NewPtrApiVersionsRequest())
		if err != nil {
			t.Fatalf("ApiVersions on controller listener of node %d: %v", i+1, err)
		}
		av := kav.(*kmsg.ApiVersionsResponse)
		keys := map[int16]bool{}
		for _, k := range av.ApiKeys {
			keys[k.ApiKey] = true
		}
		for _, k := range []kmsg.Key{kmsg.ApiVersions, kmsg.DescribeCluster, kmsg.DescribeQuorum, kmsg.BrokerRegistration, kmsg.Envelope, kmsg.CreateTopics, kmsg.UpdateFeatures} {
			if !keys[int16(k)] {
				t.Errorf("node %d's controller listener does not advertise %s", i+1, k.Name())
			}
		}
		for _, k := range []kmsg.Key{kmsg.Produce, kmsg.Fetch, kmsg.Metadata, kmsg.FindCoordinator} {
			if keys[int16(k)] {
				t.Errorf("node %d's controller listener advertises %s", i+1, k.Name())
			}
		}
		if len(av.FinalizedFeatures) == 0 || len(av.SupportedFeatures) == 0 {
			t.Errorf("node %d's controller ApiVersions carries no features", i+1)
		}

		dc := kmsg.NewPtrDescribeClusterRequest()
		dc.EndpointType = 2
		kdc, err := seed.Request(ctx, dc)
		if err != nil {
			t.Fatal(err)
		}
		dr := kdc.(*kmsg.DescribeClusterResponse)
		if dr.ErrorCode != 0 || dr.ControllerID != int32(active+1) || len(dr.Brokers) != 3 {
			t.Fatalf("DescribeCluster(controllers) on node %d: err %v, controller %d, %d controllers", i+1,
				kerr.ErrorForCode(dr.ErrorCode), dr.ControllerID, len(dr.Brokers))
		}
		for _, b := range dr.Brokers {
			want := tc.node(int(b.NodeID) - 1).b.ControllerAddr()
			if got := net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))); got != want {
				t.Errorf("controller %d at %s, want %s", b.NodeID, got, want)
			}
		}

		ct := kmsg.NewPtrCreateTopicsRequest()
		ct.TimeoutMillis = 10000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "via-controller-"+strconv.Itoa(i+1), 1, 3
		ct.Topics = append(ct.Topics, rt)
		kct, err := seed.Request(ctx, ct)
		if err != nil {
			t.Fatal(err)
		}
		code := kct.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode
		if i == active && code != 0 {
			t.Errorf("CreateTopics on the active controller's listener: %v", kerr.ErrorForCode(code))
		}
		if i != active && code != kerr.NotController.Code {
			t.Errorf("CreateTopics on node %d's controller listener (not active): %v, want NOT_CONTROLLER", i+1, kerr.ErrorForCode(code))
		}
	}
}

// TestClusterControllersAndBrokers: process.roles. Three controller-only
// nodes form the quorum; two broker-only nodes follow the metadata log as
// observers. Metadata lists only the two brokers and names one of them as
// controller (the active controller is no broker); CreateTopics through
// either broker is forwarded to the active controller; records produced
// through one broker are read back; DescribeQuorum lists the brokers as
// observers; after the active controller stops, the other two elect one
// and CreateTopics works again; a broker restarted on a new raft port is
// followed again.
func TestClusterControllersAndBrokers(t *testing.T) {
	tc := startRolesCluster(t, 3, 2)
	b1, b2 := tc.addrs()[3], tc.addrs()[4]
	for _, a := range []string{b1, b2} {
		brokers, ctrl := clusterView(t, a)
		if !slices.Equal(brokers, []int32{4, 5}) {
			t.Fatalf("%s lists brokers %v, want [4 5]", a, brokers)
		}
		if ctrl != 4 && ctrl != 5 {
			t.Fatalf("%s names controller %d, want a broker", a, ctrl)
		}
	}
	createTopicOn(t, b1, "roles-a", 2, 2)
	createTopicOn(t, b2, "roles-b", 1, 2)
	if _, ok := topicOn(t, b1, "roles-b"); !ok {
		if !poll(requestTimeout, func() bool { _, ok := topicOn(t, b1, "roles-b"); return ok }) {
			t.Fatal("broker 4 never lists the topic created through broker 5")
		}
	}

	cl := newClient(t, b1, kgo.DefaultProduceTopic("roles-a"))
	for i := range 20 {
		if err := cl.ProduceSync(ctxFor(t, requestTimeout), &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	consumer := newClient(t, b2, kgo.ConsumeTopics("roles-a"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	ctx := ctxFor(t, requestTimeout)
	for got < 20 && ctx.Err() == nil {
		got += consumer.PollFetches(ctx).NumRecords()
	}
	if got != 20 {
		t.Fatalf("read %d of 20 records", got)
	}

	dq := kmsg.NewPtrDescribeQuorumRequest()
	qt := kmsg.NewDescribeQuorumRequestTopic()
	qt.Topic = "__cluster_metadata"
	qt.Partitions = append(qt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
	dq.Topics = append(dq.Topics, qt)
	qr := requestTo(t, b1, dq).(*kmsg.DescribeQuorumResponse)
	if len(qr.Topics) != 1 || len(qr.Topics[0].Partitions) != 1 {
		t.Fatalf("DescribeQuorum: %+v", qr)
	}
	qp := qr.Topics[0].Partitions[0]
	var voters, observers []int32
	for _, v := range qp.CurrentVoters {
		voters = append(voters, v.ReplicaID)
	}
	for _, o := range qp.Observers {
		observers = append(observers, o.ReplicaID)
	}
	slices.Sort(voters)
	slices.Sort(observers)
	if qp.ErrorCode != 0 || !slices.Equal(voters, []int32{1, 2, 3}) || !slices.Equal(observers, []int32{4, 5}) {
		t.Fatalf("DescribeQuorum: err %v, voters %v, observers %v", kerr.ErrorForCode(qp.ErrorCode), voters, observers)
	}
	// The observers (the brokers) are followed like the voters.
	if !poll(requestTimeout, func() bool {
		q := describeQuorumOn(t, b1)
		for _, o := range q.Observers {
			if o.LogEndOffset < q.HighWatermark || o.LastFetchTimestamp <= 0 {
				return false
			}
		}
		return len(q.Observers) == 2
	}) {
		t.Fatal("DescribeQuorum never reported the brokers' progress")
	}
	leader := int(qp.LeaderID) - 1

	tc.stop(leader)
	if !poll(startTimeout, func() bool {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 5000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "roles-after-failover", 1, 2
		req.Topics = append(req.Topics, rt)
		resp := requestTo(t, b2, req).(*kmsg.CreateTopicsResponse)
		code := resp.Topics[0].ErrorCode
		return code == 0 || code == kerr.TopicAlreadyExists.Code
	}) {
		t.Fatal("CreateTopics through broker 5 never works after the active controller stopped")
	}
	if !poll(requestTimeout, func() bool { _, ok := topicOn(t, b1, "roles-after-failover"); return ok }) {
		t.Fatal("broker 4 never lists the topic created after the failover")
	}

	// A broker-only node restarts on a new raft port: its registration
	// tells the controller, which follows it there.
	tc.stop(3)
	tc.start(3)
	createTopicOn(t, b2, "roles-after-restart", 1, 2)
	if !poll(requestTimeout, func() bool { _, ok := topicOn(t, b1, "roles-after-restart"); return ok }) {
		t.Fatal("the restarted broker 4 does not follow the metadata log")
	}
}

// describeQuorumOn asks the node at addr for the metadata quorum.
func describeQuorumOn(t testing.TB, addr string) kmsg.DescribeQuorumResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrDescribeQuorumRequest()
	qt := kmsg.NewDescribeQuorumRequestTopic()
	qt.Topic = "__cluster_metadata"
	qt.Partitions = append(qt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
	req.Topics = append(req.Topics, qt)
	resp := requestTo(t, addr, req).(*kmsg.DescribeQuorumResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("DescribeQuorum from %s: %+v", addr, resp)
	}
	return resp.Topics[0].Partitions[0]
}

// TestDescribeQuorumFollowerProgress: KIP-836. The leader reports every
// voter's log end offset and fetch times, followers included (observed on
// its raft transport), so kafka-metadata-quorum.sh --replication shows a
// lag for each; a killed voter stops fetching and falls behind, and
// catches up again when it is back.
func TestDescribeQuorumFollowerProgress(t *testing.T) {
	tc := startCluster(t, 3)
	addr := tc.addrs()[0]
	createTopicOn(t, addr, "progress", 1, 3)
	var p kmsg.DescribeQuorumResponseTopicPartition
	if !poll(requestTimeout, func() bool {
		p = describeQuorumOn(t, addr)
		if p.ErrorCode != 0 || len(p.CurrentVoters) != 3 {
			return false
		}
		for _, v := range p.CurrentVoters {
			if v.LogEndOffset < p.HighWatermark || v.LastFetchTimestamp <= 0 || v.LastCaughtUpTimestamp <= 0 {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("voters never all reported caught up to the high watermark: %+v", p)
	}

	// Kill a follower; the leader stops hearing from it, while the
	// survivors' progress keeps moving with new writes.
	follower := -1
	for i := range 3 {
		if int32(i+1) != p.LeaderID {
			follower = i
			break
		}
	}
	tc.kill(follower)
	survivor := tc.running()[0]
	createTopicOn(t, tc.addrs()[survivor], "progress-2", 1, 2)
	if !poll(requestTimeout, func() bool {
		q := describeQuorumOn(t, tc.addrs()[survivor])
		if q.ErrorCode != 0 {
			return false
		}
		for _, v := range q.CurrentVoters {
			if v.ReplicaID == int32(follower+1) {
				return v.LogEndOffset < q.HighWatermark
			}
		}
		return false
	}) {
		t.Fatalf("the killed voter %d never fell behind the high watermark", follower+1)
	}
	tc.start(follower)
	if !poll(requestTimeout, func() bool {
		q := describeQuorumOn(t, tc.addrs()[survivor])
		for _, v := range q.CurrentVoters {
			if v.ReplicaID == int32(follower+1) {
				return v.LogEndOffset >= q.HighWatermark
			}
		}
		return false
	}) {
		t.Fatalf("voter %d never caught up after its restart", follower+1)
	}
	if _, ok := topicOn(t, tc.addrs()[follower], "progress-2"); !ok {
		t.Fatalf("voter %d restarted without the topic created while it was down", follower+1)
	}
}

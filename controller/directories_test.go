package controller

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// dirOf is broker id's only log dir in these scripts.
func dirOf(id int32) UUID { return UUID{0: 0xd1, 15: byte(id)} }

// newDirCluster registers brokers with one log dir each, as Riffle's
// brokers register (BrokerRegistration v2+ LogDirs), and unfences them.
func newDirCluster(t *testing.T, brokers ...int32) *cluster {
	c := &cluster{script: newScript(t), hb: newHeartbeats(testSession), now: time.Unix(1_000_000, 0)}
	for _, id := range brokers {
		c.registerDirs(id, UUID{byte(id)}, dirOf(id))
		c.heartbeat(id, false)
	}
	return c
}

func (c *cluster) registerDirs(id int32, incarnation UUID, dirs ...UUID) {
	c.t.Helper()
	recs, err := planRegisterBroker(c.im, c.hb, BrokerRegistration{
		ID: id, IncarnationID: incarnation, Fenced: true, LogDirs: sortedDirs(dirs),
		Endpoints: []Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9000 + id, SecurityProtocol: "PLAINTEXT"}},
	}, -1, c.now, c.policy())
	if err != nil {
		c.t.Fatal(err)
	}
	c.commit(recs...)
}

func (c *cluster) heartbeatOffline(id int32, dirs ...UUID) *kmsg.BrokerHeartbeatResponse {
	c.t.Helper()
	req := kmsg.NewPtrBrokerHeartbeatRequest()
	req.Version = 1
	req.BrokerID = id
	req.BrokerEpoch = c.im.Brokers[id].Epoch
	req.CurrentMetadataOffset = int64(c.im.Offset)
	for _, d := range dirs {
		req.OfflineLogDirs = append(req.OfflineLogDirs, d)
	}
	return c.send(req)
}

// TestScriptLogDirOffline: replicas are placed in their broker's only log
// dir; a heartbeat naming that dir offline takes the broker's replicas out
// of every ISR and moves its leaderships, without fencing it; a replica in
// an offline dir is reported offline and never elected, even uncleanly;
// a restart that registers the dir online again lets it rejoin.
func TestScriptLogDirOffline(t *testing.T) {
	c := newDirCluster(t, 1, 2, 3)
	c.createAssigned("t", []int32{1, 2, 3}, []int32{2, 1, 3})
	c.createAssigned("u", []int32{1})
	p0 := c.part("t", 0)
	if want := []UUID{dirOf(1), dirOf(2), dirOf(3)}; !slices.Equal(p0.Directories, want) {
		t.Fatalf("directories %v, want %v", p0.Directories, want)
	}

	before := c.im.Offset
	resp := c.heartbeatOffline(1, dirOf(1))
	if resp.ErrorCode != 0 || resp.IsFenced {
		t.Fatalf("heartbeat with an offline dir: %+v", resp)
	}
	c.wantPart("leader in the offline dir", "t", 0, 2, 2, 3)
	c.wantPart("follower in the offline dir", "t", 1, 2, 2, 3)
	// The only replica keeps its ISR (an ISR never empties) and leads
	// nothing.
	c.wantPart("only replica", "u", 0, NoLeader, 1)
	if b := c.im.Brokers[1]; b.Fenced || !slices.Equal(b.LogDirs, []UUID{DirLost}) {
		t.Fatalf("broker 1 after its only dir failed: %+v", b)
	}
	if !c.im.ReplicaOffline(c.part("t", 0), 1) || c.im.ReplicaOffline(c.part("t", 0), 2) {
		t.Fatal("offline replicas not reported as such")
	}
	// Reporting it again changes nothing.
	at := c.im.Offset
	c.heartbeatOffline(1, dirOf(1))
	if c.im.Offset != at || at == before {
		t.Fatalf("offsets %d → %d → %d", before, at, c.im.Offset)
	}
	// Neither clean nor unclean election picks a replica in an offline dir.
	c.unclean = true
	c.commit(planUncleanLeaderElections(c.im, c.policy())...)
	c.wantPart("unclean with the only replica offline", "u", 0, NoLeader, 1)

	// Restarted with the dir repaired: online again, the leaderless
	// partition gets its leader back once the broker is unfenced.
	for range 4 { // broker 1 stopped: its session expires
		c.tick(3 * time.Second)
		c.heartbeat(2, false)
		c.heartbeat(3, false)
	}
	c.registerDirs(1, UUID{9}, dirOf(1))
	c.heartbeat(1, false)
	if c.im.Brokers[1].Fenced || c.im.ReplicaOffline(c.part("t", 0), 1) {
		t.Fatalf("broker 1 after restart: %+v", c.im.Brokers[1])
	}
	c.wantPart("back online", "u", 0, 1, 1)

	// Snapshots keep directories and log dirs.
	im, err := NewImage(c.im.ClusterID).Apply(1, c.im.Records())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(im.Topics["t"].Partitions[0].Directories, c.part("t", 0).Directories) ||
		!slices.Equal(im.Brokers[1].LogDirs, c.im.Brokers[1].LogDirs) {
		t.Fatal("snapshot lost directories")
	}
}

// TestScriptLogDirOfflineOneOfTwo: with two log dirs only the replicas in
// the failed one move; a reassignment keeps the dirs of replicas that stay.
func TestScriptLogDirOfflineOneOfTwo(t *testing.T) {
	c := newDirCluster(t, 2, 3)
	a, b := UUID{0: 0xa, 15: 1}, UUID{0: 0xb, 15: 1}
	c.registerDirs(1, UUID{1}, a, b)
	c.heartbeat(1, false)
	c.createAssigned("t", []int32{1, 2}, []int32{1, 3})
	// Two dirs: unassigned until the broker says where (defaultDir).
	if d := c.part("t", 0).Directory(1); d != DirUnassigned {
		t.Fatalf("replica of a two-dir broker placed in %s", d)
	}
	// The broker's assignment, as AssignReplicasToDirs records it.
	tid := c.im.Topics["t"].ID
	c.commit(&PartitionChangeRecord{PartitionId: 0, TopicId: tid, Leader: NoLeaderChange, Directories: []UUID{a, dirOf(2)}},
		&PartitionChangeRecord{PartitionId: 1, TopicId: tid, Leader: NoLeaderChange, Directories: []UUID{b, dirOf(3)}})
	c.heartbeatOffline(1, a)
	c.wantPart("in the failed dir", "t", 0, 2, 2)
	c.wantPart("in the healthy dir", "t", 1, 1, 1, 3)
	if got := c.im.Brokers[1].LogDirs; !slices.Equal(got, []UUID{b}) {
		t.Fatalf("online dirs %v", got)
	}
	// A replica set change keeps the dirs of the replicas that stay.
	c.commit(&PartitionChangeRecord{PartitionId: 1, TopicId: tid, Leader: NoLeaderChange, Replicas: []int32{3, 1, 2}})
	if got := c.part("t", 1).Directories; !slices.Equal(got, []UUID{dirOf(3), b, DirUnassigned}) {
		t.Fatalf("directories after a replica change: %v", got)
	}
}

// TestScriptAssignReplicasToDirs: a broker with two log dirs assigns its
// replicas; unknown topics and partitions it does not host are refused; a
// stale epoch refuses the whole request; assigning a replica to a dir
// already reported offline takes it out of the ISR and its leadership.
func TestScriptAssignReplicasToDirs(t *testing.T) {
	c := newDirCluster(t, 2, 3)
	a, b := UUID{0: 0xa, 15: 1}, UUID{0: 0xb, 15: 1}
	c.registerDirs(1, UUID{1}, a, b)
	c.heartbeat(1, false)
	c.createAssigned("t", []int32{1, 2}, []int32{1, 3}, []int32{2, 3})
	tid := c.im.Topics["t"].ID
	assign := func(epoch int64, dir UUID, topic UUID, parts ...int32) *kmsg.AssignReplicasToDirsResponse {
		t.Helper()
		req := kmsg.NewPtrAssignReplicasToDirsRequest()
		req.BrokerID, req.BrokerEpoch = 1, epoch
		rd := kmsg.NewAssignReplicasToDirsRequestDirectory()
		rd.ID = dir
		rt := kmsg.NewAssignReplicasToDirsRequestDirectoryTopic()
		rt.TopicID = topic
		for _, p := range parts {
			rp := kmsg.NewAssignReplicasToDirsRequestDirectoryTopicPartition()
			rp.Partition = p
			rt.Partitions = append(rt.Partitions, rp)
		}
		rd.Topics = append(rd.Topics, rt)
		req.Directories = append(req.Directories, rd)
		recs, resp := planAssignReplicasToDirs(c.im, req, c.policy())
		c.commit(recs...)
		return resp
	}
	epoch := c.im.Brokers[1].Epoch
	if resp := assign(epoch-1, a, tid, 0); resp.ErrorCode != kerr.StaleBrokerEpoch.Code {
		t.Fatalf("stale epoch: %+v", resp)
	}
	resp := assign(epoch, a, tid, 0, 2, 7)
	codes := []int16{}
	for _, p := range resp.Directories[0].Topics[0].Partitions {
		codes = append(codes, p.ErrorCode)
	}
	if want := []int16{0, kerr.NotLeaderForPartition.Code, kerr.UnknownTopicOrPartition.Code}; !slices.Equal(codes, want) {
		t.Fatalf("error codes %v, want %v", codes, want)
	}
	if resp := assign(epoch, a, UUID{0xee}, 0); resp.Directories[0].Topics[0].Partitions[0].ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("unknown topic id: %+v", resp)
	}
	if d := c.part("t", 0).Directory(1); d != a {
		t.Fatalf("partition 0's replica on 1 is in %s, want %s", d, a)
	}
	if d := c.part("t", 0).Directory(2); d != dirOf(2) {
		t.Fatalf("partition 0's replica on 2 lost its dir: %s", d)
	}
	// b fails before partition 1's replica is assigned to it.
	c.heartbeatOffline(1, b)
	c.wantPart("assigned to the healthy dir", "t", 0, 1, 1, 2)
	c.wantPart("not yet assigned", "t", 1, 1, 1, 3)
	assign(epoch, b, tid, 1)
	c.wantPart("assigned to the offline dir", "t", 1, 3, 3)
}

// TestScriptAlterPartitionRefusesOfflineDirReplica: a leader that saw the
// replica catch up just before its dir failed cannot put it back into the
// ISR (Kafka's ineligibleReplicasForIsr).
func TestScriptAlterPartitionRefusesOfflineDirReplica(t *testing.T) {
	c := newDirCluster(t, 1, 2, 3)
	c.createAssigned("t", []int32{1, 2, 3})
	c.heartbeatOffline(3, dirOf(3))
	p := c.wantPart("offline dir", "t", 0, 1, 1, 2)
	resp := c.alterPartition(c.isrChange(1, "t", 0, p.LeaderEpoch, p.PartitionEpoch, 1, 2, 3))
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.IneligibleReplica.Code {
		t.Fatalf("ISR expansion to a replica in an offline dir: %v", kerr.ErrorForCode(code))
	}
	c.wantPart("after the refused expansion", "t", 0, 1, 1, 2)
}

package server_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/coordinator"
)

// commitWithMetadata commits offset p*10+base for every partition, each with
// its own metadata string, and returns what was committed.
func commitWithMetadata(t testing.TB, adm *kadm.Client, group, topic string, parts int, base int64) kadm.Offsets {
	t.Helper()
	os := kadm.Offsets{}
	for p := int32(0); p < int32(parts); p++ {
		os.Add(kadm.Offset{Topic: topic, Partition: p, At: base + int64(p)*10, LeaderEpoch: -1, Metadata: "meta-" + string(rune('a'+p))})
	}
	resp, err := adm.CommitOffsets(ctxFor(t, requestTimeout), group, os)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	if err := resp.Error(); err != nil {
		t.Fatalf("commit: %v", err)
	}
	return os
}

func checkCommitted(t testing.TB, adm *kadm.Client, group string, want kadm.Offsets) {
	t.Helper()
	var got kadm.OffsetResponses
	ok := poll(requestTimeout, func() bool {
		var err error
		got, err = adm.FetchOffsets(ctxFor(t, requestTimeout), group)
		return err == nil
	})
	if !ok {
		t.Fatalf("fetch offsets of %s failed", group)
	}
	want.Each(func(o kadm.Offset) {
		g, found := got.Lookup(o.Topic, o.Partition)
		if !found || g.Err != nil || g.At != o.At || g.Metadata != o.Metadata {
			t.Fatalf("%s %s/%d: fetched %+v, committed %+v", group, o.Topic, o.Partition, g, o)
		}
	})
}

// TestGroupOffsetsSurviveRestart: committed offsets and metadata survive a
// graceful restart, and a consumer in the group resumes from them.
func TestGroupOffsetsSurviveRestart(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, groupTestConfig)
	adm := newAdmin(t, tb.addr())
	const topic, parts, n = "restart-group", 4, 4000
	createTopic(t, adm, topic, parts, nil)
	cl := newClient(t, tb.addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceGenerated(t, cl, topic, 0, n, parts, genBase(), nil)
	cl.Close()
	committed := commitWithMetadata(t, adm, "resume", topic, parts, 100)

	// A real group too, with members and an assignment, persisted.
	ctx := ctxFor(t, readTimeout)
	got := newConsumed()
	gc := startGroupConsumer(t, ctx, tb.addr(), "live", topic, got)
	if !poll(readTimeout, func() bool { return got.count() >= n }) {
		t.Fatalf("consumed %d of %d", got.count(), n)
	}
	waitCommittedAtEnd(t, adm, "live", topic, endOffsets(t, adm, topic))
	gc.close()

	tb.restart()
	adm = newAdmin(t, tb.addr())
	checkCommitted(t, adm, "resume", committed)
	waitCommittedAtEnd(t, adm, "live", topic, endOffsets(t, adm, topic))

	// A consumer of "resume" starts exactly at the committed positions.
	resumed := newConsumed()
	ctx2, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	startGroupConsumer(t, ctx2, tb.addr(), "resume", topic, resumed)
	want := 0
	committed.Each(func(o kadm.Offset) { want += n/parts - int(o.At) })
	if !poll(readTimeout, func() bool { return resumed.count() >= want }) {
		t.Fatalf("resumed consumer read %d of %d", resumed.count(), want)
	}
	resumed.mu.Lock()
	defer resumed.mu.Unlock()
	for p, offs := range resumed.seen {
		o, _ := committed.Lookup(topic, p)
		for off := range offs {
			if off < o.At {
				t.Fatalf("partition %d: read offset %d below the committed %d", p, off, o.At)
			}
		}
	}
}

// TestGroupOffsetsSurviveKill: offsets committed before a SIGKILL are there
// after the restart, groups too.
func TestGroupOffsetsSurviveKill(t *testing.T) {
	t.Parallel()
	bin := buildRiffle(t)
	dir := t.TempDir()
	port, ctrlPort := freePort(t), freePort(t)
	proc := startProc(t, bin, dir, port, ctrlPort)
	adm := newAdmin(t, proc.addr())
	const topic, parts = "kill-group", 3
	createTopic(t, adm, topic, parts, nil)
	committed := commitWithMetadata(t, adm, "survivor", topic, parts, 7)
	second := commitWithMetadata(t, adm, "survivor", topic, parts, 20) // the latest wins
	proc.kill()

	proc = startProc(t, bin, dir, port, ctrlPort)
	adm = newAdmin(t, proc.addr())
	_ = committed
	checkCommitted(t, adm, "survivor", second)
	lg, err := adm.ListGroups(ctxFor(t, requestTimeout))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := lg["survivor"]; !ok {
		t.Fatalf("group missing after restart: %v", lg)
	}
}

// TestGroupLagAndReset: kadm's lag for a group, then a reset of an empty
// group's offsets to the start, which its next consumer obeys.
func TestGroupLagAndReset(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, groupTestConfig)
	adm := newAdmin(t, tb.addr())
	const topic, group, parts, n = "lag", "lag", 3, 3000
	createTopic(t, adm, topic, parts, nil)
	cl := newClient(t, tb.addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceGenerated(t, cl, topic, 0, n, parts, genBase(), nil)
	commitWithMetadata(t, adm, group, topic, parts, 100) // committed 100, 110, 120

	lag, err := adm.Lag(ctxFor(t, requestTimeout), group)
	if err != nil {
		t.Fatal(err)
	}
	gl := lag[group]
	if gl.Error() != nil || gl.State != "Empty" {
		t.Fatalf("lag: %+v (err %v)", gl, gl.Error())
	}
	for p := int32(0); p < parts; p++ {
		l, ok := gl.Lag.Lookup(topic, p)
		want := int64(n/parts) - (100 + int64(p)*10)
		if !ok || l.Lag != want {
			t.Fatalf("partition %d lag %+v, want %d", p, l, want)
		}
	}

	// Reset the empty group to the start, as kafka-consumer-groups
	// --reset-offsets --to-earliest does.
	reset := kadm.Offsets{}
	for p := int32(0); p < parts; p++ {
		reset.Add(kadm.Offset{Topic: topic, Partition: p, At: 0, LeaderEpoch: -1})
	}
	resp, err := adm.CommitOffsets(ctxFor(t, requestTimeout), group, reset)
	if err != nil || resp.Error() != nil {
		t.Fatalf("reset: %v %v", err, resp.Error())
	}
	got := newConsumed()
	ctx := ctxFor(t, readTimeout)
	gc := startGroupConsumer(t, ctx, tb.addr(), group, topic, got)
	if !poll(readTimeout, func() bool { return got.count() >= n }) {
		t.Fatalf("after reset read %d of %d", got.count(), n)
	}
	waitCommittedAtEnd(t, adm, group, topic, endOffsets(t, adm, topic))
	lag, err = adm.Lag(ctxFor(t, requestTimeout), group)
	if err != nil {
		t.Fatal(err)
	}
	if gl := lag[group]; gl.Error() != nil || gl.Lag.Total() != 0 || gl.State != "Stable" {
		t.Fatalf("lag after consuming: %+v total %d", gl, gl.Lag.Total())
	}
	// A non-empty group cannot be reset (UNKNOWN_MEMBER_ID, as Kafka).
	resp, err = adm.CommitOffsets(ctxFor(t, requestTimeout), group, reset)
	if err == nil && resp.Error() == nil {
		t.Fatal("reset of a live group accepted")
	}
	// OffsetDelete (KIP-496): not while the live group subscribes to
	// the topic; once it is empty, yes.
	del := kadm.TopicsSet{topic: {0: {}}}
	dresp, err := adm.DeleteOffsets(ctxFor(t, requestTimeout), group, del)
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := dresp.Lookup(topic, 0); !errors.Is(e, kerr.GroupSubscribedToTopic) {
		t.Fatalf("delete offsets of a subscribed topic: %v", e)
	}
	gc.close()
	dresp, err = adm.DeleteOffsets(ctxFor(t, requestTimeout), group, del)
	if err != nil || dresp.Error() != nil {
		t.Fatalf("delete offsets of an empty group: %v %v", err, dresp.Error())
	}
	if offs, err := adm.FetchOffsets(ctxFor(t, requestTimeout), group); err != nil {
		t.Fatal(err)
	} else if o, ok := offs.Lookup(topic, 0); ok && o.At >= 0 {
		t.Fatalf("partition 0 still committed after OffsetDelete: %+v", o)
	}
	// Deleting the group removes its offsets.
	dr, err := adm.DeleteGroups(ctxFor(t, requestTimeout), group)
	if err != nil || dr.Error() != nil {
		t.Fatalf("delete group: %v %v", err, dr.Error())
	}
	offs, err := adm.FetchOffsets(ctxFor(t, requestTimeout), group)
	if err != nil || len(offs) != 0 {
		t.Fatalf("offsets after delete: %v %v", offs, err)
	}
}

// TestGroupQuietCases: answers clients rely on that are not errors.
func TestGroupQuietCases(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, groupTestConfig)
	cl := newClient(t, tb.addr())
	ctx := ctxFor(t, requestTimeout)
	// The coordinator's topic exists once a client looks for a group.
	for _, c := range kadm.NewClient(cl).FindGroupCoordinators(ctx, "never-existed") {
		if c.Err != nil {
			t.Fatal(c.Err)
		}
	}
	raw := dialRaw(t, tb.addr())
	// OffsetFetch for a group that never existed: -1, no error, at
	// every version (librdkafka fetches before it joins).
	for _, v := range []int16{1, 5, 7, 8, 9} {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = v
		if v < 8 {
			req.Group = "never-existed"
			req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0, 1}}}
		} else {
			req.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "never-existed", MemberEpoch: -1,
				Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0, 1}}}}}
		}
		resp := raw.roundTrip(req).(*kmsg.OffsetFetchResponse)
		if v >= 8 {
			g := resp.Groups[0]
			if g.ErrorCode != 0 || len(g.Topics) != 1 || g.Topics[0].Partitions[1].Offset != -1 || g.Topics[0].Partitions[1].ErrorCode != 0 {
				t.Fatalf("v%d: %+v", v, resp)
			}
			continue
		}
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 {
			t.Fatalf("v%d: %+v", v, resp)
		}
		for _, p := range resp.Topics[0].Partitions {
			if p.Offset != -1 || p.ErrorCode != 0 {
				t.Fatalf("v%d partition %+v", v, p)
			}
		}
	}
	// Batched OffsetFetch (v8+) across groups of different shards.
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "a"}, {Group: "b", Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{3}}}}}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Groups) != 2 || resp.Groups[1].Topics[0].Partitions[0].Offset != -1 {
		t.Fatalf("batched fetch: %+v %v", resp, err)
	}
	// DescribeGroups of an unknown group: Dead.
	dreq := kmsg.NewPtrDescribeGroupsRequest()
	dreq.Version = 5
	dreq.Groups = []string{"never-existed"}
	dresp := raw.roundTrip(dreq).(*kmsg.DescribeGroupsResponse)
	if len(dresp.Groups) != 1 || dresp.Groups[0].State != "Dead" || dresp.Groups[0].ErrorCode != 0 {
		t.Fatalf("describe unknown group v5: %+v", dresp)
	}
	dreq.Version = 6 // KIP-1043: GROUP_ID_NOT_FOUND from v6
	dresp = raw.roundTrip(dreq).(*kmsg.DescribeGroupsResponse)
	if len(dresp.Groups) != 1 || dresp.Groups[0].State != "Dead" || dresp.Groups[0].ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("describe unknown group v6: %+v", dresp)
	}
	// FindCoordinator batched (v4+).
	freq := kmsg.NewPtrFindCoordinatorRequest()
	freq.CoordinatorKeys = []string{"x", "y", "z"}
	fresp, err := freq.RequestWith(ctx, cl)
	if err != nil || len(fresp.Coordinators) != 3 {
		t.Fatalf("find coordinator: %+v %v", fresp, err)
	}
	for _, c := range fresp.Coordinators {
		if c.ErrorCode != 0 || c.Port == 0 {
			t.Fatalf("coordinator for %s: %+v", c.Key, c)
		}
	}
}

// TestGroupStaticMembership: a static member (group.instance.id) that
// restarts within its session gets its partitions back without a rebalance:
// the other member sees no revocation or assignment.
func TestGroupStaticMembership(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, groupTestConfig)
	adm := newAdmin(t, tb.addr())
	const topic, group, parts = "static", "static", 4
	createTopic(t, adm, topic, parts, nil)
	ctx := ctxFor(t, readTimeout)
	got := newConsumed()
	static := func(id string, extra ...kgo.Opt) *groupConsumer {
		return startGroupConsumer(t, ctx, tb.addr(), group, topic, got,
			append([]kgo.Opt{kgo.InstanceID(id), kgo.SessionTimeout(20 * time.Second)}, extra...)...)
	}
	var bAssigned atomic.Int32
	a := static("a")
	waitSettled(t, adm, "classic", group, topic, parts, 1)
	static("b", kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) { bAssigned.Add(1) }))
	waitSettled(t, adm, "classic", group, topic, parts, 2)
	// The group is settled once the coordinator has answered b's
	// SyncGroup; b's callback runs a moment later, in the client.
	if !poll(readTimeout, func() bool { return bAssigned.Load() > 0 }) {
		t.Fatal("b was never assigned partitions")
	}
	ownersBefore, _, _ := groupAssignments(t, adm, group, topic)
	n := bAssigned.Load()
	a.close() // a static member does not leave on close
	static("a")
	// The restarted member is back in the group under a new member id
	// with the same partitions.
	var last string
	ok := poll(readTimeout, func() bool {
		owners, state, members := groupAssignments(t, adm, group, topic)
		last = fmt.Sprintf("%s %d %v", state, members, owners)
		if state != "Stable" || members != 2 {
			return false
		}
		for p, o := range owners {
			if len(o) != 1 || len(ownersBefore[p]) != 1 {
				return false
			}
		}
		return len(owners) == parts
	})
	if !ok {
		t.Fatalf("group did not recover: %s", last)
	}
	if m := bAssigned.Load(); m != n {
		t.Fatalf("b saw %d assignments after a's restart: the static restart rebalanced", m-n)
	}
}

// TestGroupRecordsReadableByTools: __consumer_offsets holds Kafka's record
// schemas, in the partition Kafka would choose, so tools that read the topic
// (kafka-console-consumer's OffsetsMessageFormatter, kcl) understand it.
func TestGroupRecordsReadableByTools(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, groupTestConfig)
	adm := newAdmin(t, tb.addr())
	const topic, group = "tooling", "tooling-group"
	createTopic(t, adm, topic, 1, nil)
	commitWithMetadata(t, adm, group, topic, 1, 5)

	part := coordinator.PartitionFor(group, 50)
	cl := newClient(t, tb.addr(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		"__consumer_offsets": {part: kgo.NewOffset().AtStart()},
	}))
	ctx := ctxFor(t, requestTimeout)
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("no offset commit record found in __consumer_offsets")
		}
		for _, r := range fs.Records() {
			var k kmsg.OffsetCommitKey
			if err := k.ReadFrom(r.Key); err != nil || k.Version > 1 {
				continue
			}
			var v kmsg.OffsetCommitValue
			if err := v.ReadFrom(r.Value); err != nil {
				t.Fatalf("offset commit value: %v", err)
			}
			if k.Group != group || k.Topic != topic || k.Partition != 0 || v.Offset != 5 || v.Metadata != "meta-a" {
				t.Fatalf("record %+v %+v", k, v)
			}
			return
		}
	}
}

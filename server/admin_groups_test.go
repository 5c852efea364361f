package server_test

// kafka-consumer-groups.sh, command by command, for a classic group and a
// KIP-848 group: the same admin calls Kafka 4.x's ConsumerGroupCommand makes,
// checked against what Apache Kafka's group coordinator answers.

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	cgTopic      = "cg-orders"
	cgOther      = "cg-audit"
	cgPartitions = 3
	cgPerPart    = 20
)

// cgTimestamp is the timestamp of record i of every partition: one second
// apart, so that --to-datetime and --by-duration have exact answers.
func cgTimestamp(base time.Time, i int) time.Time { return base.Add(time.Duration(i) * time.Second) }

// produceTimed writes cgPerPart records to every partition of topic, record
// i stamped cgTimestamp(base, i).
func produceTimed(t testing.TB, addr, topic string, parts int, base time.Time) {
	t.Helper()
	cl := newClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for p := range parts {
		for i := range cgPerPart {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(p), Timestamp: cgTimestamp(base, i), Value: fmt.Appendf(nil, "%d-%d", p, i)})
		}
	}
	if err := cl.ProduceSync(ctxFor(t, requestTimeout), recs...).FirstErr(); err != nil {
		t.Fatalf("produce %s: %v", topic, err)
	}
}

// TestAdminConsumerGroupsCLI reproduces kafka-consumer-groups.sh --list,
// --describe (members, offsets, lag, state), --reset-offsets (every
// specifier), --delete-offsets and --delete against a classic group and a
// KIP-848 group, while active and once empty.
func TestAdminConsumerGroupsCLI(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, groupTestConfig)
	cl := newClient(t, tb.addr())
	adm := kadm.NewClient(cl)
	createTopic(t, adm, cgTopic, cgPartitions, nil)
	createTopic(t, adm, cgOther, 1, nil)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	produceTimed(t, tb.addr(), cgTopic, cgPartitions, base)
	produceTimed(t, tb.addr(), cgOther, 1, base)

	for _, tc := range []struct {
		name, group, groupType string
		opts                   []kgo.Opt
	}{
		{name: "classic", group: "cg-classic", groupType: "classic"},
		{name: "consumer", group: "cg-848", groupType: "consumer", opts: []kgo.Opt{kgo.ServerSideBalancer()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runConsumerGroupsCLI(t, tb.addr(), adm, base, tc.group, tc.groupType, tc.opts)
		})
	}
}

func runConsumerGroupsCLI(t *testing.T, addr string, adm *kadm.Client, base time.Time, group, groupType string, opts []kgo.Opt) {
	ctx := ctxFor(t, readTimeout)
	into := newConsumed()
	gc := startGroupConsumer(t, ctx, addr, group, cgTopic, into, opts...)

	// The consumer reads everything and commits it: lag 0 everywhere.
	if !poll(readTimeout, func() bool {
		offs, err := adm.FetchOffsets(ctx, group)
		if err != nil || offs.Error() != nil {
			return false
		}
		for p := range int32(cgPartitions) {
			if o, ok := offs.Lookup(cgTopic, p); !ok || o.At != cgPerPart {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("group %s did not commit every record (read %d)", group, into.count())
	}
	if !poll(readTimeout, func() bool { return describeCLI(t, adm, group, groupType).state == "Stable" }) {
		t.Fatalf("group %s never became Stable: %+v", group, describeCLI(t, adm, group, groupType))
	}

	// --list --state Stable --type <type> (ListGroups v5 with both filters).
	listed, err := adm.ListGroupsByType(ctx, []string{groupType}, "Stable")
	if err != nil {
		t.Fatalf("ListGroups: %v", err)
	}
	if g, ok := listed[group]; !ok || g.State != "Stable" || g.ProtocolType != "consumer" {
		t.Fatalf("--list --state Stable --type %s: %+v", groupType, listed)
	}
	other := map[string]string{"classic": "consumer", "consumer": "classic"}[groupType]
	if listed, err = adm.ListGroupsByType(ctx, []string{other}); err != nil {
		t.Fatalf("ListGroups: %v", err)
	} else if _, ok := listed[group]; ok {
		t.Fatalf("--list --type %s lists %s group %s", other, groupType, group)
	}
	if listed, err = adm.ListGroups(ctx, "Empty"); err != nil {
		t.Fatalf("ListGroups: %v", err)
	} else if _, ok := listed[group]; ok {
		t.Fatalf("--list --state Empty lists the Stable group %s", group)
	}

	// --describe --members: one member owning every partition.
	d := describeCLI(t, adm, group, groupType)
	if len(d.members) != 1 || d.assigned != cgPartitions {
		t.Fatalf("--describe --members: %+v", d)
	}

	// --describe --offsets: committed offset, log end offset and lag.
	checkLag(t, adm, group, map[int32]int64{0: cgPerPart, 1: cgPerPart, 2: cgPerPart})

	// --reset-offsets --execute on an active group: the tool refuses by
	// itself, but the coordinator refuses the admin commit too, as Kafka
	// (Classic/ConsumerGroup.validateOffsetCommit): UNKNOWN_MEMBER_ID.
	resp, err := adm.CommitOffsets(ctx, group, offsetsFor(cgTopic, map[int32]int64{0: 0}))
	if err != nil {
		t.Fatalf("CommitOffsets: %v", err)
	}
	if r, _ := resp.Lookup(cgTopic, 0); !errors.Is(r.Err, kerr.UnknownMemberID) {
		t.Fatalf("admin commit to active %s group: %v, want UNKNOWN_MEMBER_ID", groupType, r.Err)
	}

	// --delete-offsets on an active group: refused for a subscribed topic
	// (KIP-496), allowed for another.
	del, err := adm.DeleteOffsets(ctx, group, kadm.TopicsSet{cgTopic: {0: {}}, cgOther: {0: {}}})
	if err != nil {
		t.Fatalf("DeleteOffsets: %v", err)
	}
	if e, _ := del.Lookup(cgTopic, 0); !errors.Is(e, kerr.GroupSubscribedToTopic) {
		t.Fatalf("delete-offsets of a subscribed topic: %v, want GROUP_SUBSCRIBED_TO_TOPIC", e)
	}
	if e, ok := del.Lookup(cgOther, 0); !ok || e != nil {
		t.Fatalf("delete-offsets of an unsubscribed topic: %v (present %v)", e, ok)
	}

	// --delete on an active group: NON_EMPTY_GROUP.
	if _, err := adm.DeleteGroup(ctx, group); !errors.Is(err, kerr.NonEmptyGroup) {
		t.Fatalf("delete active group: %v, want NON_EMPTY_GROUP", err)
	}

	// The consumer leaves: the group is Empty, with its offsets.
	gc.close()
	if !poll(readTimeout, func() bool { return describeCLI(t, adm, group, groupType).state == "Empty" }) {
		t.Fatalf("group %s never became Empty: %+v", group, describeCLI(t, adm, group, groupType))
	}
	if d := describeCLI(t, adm, group, groupType); len(d.members) != 0 {
		t.Fatalf("empty group still has members: %+v", d)
	}
	if listed, err = adm.ListGroupsByType(ctx, []string{groupType}, "Empty"); err != nil {
		t.Fatalf("ListGroups: %v", err)
	} else if _, ok := listed[group]; !ok {
		t.Fatalf("--list --state Empty misses %s: %+v", group, listed)
	}

	// --reset-offsets, each specifier: compute the target as the tool does
	// (ListOffsets), commit it, read it back.
	all := []int32{0, 1, 2}
	same := func(o int64) map[int32]int64 { return map[int32]int64{0: o, 1: o, 2: o} }
	resetTo := func(name string, want map[int32]int64) {
		t.Helper()
		if err := adm.CommitAllOffsets(ctx, group, offsetsFor(cgTopic, want)); err != nil {
			t.Fatalf("--reset-offsets %s: %v", name, err)
		}
		checkLag(t, adm, group, want)
	}
	listed0 := func(name string, lo kadm.ListedOffsets, err error) map[int32]int64 {
		t.Helper()
		if err == nil {
			err = lo.Error()
		}
		if err != nil {
			t.Fatalf("%s: ListOffsets: %v", name, err)
		}
		out := map[int32]int64{}
		for _, p := range all {
			o, _ := lo.Lookup(cgTopic, p)
			out[p] = o.Offset
		}
		return out
	}

	lo, err := adm.ListStartOffsets(ctx, cgTopic)
	resetTo("--to-earliest", listed0("--to-earliest", lo, err))
	if got := committed(t, adm, group); got[0] != 0 {
		t.Fatalf("--to-earliest: %v", got)
	}
	lo, err = adm.ListEndOffsets(ctx, cgTopic)
	resetTo("--to-latest", listed0("--to-latest", lo, err))

	// --to-datetime: the first record at or after base+7.5s is record 8.
	at := cgTimestamp(base, 7).Add(500 * time.Millisecond)
	lo, err = adm.ListOffsetsAfterMilli(ctx, at.UnixMilli(), cgTopic)
	got := listed0("--to-datetime", lo, err)
	if got[1] != 8 {
		t.Fatalf("--to-datetime %v: %v, want 8", at, got)
	}
	resetTo("--to-datetime", got)

	// --by-duration: now minus the duration, the same lookup.
	dur := time.Since(cgTimestamp(base, 12))
	lo, err = adm.ListOffsetsAfterMilli(ctx, time.Now().Add(-dur).UnixMilli(), cgTopic)
	got = listed0("--by-duration", lo, err)
	if got[2] < 12 || got[2] > 13 {
		t.Fatalf("--by-duration %v: %v, want 12 (or 13)", dur, got)
	}
	resetTo("--by-duration", got)

	// --shift-by -5 from a commit of 3: clamped to the log start, as the tool.
	resetTo("--to-offset 3", same(3))
	shifted := map[int32]int64{}
	for p, o := range committed(t, adm, group) {
		shifted[p] = max(o-5, 0)
	}
	resetTo("--shift-by -5", shifted)
	if got := committed(t, adm, group); got[0] != 0 {
		t.Fatalf("--shift-by -5: %v", got)
	}
	// --to-offset beyond the log end: clamped to the end by the tool.
	resetTo("--to-offset 99", same(min(99, cgPerPart)))

	// --delete-offsets --topic on the empty group: gone, fetch answers -1.
	del, err = adm.DeleteOffsets(ctx, group, kadm.TopicsSet{cgTopic: {0: {}, 1: {}, 2: {}}})
	if err != nil || del.Error() != nil {
		t.Fatalf("--delete-offsets on empty group: %v %v", err, del.Error())
	}
	offs, err := adm.FetchOffsetsForTopics(ctx, group, cgTopic)
	if err != nil {
		t.Fatalf("FetchOffsets: %v", err)
	}
	for _, p := range all {
		if o, ok := offs.Lookup(cgTopic, p); !ok || o.At != -1 || o.Err != nil {
			t.Fatalf("partition %d after delete-offsets: %+v", p, o)
		}
	}

	// --delete: the group and its offsets are gone; a second delete and a
	// describe say GROUP_ID_NOT_FOUND.
	resetTo("--to-offset 4", same(4))
	if _, err := adm.DeleteGroup(ctx, group); err != nil {
		t.Fatalf("--delete: %v", err)
	}
	if _, err := adm.DeleteGroup(ctx, group); !errors.Is(err, kerr.GroupIDNotFound) {
		t.Fatalf("second --delete: %v, want GROUP_ID_NOT_FOUND", err)
	}
	if listed, err = adm.ListGroups(ctx); err != nil {
		t.Fatalf("ListGroups: %v", err)
	} else if _, ok := listed[group]; ok {
		t.Fatalf("deleted group %s still listed", group)
	}
	if d := describeCLI(t, adm, group, groupType); d.state != "Dead" || !errors.Is(d.err, kerr.GroupIDNotFound) {
		t.Fatalf("describe deleted group: %+v", d)
	}
	if got := committed(t, adm, group); len(got) != 0 {
		t.Fatalf("deleted group kept offsets: %v", got)
	}

	// --reset-offsets on a group that does not exist creates a "simple"
	// group: classic, Empty, no protocol type (Kafka's
	// getOrMaybeCreateClassicGroup for generation -1).
	resetTo("--to-offset 5 (new group)", same(5))
	if listed, err = adm.ListGroupsByType(ctx, []string{"classic"}, "Empty"); err != nil {
		t.Fatalf("ListGroups: %v", err)
	} else if g, ok := listed[group]; !ok || g.ProtocolType != "" {
		t.Fatalf("simple group after reset: %+v", listed)
	}
	if _, err := adm.DeleteGroup(ctx, group); err != nil {
		t.Fatalf("--delete simple group: %v", err)
	}
}

// cgDescription is what --describe prints about a group.
type cgDescription struct {
	state    string
	members  []string
	assigned int // partitions assigned across members
	err      error
}

// describeCLI describes group as ConsumerGroupCommand does: with
// ConsumerGroupDescribe first, then DescribeGroups when the coordinator
// answers GROUP_ID_NOT_FOUND (a classic group, KIP-848's fallback).
func describeCLI(t testing.TB, adm *kadm.Client, group, groupType string) cgDescription {
	t.Helper()
	ctx := ctxFor(t, requestTimeout)
	cd, err := adm.DescribeConsumerGroups(ctx, group)
	if err != nil {
		t.Fatalf("ConsumerGroupDescribe: %v", err)
	}
	g := cd[group]
	if g.Err == nil {
		if groupType != "consumer" {
			t.Fatalf("ConsumerGroupDescribe answers for %s group %s", groupType, group)
		}
		out := cgDescription{state: g.State}
		for _, m := range g.Members {
			out.members = append(out.members, m.MemberID)
			m.Assignment.Each(func(string, int32) { out.assigned++ })
		}
		return out
	}
	if !errors.Is(g.Err, kerr.GroupIDNotFound) {
		t.Fatalf("ConsumerGroupDescribe %s: %v", group, g.Err)
	}
	dg, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		t.Fatalf("DescribeGroups: %v", err)
	}
	c := dg[group]
	out := cgDescription{state: c.State, err: c.Err}
	if c.Err == nil && groupType == "consumer" {
		t.Fatalf("DescribeGroups answers for KIP-848 group %s: %+v", group, c)
	}
	if c.Err == nil && c.ProtocolType != "consumer" {
		t.Fatalf("classic group protocol type %q", c.ProtocolType)
	}
	for _, m := range c.Members {
		out.members = append(out.members, m.MemberID)
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, tp := range a.Topics {
				out.assigned += len(tp.Partitions)
			}
		}
	}
	return out
}

func offsetsFor(topic string, at map[int32]int64) kadm.Offsets {
	os := make(kadm.Offsets)
	for p, o := range at {
		os.Add(kadm.Offset{Topic: topic, Partition: p, At: o, LeaderEpoch: -1})
	}
	return os
}

// committed is the group's committed offsets of cgTopic (OffsetFetch of
// every topic, as --describe --offsets).
func committed(t testing.TB, adm *kadm.Client, group string) map[int32]int64 {
	t.Helper()
	offs, err := adm.FetchOffsets(ctxFor(t, requestTimeout), group)
	if err != nil || offs.Error() != nil {
		t.Fatalf("FetchOffsets %s: %v %v", group, err, offs.Error())
	}
	out := map[int32]int64{}
	for p, o := range offs[cgTopic] {
		out[p] = o.At
	}
	return out
}

// checkLag computes --describe --offsets' columns (CURRENT-OFFSET from
// OffsetFetch, LOG-END-OFFSET from ListOffsets, LAG) and checks the commits.
func checkLag(t testing.TB, adm *kadm.Client, group string, want map[int32]int64) {
	t.Helper()
	got := committed(t, adm, group)
	ends, err := adm.ListEndOffsets(ctxFor(t, requestTimeout), cgTopic)
	if err != nil || ends.Error() != nil {
		t.Fatalf("ListOffsets: %v %v", err, ends.Error())
	}
	for p, w := range want {
		end, _ := ends.Lookup(cgTopic, p)
		if got[p] != w || end.Offset != cgPerPart || end.Offset-got[p] != cgPerPart-w {
			t.Fatalf("partition %d: current %d end %d, want current %d lag %d", p, got[p], end.Offset, w, cgPerPart-w)
		}
	}
}

// TestAdminConsumerGroupsSarama drives the kafka-consumer-groups.sh
// commands Sarama's ClusterAdmin offers against a classic group.
func TestAdminConsumerGroupsSarama(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, groupTestConfig)
	adm := newAdmin(t, tb.addr())
	createTopic(t, adm, cgTopic, cgPartitions, nil)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	produceTimed(t, tb.addr(), cgTopic, cgPartitions, base)
	ca := saramaClusterAdmin(t, tb.addr())
	const group = "cg-sarama"

	ctx := ctxFor(t, readTimeout)
	into := newConsumed()
	gc := startGroupConsumer(t, ctx, tb.addr(), group, cgTopic, into)
	if !poll(readTimeout, func() bool {
		return committed(t, adm, group)[2] == cgPerPart && committed(t, adm, group)[0] == cgPerPart
	}) {
		t.Fatalf("group never committed: %v", committed(t, adm, group))
	}

	// --list
	groups, err := ca.ListConsumerGroups()
	if err != nil || groups[group] != "consumer" {
		t.Fatalf("ListConsumerGroups: %v %v", groups, err)
	}
	// --describe (DescribeGroups) and --offsets (OffsetFetch).
	if !poll(readTimeout, func() bool {
		ds, err := ca.DescribeConsumerGroups([]string{group})
		return err == nil && len(ds) == 1 && ds[0].State == "Stable" && len(ds[0].Members) == 1
	}) {
		ds, err := ca.DescribeConsumerGroups([]string{group})
		t.Fatalf("DescribeConsumerGroups: %+v %v", ds, err)
	}
	ds, _ := ca.DescribeConsumerGroups([]string{group})
	for _, m := range ds[0].Members {
		a, err := m.GetMemberAssignment()
		if err != nil || len(a.Topics[cgTopic]) != cgPartitions {
			t.Fatalf("member assignment: %+v %v", a, err)
		}
	}
	offs, err := ca.ListConsumerGroupOffsets(group, map[string][]int32{cgTopic: {0, 1, 2}})
	if err != nil {
		t.Fatalf("ListConsumerGroupOffsets: %v", err)
	}
	for p := range int32(cgPartitions) {
		if b := offs.GetBlock(cgTopic, p); b == nil || b.Offset != cgPerPart || b.Err != sarama.ErrNoError {
			t.Fatalf("partition %d: %+v", p, b)
		}
	}
	// Active group: deleting a subscribed topic's offset and the group fail.
	if err := ca.DeleteConsumerGroupOffset(group, cgTopic, 0); !errors.Is(err, sarama.ErrGroupSubscribedToTopic) {
		t.Fatalf("DeleteConsumerGroupOffset on active group: %v", err)
	}
	if err := ca.DeleteConsumerGroup(group); !errors.Is(err, sarama.ErrNonEmptyGroup) {
		t.Fatalf("DeleteConsumerGroup on active group: %v", err)
	}

	gc.close()
	if !poll(readTimeout, func() bool {
		ds, err := ca.DescribeConsumerGroups([]string{group})
		return err == nil && len(ds) == 1 && ds[0].State == "Empty"
	}) {
		t.Fatal("group never became Empty")
	}
	if err := ca.DeleteConsumerGroupOffset(group, cgTopic, 0); err != nil {
		t.Fatalf("DeleteConsumerGroupOffset: %v", err)
	}
	if got := committed(t, adm, group); len(got) != 2 || got[1] != cgPerPart {
		t.Fatalf("after delete-offsets of partition 0: %v", got)
	}
	if err := ca.DeleteConsumerGroup(group); err != nil {
		t.Fatalf("DeleteConsumerGroup: %v", err)
	}
	if err := ca.DeleteConsumerGroup(group); !errors.Is(err, sarama.ErrGroupIDNotFound) {
		t.Fatalf("second DeleteConsumerGroup: %v", err)
	}
}

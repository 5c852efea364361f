package suite

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// GroupDriver is a Driver whose client has a consumer-group API: the classic
// protocol of JoinGroup, SyncGroup, Heartbeat, OffsetCommit, OffsetFetch and
// LeaveGroup, with one of Kafka's eager assignors ("range" at least) on
// offer so that it can share a group with the reference member.
type GroupDriver interface {
	Driver
	// GroupConsume subscribes to topic as a member of group, starting at
	// the earliest offset of partitions where the group has no committed
	// offset, and reads exactly n records (records fetched beyond n are
	// dropped, not committed). It then commits, synchronously, the offset
	// after the last returned record of each partition, and closes the
	// consumer, which leaves the group. Records come back in the order the
	// client delivered them.
	GroupConsume(ctx context.Context, group, topic string, n int) ([]Record, error)
}

func groupDriver(t *testing.T, d Driver) GroupDriver {
	t.Helper()
	gd, ok := d.(GroupDriver)
	if !ok {
		t.Fatalf("%s has no consumer-group driver: implement suite.GroupDriver or mark the scenario n/a in matrix.Clients", d.Name())
	}
	return gd
}

// GroupName returns a unique consumer group id for one cell.
func GroupName(client, scenario string) string { return TopicName(client, scenario) }

// byPartition orders recs by partition, keeping the client's delivery order
// within a partition (an out-of-order delivery must stay visible).
func byPartition(recs []Record) []Record {
	out := append([]Record(nil), recs...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Partition < out[j].Partition })
	return out
}

// committedOffsets fetches group's committed offsets for topic.
func committedOffsets(ctx context.Context, t *testing.T, adm *kadm.Client, group, topic string) map[int32]int64 {
	t.Helper()
	resp, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("OffsetFetch %s: %v", group, err)
	}
	if err := resp.Error(); err != nil {
		t.Fatalf("OffsetFetch %s: %v", group, err)
	}
	out := map[int32]int64{}
	for p, o := range resp[topic] {
		out[p] = o.At
	}
	return out
}

// waitGroupEmpty polls DescribeGroups until group has no members: every
// client's close must send LeaveGroup rather than wait out the session.
func waitGroupEmpty(ctx context.Context, t *testing.T, adm *kadm.Client, group string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	last := ""
	for ctx.Err() == nil {
		dg, err := adm.DescribeGroups(ctx, group)
		if err == nil {
			g := dg[group]
			if g.Err == nil && len(g.Members) == 0 {
				return
			}
			last = fmt.Sprintf("state %q, %d members, err %v", g.State, len(g.Members), g.Err)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Errorf("group %s still has members 10 s after the client closed (no LeaveGroup?): %s", group, last)
}

// testGroup: a consumer-group session reads part of a topic and commits; a
// second session of the same group resumes exactly where the first stopped.
func testGroup(ctx context.Context, t *testing.T, d Driver) {
	gd := groupDriver(t, d)
	_, adm := Reference(t)
	topic := TopicName(d.Name(), "group")
	group := GroupName(d.Name(), "group")
	CreateTopic(ctx, t, adm, topic, 3, nil)
	all := Dataset(3, 6, BaseTime())
	ReferenceProduce(ctx, t, topic, all)

	first, err := gd.GroupConsume(ctx, group, topic, 7)
	if err != nil {
		t.Fatalf("%s first group session: %v", d.Name(), err)
	}
	// Whatever partitions the client read first, each must be a prefix.
	read := Counts(first)
	var want []Record
	for _, r := range all {
		if r.Offset < int64(read[r.Partition]) {
			want = append(want, r)
		}
	}
	for _, msg := range Compare(want, byPartition(first), nil) {
		t.Errorf("first session: %s", msg)
	}
	if len(first) != 7 {
		t.Fatalf("first session returned %d records, want 7", len(first))
	}
	waitGroupEmpty(ctx, t, adm, group)
	committed := committedOffsets(ctx, t, adm, group, topic)
	for p := int32(0); p < 3; p++ {
		c, ok := committed[p]
		if !ok {
			c = 0 // nothing read there; committing nothing is fine
		}
		if c != int64(read[p]) {
			t.Errorf("partition %d: committed offset %d (present %v), want %d (records read)", p, c, ok, read[p])
		}
	}
	if t.Failed() {
		return
	}

	second, err := gd.GroupConsume(ctx, group, topic, len(all)-7)
	if err != nil {
		t.Fatalf("%s second group session: %v", d.Name(), err)
	}
	want = want[:0]
	for _, r := range all {
		if r.Offset >= int64(read[r.Partition]) {
			want = append(want, r)
		}
	}
	for _, msg := range Compare(want, byPartition(second), nil) {
		t.Errorf("second session (resumed at the committed offsets): %s", msg)
	}
	waitGroupEmpty(ctx, t, adm, group)
	committed = committedOffsets(ctx, t, adm, group, topic)
	for p := int32(0); p < 3; p++ {
		if committed[p] != 6 {
			t.Errorf("partition %d: committed offset %d after reading everything, want 6", p, committed[p])
		}
	}
}

// referenceMember is a franz-go group member that consumes (and never
// commits) and records every assignment it is given.
type referenceMember struct {
	cl *kgo.Client
	mu struct {
		sync.Mutex
		current map[int32]bool
		history []string
	}
}

func startReferenceMember(ctx context.Context, t *testing.T, group, topic string) *referenceMember {
	t.Helper()
	m := &referenceMember{}
	m.mu.current = map[int32]bool{}
	set := func(assigned map[string][]int32, add bool) {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, p := range assigned[topic] {
			if add {
				m.mu.current[p] = true
			} else {
				delete(m.mu.current, p)
			}
		}
		if add {
			m.mu.history = append(m.mu.history, partitionSet(m.mu.current))
		}
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(Seeds(t)...),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		// Eager "range": an assignor every client under test offers.
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.DisableAutoCommit(),
		kgo.HeartbeatInterval(300*time.Millisecond),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) { set(a, true) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, r map[string][]int32) { set(r, false) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, l map[string][]int32) { set(l, false) }),
	)
	if err != nil {
		t.Fatalf("reference member: %v", err)
	}
	m.cl = cl
	done := make(chan struct{})
	pollCtx, cancel := context.WithCancel(ctx)
	go func() {
		defer close(done)
		for pollCtx.Err() == nil {
			cl.PollFetches(pollCtx)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		cl.Close()
	})
	return m
}

func partitionSet(m map[int32]bool) string {
	var ps []int
	for p := range m {
		ps = append(ps, int(p))
	}
	sort.Ints(ps)
	return fmt.Sprint(ps)
}

// waitAssigned polls until the member holds exactly want.
func (m *referenceMember) waitAssigned(ctx context.Context, t *testing.T, want string, why string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		m.mu.Lock()
		got, hist := partitionSet(m.mu.current), append([]string(nil), m.mu.history...)
		m.mu.Unlock()
		if got == want {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("reference member holds %s, want %s %s (assignments so far: %v)", got, want, why, hist)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// testRebalance: the reference member owns both partitions of a topic; the
// client joins the group, which must rebalance to one partition each; the
// client reads its partition from the start, commits and leaves, and the
// reference member gets both partitions back.
func testRebalance(ctx context.Context, t *testing.T, d Driver) {
	gd := groupDriver(t, d)
	_, adm := Reference(t)
	topic := TopicName(d.Name(), "rebal")
	group := GroupName(d.Name(), "rebal")
	CreateTopic(ctx, t, adm, topic, 2, nil)
	all := Dataset(2, 10, BaseTime())
	ReferenceProduce(ctx, t, topic, all)

	ref := startReferenceMember(ctx, t, group, topic)
	ref.waitAssigned(ctx, t, "[0 1]", "as the only member")

	got, err := gd.GroupConsume(ctx, group, topic, 10)
	if err != nil {
		t.Fatalf("%s group session next to the reference member: %v", d.Name(), err)
	}
	if len(got) == 0 {
		t.Fatalf("%s read nothing", d.Name())
	}
	p := got[0].Partition
	var want []Record
	for _, r := range all {
		if r.Partition == p {
			want = append(want, r)
		}
	}
	// Exactly one partition's records: with two members and two partitions
	// the range assignor gives each member one.
	for _, msg := range Compare(want, byPartition(got), nil) {
		t.Errorf("%s (two members, two partitions): %s", d.Name(), msg)
	}
	ref.mu.Lock()
	hist := append([]string(nil), ref.mu.history...)
	ref.mu.Unlock()
	other := fmt.Sprintf("[%d]", 1-p)
	sawSplit := false
	for _, h := range hist {
		sawSplit = sawSplit || h == other
	}
	if !sawSplit {
		t.Errorf("reference member never held %s alone while %s held partition %d (assignments: %v)", other, d.Name(), p, hist)
	}
	ref.waitAssigned(ctx, t, "[0 1]", "after the client left")
	if c := committedOffsets(ctx, t, adm, group, topic); c[p] != 10 {
		t.Errorf("partition %d: committed offset %d, want 10", p, c[p])
	}
}

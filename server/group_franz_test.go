package server_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
)

// groupTestConfig shortens the group coordinator's timers for tests, as
// operators do for test clusters (NOTES.md: the 3 s initial delay).
func groupTestConfig(c *config.Broker) {
	c.GroupInitialRebalanceDelayMs = 0
	c.GroupMinSessionTimeoutMs = 1000
	c.GroupConsumerMinSessionTimeoutMs = 1000
	c.GroupConsumerHeartbeatIntervalMs = 500
	c.GroupConsumerSessionTimeoutMs = 3000
	c.GroupConsumerMinHeartbeatIntervalMs = 100
}

// groupConsumer is one member of a consumer group that records, per
// partition, every offset it processed, and commits after processing.
type groupConsumer struct {
	cl      *kgo.Client
	done    chan struct{}
	crashed atomic.Bool // errors after a simulated crash are expected
}

// consumed collects what all members of a group have processed.
type consumed struct {
	mu     sync.Mutex
	seen   map[int32]map[int64]bool
	total  int
	dupes  int
	errors []error
}

func newConsumed() *consumed { return &consumed{seen: map[int32]map[int64]bool{}} }

func (c *consumed) add(r *kgo.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.seen[r.Partition]
	if m == nil {
		m = map[int64]bool{}
		c.seen[r.Partition] = m
	}
	if m[r.Offset] {
		c.dupes++
		return
	}
	m[r.Offset] = true
	c.total++
}

func (c *consumed) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// missing lists partitions whose offsets [0, end) were not all processed.
func (c *consumed) missing(ends map[int32]int64) map[int32]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[int32]int64{}
	for p, end := range ends {
		for o := int64(0); o < end; o++ {
			if !c.seen[p][o] {
				out[p]++
			}
		}
	}
	return out
}

// startGroupConsumer polls until ctx ends or close is called, recording
// what it processed and committing it synchronously after processing
// (at-least-once).
func startGroupConsumer(t testing.TB, ctx context.Context, addr, group, topic string, into *consumed, opts ...kgo.Opt) *groupConsumer {
	t.Helper()
	all := append([]kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(6 * time.Second),
		kgo.HeartbeatInterval(500 * time.Millisecond),
		kgo.RebalanceTimeout(10 * time.Second),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.RetryTimeout(requestTimeout),
		kgo.BlockRebalanceOnPoll(),
	}, opts...)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	gc := &groupConsumer{cl: cl, done: make(chan struct{})}
	go func() {
		defer close(gc.done)
		for ctx.Err() == nil {
			fs := cl.PollRecords(ctx, 500)
			if fs.IsClientClosed() {
				return
			}
			fs.EachRecord(func(r *kgo.Record) { into.add(r) })
			if len(fs.Records()) > 0 {
				cctx, cancel := context.WithTimeout(ctx, requestTimeout)
				err := cl.CommitRecords(cctx, fs.Records()...)
				cancel()
				if err != nil && ctx.Err() == nil && !gc.crashed.Load() && !errors.Is(err, kerr.RebalanceInProgress) && !errors.Is(err, kerr.IllegalGeneration) &&
					!errors.Is(err, kerr.UnknownMemberID) && !errors.Is(err, kerr.StaleMemberEpoch) && !errors.Is(err, context.Canceled) {
					into.mu.Lock()
					into.errors = append(into.errors, err)
					into.mu.Unlock()
				}
			}
			cl.AllowRebalance()
		}
	}()
	t.Cleanup(func() { gc.close() })
	return gc
}

// close leaves the group (LeaveGroup) and stops polling.
func (gc *groupConsumer) close() {
	gc.cl.Close()
	select {
	case <-gc.done:
	case <-time.After(requestTimeout):
	}
}

// crashDialer hands out connections it can sever all at once, so a member
// can vanish without a LeaveGroup, as a killed process does.
type crashDialer struct {
	mu      sync.Mutex
	crashed bool
	conns   []net.Conn
}

func (d *crashDialer) dial(ctx context.Context, network, host string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.crashed {
		return nil, errors.New("crashed")
	}
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, host)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *crashDialer) crash() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.crashed = true
	for _, c := range d.conns {
		_ = c.Close()
	}
}

// kill severs the member's connections and stops it: no LeaveGroup reaches
// the coordinator, whose session timeout must remove the member.
func (gc *groupConsumer) kill(d *crashDialer) {
	gc.crashed.Store(true)
	d.crash()
	gc.close()
}

// groupAssignments describes group and returns, when it is Stable, which
// member owns each partition of topic.
func groupAssignments(t testing.TB, adm *kadm.Client, group, topic string) (map[int32][]string, string, int) {
	t.Helper()
	dg, err := adm.DescribeGroups(ctxFor(t, requestTimeout), group)
	if err != nil {
		return nil, err.Error(), 0
	}
	g := dg[group]
	if g.Err != nil {
		return nil, g.Err.Error(), 0
	}
	owners := map[int32][]string{}
	for _, m := range g.Members {
		ca, ok := m.Assigned.AsConsumer()
		if !ok {
			continue
		}
		for _, at := range ca.Topics {
			if at.Topic != topic {
				continue
			}
			for _, p := range at.Partitions {
				owners[p] = append(owners[p], m.MemberID)
			}
		}
	}
	return owners, g.State, len(g.Members)
}

// consumerGroupAssignments is groupAssignments for a KIP-848 group.
func consumerGroupAssignments(t testing.TB, adm *kadm.Client, group, topic string) (map[int32][]string, string, int) {
	t.Helper()
	dg, err := adm.DescribeConsumerGroups(ctxFor(t, requestTimeout), group)
	if err != nil {
		return nil, err.Error(), 0
	}
	g := dg[group]
	if g.Err != nil {
		return nil, g.Err.Error(), 0
	}
	owners := map[int32][]string{}
	for _, m := range g.Members {
		for p := range m.Assignment[topic] {
			owners[p] = append(owners[p], m.MemberID)
		}
	}
	return owners, g.State, len(g.Members)
}

// waitSettled polls until group is Stable with members members and every
// partition of topic has exactly one owner.
func waitSettled(t testing.TB, adm *kadm.Client, protocol, group, topic string, parts, members int) {
	t.Helper()
	var last string
	describe := groupAssignments
	if protocol == "consumer" {
		describe = consumerGroupAssignments
	}
	ok := poll(readTimeout, func() bool {
		owners, state, n := describe(t, adm, group, topic)
		last = fmt.Sprintf("state %s, %d members, owners %v", state, n, owners)
		if state != "Stable" || n != members || len(owners) != parts {
			return false
		}
		for _, o := range owners {
			if len(o) != 1 {
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("group %s did not settle: %s", group, last)
	}
}

// waitCommittedAtEnd polls until the group's lag is zero on every partition.
func waitCommittedAtEnd(t testing.TB, adm *kadm.Client, group, topic string, ends map[int32]int64) {
	t.Helper()
	var last string
	ok := poll(readTimeout, func() bool {
		offs, err := adm.FetchOffsets(ctxFor(t, requestTimeout), group)
		if err != nil {
			last = err.Error()
			return false
		}
		for p, end := range ends {
			o, ok := offs.Lookup(topic, p)
			if !ok || o.At != end {
				last = fmt.Sprintf("partition %d committed %+v, end %d", p, o.Offset, end)
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("committed offsets of %s never reached the end: %s", group, last)
	}
}

func balancerOpt(name string) kgo.Opt {
	switch name {
	case "range":
		return kgo.Balancers(kgo.RangeBalancer())
	case "cooperative-sticky":
		return kgo.Balancers(kgo.CooperativeStickyBalancer())
	case "consumer":
		return kgo.ServerSideBalancer()
	}
	panic(name)
}

// TestGroupRolling: three consumers share a 12-partition topic while a
// producer writes 300,000 records; members join, leave, and one dies
// without leaving. Every record is processed at least once, the committed
// offsets reach the end, and the settled group owns each partition once.
func TestGroupRolling(t *testing.T) {
	t.Parallel()
	for _, bal := range []string{"range", "cooperative-sticky", "consumer"} {
		t.Run(bal, func(t *testing.T) {
			testGroupRolling(t, bal)
		})
	}
}

func testGroupRolling(t *testing.T, bal string) {
	tb := startBroker(t, groupTestConfig)
	adm := newAdmin(t, tb.addr())
	const parts, total = 12, 300_000
	topic := "rolling-" + bal
	group := "rolling-" + bal
	createTopic(t, adm, topic, parts, nil)
	ctx := ctxFor(t, readTimeout)
	got := newConsumed()
	opts := []kgo.Opt{balancerOpt(bal), kgo.SessionTimeout(3 * time.Second)}
	start := func(extra ...kgo.Opt) *groupConsumer {
		return startGroupConsumer(t, ctx, tb.addr(), group, topic, got, append(append([]kgo.Opt{}, opts...), extra...)...)
	}
	c1, c2 := start(), (*groupConsumer)(nil)
	crash := &crashDialer{}
	c2 = start(kgo.Dialer(crash.dial))
	start()

	cl := newClient(t, tb.addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	base := genBase()
	const chunk = total / 4
	produceGenerated(t, cl, topic, 0, chunk, parts, base, nil)
	start() // a fourth member joins mid-stream
	produceGenerated(t, cl, topic, chunk, 2*chunk, parts, base, nil)
	c1.close() // leaves the group
	produceGenerated(t, cl, topic, 2*chunk, 3*chunk, parts, base, nil)
	c2.kill(crash) // dies without leaving: its session expires
	produceGenerated(t, cl, topic, 3*chunk, total, parts, base, nil)
	start() // and a fifth joins at the end

	ends := endOffsets(t, adm, topic)
	if !poll(readTimeout, func() bool { return len(got.missing(ends)) == 0 }) {
		t.Fatalf("records never consumed, per partition: %v (consumed %d of %d)", got.missing(ends), got.count(), total)
	}
	waitSettled(t, adm, bal, group, topic, parts, 3)
	waitCommittedAtEnd(t, adm, group, topic, ends)
	got.mu.Lock()
	errs := got.errors
	got.mu.Unlock()
	if len(errs) > 0 {
		t.Fatalf("commit errors: %v", errs)
	}
	if bal == "consumer" {
		// kadm.Lag describes groups with DescribeGroups, which (as in
		// Kafka) does not describe KIP-848 groups.
		return
	}
	lag, err := adm.Lag(ctxFor(t, requestTimeout), group)
	if err != nil {
		t.Fatalf("lag: %v", err)
	}
	gl := lag[group]
	if gl.Error() != nil {
		t.Fatalf("lag of %s: %v", group, gl.Error())
	}
	if tot := gl.Lag.Total(); tot != 0 {
		t.Fatalf("lag %d after consuming everything: %v", tot, gl.Lag)
	}
	t.Logf("%s: %d records processed, %d more than once", bal, got.count(), got.dupes)
}

func TestGroupSmoke(t *testing.T) {

	t.Parallel()
	tb := startBroker(t, groupTestConfig)
	adm := newAdmin(t, tb.addr())
	const topic, parts, n = "group-smoke", 4, 2000
	createTopic(t, adm, topic, parts, nil)
	cl := newClient(t, tb.addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceGenerated(t, cl, topic, 0, n, parts, genBase(), nil)

	ctx := ctxFor(t, readTimeout)
	got := newConsumed()
	gc := startGroupConsumer(t, ctx, tb.addr(), "smoke", topic, got)
	if !poll(readTimeout, func() bool { return got.count() >= n }) {
		t.Fatalf("consumed %d of %d", got.count(), n)
	}
	gc.close()
	offs, err := adm.FetchOffsets(ctxFor(t, requestTimeout), "smoke")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("offsets %+v errors %v", offs, got.errors)
	for p := int32(0); p < parts; p++ {
		o, ok := offs.Lookup(topic, p)
		if !ok || o.At != n/parts {
			t.Fatalf("partition %d committed %+v, want %d", p, o, n/parts)
		}
	}
	_ = kmsg.NewPtrJoinGroupRequest
	_ = kadm.NewClient
}

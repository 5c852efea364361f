package server_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
)

// errorLogger records the client log lines that carry a given error: the
// client retries some group errors without surfacing them to a poll.
type errorLogger struct {
	want *kerr.Error
	mu   sync.Mutex
	seen []string
}

func (l *errorLogger) Level() kgo.LogLevel { return kgo.LogLevelInfo }

func (l *errorLogger) Log(_ kgo.LogLevel, msg string, keyvals ...any) {
	for _, kv := range keyvals {
		if err, ok := kv.(error); ok && errors.Is(err, l.want) {
			l.mu.Lock()
			l.seen = append(l.seen, fmt.Sprintf("%s: %v", msg, err))
			l.mu.Unlock()
		}
	}
}

func (l *errorLogger) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.seen...)
}

func describeStatic(t *testing.T, adm *kadm.Client, group string) (kadm.DescribedConsumerGroup, map[string]kadm.ConsumerGroupMember) {
	t.Helper()
	dg, err := adm.DescribeConsumerGroups(ctxFor(t, requestTimeout), group)
	if err != nil {
		t.Fatal(err)
	}
	g := dg[group]
	if g.Err != nil {
		t.Fatal(g.Err)
	}
	byInstance := map[string]kadm.ConsumerGroupMember{}
	for _, m := range g.Members {
		if m.InstanceID != nil {
			byInstance[*m.InstanceID] = m
		}
	}
	return g, byInstance
}

// TestGroupConsumerProtocolStaticRestart: a KIP-848 static member that
// leaves with epoch -2 keeps its partitions; the restarted instance (a new
// franz-go client, so a new member id) takes them over with no rebalance
// and no UNRELEASED_INSTANCE_ID, and carries on from the committed offsets
// (GroupMetadataManager: consumerGroupStaticMemberGroupLeave, then the
// replacement in getOrMaybeCreateStaticConsumerGroupMember).
//
// franz-go's own static leave omits the instance id, which Kafka refuses
// (INVALID_REQUEST "InstanceId can't be null."), and so does Riffle; the
// leave is therefore sent as the Java client sends it, with the instance id.
func TestGroupConsumerProtocolStaticRestart(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, groupTestConfig, func(c *config.Broker) {
		// A session long enough that a busy machine cannot expire the
		// departed member before its replacement joins.
		c.GroupConsumerSessionTimeoutMs = 30000
	})
	adm := newAdmin(t, tb.addr())
	const topic, group, parts, n = "static-848", "static-848", 4, 400
	createTopic(t, adm, topic, parts, nil)
	cl := newClient(t, tb.addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	base := genBase()
	produceGenerated(t, cl, topic, 0, n, parts, base, nil)

	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	got := newConsumed()
	unreleased := &errorLogger{want: kerr.UnreleasedInstanceID}
	member := func(instance string) *groupConsumer {
		return startGroupConsumer(t, ctx, tb.addr(), group, topic, got, kgo.ServerSideBalancer(),
			kgo.InstanceID(instance), kgo.WithLogger(unreleased))
	}
	c1, _ := member("i1"), member("i2")
	if !poll(readTimeout, func() bool { return got.count() >= n }) {
		t.Fatalf("consumed %d of %d", got.count(), n)
	}
	waitCommittedAtEnd(t, adm, group, topic, endOffsets(t, adm, topic))
	waitSettled(t, adm, "consumer", group, topic, parts, 2)
	before, members := describeStatic(t, adm, group)
	old1, old2 := members["i1"], members["i2"]

	c1.close()
	leave := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	leave.Group, leave.MemberID, leave.MemberEpoch, leave.InstanceID = group, old1.MemberID, -2, kmsg.StringPtr("i1")
	resp, err := leave.RequestWith(ctxFor(t, requestTimeout), cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		t.Fatalf("static leave: %v", err)
	}
	parked, members := describeStatic(t, adm, group)
	if m := members["i1"]; m.MemberID != old1.MemberID || m.MemberEpoch != -2 || !equalTopicsSet(m.Assignment, old1.Assignment) || parked.Epoch != before.Epoch {
		t.Fatalf("after the leave: i1 %+v (before %+v), group epoch %d (before %d)", m, old1, parked.Epoch, before.Epoch)
	}

	produceGenerated(t, cl, topic, n, 2*n, parts, base, nil)
	member("i1")
	if !poll(readTimeout, func() bool { return got.count() >= 2*n }) {
		t.Fatalf("consumed %d of %d after the restart", got.count(), 2*n)
	}
	ends := endOffsets(t, adm, topic)
	waitCommittedAtEnd(t, adm, group, topic, ends)
	waitSettled(t, adm, "consumer", group, topic, parts, 2)
	after, members := describeStatic(t, adm, group)
	new1, new2 := members["i1"], members["i2"]
	if new1.MemberID == old1.MemberID || !equalTopicsSet(new1.Assignment, old1.Assignment) ||
		new2.MemberID != old2.MemberID || !equalTopicsSet(new2.Assignment, old2.Assignment) {
		t.Fatalf("after the restart: i1 %+v (before %+v), i2 %+v (before %+v)", new1, old1, new2, old2)
	}
	if after.Epoch != before.Epoch {
		t.Fatalf("the restart rebalanced: group epoch %d, before %d", after.Epoch, before.Epoch)
	}
	if l := unreleased.lines(); len(l) != 0 {
		t.Fatalf("UNRELEASED_INSTANCE_ID on the rejoin: %v", l)
	}
	got.mu.Lock()
	dupes, errs := got.dupes, append([]error(nil), got.errors...)
	got.mu.Unlock()
	if dupes != 0 || len(errs) != 0 {
		t.Fatalf("%d records consumed twice (not resumed from the committed offsets); errors %v", dupes, errs)
	}
	if missing := got.missing(ends); len(missing) != 0 {
		t.Fatalf("missing %v", missing)
	}
}

func equalTopicsSet(a, b kadm.TopicsSet) bool {
	pa, pb := a.Sorted(), b.Sorted()
	return fmt.Sprint(pa) == fmt.Sprint(pb)
}

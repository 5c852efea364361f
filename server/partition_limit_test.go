package server_test

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestAdminPartitionsPerRequestLimit: one CreateTopics or CreatePartitions
// request may add at most 10,000 partitions in all, as Kafka's controller
// bounds one operation's records (QuorumController.MAX_RECORDS_PER_USER_OP);
// over it every topic of the request gets POLICY_VIOLATION and nothing is
// created. Before the bound, a random count made the broker open tens of
// thousands of logs in one request, and every admin request behind it went
// unanswered.
func TestAdminPartitionsPerRequestLimit(t *testing.T) {
	t.Parallel()
	tb := startBroker(t)
	adm := newAdmin(t, tb.addr())
	ctx := ctxFor(t, requestTimeout)

	// CreateTopics: 10,001 in one topic, or 6,000 + 5,000 in two.
	res, err := adm.CreateTopics(ctx, 10_001, 1, nil, "limit-one")
	if err != nil || !errors.Is(res["limit-one"].Err, kerr.PolicyViolation) {
		t.Fatalf("10,001 partitions: %v %+v", err, res["limit-one"])
	}
	res, err = adm.CreateTopics(ctx, 5_500, 1, nil, "limit-x", "limit-y")
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"limit-x", "limit-y"} {
		if !errors.Is(res[topic].Err, kerr.PolicyViolation) {
			t.Fatalf("create %s within an 11,000-partition request: %+v", topic, res[topic])
		}
	}
	// The limit is per request: 10,000 at once is fine.
	vres, err := adm.ValidateCreateTopics(ctx, 10_000, 1, nil, "limit-max")
	if err != nil || vres["limit-max"].Err != nil {
		t.Fatalf("10,000 partitions (validate only): %v %+v", err, vres["limit-max"])
	}

	// CreatePartitions: two topics growing by 5,999 each is 11,998 in all.
	for _, topic := range []string{"limit-a", "limit-b"} {
		createTopic(t, adm, topic, 1, nil)
	}
	pr, err := adm.UpdatePartitions(ctx, 6_000, "limit-a", "limit-b")
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"limit-a", "limit-b"} {
		if !errors.Is(pr[topic].Err, kerr.PolicyViolation) {
			t.Fatalf("grow %s within an 11,998-partition request: %+v", topic, pr[topic])
		}
	}
	md, err := adm.Metadata(ctx, "limit-a", "limit-b", "limit-x", "limit-y")
	if err != nil {
		t.Fatal(err)
	}
	if a, b := len(md.Topics["limit-a"].Partitions), len(md.Topics["limit-b"].Partitions); a != 1 || b != 1 {
		t.Fatalf("a refused request changed the topics: %d and %d partitions", a, b)
	}
	for _, topic := range []string{"limit-x", "limit-y"} {
		if md.Topics[topic].Err == nil {
			t.Fatalf("refused topic %s exists", topic)
		}
	}
	// The same growth one topic at a time is within the limit.
	vpr, err := adm.ValidateUpdatePartitions(ctx, 6_000, "limit-a")
	if err != nil || vpr["limit-a"].Err != nil {
		t.Fatalf("grow limit-a alone (validate only): %v %+v", err, vpr)
	}
}

package suite

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// ErrTopicAlreadyExists is wrapped by drivers when CreateTopics answers
// TOPIC_ALREADY_EXISTS (error code 36).
var ErrTopicAlreadyExists = errors.New("TOPIC_ALREADY_EXISTS")

// AdminDriver is a Driver whose client has an admin API for topics and
// their configs.
type AdminDriver interface {
	Driver
	// CreateTopic creates topic with replication factor ReplicationFactor() and the given
	// topic configs; TOPIC_ALREADY_EXISTS must wrap ErrTopicAlreadyExists.
	CreateTopic(ctx context.Context, topic string, partitions int32, configs map[string]string) error
	// CreatePartitions grows topic to total partitions.
	CreatePartitions(ctx context.Context, topic string, total int32) error
	// DeleteTopic deletes topic.
	DeleteTopic(ctx context.Context, topic string) error
	// DescribeTopicConfigs returns every config DescribeConfigs reports for
	// topic (defaults included), by name; sensitive values as "".
	DescribeTopicConfigs(ctx context.Context, topic string) (map[string]string, error)
	// AlterTopicConfig sets one topic config through the client's own
	// call (IncrementalAlterConfigs, or AlterConfigs where that is all
	// the client has).
	AlterTopicConfig(ctx context.Context, topic, key, value string) error
}

func adminDriver(t *testing.T, d Driver) AdminDriver {
	t.Helper()
	ad, ok := d.(AdminDriver)
	if !ok {
		t.Fatalf("%s has no admin driver: implement suite.AdminDriver or mark the scenario n/a in matrix.Clients", d.Name())
	}
	return ad
}

// Against a cluster, the broker a client asks may not have applied the
// metadata record of a create or an alter yet (Kafka's brokers learn them
// from the metadata log, a little after the controller answers), so checks
// that follow an admin call poll until they hold, for at most propagation.
const propagation = 15 * time.Second

// referenceConfigsWhen polls the reference DescribeConfigs until ok holds
// or propagation passes, and returns the last answer.
func referenceConfigsWhen(ctx context.Context, t *testing.T, adm *kadm.Client, topic string, ok func(map[string]kadm.Config) bool) map[string]kadm.Config {
	t.Helper()
	deadline := time.Now().Add(propagation)
	for {
		rcs, err := adm.DescribeTopicConfigs(ctx, topic)
		var rc kadm.ResourceConfig
		if err == nil {
			rc, err = rcs.On(topic, nil)
		}
		if err == nil {
			err = rc.Err
		}
		if err == nil {
			out := map[string]kadm.Config{}
			for _, c := range rc.Configs {
				out[c.Key] = c
			}
			if ok(out) || time.Now().After(deadline) {
				return out
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("reference DescribeConfigs %s: %v %s", topic, err, rc.ErrMessage)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// describeWhen polls the client's DescribeConfigs the same way.
func describeWhen(ctx context.Context, ad AdminDriver, topic string, ok func(map[string]string) bool) (map[string]string, error) {
	deadline := time.Now().Add(propagation)
	for {
		got, err := ad.DescribeTopicConfigs(ctx, topic)
		if (err == nil && ok(got)) || time.Now().After(deadline) {
			return got, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitPartitions polls the reference Metadata until topic has want
// partitions (want 0: until the topic is gone).
func waitPartitions(ctx context.Context, t *testing.T, adm *kadm.Client, topic string, want int, why string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	last := ""
	for {
		md, err := adm.Metadata(ctx, topic)
		if err == nil {
			td, ok := md.Topics[topic]
			switch {
			case want == 0 && (!ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition)):
				return
			case ok && td.Err == nil && want > 0 && len(td.Partitions) == want:
				return
			case ok:
				last = fmt.Sprintf("%d partitions, err %v", len(td.Partitions), td.Err)
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: reference Metadata for %s: %s", why, topic, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// testAdminTopics: the client creates a topic with a config, is refused a
// second create, adds partitions and deletes the topic; the reference
// client and the client's own Metadata see each step.
func testAdminTopics(ctx context.Context, t *testing.T, d Driver) {
	ad := adminDriver(t, d)
	_, adm := Reference(t)
	topic := TopicName(d.Name(), "admtopics")

	if err := ad.CreateTopic(ctx, topic, 2, map[string]string{"retention.ms": "3600000"}); err != nil {
		t.Fatalf("%s CreateTopics: %v", d.Name(), err)
	}
	waitPartitions(ctx, t, adm, topic, 2, "after CreateTopics(2 partitions)")
	cfg := referenceConfigsWhen(ctx, t, adm, topic, func(m map[string]kadm.Config) bool {
		c := m["retention.ms"]
		return c.MaybeValue() == "3600000"
	})
	if c := cfg["retention.ms"]; c.MaybeValue() != "3600000" || c.Source.String() != "DYNAMIC_TOPIC_CONFIG" {
		t.Errorf("retention.ms after create: %q from %s, want \"3600000\" from DYNAMIC_TOPIC_CONFIG", c.MaybeValue(), c.Source)
	}

	err := ad.CreateTopic(ctx, topic, 2, nil)
	switch {
	case err == nil:
		t.Errorf("a second CreateTopics for %s succeeded", topic)
	case !errors.Is(err, ErrTopicAlreadyExists):
		t.Errorf("a second CreateTopics: %v, want TOPIC_ALREADY_EXISTS", err)
	}

	if err := ad.CreatePartitions(ctx, topic, 4); err != nil {
		t.Fatalf("%s CreatePartitions(4): %v", d.Name(), err)
	}
	waitPartitions(ctx, t, adm, topic, 4, "after CreatePartitions(4)")
	md, err := d.Metadata(ctx, topic)
	if err != nil {
		t.Errorf("%s Metadata after CreatePartitions: %v", d.Name(), err)
	} else if len(md.Leaders) != 4 {
		t.Errorf("%s Metadata after CreatePartitions: %d partitions, want 4", d.Name(), len(md.Leaders))
	}

	if err := ad.DeleteTopic(ctx, topic); err != nil {
		t.Fatalf("%s DeleteTopics: %v", d.Name(), err)
	}
	waitPartitions(ctx, t, adm, topic, 0, "after DeleteTopics")
}

// testAdminConfigs: the client's DescribeConfigs agrees with the
// reference's, an alter through the client is seen by both, and an invalid
// value is refused without changing anything.
func testAdminConfigs(ctx context.Context, t *testing.T, d Driver) {
	ad := adminDriver(t, d)
	_, adm := Reference(t)
	topic := TopicName(d.Name(), "admconfigs")
	CreateTopic(ctx, t, adm, topic, 1, nil)

	got, err := describeWhen(ctx, ad, topic, func(map[string]string) bool { return true })
	if err != nil {
		t.Fatalf("%s DescribeConfigs: %v", d.Name(), err)
	}
	ref := referenceConfigsWhen(ctx, t, adm, topic, func(map[string]kadm.Config) bool { return true })
	for _, key := range []string{"cleanup.policy", "retention.ms", "max.message.bytes", "segment.bytes", "compression.type"} {
		if _, ok := got[key]; !ok {
			t.Errorf("%s DescribeConfigs: %s missing", d.Name(), key)
		}
	}
	var diffs []string
	for key, v := range got {
		rc, ok := ref[key]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s=%q unknown to the reference", key, v))
		case !rc.Sensitive && rc.MaybeValue() != v:
			diffs = append(diffs, fmt.Sprintf("%s=%q, reference %q", key, v, rc.MaybeValue()))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Errorf("%s DescribeConfigs differs from the reference: %s", d.Name(), strings.Join(diffs, "; "))
	}
	if len(got) != len(ref) {
		t.Errorf("%s DescribeConfigs: %d configs, reference %d", d.Name(), len(got), len(ref))
	}

	if err := ad.AlterTopicConfig(ctx, topic, "retention.ms", "7200000"); err != nil {
		t.Fatalf("%s alter retention.ms: %v", d.Name(), err)
	}
	altered := func(m map[string]kadm.Config) bool {
		c := m["retention.ms"]
		return c.MaybeValue() == "7200000"
	}
	if c := referenceConfigsWhen(ctx, t, adm, topic, altered)["retention.ms"]; c.MaybeValue() != "7200000" || c.Source.String() != "DYNAMIC_TOPIC_CONFIG" {
		t.Errorf("reference sees retention.ms %q from %s after the alter, want \"7200000\" from DYNAMIC_TOPIC_CONFIG", c.MaybeValue(), c.Source)
	}
	if got, err := describeWhen(ctx, ad, topic, func(m map[string]string) bool { return m["retention.ms"] == "7200000" }); err != nil {
		t.Errorf("%s DescribeConfigs after the alter: %v", d.Name(), err)
	} else if got["retention.ms"] != "7200000" {
		t.Errorf("%s sees retention.ms %q after its alter, want \"7200000\"", d.Name(), got["retention.ms"])
	}

	// Kafka answers INVALID_CONFIG (40) for a value that does not parse.
	if err := ad.AlterTopicConfig(ctx, topic, "retention.ms", "not-a-number"); err == nil {
		t.Errorf("%s set retention.ms to \"not-a-number\" without an error", d.Name())
	}
	if c := referenceConfigsWhen(ctx, t, adm, topic, altered)["retention.ms"]; c.MaybeValue() != "7200000" {
		t.Errorf("retention.ms is %q after a refused alter, want \"7200000\" kept", c.MaybeValue())
	}
}

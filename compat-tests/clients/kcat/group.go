package kcat

import (
	"context"
	"fmt"

	"github.com/riffle-io/riffle/compat-tests/suite"
)

// GroupConsume runs kcat's balanced consumer (-G). kcat commits through
// librdkafka's auto-commit of the offsets it handed out, which the consumer
// close at exit (-c n) flushes. No -o: in -G mode kcat re-applies -o on
// every assignment, so a new group starts at auto.offset.reset instead.
func (d Driver) GroupConsume(ctx context.Context, group, topic string, n int) ([]suite.Record, error) {
	stdout, err := d.run(ctx, nil, "-G", group, "-J", "-q", "-c", fmt.Sprint(n),
		"-X", "auto.offset.reset=earliest", "-X", "fetch.wait.max.ms=200", topic)
	if err != nil {
		return nil, err
	}
	recs, err := decodeMessages(stdout)
	if err != nil {
		return nil, err
	}
	if len(recs) != n {
		return nil, fmt.Errorf("kcat -G printed %d records, want %d", len(recs), n)
	}
	return recs, nil
}

package franzgo

import (
	"context"
	"fmt"
	"time"

	"github.com/riffle-io/riffle/compat-tests/suite"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// GroupConsume runs a kgo group consumer. The balancers offer
// cooperative-sticky (kgo's default) and eager range; with range on the
// list kgo behaves eagerly, so it can share a group with eager members.
func (d Driver) GroupConsume(ctx context.Context, group, topic string, n int) ([]suite.Record, error) {
	cl, err := d.client(
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.Balancers(kgo.CooperativeStickyBalancer(), kgo.RangeBalancer()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	if err != nil {
		return nil, err
	}
	defer cl.Close() // LeaveGroup
	var kept []*kgo.Record
	for len(kept) < n {
		fs := cl.PollRecords(ctx, n-len(kept))
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%d of %d records before the deadline", len(kept), n)
		}
		var ferr error
		fs.EachError(func(_ string, p int32, err error) {
			if !kerr.IsRetriable(err) && ferr == nil {
				ferr = fmt.Errorf("fetch partition %d: %w", p, err)
			}
		})
		if ferr != nil {
			return nil, ferr
		}
		kept = append(kept, fs.Records()...)
	}
	if err := cl.CommitRecords(ctx, kept...); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	out := make([]suite.Record, len(kept))
	for i, r := range kept {
		out[i] = suite.FromKgo(r)
	}
	return out, nil
}

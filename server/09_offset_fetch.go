package server

// OffsetFetch (key 9), v1–v10.
//
// v1 is Kafka 4.0's floor. An unknown group is not an error: requested
// partitions answer offset -1 with empty metadata (librdkafka fetches before
// it joins). Null topics (v2+) fetch every committed offset of the group.
// v8+ batches groups, each answered by its own shard; v9+ checks the
// KIP-848 member epoch; v10 names topics by ID. RequireStable (v7+, KIP-447)
// answers UNSTABLE_OFFSET_COMMIT for a partition whose offset an open
// transaction is moving; the coordinator resolves v10's topic IDs to names
// before it looks for pending transactional offsets.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.OffsetFetch, 1, 10, handleOffsetFetch) }

func handleOffsetFetch(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.OffsetFetchRequest)
	if req.Version < 8 {
		return rc.b.groups.handle(ctx, rc, req.Group, req, immediateWait)
	}
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	for _, rg := range req.Groups {
		one := kmsg.NewPtrOffsetFetchRequest()
		one.Version = req.Version
		one.RequireStable = req.RequireStable
		one.Groups = []kmsg.OffsetFetchRequestGroup{rg}
		kresp, err := rc.b.groups.handle(ctx, rc, rg.Group, one, immediateWait)
		if err != nil {
			return nil, err
		}
		r := kresp.(*kmsg.OffsetFetchResponse)
		if len(r.Groups) == 0 {
			g := kmsg.NewOffsetFetchResponseGroup()
			g.Group = rg.Group
			g.ErrorCode = r.ErrorCode
			resp.Groups = append(resp.Groups, g)
			continue
		}
		if r.Groups[0].ErrorCode == 0 && r.ErrorCode != 0 {
			r.Groups[0].ErrorCode = r.ErrorCode
		}
		resp.Groups = append(resp.Groups, r.Groups[0])
	}
	return resp, nil
}

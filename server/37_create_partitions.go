package server

// CreatePartitions (key 37), v0–v3.
//
// Grows topics (kafka-topics.sh --alter --partitions): the count is the new
// total and must exceed the current one (INVALID_PARTITIONS otherwise); an
// optional assignment places each new partition, one replica set per new
// partition with the topic's replication factor (INVALID_REPLICA_ASSIGNMENT
// otherwise). A topic named twice is INVALID_REQUEST. A request adding more
// than 10,000 partitions in all is POLICY_VIOLATION for every topic, as
// Kafka's controller bounds one operation's records. ValidateOnly checks
// and creates nothing. The response is sent once the new partitions are
// hosted here, so they can be produced to at once.

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/controller"
	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.CreatePartitions, 0, 3, handleCreatePartitions) }

func handleCreatePartitions(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.CreatePartitionsRequest)
	b := rc.b
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	ctx, cancel := adminContext(ctx, req.TimeoutMillis)
	defer cancel()
	counts := map[string]int{}
	for _, t := range req.Topics {
		counts[t.Topic]++
	}
	// Kafka generates the records of the whole request in one bounded list:
	// more than controller.MaxRecordsPerUserOp new partitions in all fail
	// every topic, and nothing is created.
	img := b.ctrl.Image()
	var adding int64
	for _, t := range req.Topics {
		if tp, ok := img.Topic(t.Topic); ok && counts[t.Topic] == 1 {
			adding += max(int64(t.Count)-int64(len(tp.Partitions)), 0)
		}
	}
	tooMany := adding > controller.MaxRecordsPerUserOp
	// KIP-599: new partitions count against the client's
	// controller_mutation_rate; from v3 a topic over the quota fails with
	// THROTTLING_QUOTA_EXCEEDED.
	mq := rc.mutationQuota(req.Version >= 3)
	defer rc.finishMutationQuota(mq)
	wrote := false
	for _, t := range req.Topics {
		rt := kmsg.NewCreatePartitionsResponseTopic()
		rt.Topic = t.Topic
		var err error
		if tooMany {
			err = controller.ErrBatchTooLarge
		} else if counts[t.Topic] > 1 {
			err = fmt.Errorf("%w: duplicate topic in request: %s", kerr.InvalidRequest, t.Topic)
		} else if !rc.authorizeTopic(authz.OpAlter, t.Topic) {
			// ALTER on the topic (ControllerApis.createPartitions).
			err = kerr.TopicAuthorizationFailed
		} else {
			var assignment [][]int32
			if t.Assignment != nil {
				assignment = make([][]int32, 0, len(t.Assignment))
				for _, a := range t.Assignment {
					assignment = append(assignment, a.Replicas)
				}
			}
			var n float64
			if tp, ok := img.Topic(t.Topic); ok && !req.ValidateOnly {
				n = float64(max(int64(t.Count)-int64(len(tp.Partitions)), 0))
			}
			if n > 0 && !mq.Record(n, time.Now()) {
				err = errThrottlingQuotaExceeded
			} else {
				err = b.ctrl.CreatePartitionsAssigned(ctx, t.Topic, t.Count, assignment, req.ValidateOnly)
				if err != nil {
					mq.Refund(n, time.Now())
				}
			}
			wrote = wrote || err == nil && !req.ValidateOnly
		}
		if err != nil {
			rt.ErrorCode, rt.ErrorMessage = errCode(err), errMsg(err)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if wrote {
		b.waitApplied(ctx, b.ctrl.Image().Offset)
	}
	return resp, nil
}

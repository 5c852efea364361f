package server

// FindCoordinator (key 10), v0–v6.
//
// A group's coordinator (key type 0) is the leader of the group's partition
// of __consumer_offsets, abs(javaHashCode(group)) % partitions as in Kafka;
// the topic is created on first need (offsets.topic.num.partitions,
// compacted). A transactional id's coordinator (type 1) is the leader of its
// partition of __transaction_state, created likewise
// (transaction.state.log.num.partitions). Share coordinators (type 2) are
// not part of Riffle: COORDINATOR_NOT_AVAILABLE. v4+ batches keys (KIP-699).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.FindCoordinator, 0, 6, handleFindCoordinator) }

func handleFindCoordinator(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.FindCoordinatorRequest)
	b := rc.b
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	answer := func(key string) (int32, string, int32, *kerr.Error) {
		// DESCRIBE on the group or transactional id, else no node
		// (KafkaApis.getCoordinator).
		switch {
		case req.CoordinatorType == 0 && !rc.authorizeGroup(authz.OpDescribe, key):
			return -1, "", -1, kerr.GroupAuthorizationFailed
		case req.CoordinatorType == 1 && !rc.authorizeTxnID(authz.OpDescribe, key):
			return -1, "", -1, kerr.TransactionalIDAuthorizationFailed
		}
		if req.CoordinatorType == 1 {
			return b.txn.coordinatorFor(ctx, rc.listener, key)
		}
		if req.CoordinatorType != 0 {
			return -1, "", -1, kerr.CoordinatorNotAvailable
		}
		return b.groups.coordinatorFor(ctx, rc.listener, key)
	}
	if req.Version >= 4 {
		for _, key := range req.CoordinatorKeys {
			c := kmsg.NewFindCoordinatorResponseCoordinator()
			c.Key = key
			var kerrv *kerr.Error
			c.NodeID, c.Host, c.Port, kerrv = answer(key)
			if kerrv != nil {
				c.ErrorCode = kerrv.Code
				msg := kerrv.Message
				c.ErrorMessage = &msg
			}
			resp.Coordinators = append(resp.Coordinators, c)
		}
		return resp, nil
	}
	var kerrv *kerr.Error
	resp.NodeID, resp.Host, resp.Port, kerrv = answer(req.CoordinatorKey)
	if kerrv != nil {
		resp.ErrorCode = kerrv.Code
	}
	return resp, nil
}

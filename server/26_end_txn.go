package server

// EndTxn (key 26), v0–v5.
//
// Commits or aborts the producer's transaction: the coordinator writes
// PrepareCommit/PrepareAbort to __transaction_state, answers, then writes
// the markers and finally CompleteCommit/CompleteAbort. v5 is transaction
// version 2 (KIP-890 part 2): every EndTxn bumps the producer epoch and the
// response carries the producer id and epoch for the next transaction; a
// client uses it once the cluster finalizes transaction.version=2
// (57_update_features.go). PRODUCER_FENCED is INVALID_PRODUCER_EPOCH
// before v2 (KIP-588).

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/coordinator"
	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.EndTxn, 0, 5, handleEndTxn) }

func handleEndTxn(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.EndTxnRequest)
	if !rc.authorizeTxnID(authz.OpWrite, req.TransactionalID) {
		resp := req.ResponseKind().(*kmsg.EndTxnResponse)
		resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = kerr.TransactionalIDAuthorizationFailed.Code, -1, -1
		return resp, nil
	}
	// A new producer id is needed only when a version 2 end exhausts the
	// epoch, so it is allocated on demand.
	freshID := func() int64 {
		id, err := rc.b.nextProducerID(ctx)
		if err != nil {
			rc.b.logger.Warn("allocating producer id", "err", err)
			return -1
		}
		return id
	}
	resp := rc.b.txn.handle(ctx, req.TransactionalID, req, func(s *coordinator.TxnShard, token uint64) {
		s.EndTxn(time.Now(), token, req, freshID)
	}).(*kmsg.EndTxnResponse)
	resp.ErrorCode = oldFenced(resp.ErrorCode, req.Version, 2)
	return resp, nil
}

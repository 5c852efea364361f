package server

// EndTxn (key 26), v0–v4.
//
// Commits or aborts the producer's transaction: the coordinator writes
// PrepareCommit/PrepareAbort to __transaction_state, answers, then writes
// the markers and finally CompleteCommit/CompleteAbort. v5 (KIP-890 part 2,
// an epoch bump per transaction) is not offered: it belongs with
// transaction.version=2, which Riffle does not finalize, so clients keep
// AddPartitionsToTxn and the part-1 verification protects them.
// PRODUCER_FENCED is INVALID_PRODUCER_EPOCH before v2 (KIP-588).

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/coordinator"
)

func init() { register(kmsg.EndTxn, 0, 4, handleEndTxn) }

func handleEndTxn(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.EndTxnRequest)
	resp := rc.b.txn.handle(ctx, req.TransactionalID, req, func(s *coordinator.TxnShard, token uint64) {
		s.Step(time.Now(), token, req)
	}).(*kmsg.EndTxnResponse)
	resp.ErrorCode = oldFenced(resp.ErrorCode, req.Version, 2)
	return resp, nil
}

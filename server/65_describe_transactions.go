package server

// DescribeTransactions (key 65), v0 (KIP-664).
//
// Each transactional id is described by the shard that owns it:
// NOT_COORDINATOR when that is another broker, TRANSACTIONAL_ID_NOT_FOUND
// when the id is unknown.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/coordinator"
)

func init() { register(kmsg.DescribeTransactions, 0, 0, handleDescribeTransactions) }

func handleDescribeTransactions(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, id := range req.TransactionalIDs {
		one := kmsg.NewPtrDescribeTransactionsRequest()
		one.Version = req.Version
		one.TransactionalIDs = []string{id}
		kr, code := rc.b.txn.handleCode(ctx, id, one, func(s *coordinator.TxnShard, token uint64) {
			s.Step(time.Now(), token, one)
		})
		r := kr.(*kmsg.DescribeTransactionsResponse)
		if len(r.TransactionStates) == 1 {
			resp.TransactionStates = append(resp.TransactionStates, r.TransactionStates[0])
			continue
		}
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID = id
		st.ErrorCode = code
		st.ProducerID, st.ProducerEpoch, st.StartTimestamp = -1, -1, -1
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return resp, nil
}

package server

// DescribeTransactions (key 65), v0 (KIP-664).
//
// Each transactional id is described by the shard that owns it:
// NOT_COORDINATOR when that is another broker, TRANSACTIONAL_ID_NOT_FOUND
// when the id is unknown.

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/coordinator"
	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.DescribeTransactions, 0, 0, handleDescribeTransactions) }

func handleDescribeTransactions(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	// DESCRIBE on each transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
	// only the partitions of topics the principal may DESCRIBE are listed
	// (KafkaApis.handleDescribeTransactionsRequest).
	canDescribe := rc.topicAuthorizer(authz.OpDescribe)
	defer func() {
		for i := range resp.TransactionStates {
			st := &resp.TransactionStates[i]
			st.Topics = slices.DeleteFunc(st.Topics, func(t kmsg.DescribeTransactionsResponseTransactionStateTopic) bool {
				return !canDescribe.allowed(t.Topic)
			})
		}
	}()
	for _, id := range req.TransactionalIDs {
		if !rc.authorizeTxnID(authz.OpDescribe, id) {
			st := kmsg.NewDescribeTransactionsResponseTransactionState()
			st.TransactionalID, st.ErrorCode = id, kerr.TransactionalIDAuthorizationFailed.Code
			st.ProducerID, st.ProducerEpoch, st.StartTimestamp = -1, -1, -1
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
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

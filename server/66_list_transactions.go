package server

// ListTransactions (key 66), v0–v2 (KIP-664; v1 KIP-994 duration filter,
// v2 KIP-1152 transactional id pattern).
//
// Lists the transactions of every __transaction_state partition this broker
// coordinates, filtered by state, producer id, running time and id pattern.
// Unknown state names are echoed in UnknownStateFilters.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.ListTransactions, 0, 2, handleListTransactions) }

func handleListTransactions(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ListTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	first := true
	for _, sh := range rc.b.txn.loadedShards() {
		sh.mu.Lock()
		if !sh.mu.ready || sh.mu.failed {
			sh.mu.Unlock()
			continue
		}
		sh.mu.shard.Step(time.Now(), 1, req)
		rd := sh.mu.shard.Ready()
		sh.mu.Unlock()
		for _, r := range rd.Responses {
			lr := r.Resp.(*kmsg.ListTransactionsResponse)
			if lr.ErrorCode != 0 {
				resp.ErrorCode = lr.ErrorCode
			}
			if first {
				resp.UnknownStateFilters = lr.UnknownStateFilters
				first = false
			}
			// Only transactional ids the principal may DESCRIBE
			// (KafkaApis.handleListTransactionsRequest).
			for _, ts := range lr.TransactionStates {
				if rc.authorizeTxnID(authz.OpDescribe, ts.TransactionalID) {
					resp.TransactionStates = append(resp.TransactionStates, ts)
				}
			}
		}
	}
	if first {
		// No shard here: the filters are still checked.
		for _, f := range req.StateFilters {
			if _, err := kmsg.ParseTransactionState(f); err != nil {
				resp.UnknownStateFilters = append(resp.UnknownStateFilters, f)
			}
		}
	}
	return resp, nil
}

package server

// AddPartitionsToTxn (key 24), v0–v5.
//
// v0–v3 come from producers: the partitions join the transaction
// (TransactionCoordinator.handleAddPartitionsToTransaction), each answered
// on its own; a partition of an unknown topic fails with
// UNKNOWN_TOPIC_OR_PARTITION and the others with OPERATION_NOT_ATTEMPTED.
// v4+ come from brokers and batch transactions; VerifyOnly is KIP-890's
// check that a partition was added before a transactional write lands
// there, and without it a partition leader adds the partition for a
// producer of transaction version 2 (Produce v12+, TxnOffsetCommit v5+). All ids in a v4+ request must hash to this coordinator's shards.
// PRODUCER_FENCED is INVALID_PRODUCER_EPOCH before v2 (KIP-588).

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/coordinator"
)

func init() { register(kmsg.AddPartitionsToTxn, 0, 5, handleAddPartitionsToTxn) }

func handleAddPartitionsToTxn(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.AddPartitionsToTxnRequest)
	rt := rc.b.txn
	if req.Version < 4 {
		kr, failCode := rt.handleCode(ctx, req.TransactionalID, req, func(s *coordinator.TxnShard, token uint64) {
			s.Step(time.Now(), token, req)
		})
		resp := kr.(*kmsg.AddPartitionsToTxnResponse)
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				p := &resp.Topics[i].Partitions[j]
				p.ErrorCode = oldFenced(p.ErrorCode, req.Version, 2)
			}
		}
		if len(resp.Topics) == 0 {
			// A shard failure fills no topics: answer per partition.
			code := failCode
			if code == 0 {
				code = kerr.UnknownServerError.Code
			}
			for _, t := range req.Topics {
				st := kmsg.NewAddPartitionsToTxnResponseTopic()
				st.Topic = t.Topic
				for _, p := range t.Partitions {
					sp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
					sp.Partition, sp.ErrorCode = p, code
					st.Partitions = append(st.Partitions, sp)
				}
				resp.Topics = append(resp.Topics, st)
			}
		}
		return resp, nil
	}
	// Batched: serve each transaction through its own shard.
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	for _, tx := range req.Transactions {
		one := kmsg.NewPtrAddPartitionsToTxnRequest()
		one.Version = req.Version
		one.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{tx}
		kr, code := rt.handleCode(ctx, tx.TransactionalID, one, func(s *coordinator.TxnShard, token uint64) {
			s.Step(time.Now(), token, one)
		})
		r := kr.(*kmsg.AddPartitionsToTxnResponse)
		if len(r.Transactions) == 1 {
			resp.Transactions = append(resp.Transactions, r.Transactions[0])
			continue
		}
		if code == 0 {
			code = kerr.UnknownServerError.Code
		}
		rtx := kmsg.NewAddPartitionsToTxnResponseTransaction()
		rtx.TransactionalID = tx.TransactionalID
		for _, t := range tx.Topics {
			st := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
			st.Topic = t.Topic
			for _, p := range t.Partitions {
				sp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
				sp.Partition, sp.ErrorCode = p, code
				st.Partitions = append(st.Partitions, sp)
			}
			rtx.Topics = append(rtx.Topics, st)
		}
		resp.Transactions = append(resp.Transactions, rtx)
	}
	return resp, nil
}

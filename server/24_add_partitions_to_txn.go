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
	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.AddPartitionsToTxn, 0, 5, handleAddPartitionsToTxn) }

func handleAddPartitionsToTxn(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.AddPartitionsToTxnRequest)
	rt := rc.b.txn
	// Authorization (KafkaApis.handleAddPartitionsToTxnRequest): v4+
	// comes from brokers and needs CLUSTER_ACTION; before, the client needs
	// WRITE on the transactional id. Every topic needs WRITE; when one is
	// refused (TOPIC_AUTHORIZATION_FAILED) the others are
	// OPERATION_NOT_ATTEMPTED and nothing is added.
	if req.Version >= 4 && !rc.authorizeCluster(authz.OpClusterAction) {
		resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	if req.Version < 4 {
		if code, refused := addPartitionsRefused(rc, req.TransactionalID, req.Topics, true,
			func(t kmsg.AddPartitionsToTxnRequestTopic) (string, []int32) { return t.Topic, t.Partitions }); refused != nil {
			resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
			for _, t := range req.Topics {
				st := kmsg.NewAddPartitionsToTxnResponseTopic()
				st.Topic = t.Topic
				for _, p := range t.Partitions {
					sp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
					sp.Partition, sp.ErrorCode = p, refused(code, t.Topic)
					st.Partitions = append(st.Partitions, sp)
				}
				resp.Topics = append(resp.Topics, st)
			}
			return resp, nil
		}
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
		if code, refused := addPartitionsRefused(rc, tx.TransactionalID, tx.Topics, false,
			func(t kmsg.AddPartitionsToTxnRequestTransactionTopic) (string, []int32) { return t.Topic, t.Partitions }); refused != nil {
			rtx := kmsg.NewAddPartitionsToTxnResponseTransaction()
			rtx.TransactionalID = tx.TransactionalID
			for _, t := range tx.Topics {
				st := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
				st.Topic = t.Topic
				for _, p := range t.Partitions {
					sp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
					sp.Partition, sp.ErrorCode = p, refused(code, t.Topic)
					st.Partitions = append(st.Partitions, sp)
				}
				rtx.Topics = append(rtx.Topics, st)
			}
			resp.Transactions = append(resp.Transactions, rtx)
			continue
		}
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

// addPartitionsRefused checks one transaction's authorization. It returns
// nil when everything is allowed; otherwise a code and a function giving
// each topic's error: TRANSACTIONAL_ID_AUTHORIZATION_FAILED for all when
// the transactional id is refused (checked for clients only), else
// TOPIC_AUTHORIZATION_FAILED for refused topics and OPERATION_NOT_ATTEMPTED
// for the rest.
func addPartitionsRefused[T any](rc *requestContext, txnID string, topics []T, fromClient bool, parts func(T) (string, []int32)) (int16, func(code int16, topic string) int16) {
	if fromClient && !rc.authorizeTxnID(authz.OpWrite, txnID) {
		return kerr.TransactionalIDAuthorizationFailed.Code, func(code int16, _ string) int16 { return code }
	}
	canWrite := rc.topicAuthorizer(authz.OpWrite)
	denied := false
	for _, t := range topics {
		name, _ := parts(t)
		if !canWrite.allowed(name) {
			denied = true
		}
	}
	if !denied {
		return 0, nil
	}
	return kerr.TopicAuthorizationFailed.Code, func(code int16, topic string) int16 {
		if canWrite.allowed(topic) {
			return kerr.OperationNotAttempted.Code
		}
		return code
	}
}

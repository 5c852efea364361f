package server

// Glue between the transaction coordinator's request handlers and
// txnRuntime: producer id allocation for InitProducerId, KIP-588's error
// mapping for older request versions, and KIP-890's partition verification
// for transactional produce.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/coordinator"
	"github.com/riffle-io/riffle/protocol/records"
	"github.com/riffle-io/riffle/replica"
	"github.com/riffle-io/riffle/storage"
)

// oldFenced maps PRODUCER_FENCED to INVALID_PRODUCER_EPOCH for request
// versions older than the one that introduced it (KIP-588).
func oldFenced(code int16, version, since int16) int16 {
	if code == kerr.ProducerFenced.Code && version < since {
		return kerr.InvalidProducerEpoch.Code
	}
	return code
}

func (rt *txnRuntime) initProducerID(ctx context.Context, req *kmsg.InitProducerIDRequest) kmsg.Response {
	// A fresh id is offered with every request: the shard takes it only
	// for a new transactional id or an exhausted epoch. Ids are cheap
	// (blocks of 1000 from the controller) and never reused.
	fresh, err := rt.b.nextProducerID(ctx)
	if err != nil {
		rt.b.logger.Warn("allocating producer id", "err", err)
		fresh = -1
	}
	resp := rt.handle(ctx, *req.TransactionalID, req, func(s *coordinator.TxnShard, token uint64) {
		s.InitProducerID(time.Now(), token, req, fresh)
	}).(*kmsg.InitProducerIDResponse)
	resp.ErrorCode = oldFenced(resp.ErrorCode, req.Version, 4)
	return resp
}

// txnPartitionOp asks the transaction coordinator about tp for the
// producer (pid, epoch): with add, to add it to the producer's transaction
// (KIP-890 part 2: a produce v12+ or TxnOffsetCommit v5+ stands in for the
// client's AddPartitionsToTxn); otherwise whether it is part of the ongoing
// transaction (KIP-890 part 1). It is Kafka's AddPartitionsToTxnManager.
// The answer is the coordinator's error code; COORDINATOR_NOT_AVAILABLE
// when it could not be asked.
func (b *Broker) txnPartitionOp(ctx context.Context, txnID string, pid int64, epoch int16, topic string, partition int32, add bool) int16 {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 5
	tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = txnID, pid, epoch, !add
	rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	rt.Topic, rt.Partitions = topic, []int32{partition}
	tx.Topics = append(tx.Topics, rt)
	req.Transactions = append(req.Transactions, tx)

	var resp *kmsg.AddPartitionsToTxnResponse
	node, _, _, kerrv := b.txn.coordinatorFor(ctx, "", txnID)
	switch {
	case kerrv != nil:
		return kerr.CoordinatorNotAvailable.Code
	case node == b.cfg.NodeID:
		resp = b.txn.handle(ctx, txnID, req, func(s *coordinator.TxnShard, token uint64) {
			s.Step(time.Now(), token, req)
		}).(*kmsg.AddPartitionsToTxnResponse)
	default:
		kresp, err := b.interBrokerRequest(ctx, node, req)
		if err != nil {
			return kerr.CoordinatorNotAvailable.Code
		}
		resp = kresp.(*kmsg.AddPartitionsToTxnResponse)
	}
	code := resp.ErrorCode
	for _, t := range resp.Transactions {
		for _, tt := range t.Topics {
			for _, p := range tt.Partitions {
				if p.ErrorCode != 0 {
					code = p.ErrorCode
				}
			}
		}
	}
	return code
}

// txnCheckError maps the coordinator's answer about a partition to what
// the write that asked answers (ReplicaManager, AddPartitionsToTxnManager):
// coordinator trouble is the retriable error the request's clients expect
// (NOT_ENOUGH_REPLICAS for a produce, COORDINATOR_NOT_AVAILABLE for
// TxnOffsetCommit), a fenced producer INVALID_PRODUCER_EPOCH, a partition
// outside the transaction TRANSACTION_ABORTABLE for the request versions
// whose clients handle it (abortable) and INVALID_TXN_STATE before.
func txnCheckError(code int16, retriable *kerr.Error, abortable bool) *kerr.Error {
	switch e := kerr.ErrorForCode(code); e {
	case nil:
		return nil
	case kerr.NotCoordinator, kerr.CoordinatorNotAvailable, kerr.CoordinatorLoadInProgress, kerr.ConcurrentTransactions:
		return retriable
	case kerr.ProducerFenced, kerr.InvalidProducerEpoch:
		return kerr.InvalidProducerEpoch
	case kerr.InvalidProducerIDMapping, kerr.UnknownTopicOrPartition:
		return e.(*kerr.Error)
	case kerr.TransactionAbortable:
		if abortable {
			return kerr.TransactionAbortable
		}
		return kerr.InvalidTxnState
	default:
		return kerr.InvalidTxnState
	}
}

// produceTxnError is txnCheckError for a produce: TRANSACTION_ABORTABLE
// from v11.
func produceTxnError(code int16, version int16) *kerr.Error {
	return txnCheckError(code, kerr.NotEnoughReplicas, version >= 11)
}

// appendProduce appends one partition's produce data. A transactional batch
// that would open a transaction on the partition is first checked with the
// transaction coordinator, unless transaction.partition.verification.enable
// is off: from produce v12 (a client of transaction version 2, which sends
// no AddPartitionsToTxn) the partition is added to the transaction,
// before that its membership is verified.
func (b *Broker) appendProduce(ctx context.Context, p *replica.Partition, txnID *string, version int16, data []byte, now time.Time) (storage.AppendResult, error) {
	if len(data) < records.HeaderSize || !records.Batch(data).IsTransactional() {
		return p.AppendRecordsToLeader(data, now)
	}
	if txnID == nil || *txnID == "" {
		// ProduceRequest: transactional records need a transactional id.
		return storage.AppendResult{}, fmt.Errorf("%w: transactional records without a transactional id", kerr.TransactionalIDAuthorizationFailed)
	}
	add := version >= 12
	if !b.cfg.TransactionPartitionVerificationEnable && !add {
		return p.AppendTransactionalToLeader(data, replica.SkipVerification, now)
	}
	res, err := p.AppendTransactionalToLeader(data, 0, now)
	if !errors.Is(err, replica.ErrNeedsVerification) {
		return res, err
	}
	bt := records.Batch(data)
	code := b.txnPartitionOp(ctx, *txnID, bt.ProducerID(), bt.ProducerEpoch(), p.TP.Topic, p.TP.Partition, add)
	if e := produceTxnError(code, version); e != nil {
		return storage.AppendResult{}, e
	}
	guard := p.AddVerificationGuard(bt.ProducerID(), bt.ProducerEpoch())
	return p.AppendTransactionalToLeader(data, guard, now)
}

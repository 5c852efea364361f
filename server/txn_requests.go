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

// verifyTxnPartition asks the transaction coordinator whether tp is part of
// the ongoing transaction of (pid, epoch) (KIP-890 part 1,
// AddPartitionsToTxnManager). The result maps to what a produce answers:
// coordinator trouble is retriable (NOT_ENOUGH_REPLICAS, as Kafka), a fenced
// producer INVALID_PRODUCER_EPOCH, anything else INVALID_TXN_STATE.
func (b *Broker) verifyTxnPartition(ctx context.Context, txnID string, pid int64, epoch int16, topic string, partition int32) *kerr.Error {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 4
	tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = txnID, pid, epoch, true
	rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	rt.Topic, rt.Partitions = topic, []int32{partition}
	tx.Topics = append(tx.Topics, rt)
	req.Transactions = append(req.Transactions, tx)

	var resp *kmsg.AddPartitionsToTxnResponse
	node, _, _, kerrv := b.txn.coordinatorFor(ctx, "", txnID)
	switch {
	case kerrv != nil:
		return kerr.NotEnoughReplicas
	case node == b.cfg.NodeID:
		resp = b.txn.handle(ctx, txnID, req, func(s *coordinator.TxnShard, token uint64) {
			s.Step(time.Now(), token, req)
		}).(*kmsg.AddPartitionsToTxnResponse)
	default:
		kresp, err := b.interBrokerRequest(ctx, node, req)
		if err != nil {
			return kerr.NotEnoughReplicas
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
	switch e := kerr.ErrorForCode(code); e {
	case nil:
		return nil
	case kerr.NotCoordinator, kerr.CoordinatorNotAvailable, kerr.CoordinatorLoadInProgress, kerr.ConcurrentTransactions:
		return kerr.NotEnoughReplicas
	case kerr.ProducerFenced, kerr.InvalidProducerEpoch:
		return kerr.InvalidProducerEpoch
	default:
		if e, ok := e.(*kerr.Error); ok && e == kerr.InvalidProducerIDMapping {
			return kerr.InvalidProducerIDMapping
		}
		return kerr.InvalidTxnState
	}
}

// appendProduce appends one partition's produce data. A transactional batch
// that would open a transaction on the partition is first verified with
// the transaction coordinator (KIP-890 part 1), unless
// transaction.partition.verification.enable is off.
func (b *Broker) appendProduce(ctx context.Context, p *replica.Partition, txnID *string, data []byte, now time.Time) (storage.AppendResult, error) {
	if len(data) < records.HeaderSize || !records.Batch(data).IsTransactional() {
		return p.AppendRecordsToLeader(data, now)
	}
	if txnID == nil || *txnID == "" {
		// ProduceRequest: transactional records need a transactional id.
		return storage.AppendResult{}, fmt.Errorf("%w: transactional records without a transactional id", kerr.TransactionalIDAuthorizationFailed)
	}
	if !b.cfg.TransactionPartitionVerificationEnable {
		return p.AppendTransactionalToLeader(data, replica.SkipVerification, now)
	}
	res, err := p.AppendTransactionalToLeader(data, 0, now)
	if !errors.Is(err, replica.ErrNeedsVerification) {
		return res, err
	}
	bt := records.Batch(data)
	if e := b.verifyTxnPartition(ctx, *txnID, bt.ProducerID(), bt.ProducerEpoch(), p.TP.Topic, p.TP.Partition); e != nil {
		return storage.AppendResult{}, e
	}
	guard := p.AddVerificationGuard(bt.ProducerID(), bt.ProducerEpoch())
	return p.AppendTransactionalToLeader(data, guard, now)
}

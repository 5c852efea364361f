package server

// TxnOffsetCommit (key 28), v0–v5.
//
// Served by the group coordinator that owns the group. The offsets are
// written to the group's partition of __consumer_offsets as a
// transactional batch of the producer (its id and epoch, no sequence, as
// Kafka's AppendOrigin.COORDINATOR), so the partition's producer state
// fences a zombie producer with an older epoch, and they stay pending until
// the transaction's marker reaches that partition (27_write_txn_markers.go).
// A consumer that names its member id and generation must be current
// (KIP-447). Before the records open the producer's transaction on the
// group's partition, the transaction coordinator is asked, as for a
// produce: before v5 whether AddOffsetsToTxn added the partition (KIP-890
// part 1, when transaction.partition.verification.enable), from v5
// (transaction version 2, KIP-890 part 2: the client sends no
// AddOffsetsToTxn) to add it. PRODUCER_FENCED is INVALID_PRODUCER_EPOCH before v3
// (KIP-588). Topics and partitions the broker's metadata does not know
// answer UNKNOWN_TOPIC_OR_PARTITION before anything else is asked, as in
// Kafka's KafkaApis.handleTxnOffsetCommitRequest; only the rest are
// committed, and a request naming nothing that exists touches neither
// coordinator.

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/coordinator"
	"github.com/riffle-io/riffle/protocol/records"
	"github.com/riffle-io/riffle/replica"
	"github.com/riffle-io/riffle/server/authz"
	"github.com/riffle-io/riffle/storage"
)

func init() { register(kmsg.TxnOffsetCommit, 0, 5, handleTxnOffsetCommit) }

func handleTxnOffsetCommit(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.TxnOffsetCommitRequest)
	img := rc.b.ctrl.Image()
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	valid := *req
	valid.Topics = nil
	var pending []commitSlot
	// Authorization (KafkaApis.handleTxnOffsetCommitRequest): WRITE on the
	// transactional id, then READ on the group, fail every partition; READ
	// on each topic fails its partitions (TOPIC_AUTHORIZATION_FAILED).
	var requestCode int16
	switch {
	case !rc.authorizeTxnID(authz.OpWrite, req.TransactionalID):
		requestCode = kerr.TransactionalIDAuthorizationFailed.Code
	case !rc.authorizeGroup(authz.OpRead, req.Group):
		requestCode = kerr.GroupAuthorizationFailed.Code
	}
	canRead := rc.topicAuthorizer(authz.OpRead)
	for ti, t := range req.Topics {
		st := kmsg.NewTxnOffsetCommitResponseTopic()
		st.Topic = t.Topic
		fwd := t
		fwd.Partitions = nil
		topic, ok := img.Topic(t.Topic)
		for pi, p := range t.Partitions {
			sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			sp.Partition = p.Partition
			switch code := commitTargetCode(topic, ok, kerr.UnknownTopicOrPartition.Code, p.Partition); {
			case requestCode != 0:
				sp.ErrorCode = requestCode
			case !canRead.allowed(t.Topic):
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case code != 0:
				sp.ErrorCode = code
			default:
				fwd.Partitions = append(fwd.Partitions, p)
				pending = append(pending, commitSlot{ti, pi})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		if len(fwd.Partitions) > 0 {
			valid.Topics = append(valid.Topics, fwd)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(valid.Topics) == 0 {
		return resp, nil
	}
	answer, err := commitTxnOffsets(ctx, rc, &valid)
	if err != nil {
		return nil, err
	}
	var codes []int16
	resp.ThrottleMillis = answer.ThrottleMillis
	for _, t := range answer.Topics {
		for _, p := range t.Partitions {
			codes = append(codes, p.ErrorCode)
		}
	}
	for i, s := range pending {
		resp.Topics[s.topic].Partitions[s.partition].ErrorCode = answeredCode(codes, i)
	}
	return resp, nil
}

// commitTxnOffsets commits the offsets of req, whose partitions all exist,
// and answers every one of them.
func commitTxnOffsets(ctx context.Context, rc *requestContext, req *kmsg.TxnOffsetCommitRequest) (*kmsg.TxnOffsetCommitResponse, error) {
	rt := rc.b.groups
	fail := func(code int16) (*kmsg.TxnOffsetCommitResponse, error) {
		resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
		for _, t := range req.Topics {
			st := kmsg.NewTxnOffsetCommitResponseTopic()
			st.Topic = t.Topic
			for _, p := range t.Partitions {
				sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				sp.Partition, sp.ErrorCode = p.Partition, code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil
	}
	sh, code := rt.shardFor(ctx, req.Group)
	if code != 0 {
		return fail(code)
	}
	guard, code := txnOffsetsGuard(ctx, rc.b, req, sh.partition)
	if code != 0 {
		return fail(code)
	}
	sh.mu.Lock()
	if !sh.mu.ready || sh.mu.failed {
		sh.mu.Unlock()
		return fail(kerr.NotCoordinator.Code)
	}
	now := time.Now()
	resp, recs := sh.mu.shard.TxnOffsetCommit(now, req)
	if len(recs) > 0 {
		if err := appendTxnOffsets(sh, req.ProducerID, req.ProducerEpoch, guard, recs, now); err != nil {
			sh.mu.Unlock()
			var code int16
			switch {
			case errors.Is(err, storage.ErrInvalidProducerEpoch):
				code = oldFenced(kerr.ProducerFenced.Code, req.Version, 3)
			case errors.Is(err, replica.ErrNeedsVerification), errors.Is(err, kerr.InvalidTxnState):
				// The transaction ended between the check and the write.
				code = txnOffsetCommitTxnError(kerr.TransactionAbortable.Code, req.Version).Code
			default:
				code = appendErrorCode(err)
				rc.b.logger.Warn("writing transactional offsets failed", "group", req.Group, "err", err)
			}
			return fail(code)
		}
		// The records are in the log: the marker that ends the
		// transaction settles them whether or not this answer waits
		// out their replication.
		sh.mu.shard.AddPendingTxnOffsets(req.ProducerID, recs)
		sh.mu.x.groupEnd[req.Group] = sh.mu.writtenEnd
	}
	at := rt.commitPointLocked(sh, groupWaiter{group: req.Group})
	sh.mu.Unlock()
	// Replication is waited for without the shard's lock
	// (coordinator_runtime.go).
	if err := rt.waitCommitted(sh, at); err != nil {
		return fail(appendErrorCode(err))
	}
	return resp, nil
}

// appendTxnOffsets writes the records as one transactional batch of the
// producer, without waiting for replication, and moves the shard's
// writtenEnd past it. sh.mu held.
func appendTxnOffsets(sh *groupShard, pid int64, epoch int16, guard uint64, recs []coordinator.Record, now time.Time) error {
	ts := now.UnixMilli()
	out := make([]records.Record, len(recs))
	for i, r := range recs {
		out[i] = records.Record{OffsetDelta: int32(i), Key: r.Key, Value: r.Value}
	}
	batch, err := records.Build(records.BatchHeader{
		Attributes:    records.TransactionalFlag,
		BaseTimestamp: ts, MaxTimestamp: ts,
		ProducerID: pid, ProducerEpoch: epoch, BaseSequence: -1,
	}, records.CodecNone, out)
	if err != nil {
		return err
	}
	if err := sh.mu.p.CheckEnoughReplicas(); err != nil {
		return err
	}
	res, err := sh.mu.p.AppendCoordinatorTxnBatch(batch, guard, now)
	if err != nil {
		return err
	}
	if end := res.LastOffset + 1; end > sh.mu.writtenEnd {
		sh.mu.writtenEnd = end
	}
	return nil
}

// txnOffsetsGuard asks the transaction coordinator about the group's
// partition of __consumer_offsets unless the producer's transaction is
// already open there at its epoch, and returns the guard the write must
// present (replica.SkipVerification when nothing is checked) or the error
// code to answer. It runs before the group shard's lock: the coordinator
// may be on this broker, and marker writers take a group shard's lock
// while holding none of the transaction shard's.
func txnOffsetsGuard(ctx context.Context, b *Broker, req *kmsg.TxnOffsetCommitRequest, partition int32) (uint64, int16) {
	add := req.Version >= 5
	if !add && !b.cfg.TransactionPartitionVerificationEnable {
		return replica.SkipVerification, 0
	}
	p, err := b.replicas.Partition(storage.TopicPartition{Topic: offsetsTopic, Partition: partition})
	if err != nil {
		return 0, kerr.NotCoordinator.Code
	}
	if p.HasOngoingTransaction(req.ProducerID, req.ProducerEpoch) {
		return 0, 0
	}
	code := b.txnPartitionOp(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, offsetsTopic, partition, add)
	if e := txnOffsetCommitTxnError(code, req.Version); e != nil {
		return 0, e.Code
	}
	return p.AddVerificationGuard(req.ProducerID, req.ProducerEpoch), 0
}

// txnOffsetCommitTxnError is txnCheckError for TxnOffsetCommit:
// TRANSACTION_ABORTABLE from v4.
func txnOffsetCommitTxnError(code int16, version int16) *kerr.Error {
	return txnCheckError(code, kerr.CoordinatorNotAvailable, version >= 4)
}

package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/riffle-io/riffle/protocol/records"
)

// TestTxnPartitionVerification is KIP-890 part 1 against a hand-driven
// producer: a transactional write to a partition that was never added to
// the transaction is refused, and so is a write that arrives after its
// transaction ended, which would otherwise open a hanging transaction that
// holds the last stable offset back forever.
func TestTxnPartitionVerification(t *testing.T) {
	tb := startBroker(t, txnConfig)
	adm := newAdmin(t, tb.addr())
	const topic = "txn-verify"
	createTopic(t, adm, topic, 2, nil)
	// Kafka 3.9's versions: Produce v11 names topics by name.
	cl := newClient(t, tb.addr(), kgo.MaxVersions(kversion.V3_9_0()))
	ctx := ctxFor(t, requestTimeout)
	id := "verify-tx"

	var coord *kmsg.FindCoordinatorResponse
	if !poll(requestTimeout, func() bool {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey, req.CoordinatorType = id, 1
		resp, err := req.RequestWith(ctx, cl)
		coord = resp
		return err == nil && resp.ErrorCode == 0
	}) {
		t.Fatalf("no transaction coordinator: %+v", coord)
	}
	ir := initTransactionalID(t, ctx, cl, id)
	pid, epoch := ir.ProducerID, ir.ProducerEpoch

	seq := int32(0)
	produce := func(partition int32) int16 {
		t.Helper()
		code := rawTxnProduce(t, cl, id, topic, partition, pid, epoch, seq)
		if code == 0 {
			seq++
		}
		return code
	}
	add := func(partition int32) {
		t.Helper()
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.Version = 3
		req.TransactionalID, req.ProducerID, req.ProducerEpoch = id, pid, epoch
		rt := kmsg.NewAddPartitionsToTxnRequestTopic()
		rt.Topic, rt.Partitions = topic, []int32{partition}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("add partitions: %v %+v", err, resp)
		}
	}

	// Produce v11 is the first whose clients handle TRANSACTION_ABORTABLE.
	if code := produce(0); code != kerr.TransactionAbortable.Code {
		t.Fatalf("write to a partition never added: %v, want TRANSACTION_ABORTABLE", kerr.ErrorForCode(code))
	}
	add(0)
	if code := produce(0); code != 0 {
		t.Fatalf("write to an added partition: %v", kerr.ErrorForCode(code))
	}
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = id, pid, epoch, false
	if resp, err := end.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("end txn: %v %+v", err, resp)
	}
	// Once the abort marker is in, a late write of the same epoch must
	// not open a new transaction.
	if !poll(requestTimeout, func() bool { return committedEnd(t, tb.addr(), topic) == endOffsets(t, adm, topic)[0] }) {
		t.Fatalf("abort marker never landed")
	}
	if code := produce(0); code != kerr.TransactionAbortable.Code {
		t.Fatalf("late write after the transaction ended: %v, want TRANSACTION_ABORTABLE", kerr.ErrorForCode(code))
	}
	lso, hw := committedEnd(t, tb.addr(), topic), endOffsets(t, adm, topic)[0]
	if lso != hw {
		t.Fatalf("a hanging transaction holds the LSO at %d below the high watermark %d", lso, hw)
	}
}

// TestTxnOffsetCommitVerification: transactional offsets for a group whose
// partition was never added to the transaction (no AddOffsetsToTxn) are
// refused before v5, as a write to a partition never added is; v5 (KIP-890
// part 2) adds the partition itself, so the commit lands and the EndTxn
// marker makes it visible.
func TestTxnOffsetCommitVerification(t *testing.T) {
	tb := startBroker(t, txnConfig)
	adm := newAdmin(t, tb.addr())
	createTopic(t, adm, "txoc-in", 1, nil)
	cl := newClient(t, tb.addr())
	ctx := ctxFor(t, requestTimeout)
	const id, group = "txoc-tx", "txoc-group"
	waitCoordinators(t, ctx, cl, id, group)
	ir := initTransactionalID(t, ctx, cl, id)
	commit := func(version int16, offset int64) int16 {
		t.Helper()
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.Version = version
		req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = id, group, ir.ProducerID, ir.ProducerEpoch
		req.Generation = -1
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = "txoc-in"
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = 0, offset, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		// Pin the version: franz-go would otherwise send its newest.
		vcl := newClient(t, tb.addr(), kgo.MaxVersions(pinned(kmsg.TxnOffsetCommit, version)))
		defer vcl.Close()
		resp, err := req.RequestWith(ctx, vcl)
		if err != nil {
			t.Fatalf("txn offset commit v%d: %v", version, err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	if code := commit(3, 5); code != kerr.InvalidTxnState.Code {
		t.Fatalf("v3 commit without AddOffsetsToTxn: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(code))
	}
	if code := commit(4, 5); code != kerr.TransactionAbortable.Code {
		t.Fatalf("v4 commit without AddOffsetsToTxn: %v, want TRANSACTION_ABORTABLE", kerr.ErrorForCode(code))
	}
	if code := commit(5, 7); code != 0 {
		t.Fatalf("v5 commit: %v", kerr.ErrorForCode(code))
	}
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = id, ir.ProducerID, ir.ProducerEpoch, true
	if resp, err := end.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("end txn: %v %+v", err, resp)
	}
	if !poll(requestTimeout, func() bool {
		offs, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return false
		}
		o, ok := offs.Lookup("txoc-in", 0)
		return ok && o.At == 7
	}) {
		t.Fatal("the v5 transactional offset never became visible after the commit")
	}
}

// pinned is the newest versions with key capped at max.
func pinned(key kmsg.Key, max int16) *kversion.Versions {
	v := kversion.Stable()
	v.SetMaxKeyVersion(int16(key), max)
	return v
}

// rawTxnProduce sends one transactional record of (pid, epoch) at seq to
// a partition, at the newest Produce version cl allows, and returns the
// partition's error code.
func rawTxnProduce(t *testing.T, cl *kgo.Client, txnID, topic string, partition int32, pid int64, epoch int16, seq int32) int16 {
	t.Helper()
	now := time.Now().UnixMilli()
	b, err := records.Build(records.BatchHeader{
		Attributes:    records.TransactionalFlag,
		BaseTimestamp: now, MaxTimestamp: now,
		ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq, PartitionLeaderEpoch: -1,
	}, records.CodecNone, []records.Record{{Value: []byte("v")}})
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrProduceRequest()
	req.TransactionID = &txnID
	req.Acks, req.TimeoutMillis = -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, b
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxFor(t, requestTimeout), cl)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// waitCoordinators waits until the transaction coordinator for txnID and
// the group coordinator for group are found.
func waitCoordinators(t testing.TB, ctx context.Context, cl *kgo.Client, txnID, group string) {
	t.Helper()
	for _, key := range []struct {
		k   string
		typ int8
	}{{txnID, 1}, {group, 0}} {
		if !poll(requestTimeout, func() bool {
			req := kmsg.NewPtrFindCoordinatorRequest()
			req.CoordinatorKey, req.CoordinatorType = key.k, key.typ
			resp, err := req.RequestWith(ctx, cl)
			return err == nil && resp.ErrorCode == 0
		}) {
			t.Fatalf("no coordinator for %s", key.k)
		}
	}
}

// initTransactionalID sends InitProducerID for a new transactional id and
// returns the producer id and epoch it got.
func initTransactionalID(t testing.TB, ctx context.Context, cl *kgo.Client, txnID string) *kmsg.InitProducerIDResponse {
	t.Helper()
	init := kmsg.NewPtrInitProducerIDRequest()
	init.TransactionalID = kmsg.StringPtr(txnID)
	init.TransactionTimeoutMillis = 60000
	init.ProducerID, init.ProducerEpoch = -1, -1
	ir, err := init.RequestWith(ctx, cl)
	if err != nil || ir.ErrorCode != 0 {
		t.Fatalf("init producer id: %v %+v", err, ir)
	}
	return ir
}

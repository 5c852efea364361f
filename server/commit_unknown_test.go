package server_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestOffsetCommitUnknownTopic: as Kafka's KafkaApis does, OffsetCommit
// answers UNKNOWN_TOPIC_OR_PARTITION for a topic or partition that does not
// exist (UNKNOWN_TOPIC_ID for an unknown ID in v10) and stores nothing for
// it, while the partitions of the same request that exist are committed.
func TestOffsetCommitUnknownTopic(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, groupTestConfig)
	adm := newAdmin(t, tb.addr())
	ctx := ctxFor(t, requestTimeout)
	createTopic(t, adm, "oc-known", 2, nil)

	// kadm, as an application would commit.
	const group = "oc-unknown"
	offs := make(kadm.Offsets)
	offs.Add(kadm.Offset{Topic: "oc-known", Partition: 1, At: 11, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: "oc-known", Partition: 2, At: 12, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: "oc-missing", Partition: 0, At: 13, LeaderEpoch: -1})
	var resp kadm.OffsetResponses
	if !poll(requestTimeout, func() bool {
		r, err := adm.CommitOffsets(ctx, group, offs)
		if err != nil {
			return false
		}
		resp = r
		c, _ := r.Lookup("oc-known", 1)
		return !isRetriableCoordinatorErr(c.Err)
	}) {
		t.Fatalf("commit never reached the coordinator: %v", resp)
	}
	for _, want := range []struct {
		topic     string
		partition int32
		err       error
	}{
		{"oc-known", 1, nil},
		{"oc-known", 2, kerr.UnknownTopicOrPartition},
		{"oc-missing", 0, kerr.UnknownTopicOrPartition},
	} {
		got, ok := resp.Lookup(want.topic, want.partition)
		if !ok || got.Err != want.err {
			t.Errorf("commit %s-%d: %v (present %v), want %v", want.topic, want.partition, got.Err, ok, want.err)
		}
	}
	fetched, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	var stored []string
	fetched.Each(func(o kadm.OffsetResponse) { stored = append(stored, o.Topic) })
	if o, ok := fetched.Lookup("oc-known", 1); !ok || o.At != 11 || len(stored) != 1 {
		t.Fatalf("stored offsets %v, want only oc-known-1 at 11", fetched)
	}

	// A request naming only what does not exist, at every version: from
	// v10 topics are named by ID.
	td, err := adm.ListTopics(ctx, "oc-known")
	if err != nil {
		t.Fatal(err)
	}
	knownID := td["oc-known"].ID
	for v := int16(2); v <= 10; v++ {
		cl := newClient(t, tb.addr(), kgo.MaxVersions(pinned(kmsg.OffsetCommit, v)))
		commit := func(topic string, id [16]byte, partition int32, at int64) int16 {
			t.Helper()
			req := kmsg.NewPtrOffsetCommitRequest()
			req.Group, req.Generation = group, -1
			rt := kmsg.NewOffsetCommitRequestTopic()
			rt.Topic, rt.TopicID = topic, id
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch = partition, at, -1
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			r := request[*kmsg.OffsetCommitResponse](t, cl, req)
			if r.Version != v || len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
				t.Fatalf("v%d: malformed answer %+v", v, r)
			}
			return r.Topics[0].Partitions[0].ErrorCode
		}
		missing, wantMissing := "oc-missing", kerr.UnknownTopicOrPartition.Code
		if v >= 10 {
			missing, wantMissing = "", kerr.UnknownTopicID.Code
		}
		if code := commit(missing, [16]byte{1, 2, 3}, 0, 5); code != wantMissing {
			t.Errorf("v%d unknown topic: %v, want %v", v, kerr.ErrorForCode(code), kerr.ErrorForCode(wantMissing))
		}
		name := "oc-known"
		if v >= 10 {
			name = ""
		}
		if code := commit(name, knownID, 7, 5); code != kerr.UnknownTopicOrPartition.Code {
			t.Errorf("v%d unknown partition: %v, want UNKNOWN_TOPIC_OR_PARTITION", v, kerr.ErrorForCode(code))
		}
		if code := commit(name, knownID, 0, int64(100+v)); code != 0 {
			t.Errorf("v%d known partition: %v", v, kerr.ErrorForCode(code))
		}
		fetched, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			t.Fatal(err)
		}
		if o, ok := fetched.Lookup("oc-known", 0); !ok || o.At != int64(100+v) {
			t.Errorf("v%d: committed offset of oc-known-0 is %+v, want %d", v, o, 100+v)
		}
		if _, ok := fetched.Lookup("oc-missing", 0); ok {
			t.Errorf("v%d: an offset was stored for a topic that does not exist", v)
		}
	}
}

// isRetriableCoordinatorErr is true while the group coordinator is still
// being found or loaded.
func isRetriableCoordinatorErr(err error) bool {
	return err == kerr.CoordinatorNotAvailable || err == kerr.CoordinatorLoadInProgress || err == kerr.NotCoordinator
}

// TestTxnOffsetCommitUnknownTopic: TxnOffsetCommit answers
// UNKNOWN_TOPIC_OR_PARTITION for partitions that do not exist before it
// asks the transaction coordinator anything, and commits the rest of the
// request with the transaction.
func TestTxnOffsetCommitUnknownTopic(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, txnConfig)
	adm := newAdmin(t, tb.addr())
	createTopic(t, adm, "txoc-known", 1, nil)
	cl := newClient(t, tb.addr())
	ctx := ctxFor(t, requestTimeout)
	const id, group = "txoc-unknown-tx", "txoc-unknown-group"
	waitCoordinators(t, ctx, cl, id, group)
	ir := initTransactionalID(t, ctx, cl, id)
	type target struct {
		topic     string
		partition int32
	}
	commit := func(version int16, targets ...target) []int16 {
		t.Helper()
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = id, group, ir.ProducerID, ir.ProducerEpoch
		req.Generation = -1
		for _, tg := range targets {
			rt := kmsg.NewTxnOffsetCommitRequestTopic()
			rt.Topic = tg.topic
			rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch = tg.partition, 9, -1
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
		}
		vcl := newClient(t, tb.addr(), kgo.MaxVersions(pinned(kmsg.TxnOffsetCommit, version)))
		resp, err := req.RequestWith(ctx, vcl)
		if err != nil {
			t.Fatalf("txn offset commit v%d: %v", version, err)
		}
		var codes []int16
		for i, st := range resp.Topics {
			if st.Topic != targets[i].topic || len(st.Partitions) != 1 || st.Partitions[0].Partition != targets[i].partition {
				t.Fatalf("v%d: answer %+v does not match the request", version, resp)
			}
			codes = append(codes, st.Partitions[0].ErrorCode)
		}
		if len(codes) != len(targets) {
			t.Fatalf("v%d: %d answers for %d partitions", version, len(codes), len(targets))
		}
		return codes
	}
	// v3 without AddOffsetsToTxn: a commit that reached the transaction
	// check would be INVALID_TXN_STATE; one naming nothing that exists
	// is refused before it.
	for _, v := range []int16{0, 3} {
		codes := commit(v, target{"txoc-nope", 0}, target{"txoc-known", 4})
		for i, c := range codes {
			if c != kerr.UnknownTopicOrPartition.Code {
				t.Errorf("v%d target %d: %v, want UNKNOWN_TOPIC_OR_PARTITION", v, i, kerr.ErrorForCode(c))
			}
		}
	}
	// v5 adds the group's partition itself: the known partition is
	// committed, the others refused.
	codes := commit(5, target{"txoc-nope", 0}, target{"txoc-known", 0}, target{"txoc-known", 1})
	want := []int16{kerr.UnknownTopicOrPartition.Code, 0, kerr.UnknownTopicOrPartition.Code}
	for i := range want {
		if codes[i] != want[i] {
			t.Errorf("v5 target %d: %v, want %v", i, kerr.ErrorForCode(codes[i]), kerr.ErrorForCode(want[i]))
		}
	}
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = id, ir.ProducerID, ir.ProducerEpoch, true
	if resp, err := end.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("end txn: %v %+v", err, resp)
	}
	var fetched kadm.OffsetResponses
	var err error
	if !poll(requestTimeout, func() bool {
		fetched, err = adm.FetchOffsets(ctx, group)
		if err != nil {
			return false
		}
		o, ok := fetched.Lookup("txoc-known", 0)
		return ok && o.At == 9
	}) {
		t.Fatalf("the committed transactional offset never became visible: %v", fetched)
	}
	n := 0
	fetched.Each(func(kadm.OffsetResponse) { n++ })
	if n != 1 {
		t.Fatalf("stored offsets %v, want only txoc-known-0", fetched)
	}
}

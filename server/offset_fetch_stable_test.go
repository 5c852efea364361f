package server_test

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// stableFetchPartition is one partition's answer to an OffsetFetch,
// whatever the response's shape.
type stableFetchPartition struct {
	offset int64
	code   int16
}

// TestOffsetFetchRequireStable: while a transaction holds a pending offset
// commit for a partition, OffsetFetch with RequireStable (KIP-447, v7+)
// answers UNSTABLE_OFFSET_COMMIT for that partition — on every version that
// has the flag, in the single-group shape (v7), the multi-group shape
// (v8+), with topics named by ID (v10) and with null topics (all offsets) —
// while other partitions and other groups answer their committed offsets.
// Once the transaction commits, the new offset is what every version reads.
// A new partition owner that reads the old offset instead consumes the
// transaction's input a second time.
func TestOffsetFetchRequireStable(t *testing.T) {
	tb := startBroker(t, txnConfig)
	adm := newAdmin(t, tb.addr())
	const topic, group, other, txnID = "stable-in", "stable-g", "stable-g2", "stable-tx"
	created := createTopic(t, adm, topic, 2, nil)
	topicID := [16]byte(created.ID)
	cl := newClient(t, tb.addr())
	ctx := ctxFor(t, requestTimeout)

	// Plain commits: group p0=3, p1=4; the other group p0=9.
	for _, c := range []struct {
		group string
		p     int32
		o     int64
	}{{group, 0, 3}, {group, 1, 4}, {other, 0, 9}} {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.Generation = c.group, -1
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic, rt.TopicID = topic, topicID // v10 names topics by ID
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = c.p, c.o, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("commit %+v: %v %+v", c, err, resp)
		}
	}

	// An open transaction moves group's p0 to 10.
	ir := initTransactionalID(t, ctx, cl, txnID)
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = txnID, ir.ProducerID, ir.ProducerEpoch, group
	if resp, err := add.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("add offsets to txn: %v %+v", err, resp)
	}
	toc := kmsg.NewPtrTxnOffsetCommitRequest()
	toc.TransactionalID, toc.Group, toc.ProducerID, toc.ProducerEpoch = txnID, group, ir.ProducerID, ir.ProducerEpoch
	toc.Generation = -1
	tt := kmsg.NewTxnOffsetCommitRequestTopic()
	tt.Topic = topic
	tp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	tp.Partition, tp.Offset, tp.LeaderEpoch = 0, 10, -1
	tt.Partitions = append(tt.Partitions, tp)
	toc.Topics = append(toc.Topics, tt)
	if resp, err := toc.RequestWith(ctx, cl); err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("txn offset commit: %v %+v", err, resp)
	}

	rc := dialRaw(t, tb.addr())
	// fetch sends one OffsetFetch at version v for groups (one group only
	// below v8), naming partitions 0 and 1 or — with all — null topics,
	// and returns the answers by group and partition.
	fetch := func(v int16, stable, all bool, groups ...string) map[string]map[int32]stableFetchPartition {
		t.Helper()
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version, req.RequireStable = v, stable
		out := make(map[string]map[int32]stableFetchPartition)
		if v < 8 {
			req.Group = groups[0]
			if !all {
				rt := kmsg.NewOffsetFetchRequestTopic()
				rt.Topic, rt.Partitions = topic, []int32{0, 1}
				req.Topics = append(req.Topics, rt)
			}
			resp := rc.roundTrip(req).(*kmsg.OffsetFetchResponse)
			if resp.ErrorCode != 0 {
				t.Fatalf("v%d: %v", v, kerr.ErrorForCode(resp.ErrorCode))
			}
			m := make(map[int32]stableFetchPartition)
			for _, rt := range resp.Topics {
				if rt.Topic != topic {
					t.Fatalf("v%d: answer for topic %q", v, rt.Topic)
				}
				for _, p := range rt.Partitions {
					m[p.Partition] = stableFetchPartition{p.Offset, p.ErrorCode}
				}
			}
			out[groups[0]] = m
			return out
		}
		for _, g := range groups {
			rg := kmsg.NewOffsetFetchRequestGroup()
			rg.Group = g
			if !all {
				rt := kmsg.NewOffsetFetchRequestGroupTopic()
				if v >= 10 {
					rt.TopicID = topicID
				} else {
					rt.Topic = topic
				}
				rt.Partitions = []int32{0, 1}
				rg.Topics = append(rg.Topics, rt)
			}
			req.Groups = append(req.Groups, rg)
		}
		resp := rc.roundTrip(req).(*kmsg.OffsetFetchResponse)
		for _, rg := range resp.Groups {
			if rg.ErrorCode != 0 {
				t.Fatalf("v%d group %s: %v", v, rg.Group, kerr.ErrorForCode(rg.ErrorCode))
			}
			m := make(map[int32]stableFetchPartition)
			for _, rt := range rg.Topics {
				if v >= 10 && rt.TopicID != topicID || v < 10 && rt.Topic != topic {
					t.Fatalf("v%d group %s: answer for topic %q %x", v, rg.Group, rt.Topic, rt.TopicID)
				}
				for _, p := range rt.Partitions {
					m[p.Partition] = stableFetchPartition{p.Offset, p.ErrorCode}
				}
			}
			out[rg.Group] = m
		}
		if len(out) != len(groups) {
			t.Fatalf("v%d: answers for %d groups, want %d", v, len(out), len(groups))
		}
		return out
	}
	check := func(what string, got map[int32]stableFetchPartition, want map[int32]stableFetchPartition) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: got %v, want %v (offset, code)", what, got, want)
		}
	}
	unstable := stableFetchPartition{-1, kerr.UnstableOffsetCommit.Code}
	for v := int16(7); v <= 10; v++ {
		for _, all := range []bool{false, true} {
			shape := fmt.Sprintf("v%d all=%v", v, all)
			check(shape+" stable", fetch(v, true, all, group)[group],
				map[int32]stableFetchPartition{0: unstable, 1: {4, 0}})
			// Without RequireStable the pending offset stays invisible.
			check(shape+" unstable ok", fetch(v, false, all, group)[group],
				map[int32]stableFetchPartition{0: {3, 0}, 1: {4, 0}})
			if v >= 8 {
				got := fetch(v, true, all, other, group)
				check(shape+" multi-group "+group, got[group],
					map[int32]stableFetchPartition{0: unstable, 1: {4, 0}})
				want := map[int32]stableFetchPartition{0: {9, 0}, 1: {-1, 0}}
				if all {
					want = map[int32]stableFetchPartition{0: {9, 0}}
				}
				check(shape+" multi-group "+other, got[other], want)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = txnID, ir.ProducerID, ir.ProducerEpoch, true
	if resp, err := end.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("end txn: %v %+v", err, resp)
	}
	// The commit marker reaches __consumer_offsets after EndTxn answers.
	if !poll(requestTimeout, func() bool {
		return fetch(10, true, false, group)[group][0] == stableFetchPartition{10, 0}
	}) {
		t.Fatalf("the committed transactional offset never became stable: %v", fetch(10, true, false, group))
	}
	for v := int16(7); v <= 10; v++ {
		for _, all := range []bool{false, true} {
			check(fmt.Sprintf("v%d all=%v after commit", v, all), fetch(v, true, all, group)[group],
				map[int32]stableFetchPartition{0: {10, 0}, 1: {4, 0}})
		}
	}
}

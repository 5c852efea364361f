package coordinator

// Transactional offset commits (KIP-98, KIP-447) on the group side. A
// TxnOffsetCommit's records are written to __consumer_offsets inside the
// producer's transaction (a transactional batch with its producer id and
// epoch) and stay pending, invisible to OffsetFetch, until the transaction
// coordinator's marker reaches the partition: COMMIT materialises them,
// ABORT drops them (Kafka's OffsetMetadataManager pending transactional
// offsets and replayEndTransactionMarker). Replay does the same from the
// log, so pending offsets survive a restart until their marker is written.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type pendingTxnOffset struct {
	group, topic string
	partition    int32
	o            committedOffset
}

// txnOffsets holds the pending offsets of open transactions by producer id.
type txnOffsets struct {
	pending map[int64][]pendingTxnOffset
}

func (t *txnOffsets) add(pid int64, p pendingTxnOffset) {
	if t.pending == nil {
		t.pending = make(map[int64][]pendingTxnOffset)
	}
	t.pending[pid] = append(t.pending[pid], p)
}

func (t *txnOffsets) has(group, topic string, partition int32) bool {
	for _, ps := range t.pending {
		for _, p := range ps {
			if p.group == group && p.topic == topic && p.partition == partition {
				return true
			}
		}
	}
	return false
}

// TxnOffsetCommit validates a TxnOffsetCommit and returns its response and
// the records to write in the producer's transaction. The offsets become
// pending only when the caller, having written the records, calls
// AddPendingTxnOffsets with the returned records.
func (s *Shard) TxnOffsetCommit(now time.Time, req *kmsg.TxnOffsetCommitRequest) (*kmsg.TxnOffsetCommitResponse, []Record) {
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	code := s.validateTxnOffsetCommit(req)
	var recs []Record
	for _, rt := range req.Topics {
		st := kmsg.NewTxnOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = code
			if code == 0 {
				// TxnOffsetCommit carries the leader epoch from v2.
				o, pcode := s.newCommittedOffset(now, rp.Offset, rp.LeaderEpoch, req.Version >= 2, rp.Metadata, -1)
				sp.ErrorCode = pcode
				if pcode == 0 {
					recs = append(recs, offsetCommitRecord(req.Group, rt.Topic, rp.Partition, o))
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, recs
}

// validateTxnOffsetCommit is the group check of a transactional commit: a
// consumer that names its member and generation must be current (KIP-447
// fences zombie members); an unknown group takes commits without them.
func (s *Shard) validateTxnOffsetCommit(req *kmsg.TxnOffsetCommitRequest) int16 {
	if req.Group == "" {
		return kerr.InvalidGroupID.Code
	}
	if cg, ok := s.consumer[req.Group]; ok {
		if req.Generation < 0 && req.MemberID == "" {
			return 0
		}
		m, ok := cg.members[req.MemberID]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		if req.Generation != m.epoch {
			return kerr.IllegalGeneration.Code
		}
		return 0
	}
	g, ok := s.classic[req.Group]
	if !ok {
		if req.Generation >= 0 || req.MemberID != "" {
			return kerr.IllegalGeneration.Code
		}
		return 0
	}
	if req.Generation < 0 && req.MemberID == "" && req.InstanceID == nil {
		return 0
	}
	if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
		return code
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	return 0
}

// AddPendingTxnOffsets records written transactional offset commits as
// pending for producerID.
func (s *Shard) AddPendingTxnOffsets(producerID int64, recs []Record) {
	for _, r := range recs {
		_ = s.ReplayTxnOffset(producerID, r.Key, r.Value)
	}
}

// ReplayTxnOffset applies one record of a transactional batch read back from
// __consumer_offsets: an offset commit that stays pending until its marker.
func (s *Shard) ReplayTxnOffset(producerID int64, key, value []byte) error {
	d, ok, err := decodeRecord(key, value)
	if err != nil || !ok || d.offset == nil {
		return err
	}
	if d.kind != keyOffsetCommitV0 && d.kind != keyOffsetCommitV1 {
		return nil
	}
	s.txn.add(producerID, pendingTxnOffset{group: d.group, topic: d.topic, partition: d.partition, o: committedOffsetFromValue(d.offset)})
	return nil
}

// CompleteTxn applies a transaction marker for producerID written to this
// shard's partition: COMMIT makes its pending offsets the committed ones,
// ABORT drops them.
func (s *Shard) CompleteTxn(producerID int64, commit bool) {
	ps := s.txn.pending[producerID]
	delete(s.txn.pending, producerID)
	if !commit {
		return
	}
	for _, p := range ps {
		if !s.groupExists(p.group) {
			s.classic[p.group] = newClassicGroup(p.group, time.Time{})
		}
		s.setOffset(p.group, p.topic, p.partition, p.o)
	}
}

// unstablePartition is an OffsetFetch answer for a partition with a pending
// transactional commit when the fetch requires stable offsets (KIP-447): a
// consumer taking over the partition must not start from an offset that a
// committing transaction is about to move. Like Kafka's
// OffsetMetadataManager.fetchOffsets it carries no offset.
func unstablePartition(p int32) kmsg.OffsetFetchResponseGroupTopicPartition {
	sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
	sp.Partition = p
	sp.Offset, sp.LeaderEpoch, sp.Metadata = -1, -1, strp("")
	sp.ErrorCode = kerr.UnstableOffsetCommit.Code
	return sp
}

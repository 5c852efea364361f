package coordinator

// Records of __transaction_state, in Kafka's schemas (kmsg.TxnMetadataKey
// and kmsg.TxnMetadataValue, key version 0), so Kafka's tools can read them.
// The value is version 0 for transactions of transaction.version 0/1 and
// version 1, with KIP-890's tagged fields (previous and next producer id,
// the client's transaction version), for transaction.version 2. A nil value
// is a tombstone: the transactional id expired.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

var errBadTxnRecord = errors.New("malformed __transaction_state record")

func txnKey(id string) []byte {
	k := kmsg.NewTxnMetadataKey()
	k.Version = 0
	k.TransactionalID = id
	return k.AppendTo(nil)
}

func txnRecord(m *txnMetadata) Record {
	v := kmsg.NewTxnMetadataValue()
	v.Version = 0
	if m.clientTV >= 2 || m.nextPID >= 0 {
		v.Version = 1
		v.PreviousProducerID, v.NextProducerID = m.prevPID, m.nextPID
		v.ClientTransactionVersion = m.clientTV
	}
	v.ProducerID = m.producerID
	v.ProducerEpoch = m.epoch
	v.TimeoutMillis = int32(m.timeout / time.Millisecond)
	v.State = m.state
	v.LastUpdateTimestamp = millis(m.lastUpdate)
	v.StartTimestamp = millis(m.start)
	byTopic := map[string][]int32{}
	for tp := range m.partitions {
		byTopic[tp.Topic] = append(byTopic[tp.Topic], tp.Partition)
	}
	for _, t := range sortedKeys(byTopic) {
		vt := kmsg.NewTxnMetadataValueTopic()
		vt.Topic = t
		vt.Partitions = byTopic[t]
		sort.Slice(vt.Partitions, func(i, j int) bool { return vt.Partitions[i] < vt.Partitions[j] })
		v.Topics = append(v.Topics, vt)
	}
	return Record{Key: txnKey(m.id), Value: v.AppendTo(nil)}
}

// Replay applies one record read back from __transaction_state. Unknown key
// versions are skipped; a malformed record is an error the caller logs.
func (s *TxnShard) Replay(key, value []byte) error {
	if len(key) < 2 {
		return fmt.Errorf("%w: key of %d bytes", errBadTxnRecord, len(key))
	}
	if v := int16(binary.BigEndian.Uint16(key)); v != 0 {
		return nil
	}
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(key); err != nil {
		return fmt.Errorf("%w: key: %v", errBadTxnRecord, err)
	}
	if value == nil {
		delete(s.txns, k.TransactionalID)
		return nil
	}
	v := kmsg.NewTxnMetadataValue()
	if err := v.ReadFrom(value); err != nil {
		return fmt.Errorf("%w: value: %v", errBadTxnRecord, err)
	}
	m := &txnMetadata{id: k.TransactionalID, producerID: v.ProducerID, prevPID: -1, nextPID: -1, epoch: v.ProducerEpoch,
		lastEpoch: -1, timeout: time.Duration(v.TimeoutMillis) * time.Millisecond, state: v.State,
		partitions: map[TxnTopicPartition]struct{}{}}
	if old, ok := s.txns[k.TransactionalID]; ok && old.producerID != v.ProducerID {
		m.prevPID = old.producerID
	}
	if v.Version >= 1 {
		if v.PreviousProducerID >= 0 {
			m.prevPID = v.PreviousProducerID
		}
		m.nextPID = v.NextProducerID
		m.clientTV = v.ClientTransactionVersion
		// A decided transaction of version 2 bumped its epoch to end.
		m.endBumped = m.clientTV >= 2 && (v.State == txnPrepareCommit || v.State == txnPrepareAbort)
		// That bump was the producer's own EndTxn (or a fence of it),
		// so the epoch before it is this producer's and may re-init as
		// a retry. Otherwise the previous epoch is unknown, as in
		// Kafka's loading: it may be another instance's.
		switch v.State {
		case txnPrepareCommit, txnPrepareAbort, txnCompleteCommit, txnCompleteAbort:
			if m.clientTV >= 2 && v.ProducerEpoch > 0 && m.nextPID < 0 {
				m.lastEpoch = v.ProducerEpoch - 1
			}
		}
	}
	if v.StartTimestamp > 0 {
		m.start = time.UnixMilli(v.StartTimestamp)
	}
	if v.LastUpdateTimestamp > 0 {
		m.lastUpdate = time.UnixMilli(v.LastUpdateTimestamp)
	}
	for _, t := range v.Topics {
		for _, p := range t.Partitions {
			m.partitions[TxnTopicPartition{t.Topic, p}] = struct{}{}
		}
	}
	s.txns[k.TransactionalID] = m
	return nil
}

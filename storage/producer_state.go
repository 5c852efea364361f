package storage

import (
	"fmt"
	"slices"
)

// numBatchesToRetain is how many recent batches per producer are kept for
// duplicate detection: Kafka's ProducerStateEntry.NUM_BATCHES_TO_RETAIN,
// which matches max.in.flight.requests.per.connection=5 (KIP-98).
const numBatchesToRetain = 5

// noProducerEpoch is RecordBatch.NO_PRODUCER_EPOCH.
const noProducerEpoch int16 = -1

// BatchMetadata describes one of a producer's recent batches.
type BatchMetadata struct {
	FirstSeq, LastSeq       int32
	FirstOffset, LastOffset int64
	Timestamp               int64 // the batch's max timestamp
}

// ProducerEntry is the state kept per producer id, as Kafka's
// ProducerStateEntry.
type ProducerEntry struct {
	ProducerID            int64
	ProducerEpoch         int16
	CoordinatorEpoch      int32
	LastTimestamp         int64
	CurrentTxnFirstOffset int64           // -1 when no transaction is open
	Batches               []BatchMetadata // oldest first, at most 5
}

// LastSequence is the sequence of the producer's last record, or -1.
func (e *ProducerEntry) LastSequence() int32 {
	if len(e.Batches) == 0 {
		return -1
	}
	return e.Batches[len(e.Batches)-1].LastSeq
}

// LastOffset is the offset of the producer's last record, or -1.
func (e *ProducerEntry) LastOffset() int64 {
	if len(e.Batches) == 0 {
		return -1
	}
	return e.Batches[len(e.Batches)-1].LastOffset
}

func (e *ProducerEntry) clone() ProducerEntry {
	c := *e
	c.Batches = slices.Clone(e.Batches)
	return c
}

// findDuplicateBatch is ProducerStateEntry.findDuplicateBatch: a batch of the
// current epoch whose sequence range equals one of the retained batches.
func (e *ProducerEntry) findDuplicateBatch(h batchHeader) (BatchMetadata, bool) {
	if h.producerEpoch != e.ProducerEpoch {
		return BatchMetadata{}, false
	}
	first, last := h.baseSequence, h.lastSequence()
	for _, b := range e.Batches {
		if b.FirstSeq == first && b.LastSeq == last {
			return b, true
		}
	}
	return BatchMetadata{}, false
}

// addBatch records an appended batch; a new epoch forgets the old batches
// (ProducerStateEntry.addBatch).
func (e *ProducerEntry) addBatch(epoch int16, firstSeq, lastSeq int32, lastOffset int64, offsetDelta int32, timestamp int64) {
	if e.ProducerEpoch != epoch {
		e.Batches = e.Batches[:0]
		e.ProducerEpoch = epoch
	}
	e.Batches = append(e.Batches, BatchMetadata{
		FirstSeq: firstSeq, LastSeq: lastSeq,
		FirstOffset: lastOffset - int64(offsetDelta), LastOffset: lastOffset,
		Timestamp: timestamp,
	})
	if len(e.Batches) > numBatchesToRetain {
		e.Batches = slices.Delete(e.Batches, 0, len(e.Batches)-numBatchesToRetain)
	}
	e.LastTimestamp = timestamp
}

// producerStateManager holds the state of every producer that wrote to the
// partition. It is guarded by Log.appendMu.
type producerStateManager struct {
	producers map[int64]*ProducerEntry
	// replaying is set while the log loads: transactions that control
	// batches complete are collected in completed for the transaction
	// index (txn_index.go, rebuildTxnState).
	replaying bool
	completed []completedTxn
}

func newProducerStateManager() *producerStateManager {
	return &producerStateManager{producers: make(map[int64]*ProducerEntry)}
}

// checkLeaderAppend runs the checks of Kafka's UnifiedLog
// analyzeAndValidateProducerState and ProducerAppendInfo for a batch from a
// client. dup is set when the batch repeats one of the producer's last
// five batches; the caller then writes nothing and answers with dup's
// offsets.
//
// mc is set for a transaction marker from the coordinator.
func (m *producerStateManager) checkLeaderAppend(h batchHeader, mc *MarkerCheck) (dup *BatchMetadata, err error) {
	if !h.hasProducerID() {
		return nil, nil
	}
	e := m.producers[h.producerID]
	if e == nil {
		// An unknown producer may start at any sequence: its state may have
		// expired or been removed with the log's head (KIP-360).
		return nil, nil
	}
	if !h.isControl() {
		if b, ok := e.findDuplicateBatch(h); ok {
			return &b, nil
		}
	}
	if h.producerEpoch < e.ProducerEpoch {
		return nil, fmt.Errorf("%w: producer %d epoch %d is older than current epoch %d",
			ErrInvalidProducerEpoch, h.producerID, h.producerEpoch, e.ProducerEpoch)
	}
	if h.isControl() {
		// Transaction markers carry no sequence.
		return nil, checkMarker(e, h, mc)
	}
	if h.isTransactional() && h.baseSequence == noSequence {
		// The coordinator's own transactional writes (TxnOffsetCommit to
		// __consumer_offsets) carry no sequence, as Kafka's
		// AppendOrigin.COORDINATOR; clients' batches with none are
		// refused before they reach the log.
		return nil, nil
	}
	if h.producerEpoch != e.ProducerEpoch {
		// KIP-360: a bumped epoch restarts the sequence at 0.
		if h.baseSequence != 0 && e.ProducerEpoch != noProducerEpoch {
			return nil, fmt.Errorf("%w: producer %d new epoch %d must start at sequence 0, got %d",
				ErrOutOfOrderSequence, h.producerID, h.producerEpoch, h.baseSequence)
		}
		return nil, nil
	}
	last := e.LastSequence()
	if e.ProducerEpoch != noProducerEpoch && !inSequence(last, h.baseSequence) {
		return nil, fmt.Errorf("%w: producer %d epoch %d expected sequence %d, got %d",
			ErrOutOfOrderSequence, h.producerID, h.producerEpoch, incrementSequence(last, 1), h.baseSequence)
	}
	return nil, nil
}

// checkMarker is the rest of ProducerAppendInfo.appendEndTxnMarker's
// checks. Under transaction version 2 the coordinator bumped the epoch to
// end the transaction, so a marker at the epoch of an open transaction is
// a late or repeated marker of an earlier one and must not end this one
// (KIP-890); at the current epoch with no open transaction it is a retry
// of a marker already written and is accepted again. A coordinator epoch
// older than the producer's last marker comes from a deposed coordinator.
func checkMarker(e *ProducerEntry, h batchHeader, mc *MarkerCheck) error {
	if mc == nil {
		return nil
	}
	if mc.TransactionVersion >= 2 && h.producerEpoch == e.ProducerEpoch && e.CurrentTxnFirstOffset >= 0 {
		return fmt.Errorf("%w: producer %d marker epoch %d is not above the epoch of its open transaction (transaction version %d)",
			ErrInvalidProducerEpoch, h.producerID, h.producerEpoch, mc.TransactionVersion)
	}
	if e.CoordinatorEpoch > mc.CoordinatorEpoch {
		return fmt.Errorf("%w: producer %d marker from coordinator epoch %d, already saw %d",
			ErrTransactionCoordinatorFenced, h.producerID, mc.CoordinatorEpoch, e.CoordinatorEpoch)
	}
	return nil
}

// setCoordinatorEpoch records the coordinator epoch of a marker just
// appended for a producer.
func (m *producerStateManager) setCoordinatorEpoch(producerID int64, epoch int32) {
	if e := m.producers[producerID]; e != nil && epoch > e.CoordinatorEpoch {
		e.CoordinatorEpoch = epoch
	}
}

// inSequence is ProducerAppendInfo.inSequence: next follows last, wrapping
// at MaxInt32.
func inSequence(last, next int32) bool {
	return int64(next) == int64(last)+1 || next == 0 && last == 1<<31-1
}

// update applies an appended batch (leader or follower, or replayed during
// recovery) to the producer table.
func (m *producerStateManager) update(h batchHeader) {
	if !h.hasProducerID() {
		return
	}
	e := m.producers[h.producerID]
	if e == nil {
		e = &ProducerEntry{ProducerID: h.producerID, ProducerEpoch: noProducerEpoch, CoordinatorEpoch: -1, CurrentTxnFirstOffset: -1}
		m.producers[h.producerID] = e
	}
	if h.isControl() {
		// A COMMIT or ABORT marker ends the producer's transaction.
		if m.replaying && e.CurrentTxnFirstOffset >= 0 {
			m.completed = append(m.completed, completedTxn{producerID: h.producerID, firstOffset: e.CurrentTxnFirstOffset,
				lastOffset: h.lastOffset(), lastStable: m.stableAfter(h.producerID, h.lastOffset())})
		}
		if h.producerEpoch > e.ProducerEpoch {
			e.ProducerEpoch = h.producerEpoch
			e.Batches = e.Batches[:0]
		}
		e.CurrentTxnFirstOffset = -1
		e.LastTimestamp = h.maxTimestamp
		return
	}
	if h.isTransactional() && e.CurrentTxnFirstOffset < 0 {
		e.CurrentTxnFirstOffset = h.baseOffset
	}
	e.addBatch(h.producerEpoch, h.baseSequence, h.lastSequence(), h.lastOffset(), h.lastOffsetDelta, h.maxTimestamp)
}

// removeExpired is ProducerStateManager.removeExpiredProducers: a producer
// with no open transaction whose last batch timestamp is expirationMs or
// more in the past is forgotten (producer.id.expiration.ms, KIP-854). Its
// next batch is then accepted as from a new producer, at any sequence
// (KIP-360). It returns how many producers were removed.
func (m *producerStateManager) removeExpired(nowMs, expirationMs int64) int {
	if expirationMs <= 0 {
		return 0
	}
	n := 0
	for id, e := range m.producers {
		if e.CurrentTxnFirstOffset < 0 && nowMs-e.LastTimestamp >= expirationMs {
			delete(m.producers, id)
			n++
		}
	}
	return n
}

// snapshot copies the table.
func (m *producerStateManager) snapshot() map[int64]ProducerEntry {
	out := make(map[int64]ProducerEntry, len(m.producers))
	for id, e := range m.producers {
		out[id] = e.clone()
	}
	return out
}

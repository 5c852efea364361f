package storage

import (
	"sort"

	"github.com/riffle-io/riffle/protocol/records"
)

// cleanedTxns follows transactions through the batches a cleaning reads, in
// offset order, to tell which batches may go (Kafka's
// CleanedTransactionMetadata, KIP-98):
//
//   - a data batch of a producer between an aborted transaction's first
//     offset and its ABORT marker is aborted data: its records go;
//   - an ABORT marker stays while this pass read data of its transaction,
//     and so does its .txnindex entry; a COMMIT marker stays while this
//     pass read data of its transaction. Once a marker's transaction has no
//     data left it may go, after its delete horizon (KIP-534).
//
// Everything a cleaning reads lies below the first unstable offset, so a
// transactional batch that is not aborted belongs to a committed
// transaction. One cleanedTxns follows one pass over the log from its start,
// across groups, so a marker is kept while data of its transaction remains
// anywhere below it.
type cleanedTxns struct {
	pending   []AbortedTxn                 // aborted transactions not yet reached, by FirstOffset
	aborted   map[int64]*abortedInCleaning // producer id → its aborted transaction being read
	committed map[int64]bool               // producer ids with committed data read since their last marker
}

type abortedInCleaning struct {
	txn      AbortedTxn
	dataRead bool
}

func newCleanedTxns(aborted []AbortedTxn) *cleanedTxns {
	pending := append([]AbortedTxn(nil), aborted...)
	sort.SliceStable(pending, func(i, j int) bool { return pending[i].FirstOffset < pending[j].FirstOffset })
	return &cleanedTxns{pending: pending, aborted: make(map[int64]*abortedInCleaning), committed: make(map[int64]bool)}
}

// reach opens the aborted transactions that began at or before offset.
func (t *cleanedTxns) reach(offset int64) {
	for len(t.pending) > 0 && t.pending[0].FirstOffset <= offset {
		a := t.pending[0]
		t.pending = t.pending[1:]
		if _, ok := t.aborted[a.ProducerID]; !ok {
			t.aborted[a.ProducerID] = &abortedInCleaning{txn: a}
		}
	}
}

// onData reads a data batch and reports whether it is aborted data
// (CleanedTransactionMetadata.onBatchRead).
func (t *cleanedTxns) onData(h batchHeader) bool {
	t.reach(h.lastOffset())
	if !h.isTransactional() {
		return false
	}
	if a, ok := t.aborted[h.producerID]; ok {
		a.dataRead = true
		return true
	}
	t.committed[h.producerID] = true
	return false
}

// onControl reads a control batch and reports whether its transaction has
// no data left, so the marker may go once its delete horizon passes
// (CleanedTransactionMetadata.onControlBatchRead). keep is the aborted
// transaction entry the cleaned .txnindex must keep for this marker.
func (t *cleanedTxns) onControl(h batchHeader, b records.Batch) (empty bool, keep *AbortedTxn) {
	t.reach(h.lastOffset())
	typ, err := ControlRecordType(b)
	if err != nil {
		// Kafka treats a control batch without records as cleaned already;
		// one we cannot read we keep as it is.
		return h.numRecords == 0, nil
	}
	switch typ {
	case ControlAbort:
		a, ok := t.aborted[h.producerID]
		delete(t.aborted, h.producerID)
		if ok && a.dataRead {
			return false, &a.txn
		}
		return true, nil
	case ControlCommit:
		had := t.committed[h.producerID]
		delete(t.committed, h.producerID)
		return !had, nil
	default:
		return false, nil
	}
}

package storage

// Transactions on the partition side (KIP-98): which transactions are open
// (they hold back the last stable offset), and which were aborted (the
// .txnindex files, returned with read_committed fetches so that consumers
// drop aborted records).
//
// A .txnindex file is a sequence of Kafka's AbortedTxn entries, one per
// ABORT marker written to its segment, in marker order:
//
//	+---------------+-----------------+-------------------+------------------+-----------------------+
//	| version int16 | producerId int64| firstOffset int64 | lastOffset int64 | lastStableOffset int64|  34 bytes
//	+---------------+-----------------+-------------------+------------------+-----------------------+
//	firstOffset: the transaction's first offset in this partition
//	lastOffset: the offset of the ABORT marker
//	lastStableOffset: the LSO once the transaction completed
//
// The entry is written after the marker batch (Kafka's LogSegment.updateTxnIndex
// follows the append). A crash between the two leaves a marker without its
// entry; loading the log replays producer state from the newest snapshot,
// which always lies at or before the marker's segment, and re-adds it. Entries
// at or past the log end (a torn tail, a follower's truncation) are dropped.

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/riffle-io/riffle/protocol/records"
)

const (
	abortedTxnSize    = 2 + 8 + 8 + 8 + 8
	abortedTxnVersion = 0
)

// AbortedTxn is one aborted transaction (Kafka's AbortedTxn).
type AbortedTxn struct {
	ProducerID       int64
	FirstOffset      int64
	LastOffset       int64 // the ABORT marker
	LastStableOffset int64
}

// ControlType is the type of a KIP-98 control record (the record key's
// second int16): 0 ABORT, 1 COMMIT.
type ControlType int16

const (
	ControlAbort  ControlType = 0
	ControlCommit ControlType = 1
)

// completedTxn is a transaction that a control batch ended, recorded by
// producerStateManager.update for the transaction state to index.
type completedTxn struct {
	producerID  int64
	firstOffset int64
	lastOffset  int64 // the marker
	lastStable  int64 // the LSO once it completed; -1: compute it now
}

// stableAfter is the last stable offset once producerID's transaction
// ends with the marker at lastOffset: the oldest other open transaction's
// first offset, else the offset after the marker
// (ProducerStateManager.lastStableOffset(completedTxn)).
func (m *producerStateManager) stableAfter(producerID, lastOffset int64) int64 {
	lso := lastOffset + 1
	for id, e := range m.producers {
		if id != producerID && e.CurrentTxnFirstOffset >= 0 && e.CurrentTxnFirstOffset < lso {
			lso = e.CurrentTxnFirstOffset
		}
	}
	return lso
}

// txnState is the partition's transaction bookkeeping, readable without
// Log.appendMu (fetches ask for the LSO and aborted list on every read).
type txnState struct {
	mu            sync.RWMutex
	ongoing       map[int64]int64 // producer id → first offset of its open transaction
	firstUnstable int64           // smallest first offset in ongoing, -1 when none
	aborted       []AbortedTxn    // ascending LastOffset
	// unreplicated are completed transactions whose marker is not below
	// the high watermark yet: they still hold back the last stable
	// offset, since a new leader without the marker would find them open
	// (ProducerStateManager.unreplicatedTxns).
	unreplicated []completedTxn
}

// onHighWatermarkUpdatedLocked forgets the completed transactions whose
// marker the high watermark passed (ProducerStateManager
// .onHighWatermarkUpdated). t.mu held.
func (t *txnState) onHighWatermarkUpdatedLocked(hw int64) {
	keep := t.unreplicated[:0]
	for _, c := range t.unreplicated {
		if c.lastOffset >= hw {
			keep = append(keep, c)
		}
	}
	clear(t.unreplicated[len(keep):])
	t.unreplicated = keep
}

func (t *txnState) recomputeLocked() {
	t.firstUnstable = -1
	for _, first := range t.ongoing {
		if t.firstUnstable < 0 || first < t.firstUnstable {
			t.firstUnstable = first
		}
	}
}

// FirstUnstableOffset is the first offset of the oldest open transaction,
// or -1 when none is open.
func (l *Log) FirstUnstableOffset() int64 {
	l.txn.mu.RLock()
	defer l.txn.mu.RUnlock()
	if l.txn.ongoing == nil {
		return -1
	}
	return l.txn.firstUnstable
}

// LastStableOffset is the offset below which every transaction is decided
// and its marker replicated: the first offset of the oldest transaction
// that is open or whose marker is not below the high watermark yet, capped
// by the high watermark (UnifiedLog.lastStableOffset with
// ProducerStateManager.firstUnstableOffset, KIP-98).
func (l *Log) LastStableOffset() int64 {
	lso := l.HighWatermark()
	l.txn.mu.RLock()
	defer l.txn.mu.RUnlock()
	if l.txn.ongoing != nil && l.txn.firstUnstable >= 0 {
		lso = min(lso, l.txn.firstUnstable)
	}
	for _, c := range l.txn.unreplicated {
		lso = min(lso, c.firstOffset)
	}
	return lso
}

// OngoingTransactions returns producer id → first offset of every open
// transaction.
func (l *Log) OngoingTransactions() map[int64]int64 {
	l.txn.mu.RLock()
	defer l.txn.mu.RUnlock()
	out := make(map[int64]int64, len(l.txn.ongoing))
	for k, v := range l.txn.ongoing {
		out[k] = v
	}
	return out
}

// AbortedTransactions returns the aborted transactions a read_committed
// fetch of [fetchOffset, upperBound) must report: those whose marker is at
// or after fetchOffset and that began before upperBound
// (UnifiedLog.collectAbortedTransactions).
func (l *Log) AbortedTransactions(fetchOffset, upperBound int64) []AbortedTxn {
	l.txn.mu.RLock()
	defer l.txn.mu.RUnlock()
	i := sort.Search(len(l.txn.aborted), func(i int) bool { return l.txn.aborted[i].LastOffset >= fetchOffset })
	var out []AbortedTxn
	for _, a := range l.txn.aborted[i:] {
		if a.FirstOffset < upperBound {
			out = append(out, a)
		}
	}
	return out
}

// ControlRecordType reads the type of a control batch's first record.
func ControlRecordType(b records.Batch) (ControlType, error) {
	var typ ControlType = -1
	err := b.ForEachRecordLimit(1<<16, func(r *records.Record) error {
		if typ >= 0 {
			return nil
		}
		if len(r.Key) < 4 {
			return fmt.Errorf("%w: control record key of %d bytes", records.ErrCorrupt, len(r.Key))
		}
		typ = ControlType(int16(binary.BigEndian.Uint16(r.Key[2:])))
		return nil
	})
	if err != nil {
		return -1, err
	}
	if typ < 0 {
		return -1, fmt.Errorf("%w: control batch without records", records.ErrCorrupt)
	}
	return typ, nil
}

// ControlCoordinatorEpoch returns the coordinator epoch a COMMIT or ABORT
// marker carries (Kafka's EndTransactionMarker value: version, epoch).
func ControlCoordinatorEpoch(b records.Batch) (int32, error) {
	epoch, found := int32(-1), false
	err := b.ForEachRecordLimit(1<<16, func(r *records.Record) error {
		if found {
			return nil
		}
		if len(r.Value) < 6 {
			return fmt.Errorf("%w: control record value of %d bytes", records.ErrCorrupt, len(r.Value))
		}
		epoch, found = int32(binary.BigEndian.Uint32(r.Value[2:])), true
		return nil
	})
	if err == nil && !found {
		err = fmt.Errorf("%w: control batch without records", records.ErrCorrupt)
	}
	return epoch, err
}

// trackTxnLocked updates the transaction state for a batch just appended,
// before producer state sees it: a transactional batch may open a
// transaction, a control batch closes one and, for ABORT, is indexed.
// appendMu held.
func (l *Log) trackTxnLocked(b records.Batch, h batchHeader) error {
	if !h.hasProducerID() {
		return nil
	}
	e := l.producers.producers[h.producerID]
	open := e != nil && e.CurrentTxnFirstOffset >= 0
	if !h.isControl() {
		if h.isTransactional() && !open {
			l.txn.mu.Lock()
			if l.txn.ongoing == nil {
				l.txn.ongoing = make(map[int64]int64)
			}
			l.txn.ongoing[h.producerID] = h.baseOffset
			l.txn.recomputeLocked()
			l.txn.mu.Unlock()
		}
		return nil
	}
	if !open {
		return nil
	}
	typ, err := ControlRecordType(b)
	if err != nil {
		return fmt.Errorf("append %s: %w", l.tp, err)
	}
	return l.completeTxnLocked(completedTxn{producerID: h.producerID, firstOffset: e.CurrentTxnFirstOffset, lastOffset: h.lastOffset(), lastStable: -1}, typ, true)
}

// completeTxnLocked removes a finished transaction from the open set and
// indexes it when aborted (write: also append to the active segment's
// .txnindex). appendMu held.
func (l *Log) completeTxnLocked(c completedTxn, typ ControlType, write bool) error {
	hw := l.HighWatermark()
	l.txn.mu.Lock()
	delete(l.txn.ongoing, c.producerID)
	l.txn.recomputeLocked()
	if c.lastOffset >= hw {
		l.txn.unreplicated = append(l.txn.unreplicated, c)
	}
	var a AbortedTxn
	if typ == ControlAbort {
		lso := c.lastStable
		if lso < 0 {
			lso = c.lastOffset + 1
			if l.txn.firstUnstable >= 0 && l.txn.firstUnstable < lso {
				lso = l.txn.firstUnstable
			}
		}
		a = AbortedTxn{ProducerID: c.producerID, FirstOffset: c.firstOffset, LastOffset: c.lastOffset, LastStableOffset: lso}
		if !l.hasAbortedLocked(a) {
			l.txn.aborted = append(l.txn.aborted, a)
			sort.SliceStable(l.txn.aborted, func(i, j int) bool { return l.txn.aborted[i].LastOffset < l.txn.aborted[j].LastOffset })
		} else {
			write = false
		}
		l.pruneAbortedLocked()
	}
	l.txn.mu.Unlock()
	if typ != ControlAbort || !write {
		return nil
	}
	seg := l.activeSegment()
	if _, err := seg.txnIndex.Write(encodeAbortedTxn(a)); err != nil {
		return l.fail(err)
	}
	return nil
}

func (l *Log) hasAbortedLocked(a AbortedTxn) bool {
	for i := len(l.txn.aborted) - 1; i >= 0; i-- {
		x := l.txn.aborted[i]
		if x.ProducerID == a.ProducerID && x.LastOffset == a.LastOffset {
			return true
		}
	}
	return false
}

// pruneAbortedLocked forgets aborted transactions that ended below the log
// start offset: no fetch can reach them.
func (l *Log) pruneAbortedLocked() {
	lso := l.LogStartOffset()
	n := 0
	for n < len(l.txn.aborted) && l.txn.aborted[n].LastOffset < lso {
		n++
	}
	if n > 0 {
		l.txn.aborted = append([]AbortedTxn(nil), l.txn.aborted[n:]...)
	}
}

func encodeAbortedTxn(a AbortedTxn) []byte {
	buf := make([]byte, 0, abortedTxnSize)
	buf = binary.BigEndian.AppendUint16(buf, abortedTxnVersion)
	buf = binary.BigEndian.AppendUint64(buf, uint64(a.ProducerID))
	buf = binary.BigEndian.AppendUint64(buf, uint64(a.FirstOffset))
	buf = binary.BigEndian.AppendUint64(buf, uint64(a.LastOffset))
	buf = binary.BigEndian.AppendUint64(buf, uint64(a.LastStableOffset))
	return buf
}

// decodeAbortedTxns parses a .txnindex file; a torn trailing entry or an
// entry of an unknown version ends it (valid is how many bytes to keep).
func decodeAbortedTxns(data []byte) (out []AbortedTxn, valid int) {
	for p := 0; p+abortedTxnSize <= len(data); p += abortedTxnSize {
		e := data[p:]
		if binary.BigEndian.Uint16(e) != abortedTxnVersion {
			return out, p
		}
		out = append(out, AbortedTxn{
			ProducerID:       int64(binary.BigEndian.Uint64(e[2:])),
			FirstOffset:      int64(binary.BigEndian.Uint64(e[10:])),
			LastOffset:       int64(binary.BigEndian.Uint64(e[18:])),
			LastStableOffset: int64(binary.BigEndian.Uint64(e[26:])),
		})
		valid = p + abortedTxnSize
	}
	return out, valid
}

// rebuildTxnState restores the transaction state of a log ending at leo
// after producer state was loaded: open transactions come from producer
// state (snapshots carry each producer's open transaction), aborted ones
// from the segments' .txnindex files, cut at leo, plus any completed during
// the producer state replay whose entry a crash lost. appendMu held or
// the log not yet shared.
func (l *Log) rebuildTxnState(leo int64) error {
	ongoing := make(map[int64]int64)
	for id, e := range l.producers.producers {
		if e.CurrentTxnFirstOffset >= 0 {
			ongoing[id] = e.CurrentTxnFirstOffset
		}
	}
	l.mu.RLock()
	segs := append([]*logSegment(nil), l.mu.segments...)
	l.mu.RUnlock()
	var aborted []AbortedTxn
	for _, s := range segs {
		path := filepath.Join(l.dir, filenamePrefixFromOffset(s.baseOffset)+txnIndexFileSuffix)
		data, err := readTxnIndexFile(s)
		if err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
		entries, valid := decodeAbortedTxns(data)
		keep := 0
		for keep < len(entries) && entries[keep].LastOffset < leo {
			keep++
		}
		if keep*abortedTxnSize != len(data) || valid != len(data) {
			// Entries past the log end describe markers that are gone.
			if err := s.txnIndex.Truncate(int64(keep * abortedTxnSize)); err != nil {
				return fmt.Errorf("truncating %s: %w", path, err)
			}
		}
		aborted = append(aborted, entries[:keep]...)
	}
	sort.SliceStable(aborted, func(i, j int) bool { return aborted[i].LastOffset < aborted[j].LastOffset })
	l.txn.mu.Lock()
	l.txn.ongoing = ongoing
	l.txn.aborted = aborted
	l.txn.unreplicated = nil
	l.txn.recomputeLocked()
	l.txn.mu.Unlock()

	completed := l.producers.completed
	l.producers.completed = nil
	l.producers.replaying = false
	for _, c := range completed {
		typ, err := l.controlTypeAt(c.lastOffset)
		if err != nil {
			return err
		}
		if typ != ControlAbort {
			continue
		}
		l.txn.mu.Lock()
		have := l.hasAbortedLocked(AbortedTxn{ProducerID: c.producerID, LastOffset: c.lastOffset})
		l.txn.mu.Unlock()
		if have {
			continue
		}
		// Re-add the lost entry to the segment holding its marker.
		a := AbortedTxn{ProducerID: c.producerID, FirstOffset: c.firstOffset, LastOffset: c.lastOffset, LastStableOffset: c.lastStable}
		l.txn.mu.Lock()
		l.txn.aborted = append(l.txn.aborted, a)
		sort.SliceStable(l.txn.aborted, func(i, j int) bool { return l.txn.aborted[i].LastOffset < l.txn.aborted[j].LastOffset })
		l.txn.mu.Unlock()
		l.mu.RLock()
		seg := l.mu.segments[l.segmentIndexLocked(c.lastOffset)]
		l.mu.RUnlock()
		if _, err := seg.txnIndex.Write(encodeAbortedTxn(a)); err != nil {
			return err
		}
	}
	return nil
}

// readTxnIndexFile reads a segment's whole .txnindex.
func readTxnIndexFile(s *logSegment) ([]byte, error) {
	fi, err := s.txnIndex.Stat()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, fi.Size())
	if _, err := s.txnIndex.ReadAt(buf, 0); err != nil && len(buf) > 0 {
		return nil, err
	}
	return buf, nil
}

// controlTypeAt reads the control batch holding offset.
func (l *Log) controlTypeAt(offset int64) (ControlType, error) {
	l.mu.RLock()
	v := l.viewsLocked(l.segmentIndexLocked(offset))[0]
	l.mu.RUnlock()
	var typ ControlType = -1
	var ferr error
	err := v.seg.walkHeaders(v.seg.offsetIndex.lookup(offset).position, v.size, func(h batchHeader, pos int64) bool {
		if h.lastOffset() < offset {
			return true
		}
		buf := make([]byte, h.size())
		if _, err := v.seg.log.ReadAt(buf, pos); err != nil {
			ferr = err
			return false
		}
		typ, ferr = ControlRecordType(records.Batch(buf))
		return false
	})
	if err != nil {
		return -1, err
	}
	if ferr != nil {
		return -1, ferr
	}
	if typ < 0 {
		return -1, fmt.Errorf("%s: no control batch at %d: %w", l.tp, offset, os.ErrNotExist)
	}
	return typ, nil
}

// noSequence is RecordBatch.NO_SEQUENCE.
const noSequence int32 = -1

// resetTxnState forgets every transaction (the log restarted at a new
// offset: TruncateFullyAndStartAt). appendMu held.
func (l *Log) resetTxnState() {
	l.txn.mu.Lock()
	l.txn.ongoing = make(map[int64]int64)
	l.txn.aborted = nil
	l.txn.unreplicated = nil
	l.txn.firstUnstable = -1
	l.txn.mu.Unlock()
}

// HasOngoingTransaction reports whether producerID has an open transaction
// on the partition at epoch (UnifiedLog.hasOngoingTransaction). A
// transaction open at another epoch does not count: under transaction
// version 2 each transaction has its own epoch, and a write of the next
// transaction that arrives before the previous one's marker must not join
// it (the marker, at the new epoch, would then be refused and the
// transaction left open).
func (l *Log) HasOngoingTransaction(producerID int64, epoch int16) bool {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	e := l.producers.producers[producerID]
	return e != nil && e.CurrentTxnFirstOffset >= 0 && e.ProducerEpoch == epoch
}

package replica

// The partition side of transactions (KIP-98) and KIP-890's verification.
//
// Transaction markers are control batches the transaction coordinator asks
// the leader to write (WriteTxnMarkers); the coordinator's own transactional
// writes (TxnOffsetCommit records in __consumer_offsets) carry no sequence.
// Neither goes through the client checks of AppendRecordsToLeader.
//
// KIP-890 part 1: before a producer's first transactional batch of a
// transaction lands on a partition, the leader asks the coordinator whether
// the partition was added to the transaction. The answer is kept as a
// verification guard for that producer id and epoch; a marker clears it, so
// a verification that raced with the end of the transaction cannot open a
// new, hanging one (Kafka's VerificationGuard in ProducerStateEntry). Guards
// are checked and markers written under txnMu, which serialises the
// partition's transactional appends; txnMu is taken before
// leaderIsrUpdateLock.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/riffle-io/riffle/protocol/records"
	"github.com/riffle-io/riffle/storage"
)

// verificationGuard records one successful verification.
type verificationGuard struct {
	epoch int16
	token uint64
}

// AddVerificationGuard records that the coordinator confirmed the partition
// is part of producerID's transaction at epoch; it returns the token the
// append must present.
func (p *Partition) AddVerificationGuard(producerID int64, epoch int16) uint64 {
	p.txnMu.Lock()
	defer p.txnMu.Unlock()
	if p.guards == nil {
		p.guards = make(map[int64]verificationGuard)
	}
	p.guardSeq++
	p.guards[producerID] = verificationGuard{epoch: epoch, token: p.guardSeq}
	return p.guardSeq
}

// SkipVerification is the guard for a broker that does not verify
// (transaction.partition.verification.enable=false).
const SkipVerification = ^uint64(0)

// ErrNeedsVerification is returned for a transactional batch that would open
// a transaction on the partition without a verification guard: the caller
// verifies with the coordinator and tries again.
var ErrNeedsVerification = errors.New("transactional write needs verification")

// checkGuardLocked lets a transactional batch through when its producer has
// a transaction open here at its epoch, or when guard is the one
// AddVerificationGuard gave for that producer and epoch and no marker has
// been written since. txnMu held.
func (p *Partition) checkGuardLocked(b records.Batch, guard uint64) error {
	if p.log.HasOngoingTransaction(b.ProducerID(), b.ProducerEpoch()) {
		return nil
	}
	if guard == 0 {
		return ErrNeedsVerification
	}
	g, ok := p.guards[b.ProducerID()]
	if !ok || g.token != guard || g.epoch != b.ProducerEpoch() {
		return fmt.Errorf("%w: partition %s was not verified as part of producer %d's transaction",
			kerr.InvalidTxnState, p.TP, b.ProducerID())
	}
	return nil
}

// AppendTransactionalToLeader appends a client's transactional batch. When
// the batch opens a transaction on the partition, the guard from
// AddVerificationGuard must still stand (no marker was written since).
func (p *Partition) AppendTransactionalToLeader(data []byte, guard uint64, now time.Time) (storage.AppendResult, error) {
	if guard == SkipVerification {
		return p.AppendRecordsToLeader(data, now)
	}
	p.txnMu.Lock()
	defer p.txnMu.Unlock()
	if len(data) >= records.HeaderSize {
		if err := p.checkGuardLocked(records.Batch(data), guard); err != nil {
			return storage.AppendResult{}, err
		}
	}
	return p.AppendRecordsToLeader(data, now)
}

// AppendTxnMarker writes a COMMIT or ABORT control batch for a producer
// (KafkaApis.handleWriteTxnMarkersRequest → appendRecords with
// AppendOrigin.COORDINATOR). The control record's key is version 0 and the
// type; its value is version 0 and the coordinator epoch (Kafka's
// EndTransactionMarker). transactionVersion 2 says the coordinator bumped
// the producer's epoch to end the transaction (KIP-890 part 2), which the
// log checks.
func (p *Partition) AppendTxnMarker(producerID int64, producerEpoch int16, coordinatorEpoch int32, commit bool, transactionVersion int8, now time.Time) (storage.AppendResult, error) {
	if _, err := p.checkLeader(-1); err != nil {
		return storage.AppendResult{}, err // before building the batch; checked again under the lock
	}
	typ := storage.ControlAbort
	if commit {
		typ = storage.ControlCommit
	}
	key := binary.BigEndian.AppendUint16(make([]byte, 2, 4), uint16(typ))
	value := binary.BigEndian.AppendUint32(make([]byte, 2, 6), uint32(coordinatorEpoch))
	ts := now.UnixMilli()
	batch, err := records.Build(records.BatchHeader{
		Attributes:    records.TransactionalFlag | records.ControlFlag,
		BaseTimestamp: ts, MaxTimestamp: ts,
		ProducerID: producerID, ProducerEpoch: producerEpoch, BaseSequence: -1,
	}, records.CodecNone, []records.Record{{Key: key, Value: value}})
	if err != nil {
		return storage.AppendResult{}, err
	}
	p.txnMu.Lock()
	defer p.txnMu.Unlock()
	p.leaderIsrUpdateLock.RLock()
	defer p.leaderIsrUpdateLock.RUnlock()
	leaderEpoch, err := p.checkLeaderLocked(-1)
	if err != nil {
		return storage.AppendResult{}, err
	}
	res, err := p.log.AppendMarkerAsLeader(batch, leaderEpoch,
		storage.MarkerCheck{CoordinatorEpoch: coordinatorEpoch, TransactionVersion: transactionVersion}, now)
	if err != nil {
		return res, err
	}
	// The transaction is over: a later write needs a new verification.
	delete(p.guards, producerID)
	p.afterLeaderAppendLocked()
	return res, nil
}

// HasOngoingTransaction reports whether producerID has a transaction open
// on the partition at epoch; a write of it needs no verification.
func (p *Partition) HasOngoingTransaction(producerID int64, epoch int16) bool {
	return p.log.HasOngoingTransaction(producerID, epoch)
}

// AppendCoordinatorTxnBatch appends a transactional batch the group
// coordinator builds for a producer (TxnOffsetCommit): when it would open
// a transaction on the partition, the guard from AddVerificationGuard must
// still stand, as for AppendTransactionalToLeader; guard 0 asks for the
// transaction to be open already.
func (p *Partition) AppendCoordinatorTxnBatch(b records.Batch, guard uint64, now time.Time) (storage.AppendResult, error) {
	if guard == SkipVerification {
		return p.AppendCoordinatorBatch(b, now)
	}
	p.txnMu.Lock()
	defer p.txnMu.Unlock()
	p.leaderIsrUpdateLock.RLock()
	defer p.leaderIsrUpdateLock.RUnlock()
	leaderEpoch, err := p.checkLeaderLocked(-1)
	if err != nil {
		return storage.AppendResult{}, err
	}
	if err := p.checkGuardLocked(b, guard); err != nil {
		return storage.AppendResult{}, err
	}
	res, err := p.log.AppendAsLeader(b, leaderEpoch, now)
	if err != nil {
		return res, err
	}
	p.afterLeaderAppendLocked()
	return res, nil
}

// AppendCoordinatorBatch appends a batch built by a coordinator on this
// broker (group and transaction state, transactional offset commits):
// trusted input, so only producer state is checked.
func (p *Partition) AppendCoordinatorBatch(b records.Batch, now time.Time) (storage.AppendResult, error) {
	p.txnMu.Lock()
	defer p.txnMu.Unlock()
	p.leaderIsrUpdateLock.RLock()
	defer p.leaderIsrUpdateLock.RUnlock()
	leaderEpoch, err := p.checkLeaderLocked(-1)
	if err != nil {
		return storage.AppendResult{}, err
	}
	res, err := p.log.AppendAsLeader(b, leaderEpoch, now)
	if err != nil {
		return res, err
	}
	p.afterLeaderAppendLocked()
	return res, nil
}

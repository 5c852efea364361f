package coordinator

// The transaction coordinator (KIP-98) as a pure state machine: one TxnShard
// per partition of __transaction_state, holding the transactional ids that
// hash to it (TransactionStateManager.partitionFor uses the same Java
// String.hashCode as groups). It is driven like the group Shard:
//
//	s.InitProducerID(now, token, req, freshID) // freshID: an unused producer id
//	s.Step(now, token, req)                    // AddPartitionsToTxn, EndTxn, ...
//	s.Tick(now)                                // timeouts, id expiration
//	s.MarkersWritten(now, id, pid, epoch)      // every marker of a commit/abort is in
//	rd := s.Ready()                            // records, then responses, then markers
//
// Invariant: the caller appends rd.Records before it releases rd.Responses and
// before it writes any marker of rd.Markers, so that a transaction is never
// half committed: once a marker may exist, the PrepareCommit/PrepareAbort
// record that decided the outcome is durable, and a coordinator that
// restarts (Replay, then LoadComplete) finishes the markers.
//
// States and transitions follow Kafka's TransactionMetadata:
//
//	Empty ─AddPartitions→ Ongoing ─EndTxn(commit)→ PrepareCommit ─markers→ CompleteCommit
//	                         │    ─EndTxn(abort), timeout, InitProducerId→ PrepareAbort ─markers→ CompleteAbort
//	Complete* ─AddPartitions→ Ongoing;  Empty/Complete* ─InitProducerId→ Empty (epoch+1)
//
// A timed-out or re-initialised Ongoing transaction is aborted with a bumped
// epoch, so the old producer is fenced at every partition (its writes carry
// an older epoch) and cannot leave a hanging transaction behind.
//
// Transaction version 2 (KIP-890 part 2, EndTxn v5+) bumps the epoch at
// every EndTxn: the Prepare record carries the new epoch, the markers are
// written with it, and the response hands it to the producer. A write the
// producer sent for the ended transaction that arrives late is then fenced
// by its old epoch, and a partition can tell a late marker of an earlier
// transaction from one that ends the current one. When the epoch is
// exhausted the Prepare record names the next producer id, which the
// Complete record switches to at epoch 0. Retries are told apart from new
// requests by the epoch: a retried EndTxn names the epoch before the bump.

import (
	"math"
	"regexp"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TxnConfig holds the broker settings the transaction coordinator obeys.
type TxnConfig struct {
	MaxTimeout             time.Duration // transaction.max.timeout.ms
	IDExpiration           time.Duration // transactional.id.expiration.ms
	AbortTimedOutInterval  time.Duration // transaction.abort.timed.out.transaction.cleanup.interval.ms
	RemoveExpiredInterval  time.Duration // transaction.remove.expired.transaction.cleanup.interval.ms
	OffsetsTopicPartitions int32         // partitions of __consumer_offsets, for AddOffsetsToTxn
	// NewProducerID allocates an unused producer id, or returns -1; a
	// fence at an exhausted epoch needs one (nil: none available).
	NewProducerID func() int64
}

// OffsetsTopic is the group coordinator's topic, added to transactions that
// commit offsets.
const OffsetsTopic = "__consumer_offsets"

// TxnTopicPartition names one partition of a transaction.
type TxnTopicPartition struct {
	Topic     string
	Partition int32
}

// TxnMarkers asks the caller to write COMMIT or ABORT markers to every
// partition of a transaction (WriteTxnMarkers), then to report
// MarkersWritten.
type TxnMarkers struct {
	TransactionalID  string
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool
	CoordinatorEpoch int32
	// TransactionVersion is 2 when ending the transaction bumped the
	// producer epoch, so the markers' epoch is above every data batch of
	// the transaction.
	TransactionVersion int8
	Partitions         []TxnTopicPartition
}

// TxnReady is the transaction shard's output since the last Ready.
type TxnReady struct {
	Records   []Record
	Responses []Response
	Markers   []TxnMarkers
}

type txnMetadata struct {
	id            string
	producerID    int64
	prevPID       int64 // the producer id before the last rotation, -1
	nextPID       int64 // the producer id to move to once the transaction completes, -1
	epoch         int16
	lastEpoch     int16 // the epoch before the last bump, -1
	clientTV      int16 // the transaction version the producer used at the last transition
	endBumped     bool  // the Prepare state's epoch was bumped from the data's
	timeout       time.Duration
	state         kmsg.TransactionState
	partitions    map[TxnTopicPartition]struct{}
	start         time.Time // of the ongoing transaction
	lastUpdate    time.Time
	markersQueued bool
}

const (
	txnEmpty          = kmsg.TransactionState(0)
	txnOngoing        = kmsg.TransactionState(1)
	txnPrepareCommit  = kmsg.TransactionState(2)
	txnPrepareAbort   = kmsg.TransactionState(3)
	txnCompleteCommit = kmsg.TransactionState(4)
	txnCompleteAbort  = kmsg.TransactionState(5)
	txnDead           = kmsg.TransactionState(6)
)

// TxnShard is the transaction coordinator for one partition of
// __transaction_state.
type TxnShard struct {
	cfg              TxnConfig
	coordinatorEpoch int32
	txns             map[string]*txnMetadata
	topics           map[string]int32 // topic → partition count
	lastAbortCheck   time.Time
	lastExpireCheck  time.Time
	out              TxnReady
}

// NewTxnShard returns an empty shard; coordinatorEpoch is the leader epoch
// of its __transaction_state partition, written into every marker.
func NewTxnShard(cfg TxnConfig, coordinatorEpoch int32) *TxnShard {
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = 15 * time.Minute
	}
	if cfg.OffsetsTopicPartitions <= 0 {
		cfg.OffsetsTopicPartitions = 50
	}
	return &TxnShard{cfg: cfg, coordinatorEpoch: coordinatorEpoch, txns: make(map[string]*txnMetadata), topics: make(map[string]int32)}
}

// Ready returns and clears what the shard has produced.
func (s *TxnShard) Ready() TxnReady {
	rd := s.out
	s.out = TxnReady{}
	return rd
}

// SetTopics replaces the shard's view of the topics and their partition
// counts, against which AddPartitionsToTxn is checked.
func (s *TxnShard) SetTopics(topics map[string]int32) { s.topics = topics }

// TransactionCount is the number of transactional ids the shard holds.
func (s *TxnShard) TransactionCount() int { return len(s.txns) }

func (s *TxnShard) respond(token uint64, resp kmsg.Response) {
	s.out.Responses = append(s.out.Responses, Response{Token: token, Resp: resp})
}

func (s *TxnShard) persist(m *txnMetadata) { s.out.Records = append(s.out.Records, txnRecord(m)) }

// InitProducerID serves InitProducerId for a transactional id
// (TransactionCoordinator.handleInitProducerId). freshID is a producer id
// never used before, taken when the id is new or its epoch is exhausted;
// -1 when none could be allocated.
func (s *TxnShard) InitProducerID(now time.Time, token uint64, req *kmsg.InitProducerIDRequest, freshID int64) {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	fail := func(e *kerr.Error) {
		resp.ErrorCode = e.Code
		s.respond(token, resp)
	}
	id := *req.TransactionalID
	timeout := time.Duration(req.TransactionTimeoutMillis) * time.Millisecond
	if req.TransactionTimeoutMillis <= 0 || timeout > s.cfg.MaxTimeout {
		fail(kerr.InvalidTransactionTimeout)
		return
	}
	m, ok := s.txns[id]
	if !ok {
		if freshID < 0 {
			fail(kerr.CoordinatorNotAvailable)
			return
		}
		m = &txnMetadata{id: id, producerID: freshID, prevPID: -1, nextPID: -1, epoch: -1, lastEpoch: -1, state: txnEmpty,
			partitions: map[TxnTopicPartition]struct{}{}}
		s.txns[id] = m
	}
	// KIP-360: a producer re-initialising names its id and epoch, which
	// must be the current or the previous epoch (a retry), or the previous
	// id at an exhausted epoch; anything else is a zombie
	// (TransactionCoordinator.isValidProducerId).
	retry := false
	expected := req.ProducerID >= 0 && req.ProducerEpoch >= 0
	if expected && m.epoch >= 0 {
		current := req.ProducerID == m.producerID && req.ProducerEpoch == m.epoch
		retry = req.ProducerID == m.producerID && req.ProducerEpoch == m.lastEpoch && m.lastEpoch >= 0 ||
			req.ProducerID == m.prevPID && req.ProducerEpoch >= math.MaxInt16-1
		if !current && !retry {
			fail(kerr.ProducerFenced)
			return
		}
	}
	switch m.state {
	case txnPrepareCommit, txnPrepareAbort:
		fail(kerr.ConcurrentTransactions)
		return
	case txnOngoing:
		// Fence the current producer and abort its transaction; the
		// client retries once the markers are written.
		s.fenceAndAbort(now, m)
		fail(kerr.ConcurrentTransactions)
		return
	}
	if retry && m.epoch < math.MaxInt16-1 {
		// A retried InitProducerId whose answer was lost (or, under
		// transaction version 2, one naming the epoch an EndTxn
		// bumped from): the current id and epoch, no second bump
		// (TransactionMetadata.prepareIncrementProducerEpoch). An
		// exhausted epoch is never handed out: it moves to a new id.
		resp.ProducerID, resp.ProducerEpoch = m.producerID, m.epoch
		s.respond(token, resp)
		return
	}
	if !s.bumpEpoch(m, freshID) {
		fail(kerr.CoordinatorNotAvailable)
		return
	}
	if !expected {
		// A new instance (no id of its own): the epoch before it
		// belongs to whichever instance it replaces, which must not
		// pass for a retry of this call.
		m.lastEpoch = -1
	}
	m.state = txnEmpty
	m.timeout = timeout
	m.partitions = map[TxnTopicPartition]struct{}{}
	m.start = time.Time{}
	m.lastUpdate = now
	s.persist(m)
	resp.ProducerID, resp.ProducerEpoch = m.producerID, m.epoch
	s.respond(token, resp)
}

// bumpEpoch moves to the next epoch, or to a fresh producer id at epoch 0
// when the epoch is exhausted (TransactionMetadata.prepareIncrementProducerEpoch).
func (s *TxnShard) bumpEpoch(m *txnMetadata, freshID int64) bool {
	if m.epoch >= math.MaxInt16-1 {
		if freshID < 0 {
			return false
		}
		m.prevPID, m.producerID = m.producerID, freshID
		m.lastEpoch, m.epoch = -1, 0
		return true
	}
	m.lastEpoch = m.epoch
	m.epoch++
	return true
}

// fenceAndAbort aborts an ongoing transaction at a bumped epoch, so the
// producer that opened it is fenced everywhere
// (TransactionMetadata.prepareFenceProducerEpoch). The markers name the id
// the data was written with; at an exhausted epoch the Prepare record also
// names the next producer id, which the Complete record switches to
// (KAFKA-20090), so that the maximum epoch is never handed out.
func (s *TxnShard) fenceAndAbort(now time.Time, m *txnMetadata) {
	if m.epoch >= math.MaxInt16-1 && m.nextPID < 0 && s.cfg.NewProducerID != nil {
		m.nextPID = s.cfg.NewProducerID()
	}
	m.endBumped = m.epoch < math.MaxInt16
	if m.endBumped {
		m.lastEpoch = m.epoch
		m.epoch++
	}
	s.prepareEnd(now, m, false)
}

// prepareEnd moves an ongoing transaction to PrepareCommit/PrepareAbort,
// persists that decision and queues its markers.
func (s *TxnShard) prepareEnd(now time.Time, m *txnMetadata, commit bool) {
	if commit {
		m.state = txnPrepareCommit
	} else {
		m.state = txnPrepareAbort
	}
	m.lastUpdate = now
	s.persist(m)
	s.queueMarkers(m)
}

func (s *TxnShard) queueMarkers(m *txnMetadata) {
	mk := TxnMarkers{TransactionalID: m.id, ProducerID: m.producerID, ProducerEpoch: m.epoch,
		Commit: m.state == txnPrepareCommit, CoordinatorEpoch: s.coordinatorEpoch}
	if m.endBumped {
		mk.TransactionVersion = 2
	}
	for tp := range m.partitions {
		mk.Partitions = append(mk.Partitions, tp)
	}
	sort.Slice(mk.Partitions, func(i, j int) bool {
		a, b := mk.Partitions[i], mk.Partitions[j]
		return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
	})
	m.markersQueued = true
	s.out.Markers = append(s.out.Markers, mk)
}

// MarkersWritten completes a transaction whose markers are all written
// (TransactionStateManager's CompleteCommit/CompleteAbort append).
func (s *TxnShard) MarkersWritten(now time.Time, id string, producerID int64, epoch int16) {
	m, ok := s.txns[id]
	if !ok || m.producerID != producerID || m.epoch != epoch {
		return
	}
	if m.state != txnPrepareCommit && m.state != txnPrepareAbort {
		return
	}
	s.complete(now, m)
}

// complete moves a decided transaction to CompleteCommit/CompleteAbort
// (TransactionMetadata.prepareComplete); an exhausted epoch under
// transaction version 2 moves to the next producer id here.
func (s *TxnShard) complete(now time.Time, m *txnMetadata) {
	if m.state == txnPrepareCommit {
		m.state = txnCompleteCommit
	} else {
		m.state = txnCompleteAbort
	}
	if m.nextPID >= 0 {
		m.prevPID, m.producerID = m.producerID, m.nextPID
		m.epoch, m.lastEpoch, m.nextPID = 0, -1, -1
	}
	m.markersQueued = false
	m.endBumped = false
	m.partitions = map[TxnTopicPartition]struct{}{}
	m.start = time.Time{}
	m.lastUpdate = now
	s.persist(m)
}

// checkProducer is the common producer check of AddPartitionsToTxn,
// AddOffsetsToTxn and EndTxn.
func (s *TxnShard) checkProducer(id string, pid int64, epoch int16) (*txnMetadata, *kerr.Error) {
	m, ok := s.txns[id]
	if !ok || m.producerID != pid {
		return nil, kerr.InvalidProducerIDMapping
	}
	if m.epoch != epoch {
		return nil, kerr.ProducerFenced
	}
	return m, nil
}

// Step feeds one request other than InitProducerId.
func (s *TxnShard) Step(now time.Time, token uint64, req kmsg.Request) {
	switch r := req.(type) {
	case *kmsg.AddPartitionsToTxnRequest:
		s.respond(token, s.addPartitionsToTxn(now, r))
	case *kmsg.AddOffsetsToTxnRequest:
		resp := r.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
		tp := TxnTopicPartition{Topic: OffsetsTopic, Partition: PartitionFor(r.Group, s.cfg.OffsetsTopicPartitions)}
		if e := s.addPartitions(now, r.TransactionalID, r.ProducerID, r.ProducerEpoch, []TxnTopicPartition{tp}, 0); e != nil {
			resp.ErrorCode = e.Code
		}
		s.respond(token, resp)
	case *kmsg.EndTxnRequest:
		s.respond(token, s.endTxn(now, r, nil))
	case *kmsg.DescribeTransactionsRequest:
		s.respond(token, s.describeTransactions(now, r))
	case *kmsg.ListTransactionsRequest:
		s.respond(token, s.listTransactions(now, r))
	default:
		resp := req.ResponseKind()
		FailTxnResponse(resp, kerr.UnsupportedVersion.Code)
		s.respond(token, resp)
	}
}

// addPartitions adds partitions to a transaction, opening it if needed.
// clientTV is the transaction version the request shows the producer uses
// (0 when it does not tell).
func (s *TxnShard) addPartitions(now time.Time, id string, pid int64, epoch int16, tps []TxnTopicPartition, clientTV int16) *kerr.Error {
	m, e := s.checkProducer(id, pid, epoch)
	if e != nil {
		return e
	}
	switch m.state {
	case txnPrepareCommit, txnPrepareAbort, txnDead:
		return kerr.ConcurrentTransactions
	}
	added := false
	for _, tp := range tps {
		if _, ok := m.partitions[tp]; !ok {
			added = true
		}
	}
	if m.state == txnOngoing && !added {
		return nil
	}
	if m.state != txnOngoing {
		m.start = now
		m.state = txnOngoing
	}
	if clientTV > m.clientTV {
		m.clientTV = clientTV
	}
	for _, tp := range tps {
		m.partitions[tp] = struct{}{}
	}
	m.lastUpdate = now
	s.persist(m)
	return nil
}

func (s *TxnShard) knownPartition(tp TxnTopicPartition) bool {
	n, ok := s.topics[tp.Topic]
	return ok && tp.Partition >= 0 && tp.Partition < n
}

func (s *TxnShard) addPartitionsToTxn(now time.Time, req *kmsg.AddPartitionsToTxnRequest) *kmsg.AddPartitionsToTxnResponse {
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if req.Version < 4 {
		var tps []TxnTopicPartition
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				tps = append(tps, TxnTopicPartition{t.Topic, p})
			}
		}
		codes := s.addOne(now, req.TransactionalID, req.ProducerID, req.ProducerEpoch, false, tps, 0)
		for _, t := range req.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				rp.Partition = p
				rp.ErrorCode = codes[TxnTopicPartition{t.Topic, p}]
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	for _, tx := range req.Transactions {
		var tps []TxnTopicPartition
		for _, t := range tx.Topics {
			for _, p := range t.Partitions {
				tps = append(tps, TxnTopicPartition{t.Topic, p})
			}
		}
		// Not verify-only, v4+ comes from a partition leader adding a
		// partition for a producer of transaction version 2 (KIP-890
		// part 2).
		codes := s.addOne(now, tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly, tps, 2)
		rtx := kmsg.NewAddPartitionsToTxnResponseTransaction()
		rtx.TransactionalID = tx.TransactionalID
		for _, t := range tx.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
				rp.Partition = p
				rp.ErrorCode = codes[TxnTopicPartition{t.Topic, p}]
				rt.Partitions = append(rt.Partitions, rp)
			}
			rtx.Topics = append(rtx.Topics, rt)
		}
		resp.Transactions = append(resp.Transactions, rtx)
	}
	return resp
}

// addOne serves one transaction of AddPartitionsToTxn. verifyOnly is
// KIP-890's check from a partition leader: are these partitions part of
// the ongoing transaction of this producer id and epoch?
func (s *TxnShard) addOne(now time.Time, id string, pid int64, epoch int16, verifyOnly bool, tps []TxnTopicPartition, clientTV int16) map[TxnTopicPartition]int16 {
	codes := make(map[TxnTopicPartition]int16, len(tps))
	all := func(code int16) map[TxnTopicPartition]int16 {
		for _, tp := range tps {
			codes[tp] = code
		}
		return codes
	}
	if verifyOnly {
		// TransactionCoordinator.handleVerifyPartitionsInTransaction.
		m, e := s.checkProducer(id, pid, epoch)
		if e != nil {
			return all(e.Code)
		}
		if m.state == txnPrepareCommit || m.state == txnPrepareAbort {
			return all(kerr.ConcurrentTransactions.Code)
		}
		for _, tp := range tps {
			if _, ok := m.partitions[tp]; !ok || m.state != txnOngoing {
				codes[tp] = kerr.TransactionAbortable.Code
			} else {
				codes[tp] = 0
			}
		}
		return codes
	}
	// KafkaApis: partitions of unknown topics fail, and the others are
	// then not attempted.
	bad := false
	for _, tp := range tps {
		if !s.knownPartition(tp) {
			codes[tp] = kerr.UnknownTopicOrPartition.Code
			bad = true
		}
	}
	if bad {
		for _, tp := range tps {
			if codes[tp] == 0 {
				codes[tp] = kerr.OperationNotAttempted.Code
			}
		}
		return codes
	}
	if e := s.addPartitions(now, id, pid, epoch, tps, clientTV); e != nil {
		return all(e.Code)
	}
	return all(0)
}

// EndTxn serves EndTxn. freshID allocates an unused producer id, needed
// only when a transaction version 2 EndTxn exhausts the epoch; it returns
// -1 when none could be allocated.
func (s *TxnShard) EndTxn(now time.Time, token uint64, req *kmsg.EndTxnRequest, freshID func() int64) {
	s.respond(token, s.endTxn(now, req, freshID))
}

func (s *TxnShard) endTxn(now time.Time, req *kmsg.EndTxnRequest, freshID func() int64) *kmsg.EndTxnResponse {
	if req.Version >= 5 {
		return s.endTxnV2(now, req, freshID)
	}
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	m, e := s.checkProducer(req.TransactionalID, req.ProducerID, req.ProducerEpoch)
	if e != nil {
		resp.ErrorCode = e.Code
		return resp
	}
	switch m.state {
	case txnOngoing:
		m.clientTV = 0
		s.prepareEnd(now, m, req.Commit)
	case txnCompleteCommit:
		if !req.Commit {
			resp.ErrorCode = kerr.InvalidTxnState.Code
		}
	case txnCompleteAbort:
		if req.Commit {
			resp.ErrorCode = kerr.InvalidTxnState.Code
		}
	case txnPrepareCommit:
		resp.ErrorCode = kerr.InvalidTxnState.Code
		if req.Commit {
			resp.ErrorCode = kerr.ConcurrentTransactions.Code
		}
	case txnPrepareAbort:
		resp.ErrorCode = kerr.InvalidTxnState.Code
		if !req.Commit {
			resp.ErrorCode = kerr.ConcurrentTransactions.Code
		}
	default:
		resp.ErrorCode = kerr.InvalidTxnState.Code
	}
	return resp
}

// Tick aborts transactions open past their timeout (with an epoch bump
// that fences their producer, TransactionCoordinator.abortTimedOutTransactions)
// and forgets transactional ids idle past transactional.id.expiration.ms.
func (s *TxnShard) Tick(now time.Time) {
	if now.Sub(s.lastAbortCheck) >= s.cfg.AbortTimedOutInterval {
		s.lastAbortCheck = now
		for _, id := range sortedKeys(s.txns) {
			m := s.txns[id]
			if m.state == txnOngoing && now.Sub(m.start) > m.timeout {
				s.fenceAndAbort(now, m)
			}
		}
	}
	if s.cfg.IDExpiration > 0 && now.Sub(s.lastExpireCheck) >= s.cfg.RemoveExpiredInterval {
		s.lastExpireCheck = now
		for _, id := range sortedKeys(s.txns) {
			m := s.txns[id]
			switch m.state {
			case txnEmpty, txnCompleteCommit, txnCompleteAbort:
				if now.Sub(m.lastUpdate) > s.cfg.IDExpiration {
					delete(s.txns, id)
					s.out.Records = append(s.out.Records, Record{Key: txnKey(id)})
				}
			}
		}
	}
}

// LoadComplete finishes a replay: transactions whose outcome was decided
// but whose markers may be missing get their markers again (idempotent:
// a partition that already has its marker ignores a repeat).
func (s *TxnShard) LoadComplete(now time.Time) {
	s.lastAbortCheck, s.lastExpireCheck = now, now
	for _, id := range sortedKeys(s.txns) {
		m := s.txns[id]
		if m.state == txnPrepareCommit || m.state == txnPrepareAbort {
			s.queueMarkers(m)
		}
		if m.state == txnOngoing && m.start.IsZero() {
			m.start = now
		}
	}
}

// PendingMarkers lists the transactions waiting for their markers, so a
// caller can re-issue those whose writes failed.
func (s *TxnShard) PendingMarkers() []TxnMarkers {
	var out []TxnMarkers
	for _, id := range sortedKeys(s.txns) {
		m := s.txns[id]
		if m.state == txnPrepareCommit || m.state == txnPrepareAbort {
			saved := s.out.Markers
			s.queueMarkers(m)
			out = append(out, s.out.Markers[len(s.out.Markers)-1])
			s.out.Markers = saved
		}
	}
	return out
}

func (s *TxnShard) describeTransactions(now time.Time, req *kmsg.DescribeTransactionsRequest) *kmsg.DescribeTransactionsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, id := range req.TransactionalIDs {
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID = id
		m, ok := s.txns[id]
		if !ok {
			st.ErrorCode = kerr.TransactionalIDNotFound.Code
			st.ProducerID, st.ProducerEpoch, st.StartTimestamp = -1, -1, -1
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		st.State = m.state.String()
		st.TimeoutMillis = int32(m.timeout / time.Millisecond)
		st.StartTimestamp = -1
		if !m.start.IsZero() {
			st.StartTimestamp = m.start.UnixMilli()
		}
		st.ProducerID, st.ProducerEpoch = m.producerID, m.epoch
		byTopic := map[string][]int32{}
		for tp := range m.partitions {
			byTopic[tp.Topic] = append(byTopic[tp.Topic], tp.Partition)
		}
		for _, t := range sortedKeys(byTopic) {
			rt := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
			rt.Topic = t
			rt.Partitions = byTopic[t]
			sort.Slice(rt.Partitions, func(i, j int) bool { return rt.Partitions[i] < rt.Partitions[j] })
			st.Topics = append(st.Topics, rt)
		}
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return resp
}

// listStates are the state names ListTransactions filters by.
var listStates = map[string]bool{}

func init() {
	for _, n := range kmsg.TransactionStateStrings() {
		listStates[n] = true
	}
}

func (s *TxnShard) listTransactions(now time.Time, req *kmsg.ListTransactionsRequest) *kmsg.ListTransactionsResponse {
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	states := map[string]bool{}
	for _, f := range req.StateFilters {
		if listStates[f] {
			states[f] = true
		} else {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, f)
		}
	}
	pids := map[int64]bool{}
	for _, p := range req.ProducerIDFilters {
		pids[p] = true
	}
	var re *regexp.Regexp
	if req.TransactionalIDPattern != nil && *req.TransactionalIDPattern != "" {
		var err error
		if re, err = regexp.Compile(*req.TransactionalIDPattern); err != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return resp
		}
	}
	for _, id := range sortedKeys(s.txns) {
		m := s.txns[id]
		if len(req.StateFilters) > 0 && !states[m.state.String()] {
			continue
		}
		if len(pids) > 0 && !pids[m.producerID] {
			continue
		}
		if req.DurationFilterMillis >= 0 && req.Version >= 1 && (m.state != txnOngoing || now.Sub(m.start).Milliseconds() < req.DurationFilterMillis) {
			continue
		}
		if re != nil && !re.MatchString(id) {
			continue
		}
		ts := kmsg.NewListTransactionsResponseTransactionState()
		ts.TransactionalID, ts.ProducerID, ts.TransactionState = id, m.producerID, m.state.String()
		resp.TransactionStates = append(resp.TransactionStates, ts)
	}
	return resp
}

// FailTxnResponse sets code as the error of every part of a transaction
// coordinator response (the records it depends on were not written).
func FailTxnResponse(resp kmsg.Response, code int16) {
	switch r := resp.(type) {
	case *kmsg.InitProducerIDResponse:
		r.ErrorCode = code
		r.ProducerID, r.ProducerEpoch = -1, -1
	case *kmsg.AddPartitionsToTxnResponse:
		r.ErrorCode = code
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				r.Topics[i].Partitions[j].ErrorCode = code
			}
		}
		for i := range r.Transactions {
			for j := range r.Transactions[i].Topics {
				for k := range r.Transactions[i].Topics[j].Partitions {
					r.Transactions[i].Topics[j].Partitions[k].ErrorCode = code
				}
			}
		}
	case *kmsg.AddOffsetsToTxnResponse:
		r.ErrorCode = code
	case *kmsg.EndTxnResponse:
		r.ErrorCode = code
	case *kmsg.DescribeTransactionsResponse:
		for i := range r.TransactionStates {
			r.TransactionStates[i].ErrorCode = code
		}
	case *kmsg.ListTransactionsResponse:
		r.ErrorCode = code
	}
}

// endTxnV2 is EndTxn under transaction version 2 (EndTxn v5+,
// TransactionCoordinator.endTransaction). Besides the current epoch it
// accepts a retry, which names the epoch before the bump (or, after an
// exhausted epoch, the previous producer id at the last epoch), and it may
// abort with no partition added, which bumps the epoch of an idle producer:
//
//	                 abort: retry  current   commit: retry  current
//	Empty                   FENCED bump              FENCED INVALID_TXN_STATE
//	CompleteAbort           ok     bump              INVALID_TXN_STATE
//	CompleteCommit          INVALID_TXN_STATE bump   ok     INVALID_TXN_STATE
func (s *TxnShard) endTxnV2(now time.Time, req *kmsg.EndTxnRequest, freshID func() int64) *kmsg.EndTxnResponse {
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	fail := func(e *kerr.Error) *kmsg.EndTxnResponse {
		resp.ErrorCode = e.Code
		return resp
	}
	m, ok := s.txns[req.TransactionalID]
	if !ok {
		return fail(kerr.InvalidProducerIDMapping)
	}
	retryOnOverflow := m.prevPID >= 0 && m.prevPID == req.ProducerID && req.ProducerEpoch == math.MaxInt16-1 && m.epoch == 0
	retryOnBump := int(m.epoch) == int(req.ProducerEpoch)+1
	if m.producerID != req.ProducerID && !retryOnOverflow {
		return fail(kerr.InvalidProducerIDMapping)
	}
	if m.producerID == req.ProducerID && (m.state == txnPrepareCommit || m.state == txnPrepareAbort) &&
		(req.ProducerEpoch == m.epoch || retryOnBump) {
		// The markers are being written. A commit retried over an
		// abort the coordinator decided (a timeout) is fenced
		// (KAFKA-20785); anything else from this producer waits and
		// retries (KAFKA-18464), be it a retry or its next EndTxn.
		if m.state == txnPrepareAbort && req.Commit && retryOnBump {
			return fail(kerr.ProducerFenced)
		}
		if retryOnBump && (m.state == txnPrepareCommit) != req.Commit {
			return fail(kerr.InvalidTxnState)
		}
		return fail(kerr.ConcurrentTransactions)
	}
	var valid bool
	switch m.state {
	case txnPrepareCommit, txnPrepareAbort:
		valid = retryOnBump
	case txnCompleteCommit, txnCompleteAbort:
		valid = retryOnBump || retryOnOverflow || req.ProducerEpoch == m.epoch
	default:
		valid = req.ProducerEpoch == m.epoch
	}
	if !valid {
		return fail(kerr.ProducerFenced)
	}
	retry := retryOnBump || retryOnOverflow
	current := func() *kmsg.EndTxnResponse {
		if m.epoch >= math.MaxInt16 {
			// Only a fence that found no new producer id leaves
			// the maximum epoch; it is never handed out.
			return fail(kerr.CoordinatorNotAvailable)
		}
		resp.ProducerID, resp.ProducerEpoch = m.producerID, m.epoch
		return resp
	}
	switch {
	case m.state == txnOngoing:
		return s.prepareEndV2(now, m, req.Commit, resp, freshID)
	case m.state == txnCompleteCommit && req.Commit, m.state == txnCompleteAbort && !req.Commit:
		if retry {
			return current()
		}
		if req.Commit {
			return fail(kerr.InvalidTxnState)
		}
		return s.prepareEndV2(now, m, false, resp, freshID)
	case m.state == txnCompleteCommit && !req.Commit:
		if retry {
			return fail(kerr.InvalidTxnState)
		}
		return s.prepareEndV2(now, m, false, resp, freshID)
	case m.state == txnEmpty && !req.Commit:
		return s.prepareEndV2(now, m, false, resp, freshID)
	case m.state == txnCompleteAbort && req.Commit && retry:
		// A commit of a transaction the coordinator aborted (KAFKA-20785).
		return fail(kerr.ProducerFenced)
	case m.state == txnPrepareCommit && req.Commit, m.state == txnPrepareAbort && !req.Commit:
		return fail(kerr.ConcurrentTransactions)
	default:
		return fail(kerr.InvalidTxnState)
	}
}

// prepareEndV2 ends the transaction with an epoch bump and answers with
// the producer id and epoch to use next. An abort with no partition (the
// producer's writes all failed, or there were none) has no marker to
// write and completes at once.
func (s *TxnShard) prepareEndV2(now time.Time, m *txnMetadata, commit bool, resp *kmsg.EndTxnResponse, freshID func() int64) *kmsg.EndTxnResponse {
	if m.epoch >= math.MaxInt16-1 {
		next := int64(-1)
		if freshID != nil {
			next = freshID()
		}
		if next < 0 {
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			return resp
		}
		m.nextPID = next
	}
	m.clientTV = 2
	m.endBumped = m.epoch < math.MaxInt16
	if m.endBumped {
		m.lastEpoch = m.epoch
		m.epoch++
	}
	if len(m.partitions) == 0 {
		m.start = now
	}
	empty := len(m.partitions) == 0
	s.prepareEnd(now, m, commit)
	if empty {
		s.out.Markers = s.out.Markers[:len(s.out.Markers)-1]
		s.complete(now, m)
	}
	resp.ProducerID, resp.ProducerEpoch = m.producerID, m.epoch
	if m.nextPID >= 0 {
		resp.ProducerID, resp.ProducerEpoch = m.nextPID, 0
	}
	return resp
}

package storage

import "errors"

// Sentinel errors; callers map them to Kafka error codes.
var (
	// ErrOffsetOutOfRange: a read or truncation outside [LogStartOffset, LogEndOffset].
	ErrOffsetOutOfRange = errors.New("offset out of range")
	// ErrOutOfOrderSequence: an idempotent producer skipped sequence numbers,
	// or started a new epoch at a sequence other than 0 (KIP-98, KIP-360).
	ErrOutOfOrderSequence = errors.New("out of order sequence number")
	// ErrInvalidProducerEpoch: the batch's producer epoch is older than the
	// producer's current one (a fenced zombie).
	ErrInvalidProducerEpoch = errors.New("invalid producer epoch")
	// ErrTransactionCoordinatorFenced: a transaction marker carries an
	// older coordinator epoch than one the producer's markers already
	// carried (a coordinator that lost its partition of
	// __transaction_state is still writing).
	ErrTransactionCoordinatorFenced = errors.New("transaction coordinator fenced")
	// ErrLogOffline: a write or fsync failed earlier; the log refuses all
	// further appends and reads. It wraps the original cause.
	ErrLogOffline = errors.New("log offline")
	// ErrInconsistentTopicID: the partition directory belongs to another
	// topic id (Kafka's InconsistentTopicIdException).
	ErrInconsistentTopicID = errors.New("inconsistent topic id")
	// ErrUnexpectedAppendOffset: a follower append does not continue the log.
	ErrUnexpectedAppendOffset = errors.New("unexpected append offset")
	// ErrRecordBatchTooLarge: a single batch does not fit in a segment.
	ErrRecordBatchTooLarge = errors.New("record batch too large for a segment")
	// ErrCorruptLog: loading found damaged data that is not a torn tail
	// (a bad batch before the last segment or below the recovery point).
	// The log stays offline rather than serve or discard data silently.
	ErrCorruptLog = errors.New("corrupt log")
	// ErrClosed: the log was closed or deleted.
	ErrClosed = errors.New("log closed")
)

// offlineError wraps the cause of a log going offline so that both
// errors.Is(err, ErrLogOffline) and errors.Is(err, cause) hold.
type offlineError struct{ cause error }

func (e *offlineError) Error() string   { return "log offline: " + e.cause.Error() }
func (e *offlineError) Unwrap() []error { return []error{ErrLogOffline, e.cause} }

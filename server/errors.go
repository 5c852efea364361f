package server

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/riffle-io/riffle/protocol"
	"github.com/riffle-io/riffle/protocol/records"
	"github.com/riffle-io/riffle/storage"
)

// kafkaError maps the sentinels of the packages below the server to Kafka's
// error values. It is the one place where that happens; packages that already
// speak Kafka (replica, controller) return kerr values themselves.
func kafkaError(err error) error {
	if err == nil {
		return nil
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return err
	}
	mapped := kerr.UnknownServerError
	switch {
	case errors.Is(err, storage.ErrOffsetOutOfRange):
		mapped = kerr.OffsetOutOfRange
	case errors.Is(err, storage.ErrOutOfOrderSequence):
		mapped = kerr.OutOfOrderSequenceNumber
	case errors.Is(err, storage.ErrInvalidProducerEpoch):
		mapped = kerr.InvalidProducerEpoch
	case errors.Is(err, storage.ErrTransactionCoordinatorFenced):
		mapped = kerr.TransactionCoordinatorFenced
	case errors.Is(err, storage.ErrLogOffline):
		mapped = kerr.KafkaStorageError
	case errors.Is(err, records.ErrRecordTooLarge):
		mapped = kerr.MessageTooLarge
	case errors.Is(err, records.ErrUnsupportedMagic), errors.Is(err, records.ErrInvalidRecord):
		mapped = kerr.InvalidRecord
	case errors.Is(err, records.ErrInvalidTimestamp):
		mapped = kerr.InvalidTimestamp
	case errors.Is(err, records.ErrUnsupportedCompression):
		mapped = kerr.UnsupportedCompressionType
	case errors.Is(err, records.ErrCorrupt), errors.Is(err, records.ErrTruncated):
		mapped = kerr.CorruptMessage
	}
	return fmt.Errorf("%w: %v", mapped, err)
}

// errCode returns the Kafka error code for err.
func errCode(err error) int16 { return protocol.ErrorCode(kafkaError(err)) }

// errMsg returns the error message for a response's ErrorMessage field.
func errMsg(err error) *string { return protocol.ErrorMessage(kafkaError(err)) }

package protocol

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
)

// ErrorCode returns the Kafka error code carried by err: 0 for nil, the code
// of a wrapped kerr error, UNKNOWN_SERVER_ERROR otherwise. Packages below the
// server return kerr values (or their own sentinels, which the server maps to
// kerr values first) so that this is the one place codes come from.
func ErrorCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return kerr.UnknownServerError.Code
}

// ErrorMessage returns a message for the response's ErrorMessage field, or
// nil when there is no error.
func ErrorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}

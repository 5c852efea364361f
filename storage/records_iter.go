package storage

import (
	"errors"

	"github.com/riffle-io/riffle/protocol/records"
)

var errStopWalk = errors.New("stop")

// forEachRecord calls fn with the offset and timestamp of each record of a
// batch (decompressing if needed), stopping when fn returns false. It
// reports false when the batch cannot be decoded; callers then fall back to
// batch-level answers.
func forEachRecord(b []byte, h batchHeader, fn func(offset, timestamp int64) bool) bool {
	if h.attributes&attrTimestampType != 0 {
		// LogAppendTime: every record carries the batch's max timestamp.
		fn(h.baseOffset, h.maxTimestamp)
		return true
	}
	err := records.Batch(b).ForEachRecord(func(r *records.Record) error {
		if !fn(h.baseOffset+int64(r.OffsetDelta), h.baseTimestamp+r.TimestampDelta) {
			return errStopWalk
		}
		return nil
	})
	return err == nil || errors.Is(err, errStopWalk)
}

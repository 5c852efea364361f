package server

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"time"
)

// sortedKeys returns a map's keys in order, for deterministic responses.
func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K { return slices.Sorted(maps.Keys(m)) }

// defaultAdminTimeout bounds metadata changes for requests that carry no
// timeout of their own (AlterConfigs, AlterClientQuotas): Kafka's
// request.timeout.ms default.
const defaultAdminTimeout = 30 * time.Second

// adminContext bounds the metadata change an admin request makes by the
// request's TimeoutMillis, or defaultAdminTimeout when it has none; running
// out answers REQUEST_TIMED_OUT, as Kafka does.
func adminContext(ctx context.Context, timeoutMillis int32) (context.Context, context.CancelFunc) {
	d := defaultAdminTimeout
	if timeoutMillis > 0 {
		d = time.Duration(timeoutMillis) * time.Millisecond
	}
	return context.WithTimeout(ctx, d)
}

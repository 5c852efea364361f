// Package suite holds the client-agnostic compat scenarios. A client is
// plugged in as a Driver; Run executes every scenario the matrix marks as
// supported for that client as a subtest named after the scenario, so that
// `go test -run TestMatrix/<scenario>` selects one cell.
//
// Setup and cross-checks go through franz-go (kgo + kadm) as the reference
// client: topics are created explicitly (unique per run) and what a client
// produced is read back both by that client and by the reference, which also
// sees batch attributes (codec, producer id) that most clients hide.
package suite

import (
	"context"
	"errors"
	"time"
)

// ErrMessageTooLarge is wrapped by drivers when the broker (not the client
// itself) rejects a batch with MESSAGE_TOO_LARGE (error code 10), Kafka's
// answer to a batch over max.message.bytes.
var ErrMessageTooLarge = errors.New("MESSAGE_TOO_LARGE")

// Header is a record header; Kafka allows repeated keys and keeps order.
type Header struct {
	Key   string
	Value []byte
}

// Record is what drivers produce and consume. Timestamp has millisecond
// precision, as on the wire.
type Record struct {
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
	Timestamp time.Time
}

// Produce asks a driver to send Records in order, each to its Partition.
type Produce struct {
	Topic      string
	Codec      string // none, gzip, snappy, lz4, zstd
	Idempotent bool
	Records    []Record
}

// Broker is one broker as a client's Metadata shows it.
type Broker struct {
	ID   int32
	Host string
	Port int32
}

// Metadata is what a client learned about the cluster and one topic.
type Metadata struct {
	Brokers []Broker
	// Leaders maps each partition of the topic to its leader's broker id.
	Leaders map[int32]int32
	// APIVersions maps API key to the max version the broker advertised;
	// nil when the client does not expose its ApiVersions exchange.
	APIVersions map[int16]int16
}

// Caps describes what a client can express, so that checks stay exact where
// the client allows it and are relaxed only where it does not.
type Caps struct {
	// SetsTimestamps: the client can set each record's CreateTime.
	SetsTimestamps bool
}

// Driver adapts one Kafka client. Every method must honour ctx's deadline.
type Driver interface {
	Name() string
	Caps() Caps
	// Metadata fetches cluster and topic metadata the way the client does.
	Metadata(ctx context.Context, topic string) (Metadata, error)
	// Produce sends the records, waits for every acknowledgement, and returns
	// the offset of each record (-1 where the client does not report it).
	// A broker rejection for size must wrap ErrMessageTooLarge.
	Produce(ctx context.Context, p Produce) ([]int64, error)
	// Consume reads counts[p] records from the start of each partition p and
	// returns them in partition order, without a consumer group.
	Consume(ctx context.Context, topic string, counts map[int32]int) ([]Record, error)
	// OffsetForTime issues ListOffsets for one partition. ts is a millisecond
	// timestamp, or -1 (latest) / -2 (earliest) as in Kafka's protocol. It
	// returns -1 when no record has a timestamp at or after ts.
	OffsetForTime(ctx context.Context, topic string, partition int32, ts int64) (int64, error)
}

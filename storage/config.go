package storage

import (
	"fmt"
	"log/slog"
	"math"

	"github.com/riffle-io/riffle/storage/vfs"
)

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s-%d", tp.Topic, tp.Partition) }

// LogConfig holds the topic-level settings that storage obeys, under
// Kafka's names.
type LogConfig struct {
	SegmentBytes                  int64 // segment.bytes
	SegmentMs                     int64 // segment.ms
	SegmentJitterMs               int64 // segment.jitter.ms: up to this much is taken off segment.ms per segment
	IndexIntervalBytes            int   // index.interval.bytes
	SegmentIndexBytes             int   // segment.index.bytes
	FlushMessages                 int64 // flush.messages: 0 or MaxInt64 = never forced
	FlushMs                       int64 // flush.ms: 0 or MaxInt64 = never forced
	MessageTimestampLogAppendTime bool  // message.timestamp.type=LogAppendTime

	// Cleanup settings are taken as given (a zero LogConfig neither deletes
	// nor compacts); DefaultLogConfig holds Kafka's values.
	CleanupDelete          bool    // cleanup.policy contains delete
	CleanupCompact         bool    // cleanup.policy contains compact
	RetentionMs            int64   // retention.ms: negative = unlimited
	RetentionBytes         int64   // retention.bytes: negative = unlimited
	FileDeleteDelayMs      int64   // file.delete.delay.ms
	DeleteRetentionMs      int64   // delete.retention.ms: how long tombstones stay
	MinCompactionLagMs     int64   // min.compaction.lag.ms
	MaxCompactionLagMs     int64   // max.compaction.lag.ms: 0 or MaxInt64 = none
	MinCleanableDirtyRatio float64 // min.cleanable.dirty.ratio
}

// DefaultLogConfig returns Kafka's defaults.
func DefaultLogConfig() LogConfig {
	return LogConfig{
		SegmentBytes:       1 << 30,
		SegmentMs:          7 * 24 * 60 * 60 * 1000,
		IndexIntervalBytes: 4096,
		SegmentIndexBytes:  10 << 20,
		FlushMessages:      math.MaxInt64,
		FlushMs:            math.MaxInt64,

		CleanupDelete:          true,
		RetentionMs:            7 * 24 * 60 * 60 * 1000,
		RetentionBytes:         -1,
		FileDeleteDelayMs:      60000,
		DeleteRetentionMs:      24 * 60 * 60 * 1000,
		MaxCompactionLagMs:     math.MaxInt64,
		MinCleanableDirtyRatio: 0.5,
	}
}

// withDefaults fills zero fields so a zero LogConfig behaves like Kafka's.
func (c LogConfig) withDefaults() LogConfig {
	d := DefaultLogConfig()
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = d.SegmentBytes
	}
	if c.SegmentMs <= 0 {
		c.SegmentMs = d.SegmentMs
	}
	if c.IndexIntervalBytes <= 0 {
		c.IndexIntervalBytes = d.IndexIntervalBytes
	}
	if c.SegmentIndexBytes < timeIndexEntrySize {
		c.SegmentIndexBytes = d.SegmentIndexBytes
	}
	return c
}

// Option configures OpenLog and NewLogManager.
type Option func(*options)

type options struct {
	fs                vfs.FS
	logger            *slog.Logger
	recoveryPoint     int64
	logStartOffset    int64
	highWatermark     int64
	hadCleanShutdown  bool
	producerIDExpirMs int64
	// syncRollFlush runs a roll's flush before the roll returns instead of
	// in the background: tests that count filesystem operations need them
	// in a fixed order.
	syncRollFlush bool
	// onFailure is called once, when a write, fsync or read error first
	// takes the log offline: the LogManager takes the log's whole
	// directory offline then (Kafka's LogDirFailureChannel).
	onFailure func(error)
}

func defaultOptions() options {
	return options{
		fs:                vfs.Default,
		logger:            slog.New(slog.DiscardHandler),
		producerIDExpirMs: 24 * 60 * 60 * 1000,
	}
}

// WithFS makes storage use fs instead of the operating system's filesystem.
func WithFS(fs vfs.FS) Option { return func(o *options) { o.fs = fs } }

// WithLogger sets the logger of OpenLog (NewLogManager takes its own).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithRecoveryPoint tells OpenLog that everything below offset is known to
// be fsynced (from recovery-point-offset-checkpoint).
func WithRecoveryPoint(offset int64) Option { return func(o *options) { o.recoveryPoint = offset } }

// WithLogStartOffset restores the log start offset (log-start-offset-checkpoint).
func WithLogStartOffset(offset int64) Option { return func(o *options) { o.logStartOffset = offset } }

// WithHighWatermark restores the high watermark (replication-offset-checkpoint).
func WithHighWatermark(hw int64) Option { return func(o *options) { o.highWatermark = hw } }

// WithCleanShutdown tells OpenLog the broker shut down cleanly, so the
// whole log is trusted and recovery is skipped.
func WithCleanShutdown(clean bool) Option { return func(o *options) { o.hadCleanShutdown = clean } }

// withFailureHook sets options.onFailure.
func withFailureHook(f func(error)) Option { return func(o *options) { o.onFailure = f } }

// WithProducerIDExpiration sets producer.id.expiration.ms (default 1 day):
// producers idle longer without an open transaction are dropped when
// producer state is loaded and by RemoveExpiredProducers.
func WithProducerIDExpiration(ms int64) Option {
	return func(o *options) { o.producerIDExpirMs = ms }
}

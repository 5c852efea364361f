package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/riffle-io/riffle/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) startBackground() {
	// Recovery points, log start offsets and high watermarks are written out
	// every log.flush.offset.checkpoint.interval.ms, so that recovery after
	// a crash starts close to the end.
	b.every(time.Duration(b.cfg.LogFlushOffsetCheckpointIntervalMs)*time.Millisecond, func(time.Time) {
		if err := b.logs.Checkpoint(); err != nil {
			b.logger.Error("writing checkpoints", "err", err)
		}
	})
	// The log flusher: logs whose flush.ms has elapsed are fsynced, checked
	// every log.flush.scheduler.interval.ms (Kafka's default: never).
	b.every(time.Duration(b.cfg.LogFlushSchedulerIntervalMs)*time.Millisecond, func(now time.Time) {
		if err := b.logs.FlushDue(now); err != nil {
			b.logger.Error("flushing logs", "err", err)
		}
	})
	// Retention (cleanup.policy=delete), idle segment rolls (segment.ms)
	// and delayed file deletion (file.delete.delay.ms), every
	// log.retention.check.interval.ms as Kafka's kafka-log-retention task.
	b.every(time.Duration(b.cfg.LogRetentionCheckIntervalMs)*time.Millisecond, func(now time.Time) {
		if _, err := b.logs.RunRetention(now); err != nil {
			b.logger.Error("applying retention", "err", err)
		}
	})
	// Idle producers are forgotten after producer.id.expiration.ms, checked
	// every producer.id.expiration.check.interval.ms (Kafka's
	// PeriodicProducerExpirationCheck).
	b.every(time.Duration(b.cfg.ProducerIDExpirationCheckIntervalMs)*time.Millisecond, func(now time.Time) {
		if n := b.logs.RemoveExpiredProducers(now); n > 0 {
			b.logger.Debug("expired idle producers", "count", n)
		}
	})
	if b.cfg.LogCleanerEnable {
		b.goBackground(b.runLogCleaner)
	}
}

// runLogCleaner is Kafka's log cleaner thread: it cleans the compacted logs
// that are due, and when none is it waits log.cleaner.backoff.ms.
func (b *Broker) runLogCleaner() {
	cc := storage.CleanerConfig{
		DedupeBufferSize:    b.cfg.LogCleanerDedupeBufferSize,
		IOMaxBytesPerSecond: cleanerIOMax(b.cfg.LogCleanerIoMaxBytesPerSecond),
	}
	backoff := time.Duration(max(b.cfg.LogCleanerBackoffMs, 10)) * time.Millisecond
	for {
		n, err := b.logs.CleanLogs(b.ctx, time.Now(), cc)
		if err != nil && b.ctx.Err() == nil {
			b.logger.Error("cleaning logs", "err", err)
		}
		wait := backoff
		if n > 0 && err == nil {
			wait = 0 // more may be due: look again at once
		}
		t := time.NewTimer(wait)
		select {
		case <-b.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// cleanerIOMax maps log.cleaner.io.max.bytes.per.second to the cleaner's
// throttle: Kafka's default (Double.MAX_VALUE) means unthrottled, which the
// cleaner spells 0.
func cleanerIOMax(v float64) float64 {
	if v <= 0 || v >= 1e300 {
		return 0
	}
	return v
}

// every runs fn each interval until the broker stops. Intervals of zero or of
// a year and more (Kafka's Long.MAX_VALUE defaults) mean never.
func (b *Broker) every(interval time.Duration, fn func(time.Time)) {
	if interval <= 0 || interval >= 365*24*time.Hour {
		return
	}
	b.goBackground(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-b.ctx.Done():
				return
			case now := <-t.C:
				fn(now)
			}
		}
	})
}

// producerIDs hands out producer IDs for idempotent producers from blocks the
// controller allocates (Kafka's ProducerIdManager, KIP-730), so that IDs never
// repeat, across restarts or brokers.
type producerIDs struct {
	mu        sync.Mutex
	next, end int64
}

func (b *Broker) nextProducerID(ctx context.Context) (int64, error) {
	p := &b.pids
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next >= p.end {
		// KIP-730: a block from the active controller, through the
		// controller channel.
		req := kmsg.NewPtrAllocateProducerIDsRequest()
		req.BrokerID, req.BrokerEpoch = b.cfg.NodeID, b.brokerEpoch.Load()
		kresp, err := b.sendToController(ctx, req)
		if err != nil {
			return 0, err
		}
		resp := kresp.(*kmsg.AllocateProducerIDsResponse)
		if resp.ErrorCode != 0 {
			return 0, kerr.ErrorForCode(resp.ErrorCode)
		}
		if resp.ProducerIDLen <= 0 {
			return 0, fmt.Errorf("the controller handed out an empty producer id block: %w", kerr.UnknownServerError)
		}
		p.next, p.end = resp.ProducerIDStart, resp.ProducerIDStart+int64(resp.ProducerIDLen)
	}
	id := p.next
	p.next++
	return id, nil
}

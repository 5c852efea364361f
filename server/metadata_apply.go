package server

import (
	"context"
	"time"

	"github.com/riffle-io/riffle/config"
	"github.com/riffle-io/riffle/controller"
	"github.com/riffle-io/riffle/protocol/records"
	"github.com/riffle-io/riffle/replica"
	"github.com/riffle-io/riffle/storage"
)

// applyImage brings the partitions this broker hosts in line with a new
// metadata image: logs for new partitions where this node is a replica,
// leadership and configs for changed ones, deletion for removed topics. It is
// called by the controller, in order, after each applied metadata entry
// (Kafka's BrokerMetadataPublisher).
func (b *Broker) applyImage(prev, next *controller.Image) {
	b.applyACLs(prev, next)
	// Dynamic broker configs change every topic's defaults.
	reapplyAll := b.applyDynamicConfigs(prev, next)
	b.applyReplicationQuotas()
	for name, t := range next.Topics {
		var old *controller.TopicImage
		if prev != nil {
			old = prev.Topics[name]
		}
		if old == t && !reapplyAll {
			continue // copy-on-write: unchanged topics keep their pointer
		}
		if old != nil && old.ID != t.ID {
			b.removeTopic(old)
		}
		b.applyTopic(t)
	}
	if prev != nil {
		for name, t := range prev.Topics {
			if nt, ok := next.Topics[name]; !ok || nt.ID != t.ID {
				if !ok {
					b.removeTopic(t)
				}
			}
		}
	}
	b.signalDirAssignments()
	b.appliedMu.Lock()
	b.appliedAt = next.Offset
	close(b.applied)
	b.applied = make(chan struct{})
	b.appliedMu.Unlock()
}

func (b *Broker) applyTopic(t *controller.TopicImage) {
	logCfg, pcfg, err := b.topicConfigs(t.Configs)
	if err != nil {
		// Configs were validated before they reached the metadata log;
		// fall back to the broker's defaults rather than refuse to serve.
		b.logger.Error("invalid topic configs in metadata; using defaults", "topic", t.Name, "err", err)
		logCfg, pcfg, _ = b.topicConfigs(nil)
	}
	// KIP-73: which of this broker's replicas are throttled.
	var leaderThrottled, followerThrottled []string
	if tc, err := b.effectiveConfig().TopicConfig(t.Configs); err == nil {
		leaderThrottled, followerThrottled = tc.LeaderReplicationThrottledReplicas, tc.FollowerReplicationThrottledReplicas
	}
	for _, p := range t.Partitions {
		if !contains(p.Replicas, b.cfg.NodeID) {
			continue
		}
		pcfg.LeaderThrottled = config.ReplicaThrottled(leaderThrottled, p.Partition, b.cfg.NodeID)
		pcfg.FollowerThrottled = config.ReplicaThrottled(followerThrottled, p.Partition, b.cfg.NodeID)
		tp := storage.TopicPartition{Topic: t.Name, Partition: p.Partition}
		err := b.replicas.ApplyPartitionState(tp, replica.PartitionState{
			TopicID:        t.ID,
			Leader:         p.Leader,
			LeaderEpoch:    p.LeaderEpoch,
			PartitionEpoch: p.PartitionEpoch,
			ISR:            p.ISR,
			Replicas:       p.Replicas,
			LogConfig:      logCfg,
			Config:         pcfg,
		})
		if err != nil {
			b.logger.Error("cannot host partition", "topic", t.Name, "partition", p.Partition, "err", err)
		}
	}
}

func (b *Broker) removeTopic(t *controller.TopicImage) {
	for _, p := range t.Partitions {
		tp := storage.TopicPartition{Topic: t.Name, Partition: p.Partition}
		if err := b.replicas.RemovePartition(tp); err != nil {
			b.logger.Error("deleting partition", "topic", t.Name, "partition", p.Partition, "err", err)
		}
	}
}

// applyWaitLimit bounds waitApplied.
const applyWaitLimit = 2 * time.Second

// waitApplied waits until the local partitions reflect metadata at least as
// new as offset, so that a topic created by this request can be produced to
// as soon as the response arrives. Kafka answers once the change is
// committed and does not wait at all; this is a courtesy, normally a few
// milliseconds, and bounded by the request's own deadline and by
// applyWaitLimit: applying a topic of 100,000 partitions creates that many
// logs and takes minutes, and every admin request, auto-creating Metadata
// request and coordinator lookup waited behind it (fuzzed CreatePartitions,
// AlterPartitionAssignments, Metadata and OffsetCommit requests went
// unanswered for 10 s). Past the bound the answer goes out; clients retry
// UNKNOWN_TOPIC_OR_PARTITION as they do against Kafka.
func (b *Broker) waitApplied(ctx context.Context, offset uint64) {
	ctx, cancel := context.WithTimeout(ctx, applyWaitLimit)
	defer cancel()
	_ = b.waitAppliedUntil(ctx, offset)
}

// waitAppliedUntil waits until the local partitions reflect metadata at
// least as new as offset, or ctx ends.
func (b *Broker) waitAppliedUntil(ctx context.Context, offset uint64) error {
	for {
		b.appliedMu.Lock()
		at, ch := b.appliedAt, b.applied
		b.appliedMu.Unlock()
		if at >= offset {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// topicConfigs resolves a topic's overrides over the broker's defaults into
// the storage and replica configurations.
func (b *Broker) topicConfigs(overrides map[string]string) (storage.LogConfig, replica.PartitionConfig, error) {
	tc, err := b.effectiveConfig().TopicConfig(overrides)
	if err != nil {
		return storage.LogConfig{}, replica.PartitionConfig{}, err
	}
	return logConfigFor(tc), partitionConfigFor(tc), nil
}

func (b *Broker) defaultLogConfig() storage.LogConfig {
	lc, _, err := b.topicConfigs(nil)
	if err != nil {
		b.logger.Error("broker log defaults invalid", "err", err)
	}
	return lc
}

func logConfigFor(tc *config.Topic) storage.LogConfig {
	return storage.LogConfig{
		SegmentBytes:                  tc.SegmentBytes,
		SegmentMs:                     tc.SegmentMs,
		SegmentJitterMs:               tc.SegmentJitterMs,
		IndexIntervalBytes:            int(tc.IndexIntervalBytes),
		SegmentIndexBytes:             int(tc.SegmentIndexBytes),
		FlushMessages:                 tc.FlushMessages,
		FlushMs:                       tc.FlushMs,
		MessageTimestampLogAppendTime: tc.MessageTimestampType == "LogAppendTime",
		CleanupDelete:                 tc.Delete(),
		CleanupCompact:                tc.Compact(),
		RetentionMs:                   tc.RetentionMs,
		RetentionBytes:                tc.RetentionBytes,
		FileDeleteDelayMs:             tc.FileDeleteDelayMs,
		DeleteRetentionMs:             tc.DeleteRetentionMs,
		MinCompactionLagMs:            tc.MinCompactionLagMs,
		MaxCompactionLagMs:            tc.MaxCompactionLagMs,
		MinCleanableDirtyRatio:        tc.MinCleanableDirtyRatio,
	}
}

func partitionConfigFor(tc *config.Topic) replica.PartitionConfig {
	pc := replica.PartitionConfig{
		MaxMessageBytes:      int(tc.MaxMessageBytes),
		MinInsyncReplicas:    int(tc.MinInsyncReplicas),
		LogAppendTime:        tc.MessageTimestampType == "LogAppendTime",
		TimestampBeforeMaxMs: tc.MessageTimestampBeforeMaxMs,
		TimestampAfterMaxMs:  tc.MessageTimestampAfterMaxMs,
	}
	switch tc.CompressionType {
	case "producer", "":
	case "uncompressed":
		pc.Recompress, pc.Compression = true, records.CodecNone
	default:
		if c, ok := records.ParseCodec(tc.CompressionType); ok {
			pc.Recompress, pc.Compression = true, c
		}
	}
	for _, p := range tc.CleanupPolicy {
		if p == "compact" {
			pc.Compacted = true
		}
	}
	return pc
}

func contains(xs []int32, x int32) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

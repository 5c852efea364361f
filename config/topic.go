package config

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Topic is the effective configuration of one topic: the broker's defaults
// (through each config's broker synonym) overlaid with the topic's own
// overrides, as Kafka's LogConfig.fromProps builds it.
type Topic struct {
	CleanupPolicy                        []string
	CompressionType                      string
	CompressionGzipLevel                 int32
	CompressionLz4Level                  int32
	CompressionZstdLevel                 int32
	MaxMessageBytes                      int32
	SegmentBytes                         int64
	SegmentMs                            int64
	SegmentJitterMs                      int64
	SegmentIndexBytes                    int32
	IndexIntervalBytes                   int32
	RetentionMs                          int64
	RetentionBytes                       int64
	LocalRetentionMs                     int64
	LocalRetentionBytes                  int64
	DeleteRetentionMs                    int64
	MinCompactionLagMs                   int64
	MaxCompactionLagMs                   int64
	MinCleanableDirtyRatio               float64
	FileDeleteDelayMs                    int64
	FlushMessages                        int64
	FlushMs                              int64
	MessageTimestampType                 string
	MessageTimestampBeforeMaxMs          int64
	MessageTimestampAfterMaxMs           int64
	MinInsyncReplicas                    int32
	Preallocate                          bool
	UncleanLeaderElectionEnable          bool
	RemoteStorageEnable                  bool
	RemoteLogCopyDisable                 bool
	RemoteLogDeleteOnDisable             bool
	LeaderReplicationThrottledReplicas   []string
	FollowerReplicationThrottledReplicas []string

	// Raw holds every topic config as resolved (DescribeConfigs reports it).
	Raw map[string]string
}

// Compact reports whether cleanup.policy includes compact.
func (t *Topic) Compact() bool { return hasPolicy(t.CleanupPolicy, CleanupPolicyCompact) }

// Delete reports whether cleanup.policy includes delete.
func (t *Topic) Delete() bool { return hasPolicy(t.CleanupPolicy, CleanupPolicyDelete) }

func hasPolicy(list []string, p string) bool {
	for _, x := range list {
		if strings.EqualFold(x, p) {
			return true
		}
	}
	return false
}

type topicDef struct {
	ConfigDef
	fromBroker func(b *Broker) string // nil: the topic default applies
	set        func(t *Topic, v string)
}

func fmtInt[T integer](v T) string { return strconv.FormatInt(int64(v), 10) }

func tInt[T integer](typ, name, def, synonym, doc string, fromBroker func(*Broker) T, field func(*Topic) *T, checks ...validator) topicDef {
	typeCheck := isInt64
	if typ == TypeInt {
		typeCheck = isInt32
	}
	d := topicDef{
		ConfigDef: ConfigDef{Name: name, Type: typ, Default: def, Doc: doc, BrokerSynonym: synonym,
			Validate: all(append([]validator{typeCheck}, checks...)...)},
		set: func(t *Topic, v string) { *field(t) = T(parseInt64(v)) },
	}
	if fromBroker != nil {
		d.fromBroker = func(b *Broker) string { return fmtInt(fromBroker(b)) }
	}
	return d
}

func tBool(name, def, synonym, doc string, fromBroker func(*Broker) bool, field func(*Topic) *bool) topicDef {
	d := topicDef{
		ConfigDef: ConfigDef{Name: name, Type: TypeBoolean, Default: def, Doc: doc, BrokerSynonym: synonym, Validate: isBool},
		set:       func(t *Topic, v string) { *field(t) = parseBool(v) },
	}
	if fromBroker != nil {
		d.fromBroker = func(b *Broker) string { return strconv.FormatBool(fromBroker(b)) }
	}
	return d
}

// throttledReplicas is Kafka's ThrottledReplicaListValidator: "*" or a list
// of partition:brokerId pairs.
var throttledEntry = regexp.MustCompile(`^[0-9]+:[0-9]+$`)

func throttledReplicas(s string) error {
	items := splitCSV(s)
	if len(items) == 1 && items[0] == "*" {
		return nil
	}
	for _, it := range items {
		if !throttledEntry.MatchString(it) {
			return errors.New(`must be "*" or a list of partitionId:brokerId pairs, e.g. 0:101,0:102`)
		}
	}
	return nil
}

// ReplicaThrottled reports whether the replica of partition on broker is
// listed in a leader/follower.replication.throttled.replicas value ("*"
// lists every replica), as Kafka's TopicConfigHandler.parseThrottledPartitions
// reads it for the broker it runs on.
func ReplicaThrottled(list []string, partition, broker int32) bool {
	want := strconv.Itoa(int(partition)) + ":" + strconv.Itoa(int(broker))
	for _, it := range list {
		if it == "*" || strings.TrimSpace(it) == want {
			return true
		}
	}
	return false
}

const (
	defaultSegmentBytes = "1073741824"
	weekMs              = "604800000"
	defaultMaxMessage   = "1048588"
)

// topicDefs are Kafka 4.x's topic configs (LogConfig.CONFIG, TopicConfig).
var topicDefs = []topicDef{
	{
		ConfigDef: ConfigDef{Name: "cleanup.policy", Type: TypeList, Default: CleanupPolicyDelete, BrokerSynonym: "log.cleanup.policy",
			Doc:      `A string that is either "delete" or "compact" or both. This string designates the retention policy to use on old log segments. The default policy ("delete") will discard old segments when their retention time or size limit has been reached. The "compact" setting will enable log compaction on the topic.`,
			Validate: listOf(true, CleanupPolicyCompact, CleanupPolicyDelete)},
		fromBroker: func(b *Broker) string { return strings.Join(b.LogCleanupPolicy, ",") },
		set:        func(t *Topic, v string) { t.CleanupPolicy = parseList(v) },
	},
	{
		ConfigDef: ConfigDef{Name: "compression.type", Type: TypeString, Default: "producer", BrokerSynonym: "compression.type",
			Doc:      "Specify the final compression type for a given topic. This configuration accepts the standard compression codecs ('gzip', 'snappy', 'lz4', 'zstd'). It additionally accepts 'uncompressed' which is equivalent to no compression; and 'producer' which means retain the original compression codec set by the producer.",
			Validate: oneOf(CompressionTypes...)},
		fromBroker: func(b *Broker) string { return b.CompressionType },
		set:        func(t *Topic, v string) { t.CompressionType = strings.TrimSpace(v) },
	},
	tInt(TypeInt, "compression.gzip.level", gzipDefaultLevel, "compression.gzip.level", "The compression level to use if compression.type is set to gzip.",
		func(b *Broker) int32 { return b.CompressionGzipLevel }, func(t *Topic) *int32 { return &t.CompressionGzipLevel }, gzipLevel),
	tInt(TypeInt, "compression.lz4.level", lz4DefaultLevel, "compression.lz4.level", "The compression level to use if compression.type is set to lz4.",
		func(b *Broker) int32 { return b.CompressionLz4Level }, func(t *Topic) *int32 { return &t.CompressionLz4Level }, lz4Level),
	tInt(TypeInt, "compression.zstd.level", zstdDefaultLevel, "compression.zstd.level", "The compression level to use if compression.type is set to zstd.",
		func(b *Broker) int32 { return b.CompressionZstdLevel }, func(t *Topic) *int32 { return &t.CompressionZstdLevel }, zstdLevel),
	tInt(TypeLong, "delete.retention.ms", "86400000", "log.cleaner.delete.retention.ms", "The amount of time to retain delete tombstone markers for log compacted topics. This setting also gives a bound on the time in which a consumer must complete a read if they begin from offset 0 to ensure that they get a valid snapshot of the final stage (otherwise delete tombstones may be collected before they complete their scan).",
		func(b *Broker) int64 { return b.LogCleanerDeleteRetentionMs }, func(t *Topic) *int64 { return &t.DeleteRetentionMs }, atLeast(0)),
	tInt(TypeLong, "file.delete.delay.ms", "60000", "log.segment.delete.delay.ms", "The time to wait before deleting a file from the filesystem.",
		func(b *Broker) int64 { return b.LogSegmentDeleteDelayMs }, func(t *Topic) *int64 { return &t.FileDeleteDelayMs }, atLeast(0)),
	tInt(TypeLong, "flush.messages", maxInt64, "log.flush.interval.messages", "This setting allows specifying an interval at which we will force an fsync of data written to the log. For example if this was set to 1 we would fsync after every message; if it were 5 we would fsync after every five messages.",
		func(b *Broker) int64 { return b.LogFlushIntervalMessages }, func(t *Topic) *int64 { return &t.FlushMessages }, atLeast(1)),
	tInt(TypeLong, "flush.ms", maxInt64, "log.flush.interval.ms", "This setting allows specifying a time interval at which we will force an fsync of data written to the log. For example if this was set to 1000 we would fsync after 1000 ms had passed.",
		func(b *Broker) int64 { return b.LogFlushIntervalMs }, func(t *Topic) *int64 { return &t.FlushMs }, atLeast(0)),
	{
		ConfigDef: ConfigDef{Name: "follower.replication.throttled.replicas", Type: TypeList, Default: "",
			Doc:      "A list of replicas for which log replication should be throttled on the follower side. The list should describe a set of replicas in the form [PartitionId]:[BrokerId],[PartitionId]:[BrokerId]:... or alternatively the wildcard '*' can be used to throttle all replicas for this topic.",
			Validate: throttledReplicas},
		set: func(t *Topic, v string) { t.FollowerReplicationThrottledReplicas = parseList(v) },
	},
	tInt(TypeInt, "index.interval.bytes", "4096", "log.index.interval.bytes", "This setting controls how frequently Kafka adds an index entry to its offset index. The default setting ensures that we index a message roughly every 4096 bytes.",
		func(b *Broker) int32 { return b.LogIndexIntervalBytes }, func(t *Topic) *int32 { return &t.IndexIntervalBytes }, atLeast(0)),
	{
		ConfigDef: ConfigDef{Name: "leader.replication.throttled.replicas", Type: TypeList, Default: "",
			Doc:      "A list of replicas for which log replication should be throttled on the leader side. The list should describe a set of replicas in the form [PartitionId]:[BrokerId],[PartitionId]:[BrokerId]:... or alternatively the wildcard '*' can be used to throttle all replicas for this topic.",
			Validate: throttledReplicas},
		set: func(t *Topic, v string) { t.LeaderReplicationThrottledReplicas = parseList(v) },
	},
	tInt(TypeLong, "local.retention.bytes", "-2", "log.local.retention.bytes", "The maximum size of local log segments that can grow for a partition before it deletes the old segments. Default value is -2, it represents `retention.bytes` value to be used.",
		func(b *Broker) int64 { return b.LogLocalRetentionBytes }, func(t *Topic) *int64 { return &t.LocalRetentionBytes }, atLeast(-2)),
	tInt(TypeLong, "local.retention.ms", "-2", "log.local.retention.ms", "The number of milliseconds to keep the local log segment before it gets deleted. Default value is -2, it represents `retention.ms` value is to be used.",
		func(b *Broker) int64 { return b.LogLocalRetentionMs }, func(t *Topic) *int64 { return &t.LocalRetentionMs }, atLeast(-2)),
	tInt(TypeLong, "max.compaction.lag.ms", maxInt64, "log.cleaner.max.compaction.lag.ms", "The maximum time a message will remain ineligible for compaction in the log. Only applicable for logs that are being compacted.",
		func(b *Broker) int64 { return b.LogCleanerMaxCompactionLagMs }, func(t *Topic) *int64 { return &t.MaxCompactionLagMs }, atLeast(1)),
	tInt(TypeInt, "max.message.bytes", defaultMaxMessage, "message.max.bytes", "The largest record batch size allowed by Kafka (after compression if compression is enabled).",
		func(b *Broker) int32 { return b.MessageMaxBytes }, func(t *Topic) *int32 { return &t.MaxMessageBytes }, atLeast(0)),
	tInt(TypeLong, "message.timestamp.after.max.ms", "3600000", "log.message.timestamp.after.max.ms", "This configuration sets the allowable timestamp difference between the message timestamp and the broker's timestamp. The message timestamp can be later than or equal to the broker's timestamp, with the maximum allowable difference determined by the value set in this configuration. If message.timestamp.type=CreateTime, the message will be rejected if the difference in timestamps exceeds this specified threshold.",
		func(b *Broker) int64 { return b.LogMessageTimestampAfterMaxMs }, func(t *Topic) *int64 { return &t.MessageTimestampAfterMaxMs }, atLeast(0)),
	tInt(TypeLong, "message.timestamp.before.max.ms", maxInt64, "log.message.timestamp.before.max.ms", "This configuration sets the allowable timestamp difference between the broker's timestamp and the message timestamp. The message timestamp can be earlier than or equal to the broker's timestamp, with the maximum allowable difference determined by the value set in this configuration. If message.timestamp.type=CreateTime, the message will be rejected if the difference in timestamps exceeds this specified threshold.",
		func(b *Broker) int64 { return b.LogMessageTimestampBeforeMaxMs }, func(t *Topic) *int64 { return &t.MessageTimestampBeforeMaxMs }, atLeast(0)),
	{
		ConfigDef: ConfigDef{Name: "message.timestamp.type", Type: TypeString, Default: CreateTime, BrokerSynonym: "log.message.timestamp.type",
			Doc:      "Define whether the timestamp in the message is message create time or log append time. The value should be either `CreateTime` or `LogAppendTime`.",
			Validate: oneOf(CreateTime, LogAppendTime)},
		fromBroker: func(b *Broker) string { return b.LogMessageTimestampType },
		set:        func(t *Topic, v string) { t.MessageTimestampType = strings.TrimSpace(v) },
	},
	{
		ConfigDef: ConfigDef{Name: "min.cleanable.dirty.ratio", Type: TypeDouble, Default: "0.5", BrokerSynonym: "log.cleaner.min.cleanable.ratio",
			Doc:      "This configuration controls how frequently the log compactor will attempt to clean the log (assuming log compaction is enabled). By default we will avoid cleaning a log where more than 50% of the log has been compacted.",
			Validate: all(isDouble, betweenFloat(0, 1))},
		fromBroker: func(b *Broker) string { return strconv.FormatFloat(b.LogCleanerMinCleanableRatio, 'g', -1, 64) },
		set:        func(t *Topic, v string) { t.MinCleanableDirtyRatio = parseFloat(v) },
	},
	tInt(TypeLong, "min.compaction.lag.ms", "0", "log.cleaner.min.compaction.lag.ms", "The minimum time a message will remain uncompacted in the log. Only applicable for logs that are being compacted.",
		func(b *Broker) int64 { return b.LogCleanerMinCompactionLagMs }, func(t *Topic) *int64 { return &t.MinCompactionLagMs }, atLeast(0)),
	tInt(TypeInt, "min.insync.replicas", "1", "min.insync.replicas", `When a producer sets acks to "all" (or "-1"), this configuration specifies the minimum number of replicas that must acknowledge a write for the write to be considered successful. If this minimum cannot be met, then the producer will raise an exception (either NotEnoughReplicas or NotEnoughReplicasAfterAppend).`,
		func(b *Broker) int32 { return b.MinInsyncReplicas }, func(t *Topic) *int32 { return &t.MinInsyncReplicas }, atLeast(1)),
	tBool("preallocate", "false", "log.preallocate", "True if we should preallocate the file on disk when creating a new log segment.",
		func(b *Broker) bool { return b.LogPreallocate }, func(t *Topic) *bool { return &t.Preallocate }),
	tBool("remote.log.copy.disable", "false", "", "Determines whether tiered data for a topic should become read only, and no more data uploading on a topic. Riffle has no tiered storage.",
		nil, func(t *Topic) *bool { return &t.RemoteLogCopyDisable }),
	tBool("remote.log.delete.on.disable", "false", "", "Determines whether tiered data for a topic should be deleted after tiered storage is disabled on a topic. Riffle has no tiered storage.",
		nil, func(t *Topic) *bool { return &t.RemoteLogDeleteOnDisable }),
	tBool("remote.storage.enable", "false", "", "To enable tiered storage for a topic, set this configuration as true. Riffle has no tiered storage, so only false is accepted.",
		nil, func(t *Topic) *bool { return &t.RemoteStorageEnable }),
	tInt(TypeLong, "retention.bytes", "-1", "log.retention.bytes", `This configuration controls the maximum size a partition (which consists of log segments) can grow to before we will discard old log segments to free up space if we are using the "delete" retention policy. By default there is no size limit only a time limit.`,
		func(b *Broker) int64 { return b.LogRetentionBytes }, func(t *Topic) *int64 { return &t.RetentionBytes }),
	tInt(TypeLong, "retention.ms", weekMs, "log.retention.ms", `This configuration controls the maximum time we will retain a log before we will discard old log segments to free up space if we are using the "delete" retention policy. This represents an SLA on how soon consumers must read their data. If set to -1, no time limit is applied.`,
		func(b *Broker) int64 { return b.LogRetentionMs }, func(t *Topic) *int64 { return &t.RetentionMs }, atLeast(-1)),
	// KIP-1030: Kafka 4.x refuses segments below 1 MiB.
	tInt(TypeInt, "segment.bytes", defaultSegmentBytes, "log.segment.bytes", "This configuration controls the segment file size for the log. Retention and cleaning is always done a file at a time so a larger segment size means fewer files but less granular control over retention.",
		func(b *Broker) int64 { return b.LogSegmentBytes }, func(t *Topic) *int64 { return &t.SegmentBytes }, atLeast(1<<20)),
	tInt(TypeInt, "segment.index.bytes", "10485760", "log.index.size.max.bytes", "This configuration controls the size of the index that maps offsets to file positions. We preallocate this index file and shrink it only after log rolls. You generally should not need to change this setting.",
		func(b *Broker) int32 { return b.LogIndexSizeMaxBytes }, func(t *Topic) *int32 { return &t.SegmentIndexBytes }, atLeast(4)),
	tInt(TypeLong, "segment.jitter.ms", "0", "log.roll.jitter.ms", "The maximum random jitter subtracted from the scheduled segment roll time to avoid thundering herds of segment rolling.",
		func(b *Broker) int64 { return b.LogRollJitterMs }, func(t *Topic) *int64 { return &t.SegmentJitterMs }, atLeast(0)),
	tInt(TypeLong, "segment.ms", weekMs, "log.roll.ms", "This configuration controls the period of time after which Kafka will force the log to roll even if the segment file isn't full to ensure that retention can delete or compact old data.",
		func(b *Broker) int64 { return b.LogRollMs }, func(t *Topic) *int64 { return &t.SegmentMs }, atLeast(1)),
	tBool("unclean.leader.election.enable", "false", "unclean.leader.election.enable", "Indicates whether to enable replicas not in the ISR set to be elected as leader as a last resort, even though doing so may result in data loss.",
		func(b *Broker) bool { return b.UncleanLeaderElectionEnable }, func(t *Topic) *bool { return &t.UncleanLeaderElectionEnable }),
}

var topicDefIndex = func() map[string]*topicDef {
	m := make(map[string]*topicDef, len(topicDefs))
	for i := range topicDefs {
		m[topicDefs[i].Name] = &topicDefs[i]
	}
	return m
}()

// TopicConfigDefs lists the topic configs, sorted by name.
func TopicConfigDefs() []ConfigDef {
	out := make([]ConfigDef, len(topicDefs))
	for i, d := range topicDefs {
		out[i] = d.ConfigDef
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LookupTopicConfig returns the definition of a topic config.
func LookupTopicConfig(name string) (ConfigDef, bool) {
	d, ok := topicDefIndex[name]
	if !ok {
		return ConfigDef{}, false
	}
	return d.ConfigDef, true
}

// IsTopicConfig reports whether name is a topic config.
func IsTopicConfig(name string) bool { _, ok := topicDefIndex[name]; return ok }

// ValidateTopicConfigs checks a topic's overrides as CreateTopics and
// AlterConfigs do (LogConfig.validateNames, validateValues): an unknown name
// or a bad value is an error naming it. Map order does not matter: names are
// checked in sorted order so the error is deterministic.
func ValidateTopicConfigs(overrides map[string]string) error {
	names := make([]string, 0, len(overrides))
	for n := range overrides {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		d, ok := topicDefIndex[n]
		if !ok {
			return fmt.Errorf("unknown topic config name: %s", n)
		}
		if err := d.check(overrides[n]); err != nil {
			return err
		}
	}
	if v, ok := overrides["remote.storage.enable"]; ok && parseBool(v) {
		return fmt.Errorf("invalid value %q for remote.storage.enable: Riffle has no tiered storage", v)
	}
	return nil
}

// TopicConfig returns the effective configuration of a topic with the given
// overrides: each config's broker synonym supplies the default.
func (b *Broker) TopicConfig(overrides map[string]string) (*Topic, error) {
	if err := ValidateTopicConfigs(overrides); err != nil {
		return nil, err
	}
	t := &Topic{Raw: make(map[string]string, len(topicDefs))}
	for _, d := range topicDefs {
		v := d.Default
		if d.fromBroker != nil && b != nil {
			v = d.fromBroker(b)
		}
		if o, ok := overrides[d.Name]; ok {
			v = o
		}
		t.Raw[d.Name] = v
		d.set(t, v)
	}
	// LogConfig.validateValues.
	if t.MinCompactionLagMs > t.MaxCompactionLagMs {
		return nil, fmt.Errorf("conflict topic config setting min.compaction.lag.ms (%d) > max.compaction.lag.ms (%d)", t.MinCompactionLagMs, t.MaxCompactionLagMs)
	}
	return t, nil
}

// synonymGroups are the broker properties that jointly resolve one topic
// default, highest precedence first (KafkaConfig.logRollTimeMillis, …).
var synonymGroups = map[string][]string{
	"log.roll.ms":           {"log.roll.ms", "log.roll.hours"},
	"log.roll.jitter.ms":    {"log.roll.jitter.ms", "log.roll.jitter.hours"},
	"log.retention.ms":      {"log.retention.ms", "log.retention.minutes", "log.retention.hours"},
	"log.flush.interval.ms": {"log.flush.interval.ms", "log.flush.scheduler.interval.ms"},
}

// TopicDefault returns the value a topic config takes when the topic does not
// override it, resolved through the broker synonyms (segment.ms follows
// log.roll.ms, else log.roll.hours), and the source of that value: a
// non-default Source means the broker configuration set it
// (STATIC_BROKER_CONFIG in DescribeConfigs), SourceDefault that it is the
// built-in default (DEFAULT_CONFIG). ok is false for unknown names.
func (b *Broker) TopicDefault(name string) (value string, source Source, ok bool) {
	d, ok := topicDefIndex[name]
	if !ok {
		return "", SourceDefault, false
	}
	if d.fromBroker == nil {
		return d.Default, SourceDefault, true
	}
	group := synonymGroups[d.BrokerSynonym]
	if group == nil {
		group = []string{d.BrokerSynonym}
	}
	for _, n := range group {
		if s, set := b.Sources[n]; set && s != SourceDefault {
			source = s
			break
		}
	}
	return d.fromBroker(b), source, true
}

package config

import (
	"fmt"
	"math"
	"strings"
)

// brokerDef is a ConfigDef plus where its parsed value goes. set is nil for
// properties resolved together with others (log.dir/log.dirs,
// log.roll.hours/log.roll.ms, …) and for ignored ones.
type brokerDef struct {
	ConfigDef
	set func(b *Broker, v string)
	// asRiffleDoes, for an ignored property, reports whether a value asks
	// for what Riffle does anyway; setting it to such a value is not
	// warned about.
	asRiffleDoes func(v string) bool
}

type integer interface{ ~int16 | ~int32 | ~int64 }

// num defines an INT, SHORT or LONG property.
func num[T integer](typ, name, def, doc string, field func(*Broker) *T, checks ...validator) brokerDef {
	var typeCheck validator
	switch typ {
	case TypeShort:
		typeCheck = isInt16
	case TypeInt:
		typeCheck = isInt32
	default:
		typeCheck = isInt64
	}
	d := brokerDef{ConfigDef: ConfigDef{Name: name, Type: typ, Default: def, Doc: doc,
		Validate: all(append([]validator{typeCheck}, checks...)...)}}
	if field != nil {
		d.set = func(b *Broker, v string) { *field(b) = T(parseInt64(v)) }
	}
	return d
}

func i32(name, def, doc string, field func(*Broker) *int32, checks ...validator) brokerDef {
	return num(TypeInt, name, def, doc, field, checks...)
}

func i16(name, def, doc string, field func(*Broker) *int16, checks ...validator) brokerDef {
	return num(TypeShort, name, def, doc, field, checks...)
}

func i64(name, def, doc string, field func(*Broker) *int64, checks ...validator) brokerDef {
	return num(TypeLong, name, def, doc, field, checks...)
}

func boolean(name, def, doc string, field func(*Broker) *bool) brokerDef {
	d := brokerDef{ConfigDef: ConfigDef{Name: name, Type: TypeBoolean, Default: def, Doc: doc, Validate: isBool}}
	if field != nil {
		d.set = func(b *Broker, v string) { *field(b) = parseBool(v) }
	}
	return d
}

func double(name, def, doc string, field func(*Broker) *float64, checks ...validator) brokerDef {
	d := brokerDef{ConfigDef: ConfigDef{Name: name, Type: TypeDouble, Default: def, Doc: doc,
		Validate: all(append([]validator{isDouble}, checks...)...)}}
	if field != nil {
		d.set = func(b *Broker, v string) { *field(b) = parseFloat(v) }
	}
	return d
}

func str(name, def, doc string, field func(*Broker) *string, checks ...validator) brokerDef {
	d := brokerDef{ConfigDef: ConfigDef{Name: name, Type: TypeString, Default: def, Doc: doc, Validate: all(checks...)}}
	if field != nil {
		d.set = func(b *Broker, v string) { *field(b) = strings.TrimSpace(v) }
	}
	return d
}

func password(name, doc string, field func(*Broker) *string) brokerDef {
	d := brokerDef{ConfigDef: ConfigDef{Name: name, Type: TypePassword, NoDefault: true, Doc: doc}}
	if field != nil {
		// Passwords are taken verbatim: blanks may be part of them.
		d.set = func(b *Broker, v string) { *field(b) = v }
	}
	return d
}

func list(name, def, doc string, field func(*Broker) *[]string, checks ...validator) brokerDef {
	d := brokerDef{ConfigDef: ConfigDef{Name: name, Type: TypeList, Default: def, Doc: doc, Validate: all(checks...)}}
	if field != nil {
		d.set = func(b *Broker, v string) { *field(b) = parseList(v) }
	}
	return d
}

// null marks a definition whose Kafka default is null.
func null(d brokerDef) brokerDef {
	d.NoDefault = true
	d.Default = ""
	return d
}

// ignored marks a definition accepted for compatibility but not acted on.
func ignored(d brokerDef) brokerDef {
	d.Ignored = true
	return d
}

// ignoredUnlessNot is ignoredBecause for a property whose values for which
// asRiffleDoes holds describe what Riffle does anyway: only other values
// are warned about.
func ignoredUnlessNot(asRiffleDoes func(string) bool, d brokerDef) brokerDef {
	d.asRiffleDoes = asRiffleDoes
	return d
}

// ignoredBecause is ignored with the reason, which the start-up warning
// and the documentation give. The value is still parsed into its field,
// where cross-field checks may use it.
func ignoredBecause(reason string, d brokerDef) brokerDef {
	d = ignored(d)
	d.IgnoredReason = reason
	d.Doc += " Riffle accepts it for compatibility and ignores it: " + reason + "."
	return d
}

// Defaults that differ from Kafka's, for Riffle's one-command start.
const (
	defaultNodeID              = "1"
	defaultListeners           = "PLAINTEXT://:9092,CONTROLLER://:9093"
	defaultAdvertisedListeners = "PLAINTEXT://localhost:9092"
	defaultLogDir              = "./data"
)

// defaultSecurityProtocolMap is Kafka's default (every protocol mapped to its
// own name) plus CONTROLLER:PLAINTEXT, as Kafka's KRaft server.properties
// ships it.
const defaultSecurityProtocolMap = "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"

// RackAwareReplicaSelector is the one replica.selector.class Riffle has
// built in: Kafka's org.apache.kafka.common.replica.RackAwareReplicaSelector
// (KIP-392), which sends a consumer to an in-sync replica in its rack.
const RackAwareReplicaSelector = "org.apache.kafka.common.replica.RackAwareReplicaSelector"

// replicaSelectorClass accepts only the selector Riffle implements: Kafka
// loads any ReplicaSelector class from its classpath, Riffle cannot load
// Java classes, and a broker silently serving every consumer from the
// leader would hide the mistake.
func replicaSelectorClass(s string) error {
	if v := strings.TrimSpace(s); v != "" && v != RackAwareReplicaSelector {
		return fmt.Errorf("Riffle cannot load Java classes; the only replica selector it provides is %s (or leave replica.selector.class unset for leader-only fetching)", RackAwareReplicaSelector)
	}
	return nil
}

// CompressionTypes are the values of compression.type (BrokerCompressionType).
var CompressionTypes = []string{"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}

// Timestamp types of log.message.timestamp.type / message.timestamp.type.
const (
	CreateTime    = "CreateTime"
	LogAppendTime = "LogAppendTime"
)

// Cleanup policies of log.cleanup.policy / cleanup.policy.
const (
	CleanupPolicyDelete  = "delete"
	CleanupPolicyCompact = "compact"
)

// Compression level ranges (Kafka's GzipCompression, Lz4Compression,
// ZstdCompression; KIP-390).
const (
	gzipDefaultLevel = "-1" // java.util.zip.Deflater.DEFAULT_COMPRESSION
	lz4DefaultLevel  = "9"
	zstdDefaultLevel = "3"
)

func gzipLevel(s string) error {
	if strings.TrimSpace(s) == "-1" {
		return nil
	}
	return between(1, 9)(s)
}

var (
	lz4Level  = between(1, 17)
	zstdLevel = between(-131072, 22)
)

// brokerDefs lists every broker property Riffle knows, in Kafka's names and
// with Kafka's defaults (see apache/kafka ServerLogConfigs, ServerConfigs,
// SocketServerConfigs, KRaftConfigs, ReplicationConfigs,
// GroupCoordinatorConfig, TransactionLogConfig, CleanerConfig).
var brokerDefs = []brokerDef{
	// KRaft and node identity.
	i32("node.id", defaultNodeID, "The node ID associated with the roles this process is playing when process.roles is non-empty. Riffle defaults it to 1 for a one-node start.", func(b *Broker) *int32 { return &b.NodeID }, atLeast(0)),
	null(i32("broker.id", "", "Synonym of node.id kept for older configuration files; when both are set they must be equal.", nil, atLeast(0))),
	list("process.roles", "broker,controller", "The roles that this process plays: 'broker', 'controller', or 'broker,controller' if it is both.", func(b *Broker) *[]string { return &b.ProcessRoles }, listOf(false, "broker", "controller")),
	list("controller.listener.names", "CONTROLLER", "A comma-separated list of the names of the listeners used by the controller.", func(b *Broker) *[]string { return &b.ControllerListenerNames }, nonEmptyList, noDuplicates),
	str("controller.quorum.voters", "", "Map of id/endpoint information for the set of voters in a comma-separated list of {id}@{host}:{port} entries. Empty means a single voter: this node on its first controller listener.", func(b *Broker) *string { return &b.ControllerQuorumVoters }),
	ignoredBecause("the quorum is given by controller.quorum.voters (KIP-853 bootstrap is not supported)", list("controller.quorum.bootstrap.servers", "", "List of endpoints to use for bootstrapping the cluster metadata, as {host}:{port} entries (KIP-853).", func(b *Broker) *[]string { return &b.ControllerQuorumBootstrapServers })),
	ignoredBecause("the metadata quorum runs on hashicorp/raft with its own timeouts", i32("controller.quorum.election.timeout.ms", "1000", "Maximum time in milliseconds to wait without being able to fetch from the leader before triggering a new election.", func(b *Broker) *int32 { return &b.ControllerQuorumElectionTimeoutMs }, atLeast(1))),
	ignoredBecause("the metadata quorum runs on hashicorp/raft with its own timeouts", i32("controller.quorum.fetch.timeout.ms", "2000", "Maximum time without a successful fetch from the current leader before becoming a candidate and triggering an election.", func(b *Broker) *int32 { return &b.ControllerQuorumFetchTimeoutMs }, atLeast(1))),
	ignoredBecause("the metadata quorum runs on hashicorp/raft with its own timeouts", i32("controller.quorum.election.backoff.max.ms", "1000", "Maximum time in milliseconds before starting new elections.", func(b *Broker) *int32 { return &b.ControllerQuorumElectionBackoffMaxMs }, atLeast(1))),
	ignoredBecause("the metadata quorum runs on hashicorp/raft with its own timeouts", i32("controller.quorum.request.timeout.ms", "2000", "The maximum amount of time the quorum client waits for a response to a request.", func(b *Broker) *int32 { return &b.ControllerQuorumRequestTimeoutMs }, atLeast(1))),
	ignoredBecause("the metadata quorum runs on hashicorp/raft with its own timeouts", i32("controller.quorum.retry.backoff.ms", "20", "The amount of time to wait before attempting to retry a failed quorum request.", func(b *Broker) *int32 { return &b.ControllerQuorumRetryBackoffMs }, atLeast(0))),
	ignoredBecause("the metadata quorum runs on hashicorp/raft, which batches on its own", i32("controller.quorum.append.linger.ms", "25", "The duration in milliseconds that the leader will wait for writes to accumulate before flushing them to disk.", func(b *Broker) *int32 { return &b.ControllerQuorumAppendLingerMs }, atLeast(0))),
	null(str("metadata.log.dir", "", "The directory in which the metadata log is kept. If not set, the metadata log is placed in the first log directory from log.dirs.", func(b *Broker) *string { return &b.MetadataLogDir })),
	ignoredBecause("the metadata log is a raft-wal log with its own segments", i32("metadata.log.segment.bytes", "1073741824", "The maximum size of a single metadata log file.", func(b *Broker) *int32 { return &b.MetadataLogSegmentBytes }, atLeast(8<<20))),
	ignoredBecause("the metadata log is compacted by hashicorp/raft snapshots", i64("metadata.max.retention.ms", "604800000", "The number of milliseconds to keep a metadata log file or snapshot before deleting it.", func(b *Broker) *int64 { return &b.MetadataMaxRetentionMs })),
	ignoredBecause("the metadata log is compacted by hashicorp/raft snapshots", i64("metadata.max.retention.bytes", "104857600", "The maximum combined size of the metadata log and snapshots before deleting old snapshots and log files.", func(b *Broker) *int64 { return &b.MetadataMaxRetentionBytes })),
	ignoredBecause("hashicorp/raft decides when to snapshot", i64("metadata.log.max.record.bytes.between.snapshots", "20971520", "The maximum number of bytes in the log between the latest snapshot and the high-watermark needed before generating a new snapshot.", func(b *Broker) *int64 { return &b.MetadataLogMaxRecordBytesBetweenSnapshots }, atLeast(1))),
	i32("broker.heartbeat.interval.ms", "2000", "The length of time in milliseconds between broker heartbeats.", func(b *Broker) *int32 { return &b.BrokerHeartbeatIntervalMs }, atLeast(1)),
	i32("broker.session.timeout.ms", "9000", "The length of time in milliseconds that a broker lease lasts if no heartbeats are made.", func(b *Broker) *int32 { return &b.BrokerSessionTimeoutMs }, atLeast(1)),
	ignoredBecause("registration waits at most 60 s at start", i64("initial.broker.registration.timeout.ms", "60000", "When initially registering with the controller quorum, the number of milliseconds to wait before declaring failure and exiting the broker process.", func(b *Broker) *int64 { return &b.InitialBrokerRegistrationTimeoutMs }, atLeast(1))),
	null(str("broker.rack", "", "Rack of the broker. This will be used in rack aware replication assignment for fault tolerance.", func(b *Broker) *string { return &b.BrokerRack })),

	// Sockets and listeners.
	str("listeners", defaultListeners, "Listener List - Comma-separated list of URIs we will listen on and the listener names. Specify hostname as 0.0.0.0 to bind to all interfaces, or leave it empty to bind to the default interface. Port 0 binds an ephemeral port.", nil),
	null(str("advertised.listeners", "", "Listeners to publish to clients if different from the listeners config property. If not set, the listeners (minus controller listeners) are advertised; with the default listeners that is PLAINTEXT://localhost:9092.", nil)),
	str("listener.security.protocol.map", defaultSecurityProtocolMap, "Map between listener names and security protocols, as LISTENER_NAME:PROTOCOL entries.", nil),
	null(str("inter.broker.listener.name", "", "Name of listener used for communication between brokers. If this is unset, the listener name is defined by security.inter.broker.protocol.", nil)),
	str("security.inter.broker.protocol", ProtocolPlaintext, "Security protocol used to communicate between brokers. It is an error to set this and inter.broker.listener.name properties at the same time.", nil, oneOf(securityProtocols...)),
	i32("socket.request.max.bytes", "104857600", "The maximum number of bytes in a socket request.", func(b *Broker) *int32 { return &b.SocketRequestMaxBytes }, atLeast(1)),
	ignoredBecause("sockets keep the operating system's buffer sizes", i32("socket.send.buffer.bytes", "102400", "The SO_SNDBUF buffer of the socket server sockets. If the value is -1, the OS default will be used.", func(b *Broker) *int32 { return &b.SocketSendBufferBytes })),
	ignoredBecause("sockets keep the operating system's buffer sizes", i32("socket.receive.buffer.bytes", "102400", "The SO_RCVBUF buffer of the socket server sockets. If the value is -1, the OS default will be used.", func(b *Broker) *int32 { return &b.SocketReceiveBufferBytes })),
	ignoredBecause("listeners use the operating system's backlog", i32("socket.listen.backlog.size", "50", "The maximum number of pending connections on the socket.", func(b *Broker) *int32 { return &b.SocketListenBacklogSize }, atLeast(1))),
	i64("connections.max.idle.ms", "600000", "Idle connections timeout: the server socket processor threads close the connections that idle more than this.", func(b *Broker) *int64 { return &b.ConnectionsMaxIdleMs }),
	i32("max.connections", maxInt32, "The maximum number of connections we allow in the broker at any time.", func(b *Broker) *int32 { return &b.MaxConnections }, atLeast(0)),
	i32("max.connections.per.ip", maxInt32, "The maximum number of connections we allow from each ip address.", func(b *Broker) *int32 { return &b.MaxConnectionsPerIP }, atLeast(0)),
	str("max.connections.per.ip.overrides", "", "A comma-separated list of per-ip or hostname overrides to the default maximum number of connections, e.g. hostName:100,127.0.0.1:200.", func(b *Broker) *string { return &b.MaxConnectionsPerIPOverrides }),
	i32("queued.max.requests", "500", "The number of queued requests allowed for data-plane, before blocking the network threads. In Riffle: requests read and decoded ahead of their connection's handler, broker-wide; a connection with nothing queued may always queue one.", func(b *Broker) *int32 { return &b.QueuedMaxRequests }, atLeast(1)),
	i64("queued.max.request.bytes", "-1", "The number of queued bytes allowed before no more requests are read (the request memory pool); -1 for no limit. At least socket.request.max.bytes when set.", func(b *Broker) *int64 { return &b.QueuedMaxRequestBytes }),
	i32("quota.window.num", "11", "The number of samples to retain in memory for client quotas.", func(b *Broker) *int32 { return &b.QuotaWindowNum }, atLeast(1)),
	i32("quota.window.size.seconds", "1", "The time span of each sample for client quotas.", func(b *Broker) *int32 { return &b.QuotaWindowSizeSeconds }, atLeast(1)),
	i32("controller.quota.window.num", "11", "The number of samples to retain in memory for controller mutation quotas.", func(b *Broker) *int32 { return &b.ControllerQuotaWindowNum }, atLeast(1)),
	i32("controller.quota.window.size.seconds", "1", "The time span of each sample for controller mutations quotas.", func(b *Broker) *int32 { return &b.ControllerQuotaWindowSizeSeconds }, atLeast(1)),
	ignored(i32("num.network.threads", "3", "The number of threads that the server uses for receiving requests from the network and sending responses to the network. Accepted for compatibility: Riffle serves each connection with its own goroutines.", nil, atLeast(1))),
	ignored(i32("num.io.threads", "8", "The number of threads that the server uses for processing requests. Accepted for compatibility: Riffle does not use a request thread pool.", nil, atLeast(1))),
	ignored(i32("background.threads", "10", "The number of threads to use for various background processing tasks. Accepted for compatibility.", nil, atLeast(1))),
	ignored(null(i32("num.replica.alter.log.dirs.threads", "", "The number of threads that can move replicas between log directories. Accepted for compatibility.", nil))),
	ignored(i32("share.coordinator.state.topic.replication.factor", "3", "Replication factor for the share-group state topic. Accepted for compatibility: Riffle has no share groups.", nil, atLeast(1))),
	ignored(i32("share.coordinator.state.topic.min.isr", "2", "Overridden min.insync.replicas for the share-group state topic. Accepted for compatibility.", nil, atLeast(1))),
	ignored(i64("metadata.log.max.snapshot.interval.ms", "3600000", "The maximum number of milliseconds to wait to generate a snapshot if there are committed records in the log that are not included in the latest snapshot. Accepted for compatibility.", nil, atLeast(0))),

	// Log defaults.
	null(list("log.dirs", "", "A comma-separated list of the directories where the log data is stored. If not set, the value in log.dir is used.", nil, nonEmptyList, noDuplicates)),
	list("log.dir", defaultLogDir, "The directory in which the log data is kept (supplemental for log.dirs property). Riffle defaults it to ./data.", nil, nonEmptyList, noDuplicates),
	i32("num.partitions", "1", "The default number of log partitions per topic.", func(b *Broker) *int32 { return &b.NumPartitions }, atLeast(1)),
	i16("default.replication.factor", "1", "The replication factor for automatically created topics, and for topics created with -1 as the replication factor.", func(b *Broker) *int16 { return &b.DefaultReplicationFactor }, atLeast(1)),
	boolean("auto.create.topics.enable", "true", "Enable auto creation of topic on the server.", func(b *Broker) *bool { return &b.AutoCreateTopicsEnable }),
	boolean("delete.topic.enable", "true", "Enables delete topic. Delete topic through the admin tool will have no effect if this config is turned off.", func(b *Broker) *bool { return &b.DeleteTopicEnable }),
	// KIP-1030: Kafka 4.x refuses segments below 1 MiB, for the broker default too.
	i32("log.segment.bytes", "1073741824", "The maximum size of a single log file.", nil, atLeast(1<<20)),
	null(i64("log.roll.ms", "", "The maximum time before a new log segment is rolled out (in milliseconds). If not set, the value in log.roll.hours is used.", nil, atLeast(1))),
	i32("log.roll.hours", "168", "The maximum time before a new log segment is rolled out (in hours), secondary to log.roll.ms property.", nil, atLeast(1)),
	null(i64("log.roll.jitter.ms", "", "The maximum jitter to subtract from the segment roll time (in milliseconds). If not set, the value in log.roll.jitter.hours is used.", nil, atLeast(0))),
	i32("log.roll.jitter.hours", "0", "The maximum jitter to subtract from the segment roll time (in hours), secondary to log.roll.jitter.ms property.", nil, atLeast(0)),
	i32("log.index.interval.bytes", "4096", "The interval with which we add an entry to the offset index.", func(b *Broker) *int32 { return &b.LogIndexIntervalBytes }, atLeast(0)),
	i32("log.index.size.max.bytes", "10485760", "The maximum size in bytes of the offset index.", func(b *Broker) *int32 { return &b.LogIndexSizeMaxBytes }, atLeast(4)),
	i32("message.max.bytes", "1048588", "The largest record batch size allowed by Kafka (after compression if compression is enabled). This can be set per topic with the topic level max.message.bytes config.", func(b *Broker) *int32 { return &b.MessageMaxBytes }, atLeast(0)),
	str("compression.type", "producer", "Specify the final compression type for a given topic: 'gzip', 'snappy', 'lz4', 'zstd', 'uncompressed' (no compression) or 'producer' (retain the codec the producer used).", func(b *Broker) *string { return &b.CompressionType }, oneOf(CompressionTypes...)),
	ignoredBecause("recompression uses each codec's default level", i32("compression.gzip.level", gzipDefaultLevel, "The compression level to use if compression.type is set to gzip.", func(b *Broker) *int32 { return &b.CompressionGzipLevel }, gzipLevel)),
	ignoredBecause("recompression uses each codec's default level", i32("compression.lz4.level", lz4DefaultLevel, "The compression level to use if compression.type is set to lz4.", func(b *Broker) *int32 { return &b.CompressionLz4Level }, lz4Level)),
	ignoredBecause("recompression uses each codec's default level", i32("compression.zstd.level", zstdDefaultLevel, "The compression level to use if compression.type is set to zstd.", func(b *Broker) *int32 { return &b.CompressionZstdLevel }, zstdLevel)),
	str("log.message.timestamp.type", CreateTime, "Define whether the timestamp in the message is message create time or log append time. The value should be either CreateTime or LogAppendTime.", func(b *Broker) *string { return &b.LogMessageTimestampType }, oneOf(CreateTime, LogAppendTime)),
	i64("log.message.timestamp.before.max.ms", maxInt64, "The allowable difference between the broker's timestamp and an earlier message timestamp, when log.message.timestamp.type=CreateTime.", func(b *Broker) *int64 { return &b.LogMessageTimestampBeforeMaxMs }, atLeast(0)),
	i64("log.message.timestamp.after.max.ms", "3600000", "The allowable difference between a later message timestamp and the broker's timestamp, when log.message.timestamp.type=CreateTime (one hour since Kafka 4.0, KIP-1100).", func(b *Broker) *int64 { return &b.LogMessageTimestampAfterMaxMs }, atLeast(0)),
	null(i64("log.retention.ms", "", "The number of milliseconds to keep a log file before deleting it. If not set, the value in log.retention.minutes is used. If set to -1, no time limit is applied.", nil)),
	null(i32("log.retention.minutes", "", "The number of minutes to keep a log file before deleting it, secondary to log.retention.ms property. If not set, the value in log.retention.hours is used.", nil)),
	i32("log.retention.hours", "168", "The number of hours to keep a log file before deleting it, tertiary to log.retention.ms property.", nil),
	i64("log.retention.bytes", "-1", "The maximum size of the log before deleting it.", func(b *Broker) *int64 { return &b.LogRetentionBytes }),
	i64("log.retention.check.interval.ms", "300000", "The frequency in milliseconds that the log cleaner checks whether any log is eligible for deletion.", func(b *Broker) *int64 { return &b.LogRetentionCheckIntervalMs }, atLeast(1)),
	list("log.cleanup.policy", CleanupPolicyDelete, "The default cleanup policy for segments beyond the retention window. A comma separated list of valid policies.", func(b *Broker) *[]string { return &b.LogCleanupPolicy }, listOf(true, CleanupPolicyCompact, CleanupPolicyDelete)),
	i64("log.flush.interval.messages", maxInt64, "The number of messages accumulated on a log partition before messages are flushed to disk.", func(b *Broker) *int64 { return &b.LogFlushIntervalMessages }, atLeast(1)),
	null(i64("log.flush.interval.ms", "", "The maximum time in ms that a message in any topic is kept in memory before flushed to disk. If not set, the value in log.flush.scheduler.interval.ms is used.", nil)),
	i64("log.flush.scheduler.interval.ms", maxInt64, "The frequency in ms that the log flusher checks whether any log needs to be flushed to disk.", func(b *Broker) *int64 { return &b.LogFlushSchedulerIntervalMs }),
	i32("log.flush.offset.checkpoint.interval.ms", "60000", "The frequency with which we update the persistent record of the last flush which acts as the log recovery point.", func(b *Broker) *int32 { return &b.LogFlushOffsetCheckpointIntervalMs }, atLeast(0)),
	ignoredBecause("log start offsets are checkpointed with the recovery points, every log.flush.offset.checkpoint.interval.ms", i32("log.flush.start.offset.checkpoint.interval.ms", "60000", "The frequency with which we update the persistent record of log start offset.", func(b *Broker) *int32 { return &b.LogFlushStartOffsetCheckpointIntervalMs }, atLeast(0))),
	i64("log.segment.delete.delay.ms", "60000", "The amount of time to wait before deleting a file from the filesystem.", func(b *Broker) *int64 { return &b.LogSegmentDeleteDelayMs }, atLeast(0)),
	ignoredBecause("segment files are not preallocated", boolean("log.preallocate", "false", "Should pre allocate file when create new segment?", func(b *Broker) *bool { return &b.LogPreallocate })),
	ignoredBecause("logs are loaded one at a time", i32("num.recovery.threads.per.data.dir", "1", "The number of threads per data directory to be used for log recovery at startup and flushing at shutdown.", func(b *Broker) *int32 { return &b.NumRecoveryThreadsPerDataDir }, atLeast(1))),
	i32("min.insync.replicas", "1", "When a producer sets acks to \"all\" (or \"-1\"), the minimum number of replicas that must acknowledge a write for the write to be considered successful.", func(b *Broker) *int32 { return &b.MinInsyncReplicas }, atLeast(1)),
	boolean("unclean.leader.election.enable", "false", "Indicates whether to enable replicas not in the ISR set to be elected as leader as a last resort, even though doing so may result in data loss.", func(b *Broker) *bool { return &b.UncleanLeaderElectionEnable }),
	ignoredBecause("there is no tiered storage: retention.ms is all retention", i64("log.local.retention.ms", "-2", "The number of milliseconds to keep the local log segments before they get eligible for deletion; -2 means log.retention.ms. Riffle has no tiered storage, so local retention is all retention.", func(b *Broker) *int64 { return &b.LogLocalRetentionMs }, atLeast(-2))),
	ignoredBecause("there is no tiered storage: retention.bytes is all retention", i64("log.local.retention.bytes", "-2", "The maximum size of local log segments before old segments are deleted; -2 means log.retention.bytes.", func(b *Broker) *int64 { return &b.LogLocalRetentionBytes }, atLeast(-2))),

	// Log cleaner (compaction).
	boolean("log.cleaner.enable", "true", "Enable the log cleaner process to run on the server.", func(b *Broker) *bool { return &b.LogCleanerEnable }),
	i64("log.cleaner.backoff.ms", "15000", "The amount of time to sleep when there are no logs to clean.", func(b *Broker) *int64 { return &b.LogCleanerBackoffMs }, atLeast(0)),
	ignoredBecause("the log cleaner runs on one goroutine when log.cleaner.enable is true", i32("log.cleaner.threads", "1", "The number of background threads to use for log cleaning.", func(b *Broker) *int32 { return &b.LogCleanerThreads }, atLeast(0))),
	double("log.cleaner.min.cleanable.ratio", "0.5", "The minimum ratio of dirty log to total log for a log to eligible for cleaning.", func(b *Broker) *float64 { return &b.LogCleanerMinCleanableRatio }, betweenFloat(0, 1)),
	i64("log.cleaner.delete.retention.ms", "86400000", "The amount of time to retain tombstone message markers for log compacted topics.", func(b *Broker) *int64 { return &b.LogCleanerDeleteRetentionMs }, atLeast(0)),
	i64("log.cleaner.min.compaction.lag.ms", "0", "The minimum time a message will remain uncompacted in the log.", func(b *Broker) *int64 { return &b.LogCleanerMinCompactionLagMs }, atLeast(0)),
	i64("log.cleaner.max.compaction.lag.ms", maxInt64, "The maximum time a message will remain ineligible for compaction in the log.", func(b *Broker) *int64 { return &b.LogCleanerMaxCompactionLagMs }, atLeast(1)),
	i64("log.cleaner.dedupe.buffer.size", "134217728", "The total memory used for log deduplication across all cleaner threads.", func(b *Broker) *int64 { return &b.LogCleanerDedupeBufferSize }),
	double("log.cleaner.io.max.bytes.per.second", "1.7976931348623157E308", "The log cleaner will be throttled so that the sum of its read and write i/o will be less than this value on average.", func(b *Broker) *float64 { return &b.LogCleanerIoMaxBytesPerSecond }, betweenFloat(0, math.MaxFloat64)),

	// Replication.
	i64("replica.lag.time.max.ms", "30000", "If a follower hasn't sent any fetch requests or hasn't consumed up to the leader's log end offset for at least this time, the leader will remove the follower from the ISR.", func(b *Broker) *int64 { return &b.ReplicaLagTimeMaxMs }),
	i32("replica.fetch.max.bytes", "1048576", "The number of bytes of messages to attempt to fetch for each partition.", func(b *Broker) *int32 { return &b.ReplicaFetchMaxBytes }, atLeast(0)),
	i32("replica.fetch.min.bytes", "1", "Minimum bytes expected for each fetch response.", func(b *Broker) *int32 { return &b.ReplicaFetchMinBytes }),
	i32("replica.fetch.wait.max.ms", "500", "The maximum wait time for each fetcher request issued by follower replicas.", func(b *Broker) *int32 { return &b.ReplicaFetchWaitMaxMs }),
	i32("replica.fetch.response.max.bytes", "10485760", "Maximum bytes expected for the entire fetch response.", func(b *Broker) *int32 { return &b.ReplicaFetchResponseMaxBytes }, atLeast(0)),
	i32("replica.fetch.backoff.ms", "1000", "The amount of time to sleep when fetch partition error occurs.", func(b *Broker) *int32 { return &b.ReplicaFetchBackoffMs }, atLeast(0)),
	i32("replica.socket.timeout.ms", "30000", "The socket timeout for network requests. Its value should be at least replica.fetch.wait.max.ms.", func(b *Broker) *int32 { return &b.ReplicaSocketTimeoutMs }),
	ignoredBecause("Riffle runs one replica fetcher per source broker", i32("num.replica.fetchers", "1", "Number of fetcher threads used to replicate records from each source broker.", func(b *Broker) *int32 { return &b.NumReplicaFetchers })),
	ignoredBecause("high watermarks are checkpointed with the recovery points, every log.flush.offset.checkpoint.interval.ms", i64("replica.high.watermark.checkpoint.interval.ms", "5000", "The frequency with which the high watermark is saved out to disk.", func(b *Broker) *int64 { return &b.ReplicaHighWatermarkCheckpointIntervalMs })),
	null(str("replica.selector.class", "", "The fully qualified class name that implements ReplicaSelector, used by the broker to find the preferred read replica (KIP-392). Unset: consumers fetch from the leader. Riffle cannot load Java classes: only org.apache.kafka.common.replica.RackAwareReplicaSelector (built in) is accepted.", func(b *Broker) *string { return &b.ReplicaSelectorClass }, replicaSelectorClass)),
	i64("leader.replication.throttled.rate", maxInt64, "A long representing the upper bound (bytes/sec) on replication traffic for leaders enumerated in the property leader.replication.throttled.replicas (for each topic). This property can be only set dynamically. It is suggested that the limit be kept above 1MB/s for accurate behaviour.", func(b *Broker) *int64 { return &b.LeaderReplicationThrottledRate }, atLeast(0)),
	i64("follower.replication.throttled.rate", maxInt64, "A long representing the upper bound (bytes/sec) on replication traffic for followers enumerated in the property follower.replication.throttled.replicas (for each topic). This property can be only set dynamically. It is suggested that the limit be kept above 1MB/s for accurate behaviour.", func(b *Broker) *int64 { return &b.FollowerReplicationThrottledRate }, atLeast(0)),
	i32("replication.quota.window.num", "11", "The number of samples to retain in memory for replication quotas.", func(b *Broker) *int32 { return &b.ReplicationQuotaWindowNum }, atLeast(1)),
	i32("replication.quota.window.size.seconds", "1", "The time span of each sample for replication quotas.", func(b *Broker) *int32 { return &b.ReplicationQuotaWindowSizeSeconds }, atLeast(1)),
	boolean("auto.leader.rebalance.enable", "true", "Enables auto leader balancing.", func(b *Broker) *bool { return &b.AutoLeaderRebalanceEnable }),
	i64("leader.imbalance.check.interval.seconds", "300", "The frequency with which the partition rebalance check is triggered by the controller.", func(b *Broker) *int64 { return &b.LeaderImbalanceCheckIntervalSeconds }, atLeast(1)),
	i32("fetch.max.bytes", "57671680", "The maximum number of bytes we will return for a fetch request. Must be at least 1024.", func(b *Broker) *int32 { return &b.FetchMaxBytes }, atLeast(1024)),
	i32("max.incremental.fetch.session.cache.slots", "1000", "The maximum number of total incremental fetch sessions that we will maintain.", func(b *Broker) *int32 { return &b.MaxIncrementalFetchSessionCacheSlots }, atLeast(0)),
	ignoredBecause("delayed fetches are removed as soon as they complete", i32("fetch.purgatory.purge.interval.requests", "1000", "The purge interval (in number of requests) of the fetch request purgatory.", func(b *Broker) *int32 { return &b.FetchPurgatoryPurgeIntervalRequests })),
	ignoredBecause("delayed produces are removed as soon as they complete", i32("producer.purgatory.purge.interval.requests", "1000", "The purge interval (in number of requests) of the producer request purgatory.", func(b *Broker) *int32 { return &b.ProducerPurgatoryPurgeIntervalRequests })),

	// Group coordinator and offsets.
	i32("offsets.topic.num.partitions", "50", "The number of partitions for the offset commit topic (should not change after deployment).", func(b *Broker) *int32 { return &b.OffsetsTopicNumPartitions }, atLeast(1)),
	i16("offsets.topic.replication.factor", "3", "The replication factor for the offsets topic. Internal topic creation will fail until the cluster size meets this replication factor requirement.", func(b *Broker) *int16 { return &b.OffsetsTopicReplicationFactor }, atLeast(1)),
	i32("offsets.topic.segment.bytes", "104857600", "The offsets topic segment bytes should be kept relatively small in order to facilitate faster log compaction and cache loads.", func(b *Broker) *int32 { return &b.OffsetsTopicSegmentBytes }, atLeast(1)),
	i32("offsets.retention.minutes", "10080", "For subscribed consumers, committed offset of a specific partition will be expired and discarded after this period of time once the group is empty.", func(b *Broker) *int32 { return &b.OffsetsRetentionMinutes }, atLeast(1)),
	i64("offsets.retention.check.interval.ms", "600000", "Frequency at which to check for stale offsets.", func(b *Broker) *int64 { return &b.OffsetsRetentionCheckIntervalMs }, atLeast(1)),
	i32("offsets.commit.timeout.ms", "5000", "Offset commit will be delayed until all replicas for the offsets topic receive the commit or this timeout is reached.", func(b *Broker) *int32 { return &b.OffsetsCommitTimeoutMs }, atLeast(1)),
	i32("offset.metadata.max.bytes", "4096", "The maximum size for a metadata entry associated with an offset commit.", func(b *Broker) *int32 { return &b.OffsetMetadataMaxBytes }, atLeast(0)),
	ignored(i32("offsets.load.buffer.size", "5242880", "Batch size for reading from the offsets segments when loading group metadata into the cache. Accepted for compatibility.", nil, atLeast(1))),
	i32("group.initial.rebalance.delay.ms", "3000", "The amount of time the group coordinator will wait for more consumers to join a new group before performing the first rebalance.", func(b *Broker) *int32 { return &b.GroupInitialRebalanceDelayMs }, atLeast(0)),
	i32("group.min.session.timeout.ms", "6000", "The minimum allowed session timeout for registered consumers.", func(b *Broker) *int32 { return &b.GroupMinSessionTimeoutMs }),
	i32("group.max.session.timeout.ms", "1800000", "The maximum allowed session timeout for registered consumers.", func(b *Broker) *int32 { return &b.GroupMaxSessionTimeoutMs }),
	i32("group.max.size", maxInt32, "The maximum number of consumers that a single consumer group can accommodate.", func(b *Broker) *int32 { return &b.GroupMaxSize }, atLeast(1)),
	list("group.coordinator.rebalance.protocols", "classic,consumer", "The list of enabled rebalance protocols (KIP-848).", func(b *Broker) *[]string { return &b.GroupCoordinatorRebalanceProtocols }, listOf(false, "classic", "consumer", "share", "streams")),
	i32("group.consumer.session.timeout.ms", "45000", "The timeout to detect client failures when using the consumer group protocol.", func(b *Broker) *int32 { return &b.GroupConsumerSessionTimeoutMs }, atLeast(1)),
	i32("group.consumer.min.session.timeout.ms", "45000", "The minimum allowed session timeout for registered consumers.", func(b *Broker) *int32 { return &b.GroupConsumerMinSessionTimeoutMs }, atLeast(1)),
	i32("group.consumer.max.session.timeout.ms", "60000", "The maximum allowed session timeout for registered consumers.", func(b *Broker) *int32 { return &b.GroupConsumerMaxSessionTimeoutMs }, atLeast(1)),
	i32("group.consumer.heartbeat.interval.ms", "5000", "The heartbeat interval given to the members of a consumer group.", func(b *Broker) *int32 { return &b.GroupConsumerHeartbeatIntervalMs }, atLeast(1)),
	i32("group.consumer.min.heartbeat.interval.ms", "5000", "The minimum heartbeat interval for registered consumers.", func(b *Broker) *int32 { return &b.GroupConsumerMinHeartbeatIntervalMs }, atLeast(1)),
	i32("group.consumer.max.heartbeat.interval.ms", "15000", "The maximum heartbeat interval for registered consumers.", func(b *Broker) *int32 { return &b.GroupConsumerMaxHeartbeatIntervalMs }, atLeast(1)),
	i32("group.consumer.max.size", maxInt32, "The maximum number of consumers that a single consumer group can accommodate.", func(b *Broker) *int32 { return &b.GroupConsumerMaxSize }, atLeast(1)),
	list("group.consumer.assignors", "uniform,range", "The server-side assignors as a list of names; the first one is used by default.", func(b *Broker) *[]string { return &b.GroupConsumerAssignors }, nonEmptyList),

	// Transactions and producer ids.
	i32("transaction.state.log.num.partitions", "50", "The number of partitions for the transaction topic (should not change after deployment).", func(b *Broker) *int32 { return &b.TransactionStateLogNumPartitions }, atLeast(1)),
	i16("transaction.state.log.replication.factor", "3", "The replication factor for the transaction topic. Internal topic creation will fail until the cluster size meets this replication factor requirement.", func(b *Broker) *int16 { return &b.TransactionStateLogReplicationFactor }, atLeast(1)),
	i32("transaction.state.log.min.isr", "2", "The minimum number of replicas that must acknowledge a write to transaction topic in order to be considered successful. __transaction_state is created with it as its min.insync.replicas.", func(b *Broker) *int32 { return &b.TransactionStateLogMinIsr }, atLeast(1)),
	i32("transaction.state.log.segment.bytes", "104857600", "The transaction topic segment bytes should be kept relatively small in order to facilitate faster log compaction and cache loads.", func(b *Broker) *int32 { return &b.TransactionStateLogSegmentBytes }, atLeast(1)),
	i32("transactional.id.expiration.ms", "604800000", "The time in ms that the transaction coordinator will wait without receiving any transaction status updates for the current transaction before expiring its transactional id.", func(b *Broker) *int32 { return &b.TransactionalIDExpirationMs }, atLeast(1)),
	i32("transaction.max.timeout.ms", "900000", "The maximum allowed timeout for transactions.", func(b *Broker) *int32 { return &b.TransactionMaxTimeoutMs }, atLeast(1)),
	i32("transaction.abort.timed.out.transaction.cleanup.interval.ms", "10000", "The interval at which to rollback transactions that have timed out.", func(b *Broker) *int32 { return &b.TransactionAbortTimedOutTransactionCleanupIntervalMs }, atLeast(1)),
	i32("transaction.remove.expired.transaction.cleanup.interval.ms", "3600000", "The interval at which to remove transactions that have expired due to transactional.id.expiration.ms passing.", func(b *Broker) *int32 { return &b.TransactionRemoveExpiredTransactionCleanupIntervalMs }, atLeast(1)),
	boolean("transaction.partition.verification.enable", "true", "Enable verification that checks that the partition has been added to the transaction before writing transactional records to the partition.", func(b *Broker) *bool { return &b.TransactionPartitionVerificationEnable }),
	i32("producer.id.expiration.ms", "86400000", "The time in ms that a topic partition leader will wait before expiring producer IDs.", func(b *Broker) *int32 { return &b.ProducerIDExpirationMs }, atLeast(1)),
	i32("producer.id.expiration.check.interval.ms", "600000", "The interval at which to remove producer IDs that have expired due to producer.id.expiration.ms passing.", func(b *Broker) *int32 { return &b.ProducerIDExpirationCheckIntervalMs }, atLeast(1)),

	// Security.
	list("sasl.enabled.mechanisms", "GSSAPI", "The list of SASL mechanisms enabled in the Kafka server: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (GSSAPI, the default, is not supported: a SASL listener that enables it refuses to start).", func(b *Broker) *[]string { return &b.SASLEnabledMechanisms }),
	null(str("sasl.server.callback.handler.class", "", "The fully qualified name of a SASL server callback handler class; usually set per listener and mechanism as listener.name.<listener>.oauthbearer.sasl.server.callback.handler.class. Riffle knows org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler (JWT validation against a JWKS) for OAUTHBEARER; unset, OAUTHBEARER validates unsecured tokens as Kafka's default handler.", nil)),
	null(str("sasl.oauthbearer.jwks.endpoint.url", "", "The OAuth/OIDC provider URL (https:// or file://) from which the provider's JWKS can be retrieved.", nil)),
	i64("sasl.oauthbearer.jwks.endpoint.refresh.ms", "3600000", "The (optional) value in milliseconds for the broker to wait between refreshing its JWKS cache.", nil, atLeast(0)),
	list("sasl.oauthbearer.expected.audience", "", "The (optional) comma-delimited setting for the broker to use to verify that the JWT was issued for one of the expected audiences.", nil),
	null(str("sasl.oauthbearer.expected.issuer", "", "The (optional) setting for the broker to use to verify that the JWT was created by the expected issuer.", nil)),
	str("sasl.oauthbearer.sub.claim.name", "sub", "The OAuth claim for the subject is often named \"sub\", but this (optional) setting can provide a different name to use for the subject included in the JWT payload's claims.", nil),
	str("sasl.oauthbearer.scope.claim.name", "scope", "The OAuth claim for the scope is often named \"scope\", but this (optional) setting can provide a different name to use for the scope included in the JWT payload's claims.", nil),
	i32("sasl.oauthbearer.clock.skew.seconds", "30", "The (optional) value in seconds to allow for differences between the time of the OAuth/OIDC identity provider and the broker.", nil, atLeast(0)),
	i32("sasl.server.max.receive.size", "524288", "The maximum receive size allowed before and during initial SASL authentication.", func(b *Broker) *int32 { return &b.SASLServerMaxReceiveSize }, atLeast(1)),
	i64("connections.max.reauth.ms", "0", "When explicitly set to a positive number (the default is 0, not a positive number), a session lifetime that will not exceed the configured value will be communicated to v2.2.0 or later clients when they authenticate (KIP-368). The broker will disconnect any such connection that is not re-authenticated within the session lifetime.", func(b *Broker) *int64 { return &b.ConnectionsMaxReauthMs }, atLeast(0)),
	i32("connection.failed.authentication.delay.ms", "100", "Connection close delay on failed authentication: the time in milliseconds by which the failure response and the close are delayed.", func(b *Broker) *int32 { return &b.ConnectionFailedAuthenticationDelayMs }, atLeast(0)),
	ignoredBecause("brokers talk to each other over a PLAINTEXT listener", str("sasl.mechanism.inter.broker.protocol", "GSSAPI", "SASL mechanism used for inter-broker communication.", func(b *Broker) *string { return &b.SASLMechanismInterBrokerProtocol })),
	ignoredBecause("the controller listener is PLAINTEXT", str("sasl.mechanism.controller.protocol", "GSSAPI", "SASL mechanism used for communication with controllers.", func(b *Broker) *string { return &b.SASLMechanismControllerProtocol })),
	password("sasl.jaas.config", "JAAS login context parameters for SASL connections in the format used by JAAS configuration files; usually set per listener as listener.name.<name>.<mechanism>.sasl.jaas.config, which takes precedence.", func(b *Broker) *string { return &b.SASLJAASConfig }),
	null(str("ssl.keystore.location", "", "The location of the key store file (ssl.keystore.type PEM or PKCS12).", func(b *Broker) *string { return &b.SSLKeystoreLocation })),
	str("ssl.keystore.type", "JKS", "The file format of the key store file: PEM or PKCS12 (Riffle cannot read JKS, the default; a listener with a JKS key store refuses to start).", func(b *Broker) *string { return &b.SSLKeystoreType }),
	password("ssl.keystore.password", "The store password for the key store file.", func(b *Broker) *string { return &b.SSLKeystorePassword }),
	password("ssl.key.password", "The password of the private key in the key store file or the PEM key specified in ssl.keystore.key.", func(b *Broker) *string { return &b.SSLKeyPassword }),
	password("ssl.keystore.certificate.chain", "Certificate chain in the format specified by ssl.keystore.type (PEM).", func(b *Broker) *string { return &b.SSLKeystoreCertificateChain }),
	password("ssl.keystore.key", "Private key in the format specified by ssl.keystore.type (PEM).", func(b *Broker) *string { return &b.SSLKeystoreKey }),
	null(str("ssl.truststore.location", "", "The location of the trust store file.", func(b *Broker) *string { return &b.SSLTruststoreLocation })),
	str("ssl.truststore.type", "JKS", "The file format of the trust store file: PEM or PKCS12 (Riffle cannot read JKS, the default).", func(b *Broker) *string { return &b.SSLTruststoreType }),
	password("ssl.truststore.password", "The password for the trust store file.", func(b *Broker) *string { return &b.SSLTruststorePassword }),
	password("ssl.truststore.certificates", "Trusted certificates in the format specified by ssl.truststore.type (PEM).", func(b *Broker) *string { return &b.SSLTruststoreCertificates }),
	str("ssl.client.auth", "none", "Configures the broker to request client authentication: required, requested or none.", func(b *Broker) *string { return &b.SSLClientAuth }, oneOf("required", "requested", "none")),
	list("ssl.enabled.protocols", "TLSv1.2,TLSv1.3", "The list of protocols enabled for SSL connections.", func(b *Broker) *[]string { return &b.SSLEnabledProtocols }),
	str("ssl.principal.mapping.rules", "DEFAULT", "A list of rules for mapping from the distinguished name of a client certificate to a short name (Kafka's SslPrincipalMapper): RULE:pattern/replacement/[LU] entries, and DEFAULT for the distinguished name itself.", func(b *Broker) *string { return &b.SSLPrincipalMappingRules }),
	ignoredBecause("Go's TLS stack negotiates from ssl.enabled.protocols", str("ssl.protocol", "TLSv1.3", "The SSL protocol used to generate the SSLContext.", func(b *Broker) *string { return &b.SSLProtocol })),
	list("ssl.cipher.suites", "", "A list of cipher suites. By default all the available cipher suites are supported.", func(b *Broker) *[]string { return &b.SSLCipherSuites }),
	ignoredBecause("brokers do not verify client host names", str("ssl.endpoint.identification.algorithm", "https", "The endpoint identification algorithm to validate server hostname using server certificate.", func(b *Broker) *string { return &b.SSLEndpointIdentificationAlgorithm })),
	str("authorizer.class.name", "", "The fully qualified name of a class that implements the Authorizer interface. Riffle has one authorizer, Kafka's StandardAuthorizer (org.apache.kafka.metadata.authorizer.StandardAuthorizer), which decides by the ACLs in the metadata log; unset, as in Kafka, every request is allowed and the ACL APIs answer SECURITY_DISABLED. Any other class is refused rather than ignored, so that no one runs without the ACLs they configured.", func(b *Broker) *string { return &b.AuthorizerClassName }, standardAuthorizerOnly),
	str("super.users", "", "A semicolon-separated list of principals (User:name) that are allowed to perform any action; User:* makes every user one.", func(b *Broker) *string { return &b.SuperUsers }, principalList),
	boolean("allow.everyone.if.no.acl.found", "false", "When set to true, resources without any ACLs are accessible by everyone.", func(b *Broker) *bool { return &b.AllowEveryoneIfNoACLFound }),

	// Riffle's own.
	str("riffle.admin.listener", "", "host:port of the admin HTTP endpoint (Prometheus /metrics, /healthz, /readyz, pprof). Empty disables it.", func(b *Broker) *string { return &b.AdminListener }, adminAddr),
	i32("riffle.fetch.session.eviction.ms", "120000", "How long an incremental fetch session (KIP-227) is protected from eviction by a new one. Kafka fixes this at 120000 ms (KafkaServer.MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS).", func(b *Broker) *int32 { return &b.MinIncrementalFetchSessionEvictionMs }, atLeast(0)),
}

// adminAddr checks riffle.admin.listener: empty, or host:port.
// StandardAuthorizer is the one authorizer.class.name Riffle serves.
const StandardAuthorizer = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"

// standardAuthorizerOnly refuses any authorizer but Kafka's
// StandardAuthorizer: an unknown class would otherwise leave the broker
// open while its operator believes it enforces ACLs.
func standardAuthorizerOnly(s string) error {
	if s = strings.TrimSpace(s); s != "" && s != StandardAuthorizer {
		return fmt.Errorf("only %s is available (leave it unset for no authorizer)", StandardAuthorizer)
	}
	return nil
}

// principalList checks super.users: principals "Type:Name" separated by
// semicolons.
func principalList(s string) error {
	for _, p := range strings.Split(s, ";") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if i := strings.IndexByte(p, ':'); i <= 0 || i == len(p)-1 {
			return fmt.Errorf("%q is not a principal of the form User:name", p)
		}
	}
	return nil
}

func adminAddr(s string) error {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	_, _, err := splitHostPort(s)
	return err
}

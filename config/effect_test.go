package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// brokerKeyEffects says, for every broker property that has an effect,
// where: a file of the repository and a token in it that uses the value.
// Every other property must be marked ignored in brokerDefs, which makes
// the broker warn at start when it is set. TestEveryBrokerKeyHasEffectOrIsIgnored
// holds the two lists to the definitions.
var brokerKeyEffects = map[string][2]string{
	"node.id":                                   {"server/broker.go", "cfg.NodeID"},
	"sasl.server.max.receive.size":              {"server/sasl_conn.go", "SASLServerMaxReceiveSize"},
	"sasl.server.callback.handler.class":        {"server/sasl_oauth.go", `"sasl.server.callback.handler.class"`},
	"sasl.oauthbearer.jwks.endpoint.url":        {"server/sasl_oauth.go", `"sasl.oauthbearer.jwks.endpoint.url"`},
	"sasl.oauthbearer.jwks.endpoint.refresh.ms": {"server/sasl_oauth.go", `"sasl.oauthbearer.jwks.endpoint.refresh.ms"`},
	"sasl.oauthbearer.expected.audience":        {"server/sasl_oauth.go", `"sasl.oauthbearer.expected.audience"`},
	"sasl.oauthbearer.expected.issuer":          {"server/sasl_oauth.go", `"sasl.oauthbearer.expected.issuer"`},
	"sasl.oauthbearer.sub.claim.name":           {"server/sasl_oauth.go", `"sasl.oauthbearer.sub.claim.name"`},
	"sasl.oauthbearer.scope.claim.name":         {"server/sasl_oauth.go", `"sasl.oauthbearer.scope.claim.name"`},
	"sasl.oauthbearer.clock.skew.seconds":       {"server/sasl_oauth.go", `"sasl.oauthbearer.clock.skew.seconds"`},
	"sasl.enabled.mechanisms":                   {"server/sasl_listener.go", `"sasl.enabled.mechanisms"`},
	"sasl.jaas.config":                          {"server/sasl_listener.go", `"sasl.jaas.config"`},
	"connections.max.reauth.ms":                 {"server/sasl_listener.go", `"connections.max.reauth.ms"`},
	"connection.failed.authentication.delay.ms": {"server/sasl_conn.go", "ConnectionFailedAuthenticationDelayMs"},
	"ssl.keystore.location":                     {"server/auth/tls.go", `"ssl.keystore.location"`},
	"ssl.keystore.type":                         {"server/auth/tls.go", `"ssl.keystore.type"`},
	"ssl.keystore.password":                     {"server/auth/tls.go", `"ssl.keystore.password"`},
	"ssl.key.password":                          {"server/auth/tls.go", `"ssl.key.password"`},
	"ssl.keystore.certificate.chain":            {"server/auth/tls.go", `"ssl.keystore.certificate.chain"`},
	"ssl.keystore.key":                          {"server/auth/tls.go", `"ssl.keystore.key"`},
	"ssl.truststore.location":                   {"server/auth/tls.go", `"ssl.truststore.location"`},
	"ssl.truststore.type":                       {"server/auth/tls.go", `"ssl.truststore.type"`},
	"ssl.truststore.password":                   {"server/auth/tls.go", `"ssl.truststore.password"`},
	"ssl.truststore.certificates":               {"server/auth/tls.go", `"ssl.truststore.certificates"`},
	"ssl.client.auth":                           {"server/auth/tls.go", `"ssl.client.auth"`},
	"ssl.enabled.protocols":                     {"server/auth/tls.go", `"ssl.enabled.protocols"`},
	"ssl.cipher.suites":                         {"server/auth/tls.go", `"ssl.cipher.suites"`},
	"ssl.principal.mapping.rules":               {"server/listener_security.go", `"ssl.principal.mapping.rules"`},
	"broker.id":                                 {"config/broker.go", `int64Of("broker.id")`},
	"controller.listener.names":                 {"server/broker.go", "ControllerListenerNames"},
	"controller.quorum.voters":                  {"server/broker.go", "cfg.ControllerQuorumVoters"},
	"process.roles":                             {"server/broker.go", "cfg.HasRole(config.RoleBroker)"},
	"metadata.log.dir":                          {"server/broker.go", `cfg.Raw["metadata.log.dir"]`},
	"listeners":                                 {"server/broker.go", "cfg.Listeners"},
	"advertised.listeners":                      {"server/broker.go", "b.cfg.AdvertisedListeners"},
	"listener.security.protocol.map":            {"server/broker.go", "ListenerSecurityProtocolMap"},
	"inter.broker.listener.name":                {"server/txn_interbroker.go", "InterBrokerListenerName"},
	"security.inter.broker.protocol":            {"server/txn_interbroker.go", "InterBrokerListenerName"},
	"replica.lag.time.max.ms":                   {"server/replica_endpoint.go", "ReplicaLagTimeMaxMs"},
	"replica.fetch.max.bytes":                   {"server/replica_endpoint.go", "ReplicaFetchMaxBytes"},
	"replica.fetch.min.bytes":                   {"server/replica_endpoint.go", "ReplicaFetchMinBytes"},
	"replica.fetch.wait.max.ms":                 {"server/replica_endpoint.go", "ReplicaFetchWaitMaxMs"},
	"replica.fetch.response.max.bytes":          {"server/replica_endpoint.go", "ReplicaFetchResponseMaxBytes"},
	"replica.fetch.backoff.ms":                  {"server/replica_endpoint.go", "ReplicaFetchBackoffMs"},
	"replica.socket.timeout.ms":                 {"server/replica_endpoint.go", "ReplicaSocketTimeoutMs"},
	"socket.request.max.bytes":                  {"server/sasl_conn.go", "SocketRequestMaxBytes"},
	"connections.max.idle.ms":                   {"server/conn.go", "ConnectionsMaxIdleMs"},
	"max.connections":                           {"server/conn_limits.go", "MaxConnections"},
	"max.connections.per.ip":                    {"server/conn_limits.go", "MaxConnectionsPerIP"},
	"max.connections.per.ip.overrides":          {"server/conn_limits.go", "MaxConnectionsPerIPOverrides"},
	"queued.max.requests":                       {"server/conn.go", "QueuedMaxRequests"},
	"queued.max.request.bytes":                  {"server/broker.go", "QueuedMaxRequestBytes"},
	"quota.window.num":                          {"server/quotas.go", "QuotaWindowNum"},
	"quota.window.size.seconds":                 {"server/quotas.go", "QuotaWindowSizeSeconds"},
	"controller.quota.window.num":               {"server/quotas.go", "ControllerQuotaWindowNum"},
	"controller.quota.window.size.seconds":      {"server/quotas.go", "ControllerQuotaWindowSizeSeconds"},
	"log.dirs":                                  {"server/broker.go", "cfg.LogDirs"},
	"log.dir":                                   {"server/broker.go", "cfg.LogDirs"},
	"num.partitions":                            {"server/broker.go", "cfg.NumPartitions"},
	"leader.replication.throttled.rate":         {"server/dynamic_config.go", "cfg.LeaderReplicationThrottledRate"},
	"follower.replication.throttled.rate":       {"server/dynamic_config.go", "cfg.FollowerReplicationThrottledRate"},
	"replication.quota.window.num":              {"server/replica_endpoint.go", "cfg.ReplicationQuotaWindowNum"},
	"replication.quota.window.size.seconds":     {"server/replica_endpoint.go", "cfg.ReplicationQuotaWindowSizeSeconds"},
	"replica.selector.class":                    {"server/replica_endpoint.go", "cfg.ReplicaSelectorClass"},
	"broker.rack":                               {"server/broker.go", "cfg.BrokerRack"},
	"broker.heartbeat.interval.ms":              {"server/broker_lifecycle.go", "cfg.BrokerHeartbeatIntervalMs"},
	"broker.session.timeout.ms":                 {"server/broker.go", "cfg.BrokerSessionTimeoutMs"},
	"unclean.leader.election.enable":            {"server/broker.go", "cfg.UncleanLeaderElectionEnable"},
	"auto.leader.rebalance.enable":              {"server/broker.go", "cfg.AutoLeaderRebalanceEnable"},
	"leader.imbalance.check.interval.seconds":   {"server/broker.go", "cfg.LeaderImbalanceCheckIntervalSeconds"},
	"default.replication.factor":                {"server/broker.go", "cfg.DefaultReplicationFactor"},
	"auto.create.topics.enable":                 {"server/03_metadata.go", "AutoCreateTopicsEnable"},
	"delete.topic.enable":                       {"server/20_delete_topics.go", "DeleteTopicEnable"},
	"log.retention.check.interval.ms":           {"server/background.go", "LogRetentionCheckIntervalMs"},
	"log.flush.offset.checkpoint.interval.ms":   {"server/background.go", "LogFlushOffsetCheckpointIntervalMs"},
	"log.cleaner.enable":                        {"server/background.go", "LogCleanerEnable"},
	"log.cleaner.backoff.ms":                    {"server/background.go", "LogCleanerBackoffMs"},
	"log.cleaner.dedupe.buffer.size":            {"server/background.go", "LogCleanerDedupeBufferSize"},
	"log.cleaner.io.max.bytes.per.second":       {"server/background.go", "LogCleanerIoMaxBytesPerSecond"},
	"fetch.max.bytes":                           {"server/01_fetch.go", "FetchMaxBytes"},
	"max.incremental.fetch.session.cache.slots": {"server/broker.go", "MaxIncrementalFetchSessionCacheSlots"},
	"riffle.fetch.session.eviction.ms":          {"server/broker.go", "MinIncrementalFetchSessionEvictionMs"},
	"offsets.topic.num.partitions":              {"server/group_runtime.go", "OffsetsTopicNumPartitions"},
	"offsets.topic.replication.factor":          {"server/group_runtime.go", "OffsetsTopicReplicationFactor"},
	"offsets.topic.segment.bytes":               {"server/group_runtime.go", "OffsetsTopicSegmentBytes"},
	"offsets.retention.minutes":                 {"server/group_runtime.go", "OffsetsRetentionMinutes"},
	"offsets.retention.check.interval.ms":       {"server/group_runtime.go", "OffsetsRetentionCheckIntervalMs"},
	"offsets.commit.timeout.ms":                 {"server/coordinator_runtime.go", "OffsetsCommitTimeoutMs"},
	"offset.metadata.max.bytes":                 {"server/group_runtime.go", "OffsetMetadataMaxBytes"},
	"group.initial.rebalance.delay.ms":          {"server/group_runtime.go", "GroupInitialRebalanceDelayMs"},
	"group.min.session.timeout.ms":              {"server/group_runtime.go", "GroupMinSessionTimeoutMs"},
	"group.max.session.timeout.ms":              {"server/group_runtime.go", "GroupMaxSessionTimeoutMs"},
	"group.max.size":                            {"server/group_runtime.go", "GroupMaxSize"},
	"group.coordinator.rebalance.protocols":     {"server/group_runtime.go", "GroupCoordinatorRebalanceProtocols"},
	"group.consumer.session.timeout.ms":         {"server/group_runtime.go", "GroupConsumerSessionTimeoutMs"},
	"group.consumer.heartbeat.interval.ms":      {"server/group_runtime.go", "GroupConsumerHeartbeatIntervalMs"},
	"group.consumer.max.size":                   {"server/group_runtime.go", "GroupConsumerMaxSize"},
	"group.consumer.assignors":                  {"server/group_runtime.go", "GroupConsumerAssignors"},
	// The bounds of the two above: Riffle has no group-level overrides,
	// so they bound the broker's own values at start.
	"group.consumer.min.session.timeout.ms":                       {"config/broker.go", "b.GroupConsumerMinSessionTimeoutMs"},
	"group.consumer.max.session.timeout.ms":                       {"config/broker.go", "b.GroupConsumerMaxSessionTimeoutMs"},
	"group.consumer.min.heartbeat.interval.ms":                    {"config/broker.go", "b.GroupConsumerMinHeartbeatIntervalMs"},
	"group.consumer.max.heartbeat.interval.ms":                    {"config/broker.go", "b.GroupConsumerMaxHeartbeatIntervalMs"},
	"transaction.state.log.num.partitions":                        {"server/txn_runtime.go", "TransactionStateLogNumPartitions"},
	"transaction.state.log.replication.factor":                    {"server/txn_runtime.go", "TransactionStateLogReplicationFactor"},
	"transaction.state.log.min.isr":                               {"server/txn_runtime.go", "TransactionStateLogMinIsr"},
	"transaction.state.log.segment.bytes":                         {"server/txn_runtime.go", "TransactionStateLogSegmentBytes"},
	"transactional.id.expiration.ms":                              {"server/txn_runtime.go", "TransactionalIDExpirationMs"},
	"transaction.max.timeout.ms":                                  {"server/txn_runtime.go", "TransactionMaxTimeoutMs"},
	"transaction.abort.timed.out.transaction.cleanup.interval.ms": {"server/txn_runtime.go", "TransactionAbortTimedOutTransactionCleanupIntervalMs"},
	"transaction.remove.expired.transaction.cleanup.interval.ms":  {"server/txn_runtime.go", "TransactionRemoveExpiredTransactionCleanupIntervalMs"},
	"transaction.partition.verification.enable":                   {"server/txn_requests.go", "TransactionPartitionVerificationEnable"},
	"producer.id.expiration.ms":                                   {"server/broker.go", "ProducerIDExpirationMs"},
	"producer.id.expiration.check.interval.ms":                    {"server/background.go", "ProducerIDExpirationCheckIntervalMs"},
	"authorizer.class.name":                                       {"server/broker.go", "cfg.AuthorizerClassName"},
	"super.users":                                                 {"server/broker.go", "cfg.SuperUsers"},
	"allow.everyone.if.no.acl.found":                              {"server/broker.go", "cfg.AllowEveryoneIfNoACLFound"},
	"riffle.admin.listener":                                       {"server/metrics.go", "b.cfg.AdminListener"},
}

// brokerKeysViaTopicConfig are the broker properties that take effect as
// the default of a topic config (their BrokerSynonym), and the field of
// the topic config that the broker hands to storage and replica.
var brokerKeysViaTopicConfig = map[string][2]string{
	"log.segment.bytes":                   {"segment.bytes", "tc.SegmentBytes"},
	"log.roll.ms":                         {"segment.ms", "tc.SegmentMs"},
	"log.roll.hours":                      {"segment.ms", "tc.SegmentMs"},
	"log.roll.jitter.ms":                  {"segment.jitter.ms", "tc.SegmentJitterMs"},
	"log.roll.jitter.hours":               {"segment.jitter.ms", "tc.SegmentJitterMs"},
	"log.index.interval.bytes":            {"index.interval.bytes", "tc.IndexIntervalBytes"},
	"log.index.size.max.bytes":            {"segment.index.bytes", "tc.SegmentIndexBytes"},
	"message.max.bytes":                   {"max.message.bytes", "tc.MaxMessageBytes"},
	"compression.type":                    {"compression.type", "tc.CompressionType"},
	"log.message.timestamp.type":          {"message.timestamp.type", "tc.MessageTimestampType"},
	"log.message.timestamp.before.max.ms": {"message.timestamp.before.max.ms", "tc.MessageTimestampBeforeMaxMs"},
	"log.message.timestamp.after.max.ms":  {"message.timestamp.after.max.ms", "tc.MessageTimestampAfterMaxMs"},
	"log.retention.ms":                    {"retention.ms", "tc.RetentionMs"},
	"log.retention.minutes":               {"retention.ms", "tc.RetentionMs"},
	"log.retention.hours":                 {"retention.ms", "tc.RetentionMs"},
	"log.retention.bytes":                 {"retention.bytes", "tc.RetentionBytes"},
	"log.cleanup.policy":                  {"cleanup.policy", "tc.CleanupPolicy"},
	"log.flush.interval.messages":         {"flush.messages", "tc.FlushMessages"},
	"log.flush.interval.ms":               {"flush.ms", "tc.FlushMs"},
	// Also the flusher's period (server/background.go).
	"log.flush.scheduler.interval.ms":   {"flush.ms", "tc.FlushMs"},
	"log.segment.delete.delay.ms":       {"file.delete.delay.ms", "tc.FileDeleteDelayMs"},
	"min.insync.replicas":               {"min.insync.replicas", "tc.MinInsyncReplicas"},
	"log.cleaner.min.cleanable.ratio":   {"min.cleanable.dirty.ratio", "tc.MinCleanableDirtyRatio"},
	"log.cleaner.delete.retention.ms":   {"delete.retention.ms", "tc.DeleteRetentionMs"},
	"log.cleaner.min.compaction.lag.ms": {"min.compaction.lag.ms", "tc.MinCompactionLagMs"},
	"log.cleaner.max.compaction.lag.ms": {"max.compaction.lag.ms", "tc.MaxCompactionLagMs"},
}

// TestEveryBrokerKeyHasEffectOrIsIgnored: every broker property Riffle
// accepts is either used (brokerKeyEffects, brokerKeysViaTopicConfig: the
// named file holds the named use) or marked ignored, so that setting it
// logs a warning at start. A property that is both, or neither, fails.
func TestEveryBrokerKeyHasEffectOrIsIgnored(t *testing.T) {
	t.Parallel()
	root := ".."
	files := map[string]string{}
	read := func(path string) string {
		if s, ok := files[path]; ok {
			return s
		}
		b, err := os.ReadFile(filepath.Join(root, path))
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		files[path] = string(b)
		return files[path]
	}
	known := map[string]bool{}
	for _, d := range brokerDefs {
		known[d.Name] = true
		eff, used := brokerKeyEffects[d.Name]
		via, viaTopic := brokerKeysViaTopicConfig[d.Name]
		switch {
		case d.Ignored && (used || viaTopic):
			t.Errorf("%s is marked ignored but listed as having an effect", d.Name)
		case d.Ignored:
			if d.Doc == "" {
				t.Errorf("%s: ignored without documentation", d.Name)
			}
		case used && viaTopic:
			t.Errorf("%s is listed twice", d.Name)
		case used:
			if !strings.Contains(read(eff[0]), eff[1]) {
				t.Errorf("%s: %s does not use %s", d.Name, eff[0], eff[1])
			}
		case viaTopic:
			td, ok := topicDefIndex[via[0]]
			if !ok {
				t.Errorf("%s: no topic config %s", d.Name, via[0])
				continue
			}
			group := synonymGroups[td.BrokerSynonym]
			if td.BrokerSynonym != d.Name && !slices.Contains(group, d.Name) {
				t.Errorf("%s: not the broker synonym of %s (%s)", d.Name, via[0], td.BrokerSynonym)
			}
			if !strings.Contains(read("server/metadata_apply.go"), via[1]) {
				t.Errorf("%s: server/metadata_apply.go does not hand %s on", d.Name, via[1])
			}
		default:
			t.Errorf("%s is accepted but neither has an effect nor is marked ignored: implement it, list it in brokerKeyEffects, or mark it ignored", d.Name)
		}
	}
	for k := range brokerKeyEffects {
		if !known[k] {
			t.Errorf("brokerKeyEffects lists unknown property %s", k)
		}
	}
	for k := range brokerKeysViaTopicConfig {
		if !known[k] {
			t.Errorf("brokerKeysViaTopicConfig lists unknown property %s", k)
		}
	}
}

// TestIgnoredKeysAreWarnedAbout: setting any ignored property, from a file,
// the environment or a flag, yields a note naming it (logged as a warning
// by the command), without its value when it is a secret; unset, nothing
// is said.
func TestIgnoredKeysAreWarnedAbout(t *testing.T) {
	t.Parallel()
	b, _, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Notes) != 0 {
		t.Fatalf("notes with nothing set: %v", b.Notes)
	}
	for _, d := range brokerDefs {
		if !d.Ignored {
			continue
		}
		v := d.Default
		if d.NoDefault || v == "" {
			v = map[string]string{TypeInt: "1", TypeLong: "1", TypeShort: "1", TypeBoolean: "true", TypeDouble: "1"}[d.Type]
			if v == "" {
				v = "x"
			}
		}
		props := map[string]string{}
		switch d.Name {
		case "process.roles":
			v = "broker"
			props["listeners"] = "PLAINTEXT://:9092"
			props["controller.quorum.voters"] = "2@localhost:9093"
		}
		props[d.Name] = v
		b, _, err := Parse(props)
		if err != nil {
			t.Errorf("%s=%s: %v", d.Name, v, err)
			continue
		}
		if len(b.Notes) != 1 || !strings.Contains(b.Notes[0], d.Name) || !strings.Contains(b.Notes[0], "ignored") {
			t.Errorf("%s=%s: notes %v", d.Name, v, b.Notes)
			continue
		}
		if d.Sensitive() && strings.Contains(b.Notes[0], "="+v) {
			t.Errorf("%s: the note repeats the secret: %s", d.Name, b.Notes[0])
		}
	}
	// Values that ask for what Riffle does anyway are not warned about:
	// Kafka's sample server.properties sets these.
	b, _, err = Parse(map[string]string{"process.roles": "controller,broker", "transaction.state.log.min.isr": "2"})
	if err != nil || len(b.Notes) != 0 {
		t.Fatalf("values Riffle follows anyway: %v %v", err, b.Notes)
	}
	b, _, err = Parse(map[string]string{"listener.name.external.max.connections": "5"})
	if err != nil || len(b.Notes) != 1 || !strings.Contains(b.Notes[0], "listener.name.external.max.connections") {
		t.Fatalf("per-listener property: %v %v", err, b.Notes)
	}
	// The listener's TLS and SASL settings are read by the listener.
	b, _, err = Parse(map[string]string{"listener.name.external.ssl.keystore.location": "/x",
		"listener.name.external.plain.sasl.jaas.config": "x"})
	if err != nil || len(b.Notes) != 0 {
		t.Fatalf("per-listener property: %v %v", err, b.Notes)
	}
}

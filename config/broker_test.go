package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDefault(t *testing.T) {
	t.Parallel()
	b := Default()
	checks := []struct {
		name      string
		got, want any
	}{
		{"node.id", b.NodeID, int32(1)},
		{"process.roles", b.ProcessRoles, []string{"broker", "controller"}},
		{"controller.listener.names", b.ControllerListenerNames, []string{"CONTROLLER"}},
		{"controller.quorum.voters", b.QuorumVoters, []Voter(nil)},
		{"listeners", b.Listeners, []Listener{{Name: "PLAINTEXT", Port: 9092}, {Name: "CONTROLLER", Port: 9093}}},
		{"advertised.listeners", b.AdvertisedListeners, []Listener{{Name: "PLAINTEXT", Host: "localhost", Port: 9092}}},
		{"listener.security.protocol.map", b.ListenerSecurityProtocolMap, map[string]string{
			"CONTROLLER": "PLAINTEXT", "PLAINTEXT": "PLAINTEXT", "SSL": "SSL", "SASL_PLAINTEXT": "SASL_PLAINTEXT", "SASL_SSL": "SASL_SSL"}},
		{"inter.broker.listener.name", b.InterBrokerListenerName, "PLAINTEXT"},
		{"log.dirs", b.LogDirs, []string{"./data"}},
		{"metadata.log.dir", b.MetadataLogDir, "./data"},
		{"num.partitions", b.NumPartitions, int32(1)},
		{"default.replication.factor", b.DefaultReplicationFactor, int16(1)},
		{"auto.create.topics.enable", b.AutoCreateTopicsEnable, true},
		{"log.segment.bytes", b.LogSegmentBytes, int64(1073741824)},
		{"log.roll.ms", b.LogRollMs, int64(168 * 3600 * 1000)},
		{"log.index.interval.bytes", b.LogIndexIntervalBytes, int32(4096)},
		{"log.index.size.max.bytes", b.LogIndexSizeMaxBytes, int32(10485760)},
		{"message.max.bytes", b.MessageMaxBytes, int32(1048588)},
		{"socket.request.max.bytes", b.SocketRequestMaxBytes, int32(104857600)},
		{"connections.max.idle.ms", b.ConnectionsMaxIdleMs, int64(600000)},
		{"compression.type", b.CompressionType, "producer"},
		{"log.message.timestamp.type", b.LogMessageTimestampType, "CreateTime"},
		{"log.retention.ms", b.LogRetentionMs, int64(168 * 3600 * 1000)},
		{"log.retention.bytes", b.LogRetentionBytes, int64(-1)},
		{"log.retention.check.interval.ms", b.LogRetentionCheckIntervalMs, int64(300000)},
		{"log.flush.interval.messages", b.LogFlushIntervalMessages, int64(1<<63 - 1)},
		{"log.flush.interval.ms", b.LogFlushIntervalMs, int64(1<<63 - 1)},
		{"log.cleanup.policy", b.LogCleanupPolicy, []string{"delete"}},
		{"offsets.topic.num.partitions", b.OffsetsTopicNumPartitions, int32(50)},
		{"offsets.topic.replication.factor", b.OffsetsTopicReplicationFactor, int16(3)},
		{"offsets.retention.minutes", b.OffsetsRetentionMinutes, int32(10080)},
		{"transaction.state.log.num.partitions", b.TransactionStateLogNumPartitions, int32(50)},
		{"group.initial.rebalance.delay.ms", b.GroupInitialRebalanceDelayMs, int32(3000)},
		{"group.min.session.timeout.ms", b.GroupMinSessionTimeoutMs, int32(6000)},
		{"group.max.session.timeout.ms", b.GroupMaxSessionTimeoutMs, int32(1800000)},
		{"group.max.size", b.GroupMaxSize, int32(1<<31 - 1)},
		{"min.insync.replicas", b.MinInsyncReplicas, int32(1)},
		{"replica.lag.time.max.ms", b.ReplicaLagTimeMaxMs, int64(30000)},
		{"admin listener", b.AdminListener, ""},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
	if !b.HasRole(RoleBroker) || !b.HasRole(RoleController) {
		t.Errorf("default roles %v: want broker and controller", b.ProcessRoles)
	}
	if got := b.ControllerListeners(); len(got) != 1 || got[0].Port != 9093 {
		t.Errorf("ControllerListeners() = %v", got)
	}
	for _, name := range []string{"num.partitions", "log.dir", "listeners", "log.roll.hours", "message.max.bytes"} {
		if _, ok := b.Raw[name]; !ok {
			t.Errorf("Raw lacks default %s", name)
		}
		if b.Sources[name] != SourceDefault {
			t.Errorf("Sources[%s] = %v, want default", name, b.Sources[name])
		}
	}
	// Null-default properties are absent until set.
	for _, name := range []string{"log.roll.ms", "log.dirs", "advertised.listeners"} {
		if _, ok := b.Raw[name]; ok {
			t.Errorf("Raw has %s although its default is null", name)
		}
	}
	if len(b.Notes) != 0 {
		t.Errorf("Notes = %v, want none", b.Notes)
	}
}

// Every definition's default must pass its own validator.
func TestDefaultsValidate(t *testing.T) {
	t.Parallel()
	for _, d := range append(BrokerConfigDefs(), TopicConfigDefs()...) {
		if d.NoDefault {
			continue
		}
		if err := d.check(d.Default); err != nil {
			t.Errorf("%s: default fails validation: %v", d.Name, err)
		}
		if d.Doc == "" {
			t.Errorf("%s: no documentation", d.Name)
		}
	}
}

func TestBrokerSynonymsAreBrokerConfigs(t *testing.T) {
	t.Parallel()
	for _, d := range TopicConfigDefs() {
		if d.BrokerSynonym == "" {
			continue
		}
		if _, ok := brokerDefIndex[d.BrokerSynonym]; !ok {
			t.Errorf("%s: synonym %s is not a broker config", d.Name, d.BrokerSynonym)
		}
	}
}

func TestEnvToProperty(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env  string
		want string
		ok   bool
	}{
		{"KAFKA_LOG_DIRS", "log.dirs", true},
		{"KAFKA_NODE_ID", "node.id", true},
		{"KAFKA_ADVERTISED_LISTENERS", "advertised.listeners", true},
		{"KAFKA_LISTENER_NAME_SASL__SSL_PLAIN_SASL_JAAS_CONFIG", "listener.name.sasl_ssl.plain.sasl.jaas.config", true},
		{"KAFKA_SOME___DASHED_NAME", "some-dashed.name", true},
		{"KAFKA_A____B", "a-.b", true}, // "___" is replaced first, as the image's sed does
		{"KAFKA_HEAP_OPTS", "", false},
		{"KAFKA_OPTS", "", false},
		{"KAFKA_JVM_PERFORMANCE_OPTS", "", false},
		{"KAFKA_LOG4J_OPTS", "", false},
		{"KAFKA_VERSION", "", false},
		{"KAFKA_HOME", "", false},
		{"KAFKA_", "", false},
		{"PATH", "", false},
		{"kafka_node_id", "", false},
	}
	for _, tt := range tests {
		got, ok := EnvToProperty(tt.env)
		if got != tt.want || ok != tt.ok {
			t.Errorf("EnvToProperty(%q) = %q, %v; want %q, %v", tt.env, got, ok, tt.want, tt.ok)
		}
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadPrecedence(t *testing.T) {
	t.Parallel()
	path := writeFile(t, `
# file sets three, env overrides two, flag overrides one
num.partitions=2
log.retention.hours=1
default.replication.factor = 1
log.dirs=/var/a,\
         /var/b
some.unknown.key=1
`)
	env := []string{
		"KAFKA_NUM_PARTITIONS=3",
		"KAFKA_LOG_RETENTION_HOURS=2",
		"KAFKA_HEAP_OPTS=-Xmx1G",
		"HOME=/root",
		"KAFKA_ALSO_UNKNOWN=x",
		"MALFORMED",
	}
	b, warnings, err := Load(path, env, map[string]string{"num.partitions": "4"})
	if err != nil {
		t.Fatal(err)
	}
	if b.NumPartitions != 4 || b.Sources["num.partitions"] != SourceFlag {
		t.Errorf("num.partitions = %d from %v, want 4 from flag", b.NumPartitions, b.Sources["num.partitions"])
	}
	if b.LogRetentionMs != 2*3600*1000 || b.Sources["log.retention.hours"] != SourceEnv {
		t.Errorf("log.retention.ms = %d from %v, want 2h from env", b.LogRetentionMs, b.Sources["log.retention.hours"])
	}
	if !reflect.DeepEqual(b.LogDirs, []string{"/var/a", "/var/b"}) || b.Sources["log.dirs"] != SourceFile {
		t.Errorf("log.dirs = %q from %v", b.LogDirs, b.Sources["log.dirs"])
	}
	if b.Raw["num.partitions"] != "4" {
		t.Errorf("Raw[num.partitions] = %q", b.Raw["num.partitions"])
	}
	joined := strings.Join(warnings, "\n")
	if len(warnings) != 2 || !strings.Contains(joined, "some.unknown.key") || !strings.Contains(joined, "KAFKA_ALSO_UNKNOWN") {
		t.Errorf("warnings = %q, want the unknown file key and env variable", warnings)
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	_, _, err := Load(filepath.Join(t.TempDir(), "nope.properties"), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "nope.properties") {
		t.Fatalf("Load(missing) error = %v", err)
	}
}

func TestLoadNoFile(t *testing.T) {
	t.Parallel()
	b, warnings, err := Load("", []string{"KAFKA_NODE_ID=7"}, nil)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("Load: %v %v", err, warnings)
	}
	if b.NodeID != 7 {
		t.Fatalf("node.id = %d, want 7", b.NodeID)
	}
}

func TestEnvErrorNamesVariable(t *testing.T) {
	t.Parallel()
	_, _, err := Load("", []string{"KAFKA_NUM_PARTITIONS=abc"}, nil)
	if err == nil || !strings.Contains(err.Error(), `invalid value "abc" for num.partitions: not an integer`) || !strings.Contains(err.Error(), "KAFKA_NUM_PARTITIONS") {
		t.Fatalf("error = %v", err)
	}
}

func TestSynonyms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		props map[string]string
		check func(*Broker) bool
	}{
		{"log.dirs wins over log.dir", map[string]string{"log.dir": "/a", "log.dirs": "/b,/c"},
			func(b *Broker) bool {
				return reflect.DeepEqual(b.LogDirs, []string{"/b", "/c"}) && b.MetadataLogDir == "/b"
			}},
		{"log.dir alone", map[string]string{"log.dir": "/a"},
			func(b *Broker) bool { return reflect.DeepEqual(b.LogDirs, []string{"/a"}) }},
		{"metadata.log.dir", map[string]string{"metadata.log.dir": "/m"},
			func(b *Broker) bool { return b.MetadataLogDir == "/m" }},
		{"log.roll.ms wins over hours", map[string]string{"log.roll.hours": "1", "log.roll.ms": "5000"},
			func(b *Broker) bool { return b.LogRollMs == 5000 }},
		{"log.roll.hours", map[string]string{"log.roll.hours": "2"},
			func(b *Broker) bool { return b.LogRollMs == 2*3600*1000 }},
		{"log.roll.jitter.hours", map[string]string{"log.roll.jitter.hours": "1"},
			func(b *Broker) bool { return b.LogRollJitterMs == 3600*1000 }},
		{"retention ms over minutes over hours", map[string]string{"log.retention.hours": "1", "log.retention.minutes": "2", "log.retention.ms": "3"},
			func(b *Broker) bool { return b.LogRetentionMs == 3 }},
		{"retention minutes over hours", map[string]string{"log.retention.hours": "1", "log.retention.minutes": "2"},
			func(b *Broker) bool { return b.LogRetentionMs == 120000 }},
		{"negative retention is unlimited", map[string]string{"log.retention.hours": "-5"},
			func(b *Broker) bool { return b.LogRetentionMs == -1 }},
		{"flush ms falls back to scheduler", map[string]string{"log.flush.scheduler.interval.ms": "700"},
			func(b *Broker) bool { return b.LogFlushIntervalMs == 700 }},
		{"flush ms", map[string]string{"log.flush.scheduler.interval.ms": "700", "log.flush.interval.ms": "50"},
			func(b *Broker) bool { return b.LogFlushIntervalMs == 50 }},
		{"broker.id alone sets node.id", map[string]string{"broker.id": "5"},
			func(b *Broker) bool { return b.NodeID == 5 && b.Raw["node.id"] == "5" }},
		{"broker.id equal to node.id", map[string]string{"broker.id": "5", "node.id": "5"},
			func(b *Broker) bool { return b.NodeID == 5 }},
		{"values are trimmed", map[string]string{"num.partitions": " 3 ", "compression.type": "zstd  "},
			func(b *Broker) bool { return b.NumPartitions == 3 && b.CompressionType == "zstd" }},
		{"boolean is case-insensitive", map[string]string{"auto.create.topics.enable": "FALSE"},
			func(b *Broker) bool { return !b.AutoCreateTopicsEnable }},
		{"listener names are upper-cased", map[string]string{"listeners": "plaintext://:1,controller://:2", "controller.listener.names": "controller"},
			func(b *Broker) bool {
				return b.Listeners[0].Name == "PLAINTEXT" && b.ControllerListenerNames[0] == "CONTROLLER"
			}},
		{"advertised derived from listeners", map[string]string{"listeners": "PLAINTEXT://host1:19092,CONTROLLER://:19093"},
			func(b *Broker) bool {
				return reflect.DeepEqual(b.AdvertisedListeners, []Listener{{Name: "PLAINTEXT", Host: "host1", Port: 19092}})
			}},
		{"wildcard listener advertises the hostname", map[string]string{"listeners": "PLAINTEXT://0.0.0.0:9092,CONTROLLER://:9093"},
			func(b *Broker) bool {
				return reflect.DeepEqual(b.AdvertisedListeners, []Listener{{Name: "PLAINTEXT", Port: 9092}})
			}},
		{"port 0 everywhere", map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0", "advertised.listeners": "PLAINTEXT://127.0.0.1:0"},
			func(b *Broker) bool { return b.Listeners[0].Port == 0 && b.AdvertisedListeners[0].Port == 0 }},
		{"custom listener with map and inter broker name", map[string]string{
			"listeners":                      "INTERNAL://:9092,EXTERNAL://:9094,CONTROLLER://:9093",
			"advertised.listeners":           "INTERNAL://kafka:9092,EXTERNAL://localhost:9094",
			"listener.security.protocol.map": "INTERNAL:PLAINTEXT,EXTERNAL:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
			"inter.broker.listener.name":     "internal"},
			func(b *Broker) bool {
				return b.InterBrokerListenerName == "INTERNAL" && b.ListenerSecurityProtocolMap["EXTERNAL"] == "SASL_PLAINTEXT"
			}},
		{"default map gains controller names", map[string]string{"listeners": "PLAINTEXT://:1,CTL://:2", "controller.listener.names": "CTL"},
			func(b *Broker) bool { return b.ListenerSecurityProtocolMap["CTL"] == "PLAINTEXT" }},
		{"voters", map[string]string{"controller.quorum.voters": "1@localhost:9093,2@[::1]:9094"},
			func(b *Broker) bool {
				return reflect.DeepEqual(b.QuorumVoters, []Voter{{ID: 1, Host: "localhost", Port: 9093}, {ID: 2, Host: "::1", Port: 9094}})
			}},
		{"broker-only with voters", map[string]string{"process.roles": "broker", "node.id": "4", "listeners": "PLAINTEXT://:9092",
			"controller.quorum.voters": "1@c1:9093"},
			func(b *Broker) bool { return b.HasRole(RoleBroker) && !b.HasRole(RoleController) }},
		{"controller-only", map[string]string{"process.roles": "controller", "listeners": "CONTROLLER://:9093"},
			func(b *Broker) bool { return !b.HasRole(RoleBroker) }},
		{"ipv4 and ipv6 on one port", map[string]string{"listeners": "PLAINTEXT://127.0.0.1:9092,V6://[::1]:9092,CONTROLLER://:9093",
			"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,V6:PLAINTEXT,CONTROLLER:PLAINTEXT", "advertised.listeners": "PLAINTEXT://localhost:9092"},
			func(b *Broker) bool { return len(b.Listeners) == 3 }},
		{"per-listener property kept", map[string]string{"listener.name.sasl_plaintext.plain.sasl.jaas.config": "x"},
			func(b *Broker) bool { return b.Raw["listener.name.sasl_plaintext.plain.sasl.jaas.config"] == "x" }},
		{"ignored property noted", map[string]string{"num.network.threads": "8"},
			func(b *Broker) bool { return len(b.Notes) == 1 && strings.Contains(b.Notes[0], "num.network.threads") }},
		{"empty cleanup policy", map[string]string{"log.cleanup.policy": "compact,delete"},
			func(b *Broker) bool { return reflect.DeepEqual(b.LogCleanupPolicy, []string{"compact", "delete"}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, warnings, err := Parse(tt.props)
			if err != nil {
				t.Fatalf("Parse(%v): %v", tt.props, err)
			}
			if len(warnings) != 0 {
				t.Errorf("warnings: %v", warnings)
			}
			if !tt.check(b) {
				t.Errorf("Parse(%v): check failed: %+v", tt.props, b)
			}
		})
	}
}

// Every rejected configuration must name the offending property.
func TestValidationErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		props map[string]string
		want  string // substring of the error; it always names a key
	}{
		{map[string]string{"num.partitions": "abc"}, `invalid value "abc" for num.partitions: not an integer`},
		{map[string]string{"num.partitions": "0"}, `invalid value "0" for num.partitions: must be at least 1`},
		{map[string]string{"num.partitions": "99999999999"}, `num.partitions: out of range`},
		{map[string]string{"default.replication.factor": "40000"}, `default.replication.factor: out of range for a SHORT`},
		{map[string]string{"node.id": "-1"}, `invalid value "-1" for node.id: must be at least 0`},
		{map[string]string{"broker.id": "2", "node.id": "3"}, `broker.id (2) must equal node.id (3)`},
		{map[string]string{"auto.create.topics.enable": "yes"}, `auto.create.topics.enable: not a boolean`},
		{map[string]string{"log.segment.bytes": "1000"}, `invalid value "1000" for log.segment.bytes: must be at least 1048576`},
		{map[string]string{"log.segment.bytes": "4294967296"}, `log.segment.bytes: out of range for an INT`},
		{map[string]string{"message.max.bytes": "-1"}, `message.max.bytes: must be at least 0`},
		{map[string]string{"socket.request.max.bytes": "0"}, `socket.request.max.bytes: must be at least 1`},
		{map[string]string{"log.index.size.max.bytes": "3"}, `log.index.size.max.bytes: must be at least 4`},
		{map[string]string{"log.roll.hours": "0"}, `log.roll.hours: must be at least 1`},
		{map[string]string{"log.retention.ms": "0"}, `log.retention.ms must be unlimited (-1) or at least 1`},
		{map[string]string{"compression.type": "brotli"}, `invalid value "brotli" for compression.type: must be one of uncompressed, zstd, lz4, snappy, gzip, producer`},
		{map[string]string{"authorizer.class.name": "kafka.security.authorizer.AclAuthorizer"}, `for authorizer.class.name: only org.apache.kafka.metadata.authorizer.StandardAuthorizer is available`},
		{map[string]string{"super.users": "User:admin;bob"}, `for super.users: "bob" is not a principal`},
		{map[string]string{"compression.type": "GZIP"}, `compression.type: must be one of`},
		{map[string]string{"compression.gzip.level": "10"}, `compression.gzip.level: must be between 1 and 9`},
		{map[string]string{"compression.zstd.level": "23"}, `compression.zstd.level: must be between`},
		{map[string]string{"log.message.timestamp.type": "createtime"}, `log.message.timestamp.type: must be one of CreateTime, LogAppendTime`},
		{map[string]string{"log.cleanup.policy": "remove"}, `log.cleanup.policy: item "remove" must be one of compact, delete`},
		{map[string]string{"log.cleaner.min.cleanable.ratio": "1.5"}, `log.cleaner.min.cleanable.ratio: must be between 0 and 1`},
		{map[string]string{"log.cleaner.min.cleanable.ratio": "NaN"}, `log.cleaner.min.cleanable.ratio: not a number`},
		{map[string]string{"process.roles": "broker,zookeeper"}, `process.roles: item "zookeeper" must be one of broker, controller`},
		{map[string]string{"process.roles": ""}, `process.roles: must not be empty`},
		{map[string]string{"process.roles": "broker,broker"}, `process.roles: item "broker" appears twice`},
		{map[string]string{"controller.listener.names": ""}, `controller.listener.names: must not be empty`},
		{map[string]string{"log.dirs": "/a,/a"}, `log.dirs: item "/a" appears twice`},
		{map[string]string{"listeners": "PLAINTEXT//:9092"}, `listeners`},
		{map[string]string{"listeners": "PLAINTEXT://:99999"}, `port 99999 is out of range`},
		{map[string]string{"listeners": "PLAINTEXT://:-1"}, `for listeners`},
		{map[string]string{"listeners": "PLAINTEXT://:abc"}, `for listeners`},
		{map[string]string{"listeners": "PLAINTEXT://:9092,PLAINTEXT://:9094"}, `listeners: each listener must have a different name`},
		{map[string]string{"listeners": "PLAINTEXT://:9092,CONTROLLER://:9092"}, `listeners: each listener must have a different port`},
		{map[string]string{"listeners": ""}, `listeners must not be empty`},
		{map[string]string{"listeners": "PLAINTEXT://:9092,FOO://:9094,CONTROLLER://:9093"}, `listeners: no security protocol defined for listener FOO`},
		{map[string]string{"advertised.listeners": "PLAINTEXT://h:1,BAR://h:2"}, `advertised.listeners: no security protocol defined for listener BAR`},
		{map[string]string{"advertised.listeners": "PLAINTEXT://0.0.0.0:9092"}, `advertised.listeners cannot use the nonroutable meta-address 0.0.0.0`},
		{map[string]string{"advertised.listeners": "SSL://h:9092"}, `advertised.listeners: listener name SSL is not defined in listeners`},
		{map[string]string{"advertised.listeners": "PLAINTEXT://h:1,CONTROLLER://h:2"}, `advertised.listeners must not contain the controller listener CONTROLLER`},
		{map[string]string{"listener.security.protocol.map": "PLAINTEXT:TLS"}, `listener.security.protocol.map: entry "PLAINTEXT:TLS": unknown security protocol TLS`},
		{map[string]string{"listener.security.protocol.map": "PLAINTEXT"}, `listener.security.protocol.map`},
		{map[string]string{"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT"}, `no security protocol defined for listener CONTROLLER`},
		{map[string]string{"inter.broker.listener.name": "INTERNAL"}, `inter.broker.listener.name INTERNAL must be a listener name defined in advertised.listeners`},
		{map[string]string{"inter.broker.listener.name": "PLAINTEXT", "security.inter.broker.protocol": "PLAINTEXT"}, `only one of inter.broker.listener.name and security.inter.broker.protocol`},
		{map[string]string{"security.inter.broker.protocol": "TLS"}, `security.inter.broker.protocol: must be one of`},
		{map[string]string{"listeners": "PLAINTEXT://:9092"}, `controller.listener.names (CONTROLLER) must name at least one listener in listeners`},
		{map[string]string{"process.roles": "broker", "controller.quorum.voters": "1@c:9093"}, `listeners must not contain a controller listener`},
		{map[string]string{"process.roles": "controller"}, `listeners must only contain controller listeners`},
		{map[string]string{"process.roles": "broker", "listeners": "PLAINTEXT://:9092"}, `needs controller.quorum.voters or controller.quorum.bootstrap.servers`},
		{map[string]string{"controller.quorum.voters": "2@c:9093"}, `controller.quorum.voters must include this node (node.id 1)`},
		{map[string]string{"controller.quorum.voters": "x@c:9093"}, `controller.quorum.voters`},
		{map[string]string{"controller.quorum.voters": "1@c:9093,1@d:9093"}, `controller.quorum.voters: voter id 1 appears twice`},
		{map[string]string{"controller.quorum.voters": "1@:9093"}, `controller.quorum.voters: voter "1@:9093": empty host`},
		{map[string]string{"group.min.session.timeout.ms": "10", "group.max.session.timeout.ms": "5"}, `group.min.session.timeout.ms (10) must not exceed group.max.session.timeout.ms (5)`},
		{map[string]string{"group.consumer.heartbeat.interval.ms": "50000"}, `group.consumer.heartbeat.interval.ms`},
		{map[string]string{"group.max.size": "0"}, `group.max.size: must be at least 1`},
		{map[string]string{"offsets.topic.num.partitions": "0"}, `offsets.topic.num.partitions: must be at least 1`},
		{map[string]string{"offsets.topic.replication.factor": "0"}, `offsets.topic.replication.factor: must be at least 1`},
		{map[string]string{"group.coordinator.rebalance.protocols": "classic,magic"}, `group.coordinator.rebalance.protocols: item "magic"`},
		{map[string]string{"ssl.client.auth": "maybe"}, `ssl.client.auth: must be one of required, requested, none`},
		{map[string]string{"riffle.admin.listener": "nonsense"}, `riffle.admin.listener`},
		{map[string]string{"log.cleaner.min.compaction.lag.ms": "10", "log.cleaner.max.compaction.lag.ms": "5"}, `log.cleaner.min.compaction.lag.ms (10) must not exceed`},
		{map[string]string{"num.network.threads": "x"}, `num.network.threads: not an integer`},
	}
	for _, tt := range tests {
		_, _, err := Parse(tt.props)
		if err == nil {
			t.Errorf("Parse(%v): no error, want %q", tt.props, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%v) error:\n  %v\nwant it to contain:\n  %s", tt.props, err, tt.want)
		}
		named := false
		for k := range brokerDefIndex {
			named = named || strings.Contains(err.Error(), k)
		}
		if !named {
			t.Errorf("Parse(%v) error %q names none of the keys", tt.props, err)
		}
	}
}

func TestPasswordNotInError(t *testing.T) {
	t.Parallel()
	d := ConfigDef{Name: "secret", Type: TypePassword, Validate: func(string) error { return errTest }}
	if err := d.check("hunter2"); err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "secret") {
		t.Fatalf("error = %v", err)
	}
}

var errTest = &testError{}

type testError struct{}

func (*testError) Error() string { return "bad" }

func TestParseListeners(t *testing.T) {
	t.Parallel()
	got, err := ParseListeners(" PLAINTEXT://:9092 , ssl://0.0.0.0:9093,V6://[::1]:0,,")
	if err != nil {
		t.Fatal(err)
	}
	want := []Listener{{"PLAINTEXT", "", 9092}, {"SSL", "0.0.0.0", 9093}, {"V6", "::1", 0}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if s := got[2].String(); s != "V6://[::1]:0" {
		t.Errorf("String() = %q", s)
	}
	if a := got[0].Addr(); a != ":9092" {
		t.Errorf("Addr() = %q", a)
	}
	for _, bad := range []string{"://:1", "A://h", "A://[::1:1", "A://h h:1", "A B://:1", "A://:65536"} {
		if _, err := ParseListeners(bad); err == nil {
			t.Errorf("ParseListeners(%q): no error", bad)
		}
	}
	if l, err := ParseListeners(""); err != nil || len(l) != 0 {
		t.Errorf("ParseListeners(\"\") = %v, %v", l, err)
	}
}

func TestBrokerConfigDefsSorted(t *testing.T) {
	t.Parallel()
	defs := BrokerConfigDefs()
	seen := make(map[string]bool)
	for i, d := range defs {
		if seen[d.Name] {
			t.Errorf("duplicate definition %s", d.Name)
		}
		seen[d.Name] = true
		if i > 0 && defs[i-1].Name > d.Name {
			t.Errorf("not sorted at %s", d.Name)
		}
		switch d.Type {
		case TypeBoolean, TypeString, TypeInt, TypeShort, TypeLong, TypeDouble, TypeList, TypeClass, TypePassword:
		default:
			t.Errorf("%s: unknown type %q", d.Name, d.Type)
		}
	}
	for _, name := range []string{"node.id", "listeners", "advertised.listeners", "log.dirs", "num.partitions",
		"default.replication.factor", "auto.create.topics.enable", "log.segment.bytes", "log.roll.ms",
		"log.index.interval.bytes", "message.max.bytes", "socket.request.max.bytes", "connections.max.idle.ms",
		"compression.type", "log.message.timestamp.type", "process.roles", "controller.listener.names",
		"controller.quorum.voters", "listener.security.protocol.map", "inter.broker.listener.name", "log.dir",
		"log.roll.hours", "log.index.size.max.bytes", "log.retention.hours", "log.retention.minutes",
		"log.retention.ms", "log.retention.bytes", "log.retention.check.interval.ms", "log.flush.interval.messages",
		"log.flush.interval.ms", "log.cleanup.policy", "offsets.topic.num.partitions", "offsets.topic.replication.factor",
		"offsets.retention.minutes", "transaction.state.log.num.partitions", "group.initial.rebalance.delay.ms",
		"group.min.session.timeout.ms", "group.max.session.timeout.ms", "group.max.size", "num.network.threads"} {
		if !seen[name] {
			t.Errorf("missing definition %s", name)
		}
	}
}

func TestLookupAndSources(t *testing.T) {
	t.Parallel()
	if d, ok := LookupBrokerConfig("log.segment.bytes"); !ok || d.Type != TypeInt || d.Default != "1073741824" {
		t.Errorf("LookupBrokerConfig(log.segment.bytes) = %+v, %v", d, ok)
	}
	if d, ok := LookupBrokerConfig("ssl.key.password"); !ok || !d.Sensitive() {
		t.Errorf("ssl.key.password should be sensitive: %+v", d)
	}
	if _, ok := LookupBrokerConfig("segment.bytes"); ok {
		t.Error("segment.bytes is a topic config, not a broker one")
	}
	if d, ok := LookupTopicConfig("segment.bytes"); !ok || d.BrokerSynonym != "log.segment.bytes" {
		t.Errorf("LookupTopicConfig(segment.bytes) = %+v, %v", d, ok)
	}
	if SourceDefault.KafkaConfigSource() != 5 || SourceFile.KafkaConfigSource() != 4 || SourceFlag.KafkaConfigSource() != 4 {
		t.Error("KafkaConfigSource codes")
	}
	for s, want := range map[Source]string{SourceDefault: "default", SourceFile: "file", SourceEnv: "env", SourceFlag: "flag"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q", s, s.String())
		}
	}
}

func TestParseVotersAndProtocolMap(t *testing.T) {
	t.Parallel()
	v, err := ParseVoters(" 1@a:1 , 2@b:2 ")
	if err != nil || len(v) != 2 || v[1].Addr() != "b:2" {
		t.Fatalf("ParseVoters = %v, %v", v, err)
	}
	for _, bad := range []string{"a:1", "-1@a:1", "1@a", "1@a:70000", "1@a:1,1@b:2"} {
		if _, err := ParseVoters(bad); err == nil {
			t.Errorf("ParseVoters(%q): no error", bad)
		}
	}
	m, err := ParseSecurityProtocolMap("internal:plaintext, EXTERNAL:SASL_SSL")
	if err != nil || m["INTERNAL"] != "PLAINTEXT" || m["EXTERNAL"] != "SASL_SSL" {
		t.Fatalf("ParseSecurityProtocolMap = %v, %v", m, err)
	}
	for _, bad := range []string{"A", "A:", ":PLAINTEXT", "A:TLS", "A:SSL,a:SSL"} {
		if _, err := ParseSecurityProtocolMap(bad); err == nil {
			t.Errorf("ParseSecurityProtocolMap(%q): no error", bad)
		}
	}
}

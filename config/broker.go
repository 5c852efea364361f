package config

import (
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Source says where a property's value came from. DescribeConfigs reports
// Default as DEFAULT_CONFIG and the rest as STATIC_BROKER_CONFIG.
type Source int

const (
	SourceDefault Source = iota // Kafka's (or Riffle's) default
	SourceFile                  // the server.properties file
	SourceEnv                   // a KAFKA_* environment variable
	SourceFlag                  // a --override flag
	// SourceDynamicDefault is a cluster-wide dynamic config (AlterConfigs on
	// the broker resource ""), stored in the metadata log.
	SourceDynamicDefault
	// SourceDynamicBroker is a dynamic config of this broker (AlterConfigs
	// on the broker resource "<node.id>"), stored in the metadata log.
	SourceDynamicBroker
)

func (s Source) String() string {
	switch s {
	case SourceDefault:
		return "default"
	case SourceFile:
		return "file"
	case SourceEnv:
		return "env"
	case SourceFlag:
		return "flag"
	case SourceDynamicDefault:
		return "dynamic default"
	case SourceDynamicBroker:
		return "dynamic broker"
	}
	return fmt.Sprintf("Source(%d)", int(s))
}

// KafkaConfigSource is the DescribeConfigs ConfigSource code for s:
// DYNAMIC_BROKER_CONFIG (2) and DYNAMIC_DEFAULT_BROKER_CONFIG (3) for
// dynamic configs, STATIC_BROKER_CONFIG (4) for anything the operator set at
// startup, DEFAULT_CONFIG (5) otherwise.
func (s Source) KafkaConfigSource() int8 {
	switch s {
	case SourceDefault:
		return 5
	case SourceDynamicBroker:
		return 2
	case SourceDynamicDefault:
		return 3
	}
	return 4
}

// Roles of process.roles.
const (
	RoleBroker     = "broker"
	RoleController = "controller"
)

// Broker is the typed broker configuration. Field names follow the Kafka
// property names (log.segment.bytes → LogSegmentBytes).
type Broker struct {
	// KRaft and node identity.
	NodeID                                    int32
	ProcessRoles                              []string
	ControllerListenerNames                   []string
	ControllerQuorumVoters                    string
	QuorumVoters                              []Voter // ControllerQuorumVoters parsed; empty means this node alone
	ControllerQuorumBootstrapServers          []string
	ControllerQuorumElectionTimeoutMs         int32
	ControllerQuorumFetchTimeoutMs            int32
	ControllerQuorumElectionBackoffMaxMs      int32
	ControllerQuorumRequestTimeoutMs          int32
	ControllerQuorumRetryBackoffMs            int32
	ControllerQuorumAppendLingerMs            int32
	MetadataLogDir                            string // resolved: metadata.log.dir, else the first log dir
	MetadataLogSegmentBytes                   int32
	MetadataMaxRetentionMs                    int64
	MetadataMaxRetentionBytes                 int64
	MetadataLogMaxRecordBytesBetweenSnapshots int64
	BrokerHeartbeatIntervalMs                 int32
	BrokerSessionTimeoutMs                    int32
	InitialBrokerRegistrationTimeoutMs        int64
	BrokerRack                                string

	// Sockets and listeners.
	Listeners                    []Listener
	AdvertisedListeners          []Listener // resolved: advertised.listeners, else listeners minus controller listeners
	ListenerSecurityProtocolMap  map[string]string
	InterBrokerListenerName      string // resolved: inter.broker.listener.name, else security.inter.broker.protocol
	SocketRequestMaxBytes        int32
	SocketSendBufferBytes        int32
	SocketReceiveBufferBytes     int32
	SocketListenBacklogSize      int32
	ConnectionsMaxIdleMs         int64
	MaxConnections               int32
	MaxConnectionsPerIP          int32
	MaxConnectionsPerIPOverrides string
	QueuedMaxRequests            int32
	QueuedMaxRequestBytes        int64

	// Client quota sampling (Kafka's QuotaConfig).
	QuotaWindowNum                   int32
	QuotaWindowSizeSeconds           int32
	ControllerQuotaWindowNum         int32
	ControllerQuotaWindowSizeSeconds int32

	// Log defaults (the broker synonyms of topic configs).
	LogDirs                                 []string // resolved: log.dirs, else log.dir
	NumPartitions                           int32
	DefaultReplicationFactor                int16
	AutoCreateTopicsEnable                  bool
	DeleteTopicEnable                       bool
	LogSegmentBytes                         int64
	LogRollMs                               int64 // resolved: log.roll.ms, else log.roll.hours
	LogRollJitterMs                         int64 // resolved: log.roll.jitter.ms, else log.roll.jitter.hours
	LogIndexIntervalBytes                   int32
	LogIndexSizeMaxBytes                    int32
	MessageMaxBytes                         int32
	CompressionType                         string
	CompressionGzipLevel                    int32
	CompressionLz4Level                     int32
	CompressionZstdLevel                    int32
	LogMessageTimestampType                 string
	LogMessageTimestampBeforeMaxMs          int64
	LogMessageTimestampAfterMaxMs           int64
	LogRetentionMs                          int64 // resolved: ms, else minutes, else hours; -1 is unlimited
	LogRetentionBytes                       int64
	LogRetentionCheckIntervalMs             int64
	LogCleanupPolicy                        []string
	LogFlushIntervalMessages                int64
	LogFlushIntervalMs                      int64 // resolved: log.flush.interval.ms, else log.flush.scheduler.interval.ms
	LogFlushSchedulerIntervalMs             int64
	LogFlushOffsetCheckpointIntervalMs      int32
	LogFlushStartOffsetCheckpointIntervalMs int32
	LogSegmentDeleteDelayMs                 int64
	LogPreallocate                          bool
	NumRecoveryThreadsPerDataDir            int32
	MinInsyncReplicas                       int32
	UncleanLeaderElectionEnable             bool
	LogLocalRetentionMs                     int64
	LogLocalRetentionBytes                  int64

	// Log cleaner.
	LogCleanerEnable              bool
	LogCleanerBackoffMs           int64
	LogCleanerThreads             int32
	LogCleanerMinCleanableRatio   float64
	LogCleanerDeleteRetentionMs   int64
	LogCleanerMinCompactionLagMs  int64
	LogCleanerMaxCompactionLagMs  int64
	LogCleanerDedupeBufferSize    int64
	LogCleanerIoMaxBytesPerSecond float64

	// Replication.
	ReplicaLagTimeMaxMs          int64
	ReplicaFetchMaxBytes         int32
	ReplicaFetchMinBytes         int32
	ReplicaFetchWaitMaxMs        int32
	ReplicaFetchResponseMaxBytes int32
	ReplicaFetchBackoffMs        int32
	// ReplicaSelectorClass is replica.selector.class: "" (the leader
	// serves every consumer) or RackAwareReplicaSelector (KIP-392).
	ReplicaSelectorClass string
	// Replication throttles (KIP-73): bytes/s, math.MaxInt64 when unset.
	LeaderReplicationThrottledRate           int64
	FollowerReplicationThrottledRate         int64
	ReplicationQuotaWindowNum                int32
	ReplicationQuotaWindowSizeSeconds        int32
	ReplicaSocketTimeoutMs                   int32
	NumReplicaFetchers                       int32
	ReplicaHighWatermarkCheckpointIntervalMs int64
	AutoLeaderRebalanceEnable                bool
	LeaderImbalanceCheckIntervalSeconds      int64
	FetchMaxBytes                            int32
	MaxIncrementalFetchSessionCacheSlots     int32
	MinIncrementalFetchSessionEvictionMs     int32
	FetchPurgatoryPurgeIntervalRequests      int32
	ProducerPurgatoryPurgeIntervalRequests   int32

	// Group coordinator and committed offsets.
	OffsetsTopicNumPartitions           int32
	OffsetsTopicReplicationFactor       int16
	OffsetsTopicSegmentBytes            int32
	OffsetsRetentionMinutes             int32
	OffsetsRetentionCheckIntervalMs     int64
	OffsetsCommitTimeoutMs              int32
	OffsetMetadataMaxBytes              int32
	GroupInitialRebalanceDelayMs        int32
	GroupMinSessionTimeoutMs            int32
	GroupMaxSessionTimeoutMs            int32
	GroupMaxSize                        int32
	GroupCoordinatorRebalanceProtocols  []string
	GroupConsumerSessionTimeoutMs       int32
	GroupConsumerMinSessionTimeoutMs    int32
	GroupConsumerMaxSessionTimeoutMs    int32
	GroupConsumerHeartbeatIntervalMs    int32
	GroupConsumerMinHeartbeatIntervalMs int32
	GroupConsumerMaxHeartbeatIntervalMs int32
	GroupConsumerMaxSize                int32
	GroupConsumerAssignors              []string

	// Transactions and producer ids.
	TransactionStateLogNumPartitions                     int32
	TransactionStateLogReplicationFactor                 int16
	TransactionStateLogMinIsr                            int32
	TransactionStateLogSegmentBytes                      int32
	TransactionalIDExpirationMs                          int32
	TransactionMaxTimeoutMs                              int32
	TransactionAbortTimedOutTransactionCleanupIntervalMs int32
	TransactionRemoveExpiredTransactionCleanupIntervalMs int32
	TransactionPartitionVerificationEnable               bool
	ProducerIDExpirationMs                               int32
	ProducerIDExpirationCheckIntervalMs                  int32

	// Security.
	SASLEnabledMechanisms                 []string
	SASLMechanismInterBrokerProtocol      string
	SASLMechanismControllerProtocol       string
	SASLJAASConfig                        string
	SSLKeystoreLocation                   string
	SSLKeystoreType                       string
	SSLKeystorePassword                   string
	SSLKeyPassword                        string
	SSLKeystoreCertificateChain           string
	SSLKeystoreKey                        string
	SSLTruststoreLocation                 string
	SSLTruststoreType                     string
	SSLTruststorePassword                 string
	SSLTruststoreCertificates             string
	SSLClientAuth                         string
	SSLEnabledProtocols                   []string
	SSLProtocol                           string
	SSLCipherSuites                       []string
	SSLEndpointIdentificationAlgorithm    string
	SSLPrincipalMappingRules              string
	ConnectionsMaxReauthMs                int64
	SASLServerMaxReceiveSize              int32
	ConnectionFailedAuthenticationDelayMs int32
	AuthorizerClassName                   string
	SuperUsers                            string
	AllowEveryoneIfNoACLFound             bool

	// AdminListener is riffle.admin.listener: host:port of the admin HTTP
	// endpoint, or "" for none.
	AdminListener string

	// Raw holds every known property as resolved, defaults included
	// (properties whose Kafka default is null appear only when set), plus
	// per-listener properties (listener.name.<name>.…) as given. It is what
	// DescribeConfigs reports.
	Raw map[string]string
	// Sources says where each entry of Raw came from.
	Sources map[string]Source
	// Notes name the properties that were set but have no effect in
	// Riffle (ConfigDef.Ignored, per-listener properties); the command
	// logs each as a warning at start.
	Notes []string
}

// Default returns Kafka's defaults, except where Riffle starts with one
// command: log.dir=./data, listeners PLAINTEXT://:9092,CONTROLLER://:9093,
// advertised PLAINTEXT://localhost:9092, node.id=1, and an empty
// controller.quorum.voters meaning a single voter, this node.
func Default() *Broker {
	b, _, err := resolve(nil)
	if err != nil {
		// The built-in defaults are covered by tests; this cannot happen.
		panic("config: built-in defaults are invalid: " + err.Error())
	}
	return b
}

// BrokerConfigDefs lists the broker properties Riffle knows, sorted by name.
func BrokerConfigDefs() []ConfigDef {
	out := make([]ConfigDef, len(brokerDefs))
	for i, d := range brokerDefs {
		out[i] = d.ConfigDef
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LookupBrokerConfig returns the definition of a broker property.
func LookupBrokerConfig(name string) (ConfigDef, bool) {
	d, ok := brokerDefIndex[name]
	if !ok {
		return ConfigDef{}, false
	}
	return d.ConfigDef, true
}

var brokerDefIndex = func() map[string]*brokerDef {
	m := make(map[string]*brokerDef, len(brokerDefs))
	for i := range brokerDefs {
		m[brokerDefs[i].Name] = &brokerDefs[i]
	}
	return m
}()

// layer is one source of properties, applied in order.
type layer struct {
	source Source
	props  map[string]string
	// origin names a key's origin in messages, e.g. the env variable.
	origin map[string]string
}

// Parse builds a Broker from properties (as from a file) over the defaults.
func Parse(props map[string]string) (*Broker, []string, error) {
	return resolve([]layer{{source: SourceFile, props: props}})
}

// listenerPrefix starts per-listener properties (Kafka's
// listener.name.<listener>.<property>), which are kept in Raw as given.
const listenerPrefix = "listener.name."

func resolve(layers []layer) (*Broker, []string, error) {
	var warnings, listenerNotes []string
	raw := make(map[string]string)
	sources := make(map[string]Source)
	origins := make(map[string]string)
	for _, d := range brokerDefs {
		if !d.NoDefault {
			raw[d.Name] = d.Default
			sources[d.Name] = SourceDefault
		}
	}
	for _, l := range layers {
		keys := make([]string, 0, len(l.props))
		for k := range l.props {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := l.props[k]
			origin := l.origin[k]
			if origin == "" {
				origin = k
			}
			d, ok := brokerDefIndex[k]
			if ok && !d.Sensitive() {
				v = strings.TrimSpace(v) // Kafka trims typed values too
			}
			if !ok {
				if strings.HasPrefix(k, listenerPrefix) {
					raw[k], sources[k], origins[k] = v, l.source, origin
					if IsListenerSecurityProperty(k) {
						continue // read by the listener it names
					}
					listenerNotes = append(listenerNotes, fmt.Sprintf("configuration %s (from %s) is accepted for compatibility and ignored: Riffle's per-listener settings are the TLS and SASL ones", k, describeOrigin(l.source, origin)))
					continue
				}
				warnings = append(warnings, fmt.Sprintf("unknown configuration %s (from %s) ignored", k, describeOrigin(l.source, origin)))
				continue
			}
			raw[k], sources[k], origins[k] = v, l.source, origin
		}
	}

	b := &Broker{Raw: raw, Sources: sources, Notes: listenerNotes}
	set := func(name string) bool { return sources[name] != SourceDefault }
	for _, d := range brokerDefs {
		v, ok := raw[d.Name]
		if !ok {
			continue
		}
		if err := d.check(v); err != nil {
			if o := origins[d.Name]; o != "" && o != d.Name {
				return nil, warnings, fmt.Errorf("%w (from %s)", err, o)
			}
			return nil, warnings, err
		}
		if d.Ignored && set(d.Name) && (d.asRiffleDoes == nil || !d.asRiffleDoes(v)) {
			b.Notes = append(b.Notes, ignoredNote(d.ConfigDef, v, origins[d.Name], sources[d.Name]))
		}
		if d.set != nil {
			d.set(b, v)
		}
	}
	if err := b.resolveSynonyms(set); err != nil {
		return nil, warnings, err
	}
	if err := b.validate(); err != nil {
		return nil, warnings, err
	}
	return b, warnings, nil
}

// ignoredNote is the start-up warning for a set property that has no
// effect. Secrets are not repeated.
func ignoredNote(d ConfigDef, v, origin string, src Source) string {
	what := d.Name
	if !d.Sensitive() {
		what += "=" + strings.TrimSpace(v)
	}
	if origin == "" {
		origin = d.Name
	}
	msg := fmt.Sprintf("configuration %s (from %s) is accepted for compatibility and ignored", what, describeOrigin(src, origin))
	if d.IgnoredReason != "" {
		msg += ": " + d.IgnoredReason
	}
	return msg
}

func describeOrigin(s Source, origin string) string {
	switch s {
	case SourceEnv:
		return "environment variable " + origin
	case SourceFlag:
		return "--override"
	}
	return "configuration file"
}

func (b *Broker) get(name string) (string, bool) {
	v, ok := b.Raw[name]
	return strings.TrimSpace(v), ok
}

func (b *Broker) int64Of(name string) (int64, bool) {
	v, ok := b.get(name)
	if !ok {
		return 0, false
	}
	return parseInt64(v), true
}

// resolveSynonyms settles the properties that Kafka lets several names set,
// in Kafka's order of precedence, and parses the structured ones.
func (b *Broker) resolveSynonyms(set func(string) bool) error {
	// KafkaConfig.populateSynonyms: node.id and broker.id stand for each
	// other; when both are given they must agree.
	if id, ok := b.int64Of("broker.id"); ok {
		switch {
		case !set("node.id"):
			b.NodeID = int32(id)
			b.Raw["node.id"], b.Sources["node.id"] = b.Raw["broker.id"], b.Sources["broker.id"]
		case int64(b.NodeID) != id:
			return fmt.Errorf("broker.id (%d) must equal node.id (%d) when both are set", id, b.NodeID)
		}
	}

	// log.dirs wins over log.dir.
	if v, ok := b.get("log.dirs"); ok {
		b.LogDirs = parseList(v)
	} else {
		v, _ := b.get("log.dir")
		b.LogDirs = parseList(v)
	}
	if b.MetadataLogDir == "" && len(b.LogDirs) > 0 {
		b.MetadataLogDir = b.LogDirs[0]
	}

	if err := b.resolveLogSynonyms(); err != nil {
		return err
	}

	// Listener names are case-insensitive in Kafka (ListenerName.normalised).
	for i, n := range b.ControllerListenerNames {
		b.ControllerListenerNames[i] = strings.ToUpper(n)
	}
	for i, r := range b.ProcessRoles {
		b.ProcessRoles[i] = strings.ToLower(r)
	}

	var err error
	v, _ := b.get("listener.security.protocol.map")
	if b.ListenerSecurityProtocolMap, err = ParseSecurityProtocolMap(v); err != nil {
		return fmt.Errorf("invalid value %q for listener.security.protocol.map: %v", v, err)
	}
	if !set("listener.security.protocol.map") {
		// KRaft: with the default map, controller listeners are PLAINTEXT.
		for _, n := range b.ControllerListenerNames {
			if _, ok := b.ListenerSecurityProtocolMap[n]; !ok {
				b.ListenerSecurityProtocolMap[n] = ProtocolPlaintext
			}
		}
		b.Raw["listener.security.protocol.map"] = formatSecurityProtocolMap(b.ListenerSecurityProtocolMap)
	}

	v, _ = b.get("listeners")
	if b.Listeners, err = ParseListeners(v); err != nil {
		return fmt.Errorf("invalid value %q for listeners: %v", v, err)
	}
	if v, ok := b.get("advertised.listeners"); ok {
		if b.AdvertisedListeners, err = ParseListeners(v); err != nil {
			return fmt.Errorf("invalid value %q for advertised.listeners: %v", v, err)
		}
	} else if !set("listeners") {
		b.AdvertisedListeners, _ = ParseListeners(defaultAdvertisedListeners)
	} else {
		// Kafka advertises the listeners themselves, minus the controller
		// ones; an empty host is resolved to the hostname by the server.
		for _, l := range b.Listeners {
			if !slices.Contains(b.ControllerListenerNames, l.Name) {
				if isWildcard(l.Host) {
					// Kafka would refuse to advertise a wildcard; Riffle
					// advertises the hostname instead, as for an empty host.
					l.Host = ""
				}
				b.AdvertisedListeners = append(b.AdvertisedListeners, l)
			}
		}
	}

	ibl, iblSet := b.get("inter.broker.listener.name")
	if iblSet && set("security.inter.broker.protocol") {
		return fmt.Errorf("only one of inter.broker.listener.name and security.inter.broker.protocol should be set")
	}
	if iblSet {
		b.InterBrokerListenerName = strings.ToUpper(ibl)
	} else {
		v, _ := b.get("security.inter.broker.protocol")
		b.InterBrokerListenerName = v
	}

	if b.QuorumVoters, err = ParseVoters(b.ControllerQuorumVoters); err != nil {
		return fmt.Errorf("invalid value %q for controller.quorum.voters: %v", b.ControllerQuorumVoters, err)
	}
	return nil
}

// resolveLogSynonyms settles the log properties that several names set
// (log.roll.ms/hours, log.retention.ms/minutes/hours, …) from Raw. It runs at
// startup and again when dynamic configs change them.
func (b *Broker) resolveLogSynonyms() error {
	b.LogSegmentBytes, _ = b.int64Of("log.segment.bytes")
	if ms, ok := b.int64Of("log.roll.ms"); ok {
		b.LogRollMs = ms
	} else {
		h, _ := b.int64Of("log.roll.hours")
		b.LogRollMs = h * 3600 * 1000
	}
	if ms, ok := b.int64Of("log.roll.jitter.ms"); ok {
		b.LogRollJitterMs = ms
	} else {
		h, _ := b.int64Of("log.roll.jitter.hours")
		b.LogRollJitterMs = h * 3600 * 1000
	}

	// KafkaConfig.logRetentionTimeMillis: ms, else minutes, else hours; any
	// negative value means unlimited, and zero is refused.
	var retention int64
	if ms, ok := b.int64Of("log.retention.ms"); ok {
		retention = ms
	} else if m, ok := b.int64Of("log.retention.minutes"); ok {
		retention = m * 60 * 1000
	} else {
		h, _ := b.int64Of("log.retention.hours")
		retention = h * 3600 * 1000
	}
	if retention < 0 {
		retention = -1
	}
	if retention == 0 {
		return fmt.Errorf("log.retention.ms must be unlimited (-1) or at least 1")
	}
	b.LogRetentionMs = retention

	if ms, ok := b.int64Of("log.flush.interval.ms"); ok {
		b.LogFlushIntervalMs = ms
	} else {
		b.LogFlushIntervalMs = b.LogFlushSchedulerIntervalMs
	}
	return nil
}

// HasRole reports whether process.roles includes role.
func (b *Broker) HasRole(role string) bool { return slices.Contains(b.ProcessRoles, role) }

// ControllerListeners returns the listeners named in
// controller.listener.names, in that order.
func (b *Broker) ControllerListeners() []Listener {
	var out []Listener
	for _, n := range b.ControllerListenerNames {
		for _, l := range b.Listeners {
			if l.Name == n {
				out = append(out, l)
			}
		}
	}
	return out
}

// validate performs Kafka's cross-field checks (KafkaConfig.validateValues
// for KRaft, EndpointUtils for listeners).
func (b *Broker) validate() error {
	isBroker, isController := b.HasRole(RoleBroker), b.HasRole(RoleController)
	if b.NodeID < 0 {
		return fmt.Errorf("node.id must be at least 0, got %d", b.NodeID)
	}
	if len(b.Listeners) == 0 {
		return fmt.Errorf("listeners must not be empty")
	}

	// Every listener needs a security protocol.
	check := func(prop string, names ...string) error {
		for _, n := range names {
			if _, ok := b.ListenerSecurityProtocolMap[n]; !ok {
				return fmt.Errorf("%s: no security protocol defined for listener %s; add %s:PLAINTEXT (or another protocol) to listener.security.protocol.map", prop, n, n)
			}
		}
		return nil
	}
	for _, l := range b.Listeners {
		if err := check("listeners", l.Name); err != nil {
			return err
		}
	}
	for _, l := range b.AdvertisedListeners {
		if err := check("advertised.listeners", l.Name); err != nil {
			return err
		}
	}
	if err := check("controller.listener.names", b.ControllerListenerNames...); err != nil {
		return err
	}

	// Two listeners may not share a port, unless it is 0 (ephemeral) or one
	// binds an IPv4 and the other an IPv6 address.
	byPort := make(map[int][]Listener)
	for _, l := range b.Listeners {
		if l.Port != 0 {
			byPort[l.Port] = append(byPort[l.Port], l)
		}
	}
	for port, ls := range byPort {
		if len(ls) > 1 && !(len(ls) == 2 && oneIPv4OneIPv6(ls[0].Host, ls[1].Host)) {
			return fmt.Errorf("invalid value %q for listeners: each listener must have a different port, but %s and %s both use %d", b.Raw["listeners"], ls[0].Name, ls[1].Name, port)
		}
	}

	listenerNames := make(map[string]bool)
	for _, l := range b.Listeners {
		listenerNames[l.Name] = true
	}
	for _, l := range b.AdvertisedListeners {
		if isWildcard(l.Host) {
			return fmt.Errorf("advertised.listeners cannot use the nonroutable meta-address %s (listener %s); use a routable address or hostname", l.Host, l.Name)
		}
		if !listenerNames[l.Name] {
			return fmt.Errorf("advertised.listeners: listener name %s is not defined in listeners (advertised listener names must be a subset of the listener names)", l.Name)
		}
		if slices.Contains(b.ControllerListenerNames, l.Name) && isBroker {
			return fmt.Errorf("advertised.listeners must not contain the controller listener %s: clients only talk to brokers", l.Name)
		}
	}

	controllerInListeners := false
	for _, n := range b.ControllerListenerNames {
		if listenerNames[n] {
			controllerInListeners = true
		}
	}
	switch {
	case isController && !controllerInListeners:
		return fmt.Errorf("controller.listener.names (%s) must name at least one listener in listeners when process.roles contains controller", strings.Join(b.ControllerListenerNames, ","))
	case isBroker && !isController && controllerInListeners:
		return fmt.Errorf("listeners must not contain a controller listener (%s) when process.roles is just broker", strings.Join(b.ControllerListenerNames, ","))
	case isController && !isBroker:
		for _, l := range b.Listeners {
			if !slices.Contains(b.ControllerListenerNames, l.Name) {
				return fmt.Errorf("listeners must only contain controller listeners (%s) when process.roles is just controller, not %s", strings.Join(b.ControllerListenerNames, ","), l.Name)
			}
		}
	}

	if isBroker {
		found := false
		var names []string
		for _, l := range b.AdvertisedListeners {
			names = append(names, l.Name)
			found = found || l.Name == b.InterBrokerListenerName
		}
		if !found {
			return fmt.Errorf("inter.broker.listener.name %s must be a listener name defined in advertised.listeners (valid: %s); set inter.broker.listener.name", b.InterBrokerListenerName, strings.Join(names, ", "))
		}
	}

	if len(b.QuorumVoters) > 0 && isController {
		found := false
		for _, v := range b.QuorumVoters {
			found = found || v.ID == b.NodeID
		}
		if !found {
			return fmt.Errorf("controller.quorum.voters must include this node (node.id %d) when process.roles contains controller", b.NodeID)
		}
	}
	if len(b.QuorumVoters) == 0 && len(b.ControllerQuorumBootstrapServers) == 0 && !isController {
		return fmt.Errorf("a broker-only node needs controller.quorum.voters or controller.quorum.bootstrap.servers to find the controllers")
	}

	if b.GroupMinSessionTimeoutMs > b.GroupMaxSessionTimeoutMs {
		return fmt.Errorf("group.min.session.timeout.ms (%d) must not exceed group.max.session.timeout.ms (%d)", b.GroupMinSessionTimeoutMs, b.GroupMaxSessionTimeoutMs)
	}
	// GroupCoordinatorConfig's requirements for the consumer protocol (KIP-848).
	if b.GroupConsumerMinSessionTimeoutMs > b.GroupConsumerMaxSessionTimeoutMs {
		return fmt.Errorf("group.consumer.min.session.timeout.ms (%d) must not exceed group.consumer.max.session.timeout.ms (%d)", b.GroupConsumerMinSessionTimeoutMs, b.GroupConsumerMaxSessionTimeoutMs)
	}
	if b.GroupConsumerSessionTimeoutMs < b.GroupConsumerMinSessionTimeoutMs || b.GroupConsumerSessionTimeoutMs > b.GroupConsumerMaxSessionTimeoutMs {
		return fmt.Errorf("group.consumer.session.timeout.ms (%d) must be between group.consumer.min.session.timeout.ms (%d) and group.consumer.max.session.timeout.ms (%d)", b.GroupConsumerSessionTimeoutMs, b.GroupConsumerMinSessionTimeoutMs, b.GroupConsumerMaxSessionTimeoutMs)
	}
	if b.GroupConsumerMinHeartbeatIntervalMs > b.GroupConsumerMaxHeartbeatIntervalMs {
		return fmt.Errorf("group.consumer.min.heartbeat.interval.ms (%d) must not exceed group.consumer.max.heartbeat.interval.ms (%d)", b.GroupConsumerMinHeartbeatIntervalMs, b.GroupConsumerMaxHeartbeatIntervalMs)
	}
	if b.GroupConsumerHeartbeatIntervalMs < b.GroupConsumerMinHeartbeatIntervalMs || b.GroupConsumerHeartbeatIntervalMs > b.GroupConsumerMaxHeartbeatIntervalMs {
		return fmt.Errorf("group.consumer.heartbeat.interval.ms (%d) must be between group.consumer.min.heartbeat.interval.ms (%d) and group.consumer.max.heartbeat.interval.ms (%d)", b.GroupConsumerHeartbeatIntervalMs, b.GroupConsumerMinHeartbeatIntervalMs, b.GroupConsumerMaxHeartbeatIntervalMs)
	}
	if b.GroupConsumerHeartbeatIntervalMs >= b.GroupConsumerSessionTimeoutMs {
		return fmt.Errorf("group.consumer.heartbeat.interval.ms (%d) must be less than group.consumer.session.timeout.ms (%d)", b.GroupConsumerHeartbeatIntervalMs, b.GroupConsumerSessionTimeoutMs)
	}
	// SocketServer's checks: the request memory pool must hold the largest
	// request, and a zero per-ip limit only makes sense with overrides.
	if b.QueuedMaxRequestBytes > 0 && b.QueuedMaxRequestBytes < int64(b.SocketRequestMaxBytes) {
		return fmt.Errorf("queued.max.request.bytes (%d) must be -1 or at least socket.request.max.bytes (%d)", b.QueuedMaxRequestBytes, b.SocketRequestMaxBytes)
	}
	overrides, err := ParseConnectionOverrides(b.MaxConnectionsPerIPOverrides)
	if err != nil {
		return err
	}
	if b.MaxConnectionsPerIP == 0 && len(overrides) == 0 {
		return fmt.Errorf("max.connections.per.ip can be set to zero only if max.connections.per.ip.overrides is set")
	}
	if b.LogCleanerMinCompactionLagMs > b.LogCleanerMaxCompactionLagMs {
		return fmt.Errorf("log.cleaner.min.compaction.lag.ms (%d) must not exceed log.cleaner.max.compaction.lag.ms (%d)", b.LogCleanerMinCompactionLagMs, b.LogCleanerMaxCompactionLagMs)
	}
	return nil
}

func oneIPv4OneIPv6(a, b string) bool {
	v4 := func(h string) bool { ip := net.ParseIP(h); return ip != nil && ip.To4() != nil }
	v6 := func(h string) bool { ip := net.ParseIP(h); return ip != nil && ip.To4() == nil }
	return v4(a) && v6(b) || v6(a) && v4(b)
}

// isWildcard reports whether host is the unspecified address (0.0.0.0, ::).
func isWildcard(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// ParseConnectionOverrides parses max.connections.per.ip.overrides: a
// comma-separated list of host:count, where host is an IP address or a host
// name (Kafka's ConnectionQuotas). Host names are kept as given; the server
// resolves them.
func ParseConnectionOverrides(s string) (map[string]int32, error) {
	out := map[string]int32{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		i := strings.LastIndex(part, ":")
		if i <= 0 {
			return nil, fmt.Errorf("max.connections.per.ip.overrides: %q is not host:count", part)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(part[i+1:]), 10, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("max.connections.per.ip.overrides: %q: the count must be a non-negative integer", part)
		}
		out[strings.Trim(strings.TrimSpace(part[:i]), "[]")] = int32(n)
	}
	return out, nil
}

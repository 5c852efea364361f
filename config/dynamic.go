package config

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Dynamic broker configs (KIP-226): a subset of the broker properties may be
// changed at runtime with AlterConfigs / IncrementalAlterConfigs on the
// BROKER resource, either cluster-wide (resource name "") or for one broker
// (resource name = node.id). They live in the metadata log and are layered
// over server.properties as Kafka's DynamicBrokerConfig does: static <
// dynamic cluster default < dynamic per-broker.

// dynamicExtra are the dynamic broker properties that are not broker
// synonyms of topic configs (DynamicBrokerConfig.AllDynamicConfigs: thread
// pools, the log cleaner, connection quotas, producer state).
var dynamicExtra = []string{
	"background.threads",
	"num.io.threads",
	"num.network.threads",
	"num.recovery.threads.per.data.dir",
	"num.replica.fetchers",
	"log.cleaner.threads",
	"log.cleaner.backoff.ms",
	"log.cleaner.dedupe.buffer.size",
	"max.connections",
	"max.connections.per.ip",
	"max.connections.per.ip.overrides",
	"producer.id.expiration.ms",
	"transaction.partition.verification.enable",
	"leader.replication.throttled.rate",
	"follower.replication.throttled.rate",
}

// restartOnly are properties Kafka lets a single broker change dynamically
// (listeners and their security) that Riffle reads only at startup: it
// cannot rebind listeners or reload key stores at runtime.
var restartOnly = []string{
	"listeners", "advertised.listeners", "listener.security.protocol.map",
	"sasl.jaas.config", "sasl.enabled.mechanisms",
}

var dynamicNames = func() map[string]bool {
	m := map[string]bool{}
	for _, d := range topicDefs {
		if d.BrokerSynonym == "" {
			continue
		}
		if g, ok := synonymGroups[d.BrokerSynonym]; ok {
			for _, n := range g {
				m[n] = true
			}
		} else {
			m[d.BrokerSynonym] = true
		}
	}
	for _, n := range dynamicExtra {
		m[n] = true
	}
	for n := range m {
		if _, ok := brokerDefIndex[n]; !ok {
			delete(m, n) // only what Riffle knows
		}
	}
	return m
}()

// IsDynamicBrokerConfig reports whether a broker property may be changed at
// runtime. DescribeConfigs reports the others as read-only.
func IsDynamicBrokerConfig(name string) bool { return dynamicNames[name] }

// BrokerConfigSynonyms returns the broker properties that set the same value
// as name, highest precedence first (log.retention.hours →
// log.retention.ms, log.retention.minutes, log.retention.hours), as Kafka's
// DynamicBrokerConfig.brokerConfigSynonyms. A property without synonyms is
// its own only synonym.
func BrokerConfigSynonyms(name string) []string {
	for _, g := range synonymGroups {
		if slices.Contains(g, name) {
			return slices.Clone(g)
		}
	}
	return []string{name}
}

// ValidateDynamicBrokerConfigs checks dynamic broker configs as Kafka's
// DynamicBrokerConfig.validate does: each name must be a known broker
// property that can be updated dynamically, each value valid for it. The
// error names what is wrong. perBroker is false for the cluster-wide default.
func ValidateDynamicBrokerConfigs(configs map[string]string, perBroker bool) error {
	names := slices.Sorted(maps.Keys(configs))
	for _, n := range names {
		if IsDynamicListenerSSL(n) {
			// Kafka: listener SSL stores are per broker
			// (DynamicBrokerConfig.PerBrokerConfigs).
			if !perBroker {
				return fmt.Errorf("cannot update these configs at default cluster level, broker id must be specified: [%s]", n)
			}
			continue
		}
		d, ok := brokerDefIndex[n]
		if !ok {
			return fmt.Errorf("unknown broker config name: %s", n)
		}
		if slices.Contains(restartOnly, n) || strings.HasPrefix(n, "ssl.") || strings.HasPrefix(n, listenerPrefix) {
			return fmt.Errorf("cannot update %s dynamically: Riffle reads it only at startup; set it in server.properties and restart", n)
		}
		if !dynamicNames[n] {
			return fmt.Errorf("cannot update these configs dynamically: [%s]", n)
		}
		if err := d.check(configs[n]); err != nil {
			return err
		}
	}
	return nil
}

// WithDynamic returns the effective configuration: b (the static one) with
// the cluster-wide dynamic defaults and then this broker's dynamic configs
// applied, and the log synonyms resolved again over them. b is not modified.
// With no dynamic configs it returns b itself.
func (b *Broker) WithDynamic(clusterDefault, perBroker map[string]string) (*Broker, error) {
	if len(clusterDefault) == 0 && len(perBroker) == 0 {
		return b, nil
	}
	next := *b
	next.Raw = maps.Clone(b.Raw)
	next.Sources = maps.Clone(b.Sources)
	if next.Raw == nil {
		next.Raw = map[string]string{}
	}
	if next.Sources == nil {
		next.Sources = map[string]Source{}
	}
	resolveLog := false
	for _, layer := range []struct {
		src   Source
		props map[string]string
	}{{SourceDynamicDefault, clusterDefault}, {SourceDynamicBroker, perBroker}} {
		keys := make([]string, 0, len(layer.props))
		for k := range layer.props {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if layer.src == SourceDynamicBroker && IsDynamicListenerSSL(k) {
				// The listener reads it when it next builds its TLS
				// configuration (a new connection).
				next.Raw[k], next.Sources[k] = layer.props[k], layer.src
				continue
			}
			d, ok := brokerDefIndex[k]
			if !ok || !dynamicNames[k] {
				// Written by a newer Riffle or no longer dynamic: Kafka
				// logs and skips such entries rather than refuse to start.
				continue
			}
			v := layer.props[k]
			if !d.Sensitive() {
				v = strings.TrimSpace(v)
			}
			if err := d.check(v); err != nil {
				return nil, err
			}
			next.Raw[k], next.Sources[k] = v, layer.src
			if d.set != nil {
				d.set(&next, v)
			}
			if strings.HasPrefix(k, "log.roll.") || strings.HasPrefix(k, "log.retention.") ||
				strings.HasPrefix(k, "log.flush.") || k == "log.segment.bytes" {
				resolveLog = true
			}
		}
	}
	if resolveLog {
		if err := next.resolveLogSynonyms(); err != nil {
			return nil, err
		}
	}
	return &next, nil
}

// BrokerResourceName checks the name of a BROKER config resource: "" (the
// cluster-wide default) or a node id.
func BrokerResourceName(name string) (nodeID int32, isDefault bool, err error) {
	if name == "" {
		return -1, true, nil
	}
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil || id < 0 {
		return -1, false, fmt.Errorf("broker resource name %q is neither empty (the cluster default) nor a broker id", name)
	}
	return int32(id), false, nil
}

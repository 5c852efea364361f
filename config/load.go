package config

import (
	"fmt"
	"maps"
	"os"
	"strings"
)

// envPrefix marks environment variables that set properties, as in the
// apache/kafka Docker image.
const envPrefix = "KAFKA_"

// envExcluded are KAFKA_* variables that configure the JVM, logging or the
// image rather than the broker (apache/kafka docker/resources/common-scripts/
// kafka-propertiesSpec.json, plus the variables of Kafka's start scripts).
var envExcluded = map[string]bool{
	"KAFKA_VERSION":              true,
	"KAFKA_HOME":                 true,
	"KAFKA_HEAP_OPTS":            true,
	"KAFKA_HEAP_OPT":             true,
	"KAFKA_OPTS":                 true,
	"KAFKA_JVM_PERFORMANCE_OPTS": true,
	"KAFKA_GC_LOG_OPTS":          true,
	"KAFKA_LOG4J_OPTS":           true,
	"KAFKA_LOG4J_ROOT_LOGLEVEL":  true,
	"KAFKA_LOG4J_LOGGERS":        true,
	"KAFKA_TOOLS_LOG4J_LOGLEVEL": true,
	"KAFKA_JMX_OPTS":             true,
	"KAFKA_JMX_PORT":             true,
	"KAFKA_JMX_HOSTNAME":         true,
	"KAFKA_DEBUG":                true,
}

// EnvToProperty maps a KAFKA_* environment variable name to a property name
// the way the apache/kafka Docker image does: strip KAFKA_, turn "___" into
// "-", "__" into "_" and "_" into ".", and lower-case. It returns false for
// variables that are not properties.
func EnvToProperty(name string) (string, bool) {
	if !strings.HasPrefix(name, envPrefix) || envExcluded[name] || len(name) == len(envPrefix) {
		return "", false
	}
	s := name[len(envPrefix):]
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "___"):
			b.WriteByte('-')
			i += 3
		case strings.HasPrefix(s[i:], "__"):
			b.WriteByte('_')
			i += 2
		case s[i] == '_':
			b.WriteByte('.')
			i++
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return strings.ToLower(b.String()), true
}

// noFileDefaults are the defaults of a broker started without a properties
// file. Kafka cannot start without one; its sample config/server.properties
// (which the apache/kafka image also runs when given no configuration)
// sets these for a single node, and so does Riffle's. With Kafka's own
// defaults (3, 3 and 2) a single node never has a group or transaction
// coordinator: FindCoordinator answers COORDINATOR_NOT_AVAILABLE until
// three brokers are registered. A cluster sets them, as Kafka's sample
// configurations for several nodes do.
var noFileDefaults = map[string]string{
	"offsets.topic.replication.factor":         "1",
	"transaction.state.log.replication.factor": "1",
	"transaction.state.log.min.isr":            "1",
}

// Load reads the broker configuration: defaults, then the properties file at
// path (none if path is "": noFileDefaults then), then KAFKA_* variables from env (as
// os.Environ()), then overrides (--override flags). Unknown properties are
// returned as warnings; invalid values are an error naming the property, the
// value and the reason.
func Load(path string, env []string, overrides map[string]string) (*Broker, []string, error) {
	var layers []layer
	if path == "" {
		layers = append(layers, layer{source: SourceDefault, props: maps.Clone(noFileDefaults)})
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, fmt.Errorf("open configuration file: %w", err)
		}
		props, err := ReadProperties(f)
		f.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		layers = append(layers, layer{source: SourceFile, props: props})
	}
	envProps := make(map[string]string)
	envOrigin := make(map[string]string)
	for _, kv := range env {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		prop, ok := EnvToProperty(name)
		if !ok {
			continue
		}
		envProps[prop] = value
		envOrigin[prop] = name
	}
	if len(envProps) > 0 {
		layers = append(layers, layer{source: SourceEnv, props: envProps, origin: envOrigin})
	}
	if len(overrides) > 0 {
		layers = append(layers, layer{source: SourceFlag, props: overrides})
	}
	return resolve(layers)
}

package config

import (
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Listener is one entry of listeners or advertised.listeners:
// "PLAINTEXT://:9092" is Name "PLAINTEXT", Host "" and Port 9092.
//
// An empty Host on a listener means every interface; on an advertised
// listener it means the listener's host, or the machine's hostname, which the
// server resolves. Port 0 asks for an ephemeral port; the server substitutes
// the bound one.
type Listener struct {
	Name string
	Host string
	Port int
}

// String renders the listener as Kafka writes it, bracketing IPv6 hosts.
func (l Listener) String() string {
	return l.Name + "://" + net.JoinHostPort(l.Host, strconv.Itoa(l.Port))
}

// Addr is the host:port to bind or dial.
func (l Listener) Addr() string { return net.JoinHostPort(l.Host, strconv.Itoa(l.Port)) }

// Security protocols Kafka knows (org.apache.kafka.common.security.auth.SecurityProtocol).
const (
	ProtocolPlaintext     = "PLAINTEXT"
	ProtocolSSL           = "SSL"
	ProtocolSASLPlaintext = "SASL_PLAINTEXT"
	ProtocolSASLSSL       = "SASL_SSL"
)

var securityProtocols = []string{ProtocolPlaintext, ProtocolSSL, ProtocolSASLPlaintext, ProtocolSASLSSL}

// splitCSV splits a comma-separated list, trimming blanks and dropping empty
// items, as Kafka's Csv.parseCsvList does.
func splitCSV(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// ParseListeners parses a comma-separated listener list such as
// "PLAINTEXT://:9092,CONTROLLER://localhost:9093". Like Kafka's EndpointUtils
// it upper-cases names, accepts bracketed IPv6 hosts and refuses two
// listeners with the same name. Duplicate ports are checked by the broker
// validation, because advertised listeners may share a port.
func ParseListeners(s string) ([]Listener, error) {
	var out []Listener
	seen := make(map[string]bool)
	for _, item := range splitCSV(s) {
		l, err := parseListener(item)
		if err != nil {
			return nil, err
		}
		if seen[l.Name] {
			return nil, fmt.Errorf("each listener must have a different name, but %s appears twice", l.Name)
		}
		seen[l.Name] = true
		out = append(out, l)
	}
	return out, nil
}

func parseListener(s string) (Listener, error) {
	bad := func(why string) (Listener, error) {
		return Listener{}, fmt.Errorf("listener %q: %s (want NAME://host:port)", s, why)
	}
	name, hostPort, ok := strings.Cut(s, "://")
	if !ok {
		return bad("missing \"://\"")
	}
	if name == "" {
		return bad("empty listener name")
	}
	for _, c := range name {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return bad(fmt.Sprintf("listener name has character %q", c))
		}
	}
	host, port, err := splitHostPort(hostPort)
	if err != nil {
		return bad(err.Error())
	}
	return Listener{Name: strings.ToUpper(name), Host: host, Port: port}, nil
}

// splitHostPort splits "host:port", "[v6]:port" or ":port" and checks that
// the port lies in 0..65535.
func splitHostPort(s string) (string, int, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", 0, fmt.Errorf("missing port")
	}
	host, portStr := s[:i], s[i+1:]
	if strings.HasPrefix(host, "[") {
		if !strings.HasSuffix(host, "]") {
			return "", 0, fmt.Errorf("unclosed '[' in host")
		}
		host = host[1 : len(host)-1]
	} else if strings.ContainsAny(host, "[]") {
		return "", 0, fmt.Errorf("misplaced bracket in host")
	}
	for _, c := range host {
		// The character set of Kafka's listener pattern [0-9a-zA-Z\-%._:].
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("-%._:", c)) {
			return "", 0, fmt.Errorf("host has character %q", c)
		}
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return "", 0, fmt.Errorf("port %q is not a number", portStr)
	}
	if port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %d is out of range 0..65535", port)
	}
	return host, port, nil
}

// ParseSecurityProtocolMap parses listener.security.protocol.map, e.g.
// "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT". Listener names are
// upper-cased; protocols must be ones Kafka knows.
func ParseSecurityProtocolMap(s string) (map[string]string, error) {
	m := make(map[string]string)
	for _, item := range splitCSV(s) {
		name, proto, ok := strings.Cut(item, ":")
		name, proto = strings.TrimSpace(name), strings.ToUpper(strings.TrimSpace(proto))
		if !ok || name == "" || proto == "" {
			return nil, fmt.Errorf("entry %q is not LISTENER_NAME:PROTOCOL", item)
		}
		name = strings.ToUpper(name)
		if !slices.Contains(securityProtocols, proto) {
			return nil, fmt.Errorf("entry %q: unknown security protocol %s (want one of %s)", item, proto, strings.Join(securityProtocols, ", "))
		}
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("listener name %s appears twice", name)
		}
		m[name] = proto
	}
	return m, nil
}

// formatSecurityProtocolMap renders a map in a stable order.
func formatSecurityProtocolMap(m map[string]string) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + ":" + m[n]
	}
	return strings.Join(parts, ",")
}

// Voter is one entry of controller.quorum.voters, "{id}@{host}:{port}".
type Voter struct {
	ID   int32
	Host string
	Port int
}

// Addr is the voter's host:port.
func (v Voter) Addr() string { return net.JoinHostPort(v.Host, strconv.Itoa(v.Port)) }

// ParseVoters parses controller.quorum.voters, e.g.
// "1@localhost:9093,2@kafka-2:9093", refusing duplicate ids as Kafka's
// QuorumConfig.parseVoterConnections does.
func ParseVoters(s string) ([]Voter, error) {
	var out []Voter
	seen := make(map[int32]bool)
	for _, item := range splitCSV(s) {
		idStr, hostPort, ok := strings.Cut(item, "@")
		if !ok {
			return nil, fmt.Errorf("voter %q is not {id}@{host}:{port}", item)
		}
		id, err := strconv.ParseInt(strings.TrimSpace(idStr), 10, 32)
		if err != nil || id < 0 {
			return nil, fmt.Errorf("voter %q: id %q is not a non-negative integer", item, idStr)
		}
		host, port, err := splitHostPort(hostPort)
		if err != nil {
			return nil, fmt.Errorf("voter %q: %v", item, err)
		}
		if host == "" {
			return nil, fmt.Errorf("voter %q: empty host", item)
		}
		if seen[int32(id)] {
			return nil, fmt.Errorf("voter id %d appears twice", id)
		}
		seen[int32(id)] = true
		out = append(out, Voter{ID: int32(id), Host: host, Port: port})
	}
	return out, nil
}

// ListenerProperty is the per-listener name of a property:
// listener.name.<listener lower-case>.<name>, as Kafka's
// ListenerName.configPrefix.
func ListenerProperty(listener, name string) string {
	return listenerPrefix + strings.ToLower(listener) + "." + name
}

// IsListenerSecurityProperty reports whether a listener.name.… property is
// one of the TLS and SASL settings a listener reads: ssl.*, sasl.*,
// connections.max.reauth.ms, and the mechanism-prefixed
// <mechanism>.sasl.jaas.config / <mechanism>.sasl.server.callback.handler.class.
func IsListenerSecurityProperty(key string) bool {
	rest, ok := strings.CutPrefix(key, listenerPrefix)
	if !ok {
		return false
	}
	_, prop, ok := strings.Cut(rest, ".")
	if !ok {
		return false
	}
	if strings.HasPrefix(prop, "ssl.") || strings.HasPrefix(prop, "sasl.") || prop == "connections.max.reauth.ms" {
		return true
	}
	if _, mechProp, ok := strings.Cut(prop, "."); ok && strings.HasPrefix(mechProp, "sasl.") {
		return true
	}
	return false
}

// dynamicListenerSSL are the per-listener TLS properties one broker may
// change at runtime (KIP-226's SSL reconfiguration, DynamicListenerConfig):
// new connections use the new key store; existing ones keep theirs.
var dynamicListenerSSL = []string{
	"ssl.keystore.type", "ssl.keystore.location", "ssl.keystore.password", "ssl.key.password",
	"ssl.keystore.certificate.chain", "ssl.keystore.key",
	"ssl.truststore.type", "ssl.truststore.location", "ssl.truststore.password", "ssl.truststore.certificates",
}

// IsDynamicListenerSSL reports whether key is listener.name.<l>.<one of
// dynamicListenerSSL>.
func IsDynamicListenerSSL(key string) bool {
	rest, ok := strings.CutPrefix(key, listenerPrefix)
	if !ok {
		return false
	}
	_, prop, ok := strings.Cut(rest, ".")
	return ok && slices.Contains(dynamicListenerSSL, prop)
}

// IsSensitiveListenerProperty reports whether a per-listener property is a
// secret that DescribeConfigs must not show (passwords, keys, JAAS).
func IsSensitiveListenerProperty(key string) bool {
	return strings.HasSuffix(key, ".password") || strings.HasSuffix(key, "ssl.keystore.key") ||
		strings.HasSuffix(key, "ssl.keystore.certificate.chain") || strings.HasSuffix(key, "ssl.truststore.certificates") ||
		strings.HasSuffix(key, "sasl.jaas.config")
}

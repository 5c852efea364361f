package server

// Listener security (Kafka's ChannelBuilders): a listener's security
// protocol from listener.security.protocol.map says whether its connections
// speak TLS (SSL, SASL_SSL) and whether they must authenticate with SASL
// before anything else is served (SASL_PLAINTEXT, SASL_SSL). TLS settings
// are Kafka's ssl.* properties, per listener as
// listener.name.<listener>.ssl.*; the key store may be replaced at runtime
// (IncrementalAlterConfigs of listener.name.<listener>.ssl.keystore.*, as
// Kafka's dynamic SSL reconfiguration), which new connections then use.

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/riffle-io/riffle/config"
	"github.com/riffle-io/riffle/server/auth"
)

// listenerSecurity is what one listener asks of its connections.
type listenerSecurity struct {
	name     string
	protocol string
	tls      *tlsProvider // nil: no TLS
	// sasl is set on SASL_PLAINTEXT and SASL_SSL listeners.
	sasl *saslListener
	// mapper turns a client certificate's subject into the principal's
	// name on SSL listeners (ssl.principal.mapping.rules).
	mapper *auth.SSLPrincipalMapper
}

func (s *listenerSecurity) isSASL() bool {
	return s != nil && (s.protocol == config.ProtocolSASLPlaintext || s.protocol == config.ProtocolSASLSSL)
}

// listenerProps reads a listener's security properties from the effective
// configuration: listener.name.<listener>.<name>, else <name>.
func listenerProps(cfg *config.Broker, listener string) auth.Props {
	return func(name string) (string, bool) {
		if v, ok := cfg.Raw[config.ListenerProperty(listener, name)]; ok {
			return v, true
		}
		v, ok := cfg.Raw[name]
		return v, ok
	}
}

// tlsSettings are the properties a listener's TLS configuration is built
// from: when none of them changed, the built configuration is reused.
var tlsSettings = []string{
	"ssl.keystore.type", "ssl.keystore.location", "ssl.keystore.password", "ssl.key.password",
	"ssl.keystore.certificate.chain", "ssl.keystore.key",
	"ssl.truststore.type", "ssl.truststore.location", "ssl.truststore.password", "ssl.truststore.certificates",
	"ssl.client.auth", "ssl.enabled.protocols", "ssl.cipher.suites",
}

// tlsProvider hands each new connection of a TLS listener its
// configuration, rebuilt when the listener's settings change.
type tlsProvider struct {
	b        *Broker
	listener string

	mu  sync.Mutex
	key string
	cfg *tls.Config
}

// build makes the TLS configuration from cfg, or returns the current one
// when the settings are those it was built from.
func (p *tlsProvider) build(cfg *config.Broker) (*tls.Config, error) {
	props := listenerProps(cfg, p.listener)
	var key strings.Builder
	for _, n := range tlsSettings {
		v, _ := props(n)
		fmt.Fprintf(&key, "%d:%s;", len(v), v)
		if strings.HasSuffix(n, ".location") && v != "" {
			// A store replaced in place is read again, as Kafka
			// reloads one whose file changed when its location is
			// altered (to the same path or another).
			if fi, err := os.Stat(strings.TrimSpace(v)); err == nil {
				fmt.Fprintf(&key, "%d/%d;", fi.ModTime().UnixNano(), fi.Size())
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cfg != nil && p.key == key.String() {
		return p.cfg, nil
	}
	tc, err := auth.ServerTLSConfig(props)
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", p.listener, err)
	}
	p.cfg, p.key = tc, key.String()
	return tc, nil
}

// serverConfig is the configuration tls.Server starts with: each handshake
// asks for the listener's current one.
func (p *tlsProvider) serverConfig() *tls.Config {
	return &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		tc, err := p.build(p.b.effectiveConfig())
		if err != nil {
			// A dynamic update that does not load: keep serving with
			// the previous key store, as Kafka refuses the update.
			p.b.logger.Error("TLS settings do not load; new connections keep the previous ones", "err", err)
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.cfg, nil
		}
		return tc, nil
	}}
}

// newListenerSecurity checks and prepares every listener's security at
// start, so that a listener that cannot be served refuses start-up.
func newListenerSecurity(b *Broker) (map[string]*listenerSecurity, error) {
	cfg := b.cfg
	out := map[string]*listenerSecurity{}
	for _, l := range cfg.Listeners {
		proto := cfg.ListenerSecurityProtocolMap[l.Name]
		if proto == "" {
			proto = config.ProtocolPlaintext
		}
		s := &listenerSecurity{name: l.Name, protocol: proto}
		out[l.Name] = s
		if proto == config.ProtocolPlaintext {
			continue
		}
		// Brokers and controllers reach each other over the
		// inter-broker and controller listeners with plaintext clients
		// only: securing those listeners would cut the cluster off.
		if b.isControllerListener(l.Name) {
			return nil, fmt.Errorf("listeners: controller listener %s uses security protocol %s; Riffle's controller listener serves PLAINTEXT only", l.Name, proto)
		}
		if l.Name == cfg.InterBrokerListenerName {
			return nil, fmt.Errorf("listeners: the inter-broker listener %s uses security protocol %s; Riffle's brokers talk to each other over PLAINTEXT only (set inter.broker.listener.name to a PLAINTEXT listener)", l.Name, proto)
		}
		if proto == config.ProtocolSASLPlaintext || proto == config.ProtocolSASLSSL {
			sl, err := newSASLListener(b, l.Name)
			if err != nil {
				return nil, err
			}
			s.sasl = sl
		}
		if proto == config.ProtocolSSL || proto == config.ProtocolSASLSSL {
			s.tls = &tlsProvider{b: b, listener: l.Name}
			if _, err := s.tls.build(cfg); err != nil {
				return nil, err
			}
		}
		rules, _ := listenerProps(cfg, l.Name)("ssl.principal.mapping.rules")
		m, err := auth.NewSSLPrincipalMapper(rules)
		if err != nil {
			return nil, fmt.Errorf("listener %s: %w", l.Name, err)
		}
		s.mapper = m
	}
	return out, nil
}

// tlsHandshakeTimeout bounds a TLS handshake, so that a client that opens
// a connection and says nothing does not hold it.
const tlsHandshakeTimeout = 30 * time.Second

// wrapTLS starts TLS on a newly accepted connection of a TLS listener.
func (s *listenerSecurity) wrap(nc net.Conn) net.Conn {
	if s == nil || s.tls == nil {
		return nc
	}
	return tls.Server(nc, s.tls.serverConfig())
}

// handshake completes a TLS connection's handshake and establishes the
// principal of an SSL listener's connection from its client certificate
// (Kafka's DefaultKafkaPrincipalBuilder: the mapped subject, ANONYMOUS
// without a certificate). False: the connection is to be closed.
func (c *conn) handshake(s *listenerSecurity) bool {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return true
	}
	ctx, cancel := context.WithTimeout(c.ctx, tlsHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		c.logger.Info("closing connection: TLS handshake failed", "err", err)
		return false
	}
	if s.protocol != config.ProtocolSSL {
		return true
	}
	peers := tc.ConnectionState().PeerCertificates
	if len(peers) == 0 {
		return true
	}
	dn, err := auth.FormatDN(peers[0].RawSubject)
	if err == nil {
		var name string
		if name, err = s.mapper.Name(dn); err == nil {
			c.setPrincipal(auth.Principal{Type: auth.PrincipalTypeUser, Name: name})
			return true
		}
	}
	c.logger.Info("closing connection: client certificate maps to no principal", "err", err)
	return false
}

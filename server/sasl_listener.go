package server

// A SASL listener's settings, read at start as Kafka's SaslChannelBuilder
// reads them: the enabled mechanisms (listener.name.<l>.sasl.enabled.mechanisms,
// else sasl.enabled.mechanisms), each mechanism's JAAS configuration
// (listener.name.<l>.<mechanism>.sasl.jaas.config, else sasl.jaas.config)
// and session lifetime (listener.name.<l>.<mechanism>.connections.max.reauth.ms,
// else the listener's, else connections.max.reauth.ms).

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/riffle-io/riffle/config"
	"github.com/riffle-io/riffle/controller"
	"github.com/riffle-io/riffle/server/auth"
)

// saslListener holds what a SASL listener's authentications need.
type saslListener struct {
	b          *Broker
	listener   string
	mechanisms []string // enabled, in the configured order
	// plainUsers are PLAIN's users (PlainLoginModule's user_<name> options).
	plainUsers map[string]string
	// oauth validates OAUTHBEARER tokens (sasl_oauth.go).
	oauth auth.TokenValidator
	// reauth is each mechanism's connections.max.reauth.ms (0: none).
	reauth map[string]time.Duration
}

// supportedMechanisms are the SASL mechanisms Riffle's brokers serve.
var supportedMechanisms = []string{auth.MechanismPlain, auth.MechanismScramSHA256, auth.MechanismScramSHA512, auth.MechanismOAuthBearer}

func newSASLListener(b *Broker, listener string) (*saslListener, error) {
	cfg := b.cfg
	props := listenerProps(cfg, listener)
	s := &saslListener{b: b, listener: listener, reauth: map[string]time.Duration{}}
	mechs, _ := props("sasl.enabled.mechanisms")
	for _, m := range strings.Split(mechs, ",") {
		if m = strings.TrimSpace(m); m != "" && !slices.Contains(s.mechanisms, m) {
			s.mechanisms = append(s.mechanisms, m)
		}
	}
	if len(s.mechanisms) == 0 {
		return nil, fmt.Errorf("listener %s: sasl.enabled.mechanisms is empty", listener)
	}
	for _, m := range s.mechanisms {
		if !slices.Contains(supportedMechanisms, m) {
			return nil, fmt.Errorf("listener %s: SASL mechanism %s is not supported (supported: %s); set %s or sasl.enabled.mechanisms",
				listener, m, strings.Join(supportedMechanisms, ", "), config.ListenerProperty(listener, "sasl.enabled.mechanisms"))
		}
		jaasKey := strings.ToLower(m) + ".sasl.jaas.config"
		jaas, ok := props(jaasKey)
		if !ok || strings.TrimSpace(jaas) == "" {
			jaas, ok = cfg.Raw["sasl.jaas.config"]
		}
		var modules []auth.LoginModule
		if ok && strings.TrimSpace(jaas) != "" {
			var err error
			if modules, err = auth.ParseJAAS(jaas); err != nil {
				return nil, fmt.Errorf("listener %s: %s: %w", listener, config.ListenerProperty(listener, jaasKey), err)
			}
		}
		if m == auth.MechanismPlain {
			s.plainUsers = auth.PlainUsers(modules)
			if len(s.plainUsers) == 0 {
				return nil, fmt.Errorf("listener %s: SASL/PLAIN needs users: set %s to %s required user_<name>=\"<password>\" ...;",
					listener, config.ListenerProperty(listener, jaasKey), auth.PlainLoginModule)
			}
		}
		if m == auth.MechanismOAuthBearer {
			v, err := newOAuthValidator(cfg, listener, modules)
			if err != nil {
				return nil, err
			}
			s.oauth = v
		}
		ms, err := reauthMs(cfg, listener, m)
		if err != nil {
			return nil, err
		}
		s.reauth[m] = ms
	}
	return s, nil
}

func reauthMs(cfg *config.Broker, listener, mechanism string) (time.Duration, error) {
	for _, k := range []string{
		config.ListenerProperty(listener, strings.ToLower(mechanism)+".connections.max.reauth.ms"),
		config.ListenerProperty(listener, "connections.max.reauth.ms"),
	} {
		if v, ok := cfg.Raw[k]; ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || n < 0 {
				return 0, fmt.Errorf("%s: %q is not a non-negative number of milliseconds", k, v)
			}
			return time.Duration(n) * time.Millisecond, nil
		}
	}
	return time.Duration(cfg.ConnectionsMaxReauthMs) * time.Millisecond, nil
}

// newServer starts an exchange of an enabled mechanism.
func (s *saslListener) newServer(mechanism string) auth.SaslServer {
	switch mechanism {
	case auth.MechanismPlain:
		return &auth.PlainServer{Users: s.plainUsers}
	case auth.MechanismScramSHA256:
		return s.scramServer(controller.ScramSHA256)
	case auth.MechanismScramSHA512:
		return s.scramServer(controller.ScramSHA512)
	case auth.MechanismOAuthBearer:
		return &auth.OAuthBearerServer{Validator: s.oauth}
	}
	return nil
}

// scramServer checks SCRAM credentials against the metadata image
// (UserScramCredentialRecord), read when the client names its user.
func (s *saslListener) scramServer(mechanism int8) auth.SaslServer {
	return &auth.ScramServer{Hash: controller.ScramHash(mechanism), Lookup: func(user string) (auth.ScramCredential, bool) {
		if s.b.ctrl == nil {
			return auth.ScramCredential{}, false
		}
		c, ok := s.b.ctrl.Image().ScramCredentials[user][mechanism]
		return auth.ScramCredential{Salt: c.Salt, StoredKey: c.StoredKey, ServerKey: c.ServerKey, Iterations: int(c.Iterations)}, ok
	}}
}

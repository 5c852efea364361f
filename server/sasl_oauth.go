package server

// OAUTHBEARER settings of a SASL listener, looked up as Kafka's
// SaslChannelBuilder does: listener.name.<l>.oauthbearer.<name>, then
// listener.name.<l>.<name>, then <name>. The server callback handler
// selects the validator: unset is Kafka's default, unsecured tokens
// (OAuthBearerUnsecuredValidatorCallbackHandler, options from the
// OAuthBearerLoginModule JAAS entry); OAuthBearerValidatorCallbackHandler
// validates signed JWTs against sasl.oauthbearer.jwks.endpoint.url.

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/riffle-io/riffle/config"
	"github.com/riffle-io/riffle/server/auth"
)

// Kafka's validator class names: 4.x's, and 3.x's (package "secured").
var jwtValidatorClasses = []string{
	"org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler",
	"org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerValidatorCallbackHandler",
}

const unsecuredValidatorClass = "org.apache.kafka.common.security.oauthbearer.internals.unsecured.OAuthBearerUnsecuredValidatorCallbackHandler"

// jwksFetchTimeout bounds one JWKS download.
const jwksFetchTimeout = 10 * time.Second

func oauthSetting(cfg *config.Broker, listener, name string) (string, bool) {
	for _, k := range []string{config.ListenerProperty(listener, "oauthbearer."+name), config.ListenerProperty(listener, name), name} {
		if v, ok := cfg.Raw[k]; ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// newOAuthValidator builds the listener's token validator.
func newOAuthValidator(cfg *config.Broker, listener string, modules []auth.LoginModule) (auth.TokenValidator, error) {
	class, _ := oauthSetting(cfg, listener, "sasl.server.callback.handler.class")
	get := func(name, def string) string {
		if v, ok := oauthSetting(cfg, listener, name); ok {
			return v
		}
		return def
	}
	switch {
	case class == "" || class == unsecuredValidatorClass:
		opts := map[string]string{}
		for _, m := range modules {
			if m.Class == auth.OAuthBearerLoginModule {
				opts = m.Options
			}
		}
		return auth.NewUnsecuredValidator(opts)
	case containsString(jwtValidatorClasses, class):
	default:
		return nil, fmt.Errorf("listener %s: sasl.server.callback.handler.class %s is not supported for OAUTHBEARER (use %s, or leave it unset for unsecured tokens)", listener, class, jwtValidatorClasses[0])
	}
	endpoint := get("sasl.oauthbearer.jwks.endpoint.url", "")
	if endpoint == "" {
		return nil, fmt.Errorf("listener %s: OAuthBearerValidatorCallbackHandler needs sasl.oauthbearer.jwks.endpoint.url", listener)
	}
	fetch, err := jwksFetcher(endpoint)
	if err != nil {
		return nil, fmt.Errorf("listener %s: sasl.oauthbearer.jwks.endpoint.url: %w", listener, err)
	}
	num := func(name, def string) (int64, error) {
		n, err := strconv.ParseInt(get(name, def), 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("listener %s: %s is not a non-negative number", listener, name)
		}
		return n, nil
	}
	refresh, err := num("sasl.oauthbearer.jwks.endpoint.refresh.ms", "3600000")
	if err != nil {
		return nil, err
	}
	skew, err := num("sasl.oauthbearer.clock.skew.seconds", "30")
	if err != nil {
		return nil, err
	}
	keys := &auth.JWKS{Fetch: fetch, Refresh: time.Duration(refresh) * time.Millisecond, MinRefresh: 10 * time.Second}
	if err := keys.Load(); err != nil {
		return nil, fmt.Errorf("listener %s: %w", listener, err)
	}
	var aud []string
	for _, a := range strings.Split(get("sasl.oauthbearer.expected.audience", ""), ",") {
		if a = strings.TrimSpace(a); a != "" {
			aud = append(aud, a)
		}
	}
	return &auth.JWTValidator{
		Keys:             keys,
		ExpectedAudience: aud,
		ExpectedIssuer:   get("sasl.oauthbearer.expected.issuer", ""),
		SubClaim:         get("sasl.oauthbearer.sub.claim.name", "sub"),
		ScopeClaim:       get("sasl.oauthbearer.scope.claim.name", "scope"),
		ClockSkew:        time.Duration(skew) * time.Second,
	}, nil
}

// maxJWKSBytes bounds a JWKS document.
const maxJWKSBytes = 1 << 20

// jwksFetcher reads a JWKS from a file:// or http(s):// URL.
func jwksFetcher(endpoint string) (func() ([]byte, error), error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "file":
		return func() ([]byte, error) { return os.ReadFile(u.Path) }, nil
	case "http", "https":
		client := &http.Client{Timeout: jwksFetchTimeout}
		return func() ([]byte, error) {
			resp, err := client.Get(endpoint)
			if err != nil {
				return nil, err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return nil, fmt.Errorf("GET %s: %s", endpoint, resp.Status)
			}
			return io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes))
		}, nil
	}
	return nil, fmt.Errorf("unsupported URL scheme %q (https, http or file)", u.Scheme)
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

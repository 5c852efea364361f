package server_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func jsonB64(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64(b)
}

// unsecuredToken is an unsigned JWS as Kafka's
// OAuthBearerUnsecuredLoginCallbackHandler makes them.
func unsecuredToken(t *testing.T, claims map[string]any) string {
	return jsonB64(t, map[string]any{"alg": "none"}) + "." + jsonB64(t, claims) + "."
}

// oauthRefused checks, by hand, that token is answered with Kafka's JSON
// error challenge containing want, and that the client's 0x01 then fails
// the authentication with that message; and that franz-go fails too.
func oauthRefused(t *testing.T, addr, name, token, want string) {
	t.Helper()
	f := dialFrames(t, addr)
	f.request(1, kmsgHandshake("OAUTHBEARER"))
	if _, err := f.read(); err != nil {
		t.Fatal(err)
	}
	if code, msg := f.authenticateErr(2, []byte("n,,\x01auth=Bearer "+token+"\x01\x01")); code != 0 || !strings.Contains(string(f.challenge), want) {
		t.Errorf("%s: %d %q, challenge %q; want a challenge with %s", name, code, msg, f.challenge, want)
		return
	}
	challenge := string(f.challenge)
	if code, msg := f.authenticateErr(3, []byte{1}); code != kerr.SaslAuthenticationFailed.Code || msg != challenge {
		t.Errorf("%s: after 0x01: %d %q; want SASL_AUTHENTICATION_FAILED %q", name, code, msg, challenge)
	}
	f.expectClosed(name)
	bad := newClient(t, addr, oauthOpt(token), kgo.RetryTimeout(time.Second))
	if err := bad.Ping(ctxFor(t, 30*time.Second)); err == nil {
		t.Errorf("%s: franz-go authenticated", name)
	}
	bad.Close()
}

func oauthOpt(token string) kgo.Opt {
	return kgo.SASL(oauth.Auth{Token: token}.AsMechanism())
}

// TestOAuthBearerUnsecured: Kafka's default OAUTHBEARER validator with the
// JAAS options unsecuredValidatorRequiredScope and
// unsecuredValidatorPrincipalClaimName; expired tokens and missing scopes
// are refused with Kafka's JSON error status.
func TestOAuthBearerUnsecured(t *testing.T) {
	tb := startBroker(t, withListener("SASL_PLAINTEXT", "SASL_PLAINTEXT", map[string]string{
		"listener.name.sasl_plaintext.sasl.enabled.mechanisms": "OAUTHBEARER",
		"listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config": `org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required
			unsecuredValidatorPrincipalClaimName="user" unsecuredValidatorRequiredScope="kafka"
			unsecuredValidatorAllowableClockSkewMs="1000";`,
	}))
	addr := tb.b.ListenerAddr("SASL_PLAINTEXT")
	now := time.Now().Unix()
	good := unsecuredToken(t, map[string]any{"user": "carol", "exp": now + 3600, "iat": now, "scope": "kafka other"})
	cl := newClient(t, addr, oauthOpt(good))
	produceConsumeOne(t, cl, "oauth-unsecured")
	if got := tb.b.ConnectionPrincipals(); !contains(got, "User:carol") {
		t.Fatalf("principals %v", got)
	}
	for name, tc := range map[string]struct {
		token string
		want  string
	}{
		"expired":      {unsecuredToken(t, map[string]any{"user": "carol", "exp": now - 60, "scope": "kafka"}), `{"status":"invalid_token"}`},
		"no scope":     {unsecuredToken(t, map[string]any{"user": "carol", "exp": now + 60, "scope": "other"}), `"status":"insufficient_scope"`},
		"no principal": {unsecuredToken(t, map[string]any{"sub": "carol", "exp": now + 60, "scope": "kafka"}), `{"status":"invalid_token"}`},
		"signed":       {jsonB64(t, map[string]any{"alg": "HS256"}) + "." + jsonB64(t, map[string]any{"user": "x", "exp": now + 60}) + ".c2ln", `{"status":"invalid_token"}`},
		"garbage":      {"not-a-jwt", `{"status":"invalid_token"}`},
		"future iat":   {unsecuredToken(t, map[string]any{"user": "carol", "exp": now + 7200, "iat": now + 3600, "scope": "kafka"}), `{"status":"invalid_token"}`},
	} {
		oauthRefused(t, addr, name, tc.token, tc.want)
	}
}

// TestOAuthBearerJWKS: OAuthBearerValidatorCallbackHandler with a JWKS file:
// RS256 and ES256 tokens from the expected issuer for the expected
// audience authenticate; a wrong audience, issuer, signature or key id
// does not.
func TestOAuthBearerJWKS(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pad := func(b []byte, n int) []byte { return append(make([]byte, n-len(b)), b...) }
	jwks := map[string]any{"keys": []map[string]any{
		{"kty": "RSA", "kid": "rsa1", "use": "sig", "n": b64(rsaKey.N.Bytes()), "e": b64(big.NewInt(int64(rsaKey.E)).Bytes())},
		{"kty": "EC", "kid": "ec1", "crv": "P-256", "x": b64(pad(ecKey.X.Bytes(), 32)), "y": b64(pad(ecKey.Y.Bytes(), 32))},
	}}
	data, _ := json.Marshal(jwks)
	file := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	sign := func(alg, kid string, claims map[string]any) string {
		input := jsonB64(t, map[string]any{"alg": alg, "kid": kid, "typ": "JWT"}) + "." + jsonB64(t, claims)
		d := sha256.Sum256([]byte(input))
		var sig []byte
		if alg == "RS256" {
			sig, err = rsa.SignPKCS1v15(rand.Reader, rsaKey, crypto.SHA256, d[:])
			if err != nil {
				t.Fatal(err)
			}
		} else {
			r, s, err := ecdsa.Sign(rand.Reader, ecKey, d[:])
			if err != nil {
				t.Fatal(err)
			}
			sig = append(pad(r.Bytes(), 32), pad(s.Bytes(), 32)...)
		}
		return input + "." + b64(sig)
	}
	tb := startBroker(t, withListener("SASL_PLAINTEXT", "SASL_PLAINTEXT", map[string]string{
		"listener.name.sasl_plaintext.sasl.enabled.mechanisms":                        "OAUTHBEARER",
		"listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class": "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler",
		"listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config":                   "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;",
		"sasl.oauthbearer.jwks.endpoint.url":                                          "file://" + file,
		"sasl.oauthbearer.expected.audience":                                          "riffle,kafka",
		"sasl.oauthbearer.expected.issuer":                                            "https://idp.example",
	}))
	addr := tb.b.ListenerAddr("SASL_PLAINTEXT")
	now := time.Now().Unix()
	claims := func(sub, aud, iss string) map[string]any {
		return map[string]any{"sub": sub, "aud": aud, "iss": iss, "exp": now + 3600, "iat": now}
	}
	for _, alg := range []string{"RS256", "ES256"} {
		kid := map[string]string{"RS256": "rsa1", "ES256": "ec1"}[alg]
		sub := "svc-" + strings.ToLower(alg)
		cl := newClient(t, addr, oauthOpt(sign(alg, kid, claims(sub, "kafka", "https://idp.example"))))
		produceConsumeOne(t, cl, "oauth-"+strings.ToLower(alg))
		if got := tb.b.ConnectionPrincipals(); !contains(got, "User:"+sub) {
			t.Fatalf("%s: principals %v", alg, got)
		}
	}
	good := sign("RS256", "rsa1", claims("x", "kafka", "https://idp.example"))
	tampered := good[:strings.LastIndexByte(good, '.')] + "." + b64([]byte("forged-signature-bytes-of-some-length"))
	for name, token := range map[string]string{
		"wrong audience": sign("RS256", "rsa1", claims("x", "other", "https://idp.example")),
		"wrong issuer":   sign("RS256", "rsa1", claims("x", "kafka", "https://evil.example")),
		"unknown kid":    sign("RS256", "nope", claims("x", "kafka", "https://idp.example")),
		"wrong key":      sign("ES256", "rsa1", claims("x", "kafka", "https://idp.example")),
		"bad signature":  tampered,
		"unsecured":      unsecuredToken(t, claims("x", "kafka", "https://idp.example")),
	} {
		oauthRefused(t, addr, name, token, `{"status":"invalid_token"}`)
	}
}

// TestReauthentication (KIP-368): with connections.max.reauth.ms the
// session lifetime goes to the client, franz-go re-authenticates on its
// live connection and keeps working; a connection that does not
// re-authenticate is closed on its next request after the lifetime; an
// OAUTHBEARER token's exp bounds the session too.
func TestReauthentication(t *testing.T) {
	tb := startBroker(t, withListener("SASL_PLAINTEXT", "SASL_PLAINTEXT", map[string]string{
		"sasl.enabled.mechanisms":                                      "PLAIN,OAUTHBEARER",
		"listener.name.sasl_plaintext.plain.sasl.jaas.config":          plainJAAS,
		"listener.name.sasl_plaintext.plain.connections.max.reauth.ms": "1500",
	}))
	addr := tb.b.ListenerAddr("SASL_PLAINTEXT")
	cl := newClient(t, addr, plainAuth("alice", "alice-secret"))
	produceConsumeOne(t, cl, "reauth")
	deadline := time.Now().Add(6 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		if err := cl.ProduceSync(ctxFor(t, 30*time.Second), &kgo.Record{Topic: "reauth", Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatalf("produce %d while re-authenticating: %v", i, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, re := tb.b.SASLAuthentications(); re == 0 {
		t.Fatal("franz-go never re-authenticated")
	}

	// By hand: authenticate (v1, SessionLifetimeMs), wait past the
	// lifetime, send Metadata: closed.
	f := dialFrames(t, addr)
	hs := kmsgHandshake("PLAIN")
	f.request(1, hs)
	if _, err := f.read(); err != nil {
		t.Fatal(err)
	}
	lifetime := f.authenticate(2, []byte("\x00alice\x00alice-secret"))
	if lifetime != 1500 {
		t.Fatalf("session lifetime %d ms; want 1500", lifetime)
	}
	time.Sleep(1700 * time.Millisecond)
	f.request(3, kmsgMetadata())
	f.expectClosed("request after the session expired")

	// OAUTHBEARER: the token's exp bounds the session (no reauth ms set
	// for this mechanism).
	f = dialFrames(t, addr)
	f.request(1, kmsgHandshake("OAUTHBEARER"))
	if _, err := f.read(); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(20 * time.Second).Unix()
	tok := unsecuredToken(t, map[string]any{"sub": "dora", "exp": exp})
	lifetime = f.authenticate(2, []byte("n,,\x01auth=Bearer "+tok+"\x01\x01"))
	if lifetime <= 0 || lifetime > 20_000 {
		t.Fatalf("OAUTHBEARER session lifetime %d ms; want up to the token's 20 s", lifetime)
	}
	// Re-authentication as another principal is refused.
	f.request(3, kmsgHandshake("OAUTHBEARER"))
	if _, err := f.read(); err != nil {
		t.Fatal(err)
	}
	other := unsecuredToken(t, map[string]any{"sub": "eve", "exp": exp})
	code, msg := f.authenticateErr(4, []byte("n,,\x01auth=Bearer "+other+"\x01\x01"))
	if code != kerr.SaslAuthenticationFailed.Code || !strings.Contains(msg, "Cannot change principals during re-authentication from User.dora: User.eve") {
		t.Fatalf("re-authentication as another principal: %d %q", code, msg)
	}
}

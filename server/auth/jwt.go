package auth

// JSON Web Tokens for OAUTHBEARER (RFC 7519), validated with the standard
// library: the compact serialization, the claims Kafka checks (exp, iat,
// the principal and scope claims, aud, iss) and signatures (RS*, ES*)
// against a JSON Web Key Set (RFC 7517).

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"
)

// jwtParts decodes a compact JWS into its header, claims and signature.
func jwtParts(token string) (header, claims map[string]any, signingInput string, sig []byte, err error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, nil, "", nil, &TokenError{Status: "invalid_token", Reason: "the token is not a compact JWS (header.payload.signature)"}
	}
	dec := func(s, what string, v *map[string]any) error {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
		if err != nil {
			return &TokenError{Status: "invalid_token", Reason: "the token's " + what + " is not base64url"}
		}
		d := json.NewDecoder(strings.NewReader(string(b)))
		d.UseNumber()
		if err := d.Decode(v); err != nil || *v == nil {
			return &TokenError{Status: "invalid_token", Reason: "the token's " + what + " is not a JSON object"}
		}
		return nil
	}
	if err := dec(parts[0], "header", &header); err != nil {
		return nil, nil, "", nil, err
	}
	if err := dec(parts[1], "payload", &claims); err != nil {
		return nil, nil, "", nil, err
	}
	sig, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[2], "="))
	if err != nil {
		return nil, nil, "", nil, &TokenError{Status: "invalid_token", Reason: "the token's signature is not base64url"}
	}
	return header, claims, parts[0] + "." + parts[1], sig, nil
}

func invalid(format string, args ...any) error {
	return &TokenError{Status: "invalid_token", Reason: fmt.Sprintf(format, args...)}
}

// numericDate reads a NumericDate claim (seconds, possibly fractional).
func numericDate(claims map[string]any, name string) (time.Time, bool, error) {
	v, ok := claims[name]
	if !ok {
		return time.Time{}, false, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, true, invalid("the %s claim is not a number", name)
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e12 {
		return time.Time{}, true, invalid("the %s claim is not a valid time", name)
	}
	return time.UnixMilli(int64(f * 1000)), true, nil
}

// scopeClaim reads a scope claim: a space-separated string or a list.
func scopeClaim(claims map[string]any, name string) ([]string, error) {
	switch v := claims[name].(type) {
	case nil:
		return nil, nil
	case string:
		return strings.Fields(v), nil
	case []any:
		var out []string
		for _, s := range v {
			str, ok := s.(string)
			if !ok {
				return nil, invalid("the %s claim is not a list of strings", name)
			}
			out = append(out, str)
		}
		return out, nil
	}
	return nil, invalid("the %s claim is neither a string nor a list", name)
}

// claimsToken applies the checks both validators share
// (OAuthBearerValidationUtils): the principal claim is a non-empty string,
// exp is present and not past, iat not in the future, exp after iat.
func claimsToken(claims map[string]any, principalClaim, scopeClaimName string, skew time.Duration, now time.Time) (Token, error) {
	sub, ok := claims[principalClaim].(string)
	if !ok || strings.TrimSpace(sub) == "" {
		return Token{}, invalid("the token has no %s claim (a non-empty string) to name the principal", principalClaim)
	}
	exp, has, err := numericDate(claims, "exp")
	if err != nil {
		return Token{}, err
	}
	if !has {
		return Token{}, invalid("the token has no exp claim")
	}
	if !now.Before(exp.Add(skew)) {
		return Token{}, invalid("the token expired at %s", exp.UTC().Format(time.RFC3339))
	}
	iat, has, err := numericDate(claims, "iat")
	if err != nil {
		return Token{}, err
	}
	if has {
		if iat.After(now.Add(skew)) {
			return Token{}, invalid("the token was issued in the future (iat %s)", iat.UTC().Format(time.RFC3339))
		}
		if !exp.After(iat) {
			return Token{}, invalid("the token's exp is not after its iat")
		}
	}
	scope, err := scopeClaim(claims, scopeClaimName)
	if err != nil {
		return Token{}, err
	}
	return Token{Principal: sub, Expiry: exp, Scope: scope}, nil
}

// UnsecuredValidator is Kafka's OAuthBearerUnsecuredValidatorCallbackHandler:
// tokens are unsigned (alg "none"); its options come from the
// OAuthBearerLoginModule JAAS options unsecuredValidator*.
type UnsecuredValidator struct {
	PrincipalClaim string        // unsecuredValidatorPrincipalClaimName, default "sub"
	ScopeClaim     string        // unsecuredValidatorScopeClaimName, default "scope"
	RequiredScope  []string      // unsecuredValidatorRequiredScope
	ClockSkew      time.Duration // unsecuredValidatorAllowableClockSkewMs
}

// NewUnsecuredValidator reads the JAAS options.
func NewUnsecuredValidator(opts map[string]string) (*UnsecuredValidator, error) {
	v := &UnsecuredValidator{PrincipalClaim: "sub", ScopeClaim: "scope"}
	if s := strings.TrimSpace(opts["unsecuredValidatorPrincipalClaimName"]); s != "" {
		v.PrincipalClaim = s
	}
	if s := strings.TrimSpace(opts["unsecuredValidatorScopeClaimName"]); s != "" {
		v.ScopeClaim = s
	}
	v.RequiredScope = strings.FieldsFunc(opts["unsecuredValidatorRequiredScope"], func(r rune) bool { return r == ' ' || r == ',' })
	if s := strings.TrimSpace(opts["unsecuredValidatorAllowableClockSkewMs"]); s != "" {
		var ms int64
		if _, err := fmt.Sscan(s, &ms); err != nil || ms < 0 {
			return nil, fmt.Errorf("unsecuredValidatorAllowableClockSkewMs: %q is not a non-negative number", s)
		}
		v.ClockSkew = time.Duration(ms) * time.Millisecond
	}
	return v, nil
}

func (v *UnsecuredValidator) Validate(token string, now time.Time) (Token, error) {
	header, claims, _, sig, err := jwtParts(token)
	if err != nil {
		return Token{}, err
	}
	if len(sig) != 0 || header["alg"] != "none" {
		return Token{}, invalid("an unsecured token must have alg \"none\" and no signature")
	}
	tok, err := claimsToken(claims, v.PrincipalClaim, v.ScopeClaim, v.ClockSkew, now)
	if err != nil {
		return Token{}, err
	}
	for _, want := range v.RequiredScope {
		if !slices.Contains(tok.Scope, want) {
			return Token{}, &TokenError{Status: "insufficient_scope", Scope: strings.Join(v.RequiredScope, " "),
				Reason: fmt.Sprintf("the token's scope lacks %q", want)}
		}
	}
	return tok, nil
}

// JWTValidator is Kafka's OAuthBearerValidatorCallbackHandler: a signed JWT
// checked against the keys of a JWKS, its aud and iss.
type JWTValidator struct {
	Keys             *JWKS
	ExpectedAudience []string // sasl.oauthbearer.expected.audience: one must match
	ExpectedIssuer   string   // sasl.oauthbearer.expected.issuer
	SubClaim         string   // sasl.oauthbearer.sub.claim.name
	ScopeClaim       string   // sasl.oauthbearer.scope.claim.name
	ClockSkew        time.Duration
}

func (v *JWTValidator) Validate(token string, now time.Time) (Token, error) {
	header, claims, input, sig, err := jwtParts(token)
	if err != nil {
		return Token{}, err
	}
	alg, _ := header["alg"].(string)
	kid, _ := header["kid"].(string)
	key, err := v.Keys.Key(kid)
	if err != nil {
		return Token{}, invalid("%v", err)
	}
	if err := verifyJWS(alg, key, input, sig); err != nil {
		return Token{}, err
	}
	tok, err := claimsToken(claims, v.SubClaim, v.ScopeClaim, v.ClockSkew, now)
	if err != nil {
		return Token{}, err
	}
	if v.ExpectedIssuer != "" {
		if iss, _ := claims["iss"].(string); iss != v.ExpectedIssuer {
			return Token{}, invalid("the token's issuer %q is not the expected %q", iss, v.ExpectedIssuer)
		}
	}
	if len(v.ExpectedAudience) > 0 {
		var aud []string
		switch a := claims["aud"].(type) {
		case string:
			aud = []string{a}
		case []any:
			for _, x := range a {
				if s, ok := x.(string); ok {
					aud = append(aud, s)
				}
			}
		}
		found := false
		for _, a := range aud {
			found = found || slices.Contains(v.ExpectedAudience, a)
		}
		if !found {
			return Token{}, invalid("the token's audience %v is not among the expected %v", aud, v.ExpectedAudience)
		}
	}
	return tok, nil
}

// verifyJWS checks a signature with the algorithms Kafka's default
// validator accepts (jose4j's RSA and ECDSA families).
func verifyJWS(alg string, key crypto.PublicKey, input string, sig []byte) error {
	var h crypto.Hash
	switch alg {
	case "RS256", "ES256", "PS256":
		h = crypto.SHA256
	case "RS384", "ES384", "PS384":
		h = crypto.SHA384
	case "RS512", "ES512", "PS512":
		h = crypto.SHA512
	default:
		return invalid("unsupported signature algorithm %q", alg)
	}
	var digest []byte
	switch h {
	case crypto.SHA256:
		d := sha256.Sum256([]byte(input))
		digest = d[:]
	case crypto.SHA384:
		d := sha512.Sum384([]byte(input))
		digest = d[:]
	default:
		d := sha512.Sum512([]byte(input))
		digest = d[:]
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		var err error
		switch alg[0] {
		case 'R':
			err = rsa.VerifyPKCS1v15(k, h, digest, sig)
		case 'P':
			err = rsa.VerifyPSS(k, h, digest, sig, nil)
		default:
			return invalid("algorithm %s does not fit an RSA key", alg)
		}
		if err != nil {
			return invalid("the token's signature does not verify")
		}
		return nil
	case *ecdsa.PublicKey:
		if alg[0] != 'E' {
			return invalid("algorithm %s does not fit an EC key", alg)
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return invalid("the token's signature does not verify")
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		if !ecdsa.Verify(k, digest, r, s) {
			return invalid("the token's signature does not verify")
		}
		return nil
	}
	return invalid("unsupported key type")
}

// JWKS is a JSON Web Key Set, fetched again when a token names a key it does
// not hold (a rotated key), at most once per MinRefresh, and every Refresh.
type JWKS struct {
	Fetch      func() ([]byte, error)
	Refresh    time.Duration // sasl.oauthbearer.jwks.endpoint.refresh.ms
	MinRefresh time.Duration

	mu      sync.Mutex
	keys    map[string]crypto.PublicKey
	fetched time.Time
}

// Load fetches the keys; done at start, so that a bad endpoint refuses it.
func (j *JWKS) Load() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.loadLocked()
}

func (j *JWKS) loadLocked() error {
	data, err := j.Fetch()
	j.fetched = time.Now()
	if err != nil {
		return fmt.Errorf("JWKS: %w", err)
	}
	keys, err := ParseJWKS(data)
	if err != nil {
		return err
	}
	j.keys = keys
	return nil
}

// Key returns the key with id kid (the only key when kid is empty and the
// set holds one).
func (j *JWKS) Key(kid string) (crypto.PublicKey, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	find := func() (crypto.PublicKey, bool) {
		if kid == "" && len(j.keys) == 1 {
			for _, k := range j.keys {
				return k, true
			}
		}
		k, ok := j.keys[kid]
		return k, ok
	}
	stale := j.Refresh > 0 && time.Since(j.fetched) > j.Refresh
	if k, ok := find(); ok && !stale {
		return k, nil
	}
	if stale || time.Since(j.fetched) >= j.MinRefresh {
		if err := j.loadLocked(); err != nil && j.keys == nil {
			return nil, err
		}
	}
	if k, ok := find(); ok {
		return k, nil
	}
	return nil, fmt.Errorf("no key with id %q in the JWKS", kid)
}

// ParseJWKS reads the RSA and EC signing keys of a JWKS document.
func ParseJWKS(data []byte) (map[string]crypto.PublicKey, error) {
	var doc struct {
		Keys []struct {
			Kty, Kid, Use, Crv, N, E, X, Y string
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	b64 := func(s string) (*big.Int, error) {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
		if err != nil || len(b) == 0 {
			return nil, errors.New("bad base64url number")
		}
		return new(big.Int).SetBytes(b), nil
	}
	keys := map[string]crypto.PublicKey{}
	for _, k := range doc.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch k.Kty {
		case "RSA":
			n, err := b64(k.N)
			if err != nil {
				return nil, fmt.Errorf("JWKS key %q: n: %w", k.Kid, err)
			}
			e, err := b64(k.E)
			if err != nil || !e.IsInt64() || e.Int64() > math.MaxInt32 || e.Int64() < 3 {
				return nil, fmt.Errorf("JWKS key %q: bad exponent", k.Kid)
			}
			keys[k.Kid] = &rsa.PublicKey{N: n, E: int(e.Int64())}
		case "EC":
			var curve elliptic.Curve
			switch k.Crv {
			case "P-256":
				curve = elliptic.P256()
			case "P-384":
				curve = elliptic.P384()
			case "P-521":
				curve = elliptic.P521()
			default:
				continue
			}
			x, err := b64(k.X)
			if err != nil {
				return nil, fmt.Errorf("JWKS key %q: x: %w", k.Kid, err)
			}
			y, err := b64(k.Y)
			if err != nil {
				return nil, fmt.Errorf("JWKS key %q: y: %w", k.Kid, err)
			}
			pk := &ecdsa.PublicKey{Curve: curve, X: x, Y: y}
			if !curve.IsOnCurve(x, y) {
				return nil, fmt.Errorf("JWKS key %q: point not on %s", k.Kid, k.Crv)
			}
			keys[k.Kid] = pk
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("JWKS: no RSA or EC signing key")
	}
	return keys, nil
}

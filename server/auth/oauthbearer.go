package auth

// SASL/OAUTHBEARER (RFC 7628, KIP-255, KIP-768) on the server side, as
// Kafka's OAuthBearerSaslServer: the client's initial response carries a
// bearer token; a validator turns it into a principal and a lifetime (the
// token's exp, which bounds the session, KIP-368). A token that does not
// validate is answered with Kafka's JSON error challenge; the client
// acknowledges it with a single 0x01 and the authentication fails.
//
// Two validators, as Kafka's two callback handlers:
//   - UnsecuredValidator (OAuthBearerUnsecuredValidatorCallbackHandler,
//     Kafka's default): unsigned JWS (alg "none"), for development only;
//   - JWTValidator (OAuthBearerValidatorCallbackHandler): a signed JWT
//     (RS256/384/512, ES256/384/512) checked against a JWKS, with the
//     expected audience and issuer (jwt.go).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Token is a validated bearer token.
type Token struct {
	Principal string
	Expiry    time.Time
	Scope     []string
}

// TokenError is a token that does not validate: its status ("invalid_token",
// "insufficient_scope") goes back to the client in the error challenge.
type TokenError struct {
	Status string
	Scope  string
	Reason string
}

func (e *TokenError) Error() string { return e.Reason }

// TokenValidator validates a token's compact serialization.
type TokenValidator interface {
	Validate(token string, now time.Time) (Token, error)
}

// OAuthBearerServer is one OAUTHBEARER exchange.
type OAuthBearerServer struct {
	Validator TokenValidator
	Now       func() time.Time // nil: time.Now

	errorChallenge []byte // sent; the client must answer 0x01
	token          Token
	done           bool
}

const maxOAuthBearerMessage = 64 << 10

func (s *OAuthBearerServer) Evaluate(resp []byte) ([]byte, bool, error) {
	if len(resp) > maxOAuthBearerMessage {
		return nil, false, errors.New("OAUTHBEARER message too long")
	}
	if s.errorChallenge != nil {
		if len(resp) == 1 && resp[0] == 0x01 {
			return nil, false, &AuthenticationError{Msg: string(s.errorChallenge)}
		}
		return nil, false, errors.New("OAUTHBEARER: expected the client's acknowledgement of the error")
	}
	if s.done {
		return nil, false, errors.New("OAUTHBEARER exchange already complete")
	}
	authzID, tokenValue, err := parseOAuthBearerInitial(resp)
	if err != nil {
		return nil, false, err
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	tok, err := s.Validator.Validate(tokenValue, now())
	if err != nil {
		var te *TokenError
		if !errors.As(err, &te) {
			te = &TokenError{Status: "invalid_token", Reason: err.Error()}
		}
		// Kafka's jsonErrorResponse: {"status":"…"[,"scope":"…"]}.
		m := map[string]string{"status": te.Status}
		if te.Scope != "" {
			m["scope"] = te.Scope
		}
		s.errorChallenge, _ = json.Marshal(m)
		return s.errorChallenge, false, nil
	}
	if authzID != "" && authzID != tok.Principal {
		return nil, false, &AuthenticationError{Msg: fmt.Sprintf("Authentication failed: Client requested an authorization id (%s) that is different from the token's principal name (%s)", authzID, tok.Principal)}
	}
	s.token, s.done = tok, true
	return []byte{}, true, nil
}

// parseOAuthBearerInitial reads "n,[a=authzid],\x01auth=Bearer <token>\x01[k=v\x01]...\x01"
// (Kafka's OAuthBearerClientInitialResponse).
func parseOAuthBearerInitial(b []byte) (authzID, token string, err error) {
	bad := errors.New("Invalid OAUTHBEARER client first message")
	gs2, rest, ok := bytes.Cut(b, []byte{0x01})
	if !ok {
		return "", "", bad
	}
	parts := strings.Split(string(gs2), ",")
	if len(parts) != 3 || parts[0] != "n" && parts[0] != "y" || parts[2] != "" {
		return "", "", bad
	}
	if parts[1] != "" {
		a, ok := strings.CutPrefix(parts[1], "a=")
		if !ok {
			return "", "", bad
		}
		authzID = a
	}
	if !bytes.HasSuffix(rest, []byte{0x01}) {
		return "", "", bad
	}
	for _, kv := range strings.Split(string(rest[:len(rest)-1]), "\x01") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return "", "", bad
		}
		if k == "auth" {
			t, ok := strings.CutPrefix(v, "Bearer ")
			if !ok {
				return "", "", bad
			}
			token = strings.TrimSpace(t)
		}
		// Other keys are SASL extensions (KIP-342), which the default
		// validators ignore.
	}
	if token == "" {
		return "", "", bad
	}
	return authzID, token, nil
}

func (s *OAuthBearerServer) AuthorizationID() string     { return s.token.Principal }
func (s *OAuthBearerServer) CredentialExpiry() time.Time { return s.token.Expiry }

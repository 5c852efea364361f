package auth

// SASL on the server side (javax.security.sasl.SaslServer as Kafka's
// mechanisms implement it): a SaslServer takes the client's tokens one at a
// time until the exchange completes with an authorization id, the
// principal's name.

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"
)

// Mechanism names, as clients send them in SaslHandshake.
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
	MechanismOAuthBearer = "OAUTHBEARER"
	MechanismGSSAPI      = "GSSAPI"
)

// SaslServer is one authentication exchange.
type SaslServer interface {
	// Evaluate takes the client's next token and returns the server's
	// answer; done reports that the exchange is complete and succeeded.
	Evaluate(token []byte) (challenge []byte, done bool, err error)
	// AuthorizationID is the authenticated name, once done.
	AuthorizationID() string
	// CredentialExpiry is when the credential stops being valid (an
	// OAUTHBEARER token's exp), zero when it does not expire; it bounds
	// the session (KIP-368).
	CredentialExpiry() time.Time
}

// AuthenticationError fails an authentication with a message for the
// client (Kafka's SaslAuthenticationException). Any other error from
// Evaluate is reported with Kafka's generic "invalid credentials" message,
// which does not tell whether the user exists.
type AuthenticationError struct{ Msg string }

func (e *AuthenticationError) Error() string { return e.Msg }

// ErrInvalidCredentials is the generic failure (a SaslException in Kafka).
var ErrInvalidCredentials = errors.New("invalid credentials")

// PlainServer is SASL/PLAIN (RFC 4616) against a fixed user list, as
// Kafka's PlainSaslServer with PlainServerCallbackHandler.
type PlainServer struct {
	Users  map[string]string
	authID string
	done   bool
}

// Evaluate reads "authzid NUL authcid NUL password".
func (s *PlainServer) Evaluate(token []byte) ([]byte, bool, error) {
	if s.done {
		return nil, false, errors.New("SASL/PLAIN exchange already complete")
	}
	parts := bytes.Split(token, []byte{0})
	if len(parts) != 3 {
		return nil, false, fmt.Errorf("Invalid SASL/PLAIN response: expected 3 tokens, got %d", len(parts))
	}
	authzID, user, password := string(parts[0]), string(parts[1]), parts[2]
	if user == "" {
		return nil, false, &AuthenticationError{Msg: "Authentication failed: username not specified"}
	}
	if len(password) == 0 {
		return nil, false, &AuthenticationError{Msg: "Authentication failed: password not specified"}
	}
	want, ok := s.Users[user]
	// Compare even for an unknown user, so timing does not tell.
	match := subtle.ConstantTimeCompare([]byte(want), password) == 1
	if !ok || !match {
		return nil, false, &AuthenticationError{Msg: "Authentication failed: Invalid username or password"}
	}
	if authzID != "" && authzID != user {
		return nil, false, &AuthenticationError{Msg: "Authentication failed: Client requested an authorization id that is different from username"}
	}
	s.authID, s.done = user, true
	// An empty token, not none: clients of the raw (v0) framing wait
	// for a zero-length frame.
	return []byte{}, true, nil
}

func (s *PlainServer) AuthorizationID() string     { return s.authID }
func (s *PlainServer) CredentialExpiry() time.Time { return time.Time{} }

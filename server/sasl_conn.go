package server

// SASL authentication of one connection, as Kafka's SaslServerAuthenticator:
// until it completes, only ApiVersions and SaslHandshake (then
// SaslAuthenticate, or raw tokens after a v0 handshake) are served; any
// other request closes the connection without an answer (Kafka's
// IllegalSaslStateException). A failed authentication is answered after
// connection.failed.authentication.delay.ms and the connection closed.
//
// Re-authentication (KIP-368): with a session lifetime
// (connections.max.reauth.ms, or a credential that expires), a client that
// has authenticated may send SaslHandshake and SaslAuthenticate again on the
// live connection; it must keep its mechanism and principal. A request that
// arrives after the session expired without re-authentication closes the
// connection, as Kafka's SocketServer does.
//
// The exchange is driven by the connection's reader, in request order, so
// that it knows before reading the next frame whether that frame is a raw
// token. Its state is the reader's alone.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/protocol"
	"github.com/riffle-io/riffle/server/auth"
)

type saslStage int

const (
	saslAwaitHandshake saslStage = iota // ApiVersions or SaslHandshake
	saslAuthenticate                    // SaslAuthenticate requests (handshake v1)
	saslRawTokens                       // raw size-prefixed tokens (handshake v0)
	saslComplete
)

// saslConn is a connection's authentication state.
type saslConn struct {
	l         *saslListener
	stage     saslStage
	mechanism string
	server    auth.SaslServer
	// reauth is set while a complete session re-authenticates.
	reauth    bool
	badMech   string // the failure of a re-authentication with another mechanism
	prev      auth.Principal
	prevMech  string
	expiresAt time.Time // zero: the session does not expire
}

// saslDispatch serves frame when the connection's authentication claims it.
// handled false: dispatch serves the request as usual.
func (c *conn) saslDispatch(frame []byte) (p *pending, ok, handled bool) {
	s := c.sasl
	if s.stage == saslRawTokens {
		p, ok := c.saslRawToken(frame)
		return p, ok, true
	}
	h, body, err := protocol.ParseRequestHeader(frame)
	if err != nil {
		return nil, false, false // dispatch closes the connection
	}
	switch s.stage {
	case saslComplete:
		if h.APIKey == int16(kmsg.SASLHandshake) && h.APIVersion >= 1 {
			s.reauth, s.prev, s.prevMech = true, c.Principal(), s.mechanism
			p, ok := c.saslHandshake(h, body)
			return p, ok, true
		}
		if !s.expiresAt.IsZero() && time.Now().After(s.expiresAt) {
			c.logger.Info("closing connection: SASL session expired without re-authentication", "principal", c.Principal().String())
			return nil, false, true
		}
		return nil, true, false
	case saslAwaitHandshake:
		switch h.APIKey {
		case int16(kmsg.ApiVersions):
			if s.reauth {
				break
			}
			return nil, true, false
		case int16(kmsg.SASLHandshake):
			p, ok := c.saslHandshake(h, body)
			return p, ok, true
		}
		c.logger.Info("closing connection: unexpected request during SASL handshake", "key", h.APIKey, "name", kmsg.NameForKey(h.APIKey))
		return nil, false, true
	case saslAuthenticate:
		if h.APIKey == int16(kmsg.SASLAuthenticate) {
			p, ok := c.saslAuthenticate(h, body)
			return p, ok, true
		}
		c.logger.Info("closing connection: unexpected request during SASL authentication", "key", h.APIKey, "name", kmsg.NameForKey(h.APIKey))
		return nil, false, true
	}
	return nil, false, true
}

// decodeSASL decodes a SASL request at a version this listener serves.
func (c *conn) decodeSASL(h protocol.RequestHeader, body []byte) (kmsg.Request, bool) {
	if _, ok := c.lookupAPI(h.APIKey, h.APIVersion); !ok {
		c.logger.Warn("closing connection: unsupported SASL request version", "key", h.APIKey, "version", h.APIVersion)
		return nil, false
	}
	req := kmsg.RequestForKey(h.APIKey)
	req.SetVersion(h.APIVersion)
	if err := protocol.DecodeRequest(req, body, decodeLimit, c.close); err != nil {
		c.logger.Warn("closing connection: undecodable SASL request", "err", err)
		return nil, false
	}
	return req, true
}

func (c *conn) saslHandshake(h protocol.RequestHeader, body []byte) (*pending, bool) {
	s := c.sasl
	kreq, ok := c.decodeSASL(h, body)
	if !ok {
		return nil, false
	}
	req := kreq.(*kmsg.SASLHandshakeRequest)
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.SupportedMechanisms = append([]string{}, s.l.mechanisms...)
	server := s.l.newServer(req.Mechanism)
	if server == nil || !slices.Contains(s.l.mechanisms, req.Mechanism) {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		c.logger.Info("closing connection: unsupported SASL mechanism", "mechanism", req.Mechanism)
		return c.saslFailure(h, resp), false
	}
	s.mechanism, s.server, s.badMech = req.Mechanism, server, ""
	if s.reauth && req.Mechanism != s.prevMech {
		// Kafka answers the handshake and fails the next token.
		s.badMech = fmt.Sprintf("SASL mechanism '%s' requested by client is not supported for re-authentication of mechanism '%s'", req.Mechanism, s.prevMech)
	}
	s.stage = saslAuthenticate
	if h.APIVersion == 0 {
		s.stage = saslRawTokens
	}
	return c.doneSlot(h, resp), true
}

func (c *conn) saslAuthenticate(h protocol.RequestHeader, body []byte) (*pending, bool) {
	kreq, ok := c.decodeSASL(h, body)
	if !ok {
		return nil, false
	}
	req := kreq.(*kmsg.SASLAuthenticateRequest)
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	challenge, lifetime, err := c.saslStep(req.SASLAuthBytes)
	if err != nil {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr(err.Error())
		resp.SASLAuthBytes = []byte{}
		return c.saslFailure(h, resp), false
	}
	resp.SASLAuthBytes = challenge
	if resp.SASLAuthBytes == nil {
		resp.SASLAuthBytes = []byte{}
	}
	resp.SessionLifetimeMillis = lifetime.Milliseconds()
	return c.doneSlot(h, resp), true
}

// saslRawToken serves a token framed without a Kafka header (after a v0
// handshake): the answer is a size-prefixed token too, and a failure can
// only close the connection.
func (c *conn) saslRawToken(token []byte) (*pending, bool) {
	challenge, _, err := c.saslStep(token)
	if err != nil {
		c.logger.Info("closing connection: SASL authentication failed", "mechanism", c.sasl.mechanism, "err", err)
		p := &pending{done: make(chan struct{})}
		p.serve = func() {
			defer close(p.done)
			c.authFailureDelay()
		}
		return p, false
	}
	p := &pending{done: make(chan struct{})}
	if challenge != nil {
		p.frame = binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(challenge)), uint32(len(challenge)))
		p.frame = append(p.frame, challenge...)
		c.pendingResp.Add(int64(len(p.frame)))
		c.b.unsentResponses.Add(int64(len(p.frame)))
	}
	close(p.done)
	return p, true
}

// saslStep feeds one client token to the exchange. When it completes, the
// principal is set and the session's lifetime returned (0: unbounded). The
// error is the message the client is told.
func (c *conn) saslStep(token []byte) (challenge []byte, lifetime time.Duration, err error) {
	s := c.sasl
	failed := func(e error) ([]byte, time.Duration, error) {
		var ae *auth.AuthenticationError
		if errors.As(e, &ae) {
			c.logger.Info("SASL authentication failed", "mechanism", s.mechanism, "err", ae.Msg)
			return nil, 0, ae
		}
		c.logger.Info("SASL authentication failed", "mechanism", s.mechanism, "err", e)
		what := "authentication"
		if s.reauth {
			what = "re-authentication"
		}
		// Kafka does not repeat the mechanism's reason, which may tell
		// whether the user exists.
		return nil, 0, fmt.Errorf("Authentication failed during %s due to invalid credentials with SASL mechanism %s", what, s.mechanism)
	}
	if s.badMech != "" {
		return failed(&auth.AuthenticationError{Msg: s.badMech})
	}
	challenge, done, err := s.server.Evaluate(token)
	if err != nil {
		return failed(err)
	}
	if !done {
		return challenge, 0, nil
	}
	p := auth.Principal{Type: auth.PrincipalTypeUser, Name: s.server.AuthorizationID()}
	if s.reauth && p != s.prev {
		return failed(&auth.AuthenticationError{Msg: fmt.Sprintf("Cannot change principals during re-authentication from %s.%s: %s.%s",
			s.prev.Type, s.prev.Name, p.Type, p.Name)})
	}
	c.setPrincipal(p)
	if s.reauth {
		c.b.saslReauthentications.Add(1)
	} else {
		c.b.saslAuthentications.Add(1)
	}
	// KIP-368: the session lasts connections.max.reauth.ms, or until the
	// credential expires if that is sooner.
	now := time.Now()
	lifetime = s.l.reauth[s.mechanism]
	if exp := s.server.CredentialExpiry(); !exp.IsZero() {
		left := max(exp.Sub(now), 0)
		if lifetime == 0 || left < lifetime {
			lifetime = left
		}
	}
	s.expiresAt = time.Time{}
	if lifetime > 0 || !s.server.CredentialExpiry().IsZero() {
		s.expiresAt = now.Add(lifetime)
	}
	s.stage, s.reauth, s.server = saslComplete, false, nil
	c.logger.Debug("SASL authentication complete", "mechanism", s.mechanism, "principal", p.String(), "session", lifetime)
	return challenge, lifetime, nil
}

// saslFailure answers a failed authentication after
// connection.failed.authentication.delay.ms (Kafka delays the failure
// response and the close, to slow down password guessing).
func (c *conn) saslFailure(h protocol.RequestHeader, resp kmsg.Response) *pending {
	p := &pending{correlationID: h.CorrelationID, done: make(chan struct{})}
	p.serve = func() {
		defer close(p.done)
		c.authFailureDelay()
		p.frame, p.err = c.encode(h, resp)
	}
	return p
}

func (c *conn) authFailureDelay() {
	d := time.Duration(c.b.effectiveConfig().ConnectionFailedAuthenticationDelayMs) * time.Millisecond
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	// The broker's context, not the connection's: the reader has
	// stopped and cancelled the latter already.
	select {
	case <-t.C:
	case <-c.b.ctx.Done():
	}
}

// maxFrameBytes bounds the next frame: socket.request.max.bytes, and
// sasl.server.max.receive.size until a SASL connection has authenticated,
// as Kafka's SaslServerAuthenticator does, so that a client that has not
// proven who it is cannot make the broker allocate large buffers.
func (c *conn) maxFrameBytes() int32 {
	limit := c.b.cfg.SocketRequestMaxBytes
	if c.sasl != nil && c.sasl.stage != saslComplete && c.b.cfg.SASLServerMaxReceiveSize < limit {
		limit = c.b.cfg.SASLServerMaxReceiveSize
	}
	return limit
}

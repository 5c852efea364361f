package server

// SaslAuthenticate (key 36), v0–v2.
//
// KIP-152: SASL tokens wrapped in Kafka requests, so that failures come back
// as an error code and message; v1 adds SessionLifetimeMs (KIP-368). On a
// SASL listener the connection's authentication (sasl_conn.go) serves it.
// Reaching this handler means no authentication is under way: Kafka answers
// ILLEGAL_SASL_STATE.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.SASLAuthenticate, 0, 2, handleSASLAuthenticate) }

func handleSASLAuthenticate(_ context.Context, _ *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	resp := kreq.(*kmsg.SASLAuthenticateRequest).ResponseKind().(*kmsg.SASLAuthenticateResponse)
	resp.ErrorCode = kerr.IllegalSaslState.Code
	resp.ErrorMessage = kmsg.StringPtr("SaslAuthenticate request received after successful authentication")
	resp.SASLAuthBytes = []byte{}
	return resp, nil
}

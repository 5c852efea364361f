package server

// SaslHandshake (key 17), v0–v1.
//
// On a SASL listener the handshake is served by the connection's
// authentication (sasl_conn.go) before anything else: v1 is followed by
// SaslAuthenticate requests, v0 by raw length-prefixed tokens (the framing
// of clients older than KIP-152, which librdkafka still uses when asked).
// Reaching this handler means SASL does not apply: a listener without SASL
// answers ILLEGAL_SASL_STATE, as Kafka's KafkaApis does.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.SASLHandshake, 0, 1, handleSASLHandshake) }

func handleSASLHandshake(_ context.Context, _ *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	resp := kreq.(*kmsg.SASLHandshakeRequest).ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.ErrorCode = kerr.IllegalSaslState.Code
	resp.SupportedMechanisms = []string{}
	return resp, nil
}

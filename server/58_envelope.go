package server

// Envelope (key 58), v0, on the CONTROLLER listener only.
//
// KIP-590: a broker that is not the active controller forwards a client's
// admin write to it wrapped in an Envelope (forwarding.go): the request
// bytes with their header, the client's principal and address. The active
// controller unwraps it, serves it with the same handler a client listener
// would, and wraps the response (header and body) in the answer. A
// controller that is not the active one answers NOT_CONTROLLER at the top
// level, so the broker sends the Envelope to the new one. Only the APIs a
// broker forwards are accepted (INVALID_REQUEST otherwise, as Kafka refuses
// an Envelope around a non-forwardable request).
//
// Only brokers send Envelopes: the sender needs CLUSTER_ACTION on the
// cluster (CLUSTER_AUTHORIZATION_FAILED otherwise), as Kafka's
// ControllerApis requires. The inner request is authorized as the client
// the Envelope names (RequestPrincipal, ClientHostAddress); a principal
// that does not decode is PRINCIPAL_DESERIALIZATION_FAILURE.

import (
	"context"
	"net"
	"time"

	"github.com/riffle-io/riffle/protocol"
	"github.com/riffle-io/riffle/server/auth"
	"github.com/riffle-io/riffle/server/authz"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerController(kmsg.Envelope, 0, 0, handleEnvelope) }

func handleEnvelope(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.EnvelopeRequest)
	b := rc.b
	resp := req.ResponseKind().(*kmsg.EnvelopeResponse)
	if !rc.authorizeCluster(authz.OpClusterAction) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	if !b.ctrl.IsActive() {
		resp.ErrorCode = kerr.NotController.Code
		return resp, nil
	}
	h, body, err := protocol.ParseRequestHeader(req.RequestData)
	if err != nil || !forwardedAPIs[h.APIKey] {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	entry, ok := lookupAPI(h.APIKey, h.APIVersion)
	if !ok {
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		return resp, nil
	}
	inner := kmsg.RequestForKey(h.APIKey)
	inner.SetVersion(h.APIVersion)
	if err := protocol.DecodeRequest(inner, body, decodeLimit, func() {}); err != nil {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	irc := &requestContext{b: b, header: h, conn: rc.conn, listener: b.cfg.InterBrokerListenerName,
		size: len(req.RequestData), forwarded: true}
	if len(req.RequestPrincipal) > 0 {
		var pd kmsg.DefaultPrincipalData
		if err := pd.ReadFrom(req.RequestPrincipal); err != nil {
			resp.ErrorCode = kerr.PrincipalDeserializationFailure.Code
			return resp, nil
		}
		irc.envelopePrincipal = &auth.Principal{Type: pd.Type, Name: pd.Name}
	}
	if ip := net.IP(req.ClientHostAddress); len(ip) == net.IPv4len || len(ip) == net.IPv6len {
		irc.envelopeHost = ip.String()
	}
	irc.started = time.Now()
	iresp, err := entry.handle(ctx, irc, inner)
	if err != nil || iresp == nil {
		resp.ErrorCode = kerr.UnknownServerError.Code
		return resp, nil
	}
	// Quotas are measured here under the client's principal and
	// client-id; the forwarding broker mutes the client (quotas.go).
	irc.finishQuotas(iresp)
	if err := protocol.CheckEncodable(iresp); err != nil {
		resp.ErrorCode = kerr.UnknownServerError.Code
		return resp, nil
	}
	frame := protocol.AppendResponse(nil, h.CorrelationID, iresp)
	resp.ResponseData = frame[4:] // the size is the Envelope's
	return resp, nil
}

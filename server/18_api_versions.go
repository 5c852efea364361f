package server

// ApiVersions (key 18), v0–v4.
//
// Advertises apiTable. A request with a version we do not know is answered in
// conn.dispatch with a v0 response carrying UNSUPPORTED_VERSION (KIP-511), so a
// newer client can retry with a version from our list. v3+ carries the
// client's software name and version, and the supported and finalized features
// (KIP-584; see 57_update_features.go).

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ApiVersions, 0, 4, handleAPIVersions) }

func handleAPIVersions(_ context.Context, rc *requestContext, _ kmsg.Request) (kmsg.Response, error) {
	resp := apiVersionsResponse(rc.version())
	if rc.conn != nil && rc.conn.controller {
		setControllerAPIKeys(resp)
	}
	// APIs this broker's configuration turns off are not advertised, as
	// Kafka leaves out the KIP-848 APIs when group.coordinator.rebalance.protocols
	// lacks "consumer"; clients then fall back to what is offered.
	keys := resp.ApiKeys[:0]
	for _, k := range resp.ApiKeys {
		if rc.b.apiEnabled(k.ApiKey) {
			keys = append(keys, k)
		}
	}
	resp.ApiKeys = keys
	rc.b.addFeatures(resp)
	return resp, nil
}

// apiEnabled reports whether the configuration offers an API at all.
func (b *Broker) apiEnabled(key int16) bool {
	switch kmsg.Key(key) {
	case kmsg.ConsumerGroupHeartbeat, kmsg.ConsumerGroupDescribe:
		for _, p := range b.cfg.GroupCoordinatorRebalanceProtocols {
			if p == "consumer" {
				return true
			}
		}
		return false
	}
	return true
}

func apiVersionsResponse(version int16) *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(version)
	for _, api := range APIs() {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey = api.Key
		k.MinVersion = api.MinVersion
		k.MaxVersion = api.MaxVersion
		resp.ApiKeys = append(resp.ApiKeys, k)
	}
	return resp
}

// setControllerAPIKeys makes resp advertise the CONTROLLER listener's APIs
// (KIP-919: the controller listener advertises what it serves).
func setControllerAPIKeys(resp *kmsg.ApiVersionsResponse) {
	resp.ApiKeys = resp.ApiKeys[:0]
	for _, e := range controllerAPIs() {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = e.key, e.min, e.max
		resp.ApiKeys = append(resp.ApiKeys, k)
	}
	slices.SortFunc(resp.ApiKeys, func(a, b kmsg.ApiVersionsResponseApiKey) int { return int(a.ApiKey) - int(b.ApiKey) })
}

package server

// DescribeClientQuotas (key 48), v0–v1.
//
// KIP-546 (kafka-configs.sh --describe --entity-type users/clients/ips):
// quotas stored in the metadata log, filtered as Kafka's ClientQuotasImage
// filters them. Each component matches an entity type exactly (a name), its
// default (null name), or any name including the default; strict filters
// also exclude entities with other components. An empty or repeated entity
// type, a match string where none belongs, or ip mixed with user or
// client-id is INVALID_REQUEST; an unknown entity type is
// UNSUPPORTED_VERSION, as in Kafka. Enforcement: quotas.go.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/controller"
	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.DescribeClientQuotas, 0, 1, handleDescribeClientQuotas) }

// Match types of DescribeClientQuotas components.
const (
	quotaMatchExact     = 0
	quotaMatchDefault   = 1
	quotaMatchSpecified = 2
)

func handleDescribeClientQuotas(_ context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	resp.Entries = []kmsg.DescribeClientQuotasResponseEntry{}
	exact := map[string]*string{}
	anyName := map[string]bool{}
	fail := func(err error) (kmsg.Response, error) {
		resp.ErrorCode, resp.ErrorMessage = errCode(err), errMsg(err)
		resp.Entries = nil // Kafka's error response carries no entries
		return resp, nil
	}
	// DESCRIBE_CONFIGS on the cluster (KafkaApis.handleDescribeClientQuotasRequest).
	if !rc.authorizeCluster(authz.OpDescribeConfigs) {
		return fail(kerr.ClusterAuthorizationFailed)
	}
	for _, c := range req.Components {
		typ := c.EntityType
		_, dupExact := exact[typ]
		switch {
		case typ == "":
			return fail(fmt.Errorf("%w: invalid empty entity type", kerr.InvalidRequest))
		case dupExact || anyName[typ]:
			return fail(fmt.Errorf("%w: entity type %s cannot appear more than once in the filter", kerr.InvalidRequest, typ))
		case typ != controller.QuotaEntityUser && typ != controller.QuotaEntityClientID && typ != controller.QuotaEntityIP:
			return fail(fmt.Errorf("%w: unsupported entity type %s", kerr.UnsupportedVersion, typ))
		}
		switch c.MatchType {
		case quotaMatchExact:
			if c.Match == nil {
				return fail(fmt.Errorf("%w: MATCH_TYPE_EXACT with a null match string", kerr.InvalidRequest))
			}
			exact[typ] = c.Match
		case quotaMatchDefault:
			if c.Match != nil {
				return fail(fmt.Errorf("%w: MATCH_TYPE_DEFAULT with a match string", kerr.InvalidRequest))
			}
			exact[typ] = nil
		case quotaMatchSpecified:
			if c.Match != nil {
				return fail(fmt.Errorf("%w: MATCH_TYPE_SPECIFIED with a match string", kerr.InvalidRequest))
			}
			anyName[typ] = true
		default:
			return fail(fmt.Errorf("%w: unknown match type %d", kerr.InvalidRequest, c.MatchType))
		}
	}
	has := func(t string) bool { _, ok := exact[t]; return ok || anyName[t] }
	if has(controller.QuotaEntityIP) && (has(controller.QuotaEntityUser) || has(controller.QuotaEntityClientID)) {
		return fail(fmt.Errorf("%w: an ip filter component cannot be combined with user or client-id", kerr.InvalidRequest))
	}

	im := rc.b.ctrl.Image()
	for _, key := range sortedKeys(im.ClientQuotas) {
		q := im.ClientQuotas[key]
		if !quotaMatches(q.Entity, exact, anyName, req.Strict) {
			continue
		}
		e := kmsg.NewDescribeClientQuotasResponseEntry()
		for _, d := range q.Entity {
			ee := kmsg.NewDescribeClientQuotasResponseEntryEntity()
			ee.Type, ee.Name = d.EntityType, d.EntityName
			e.Entity = append(e.Entity, ee)
		}
		for _, k := range sortedKeys(q.Values) {
			v := kmsg.NewDescribeClientQuotasResponseEntryValue()
			v.Key, v.Value = k, q.Values[k]
			e.Values = append(e.Values, v)
		}
		resp.Entries = append(resp.Entries, e)
	}
	return resp, nil
}

func quotaMatches(entity []controller.QuotaEntityData, exact map[string]*string, anyName map[string]bool, strict bool) bool {
	names := map[string]*string{}
	for _, d := range entity {
		names[d.EntityType] = d.EntityName
	}
	if strict && len(names) != len(exact)+len(anyName) {
		return false
	}
	for t, want := range exact {
		got, ok := names[t]
		if !ok || (got == nil) != (want == nil) || got != nil && *got != *want {
			return false
		}
	}
	for t := range anyName {
		if _, ok := names[t]; !ok {
			return false
		}
	}
	return true
}

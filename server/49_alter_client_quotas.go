package server

// AlterClientQuotas (key 49), v0–v1.
//
// KIP-546 (kafka-configs.sh --alter --add-config producer_byte_rate=…
// --entity-type users): sets or removes quota values of an entity (user,
// client-id, both, or ip; a null name is the default entity). Quotas are
// stored in the metadata log as Kafka's ClientQuotaRecord, so they survive
// restarts; they are not enforced yet. An invalid entity, an unknown key or
// a bad value is INVALID_REQUEST naming it, as Kafka's
// ClientQuotaControlManager answers. ValidateOnly checks and writes nothing.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/controller"
	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.AlterClientQuotas, 0, 1, handleAlterClientQuotas) }

func handleAlterClientQuotas(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.AlterClientQuotasRequest)
	b := rc.b
	resp := req.ResponseKind().(*kmsg.AlterClientQuotasResponse)
	ctx, cancel := adminContext(ctx, 0)
	defer cancel()
	alts := make([]controller.QuotaAlteration, 0, len(req.Entries))
	for _, e := range req.Entries {
		var a controller.QuotaAlteration
		for _, d := range e.Entity {
			a.Entity = append(a.Entity, controller.QuotaEntityData{EntityType: d.Type, EntityName: d.Name})
		}
		for _, op := range e.Ops {
			a.Ops = append(a.Ops, controller.QuotaOp{Key: op.Key, Value: op.Value, Remove: op.Remove})
		}
		alts = append(alts, a)
	}
	var errs []error
	// ALTER_CONFIGS on the cluster, else every entry fails
	// (ControllerApis.handleAlterClientQuotas).
	if !rc.authorizeCluster(authz.OpAlterConfigs) {
		errs = make([]error, len(alts))
		for i := range errs {
			errs[i] = kerr.ClusterAuthorizationFailed
		}
	} else if len(alts) > 0 {
		errs = b.ctrl.AlterClientQuotas(ctx, alts, req.ValidateOnly)
	}
	for i, e := range req.Entries {
		re := kmsg.NewAlterClientQuotasResponseEntry()
		for _, d := range e.Entity {
			ee := kmsg.NewAlterClientQuotasResponseEntryEntity()
			ee.Type, ee.Name = d.Type, d.Name
			re.Entity = append(re.Entity, ee)
		}
		if i < len(errs) && errs[i] != nil {
			re.ErrorCode, re.ErrorMessage = errCode(errs[i]), errMsg(errs[i])
		}
		resp.Entries = append(resp.Entries, re)
	}
	return resp, nil
}

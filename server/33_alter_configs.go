package server

// AlterConfigs (key 33), v0–v2.
//
// The legacy, non-incremental form: the configs given become the resource's
// complete set of dynamic configs, and any not given are removed (Kafka's
// legacyAlterConfigs). TOPIC and BROKER resources ("" for the cluster
// default, or a broker id); each resource succeeds or fails on its own. A
// bad name or value is INVALID_CONFIG saying what is wrong; a resource named
// twice is INVALID_REQUEST. ValidateOnly checks and writes nothing. Changes
// are stored in the metadata log, so they survive restarts.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.AlterConfigs, 0, 2, handleAlterConfigs) }

func handleAlterConfigs(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	resp.Resources = alterConfigResources(ctx, rc, req.Resources,
		func(r kmsg.AlterConfigsRequestResource) configResource {
			return configResource{typ: r.ResourceType, name: r.ResourceName}
		},
		func(ctx context.Context, cr configResource, r kmsg.AlterConfigsRequestResource) error {
			return rc.b.alterConfigsLegacy(ctx, cr, r.Configs, req.ValidateOnly)
		})
	return resp, nil
}

// alterConfigResources serves AlterConfigs and IncrementalAlterConfigs
// alike, as Kafka does: each resource is altered on its own and answered
// with its own error, and a resource named twice is INVALID_REQUEST and left
// alone. resource names a request resource. The two APIs' response resources
// have the same fields, so IncrementalAlterConfigs converts these.
//
// Each resource needs ALTER_CONFIGS: on the cluster for brokers, on the
// topic or group itself (configResourceDenied).
func alterConfigResources[R any](ctx context.Context, rc *requestContext, rs []R, resource func(R) configResource, alter func(context.Context, configResource, R) error) []kmsg.AlterConfigsResponseResource {
	ctx, cancel := adminContext(ctx, 0)
	defer cancel()
	crs := make([]configResource, len(rs))
	for i, r := range rs {
		crs[i] = resource(r)
	}
	dup := duplicateResources(crs)
	var out []kmsg.AlterConfigsResponseResource
	for i, cr := range crs {
		rr := kmsg.NewAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = cr.typ, cr.name
		var err error
		if dup[cr] {
			err = fmt.Errorf("%w: resource %v %q appears more than once in the request", kerr.InvalidRequest, cr.typ, cr.name)
		} else if denied := rc.configResourceDenied(authz.OpAlterConfigs, cr.typ, cr.name); denied != nil {
			err = denied
		} else {
			err = alter(ctx, cr, rs[i])
		}
		if err != nil {
			rr.ErrorCode, rr.ErrorMessage = errCode(err), errMsg(err)
		}
		out = append(out, rr)
	}
	return out
}

func (b *Broker) alterConfigsLegacy(ctx context.Context, r configResource, configs []kmsg.AlterConfigsRequestResourceConfig, validateOnly bool) error {
	im := b.ctrl.Image()
	cur, err := b.currentOverrides(im, r)
	if err != nil {
		return err
	}
	next := map[string]string{}
	for _, c := range configs {
		if _, ok := next[c.Name]; ok {
			return fmt.Errorf("%w: config %s appears more than once", kerr.InvalidRequest, c.Name)
		}
		if c.Value == nil {
			return fmt.Errorf("%w: null value not supported for: %s", kerr.InvalidRequest, c.Name)
		}
		next[c.Name] = *c.Value
	}
	if err := b.validateOverrides(im, r, next); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	return b.writeOverrides(ctx, r, cur, next)
}

package server

// IncrementalAlterConfigs (key 44), v0–v1.
//
// KIP-339: each config is SET, DELETE (back to the default), APPEND or
// SUBTRACT (LIST configs only: items are added unless present, or removed;
// the starting list is the override, else the config's default), applied to
// the resource's current dynamic configs. TOPIC and BROKER resources ("" for
// the cluster default, or a broker id). A bad name or value, or APPEND and
// SUBTRACT on a non-list config, is INVALID_CONFIG naming it; a null value
// for anything but DELETE, a config named twice, or a resource named twice
// is INVALID_REQUEST. ValidateOnly checks and writes nothing.

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
)

func init() { register(kmsg.IncrementalAlterConfigs, 0, 1, handleIncrementalAlterConfigs) }

func handleIncrementalAlterConfigs(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	rrs := alterConfigResources(ctx, rc, req.Resources,
		func(r kmsg.IncrementalAlterConfigsRequestResource) configResource {
			return configResource{typ: r.ResourceType, name: r.ResourceName}
		},
		func(ctx context.Context, cr configResource, r kmsg.IncrementalAlterConfigsRequestResource) error {
			return rc.b.alterConfigsIncremental(ctx, cr, r.Configs, req.ValidateOnly)
		})
	for _, rr := range rrs {
		resp.Resources = append(resp.Resources, kmsg.IncrementalAlterConfigsResponseResource(rr))
	}
	return resp, nil
}

func (b *Broker) alterConfigsIncremental(ctx context.Context, r configResource, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig, validateOnly bool) error {
	im := b.ctrl.Image()
	cur, err := b.currentOverrides(im, r)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, op := range ops {
		if seen[op.Name] {
			return fmt.Errorf("%w: error due to duplicate config keys: %s", kerr.InvalidRequest, op.Name)
		}
		seen[op.Name] = true
		if op.Op != kmsg.IncrementalAlterConfigOpDelete && op.Value == nil {
			return fmt.Errorf("%w: null value not supported for: %s", kerr.InvalidRequest, op.Name)
		}
	}
	next := make(map[string]string, len(cur))
	for k, v := range cur {
		next[k] = v
	}
	for _, op := range ops {
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			next[op.Name] = *op.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(next, op.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			def, ok := lookupConfigDef(r.typ, op.Name)
			if !ok {
				return fmt.Errorf("%w: unknown config name: %s", kerr.InvalidConfig, op.Name)
			}
			if def.Type != config.TypeList {
				verb := "append"
				if op.Op == kmsg.IncrementalAlterConfigOpSubtract {
					verb = "subtract"
				}
				return fmt.Errorf("%w: config value %s is not allowed for config key: %s", kerr.InvalidConfig, verb, op.Name)
			}
			base, ok := next[op.Name]
			if !ok {
				base = def.Default
			}
			items := splitList(base)
			for _, it := range splitList(*op.Value) {
				has := slices.Contains(items, it)
				if op.Op == kmsg.IncrementalAlterConfigOpAppend && !has {
					items = append(items, it)
				}
				if op.Op == kmsg.IncrementalAlterConfigOpSubtract && has {
					items = slices.DeleteFunc(items, func(s string) bool { return s == it })
				}
			}
			next[op.Name] = strings.Join(items, ",")
		default:
			return fmt.Errorf("%w: unknown config operation %d for %s", kerr.InvalidRequest, op.Op, op.Name)
		}
	}
	if err := b.validateOverrides(im, r, next); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	return b.writeOverrides(ctx, r, cur, next)
}

func lookupConfigDef(typ kmsg.ConfigResourceType, name string) (config.ConfigDef, bool) {
	if typ == kmsg.ConfigResourceTypeTopic {
		return config.LookupTopicConfig(name)
	}
	return config.LookupBrokerConfig(name)
}

// splitList splits a LIST value as Kafka does: by commas, trimmed, without
// empty items.
func splitList(s string) []string {
	var out []string
	for _, it := range strings.Split(s, ",") {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out
}

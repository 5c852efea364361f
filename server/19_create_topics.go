package server

// CreateTopics (key 19), v2–v7.
//
// Topic names, partition counts and replication factors are checked by the
// controller; configs here, by the typed topic config definitions (an unknown
// name or bad value → INVALID_CONFIG naming it). -1 partitions or replication
// factor take num.partitions / default.replication.factor (v4+). ValidateOnly
// checks everything and creates nothing. v5+ returns the resolved partition
// count, replication factor and the topic's full config list (never null: the
// Java admin client dereferences it); v7+ the topic ID. The response is sent
// once the new partitions are hosted, so a client can produce at once.

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
	"github.com/riffle-io/riffle/controller"
	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.CreateTopics, 2, 7, handleCreateTopics) }

func handleCreateTopics(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.CreateTopicsRequest)
	ctx, cancel := adminContext(ctx, req.TimeoutMillis)
	defer cancel()
	b := rc.b
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)

	counts := map[string]int{}
	for _, t := range req.Topics {
		counts[t.Topic]++
	}
	type pendingTopic struct {
		idx     int
		configs map[string]string
	}
	var specs []controller.TopicSpec
	var pend []pendingTopic
	// Authorization (ControllerApis.createTopics): CREATE on the cluster
	// or on the topic (TOPIC_AUTHORIZATION_FAILED); the configs of a
	// created topic are returned only with DESCRIBE_CONFIGS on it
	// (TopicConfigErrorCode TOPIC_AUTHORIZATION_FAILED otherwise).
	clusterCreate := rc.authorizeCluster(authz.OpCreate)
	for _, t := range req.Topics {
		rt := kmsg.NewCreateTopicsResponseTopic()
		rt.Topic = t.Topic
		rt.NumPartitions, rt.ReplicationFactor = -1, -1
		rt.Configs = []kmsg.CreateTopicsResponseTopicConfig{}
		idx := len(resp.Topics)
		resp.Topics = append(resp.Topics, rt)

		var err error
		configs := map[string]string{}
		switch {
		case counts[t.Topic] > 1:
			err = fmt.Errorf("%w: topic %q appears more than once in the request", kerr.InvalidRequest, t.Topic)
		case !clusterCreate && !rc.authorizeTopic(authz.OpCreate, t.Topic):
			err = kerr.TopicAuthorizationFailed
		case len(t.ReplicaAssignment) > 0 && (t.NumPartitions != -1 || t.ReplicationFactor != -1):
			err = fmt.Errorf("%w: both a replica assignment and partitions/replication factor were given", kerr.InvalidRequest)
		default:
			for _, c := range t.Configs {
				if c.Value == nil {
					err = fmt.Errorf("%w: config %s has a null value", kerr.InvalidConfig, c.Name)
					break
				}
				configs[c.Name] = *c.Value
			}
			if err == nil {
				if verr := config.ValidateTopicConfigs(configs); verr != nil {
					err = fmt.Errorf("%w: %v", kerr.InvalidConfig, verr)
				}
			}
		}
		if err != nil {
			setCreateTopicError(&resp.Topics[idx], err)
			continue
		}
		spec := controller.TopicSpec{
			Name:              t.Topic,
			NumPartitions:     t.NumPartitions,
			ReplicationFactor: t.ReplicationFactor,
			Configs:           configs,
		}
		if len(t.ReplicaAssignment) > 0 {
			spec.Assignments = make(map[int32][]int32, len(t.ReplicaAssignment))
			for _, a := range t.ReplicaAssignment {
				spec.Assignments[a.Partition] = a.Replicas
			}
		}
		specs = append(specs, spec)
		pend = append(pend, pendingTopic{idx: idx, configs: configs})
	}
	// KIP-599: each topic's partitions count against the client's
	// controller_mutation_rate; from v6 a topic over the quota fails with
	// THROTTLING_QUOTA_EXCEEDED, before v6 the request is only throttled.
	mq := rc.mutationQuota(req.Version >= 6)
	defer rc.finishMutationQuota(mq)
	permits := make([]float64, 0, len(specs))
	if !req.ValidateOnly {
		kept, keptPend := specs[:0], pend[:0]
		for i, spec := range specs {
			n := float64(spec.NumPartitions)
			switch {
			case len(spec.Assignments) > 0:
				n = float64(len(spec.Assignments))
			case n < 0:
				n = float64(b.cfg.NumPartitions)
			}
			if !mq.Record(n, time.Now()) {
				setCreateTopicError(&resp.Topics[pend[i].idx], errThrottlingQuotaExceeded)
				continue
			}
			kept, keptPend = append(kept, spec), append(keptPend, pend[i])
			permits = append(permits, n)
		}
		specs, pend = kept, keptPend
	}
	if len(specs) == 0 {
		return resp, nil
	}
	results := b.ctrl.CreateTopics(ctx, specs, req.ValidateOnly)
	for i, r := range results {
		if i >= len(pend) {
			break
		}
		rt := &resp.Topics[pend[i].idx]
		if r.Err != nil {
			if i < len(permits) {
				mq.Refund(permits[i], time.Now())
			}
			setCreateTopicError(rt, r.Err)
			continue
		}
		rt.TopicID = r.TopicID
		rt.NumPartitions = r.NumPartitions
		rt.ReplicationFactor = r.ReplicationFactor
		if rc.authorizeTopic(authz.OpDescribeConfigs, rt.Topic) {
			rt.Configs = b.createTopicConfigs(pend[i].configs)
		} else {
			rt.ConfigErrorCode = kerr.TopicAuthorizationFailed.Code
		}
	}
	if !req.ValidateOnly {
		b.waitApplied(ctx, b.ctrl.Image().Offset)
	}
	return resp, nil
}

func setCreateTopicError(rt *kmsg.CreateTopicsResponseTopic, err error) {
	rt.ErrorCode = errCode(err)
	rt.ErrorMessage = errMsg(err)
	rt.NumPartitions, rt.ReplicationFactor = -1, -1
	rt.Configs = []kmsg.CreateTopicsResponseTopicConfig{}
}

// createTopicConfigs lists every topic config with its effective value and
// where it came from, as Kafka's CreateTopics v5+ response does; the values
// and sources are those DescribeConfigs reports (admin_configs.go).
func (b *Broker) createTopicConfigs(overrides map[string]string) []kmsg.CreateTopicsResponseTopicConfig {
	entries := b.topicConfigEntries(b.ctrl.Image(), &controller.TopicImage{Configs: overrides})
	out := make([]kmsg.CreateTopicsResponseTopicConfig, 0, len(entries))
	for _, e := range entries {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name, c.Value, c.ReadOnly = e.def.Name, e.value, e.readOnly
		c.IsSensitive = e.def.Sensitive()
		c.Source = int8(e.source)
		out = append(out, c)
	}
	return out
}

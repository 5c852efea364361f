package server

// Forwarding admin writes to the active controller, as Kafka's
// ForwardingManager does (KIP-590). On a broker that is not the active
// controller, a client's request for one of forwardedAPIs is not served
// locally: its bytes, header included, go to the active controller in an
// Envelope through the controller channel, and the controller's answer is
// the client's. Then, before answering, the broker waits (bounded) until
// its own metadata image has caught up with the controller's high
// watermark, so a client that creates a topic here and then produces here
// finds it.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/riffle-io/riffle/controller"
	"github.com/riffle-io/riffle/server/quota"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// forwardedAPIs are the client requests a broker forwards: the writes
// Kafka's KafkaApis hands to its ForwardingManager, and DescribeQuorum,
// which only the quorum's leader can answer.
var forwardedAPIs = map[int16]bool{
	int16(kmsg.CreateTopics):              true,
	int16(kmsg.DeleteTopics):              true,
	int16(kmsg.CreatePartitions):          true,
	int16(kmsg.AlterConfigs):              true,
	int16(kmsg.IncrementalAlterConfigs):   true,
	int16(kmsg.ElectLeaders):              true,
	int16(kmsg.AlterPartitionAssignments): true,
	int16(kmsg.AlterClientQuotas):         true,
	int16(kmsg.UpdateFeatures):            true,
	int16(kmsg.DescribeQuorum):            true,
	int16(kmsg.UnregisterBroker):          true,
	int16(kmsg.AlterUserSCRAMCredentials): true,
	int16(kmsg.CreateACLs):                true,
	int16(kmsg.DeleteACLs):                true,
}

// forwardTimeout bounds a forwarded request when the client gave no
// timeout of its own.
const forwardTimeout = 30 * time.Second

// forwardingHandler returns the handler that forwards frame (a request for
// one of forwardedAPIs) and falls back to local, the API's own handler,
// when the controller cannot be reached: on a node that is not the active
// controller the local handler answers NOT_CONTROLLER in each of the
// request's results, which clients retry.
func (c *conn) forwardingHandler(frame []byte, local handlerFunc) handlerFunc {
	data := append([]byte(nil), frame...)
	return func(ctx context.Context, rc *requestContext, req kmsg.Request) (kmsg.Response, error) {
		b := rc.b
		if b.ctrl.IsActive() {
			return local(ctx, rc, req)
		}
		resp, err := b.forward(ctx, rc, data, req)
		if err != nil {
			b.logger.Debug("forwarding to the active controller failed; answering locally", "api", kmsg.NameForKey(req.Key()), "err", err)
			return local(ctx, rc, req)
		}
		// The controller measured the request against the client's
		// quotas; its throttle is applied to the client's connection
		// here (KafkaApis.sendForwardedResponse).
		rc.requestQuotaDone = true
		if tr, ok := resp.(kmsg.ThrottleResponse); ok && b.quotas != nil {
			if ms, _ := tr.Throttle(); ms > 0 {
				rc.throttleBy(nil, quota.Tags{}, time.Duration(ms)*time.Millisecond)
			}
		}
		return resp, nil
	}
}

func (b *Broker) forward(ctx context.Context, rc *requestContext, data []byte, req kmsg.Request) (kmsg.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, forwardTimeout)
	defer cancel()
	env := kmsg.NewPtrEnvelopeRequest()
	env.RequestData = data
	p := rc.principal()
	principal := kmsg.DefaultPrincipalData{Type: p.Type, Name: p.Name}
	env.RequestPrincipal = principal.AppendTo(nil)
	if host := rc.clientHost(); host != "" {
		if ip := net.ParseIP(host); ip != nil {
			if v4 := ip.To4(); v4 != nil {
				ip = v4
			}
			env.ClientHostAddress = ip
		}
	}
	kresp, err := b.sendToController(ctx, env)
	if err != nil {
		return nil, err
	}
	er := kresp.(*kmsg.EnvelopeResponse)
	if er.ErrorCode != 0 {
		return nil, fmt.Errorf("envelope refused: %w", kerr.ErrorForCode(er.ErrorCode))
	}
	resp, err := decodeForwardedResponse(req, er.ResponseData)
	if err != nil {
		return nil, err
	}
	if req.Key() != int16(kmsg.DescribeQuorum) {
		if err := b.catchUpWithController(ctx); err != nil {
			b.logger.Debug("metadata not caught up after a forwarded request", "api", kmsg.NameForKey(req.Key()), "err", err)
		}
	}
	return resp, nil
}

// decodeForwardedResponse decodes the response header and body the
// controller wrapped for req.
func decodeForwardedResponse(req kmsg.Request, data []byte) (kmsg.Response, error) {
	resp := req.ResponseKind()
	if len(data) < 4 {
		return nil, errors.New("forwarded response too short")
	}
	body := data[4:] // correlation id
	if resp.IsFlexible() {
		r := kbin.Reader{Src: body}
		kmsg.SkipTags(&r)
		if !r.Ok() {
			return nil, errors.New("forwarded response header: truncated")
		}
		body = r.Src
	}
	// The patched kmsg bounds its decoding loops (third_party/kmsg).
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("forwarded response: %w", err)
	}
	return resp, nil
}

// catchUpWithController waits (bounded by applyWaitLimit) until this
// node's partitions reflect the metadata the active controller has
// committed: its high watermark, from DescribeQuorum.
func (b *Broker) catchUpWithController(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, applyWaitLimit)
	defer cancel()
	hw, err := b.controllerHighWatermark(ctx)
	if err != nil {
		return err
	}
	if err := b.ctrl.WaitApplied(ctx, hw); err != nil {
		return err
	}
	return b.waitAppliedUntil(ctx, b.ctrl.Image().Offset)
}

func (b *Broker) controllerHighWatermark(ctx context.Context) (uint64, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	t := kmsg.NewDescribeQuorumRequestTopic()
	t.Topic = metadataTopic
	p := kmsg.NewDescribeQuorumRequestTopicPartition()
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	kresp, err := b.sendToController(ctx, req)
	if err != nil {
		return 0, err
	}
	resp := kresp.(*kmsg.DescribeQuorumResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return 0, errors.New("DescribeQuorum: malformed answer")
	}
	rp := resp.Topics[0].Partitions[0]
	if rp.ErrorCode != 0 {
		return 0, fmt.Errorf("DescribeQuorum: %w", kerr.ErrorForCode(rp.ErrorCode))
	}
	if rp.HighWatermark < 0 {
		return 0, nil
	}
	return uint64(rp.HighWatermark), nil
}

// createTopics creates topics on the broker's own behalf (auto-creation
// from Metadata, the coordinators' internal topics), as Kafka's
// AutoTopicCreationManager sends CreateTopics through the controller
// channel: directly on the active controller, else as a CreateTopics
// request to it, after which this node's image is brought level with the
// controller's.
func (b *Broker) createTopics(ctx context.Context, specs []controller.TopicSpec) []controller.CreateTopicResult {
	if b.ctrl.IsActive() {
		return b.ctrl.CreateTopics(ctx, specs, false)
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = int32(forwardTimeout / time.Millisecond)
	if d, ok := ctx.Deadline(); ok {
		req.TimeoutMillis = int32(max(time.Until(d), time.Millisecond) / time.Millisecond)
	}
	for _, s := range specs {
		t := kmsg.NewCreateTopicsRequestTopic()
		t.Topic, t.NumPartitions, t.ReplicationFactor = s.Name, s.NumPartitions, s.ReplicationFactor
		for p, replicas := range s.Assignments {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = p, replicas
			t.ReplicaAssignment = append(t.ReplicaAssignment, a)
		}
		for _, name := range sortedKeys(s.Configs) {
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name, c.Value = name, strPtr(s.Configs[name])
			t.Configs = append(t.Configs, c)
		}
		req.Topics = append(req.Topics, t)
	}
	results := make([]controller.CreateTopicResult, len(specs))
	for i, s := range specs {
		results[i] = controller.CreateTopicResult{Name: s.Name}
	}
	kresp, err := b.sendToController(ctx, req)
	if err != nil {
		for i := range results {
			results[i].Err = fmt.Errorf("%w: %w", kerr.RequestTimedOut, err)
		}
		return results
	}
	resp := kresp.(*kmsg.CreateTopicsResponse)
	byName := make(map[string]kmsg.CreateTopicsResponseTopic, len(resp.Topics))
	for _, t := range resp.Topics {
		byName[t.Topic] = t
	}
	for i := range results {
		t, ok := byName[results[i].Name]
		switch {
		case !ok:
			results[i].Err = fmt.Errorf("%w: the controller did not answer for the topic", kerr.UnknownServerError)
		case t.ErrorCode != 0:
			results[i].Err = kerr.ErrorForCode(t.ErrorCode)
		default:
			results[i].TopicID, results[i].NumPartitions, results[i].ReplicationFactor = t.TopicID, t.NumPartitions, t.ReplicationFactor
		}
	}
	if err := b.catchUpWithController(ctx); err != nil {
		b.logger.Debug("metadata not caught up after creating topics", "err", err)
	}
	return results
}

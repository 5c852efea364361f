package server

// Metadata (key 3), v0–v13.
//
// Brokers are listed with their endpoint for the listener the request came in
// on, as Kafka does. Topics may be named or (v10+) given by topic ID. A topic
// that does not exist is created when the request allows it (always before
// v4, AllowAutoTopicCreation from v4) and auto.create.topics.enable is on;
// the topic is created synchronously, so its partitions are returned at once
// rather than LEADER_NOT_AVAILABLE. Names are validated as Kafka does:
// INVALID_TOPIC_EXCEPTION for a bad one. v0 asks for all topics with an empty
// list; v1+ with a null list.

import (
	"context"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/controller"
)

func init() { register(kmsg.Metadata, 0, 13, handleMetadata) }

// Authorized-operation bitfields (KIP-430) for a broker without ACLs:
// everything that applies to the resource type.
const (
	topicAuthorizedOps   = 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<10 | 1<<11
	clusterAuthorizedOps = 1<<5 | 1<<7 | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 1<<12
	opsNotRequested      = -2147483648
)

func handleMetadata(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.MetadataRequest)
	b := rc.b
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	img := b.ctrl.Image()

	allowAuto := req.Version < 4 || req.AllowAutoTopicCreation
	allTopics := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)

	// Create missing topics first, so the response reflects them.
	if !allTopics && allowAuto && b.cfg.AutoCreateTopicsEnable {
		var specs []controller.TopicSpec
		seen := map[string]bool{}
		for _, t := range req.Topics {
			if t.Topic == nil || seen[*t.Topic] {
				continue
			}
			seen[*t.Topic] = true
			if _, ok := img.Topics[*t.Topic]; ok || controller.ValidateTopicName(*t.Topic) != nil {
				continue
			}
			// Kafka's AutoTopicCreationManager creates the internal
			// topics with their own partition counts and compacted
			// configs, as the coordinators do on first need.
			var err error
			switch *t.Topic {
			case offsetsTopic:
				err = b.groups.ensureOffsetsTopic(ctx)
			case transactionStateTopic:
				err = b.txn.ensureTopic(ctx)
			default:
				specs = append(specs, controller.TopicSpec{Name: *t.Topic, NumPartitions: -1, ReplicationFactor: -1})
				continue
			}
			if err != nil {
				b.logger.Warn("auto-creating topic failed", "topic", *t.Topic, "err", err)
			}
			img = b.ctrl.Image()
		}
		if len(specs) > 0 {
			for _, r := range b.ctrl.CreateTopics(ctx, specs, false) {
				if r.Err != nil && !errorsIsKerr(r.Err, kerr.TopicAlreadyExists) {
					b.logger.Warn("auto-creating topic failed", "topic", r.Name, "err", r.Err)
				}
			}
			img = b.ctrl.Image()
			b.waitApplied(ctx, img.Offset)
		}
	}

	resp.ClusterID = &b.clusterID
	resp.ControllerID = b.cfg.NodeID
	if req.Version >= 8 && req.Version <= 10 && req.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = clusterAuthorizedOps
	} else {
		resp.AuthorizedOperations = opsNotRequested
	}
	for _, id := range sortedBrokerIDs(img) {
		br := img.Brokers[id]
		if br.Fenced {
			continue
		}
		ep, ok := endpointFor(br, rc.listener)
		if !ok {
			continue
		}
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID = br.ID
		mb.Host = ep.Host
		mb.Port = ep.Port
		if br.Rack != "" {
			rack := br.Rack
			mb.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, mb)
	}

	topicOps := int32(opsNotRequested)
	if req.Version >= 8 && req.IncludeTopicAuthorizedOperations {
		topicOps = topicAuthorizedOps
	}
	if allTopics {
		for _, name := range img.SortedTopicNames() {
			resp.Topics = append(resp.Topics, topicMetadata(img.Topics[name], topicOps))
		}
		return resp, nil
	}
	for _, rt := range req.Topics {
		var t *controller.TopicImage
		switch {
		case rt.Topic != nil:
			t = img.Topics[*rt.Topic]
		case rt.TopicID != [16]byte{}:
			t, _ = img.TopicByID(rt.TopicID)
		}
		if t != nil {
			resp.Topics = append(resp.Topics, topicMetadata(t, topicOps))
			continue
		}
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic = rt.Topic
		mt.TopicID = rt.TopicID
		mt.AuthorizedOperations = topicOps
		mt.Partitions = []kmsg.MetadataResponseTopicPartition{}
		switch {
		case rt.Topic == nil:
			mt.ErrorCode = kerr.UnknownTopicID.Code
		case controller.ValidateTopicName(*rt.Topic) != nil:
			mt.ErrorCode = kerr.InvalidTopicException.Code
		default:
			mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
		}
		resp.Topics = append(resp.Topics, mt)
	}
	return resp, nil
}

func topicMetadata(t *controller.TopicImage, ops int32) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic = &name
	mt.TopicID = t.ID
	mt.IsInternal = isInternalTopic(t.Name)
	mt.AuthorizedOperations = ops
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, 0, len(t.Partitions))
	for _, p := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p.Partition
		mp.Leader = p.Leader
		mp.LeaderEpoch = p.LeaderEpoch
		mp.Replicas = append([]int32{}, p.Replicas...)
		mp.ISR = append([]int32{}, p.ISR...)
		mp.OfflineReplicas = []int32{}
		if p.Leader < 0 {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

// isInternalTopic reports Kafka's internal topics.
func isInternalTopic(name string) bool {
	return name == "__consumer_offsets" || name == "__transaction_state" || strings.HasPrefix(name, "__share_group_state")
}

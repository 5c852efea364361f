package server

// Metadata (key 3), v0–v13.
//
// Brokers are listed with their endpoint for the listener the request came in
// on, as Kafka does. Topics may be named or (v10+) given by topic ID. A topic
// that does not exist is created when the request allows it (always before
// v4, AllowAutoTopicCreation from v4) and auto.create.topics.enable is on.
// As Kafka's AutoTopicCreationManager does, the creation runs in the
// background and the request that set it off is answered
// UNKNOWN_TOPIC_OR_PARTITION with no partitions; clients retry Metadata
// until the topic appears. Names are validated as Kafka does:
// INVALID_TOPIC_EXCEPTION for a bad one. v0 asks for all topics with an empty
// list; v1+ with a null list.
//
// Authorization (KafkaApis.handleTopicMetadataRequest): all topics lists
// only those the principal may DESCRIBE; a named topic without DESCRIBE is
// TOPIC_AUTHORIZATION_FAILED whether or not it exists (by topic ID: the ID
// is kept, the name left out), and auto-creation needs CREATE on the
// cluster or the topic (TOPIC_AUTHORIZATION_FAILED otherwise). Authorized
// operations (KIP-430) are those of the principal when asked for; the
// cluster's are 0 without DESCRIBE on it.

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/controller"
	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.Metadata, 0, 13, handleMetadata) }

// opsNotRequested is the authorized-operations value (KIP-430) of a
// response whose request did not ask for them (the schema's default,
// Integer.MIN_VALUE).
const opsNotRequested = -2147483648

func handleMetadata(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.MetadataRequest)
	b := rc.b
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	img := b.ctrl.Image()

	allowAuto := req.Version < 4 || req.AllowAutoTopicCreation
	allTopics := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)

	canDescribe := rc.topicAuthorizer(authz.OpDescribe)
	// Topics refused auto-creation for want of CREATE.
	var createDenied map[string]bool
	if !allTopics && allowAuto && b.cfg.AutoCreateTopicsEnable {
		var missing []string
		clusterCreate := rc.authorizeCluster(authz.OpCreate)
		for _, t := range req.Topics {
			if t.Topic == nil || !canDescribe.allowed(*t.Topic) {
				continue
			}
			if _, ok := img.Topics[*t.Topic]; ok || controller.ValidateTopicName(*t.Topic) != nil {
				continue
			}
			if !clusterCreate && !rc.authorizeTopic(authz.OpCreate, *t.Topic) {
				if createDenied == nil {
					createDenied = map[string]bool{}
				}
				createDenied[*t.Topic] = true
				continue
			}
			missing = append(missing, *t.Topic)
		}
		b.autoCreateTopics(missing)
	}

	resp.ClusterID = &b.clusterID
	resp.ControllerID = b.controllerIDForClients(img)
	if req.Version >= 8 && req.Version <= 10 && req.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = 0
		if rc.authorizeCluster(authz.OpDescribe) {
			resp.AuthorizedOperations = rc.authorizedOps(authz.ResourceCluster, authz.ClusterName)
		}
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

	topicOps := func(string) int32 { return opsNotRequested }
	if req.Version >= 8 && req.IncludeTopicAuthorizedOperations {
		topicOps = func(name string) int32 { return rc.authorizedOps(authz.ResourceTopic, name) }
	}
	if allTopics {
		for _, name := range img.SortedTopicNames() {
			if canDescribe.allowed(name) {
				resp.Topics = append(resp.Topics, topicMetadata(img, img.Topics[name], topicOps(name)))
			}
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
		mt := kmsg.NewMetadataResponseTopic()
		mt.Partitions = []kmsg.MetadataResponseTopicPartition{}
		switch {
		case rt.Topic != nil && !canDescribe.allowed(*rt.Topic), rt.Topic != nil && createDenied[*rt.Topic]:
			// Existence is not disclosed: no topic ID, no partitions.
			mt.Topic, mt.ErrorCode = rt.Topic, kerr.TopicAuthorizationFailed.Code
			mt.IsInternal = createDenied[*rt.Topic] && isInternalTopic(*rt.Topic)
			resp.Topics = append(resp.Topics, mt)
			continue
		case rt.Topic == nil && t != nil && !canDescribe.allowed(t.Name):
			// Topic IDs are not secret; the name is.
			mt.TopicID, mt.ErrorCode = rt.TopicID, kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, mt)
			continue
		case t != nil:
			resp.Topics = append(resp.Topics, topicMetadata(img, t, topicOps(t.Name)))
			continue
		}
		mt.Topic = rt.Topic
		mt.TopicID = rt.TopicID
		if rt.Topic != nil {
			mt.IsInternal = isInternalTopic(*rt.Topic)
			mt.AuthorizedOperations = topicOps(*rt.Topic)
		} else {
			mt.AuthorizedOperations = topicOps("")
		}
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

func topicMetadata(im *controller.Image, t *controller.TopicImage, ops int32) kmsg.MetadataResponseTopic {
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
		mp.OfflineReplicas = offlineReplicas(im, p)
		if p.Leader < 0 {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

// offlineReplicas lists the replicas of p that are offline as Kafka's
// metadata cache lists them: on a broker that is not registered or is
// fenced, or in a log dir that its broker reported offline (KIP-858).
func offlineReplicas(im *controller.Image, p controller.PartitionImage) []int32 {
	out := []int32{}
	for _, r := range p.Replicas {
		if im.ReplicaOffline(p, r) {
			out = append(out, r)
		}
	}
	return out
}

// isInternalTopic reports Kafka's internal topics.
func isInternalTopic(name string) bool {
	return name == "__consumer_offsets" || name == "__transaction_state" || strings.HasPrefix(name, "__share_group_state")
}

// autoTopicCreation is the broker's part of Kafka's AutoTopicCreationManager:
// the topics whose creation Metadata has set off and that are not created
// yet, so that clients retrying Metadata meanwhile do not ask again.
type autoTopicCreation struct {
	mu       sync.Mutex
	inflight map[string]bool
}

// autoCreateTimeout bounds one background creation; a topic still missing
// after it is asked for again by the next Metadata request.
const autoCreateTimeout = 30 * time.Second

// autoCreateTopics creates the named topics in the background, skipping
// those already being created. Kafka's internal topics are created with
// their own partition counts and compacted configs, as the coordinators do
// on first need.
func (b *Broker) autoCreateTopics(names []string) {
	if len(names) == 0 {
		return
	}
	a := &b.autoCreate
	a.mu.Lock()
	if a.inflight == nil {
		a.inflight = make(map[string]bool)
	}
	var start []string
	for _, n := range names {
		if !a.inflight[n] {
			a.inflight[n] = true
			start = append(start, n)
		}
	}
	a.mu.Unlock()
	if len(start) == 0 {
		return
	}
	b.goBackground(func() {
		defer func() {
			a.mu.Lock()
			for _, n := range start {
				delete(a.inflight, n)
			}
			a.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(b.ctx, autoCreateTimeout)
		defer cancel()
		var specs []controller.TopicSpec
		for _, name := range start {
			var err error
			switch name {
			case offsetsTopic:
				err = b.groups.ensureOffsetsTopic(ctx)
			case transactionStateTopic:
				err = b.txn.ensureTopic(ctx)
			default:
				specs = append(specs, controller.TopicSpec{Name: name, NumPartitions: -1, ReplicationFactor: -1})
				continue
			}
			// Too few brokers for an internal topic's replication
			// factor is expected while a cluster starts.
			if err != nil && ctx.Err() == nil && !errors.Is(err, errTooFewBrokers) {
				b.logger.Warn("auto-creating topic failed", "topic", name, "err", err)
			}
		}
		if len(specs) == 0 {
			return
		}
		for _, r := range b.createTopics(ctx, specs) {
			if r.Err != nil && !errorsIsKerr(r.Err, kerr.TopicAlreadyExists) && ctx.Err() == nil {
				b.logger.Warn("auto-creating topic failed", "topic", r.Name, "err", r.Err)
			}
		}
		// Until the new image is applied here, Metadata would answer
		// with partitions this broker does not host yet.
		b.waitApplied(ctx, b.ctrl.Image().Offset)
	})
}

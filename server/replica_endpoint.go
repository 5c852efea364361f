package server

// The replica fetchers' connection to a partition leader (replica
// .LeaderEndpoint): one franz-go client per source broker on the leader's
// inter-broker listener (inter.broker.listener.name, else the listener of
// security.inter.broker.protocol), resolved from the broker's registration
// in the metadata image. franz-go negotiates the versions (Fetch v12+ with
// LastFetchedEpoch against any Riffle or Kafka broker) and bounds what it
// reads (BrokerMaxReadBytes). PLAINTEXT only, as for the other inter-broker
// requests (txn_interbroker.go).

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
	"github.com/riffle-io/riffle/replica"
)

// tcpLeaderEndpoint is a LeaderEndpoint over one franz-go client.
type tcpLeaderEndpoint struct {
	node int32
	cl   *kgo.Client
}

// replicaEndpoint opens a fetcher's connection to broker node.
func (b *Broker) replicaEndpoint(node int32) (replica.LeaderEndpoint, error) {
	br, ok := b.ctrl.Image().Brokers[node]
	if !ok {
		return nil, fmt.Errorf("broker %d is not registered", node)
	}
	ep, ok := endpointFor(br, b.cfg.InterBrokerListenerName)
	if !ok {
		return nil, fmt.Errorf("broker %d has no %s endpoint", node, b.cfg.InterBrokerListenerName)
	}
	addr := net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port)))
	// A response holds at most replica.fetch.response.max.bytes of
	// records (one batch more when the first is larger, KIP-74), plus
	// framing; max.message.bytes bounds that batch.
	maxRead := int32(min(int64(b.cfg.ReplicaFetchResponseMaxBytes)+int64(b.cfg.MessageMaxBytes)+(1<<20), 1<<30))
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.ClientID(interBrokerClientIDPrefix+strconv.Itoa(int(b.cfg.NodeID))+"-fetcher"),
		kgo.RequestTimeoutOverhead(time.Duration(b.cfg.ReplicaSocketTimeoutMs)*time.Millisecond),
		kgo.FetchMaxBytes(max(b.cfg.ReplicaFetchResponseMaxBytes, 1)), kgo.BrokerMaxReadBytes(maxRead))
	if err != nil {
		return nil, err
	}
	return &tcpLeaderEndpoint{node: node, cl: cl}, nil
}

func (e *tcpLeaderEndpoint) request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	seeds := e.cl.SeedBrokers()
	if len(seeds) == 0 {
		return nil, fmt.Errorf("no connection to broker %d", e.node)
	}
	return seeds[0].Request(ctx, req)
}

func (e *tcpLeaderEndpoint) Fetch(ctx context.Context, req *kmsg.FetchRequest) (*kmsg.FetchResponse, error) {
	resp, err := e.request(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.FetchResponse), nil
}

func (e *tcpLeaderEndpoint) ListOffsets(ctx context.Context, req *kmsg.ListOffsetsRequest) (*kmsg.ListOffsetsResponse, error) {
	resp, err := e.request(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.ListOffsetsResponse), nil
}

func (e *tcpLeaderEndpoint) Close() { e.cl.Close() }

// replicaOptions connects the replica manager to the cluster: ISR changes go
// to the active controller, fetchers reach leaders over the inter-broker
// listener, with the replica.* settings.
func (b *Broker) replicaOptions() replica.Options {
	ms := func(v int64) time.Duration { return time.Duration(v) * time.Millisecond }
	window := time.Duration(b.cfg.ReplicationQuotaWindowSizeSeconds) * time.Second
	b.leaderQuota = replica.NewReplicationQuota(int(b.cfg.ReplicationQuotaWindowNum), window)
	b.followerQuota = replica.NewReplicationQuota(int(b.cfg.ReplicationQuotaWindowNum), window)
	b.applyReplicationQuotas()
	var selector replica.ReplicaSelector
	if b.cfg.ReplicaSelectorClass == config.RackAwareReplicaSelector {
		selector = replica.RackAwareReplicaSelector{}
	}
	return replica.Options{
		ReplicaSelector:   selector,
		BrokerRack:        b.brokerRack,
		LeaderQuota:       b.leaderQuota,
		FollowerQuota:     b.followerQuota,
		AlterPartition:    b.alterPartition,
		BrokerEpoch:       b.registeredBrokerEpoch,
		IsrEligible:       b.isrEligible,
		BrokerAlive:       b.brokerAlive,
		Endpoint:          b.replicaEndpoint,
		ReplicaLagTimeMax: ms(b.cfg.ReplicaLagTimeMaxMs),
		Fetch: replica.FetcherConfig{
			MaxBytes:         b.cfg.ReplicaFetchMaxBytes,
			MinBytes:         b.cfg.ReplicaFetchMinBytes,
			ResponseMaxBytes: b.cfg.ReplicaFetchResponseMaxBytes,
			MaxWait:          ms(int64(b.cfg.ReplicaFetchWaitMaxMs)),
			Backoff:          ms(int64(b.cfg.ReplicaFetchBackoffMs)),
		},
	}
}

// alterPartition hands a partition leader's ISR change to the active
// controller through the controller channel.
func (b *Broker) alterPartition(ctx context.Context, req *kmsg.AlterPartitionRequest) (*kmsg.AlterPartitionResponse, error) {
	resp, err := b.sendToController(ctx, req)
	if err != nil {
		return nil, err
	}
	ar, ok := resp.(*kmsg.AlterPartitionResponse)
	if !ok {
		return nil, fmt.Errorf("controller answered AlterPartition with %T", resp)
	}
	return ar, nil
}

// isrEligible is Kafka's Partition.isReplicaIsrEligible over the image: a
// follower joins an ISR only while registered, unfenced and not shutting
// down, and only in the incarnation it fetched with (KIP-903).
func (b *Broker) isrEligible(id int32, brokerEpoch int64) bool {
	br, ok := b.ctrl.Image().Brokers[id]
	return ok && !br.Fenced && !br.InControlledShutdown && (brokerEpoch < 0 || brokerEpoch == br.Epoch)
}

// brokerAlive reports whether a broker is registered and unfenced.
func (b *Broker) brokerAlive(id int32) bool {
	br, ok := b.ctrl.Image().Brokers[id]
	return ok && !br.Fenced
}

// brokerRack returns a broker's rack from its registration and whether it
// is registered and unfenced (Kafka's getPartitionReplicaEndpoints lists
// only unfenced brokers, so a selector never picks a fenced one).
func (b *Broker) brokerRack(id int32) (string, bool) {
	br, ok := b.ctrl.Image().Brokers[id]
	if !ok || br.Fenced {
		return "", false
	}
	return br.Rack, true
}

// registeredBrokerEpoch is this broker's epoch from its registration (-1
// before it registered).
func (b *Broker) registeredBrokerEpoch() int64 {
	if e := b.brokerEpoch.Load(); e > 0 {
		return e
	}
	return -1
}

package server

// Requests one broker's transaction machinery sends another: WriteTxnMarkers
// from a transaction coordinator to a partition leader, and KIP-890's
// AddPartitionsToTxn verification from a partition leader to a coordinator.
// One franz-go client per peer, over the inter-broker listener, created on
// first use and closed at shutdown. Authentication between brokers is not
// configured here: PLAINTEXT inter-broker listeners only.

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type peerClients struct {
	mu      sync.Mutex
	clients map[int32]*peerClient
}

type peerClient struct {
	addr string
	cl   *kgo.Client
}

const interBrokerTimeout = 10 * time.Second

// interBrokerClientIDPrefix starts the client id of requests one broker
// sends another.
const interBrokerClientIDPrefix = "riffle-broker-"

func (b *Broker) interBrokerRequest(ctx context.Context, node int32, req kmsg.Request) (kmsg.Response, error) {
	br, ok := b.ctrl.Image().Brokers[node]
	if !ok {
		return nil, fmt.Errorf("broker %d is not registered", node)
	}
	ep, ok := endpointFor(br, b.cfg.InterBrokerListenerName)
	if !ok {
		return nil, fmt.Errorf("broker %d has no endpoint", node)
	}
	addr := net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port)))
	pc := &b.peers
	pc.mu.Lock()
	if pc.clients == nil {
		pc.clients = make(map[int32]*peerClient)
	}
	c, ok := pc.clients[node]
	if ok && c.addr != addr {
		c.cl.Close()
		ok = false
	}
	if !ok {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID(interBrokerClientIDPrefix+strconv.Itoa(int(b.cfg.NodeID))),
			kgo.RequestTimeoutOverhead(interBrokerTimeout))
		if err != nil {
			pc.mu.Unlock()
			return nil, err
		}
		c = &peerClient{addr: addr, cl: cl}
		pc.clients[node] = c
	}
	pc.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, interBrokerTimeout)
	defer cancel()
	seeds := c.cl.SeedBrokers()
	if len(seeds) == 0 {
		return nil, fmt.Errorf("no connection to broker %d", node)
	}
	return seeds[0].Request(ctx, req)
}

func (b *Broker) closePeers() {
	pc := &b.peers
	pc.mu.Lock()
	defer pc.mu.Unlock()
	for id, c := range pc.clients {
		c.cl.Close()
		delete(pc.clients, id)
	}
}

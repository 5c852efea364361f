package server

// The channel from this broker to the active controller, Kafka's
// NodeToControllerChannelManager: every request a broker sends the
// controller (registration, producer id blocks, auto-created topics,
// forwarded admin requests in an Envelope, and the lifecycle requests)
// goes through sendToController. On the active controller itself the
// request is served locally by the CONTROLLER listener's handler; elsewhere
// it goes over TCP to the active controller's CONTROLLER listener, which
// speaks Kafka (KIP-919). NOT_CONTROLLER answers and connection errors are
// retried with backoff, against whichever node is then the leader, until
// the context ends.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riffle-io/riffle/controller"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// controllerClients holds one franz-go client per controller address.
type controllerClients struct {
	next    atomic.Uint32 // the voter to ask when no leader is known
	mu      sync.Mutex
	clients map[string]*kgo.Client
	closed  bool
}

const (
	// controllerRequestTimeout bounds one attempt; the caller's context
	// bounds the retries.
	controllerRequestTimeout = 30 * time.Second
	controllerRetryBackoff   = 50 * time.Millisecond
	controllerRetryMax       = time.Second
)

var errNoActiveController = errors.New("no active controller known")

// sendToController sends req to the active controller and returns its
// answer, retrying NOT_CONTROLLER and connection failures until ctx ends.
func (b *Broker) sendToController(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	backoff := controllerRetryBackoff
	for {
		resp, err := b.trySendToController(ctx, req)
		if err == nil && !notControllerResponse(resp) {
			return resp, nil
		}
		if err == nil {
			err = kerr.NotController
		}
		b.logger.Debug("controller request not handled; retrying", "api", kmsg.NameForKey(req.Key()), "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("sending %s to the active controller: %w (last: %w)", kmsg.NameForKey(req.Key()), ctx.Err(), err)
		case <-t.C:
		}
		backoff = min(2*backoff, controllerRetryMax)
	}
}

func (b *Broker) trySendToController(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	if b.ctrl.IsActive() {
		return b.serveControllerLocally(ctx, req)
	}
	id, addr, ok := b.ctrl.ActiveController()
	if !ok || id == b.cfg.NodeID {
		// No leader known (a broker-only node before the quorum has
		// added it, or an election): ask the voters in turn; the
		// ones that are not active answer NOT_CONTROLLER.
		voters, err := controller.ParseVoters(b.cfg.ControllerQuorumVoters)
		if err != nil || len(voters) == 0 {
			return nil, errNoActiveController
		}
		v := voters[int(b.ctrlClients.next.Add(1))%len(voters)]
		if v.ID == b.cfg.NodeID {
			return nil, errNoActiveController
		}
		id, addr = v.ID, v.Addr
	}
	cl, err := b.controllerClient(addr)
	if err != nil {
		return nil, err
	}
	seeds := cl.SeedBrokers()
	if len(seeds) == 0 {
		return nil, fmt.Errorf("no connection to controller %d at %s", id, addr)
	}
	ctx, cancel := context.WithTimeout(ctx, controllerRequestTimeout)
	defer cancel()
	return seeds[0].Request(ctx, req)
}

// serveControllerLocally runs the CONTROLLER listener's handler for req on
// this node, the active controller, as if it had arrived over TCP.
func (b *Broker) serveControllerLocally(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	e, ok := controllerAPI(req.Key())
	if !ok {
		return nil, fmt.Errorf("%s is not a controller API", kmsg.NameForKey(req.Key()))
	}
	// A request built by this broker carries version 0 unless set; serve
	// it at the newest version both sides know, as a client would.
	if v := req.GetVersion(); v < e.min || v == 0 {
		req.SetVersion(min(e.max, req.MaxVersion()))
	}
	name := "CONTROLLER"
	if len(b.cfg.ControllerListenerNames) > 0 {
		name = b.cfg.ControllerListenerNames[0]
	}
	clientID := interBrokerClientIDPrefix + strconv.Itoa(int(b.cfg.NodeID))
	rc := &requestContext{b: b, listener: name}
	rc.header.APIKey, rc.header.APIVersion, rc.header.ClientID = req.Key(), req.GetVersion(), &clientID
	return e.handle(ctx, rc, req)
}

func (b *Broker) controllerClient(addr string) (*kgo.Client, error) {
	cc := &b.ctrlClients
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.closed {
		return nil, errors.New("broker shutting down")
	}
	if cl, ok := cc.clients[addr]; ok {
		return cl, nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.ClientID(interBrokerClientIDPrefix+strconv.Itoa(int(b.cfg.NodeID))),
		kgo.RequestTimeoutOverhead(controllerRequestTimeout), kgo.DialTimeout(5*time.Second))
	if err != nil {
		return nil, err
	}
	if cc.clients == nil {
		cc.clients = make(map[string]*kgo.Client)
	}
	cc.clients[addr] = cl
	return cl, nil
}

func (b *Broker) closeControllerClients() {
	cc := &b.ctrlClients
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.closed = true
	for _, cl := range cc.clients {
		cl.Close()
	}
	cc.clients = nil
}

// notControllerResponse reports whether a controller answered that it is
// not the active controller, so the request must go to the new one.
func notControllerResponse(resp kmsg.Response) bool {
	nc := kerr.NotController.Code
	switch r := resp.(type) {
	case *kmsg.EnvelopeResponse:
		return r.ErrorCode == nc
	case *kmsg.BrokerRegistrationResponse:
		return r.ErrorCode == nc
	case *kmsg.AllocateProducerIDsResponse:
		return r.ErrorCode == nc
	case *kmsg.BrokerHeartbeatResponse:
		return r.ErrorCode == nc
	case *kmsg.AlterPartitionResponse:
		return r.ErrorCode == nc
	case *kmsg.UnregisterBrokerResponse:
		return r.ErrorCode == nc
	case *kmsg.AssignReplicasToDirsResponse:
		return r.ErrorCode == nc
	case *kmsg.CreateTopicsResponse:
		for _, t := range r.Topics {
			if t.ErrorCode == nc {
				return true
			}
		}
	}
	return false
}

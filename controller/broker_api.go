package controller

// The requests brokers send the active controller, taken as Kafka's
// QuorumController takes them: kmsg request in, kmsg response out. A Go
// error means the request was not handled here (NOT_CONTROLLER: this node is
// not the active controller, or lost leadership before committing), so the
// sender retries against the new one; every Kafka outcome of a handled
// request is an error code in the response.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// notHandled reports whether err means the request must go to another
// controller rather than be answered with err's code.
func notHandled(err error) bool {
	return errors.Is(err, kerr.NotController)
}

// RegisterBroker registers (or re-registers) a broker, as Kafka's
// ClusterControlManager.registerBroker (planRegisterBroker). The broker
// epoch is the offset of the entry holding its RegisterBrokerRecord; a
// repeated request of the same incarnation writes nothing and gets the
// epoch already registered.
func (c *Controller) RegisterBroker(ctx context.Context, req *kmsg.BrokerRegistrationRequest) (*kmsg.BrokerRegistrationResponse, error) {
	resp := req.ResponseKind().(*kmsg.BrokerRegistrationResponse)
	resp.BrokerEpoch = -1
	reg := BrokerRegistration{ID: req.BrokerID, IncarnationID: req.IncarnationID}
	if req.Rack != nil {
		reg.Rack = *req.Rack
	}
	for _, l := range req.Listeners {
		reg.Endpoints = append(reg.Endpoints, Endpoint{
			Name: l.Name, Host: l.Host, Port: int32(l.Port),
			SecurityProtocol: securityProtocolName(l.SecurityProtocol),
		})
	}
	// A broker that heartbeats registers fenced and is unfenced once it
	// has caught up (BrokerHeartbeat); without sessions brokers never
	// heartbeat, so they register unfenced.
	reg.Fenced = c.cfg.BrokerSessionTimeout > 0
	var epoch int64
	index, err := c.proposeIndex(ctx, func(im *Image) ([]Record, error) {
		recs, err := planRegisterBroker(im, c.hb, reg, c.now(), c.uncleanPolicy(im))
		if err == nil && len(recs) == 0 {
			epoch = im.Brokers[reg.ID].Epoch // registered exactly so already
		}
		return recs, err
	})
	if notHandled(err) {
		return nil, err
	}
	if err != nil {
		resp.ErrorCode = ErrorCode(err)
		return resp, nil
	}
	if index > 0 {
		epoch = int64(index)
	}
	resp.BrokerEpoch = epoch
	return resp, nil
}

// producerIDBlockSize is the block every AllocateProducerIds hands out,
// Kafka's ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE.
const producerIDBlockSize = 1000

// AllocateProducerIDsReq hands a broker the next block of producer ids
// (KIP-730), never handed out before.
func (c *Controller) AllocateProducerIDsReq(ctx context.Context, req *kmsg.AllocateProducerIDsRequest) (*kmsg.AllocateProducerIDsResponse, error) {
	resp := req.ResponseKind().(*kmsg.AllocateProducerIDsResponse)
	first, err := c.AllocateProducerIDs(ctx, producerIDBlockSize)
	if notHandled(err) {
		return nil, err
	}
	if err != nil {
		resp.ErrorCode = ErrorCode(err)
		return resp, nil
	}
	resp.ProducerIDStart, resp.ProducerIDLen = first, producerIDBlockSize
	return resp, nil
}

// ActiveController returns the active controller's node id and the address
// of its CONTROLLER listener, as this node last heard of it; ok is false
// while there is none.
func (c *Controller) ActiveController() (id int32, addr string, ok bool) {
	r := c.rafts.Load()
	if r == nil {
		return -1, "", false
	}
	a, sid := r.LeaderWithID()
	if sid == "" || a == "" {
		return -1, "", false
	}
	n, err := strconv.ParseInt(string(sid), 10, 32)
	if err != nil {
		return -1, "", false
	}
	return int32(n), string(a), true
}

// Controllers returns the voters of the metadata quorum with the host and
// port of their CONTROLLER listeners (DescribeCluster with the controller
// endpoint type, KIP-919).
func (c *Controller) Controllers() []QuorumReplica {
	var out []QuorumReplica
	r := c.rafts.Load()
	if r == nil {
		return out
	}
	f := r.GetConfiguration()
	if err := f.Error(); err != nil {
		return out
	}
	for _, s := range f.Configuration().Servers {
		if s.Suffrage != raft.Voter {
			continue
		}
		id, err := strconv.ParseInt(string(s.ID), 10, 32)
		if err != nil {
			continue
		}
		v := QuorumReplica{ID: int32(id), LogEndOffset: -1}
		if host, port, err := net.SplitHostPort(string(s.Address)); err == nil {
			p, _ := strconv.ParseInt(port, 10, 32)
			v.Host, v.Port = host, int32(p)
		}
		out = append(out, v)
	}
	return out
}

// WaitApplied waits until this node has applied the metadata log up to
// index (bounded by ctx), so that Image includes every record committed
// up to it. A broker that forwarded a write waits so for the controller's
// high watermark before answering, so the client then finds what it made.
func (c *Controller) WaitApplied(ctx context.Context, index uint64) error {
	r := c.rafts.Load()
	if r == nil {
		return fmt.Errorf("controller not started: %w", kerr.NotController)
	}
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for r.AppliedIndex() < index {
		select {
		case <-ctx.Done():
			return fmt.Errorf("metadata not applied up to %d (at %d): %w", index, r.AppliedIndex(), ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

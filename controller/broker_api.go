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
	// ClusterControlManager.registerBroker: a broker formatted for
	// another cluster must not join this one.
	if req.ClusterID != c.cfg.ClusterID {
		resp.ErrorCode = kerr.InconsistentClusterID.Code
		return resp, nil
	}
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
	dirs, err := registrationLogDirs(req)
	if err != nil {
		resp.ErrorCode = ErrorCode(err)
		return resp, nil
	}
	reg.LogDirs = dirs
	if addr, ok := RaftAddressOf(req); ok {
		if err := c.addNonVoter(ctx, req.BrokerID, addr); err != nil {
			if notHandled(err) {
				return nil, err
			}
			resp.ErrorCode = ErrorCode(err)
			return resp, nil
		}
	}
	// A broker that heartbeats registers fenced and is unfenced once it
	// has caught up (BrokerHeartbeat); without sessions brokers never
	// heartbeat, so they register unfenced.
	reg.Fenced = c.cfg.BrokerSessionTimeout > 0
	// KIP-966: v3 carries the epoch of a clean shutdown; before it no
	// restart can be shown clean.
	previousEpoch := int64(-1)
	if req.Version >= 3 {
		previousEpoch = req.PreviousBrokerEpoch
	}
	var epoch int64
	index, err := c.proposeIndex(ctx, func(im *Image) ([]Record, error) {
		recs, err := planRegisterBroker(im, c.hb, reg, previousEpoch, c.now(), c.uncleanPolicy(im))
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

// raftAddressTag is the tagged field of BrokerRegistration in which a
// broker-only Riffle node sends the address of its metadata follower's raft
// transport. The tag is far above any Kafka defines, so a Kafka controller
// would skip it as unknown.
const raftAddressTag = 10_000

// SetRaftAddress puts a broker-only node's raft address into its
// registration request.
func SetRaftAddress(req *kmsg.BrokerRegistrationRequest, addr string) {
	req.UnknownTags.Set(raftAddressTag, []byte(addr))
}

// RaftAddressOf returns the raft address SetRaftAddress put into req.
func RaftAddressOf(req *kmsg.BrokerRegistrationRequest) (addr string, ok bool) {
	req.UnknownTags.Each(func(tag uint32, v []byte) {
		if tag == raftAddressTag && len(v) > 0 && len(v) <= 1024 {
			addr, ok = string(v), true
		}
	})
	return addr, ok
}

// addNonVoter makes a broker-only node a raft non-voter at addr, or
// updates its address (a restart binds a new port). A voter keeps its
// vote: a node listed in the quorum never becomes a non-voter.
func (c *Controller) addNonVoter(ctx context.Context, id int32, addr string) error {
	if id < 0 {
		return fmt.Errorf("invalid broker id %d: %w", id, kerr.InvalidRequest)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("broker %d raft address %q: %w", id, addr, kerr.InvalidRequest)
	}
	if !c.IsActive() {
		return fmt.Errorf("node %d is not the active controller: %w", c.cfg.NodeID, kerr.NotController)
	}
	f := c.raft().GetConfiguration()
	if err := waitFuture(ctx, f); err != nil {
		return err
	}
	for _, s := range f.Configuration().Servers {
		if s.ID != serverID(id) {
			continue
		}
		if s.Suffrage == raft.Voter {
			return fmt.Errorf("broker %d is a voter of the metadata quorum, not a follower: %w", id, kerr.InvalidRequest)
		}
		if s.Address == raft.ServerAddress(addr) {
			return nil
		}
	}
	return waitFuture(ctx, c.raft().AddNonvoter(serverID(id), raft.ServerAddress(addr), 0, timeoutOf(ctx)))
}

// producerIDBlockSize is the block every AllocateProducerIds hands out,
// Kafka's ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE.
const producerIDBlockSize = 1000

// AllocateProducerIDsReq hands a broker the next block of producer ids
// (KIP-730), never handed out before.
func (c *Controller) AllocateProducerIDsReq(ctx context.Context, req *kmsg.AllocateProducerIDsRequest) (*kmsg.AllocateProducerIDsResponse, error) {
	resp := req.ResponseKind().(*kmsg.AllocateProducerIDsResponse)
	// ProducerIdControlManager.generateNextProducerId checks the broker
	// epoch first (ClusterControlManager.checkBrokerEpoch): a broker that
	// is not registered, or an earlier incarnation of one, gets no block.
	// The check is planned with the block, against the active controller's
	// image.
	var first int64
	err := c.propose(ctx, func(im *Image) ([]Record, error) {
		if b, ok := im.Brokers[req.BrokerID]; !ok || b.Epoch != req.BrokerEpoch {
			return nil, fmt.Errorf("broker %d epoch %d is not registered: %w", req.BrokerID, req.BrokerEpoch, kerr.StaleBrokerEpoch)
		}
		recs, f, err := planProducerIDs(im, producerIDBlockSize)
		first = f
		return recs, err
	})
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

// WaitApplied waits until this node's image includes every record of the
// metadata log up to index (bounded by ctx). A broker that forwarded a
// write waits so for the controller's high watermark before answering, so
// the client then finds what it made.
func (c *Controller) WaitApplied(ctx context.Context, index uint64) error {
	r := c.rafts.Load()
	if r == nil {
		return fmt.Errorf("controller not started: %w", kerr.NotController)
	}
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	wait := func(done func() bool) error {
		for !done() {
			select {
			case <-ctx.Done():
				return fmt.Errorf("metadata not applied up to %d (image at %d): %w", index, c.Image().Offset, ctx.Err())
			case <-tick.C:
			}
		}
		return nil
	}
	// raft counts an entry applied once it has handed it to the FSM's
	// goroutine, not once the FSM has run; and only commands reach the
	// FSM (barriers and configuration entries move no image offset).
	// So: wait for raft, then for the image to reach the last command at
	// or before index.
	if err := wait(func() bool { return r.AppliedIndex() >= index }); err != nil {
		return err
	}
	want := c.lastCommandAtOrBefore(index)
	return wait(func() bool { return c.Image().Offset >= want })
}

// lastCommandAtOrBefore returns the index of the last command entry at or
// before index in the local raft log, 0 when there is none to look at (the
// log was compacted into a snapshot, which the image already includes).
func (c *Controller) lastCommandAtOrBefore(index uint64) uint64 {
	first, err := c.wal.FirstIndex()
	if err != nil {
		return 0
	}
	// Non-command entries come alone or in short runs (a barrier or a
	// no-op per term, configuration changes), so a short walk suffices.
	for i := index; i > 0 && i >= first && index-i < 256; i-- {
		var l raft.Log
		if err := c.wal.GetLog(i, &l); err != nil {
			return 0
		}
		if l.Type == raft.LogCommand {
			return i
		}
	}
	return 0
}

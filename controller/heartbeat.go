package controller

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Broker liveness, as Kafka's BrokerHeartbeatManager keeps it: the active
// controller remembers, in memory only, when it last heard from every
// registered broker and how far the broker has replayed the metadata log.
// A broker silent for broker.session.timeout.ms is fenced; a fenced broker
// is unfenced by a heartbeat showing it has replayed its own registration.
// A new active controller starts every broker on a fresh session, so a
// controller failover fences nobody by itself.

// brokerHeartbeatState is what the active controller knows of one broker.
type brokerHeartbeatState struct {
	lastContact time.Time
	// metadataOffset is the offset the broker last said it has replayed.
	metadataOffset int64
	// controlledShutdownOffset is the metadata offset at which the broker
	// entered controlled shutdown, -1 when it has not.
	controlledShutdownOffset int64
}

// heartbeats is the in-memory session table. It is pure: time comes in as
// arguments. The Controller guards it with opMu.
type heartbeats struct {
	sessionTimeout time.Duration
	// noSessions: broker.session.timeout.ms is not in force (brokers do
	// not heartbeat), so no session is ever known to be valid and a new
	// incarnation of a broker replaces the old one.
	noSessions bool
	brokers    map[int32]*brokerHeartbeatState
}

func newHeartbeats(sessionTimeout time.Duration) *heartbeats {
	noSessions := sessionTimeout <= 0
	if noSessions {
		sessionTimeout = 1<<63 - 1 // never expires
	}
	return &heartbeats{sessionTimeout: sessionTimeout, noSessions: noSessions, brokers: map[int32]*brokerHeartbeatState{}}
}

// reset forgets every session: called when this node becomes the active
// controller, so that sync starts afresh from the image.
func (h *heartbeats) reset() { clear(h.brokers) }

// sync gives every registered broker the controller has no session for a
// fresh one starting now, and forgets unregistered brokers.
func (h *heartbeats) sync(im *Image, now time.Time) {
	for id := range h.brokers {
		if _, ok := im.Brokers[id]; !ok {
			delete(h.brokers, id)
		}
	}
	for id := range im.Brokers {
		if _, ok := h.brokers[id]; !ok {
			h.brokers[id] = &brokerHeartbeatState{lastContact: now, metadataOffset: -1, controlledShutdownOffset: -1}
		}
	}
}

// register starts a new session for a broker that just (re)registered.
func (h *heartbeats) register(id int32, now time.Time) {
	h.brokers[id] = &brokerHeartbeatState{lastContact: now, metadataOffset: -1, controlledShutdownOffset: -1}
}

// enteredControlledShutdown notes the offset at which the broker's
// controlled shutdown was committed: it may stop once every broker that
// may lead has replayed that far.
func (h *heartbeats) enteredControlledShutdown(id int32, offset uint64) {
	if s, ok := h.brokers[id]; ok && s.controlledShutdownOffset < 0 {
		s.controlledShutdownOffset = int64(offset)
	}
}

// hasValidSession reports whether the broker is unfenced and was heard
// from within the session timeout (BrokerHeartbeatManager.hasValidSession:
// a fenced broker, such as one that stopped cleanly, has none).
func (h *heartbeats) hasValidSession(im *Image, id int32, now time.Time) bool {
	if h.noSessions {
		return false
	}
	s, ok := h.brokers[id]
	b, registered := im.Brokers[id]
	return ok && registered && !b.Fenced && now.Sub(s.lastContact) < h.sessionTimeout
}

// expired returns the unfenced brokers whose session has run out, lowest
// id first.
func (h *heartbeats) expired(im *Image, now time.Time) []int32 {
	var ids []int32
	for _, id := range im.SortedBrokerIDs() {
		if im.Brokers[id].Fenced {
			continue
		}
		if s, ok := h.brokers[id]; ok && now.Sub(s.lastContact) >= h.sessionTimeout {
			ids = append(ids, id)
		}
	}
	return ids
}

// lowestActiveOffset is the lowest metadata offset replayed by a broker
// that may lead (unfenced, not shutting down): a broker in controlled
// shutdown may stop once every such broker has seen its leaderships move
// (BrokerHeartbeatManager.lowestActiveOffset).
func (h *heartbeats) lowestActiveOffset(im *Image) int64 {
	lowest := int64(-1)
	first := true
	for id, s := range h.brokers {
		if !im.isActive(id) {
			continue
		}
		if first || s.metadataOffset < lowest {
			lowest, first = s.metadataOffset, false
		}
	}
	if first {
		return 1<<63 - 1 // nobody else to wait for
	}
	return lowest
}

// Broker states of BrokerHeartbeatManager.calculateNextBrokerState.
type brokerControlState int8

const (
	brokerFenced brokerControlState = iota
	brokerUnfenced
	brokerControlledShutdown
	brokerShutdownNow
)

func (s brokerControlState) fenced() bool { return s == brokerFenced || s == brokerShutdownNow }

// heartbeatResult is a heartbeat's outcome: records to write, then the
// reply, and what to remember once the records are committed.
type heartbeatResult struct {
	recs  []Record
	resp  *kmsg.BrokerHeartbeatResponse
	state brokerControlState
}

// planBrokerHeartbeat handles a BrokerHeartbeat as Kafka's
// ReplicationControlManager.processBrokerHeartbeat does. It updates h.
func planBrokerHeartbeat(im *Image, h *heartbeats, req *kmsg.BrokerHeartbeatRequest, now time.Time, unclean electionPolicy) heartbeatResult {
	resp := req.ResponseKind().(*kmsg.BrokerHeartbeatResponse)
	b, ok := im.Brokers[req.BrokerID]
	if !ok || b.Epoch != req.BrokerEpoch {
		resp.ErrorCode = kerr.StaleBrokerEpoch.Code
		resp.IsFenced = true
		return heartbeatResult{resp: resp, state: brokerFenced}
	}
	h.sync(im, now)
	s := h.brokers[req.BrokerID]
	cur := brokerUnfenced
	switch {
	case b.Fenced:
		cur = brokerFenced
	case b.InControlledShutdown:
		cur = brokerControlledShutdown
	}
	next := cur
	switch cur {
	case brokerFenced:
		switch {
		case req.WantShutdown:
			next = brokerShutdownNow
		case !req.WantFence && req.CurrentMetadataOffset >= b.Epoch:
			next = brokerUnfenced
		}
	case brokerUnfenced:
		switch {
		case req.WantFence && req.WantShutdown:
			next = brokerShutdownNow
		case req.WantFence:
			next = brokerFenced
		case req.WantShutdown && im.hasLeaderships(b.ID):
			next = brokerControlledShutdown
		case req.WantShutdown:
			next = brokerShutdownNow
		}
	case brokerControlledShutdown:
		if !im.hasLeaderships(b.ID) && s.controlledShutdownOffset >= 0 && s.controlledShutdownOffset <= h.lowestActiveOffset(im) {
			next = brokerShutdownNow
		}
	}
	// KIP-858: replicas in log dirs the broker reports offline lose their
	// leadership and ISR membership first, whatever else changes; the
	// rest is planned against the image those records make.
	var dirRecs []Record
	if len(req.OfflineLogDirs) > 0 {
		dirRecs = planDirectoriesOffline(im, b, req.OfflineLogDirs, unclean)
		if len(dirRecs) > 0 {
			after, err := im.Apply(im.Offset, dirRecs)
			if err != nil {
				dirRecs = nil
			} else {
				im, b = after, after.Brokers[b.ID]
			}
		}
	}
	var recs []Record
	if next != cur {
		switch next {
		case brokerFenced, brokerShutdownNow:
			recs = planFenceBroker(im, b, unclean)
		case brokerUnfenced:
			recs = append(recs, &UnfenceBrokerRecord{Id: b.ID, Epoch: b.Epoch})
			after, err := im.Apply(im.Offset, recs)
			if err == nil {
				recs = append(recs, brokerAddedChanges(after, b.ID, unclean)...)
			}
		case brokerControlledShutdown:
			recs = append(recs, &BrokerRegistrationChangeRecord{BrokerId: b.ID, BrokerEpoch: b.Epoch, InControlledShutdown: ControlledShutdownChangeEnter})
			after, err := im.Apply(im.Offset, recs)
			if err == nil {
				recs = append(recs, brokerRemovedChanges(after, b.ID, unclean)...)
			}
		}
	}
	recs = append(dirRecs, recs...)
	s.lastContact = now
	s.metadataOffset = req.CurrentMetadataOffset
	resp.IsCaughtUp = req.CurrentMetadataOffset >= b.Epoch
	resp.IsFenced = next.fenced()
	resp.ShouldShutdown = next == brokerShutdownNow
	return heartbeatResult{recs: recs, resp: resp, state: next}
}

// planFenceBroker fences a broker: it leaves every ISR it can leave and
// every leadership moves (Kafka's handleBrokerFenced).
func planFenceBroker(im *Image, b *BrokerRegistration, unclean electionPolicy) []Record {
	recs := brokerRemovedChanges(im, b.ID, unclean)
	return append(recs, &FenceBrokerRecord{Id: b.ID, Epoch: b.Epoch})
}

// BrokerHeartbeat handles a broker's heartbeat on the active controller
// (key 63). A Go error means it was not handled.
func (c *Controller) BrokerHeartbeat(ctx context.Context, req *kmsg.BrokerHeartbeatRequest) (*kmsg.BrokerHeartbeatResponse, error) {
	var res heartbeatResult
	err := c.propose(ctx, func(im *Image) ([]Record, error) {
		res = planBrokerHeartbeat(im, c.hb, req, c.now(), c.uncleanPolicy(im))
		return res.recs, nil
	})
	if err != nil {
		return nil, err
	}
	if res.state == brokerControlledShutdown {
		c.opMu.Lock()
		c.hb.enteredControlledShutdown(req.BrokerID, c.Image().Offset)
		c.opMu.Unlock()
	}
	return res.resp, nil
}

// uncleanPolicy returns the unclean election policy for planning against im.
func (c *Controller) uncleanPolicy(im *Image) electionPolicy {
	return func(topic string) bool {
		return uncleanLeaderElection(im, topic, c.cfg.NodeID, c.cfg.UncleanLeaderElection)
	}
}

// now is the controller's clock (replaceable in tests).
func (c *Controller) now() time.Time {
	if c.clock != nil {
		return c.clock()
	}
	return time.Now()
}

// fenceStaleBrokers fences, one proposal each, the brokers whose session
// has expired. The active controller runs it on a timer.
func (c *Controller) fenceStaleBrokers(ctx context.Context) error {
	for range 64 { // bounded: a later tick continues
		fenced := int32(-1)
		err := c.propose(ctx, func(im *Image) ([]Record, error) {
			c.hb.sync(im, c.now())
			ids := c.hb.expired(im, c.now())
			if len(ids) == 0 {
				return nil, nil
			}
			fenced = ids[0]
			c.log.Info("fencing broker: no heartbeat within the session timeout", "broker", fenced,
				"timeout", c.hb.sessionTimeout)
			return planFenceBroker(im, im.Brokers[fenced], c.uncleanPolicy(im)), nil
		})
		if err != nil || fenced < 0 {
			return err
		}
	}
	return nil
}

// electLeaderless proposes leaders for leaderless partitions that can have
// one (planUncleanLeaderElections).
func (c *Controller) electLeaderless(ctx context.Context) error {
	return c.propose(ctx, func(im *Image) ([]Record, error) {
		recs := planUncleanLeaderElections(im, c.uncleanPolicy(im))
		if len(recs) > maxElectionsPerImbalance {
			recs = recs[:maxElectionsPerImbalance]
		}
		if len(recs) > 0 {
			c.log.Info("electing leaders for leaderless partitions", "partitions", len(recs))
		}
		return recs, nil
	})
}

// runSessionTimer checks sessions on the active controller until Close.
func (c *Controller) runSessionTimer() {
	period := min(max(c.hb.sessionTimeout/8, 20*time.Millisecond), time.Second)
	// Leaderless partitions are looked at every few seconds, not every
	// tick: the check walks every partition.
	uncleanCheckTicks := max(int(5*time.Second/period), 1)
	ticks := 0
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
		if !c.IsActive() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*period+5*time.Second)
		if err := c.fenceStaleBrokers(ctx); err != nil {
			c.log.Debug("fencing stale brokers", "err", err)
		}
		if ticks++; ticks%uncleanCheckTicks == 0 {
			if err := c.electLeaderless(ctx); err != nil {
				c.log.Debug("electing leaders for leaderless partitions", "err", err)
			}
		}
		cancel()
	}
}

// UnregisterBroker removes a broker's registration (key 64, KIP-631), as
// an operator does for a broker decommissioned for good. A Go error means
// the request was not handled.
func (c *Controller) UnregisterBroker(ctx context.Context, req *kmsg.UnregisterBrokerRequest) (*kmsg.UnregisterBrokerResponse, error) {
	resp := req.ResponseKind().(*kmsg.UnregisterBrokerResponse)
	err := c.propose(ctx, func(im *Image) ([]Record, error) {
		recs, err := planUnregisterBroker(im, req.BrokerID, c.uncleanPolicy(im))
		resp.ErrorCode = ErrorCode(err)
		if err != nil {
			msg := err.Error()
			resp.ErrorMessage = &msg
		}
		return recs, nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// planUnregisterBroker is Kafka's ClusterControlManager.unregisterBroker
// with handleBrokerUnregistered: the broker leaves every ISR, its
// leaderships move, and its registration goes.
func planUnregisterBroker(im *Image, id int32, unclean electionPolicy) ([]Record, error) {
	b, ok := im.Brokers[id]
	if !ok {
		return nil, fmt.Errorf("broker %d is not registered: %w", id, kerr.BrokerIDNotRegistered)
	}
	recs := brokerRemovedChanges(im, id, unclean)
	return append(recs, &UnregisterBrokerRecord{BrokerId: id, BrokerEpoch: b.Epoch}), nil
}

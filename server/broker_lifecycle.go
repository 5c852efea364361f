package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The broker's side of its lifecycle with the controller, Kafka's
// BrokerLifecycleManager: after registering (fenced, with a new broker
// epoch) it heartbeats every broker.heartbeat.interval.ms with the metadata
// offset it has applied; the controller unfences it once that offset has
// reached its registration, and fences it when heartbeats stop for
// broker.session.timeout.ms. A clean stop asks for a controlled shutdown
// first, so that leadership moves to other replicas while this broker
// still answers, and waits (bounded) until the controller says it may stop.

// appliedOffset is the metadata offset this broker's partitions reflect.
func (b *Broker) appliedOffset() int64 {
	b.appliedMu.Lock()
	defer b.appliedMu.Unlock()
	return int64(b.appliedAt)
}

// heartbeat sends one BrokerHeartbeat to the active controller, through
// the controller channel (retried against a new controller until ctx ends).
func (b *Broker) heartbeat(ctx context.Context, wantShutdown bool) (*kmsg.BrokerHeartbeatResponse, error) {
	req := kmsg.NewPtrBrokerHeartbeatRequest()
	req.Version = 1
	req.BrokerID = b.cfg.NodeID
	req.BrokerEpoch = b.brokerEpoch.Load()
	req.CurrentMetadataOffset = b.appliedOffset()
	req.WantShutdown = wantShutdown
	req.OfflineLogDirs = b.logDirIDs(true) // v1, KIP-858
	kresp, err := b.sendToController(ctx, req)
	if err != nil {
		return nil, err
	}
	resp := kresp.(*kmsg.BrokerHeartbeatResponse)
	if resp.ErrorCode != 0 {
		return resp, fmt.Errorf("broker heartbeat: %w", kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp, nil
}

// heartbeatInterval is broker.heartbeat.interval.ms.
func (b *Broker) heartbeatInterval() time.Duration {
	return time.Duration(max(b.cfg.BrokerHeartbeatIntervalMs, 1)) * time.Millisecond
}

// awaitUnfenced heartbeats until the controller unfences this broker, as
// Kafka's broker waits for its initial unfencing before serving clients.
// It heartbeats faster than the interval: the wait is on start's path.
func (b *Broker) awaitUnfenced(ctx context.Context) error {
	wait := min(b.heartbeatInterval(), 50*time.Millisecond)
	for {
		if err := b.waitAppliedUntil(ctx, b.ctrl.Image().Offset); err != nil {
			return err
		}
		resp, err := b.heartbeat(ctx, false)
		if err == nil && !resp.IsFenced {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = errors.New("still fenced")
			}
			return fmt.Errorf("waiting to be unfenced: %w (last: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
	}
}

// runHeartbeats heartbeats every broker.heartbeat.interval.ms until the
// broker stops. Once a controlled shutdown has begun it asks to shut down.
func (b *Broker) runHeartbeats() {
	interval := b.heartbeatInterval()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-tick.C:
		}
		// A heartbeat that takes longer than the session would be useless.
		ctx, cancel := context.WithTimeout(b.ctx, max(interval, time.Duration(b.cfg.BrokerSessionTimeoutMs)*time.Millisecond))
		resp, err := b.heartbeat(ctx, b.wantShutdown.Load())
		cancel()
		switch {
		case errors.Is(err, kerr.StaleBrokerEpoch) && !b.wantShutdown.Load() && b.ctx.Err() == nil:
			// The registration is gone (UnregisterBroker while this
			// broker runs) or was replaced. Kafka's broker would stay
			// out of the cluster until restarted; Riffle registers
			// again (a new epoch, fenced until the next heartbeat),
			// so only a stopped broker can be decommissioned.
			b.logger.Warn("this broker's registration is stale; registering again", "err", err)
			rctx, rcancel := context.WithTimeout(b.ctx, max(interval, time.Duration(b.cfg.BrokerSessionTimeoutMs)*time.Millisecond))
			err := b.register(rctx)
			if err == nil {
				// Unfenced at once, not a heartbeat interval later:
				// its partitions are leaderless meanwhile.
				err = b.awaitUnfenced(rctx)
			}
			if err != nil && b.ctx.Err() == nil {
				b.logger.Warn("registering again failed", "err", err)
			}
			rcancel()
		case err != nil && b.ctx.Err() == nil:
			b.logger.Warn("broker heartbeat failed", "err", err)
		case err == nil && resp.IsFenced && !b.wantShutdown.Load():
			b.logger.Warn("this broker is fenced by the controller; it leads no partition until a heartbeat unfences it")
		}
	}
}

// controlledShutdown asks the controller to move this broker's leaderships
// away and waits until it may stop (ShouldShutdown). As Kafka's
// BrokerServer does, it waits at most broker.session.timeout.ms plus
// broker.heartbeat.interval.ms (and no longer than ctx); it also gives up
// once no controller has been known for a second, as when the rest of the
// quorum has already stopped: nobody can approve it then. Either way the
// broker stops; its session then expires and the controller fences it.
func (b *Broker) controlledShutdown(ctx context.Context) {
	if b.ctrl == nil || b.brokerEpoch.Load() <= 0 {
		return
	}
	b.wantShutdown.Store(true)
	bound := time.Duration(b.cfg.BrokerSessionTimeoutMs)*time.Millisecond + b.heartbeatInterval()
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	start := time.Now()
	wait := min(b.heartbeatInterval(), 50*time.Millisecond)
	var noController time.Time
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, time.Second)
		resp, err := b.heartbeat(attempt, true)
		cancelAttempt()
		if err == nil && resp.ShouldShutdown {
			b.logger.Info("controlled shutdown complete", "took", time.Since(start).Round(time.Millisecond))
			return
		}
		if _, _, ok := b.ctrl.ActiveController(); ok {
			noController = time.Time{}
		} else if noController.IsZero() {
			noController = time.Now()
		} else if time.Since(noController) > time.Second {
			b.logger.Warn("controlled shutdown abandoned: no active controller", "err", err)
			return
		}
		select {
		case <-ctx.Done():
			b.logger.Warn("controlled shutdown did not complete; stopping anyway", "err", err)
			return
		case <-time.After(wait):
		}
	}
}

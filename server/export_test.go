package server

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/riffle-io/riffle/replica"
)

// HeldReplication stands in for a follower of the coordinators' internal
// partitions that stops fetching: the group and transaction coordinators
// see the high watermark of each partition that existed when it was held
// stay where it was, until Release.
type HeldReplication struct {
	mu      sync.Mutex
	limits  map[*replica.Partition]int64
	changed chan struct{}
}

// HoldCoordinatorReplication holds the high watermark of every partition of
// __consumer_offsets and __transaction_state as the coordinators see it.
func (b *Broker) HoldCoordinatorReplication() *HeldReplication {
	h := &HeldReplication{limits: make(map[*replica.Partition]int64), changed: make(chan struct{})}
	for _, p := range b.replicas.Partitions() {
		if p.TP.Topic == offsetsTopic || p.TP.Topic == transactionStateTopic {
			h.limits[p] = p.HighWatermark()
		}
	}
	b.groups.repl.Store(replicationView(h))
	b.txn.repl.Store(replicationView(h))
	return h
}

// Release lets the coordinators see the real high watermarks again.
func (h *HeldReplication) Release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.limits = nil
	close(h.changed)
	h.changed = make(chan struct{})
}

func (h *HeldReplication) highWatermark(p *replica.Partition) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	hw := p.HighWatermark()
	if limit, ok := h.limits[p]; ok && limit < hw {
		return limit
	}
	return hw
}

func (h *HeldReplication) waitHighWatermark(ctx context.Context, p *replica.Partition, end int64, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		h.mu.Lock()
		changed := h.changed
		h.mu.Unlock()
		if h.highWatermark(p) >= end {
			return nil
		}
		select {
		case <-changed:
		case <-time.After(5 * time.Millisecond): // the real high watermark moves without telling
		case <-deadline.C:
			return kerr.RequestTimedOut
		case <-ctx.Done():
			return kerr.RequestTimedOut
		}
	}
}

// Kill stops b abruptly, as close to kill -9 as in-process allows (see
// Broker.kill); for the multi-node tests in server_test.
func Kill(b *Broker) { b.kill() }

// BrokerEpoch returns b's broker epoch from its registration; for tests
// that speak the controller's broker-facing APIs themselves.
func BrokerEpoch(b *Broker) int64 { return b.brokerEpoch.Load() }

// ConnectionPrincipals lists the principals of the open connections.
func (b *Broker) ConnectionPrincipals() []string {
	b.connMu.Lock()
	defer b.connMu.Unlock()
	var out []string
	for c := range b.conns {
		out = append(out, c.Principal().String())
	}
	return out
}

// IsActiveController reports whether b's node is the active controller.
func IsActiveController(b *Broker) bool { return b.ctrl.IsActive() }

// SASLAuthentications returns the completed SASL authentications and
// re-authentications.
func (b *Broker) SASLAuthentications() (auths, reauths int64) {
	return b.saslAuthentications.Load(), b.saslReauthentications.Load()
}

// PrincipalsFromClientIDs makes requests whose client id is
// "principal:User:alice" act as User:alice, standing in for authentication.
func (b *Broker) PrincipalsFromClientIDs() { b.testPrincipals.Store(true) }

package server

// Broker-wide bounds on connections and on requests read ahead of their
// handlers, after Kafka's SocketServer:
//
//   - max.connections: when the broker holds that many client connections
//     the acceptor stops accepting until one closes (Kafka's
//     ConnectionQuotas.waitForConnectionSlot); new clients wait in the
//     listen backlog.
//   - max.connections.per.ip and max.connections.per.ip.overrides: a new
//     connection from an address already at its limit is closed at once
//     (Kafka's TooManyConnectionsException).
//   - queued.max.request.bytes: the request memory pool. A connection reads
//     a request's body only once its size fits in the pool, and the bytes
//     return when the request has been served (Kafka mutes a channel whose
//     receive cannot be allocated from the MemoryPool). Kafka holds one
//     request per connection, so a client that stops reading holds at most
//     one request's bytes; Riffle reads ahead, so such a client could hold
//     its whole read-ahead until the write deadline closes it. A connection
//     with no request in flight is therefore always admitted for a request
//     of up to 1 MiB: every client progresses one request at a time, as in
//     Kafka, and the pool bounds everything else (request memory is at most
//     the pool plus 1 MiB per connection).
//   - queued.max.requests: requests decoded and waiting for their
//     connection's handler, broker-wide. Kafka holds at most one request per
//     connection; Riffle decodes ahead to keep pipelining clients busy, and
//     this bounds that read-ahead: past the limit a connection may still
//     queue one request when it has none queued, so that a few clients that
//     stop reading their responses cannot stall the others. Under a flood
//     the queue fills and every connection is served one request at a
//     time, as in Kafka: read-ahead is for a broker with room to spare.
//   - Unsent responses: a connection holds at most one large response
//     unsent (conn.go mutes it), but many connections that fetch and never
//     read hold one each. Kafka sends fetched data from the log files
//     (zero copy) and holds no such bytes; Riffle encodes them. Past
//     unsentResponseBudget broker-wide, a client fetch is answered with at
//     most maxPendingResponseBytes (still at least one batch, KIP-74), as
//     Kafka's fetch quota shrinks a fetch's MaxBytes.

import (
	"context"
	"net"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
)

// connQuotas counts client connections in total and by remote address.
type connQuotas struct {
	mu    sync.Mutex
	total int
	byIP  map[string]int
	freed chan struct{} // closed and replaced whenever a connection ends
}

func newConnQuotas() *connQuotas {
	return &connQuotas{byIP: map[string]int{}, freed: make(chan struct{})}
}

// waitSlot waits until the broker holds fewer than max.connections client
// connections. False when ctx ends first.
func (q *connQuotas) waitSlot(ctx context.Context, cfg *config.Broker) bool {
	for {
		q.mu.Lock()
		total, freed := q.total, q.freed
		q.mu.Unlock()
		if cfg.MaxConnections <= 0 || total < int(cfg.MaxConnections) {
			return true
		}
		select {
		case <-freed:
		case <-ctx.Done():
			return false
		}
	}
}

// ipLimit is the per-address limit for ip: an override naming the address
// (or a host name that resolves to it), else max.connections.per.ip.
func ipLimit(cfg *config.Broker, ip string) int {
	limit := int(cfg.MaxConnectionsPerIP)
	if cfg.MaxConnectionsPerIPOverrides == "" {
		return limit
	}
	overrides, err := config.ParseConnectionOverrides(cfg.MaxConnectionsPerIPOverrides)
	if err != nil {
		return limit // refused at start; a dynamic update is checked too
	}
	if n, ok := overrides[ip]; ok {
		return int(n)
	}
	for host, n := range overrides {
		if net.ParseIP(host) != nil {
			continue
		}
		// Kafka resolves host-name overrides to addresses.
		addrs, err := net.LookupHost(host)
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if a == ip {
				return int(n)
			}
		}
	}
	return limit
}

// admit counts a new connection from ip, or reports that ip is at its limit.
func (q *connQuotas) admit(cfg *config.Broker, ip string) bool {
	limit := ipLimit(cfg, ip)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.byIP[ip] >= limit {
		return false
	}
	q.byIP[ip]++
	q.total++
	return true
}

// done uncounts a connection admitted from ip.
func (q *connQuotas) done(ip string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.byIP[ip]--; q.byIP[ip] <= 0 {
		delete(q.byIP, ip)
	}
	q.total--
	close(q.freed)
	q.freed = make(chan struct{})
}

// requestPool is queued.max.request.bytes: request bytes read and not yet
// served, broker-wide. A limit of zero or less is no limit.
type requestPool struct {
	limit int64
	mu    sync.Mutex
	used  int64
	freed chan struct{} // closed and replaced on every release
}

func newRequestPool(limit int64) *requestPool {
	return &requestPool{limit: limit, freed: make(chan struct{})}
}

// acquire waits until n bytes fit in the pool, or admits them at once when
// the connection has nothing else in flight (idle). False when ctx ends
// first.
func (p *requestPool) acquire(ctx context.Context, n int64, idle bool) bool {
	if p.limit <= 0 {
		return true
	}
	for {
		p.mu.Lock()
		if p.used+n <= p.limit || p.used == 0 || idle {
			p.used += n
			p.mu.Unlock()
			return true
		}
		freed := p.freed
		p.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return false
		}
	}
}

func (p *requestPool) release(n int64) {
	if p.limit <= 0 {
		return
	}
	p.mu.Lock()
	p.used -= n
	close(p.freed)
	p.freed = make(chan struct{})
	p.mu.Unlock()
}

// inUse reports the bytes held (for metrics and tests).
func (p *requestPool) inUse() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.used
}

// requestQueue is queued.max.requests: requests decoded and waiting for
// their connection's handler, broker-wide.
type requestQueue struct {
	queued atomic.Int64
	mu     sync.Mutex
	freed  chan struct{}
}

func newRequestQueue() *requestQueue { return &requestQueue{freed: make(chan struct{})} }

// acquire waits for a queue slot; a connection with nothing queued (own ==
// 0) is always admitted. False when ctx ends first.
func (q *requestQueue) acquire(ctx context.Context, limit int32, own int64) bool {
	for {
		q.mu.Lock()
		if own == 0 || limit <= 0 || q.queued.Load() < int64(limit) {
			q.queued.Add(1)
			q.mu.Unlock()
			return true
		}
		freed := q.freed
		q.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return false
		}
	}
}

func (q *requestQueue) release() {
	q.mu.Lock()
	q.queued.Add(-1)
	close(q.freed)
	q.freed = make(chan struct{})
	q.mu.Unlock()
}

// unsentResponseBudget is the encoded response bytes all connections may
// hold unsent before client fetches are cut down; see limitFetch.
const unsentResponseBudget = 64 << 20

// limitFetch lowers a client fetch's byte limits to maxPendingResponseBytes
// while more than unsentResponseBudget of responses wait to be written,
// broker-wide. 48 connections that fetched 8 MiB each and never read held
// 192 MiB of encoded responses (about 1 GiB of RSS with the rest of the
// flood); once the budget is spent, each further one holds 1 MiB. Like
// Kafka's quota-bounded fetch size (KafkaApis: maxQuotaWindowBytes) it
// only makes responses smaller: the first batch is still returned whole,
// and replication fetches are left alone.
func (b *Broker) limitFetch(req kmsg.Request) {
	f, ok := req.(*kmsg.FetchRequest)
	if !ok || f.ReplicaID >= 0 || f.ReplicaState.ID >= 0 || b.unsentResponses.Load() <= unsentResponseBudget {
		return
	}
	const most = maxPendingResponseBytes
	if f.Version >= 3 {
		if f.MaxBytes <= 0 || f.MaxBytes > most {
			f.MaxBytes = most
		}
		return
	}
	// v0–v2 have no response limit, only each partition's.
	for i := range f.Topics {
		for j := range f.Topics[i].Partitions {
			if p := &f.Topics[i].Partitions[j]; p.PartitionMaxBytes > most {
				p.PartitionMaxBytes = most
			}
		}
	}
}

package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/protocol"
	"github.com/riffle-io/riffle/server/auth"
)

// maxInFlight bounds the requests one connection may have outstanding. When
// it is reached the reader stops reading, and TCP pushes back on the client.
const maxInFlight = 128

// maxInFlightBytes bounds the request bytes one connection may hold decoded
// ahead of its handler. Kafka mutes a connection while a request is served,
// so it holds one request per connection; decoding ahead keeps pipelined
// producers busy, but without a byte bound a single client could park
// maxInFlight frames of socket.request.max.bytes each in memory. One request
// is always admitted, whatever its size.
//
// 8 MiB holds what pipelining producers keep in flight (five requests of
// max.request.size, 1 MiB by default, in the Java client and librdkafka)
// with room to spare; wirefuzz's memory mode (48 connections that never
// read a response) peaked at 978 MiB of RSS with 32 MiB.
const maxInFlightBytes = 8 << 20

// decodeLimit bounds the time spent decoding one request body; see
// protocol.DecodeRequest.
const decodeLimit = time.Second

// maxPendingResponseBytes bounds the encoded responses a connection holds
// unsent before its handler serves the next request. Kafka mutes a
// connection until its response has been sent; small responses (produce
// acks) still pipeline here, but a client that sends fetches and does not
// read the answers holds at most one large response: later requests wait,
// the read-ahead fills, and TCP pushes back. Without this bound one such
// connection grew the heap to 2 GiB.
const maxPendingResponseBytes = 1 << 20

// idleAdmitBytes is the largest request a connection with nothing in flight
// may read although the request pool (queued.max.request.bytes) is full;
// see conn_limits.go. Larger requests wait for the pool.
const idleAdmitBytes = 1 << 20

// requestContext is what a handler knows about the request it serves.
type requestContext struct {
	b        *Broker
	header   protocol.RequestHeader
	conn     *conn
	listener string

	// Quotas (quotas.go).
	size             int           // the request's size in bytes
	started          time.Time     // when its handler started
	waited           time.Duration // time the handler waited (long poll, acks=all): not request time
	throttle         requestThrottle
	requestQuotaDone bool // request time recorded (or exempt) by the handler
	// forwarded: served for a broker that forwarded it (Envelope); the
	// forwarding broker throttles the client.
	forwarded bool
	// envelopePrincipal is the forwarded request's principal (Envelope).
	envelopePrincipal *auth.Principal
	// envelopeHost is the forwarded request's client address (Envelope).
	envelopeHost string
}

func (rc *requestContext) version() int16 { return rc.header.APIVersion }

// principal is who the request acts as: what the connection's
// authentication established (auth.Anonymous until then, and on PLAINTEXT
// listeners). Authorization and quotas read it per request, because
// re-authentication (KIP-368) may change it on a live connection.
func (rc *requestContext) principal() auth.Principal {
	if rc.envelopePrincipal != nil {
		return *rc.envelopePrincipal
	}
	if p, ok := rc.testPrincipal(); ok {
		return p
	}
	if rc.conn == nil {
		return auth.Anonymous
	}
	return rc.conn.Principal()
}

// clientHost is the client's IP address as ACL host patterns match it.
func (rc *requestContext) clientHost() string {
	if rc.forwarded {
		return rc.envelopeHost
	}
	if rc.conn == nil {
		return ""
	}
	return rc.conn.clientHost()
}

// pending is one request's slot in the connection's response order.
type pending struct {
	correlationID int32
	done          chan struct{}
	resp          kmsg.Response // nil: nothing to send
	frame         []byte        // resp encoded (set with done), counted in conn.pendingResp
	err           error         // non-nil: close the connection
	serve         func()        // runs the handler and closes done; nil if done already
}

// conn serves one client connection with three goroutines: a reader decodes
// requests, a handler serves them one at a time in arrival order, and a writer
// sends the responses in the same order. Serving in order matters: Kafka
// handles one request per connection at a time, and clients rely on it — an
// idempotent producer with five requests in flight expects them appended in
// the order it sent them. Decoding and writing overlap with handling, so
// pipelined requests still keep the connection busy. There is no shared
// request loop.
type conn struct {
	b          *Broker
	nc         net.Conn
	listener   string
	controller bool // a CONTROLLER listener connection (controller_apis.go)
	logger     *slog.Logger
	ctx        context.Context
	cancel     context.CancelFunc
	queue      chan *pending // to the writer, in request order
	work       chan func()   // to the handler, in request order
	closeMu    sync.Once

	inflight atomic.Int64  // request bytes read and not yet served
	space    chan struct{} // signalled when inflight shrinks
	queued   atomic.Int64  // requests decoded and not yet started (requestQueue)

	pendingResp atomic.Int64  // encoded response bytes not yet written
	respSpace   chan struct{} // signalled to the handler when pendingResp shrinks
	readSpace   chan struct{} // the same, to the reader

	principal atomic.Pointer[auth.Principal] // nil: auth.Anonymous
	// sasl is the authentication of a SASL listener's connection
	// (sasl_conn.go), nil on other listeners. The reader's alone.
	sasl *saslConn

	mutedUntil atomic.Int64 // unix nanoseconds: throttled by a quota until then (quotas.go)
}

// Principal is who the connection has authenticated as (auth.Anonymous
// until it has).
func (c *conn) Principal() auth.Principal {
	if p := c.principal.Load(); p != nil {
		return *p
	}
	return auth.Anonymous
}

// setPrincipal records a completed authentication (or re-authentication).
func (c *conn) setPrincipal(p auth.Principal) { c.principal.Store(&p) }

// clientHost is the remote IP address without the port.
func (c *conn) clientHost() string {
	if a, ok := c.nc.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(c.nc.RemoteAddr().String())
	if err != nil {
		return c.nc.RemoteAddr().String()
	}
	return host
}

func (b *Broker) serveConn(nc net.Conn, listener string) {
	// The context ends when the client goes away (or the broker shuts
	// down), so that a long-poll fetch or an acks=all wait for a client
	// that is gone returns at once instead of holding its goroutines and
	// buffers until its timeout.
	ctx, cancel := context.WithCancel(b.ctx)
	c := &conn{
		b:          b,
		nc:         nc,
		listener:   listener,
		controller: b.isControllerListener(listener),
		logger:     b.logger.With("remote", nc.RemoteAddr().String(), "listener", listener),
		ctx:        ctx,
		cancel:     cancel,
		queue:      make(chan *pending, maxInFlight),
		work:       make(chan func(), maxInFlight),
		space:      make(chan struct{}, 1),

		respSpace: make(chan struct{}, 1),
		readSpace: make(chan struct{}, 1),
	}
	b.trackConn(c, true)
	defer b.trackConn(c, false)
	b.metrics.connections.Inc()
	defer b.metrics.connections.Dec()
	if sec := b.security[listener]; sec != nil && sec.sasl != nil && !c.controller {
		c.sasl = &saslConn{l: sec.sasl}
	}
	if !c.handshake(b.security[listener]) { // listener_security.go
		c.close()
		cancel()
		return
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	handlerDone := make(chan struct{})
	go func() {
		defer close(handlerDone)
		for fn := range c.work {
			c.waitResponseSpace(c.respSpace)
			c.waitUnmuted() // a quota's throttle (KIP-219)
			fn()
		}
	}()
	c.readLoop()
	c.cancel()     // the client is gone or the broker stops: end waits at once
	close(c.work)  // the handler serves what was accepted, then exits
	close(c.queue) // the writer sends its responses, then exits
	<-handlerDone
	<-writerDone
	c.close()
	cancel()
}

func (c *conn) close() {
	c.closeMu.Do(func() { _ = c.nc.Close() })
}

// readLoop reads and dispatches requests until the connection fails, is idle
// for connections.max.idle.ms, or the broker begins to shut down (in-flight
// requests are then still answered: see Broker.Shutdown).
func (c *conn) readLoop() {
	br := bufio.NewReaderSize(c.nc, 64<<10)
	idle := time.Duration(c.b.cfg.ConnectionsMaxIdleMs) * time.Millisecond
	for {
		// Muted while responses are unsent (Kafka mutes a connection
		// until its response is sent): the next request is not read.
		c.waitResponseSpace(c.readSpace)
		// Muted while a quota throttles the client (KIP-219).
		c.waitUnmuted()
		if idle > 0 {
			_ = c.nc.SetReadDeadline(time.Now().Add(idle))
		}
		// Shutdown cancels the context and then expires the read deadline.
		// Checked after setting the idle deadline, so that a deadline set
		// by Shutdown while this reader was dispatching (or before the
		// connection was tracked) is never overwritten unnoticed: the
		// reader would otherwise wait out the idle timeout.
		if c.ctx.Err() != nil {
			return
		}
		size, err := protocol.ReadFrameSize(br, c.maxFrameBytes())
		if err != nil {
			c.logReadError(err)
			return
		}
		if c.ctx.Err() != nil {
			return
		}
		// Admission before the body is read: this connection's read-ahead,
		// then the broker's request memory pool (queued.max.request.bytes).
		// While either is full the connection is not read: it is muted.
		n := int64(size)
		if !c.reserve(n) {
			return
		}
		if !c.b.reqPool.acquire(c.ctx, n, c.inflight.Load() == n && n <= idleAdmitBytes) {
			c.release(n)
			return
		}
		if idle > 0 {
			_ = c.nc.SetReadDeadline(time.Now().Add(idle))
		}
		frame, err := protocol.ReadFrameBody(br, size)
		if err != nil {
			c.releaseRequest(n)
			c.logReadError(err)
			return
		}
		if !c.b.reqQueue.acquire(c.ctx, c.b.effectiveConfig().QueuedMaxRequests, c.queued.Load()) {
			c.releaseRequest(n)
			return
		}
		c.queued.Add(1)
		p, ok := c.dispatch(frame)
		if p != nil && p.serve != nil {
			serve := p.serve
			p.serve = func() {
				c.queued.Add(-1)
				c.b.reqQueue.release()
				defer c.releaseRequest(n)
				serve()
			}
		} else {
			c.queued.Add(-1)
			c.b.reqQueue.release()
			c.releaseRequest(n)
		}
		if p != nil {
			c.queue <- p
			if p.serve != nil {
				c.work <- p.serve
			}
		}
		if !ok {
			return
		}
	}
}

// releaseRequest returns a served (or abandoned) request's bytes to the
// connection's read-ahead and to the broker's pool.
func (c *conn) releaseRequest(n int64) {
	c.release(n)
	c.b.reqPool.release(n)
}

// waitResponseSpace holds the handler, and the reader, while more than
// maxPendingResponseBytes of responses are unsent; see the constant. A
// connection whose client is gone is not held: its writer discards. Each
// waiter has its own signal channel: with one shared channel the writer's
// single signal woke only one of them, and a handler left waiting with
// nothing pending never served the next request.
func (c *conn) waitResponseSpace(space chan struct{}) {
	for c.pendingResp.Load() > maxPendingResponseBytes {
		select {
		case <-space:
		case <-c.ctx.Done():
			return
		}
	}
}

// reserve waits until n more request bytes fit in maxInFlightBytes (or
// nothing is in flight), so that a client pipelining large requests is
// pushed back by TCP instead of by the broker's memory. Only the reader
// reserves; handlers release. False when the broker shuts down.
func (c *conn) reserve(n int64) bool {
	for {
		cur := c.inflight.Load()
		if cur == 0 || cur+n <= maxInFlightBytes {
			c.inflight.Add(n)
			return true
		}
		select {
		case <-c.space:
		case <-c.ctx.Done():
			return false
		}
	}
}

func (c *conn) release(n int64) {
	c.inflight.Add(-n)
	select {
	case c.space <- struct{}{}:
	default:
	}
}

func (c *conn) logReadError(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
	case errors.As(err, &ne) && ne.Timeout():
		c.logger.Debug("closing idle connection")
	case errors.Is(err, protocol.ErrFrameTooLarge), errors.Is(err, protocol.ErrFrameInvalid):
		c.logger.Warn("closing connection: bad frame", "err", err)
	default:
		c.logger.Debug("connection read failed", "err", err)
	}
}

// dispatch decodes one frame and starts its handler. It returns the slot for
// the response (nil when no response can be formed) and whether the connection
// may continue.
func (c *conn) dispatch(frame []byte) (*pending, bool) {
	if c.sasl != nil {
		if p, ok, handled := c.saslDispatch(frame); handled {
			return p, ok
		}
	}
	h, body, err := protocol.ParseRequestHeader(frame)
	if err != nil {
		c.logger.Warn("closing connection: bad request header", "err", err)
		return nil, false
	}
	entry, supported := c.lookupAPI(h.APIKey, h.APIVersion)
	if !supported {
		if h.APIKey == int16(kmsg.ApiVersions) {
			// KIP-511: answer an unknown ApiVersions version with a v0
			// response carrying UNSUPPORTED_VERSION and our versions,
			// so the client can retry with one we know.
			resp := apiVersionsResponse(0)
			if c.controller {
				setControllerAPIKeys(resp)
			}
			resp.ErrorCode = kerr.UnsupportedVersion.Code
			h.APIVersion = 0
			return c.doneSlot(h, resp), true
		}
		c.logger.Warn("closing connection: unsupported API", "key", h.APIKey, "version", h.APIVersion,
			"name", kmsg.NameForKey(h.APIKey))
		return nil, false
	}
	if !c.controller && forwardedAPIs[h.APIKey] {
		// KIP-590: admin writes go to the active controller (forwarding.go).
		entry = &apiEntry{key: entry.key, min: entry.min, max: entry.max, handle: c.forwardingHandler(frame, entry.handle)}
	}
	req := kmsg.RequestForKey(h.APIKey)
	req.SetVersion(h.APIVersion)
	overrun := func() {
		c.logger.Warn("closing connection: request decode exceeded its time bound", "key", h.APIKey, "version", h.APIVersion)
		c.close()
	}
	if err := protocol.DecodeRequest(req, body, decodeLimit, overrun); err != nil {
		c.logger.Warn("closing connection: undecodable request", "err", err)
		return nil, false
	}
	p := &pending{correlationID: h.CorrelationID, done: make(chan struct{})}
	rc := &requestContext{b: c.b, header: h, conn: c, listener: c.listener, size: len(frame)}
	arrived := time.Now()
	p.serve = func() {
		defer close(p.done)
		defer func() {
			// Kafka answers a handler's unexpected exception and keeps
			// serving; a handler bug must not take down every other
			// connection and partition with it. This one is closed.
			if r := recover(); r != nil {
				c.logger.Error("request handler panicked; closing connection", "key", h.APIKey,
					"version", h.APIVersion, "panic", r, "stack", string(debug.Stack()))
				p.resp, p.err = nil, fmt.Errorf("handler panic: %v", r)
			}
		}()
		c.b.limitFetch(req)
		rc.started = time.Now()
		p.resp, p.err = entry.handle(c.ctx, rc, req)
		if p.err == nil {
			rc.finishQuotas(p.resp)
		}
		c.b.metrics.observeRequest(h.APIKey, arrived)
		if p.err == nil && p.resp != nil {
			p.frame, p.err = c.encode(h, p.resp)
			// The writer needs only the bytes: the response (a
			// fetch's records) is garbage now, not when sent.
			p.resp = nil
		}
	}
	return p, true
}

// encode encodes a response frame for the writer and counts it as pending.
// A response that cannot be encoded at the request's version (a string
// over 32,767 bytes in a non-flexible version) would reach the client as
// bytes it cannot parse; the connection is closed instead.
func (c *conn) encode(h protocol.RequestHeader, resp kmsg.Response) ([]byte, error) {
	if err := protocol.CheckEncodable(resp); err != nil {
		c.logger.Error("closing connection: response not encodable at the request's version", "key", h.APIKey,
			"version", h.APIVersion, "name", kmsg.NameForKey(h.APIKey), "err", err)
		return nil, err
	}
	var out []byte
	if hint := responseSizeHint(resp); hint > smallResponseBuf {
		out = getResponseBuf(hint) // response_buf.go
	}
	out = protocol.AppendResponse(out, h.CorrelationID, resp)
	c.pendingResp.Add(int64(len(out)))
	c.b.unsentResponses.Add(int64(len(out)))
	return out, nil
}

func (c *conn) doneSlot(h protocol.RequestHeader, resp kmsg.Response) *pending {
	p := &pending{correlationID: h.CorrelationID, done: make(chan struct{}), resp: resp}
	p.frame, p.err = c.encode(h, resp)
	close(p.done)
	return p
}

// writeLoop writes responses in request order, flushing whenever no further
// response is ready, so pipelined requests share syscalls. Every write has
// a deadline of connections.max.idle.ms: Kafka closes a connection on which
// nothing was read or written for that long, and a client that stops
// reading its responses would otherwise pin them (and this goroutine) for
// good. A write that fails closes the connection and ends its waits.
func (c *conn) writeLoop() {
	bw := bufio.NewWriterSize(deadlineWriter{c}, 64<<10)
	broken := false
	fail := func() {
		broken = true
		c.close()
		c.cancel()
	}
	for p := range c.queue {
		select {
		case <-p.done:
		default:
			// Do not hold finished responses back while a slow one
			// (a long-poll fetch) is still being served.
			if !broken && bw.Buffered() > 0 {
				if err := bw.Flush(); err != nil {
					fail()
				}
			}
			<-p.done
		}
		c.writeFrame(bw, p, &broken, fail)
		if !broken && len(c.queue) == 0 && bw.Buffered() > 0 {
			if err := bw.Flush(); err != nil {
				fail()
			}
		}
	}
	if !broken {
		_ = bw.Flush()
	}
}

// writeFrame writes one finished response (unless the connection is
// broken) and releases its buffer and its count in pendingResp.
func (c *conn) writeFrame(bw *bufio.Writer, p *pending, broken *bool, fail func()) {
	out := p.frame
	p.frame, p.resp = nil, nil
	if out != nil {
		defer func() {
			if cap(out) > smallResponseBuf {
				// Written (a bufio.Writer copies what it keeps): the
				// buffer is free again. The connection does not pin it.
				putResponseBuf(out)
			}
			c.pendingResp.Add(-int64(len(out)))
			c.b.unsentResponses.Add(-int64(len(out)))
			select {
			case c.respSpace <- struct{}{}:
			default:
			}
			select {
			case c.readSpace <- struct{}{}:
			default:
			}
		}()
	}
	if *broken {
		return
	}
	if p.err != nil {
		c.logger.Debug("closing connection", "err", p.err)
		fail()
		return
	}
	if out == nil {
		return
	}
	if _, err := bw.Write(out); err != nil {
		fail()
	}
}

// deadlineWriter gives every write to the connection a fresh deadline of
// connections.max.idle.ms, so that a write makes progress or fails.
type deadlineWriter struct{ c *conn }

func (w deadlineWriter) Write(p []byte) (int, error) {
	if idle := time.Duration(w.c.b.cfg.ConnectionsMaxIdleMs) * time.Millisecond; idle > 0 {
		_ = w.c.nc.SetWriteDeadline(time.Now().Add(idle))
	}
	return w.c.nc.Write(p)
}

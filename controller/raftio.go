package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// fsm is the raft.FSM: it decodes entries and publishes the images the pure
// Image.Apply computes. raft calls Apply, Snapshot and Restore from one goroutine.
type fsm struct{ c *Controller }

func (f *fsm) Apply(l *raft.Log) any {
	c := f.c
	recs, err := DecodeBatch(l.Data)
	c.pubMu.Lock()
	prev := c.image.Load()
	var next *Image
	if err != nil {
		next = prev.withOffset(l.Index)
	} else {
		next, err = prev.Apply(l.Index, recs)
	}
	c.image.Store(next)
	// Subscribers hear of rejected entries too (with unchanged content), so
	// that anyone waiting for an offset to be applied sees it pass.
	c.notify.enqueue(prev, next, nil)
	c.pubMu.Unlock()
	if err != nil {
		// Every node rejects the same entry, so the images still agree.
		c.log.Warn("metadata entry rejected", "offset", l.Index, "err", err)
		return err
	}
	return nil
}

// snapshotFile is a snapshot on disk: the records rebuilding the image, as
// Kafka's metadata snapshots are record batches too.
type snapshotFile struct {
	Offset  uint64          `json:"offset"`
	Records json.RawMessage `json:"records"`
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{im: f.c.image.Load()}, nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 4*maxBatchBytes))
	if err != nil {
		return fmt.Errorf("read metadata snapshot: %w", err)
	}
	var sf snapshotFile
	if err := json.Unmarshal(b, &sf); err != nil {
		return fmt.Errorf("decode metadata snapshot: %w", err)
	}
	recs, err := DecodeBatch(sf.Records)
	if err != nil {
		return fmt.Errorf("decode metadata snapshot: %w", err)
	}
	c := f.c
	c.pubMu.Lock()
	defer c.pubMu.Unlock()
	prev := c.image.Load()
	next, err := NewImage(c.cfg.ClusterID).withControllerID(prev.ControllerID).Apply(sf.Offset, recs)
	if err != nil {
		return fmt.Errorf("replay metadata snapshot: %w", err)
	}
	c.image.Store(next)
	c.notify.enqueue(prev, next, nil)
	return nil
}

type fsmSnapshot struct{ im *Image }

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	recs, err := EncodeBatch(s.im.Records())
	if err == nil {
		var b []byte
		b, err = json.Marshal(snapshotFile{Offset: s.im.Offset, Records: recs})
		if err == nil {
			_, err = sink.Write(b)
		}
	}
	if err != nil {
		sink.Cancel()
		return fmt.Errorf("write metadata snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}

// notifier delivers (prev, next) image pairs to subscribers in order from one
// goroutine, so that a slow subscriber never stalls raft's apply loop.
type notifier struct {
	mu     sync.Mutex
	subs   []func(prev, next *Image) // copied on write: events keep their own view
	queue  []notifyEvent
	wake   chan struct{}
	closed bool
}

type notifyEvent struct {
	prev, next *Image
	subs       []func(prev, next *Image)
}

func newNotifier() *notifier { return &notifier{wake: make(chan struct{}, 1)} }

// enqueue queues an event for the given subscribers, or all current ones if
// subs is nil. Callers hold Controller.pubMu, which orders events with images.
func (n *notifier) enqueue(prev, next *Image, subs []func(prev, next *Image)) {
	n.mu.Lock()
	if subs == nil {
		subs = n.subs
	}
	if len(subs) > 0 && !n.closed {
		n.queue = append(n.queue, notifyEvent{prev: prev, next: next, subs: subs})
	}
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *notifier) add(fn func(prev, next *Image)) {
	n.mu.Lock()
	subs := make([]func(prev, next *Image), len(n.subs), len(n.subs)+1)
	copy(subs, n.subs)
	n.subs = append(subs, fn)
	n.mu.Unlock()
}

// run delivers events until stop is closed, then delivers what is queued.
func (n *notifier) run(stop <-chan struct{}) {
	for {
		n.mu.Lock()
		batch := n.queue
		n.queue = nil
		if len(batch) == 0 && n.closed {
			n.mu.Unlock()
			return
		}
		n.mu.Unlock()
		for _, ev := range batch {
			for _, fn := range ev.subs {
				fn(ev.prev, ev.next)
			}
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-n.wake:
		case <-stop:
			n.mu.Lock()
			n.closed = true
			n.mu.Unlock()
		}
	}
}

// slogWriter receives hclog's JSON lines and re-emits them through slog, so
// raft and raft-wal log like the rest of Riffle.
type slogWriter struct{ log *slog.Logger }

func newHCLogger(log *slog.Logger, name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       name,
		Level:      hclog.Warn, // raft is chatty at info; warnings and errors matter
		Output:     &slogWriter{log: log},
		JSONFormat: true,
	})
}

func (w *slogWriter) Write(p []byte) (int, error) {
	var m map[string]any
	if err := json.Unmarshal(p, &m); err != nil {
		w.log.Warn(string(p))
		return len(p), nil
	}
	level := slog.LevelWarn
	switch m["@level"] {
	case "trace", "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "error":
		level = slog.LevelError
	}
	msg, _ := m["@message"].(string)
	if level == slog.LevelWarn && msg == "heartbeat timeout reached, starting election" && m["last-leader-id"] == "" {
		// Every start elects a leader this way (a single voter always
		// does); only losing a known leader deserves a warning.
		level = slog.LevelInfo
	}
	if level == slog.LevelWarn && msg == "failed to get previous log" {
		// A follower behind the leader (a broker-only node joining, a
		// voter back from a restart) says so once before raft backs up
		// and sends what it lacks: the normal catch-up, not a fault.
		level = slog.LevelInfo
	}
	attrs := make([]any, 0, 2*len(m))
	if mod, ok := m["@module"]; ok {
		attrs = append(attrs, "module", mod)
	}
	for k, v := range m {
		if len(k) > 0 && k[0] == '@' {
			continue
		}
		attrs = append(attrs, k, v)
	}
	w.log.Log(context.Background(), level, msg, attrs...)
	return len(p), nil
}

// streamLayer is raft's TCP stream layer. Riffle binds the listener itself
// (rather than raft.NewTCPTransport) so that it can advertise a host name or
// a concrete address when bound to 0.0.0.0 or port 0.
//
// Accepted connections must open as a hashicorp/raft peer's do; anything
// else, typically a Kafka client pointed at the controller port by mistake,
// is closed quietly (raftConn) rather than handed to raft, which logs an
// ERROR for every connection it cannot decode.
type streamLayer struct {
	ln         net.Listener
	advertise  net.Addr
	log        *slog.Logger
	serveKafka func(net.Conn) // Config.ServeKafka
}

func (s *streamLayer) Accept() (net.Conn, error) {
	c, err := s.ln.Accept()
	if err != nil {
		return nil, err
	}
	return &raftConn{Conn: c, log: s.log, serveKafka: s.serveKafka}, nil
}

func (s *streamLayer) Close() error   { return s.ln.Close() }
func (s *streamLayer) Addr() net.Addr { return s.advertise }

func (s *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	return d.Dial("tcp", string(addr))
}

// hostPortAddr is an advertised address that need not resolve locally.
type hostPortAddr string

func (a hostPortAddr) Network() string { return "tcp" }
func (a hostPortAddr) String() string  { return string(a) }

// A raft peer opens every connection with an RPC: one byte naming its type
// (hashicorp/raft's rpcAppendEntries 0 to rpcRequestPreVote 4) and the
// request msgpack-encoded, which begins with a map (or array) header. A
// Kafka request begins with its 4-byte size, whose first two bytes are zero
// for any request under 64 KiB, so the first two bytes tell them apart.
const (
	maxRaftRPCType = 4
	// raftPreambleTimeout bounds the wait for the first two bytes; a
	// peer sends them as soon as it has dialled (the transport's own
	// timeout is 10 s).
	raftPreambleTimeout = 10 * time.Second
	// strayDrainTimeout and strayDrainBytes bound reading what a stray
	// client sent before its connection is closed: closing with unread
	// input would reset the connection instead of closing it cleanly.
	strayDrainTimeout = time.Second
	strayDrainBytes   = 64 << 10
)

func isRaftPreamble(b [2]byte) bool {
	if b[0] > maxRaftRPCType {
		return false
	}
	m := b[1]
	return m&0xf0 == 0x80 || m&0xf0 == 0x90 || (m >= 0xdc && m <= 0xdf) // fixmap, fixarray, array16/32, map16/32
}

// raftConn is an accepted controller connection whose first two bytes are
// checked before raft reads them. raft reads each connection from one
// goroutine, and closes it from the same one, so Read and Close need no lock.
type raftConn struct {
	net.Conn
	log        *slog.Logger
	serveKafka func(net.Conn)
	checked    bool
	handedOff  bool   // given to serveKafka: raft's Close must not close it
	pre        []byte // the checked bytes, served before the rest
}

func (c *raftConn) Read(p []byte) (int, error) {
	if !c.checked {
		c.checked = true
		var b [2]byte
		_ = c.Conn.SetReadDeadline(time.Now().Add(raftPreambleTimeout))
		_, err := io.ReadFull(c.Conn, b[:])
		_ = c.Conn.SetReadDeadline(time.Time{})
		if err != nil {
			// raft hears io.EOF and closes the connection without
			// logging it.
			return 0, io.EOF
		}
		if !isRaftPreamble(b) && c.serveKafka != nil {
			// KIP-919: a Kafka client or broker; raft hears EOF and
			// lets go of the connection (Close is then a no-op).
			c.handedOff = true
			go c.serveKafka(&replayConn{Conn: c.Conn, pre: b[:]})
			return 0, io.EOF
		}
		if !isRaftPreamble(b) {
			c.log.Debug("closing a connection to the controller port that does not speak raft (a Kafka client pointed at the controller listener?)",
				"remote", c.Conn.RemoteAddr().String(), "first-bytes", fmt.Sprintf("%#x", b[:]))
			c.refuse()
			return 0, io.EOF
		}
		c.pre = b[:]
	}
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// Close closes the connection unless it was handed to serveKafka.
func (c *raftConn) Close() error {
	if c.handedOff {
		return nil
	}
	return c.Conn.Close()
}

// replayConn serves pre before the rest of the connection's bytes.
type replayConn struct {
	net.Conn
	pre []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// refuse closes a stray connection cleanly: it sends FIN, reads (within
// bounds) what the client had sent so that the close is not a reset, and
// closes.
func (c *raftConn) refuse() {
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
		_ = tc.SetReadDeadline(time.Now().Add(strayDrainTimeout))
		_, _ = io.Copy(io.Discard, io.LimitReader(tc, strayDrainBytes))
	}
	_ = c.Conn.Close()
}

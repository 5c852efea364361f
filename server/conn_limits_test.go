package server_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
)

// goroutinesIn counts live goroutines whose stack contains fn.
func goroutinesIn(fn string) int {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte(fn)) {
			n++
		}
	}
	return n
}

// longPoll is a Fetch v4 at the log end of topic that waits up to wait.
func longPoll(topic string, wait time.Duration) *kmsg.FetchRequest {
	fetch := kmsg.NewPtrFetchRequest()
	fetch.Version = 4
	fetch.ReplicaID = -1
	fetch.MaxWaitMillis = int32(wait / time.Millisecond)
	fetch.MinBytes = 1
	fetch.MaxBytes = 1 << 20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	fp.FetchOffset = 0
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	return fetch
}

// A client that disconnects during a long-poll fetch frees the fetch's
// goroutine at once, not when the 60 s wait expires.
func TestDisconnectedLongPollReturnsAtOnce(t *testing.T) {
	// Not parallel: it counts handleFetch goroutines across the whole
	// process, and other tests' long polls would throw the count off.
	tb := startBroker(t)
	adm := newAdmin(t, tb.addr())
	topic := "longpoll-gone"
	createTopic(t, adm, topic, 1, nil)
	const conns = 8
	before := goroutinesIn("server.handleFetch")
	var cs []net.Conn
	for i := 0; i < conns; i++ {
		c, err := net.DialTimeout("tcp", tb.addr(), requestTimeout)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
		if _, err := c.Write(formatter.AppendRequest(nil, longPoll(topic, time.Minute), 1)); err != nil {
			t.Fatal(err)
		}
	}
	if !poll(requestTimeout, func() bool { return goroutinesIn("server.handleFetch")-before >= conns }) {
		t.Fatalf("the long polls did not start")
	}
	start := time.Now()
	for _, c := range cs {
		_ = c.Close()
	}
	if !poll(10*time.Second, func() bool { return goroutinesIn("server.handleFetch") <= before }) {
		t.Fatalf("long polls of closed connections still waiting after %v", time.Since(start))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("long polls took %v to end after their clients left", d)
	}
}

// max.connections.per.ip: a connection over the limit is closed at once;
// an override raises the limit for one address; closing a connection
// frees its slot.
func TestMaxConnectionsPerIP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		perIP     int32
		overrides string
		limit     int
	}{
		{"default", 3, "", 3},
		{"override", 2, "127.0.0.1:5", 5},
		{"override by host name", 2, "localhost:4", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := startBroker(t, func(c *config.Broker) {
				c.MaxConnectionsPerIP = tc.perIP
				c.MaxConnectionsPerIPOverrides = tc.overrides
			})
			var open []*rawConn
			for i := 0; i < tc.limit; i++ {
				rc := dialRaw(t, tb.addr())
				rc.versions() // served
				open = append(open, rc)
			}
			over := dialRaw(t, tb.addr())
			over.expectClosed(requestTimeout)
			// A freed slot is usable again.
			_ = open[0].c.Close()
			if !poll(requestTimeout, func() bool {
				c, err := net.DialTimeout("tcp", tb.addr(), requestTimeout)
				if err != nil {
					return false
				}
				defer c.Close()
				rc := &rawConn{t: t, c: c}
				req := kmsg.NewPtrApiVersionsRequest()
				if err := rc.write(formatter.AppendRequest(nil, req, 1)); err != nil {
					return false
				}
				_, err = rc.readFrame(2 * time.Second)
				return err == nil
			}) {
				t.Fatalf("a slot freed by a closed connection was not reused")
			}
			for _, rc := range open[1:] {
				rc.versions() // still served
			}
		})
	}
}

// max.connections: at the limit the broker stops accepting, as Kafka's
// acceptor blocks; the waiting client is served as soon as a slot frees.
func TestMaxConnections(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(c *config.Broker) { c.MaxConnections = 2 })
	a, b := dialRaw(t, tb.addr()), dialRaw(t, tb.addr())
	a.versions()
	b.versions()
	waiting := dialRaw(t, tb.addr()) // completes in the listen backlog
	req := kmsg.NewPtrApiVersionsRequest()
	if err := waiting.write(formatter.AppendRequest(nil, req, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := waiting.readFrame(time.Second); err == nil {
		t.Fatalf("a connection over max.connections was served")
	}
	_ = a.c.Close()
	if _, err := waiting.readFrame(requestTimeout); err != nil {
		t.Fatalf("the waiting connection was not served after a slot freed: %v", err)
	}
	b.versions()
}

// hugeClaim is a Metadata v0 request of about size bytes whose topic array
// claims n elements, the first of them invalid.
func hugeClaim(n int32, size int) []byte {
	body := header(int16(kmsg.Metadata), 0, 1, nil)
	body = binary.BigEndian.AppendUint32(body, uint32(n))
	body = append(body, 0xff, 0xfe) // a string of length -2
	body = append(body, make([]byte, size)...)
	return withSize(body)
}

// Clients that pipeline fetches and produces and never read the responses,
// and clients sending 64 MiB requests that claim huge array lengths, leave
// the broker's heap bounded, while a well-behaved franz-go client keeps
// producing and consuming. A connection is muted while its responses are
// unsent, request bytes come from queued.max.request.bytes, decoders
// refuse or do not preallocate claimed lengths, and a connection whose
// writes make no progress for connections.max.idle.ms is closed.
func TestUnreadResponsesBounded(t *testing.T) {
	const idleMs = 8000
	tb := startBroker(t, func(c *config.Broker) {
		c.ConnectionsMaxIdleMs = idleMs
		c.QueuedMaxRequestBytes = int64(c.SocketRequestMaxBytes)
	})
	addr := tb.addr()
	adm := newAdmin(t, addr)
	topic := "unread"
	createTopic(t, adm, topic, 1, nil)
	// 8 MiB of records to fetch, again and again.
	cl := newClient(t, addr, kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedBytes(64<<20))
	val := bytes.Repeat([]byte("v"), 100<<10)
	for i := 0; i < 80; i++ {
		cl.Produce(ctxFor(t, readTimeout), &kgo.Record{Topic: topic, Value: val}, nil)
	}
	if err := cl.Flush(ctxFor(t, readTimeout)); err != nil {
		t.Fatal(err)
	}
	fetch := longPoll(topic, 0)
	fetch.MaxBytes = 8 << 20
	fetch.Topics[0].Partitions[0].PartitionMaxBytes = 8 << 20
	fetchFrame := formatter.AppendRequest(nil, fetch, 1)
	produce := kmsg.NewPtrProduceRequest()
	produce.Version = 3
	produce.Acks = 1
	produce.TimeoutMillis = 1000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "absent"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = make([]byte, 1<<20)
	pt.Partitions = append(pt.Partitions, pp)
	produce.Topics = append(produce.Topics, pt)
	produceFrame := formatter.AppendRequest(nil, produce, 1)

	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	base := heap()
	writers := goroutinesIn("server.(*conn).writeLoop")
	// Each hostile connection sends its frames and reads nothing; small
	// receive buffers keep what the kernel absorbs small. Pipelined in
	// full, the fetches alone are 1.9 GiB of responses.
	hostile := []struct {
		conns, times int
		frame        []byte
	}{
		{6, 40, fetchFrame},
		{2, 200, produceFrame},
		{1, 3, hugeClaim(999_999, 64<<20)},    // under the array limit: refused at its first element
		{1, 3, hugeClaim(30_000_000, 64<<20)}, // over it
	}
	var wg sync.WaitGroup
	var open []net.Conn
	for _, h := range hostile {
		for i := 0; i < h.conns; i++ {
			c, err := net.DialTimeout("tcp", addr, requestTimeout)
			if err != nil {
				t.Fatal(err)
			}
			_ = c.(*net.TCPConn).SetReadBuffer(4 << 10)
			open = append(open, c)
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = c.SetWriteDeadline(time.Now().Add(readTimeout))
				for j := 0; j < h.times; j++ {
					if _, err := c.Write(h.frame); err != nil {
						return
					}
				}
			}()
		}
	}
	defer func() {
		for _, c := range open {
			_ = c.Close()
		}
		wg.Wait()
	}()
	// A well-behaved client produces and consumes meanwhile.
	deadline := time.Now().Add(6 * time.Second)
	var peak uint64
	for round := 0; time.Now().Before(deadline); round++ {
		tp := fmt.Sprintf("good-%d", round)
		createTopic(t, adm, tp, 1, nil)
		gb := genBase()
		produceGenerated(t, cl, tp, 0, 200, 1, gb, nil)
		consumeGenerated(t, addr, tp, 200, 1, gb)
		peak = max(peak, heap())
	}
	// The budget: the request pool (100 MiB) plus one request per
	// connection (a 64 MiB frame grows by doubling as it arrives), and
	// per fetching connection one unsent 8 MiB response and its encoding.
	if limit := base + 100<<20 + 2*100<<20 + 6*20<<20 + 64<<20; peak > limit {
		t.Fatalf("heap in use peaked at %d MiB (base %d MiB) with clients not reading", peak>>20, base>>20)
	}
	t.Logf("heap in use: base %d MiB, peak %d MiB", base>>20, peak>>20)
	// The write deadline (connections.max.idle.ms) closes the connections
	// that read nothing, although their clients keep them open.
	if !poll(4*idleMs*time.Millisecond, func() bool { return goroutinesIn("server.(*conn).writeLoop") <= writers }) {
		t.Fatalf("connections whose clients read nothing were not closed: %d writers, %d before",
			goroutinesIn("server.(*conn).writeLoop"), writers)
	}
}

// Connections that fetch and never read each hold one encoded response;
// past 64 MiB of such responses broker-wide, a client fetch is answered
// with at most 1 MiB (the first batch whole, KIP-74), and franz-go still
// consumes the whole partition meanwhile. Once the connections go away,
// fetches are answered in full again.
func TestUnsentResponsesBudget(t *testing.T) {
	tb := startBroker(t)
	addr := tb.addr()
	adm := newAdmin(t, addr)
	const topic = "unsent-budget"
	createTopic(t, adm, topic, 1, nil)
	// 8 MiB in 256 KiB batches.
	cl := newClient(t, addr, kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedBytes(64<<20),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(0))
	val := bytes.Repeat([]byte("u"), 256<<10)
	for i := 0; i < 32; i++ {
		if err := cl.ProduceSync(ctxFor(t, readTimeout), &kgo.Record{Topic: topic, Value: val}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	fetch := longPoll(topic, 0)
	fetch.MaxBytes = 8 << 20
	fetch.Topics[0].Partitions[0].PartitionMaxBytes = 8 << 20
	frame := formatter.AppendRequest(nil, fetch, 1)
	// fetchedBytes is the size of one fetch's answer on a fresh connection.
	fetchedBytes := func() int {
		rc := dialRaw(t, addr)
		defer rc.c.Close()
		if err := rc.write(frame); err != nil {
			t.Fatal(err)
		}
		resp, err := rc.readFrame(readTimeout)
		if err != nil {
			t.Fatal(err)
		}
		return len(resp)
	}
	if n := fetchedBytes(); n < 7<<20 {
		t.Fatalf("an unhindered fetch answered %d bytes, want nearly 8 MiB", n)
	}
	// 12 connections × 8 MiB unsent: beyond the 64 MiB budget.
	var open []net.Conn
	defer func() {
		for _, c := range open {
			_ = c.Close()
		}
	}()
	for i := 0; i < 12; i++ {
		c, err := net.DialTimeout("tcp", addr, requestTimeout)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.(*net.TCPConn).SetReadBuffer(4 << 10)
		open = append(open, c)
		_ = c.SetWriteDeadline(time.Now().Add(requestTimeout))
		if _, err := c.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	var small int
	if !poll(readTimeout, func() bool { small = fetchedBytes(); return small <= 1<<20+256<<10+4<<10 }) {
		t.Fatalf("with 96 MiB of responses unsent, a fetch still answered %d bytes", small)
	}
	// A real consumer is slowed, not stopped.
	cons := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx := ctxFor(t, readTimeout)
	for got := 0; got < 32; {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of 32 records under the budget: %v", got, err)
		}
		got += fs.NumRecords()
	}
	for _, c := range open {
		_ = c.Close()
	}
	open = nil
	var full int
	if !poll(readTimeout, func() bool { full = fetchedBytes(); return full >= 7<<20 }) {
		t.Fatalf("after the connections closed a fetch answered %d bytes, want nearly 8 MiB", full)
	}
}

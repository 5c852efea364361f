package server_test

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Shutdown wakes every connection's reader; a reader that was busy
// dispatching a request at that moment, or a connection accepted just
// before the listener closed, must not go back to waiting
// connections.max.idle.ms for a client that has gone quiet: shutdown
// completes promptly, not at its deadline.
func TestShutdownPromptWithBusyConnections(t *testing.T) {
	t.Parallel()
	for trial := 0; trial < 5; trial++ {
		tb := startBroker(t)
		addr := tb.addr()
		var served atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var connsMu sync.Mutex
		var conns []net.Conn // kept open until shutdown has returned
		for w := 0; w < 32; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := kmsg.NewPtrApiVersionsRequest()
				req.SetVersion(2)
				frame := formatter.AppendRequest(nil, req, 1)
				for i := 0; i < 100_000; i++ {
					select {
					case <-stop:
						return
					default:
					}
					c, err := net.DialTimeout("tcp", addr, time.Second)
					if err != nil {
						return // the listener is closed
					}
					connsMu.Lock()
					conns = append(conns, c)
					connsMu.Unlock()
					// A few request/response round trips, then the client
					// goes quiet on an open connection.
					for j := 0; j < 1+i%3; j++ {
						_ = c.SetDeadline(time.Now().Add(requestTimeout))
						if _, err := c.Write(frame); err != nil {
							break
						}
						buf := make([]byte, 4096)
						if _, err := c.Read(buf); err != nil {
							break
						}
						served.Add(1)
					}
				}
			}()
		}
		if !poll(requestTimeout, func() bool { return served.Load() > 200 }) {
			t.Fatalf("clients were not served")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		start := time.Now()
		err := tb.b.Shutdown(ctx)
		cancel()
		tb.running = false
		close(stop)
		wg.Wait()
		for _, c := range conns {
			_ = c.Close()
		}
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("trial %d: shutdown took %v with idle connections open", trial, d)
		}
	}
}

// A client that pipelines large requests behind a slow one is pushed back
// by TCP once the connection holds maxInFlightBytes of undecoded work, as
// Kafka mutes a busy connection; the broker does not read ahead without
// bound. Every request is still answered, in order.
func TestPipelinedRequestBytesBounded(t *testing.T) {
	t.Parallel()
	tb := startBroker(t)
	adm := newAdmin(t, tb.addr())
	createTopic(t, adm, "slow", 1, nil)
	rc := dialRaw(t, tb.addr())

	// A long poll at the log end keeps the connection's handler busy.
	fetch := kmsg.NewPtrFetchRequest()
	fetch.Version = 4
	fetch.MaxWaitMillis = 4000
	fetch.MinBytes = 1
	fetch.MaxBytes = 1 << 20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "slow"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)

	// Then 96 produce requests of 1 MiB each, to a topic that does not
	// exist: each is cheap to answer, but only once the fetch is done.
	const n, size = 96, 1 << 20
	produce := kmsg.NewPtrProduceRequest()
	produce.Version = 3
	produce.Acks = 1
	produce.TimeoutMillis = 1000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "absent"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = make([]byte, size)
	pt.Partitions = append(pt.Partitions, pp)
	produce.Topics = append(produce.Topics, pt)

	var written atomic.Int64
	writeErr := make(chan error, 1)
	go func() {
		_ = rc.c.SetWriteDeadline(time.Now().Add(readTimeout))
		if _, err := rc.c.Write(formatter.AppendRequest(nil, fetch, 1)); err != nil {
			writeErr <- err
			return
		}
		for i := 0; i < n; i++ {
			frame := formatter.AppendRequest(nil, produce, int32(2+i))
			if _, err := rc.c.Write(frame); err != nil {
				writeErr <- err
				return
			}
			written.Add(int64(len(frame)))
		}
		writeErr <- nil
	}()
	// While the fetch waits, the broker must stop reading well before it
	// has taken all 96 MiB.
	if poll(2*time.Second, func() bool { return written.Load() >= n*size }) {
		t.Fatalf("broker read %d MiB ahead of a busy handler", written.Load()>>20)
	}
	// Everything is answered in order once the fetch completes.
	for i := 0; i < n+1; i++ {
		frame, err := rc.readFrame(readTimeout)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		if _, err := responseBody(frame, int32(1+i), false); err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
	}
	if err := <-writeErr; err != nil && err != io.EOF {
		t.Fatalf("write: %v", err)
	}
}

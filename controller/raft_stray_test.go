package controller

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// lockedBuffer collects log output written from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestControllerPortClosesKafkaClients: a Kafka client pointed at a
// controller's raft port by mistake gets a clean close (EOF, not a reset and
// not a hang), the controller logs it at debug level only, never an ERROR,
// and the three-voter quorum, whose peers use the same ports, keeps working.
func TestControllerPortClosesKafkaClients(t *testing.T) {
	addrs := freePorts(t, 3)
	var voters []Voter
	for i, a := range addrs {
		voters = append(voters, Voter{ID: int32(i + 1), Addr: a})
	}
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	nodes := make([]*Controller, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() {
			c, err := New(Config{
				NodeID: int32(i + 1), ClusterID: "riffle-stray", Dir: t.TempDir(), ListenAddr: addrs[i],
				Voters: voters, DefaultNumPartitions: 1, DefaultReplicationFactor: 3, Logger: logger,
			})
			if err != nil {
				errs[i] = err
				return
			}
			nodes[i] = c
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			errs[i] = c.Start(ctx)
		})
	}
	wg.Wait()
	defer func() {
		for _, c := range nodes {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
	}
	leader := -1
	waitFor(t, "a leader", func() bool {
		for i, c := range nodes {
			if c.IsActive() {
				leader = i
				return true
			}
		}
		return false
	})

	for _, addr := range addrs {
		// A raw ApiVersions v3 request, as every Kafka client sends
		// first: the connection is closed cleanly.
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = 3
		req.ClientSoftwareName, req.ClientSoftwareVersion = "stray", "1.0"
		body := req.AppendTo(nil)
		var frame []byte
		frame = binary.BigEndian.AppendUint32(frame, 0)                        // size, filled in below
		frame = binary.BigEndian.AppendUint16(frame, uint16(kmsg.ApiVersions)) // api key
		frame = binary.BigEndian.AppendUint16(frame, 3)                        // version
		frame = binary.BigEndian.AppendUint32(frame, 1)                        // correlation id
		frame = binary.BigEndian.AppendUint16(frame, 5)                        // client id
		frame = append(frame, "stray"...)
		frame = append(frame, 0) // header tagged fields
		frame = append(frame, body...)
		binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
		if _, err := conn.Write(frame); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := conn.Read(make([]byte, 64))
		conn.Close()
		if n != 0 || !errors.Is(err, io.EOF) {
			t.Fatalf("%s: a Kafka request to the controller port read %d bytes, %v; want a clean close (EOF)", addr, n, err)
		}

		// franz-go, as an application misconfigured with the controller
		// port: its request fails at once instead of hanging.
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(1), kgo.DialTimeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, err = kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
		timedOut := ctx.Err() != nil
		cancel()
		cl.Close()
		if err == nil || timedOut {
			t.Fatalf("%s: franz-go ApiVersions against the controller port: %v (timed out %v), want a closed connection", addr, err, timedOut)
		}
	}

	// The quorum still replicates through the same ports.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := nodes[leader].registerBroker(ctx, BrokerRegistration{ID: 1, Endpoints: []Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9092, SecurityProtocol: "PLAINTEXT"}}}); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, nodes[leader], TopicSpec{Name: "after-stray", NumPartitions: 1, ReplicationFactor: 1})
	for _, c := range nodes {
		waitFor(t, "the topic on every voter", func() bool {
			_, ok := c.Image().Topic("after-stray")
			return ok
		})
	}

	out := logs.String()
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "level=ERROR") {
			t.Errorf("controller logged an error: %s", line)
		}
	}
	if n := strings.Count(out, "does not speak raft"); n < 2*len(addrs) {
		t.Errorf("%d debug lines for %d stray connections, want one each", n, 2*len(addrs))
	}
}

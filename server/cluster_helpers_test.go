package server_test

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
	"github.com/riffle-io/riffle/server"
	"github.com/riffle-io/riffle/storage"
)

// testCluster is n combined (broker and controller) nodes on 127.0.0.1,
// node ids 1..n, forming one metadata quorum. Each node keeps its ports and
// log dir across stop/start, so the static controller.quorum.voters stays
// true and clients can reconnect to the same addresses.
type testCluster struct {
	t     testing.TB
	nodes []*testBroker
	ports []int // client listener port by index
}

// startCluster starts n combined nodes at once (a quorum needs a majority
// to elect a leader, so they cannot start one after another) and waits
// until every one has started, registered and applied the metadata. The
// log dirs are formatted with one cluster id, as kafka-storage.sh format
// with the same --cluster-id does. opts adjust each node's config; they
// run again on every start.
func startCluster(t testing.TB, n int, opts ...func(nodeID int32, c *config.Broker)) *testCluster {
	t.Helper()
	tc := newTestCluster(t, n, opts...)
	tc.startAll()
	return tc
}

// newTestCluster is startCluster without the start: a test may prepare
// nodes (testBroker.prepare) before startAll.
func newTestCluster(t testing.TB, n int, opts ...func(nodeID int32, c *config.Broker)) *testCluster {
	t.Helper()
	tc := &testCluster{t: t}
	clusterID := storage.NewClusterID()
	ctrlPorts := make([]int, n)
	var voters []string
	for i := range n {
		ctrlPorts[i] = freePort(t)
		tc.ports = append(tc.ports, freePort(t))
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", i+1, ctrlPorts[i]))
	}
	for i := range n {
		id := int32(i + 1)
		dir := t.TempDir()
		if err := storage.FormatLogDirs([]string{dir}, clusterID, id); err != nil {
			t.Fatalf("format node %d: %v", id, err)
		}
		clientPort, ctrlPort := tc.ports[i], ctrlPorts[i]
		tb := &testBroker{t: t, dir: dir, opts: []func(*config.Broker){func(c *config.Broker) {
			var err error
			c.NodeID = id
			c.ControllerQuorumVoters = strings.Join(voters, ",")
			// The internal topics as a cluster configures them (Kafka's
			// defaults, 3 and min ISR 2, on three nodes or more).
			c.OffsetsTopicReplicationFactor = int16(min(n, 3))
			c.TransactionStateLogReplicationFactor = int16(min(n, 3))
			c.TransactionStateLogMinIsr = int32(min(n, 2))
			if c.Listeners, err = config.ParseListeners(fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", clientPort, ctrlPort)); err != nil {
				t.Errorf("parse listeners: %v", err)
			}
			if c.AdvertisedListeners, err = config.ParseListeners(fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", clientPort)); err != nil {
				t.Errorf("parse advertised listeners: %v", err)
			}
			for _, o := range opts {
				o(id, c)
			}
		}}}
		tc.nodes = append(tc.nodes, tb)
	}
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, tb := range tc.nodes {
			if tb.running {
				wg.Go(tb.stop)
			}
		}
		wg.Wait()
	})
	return tc
}

// startAll starts every stopped node at once.
func (tc *testCluster) startAll() {
	tc.t.Helper()
	errs := make([]error, len(tc.nodes))
	var wg sync.WaitGroup
	for i, tb := range tc.nodes {
		if tb.running {
			continue
		}
		wg.Go(func() { errs[i] = tb.startErr() })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			tc.t.Fatalf("node %d: %v", i+1, err)
		}
	}
	tc.waitBrokersListed()
}

// waitBrokersListed waits until every running node's Metadata lists every
// running node as a broker: a node has applied its own registration when
// it has started, and the others' a little later.
func (tc *testCluster) waitBrokersListed() {
	tc.t.Helper()
	want := map[int32]bool{}
	for _, i := range tc.running() {
		if tc.ports[i] != 0 { // controller-only nodes are no brokers
			want[int32(i+1)] = true
		}
	}
	for _, i := range tc.running() {
		if tc.ports[i] == 0 {
			continue
		}
		var got []int32
		seed := newClient(tc.t, tc.addrs()[i]).SeedBrokers()[0]
		if !poll(startTimeout, func() bool {
			got = got[:0]
			kresp, err := seed.Request(ctxFor(tc.t, requestTimeout), kmsg.NewPtrMetadataRequest())
			if err != nil {
				return false
			}
			resp := kresp.(*kmsg.MetadataResponse)
			n := 0
			for _, b := range resp.Brokers {
				got = append(got, b.NodeID)
				if want[b.NodeID] {
					n++
				}
			}
			return n == len(want)
		}) {
			tc.t.Fatalf("node %d lists brokers %v, want the %d running nodes", i+1, got, len(want))
		}
	}
}

// requestTo sends req to the node at addr itself.
func requestTo(t testing.TB, addr string, req kmsg.Request) kmsg.Response {
	t.Helper()
	cl := newClient(t, addr)
	seeds := cl.SeedBrokers()
	if len(seeds) == 0 {
		t.Fatalf("no seed broker for %s", addr)
	}
	resp, err := seeds[0].Request(ctxFor(t, requestTimeout), req)
	if err != nil {
		t.Fatalf("%s to %s: %v", kmsg.NameForKey(req.Key()), addr, err)
	}
	return resp
}

// node returns the node at index i (node id i+1).
func (tc *testCluster) node(i int) *testBroker { return tc.nodes[i] }

// stop shuts node i down gracefully.
func (tc *testCluster) stop(i int) { tc.t.Helper(); tc.nodes[i].stop() }

// start starts node i again on its directory and ports. The rest of the
// quorum must hold a majority, or it cannot catch up and register.
func (tc *testCluster) start(i int) {
	tc.t.Helper()
	tc.nodes[i].start()
	tc.waitBrokersListed()
}

// kill stops node i abruptly (server.Kill): no answers to in-flight
// requests, no handing over of anything.
func (tc *testCluster) kill(i int) {
	tc.t.Helper()
	tb := tc.nodes[i]
	tb.running = false
	server.Kill(tb.b)
}

// addrs returns the client listener of every node, running or not ("" for
// a controller-only node).
func (tc *testCluster) addrs() []string {
	out := make([]string, len(tc.ports))
	for i, p := range tc.ports {
		if p != 0 {
			out[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		}
	}
	return out
}

// running returns the indexes of the running nodes.
func (tc *testCluster) running() []int {
	var out []int
	for i, tb := range tc.nodes {
		if tb.running {
			out = append(out, i)
		}
	}
	return out
}

// startRolesCluster starts controllers controller-only nodes (ids
// 1..controllers, process.roles=controller) and brokers broker-only nodes
// (ids after them, process.roles=broker) at once: the brokers follow the
// metadata log without voting. node(i) and the other methods index all of
// them, controllers first; addrs() is empty for the controllers. opts
// adjust each node's config, on every start.
func startRolesCluster(t testing.TB, controllers, brokers int, opts ...func(nodeID int32, c *config.Broker)) *testCluster {
	t.Helper()
	tc := &testCluster{t: t}
	clusterID := storage.NewClusterID()
	n := controllers + brokers
	ctrlPorts := make([]int, controllers)
	var voters []string
	for i := range controllers {
		ctrlPorts[i] = freePort(t)
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", i+1, ctrlPorts[i]))
	}
	for i := range n {
		id := int32(i + 1)
		dir := t.TempDir()
		if err := storage.FormatLogDirs([]string{dir}, clusterID, id); err != nil {
			t.Fatalf("format node %d: %v", id, err)
		}
		isController := i < controllers
		clientPort, ctrlPort := 0, 0
		if isController {
			ctrlPort = ctrlPorts[i]
		} else {
			clientPort = freePort(t)
		}
		tc.ports = append(tc.ports, clientPort)
		tb := &testBroker{t: t, dir: dir, opts: []func(*config.Broker){func(c *config.Broker) {
			var err error
			c.NodeID = id
			c.ControllerQuorumVoters = strings.Join(voters, ",")
			if isController {
				c.ProcessRoles = []string{config.RoleController}
				c.Listeners, err = config.ParseListeners(fmt.Sprintf("CONTROLLER://127.0.0.1:%d", ctrlPort))
				c.AdvertisedListeners = nil
			} else {
				c.ProcessRoles = []string{config.RoleBroker}
				c.Listeners, err = config.ParseListeners(fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", clientPort))
				if err == nil {
					c.AdvertisedListeners, err = config.ParseListeners(fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", clientPort))
				}
			}
			if err != nil {
				t.Errorf("parse listeners: %v", err)
			}
			for _, o := range opts {
				o(id, c)
			}
		}}}
		tc.nodes = append(tc.nodes, tb)
	}
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, tb := range tc.nodes {
			if tb.running {
				wg.Go(tb.stop)
			}
		}
		wg.Wait()
	})
	tc.startAll()
	return tc
}

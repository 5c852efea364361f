package server

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/riffle-io/riffle/config"
	"github.com/riffle-io/riffle/controller"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestBrokerLifecycleSingleNode: a broker registers fenced and is unfenced
// by its heartbeats before it serves; a clean stop is a controlled
// shutdown (its leaderships move away: on a single node the partitions are
// left leaderless, the broker an eligible leader replica (KIP-966), then
// it is fenced); the restarted broker registers with a new epoch, showing
// its clean shutdown, is unfenced, is elected from the ELR, and a real
// client reads what was written before.
func TestBrokerLifecycleSingleNode(t *testing.T) {
	dir := t.TempDir()
	b := internalBroker(t, dir)
	im := b.ctrl.Image()
	reg := im.Brokers[b.cfg.NodeID]
	if reg == nil || reg.Fenced || reg.InControlledShutdown || reg.Epoch <= 0 || reg.Epoch != b.brokerEpoch.Load() {
		t.Fatalf("after start: registration %+v, broker epoch %d", reg, b.brokerEpoch.Load())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic("life"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "life"); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("before"), Partition: 0}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()

	// Watch the images the controller publishes while the broker stops.
	var mu sync.Mutex
	var sawShutdown, sawFenced bool
	b.ctrl.Subscribe(func(_, next *controller.Image) {
		r := next.Brokers[b.cfg.NodeID]
		t := next.Topics["life"]
		if r == nil || t == nil {
			return
		}
		// KIP-966 (on in a new cluster): the last ISR member leaves
		// the ISR for the ELR rather than staying in an ISR of one.
		leaderless := true
		for _, p := range t.Partitions {
			if p.Leader != controller.NoLeader || len(p.ISR) != 0 || !slices.Equal(p.ELR, []int32{b.cfg.NodeID}) {
				leaderless = false
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if r.InControlledShutdown && leaderless {
			sawShutdown = true
		}
		if r.Fenced && sawShutdown {
			sawFenced = true
		}
	})
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if !sawShutdown || !sawFenced {
		t.Fatalf("controlled shutdown: leaderships moved %v, fenced %v", sawShutdown, sawFenced)
	}
	mu.Unlock()

	b = internalBroker(t, dir)
	defer b.Shutdown(context.Background())
	im = b.ctrl.Image()
	reg2 := im.Brokers[b.cfg.NodeID]
	if reg2.Fenced || reg2.InControlledShutdown || reg2.Epoch <= reg.Epoch {
		t.Fatalf("after restart: %+v (first epoch %d)", reg2, reg.Epoch)
	}
	for _, p := range im.Topics["life"].Partitions {
		if p.Leader != b.cfg.NodeID || p.LeaderEpoch != 2 {
			t.Fatalf("after restart: partition %+v", p)
		}
	}
	cl, err = kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"life": {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	fs := cl.PollFetches(ctx)
	if err := fs.Err(); err != nil {
		t.Fatal(err)
	}
	if recs := fs.Records(); len(recs) != 1 || string(recs[0].Value) != "before" {
		t.Fatalf("after restart read %d records", len(recs))
	}
}

// TestUnregisteredBrokerRegistersAgain: UnregisterBroker sent to a running
// broker (kafka-cluster.sh unregister, through a client listener) removes
// its registration; the broker's next heartbeat is stale, so it registers
// again with a new epoch and is unfenced, instead of staying out of the
// cluster until restarted.
func TestUnregisteredBrokerRegistersAgain(t *testing.T) {
	b := internalBroker(t, t.TempDir(), func(c *config.Broker) { c.BrokerHeartbeatIntervalMs = 100 })
	defer b.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	epoch := b.brokerEpoch.Load()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrUnregisterBrokerRequest()
	req.BrokerID = 7
	if resp, err := req.RequestWith(ctx, cl); err != nil || resp.ErrorCode != kerr.BrokerIDNotRegistered.Code {
		t.Fatalf("unregister an unknown id: %v %+v", err, resp)
	}
	req.BrokerID = b.cfg.NodeID
	if resp, err := req.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("unregister: %v %+v", err, resp)
	}
	for {
		reg := b.ctrl.Image().Brokers[b.cfg.NodeID]
		if reg != nil && !reg.Fenced && reg.Epoch > epoch && b.brokerEpoch.Load() == reg.Epoch {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("broker never registered again: %+v", reg)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

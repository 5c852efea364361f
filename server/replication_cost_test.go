package server_test

import (
	"context"
	"crypto/rand"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestReplicationCost measures what RF=3 costs against RF=1 on one
// three-node in-process cluster: the latency of one acks=all record at a
// time (p50, p99) and the throughput of pipelined acks=all produce. It
// only reports; run it with RIFFLE_REPLICATION_COST=1 (about 20 s).
func TestReplicationCost(t *testing.T) {
	if os.Getenv("RIFFLE_REPLICATION_COST") == "" {
		t.Log("RIFFLE_REPLICATION_COST is not set: not measuring")
		return
	}
	tc := startCluster(t, 3)
	addrs := tc.addrs()
	for _, rf := range []int16{1, 3} {
		topic := "cost-rf" + string(rune('0'+rf))
		createTopicOn(t, addrs[0], topic, 1, rf)
		if !poll(requestTimeout, func() bool { l, isr := partitionOn(t, addrs[0], topic, 0); return l > 0 && len(isr) == int(rf) }) {
			t.Fatalf("%s never had %d in-sync replicas", topic, rf)
		}
		leader, _ := partitionOn(t, addrs[0], topic, 0)
		cl := newClient(t, addrs[leader-1], kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.ProducerBatchCompression(kgo.NoCompression()))
		value := make([]byte, 100)
		_, _ = rand.Read(value) // incompressible, though nothing compresses
		// Warm up: connections, producer id, the fetchers' first round.
		for range 50 {
			if err := cl.ProduceSync(ctxFor(t, requestTimeout), &kgo.Record{Value: value}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		const sequential = 1000
		lat := make([]time.Duration, 0, sequential)
		for range sequential {
			start := time.Now()
			if err := cl.ProduceSync(ctxFor(t, requestTimeout), &kgo.Record{Value: value}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		const pipelined = 1_000_000
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		start := time.Now()
		for range pipelined {
			wg.Add(1)
			cl.Produce(context.Background(), &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
				wg.Done()
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		if firstErr != nil {
			t.Fatal(firstErr)
		}
		t.Logf("RF=%d acks=all: one at a time p50 %v p99 %v max %v; pipelined %d x 100 B uncompressed in %v = %.0f records/s",
			rf, lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1], pipelined, elapsed.Round(time.Millisecond),
			float64(pipelined)/elapsed.Seconds())
	}
}

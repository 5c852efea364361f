package server_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/riffle-io/riffle/config"
	"github.com/riffle-io/riffle/server"
)

// Quota tests run with quota.window.num=2: Kafka's Rate measures over at
// least quota.window.num-1 whole windows, so a new client's first burst of
// that many seconds of quota is free, and the default 11 windows would
// give a 6-8 s run ten seconds of free bytes. With 2 windows the burst is
// one second, and throughput is measured after it.
const (
	quotaRate   = 512 << 10 // bytes per second
	quotaWarmup = 2 * time.Second
	quotaRun    = 10 * time.Second
)

func startQuotaBroker(t *testing.T) *testBroker {
	return startBroker(t, func(c *config.Broker) {
		c.QuotaWindowNum = 2
		c.AdminListener = "127.0.0.1:0"
	})
}

// throttleHook counts the throttles a franz-go client is told about.
type throttleHook struct{ n atomic.Int64 }

func (h *throttleHook) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, _ bool) {
	if d > 0 {
		h.n.Add(1)
	}
}

// meter records when bytes were acknowledged or consumed.
type meter struct {
	start  time.Time
	mu     sync.Mutex
	events []meterEvent
}

type meterEvent struct {
	at time.Duration
	n  int
}

func newMeter() *meter { return &meter{start: time.Now()} }

func (m *meter) add(n int) {
	m.mu.Lock()
	m.events = append(m.events, meterEvent{time.Since(m.start), n})
	m.mu.Unlock()
}

// rate is the bytes per second counted in [from, to).
func (m *meter) rate(from, to time.Duration) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	total := 0
	for _, e := range m.events {
		if e.at >= from && e.at < to {
			total += e.n
		}
	}
	return float64(total) / (to - from).Seconds()
}

func (m *meter) total() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, e := range m.events {
		n += e.n
	}
	return n
}

func setQuota(t *testing.T, adm *kadm.Client, entity kadm.ClientQuotaEntity, key string, value float64, remove bool) {
	t.Helper()
	res, err := adm.AlterClientQuotas(ctxFor(t, requestTimeout), []kadm.AlterClientQuotaEntry{{
		Entity: entity,
		Ops:    []kadm.AlterClientQuotaOp{{Key: key, Value: value, Remove: remove}},
	}})
	if err != nil {
		t.Fatalf("AlterClientQuotas: %v", err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("AlterClientQuotas %v: %v %s", r.Entity, r.Err, r.ErrMessage)
		}
	}
}

func clientIDEntity(id string) kadm.ClientQuotaEntity {
	return kadm.ClientQuotaEntity{{Type: "client-id", Name: &id}}
}

func userEntity(user string) kadm.ClientQuotaEntity {
	return kadm.ClientQuotaEntity{{Type: "user", Name: &user}}
}

// quotaProducer produces 8 KiB records in batches of up to 16 KiB until ctx ends,
// metering the acknowledged value bytes.
func quotaProducer(t *testing.T, addr, clientID, topic string, opts ...kgo.Opt) (*meter, *throttleHook, func(context.Context)) {
	hook := &throttleHook{}
	cl := newClient(t, addr, append([]kgo.Opt{
		kgo.ClientID(clientID),
		kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchMaxBytes(16 << 10),
		kgo.MaxBufferedRecords(64),
		kgo.ProducerLinger(0),
		// Quotas count the bytes on the wire: uncompressed, they are
		// the bytes metered here.
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.WithHooks(hook),
	}, opts...)...)
	m := newMeter()
	value := incompressible(8 << 10)
	run := func(ctx context.Context) {
		for ctx.Err() == nil {
			cl.Produce(ctx, &kgo.Record{Value: value}, func(r *kgo.Record, err error) {
				if err == nil {
					m.add(len(r.Value))
				}
			})
		}
	}
	return m, hook, run
}

// incompressible returns n random bytes: quotas measure the bytes on the
// wire, which the client's compression would otherwise shrink.
func incompressible(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func withinFrac(got, want, frac float64) bool { return got >= want*(1-frac) && got <= want*(1+frac) }

// A franz-go producer over its producer_byte_rate is slowed to the quota
// and told the throttle times; a producer with no quota in the same run is
// not slowed; once the quota is removed the throttled client runs at full
// speed again. The broker exports the throttling under Kafka's metric
// names.
func TestProduceQuotaThrottles(t *testing.T) {
	t.Parallel()
	tb := startQuotaBroker(t)
	adm := newAdmin(t, tb.addr())
	createTopic(t, adm, "quota-produce", 1, nil)
	setQuota(t, adm, clientIDEntity("slow-producer"), "producer_byte_rate", quotaRate, false)

	slow, slowHook, runSlow := quotaProducer(t, tb.addr(), "slow-producer", "quota-produce")
	free, freeHook, runFree := quotaProducer(t, tb.addr(), "free-producer", "quota-produce")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); runSlow(ctx) }()
	go func() { defer wg.Done(); runFree(ctx) }()
	time.Sleep(quotaRun)
	slowRate := slow.rate(quotaWarmup, quotaRun)
	freeRate := free.rate(quotaWarmup, quotaRun)
	t.Logf("quota %d B/s: throttled producer %.0f B/s (%d throttles), free producer %.0f B/s (%d throttles)",
		quotaRate, slowRate, slowHook.n.Load(), freeRate, freeHook.n.Load())
	if !withinFrac(slowRate, quotaRate, 0.10) {
		t.Errorf("throttled producer: %.0f B/s, want within 10%% of %d", slowRate, quotaRate)
	}
	if slowHook.n.Load() == 0 {
		t.Error("the throttled producer saw no throttle_time_ms")
	}
	if freeHook.n.Load() != 0 {
		t.Errorf("the producer without a quota was throttled %d times", freeHook.n.Load())
	}
	if freeRate < 1.5*quotaRate {
		t.Errorf("the producer without a quota ran at %.0f B/s only", freeRate)
	}

	body := scrapeMetrics(t, tb)
	for _, want := range []string{
		`kafka_server_produce_byte_rate{client_id="slow-producer",user=""}`,
		`kafka_server_produce_throttle_time{client_id="slow-producer",user=""}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, `client_id="free-producer"`) {
		t.Error("metrics measure a client without a quota")
	}

	// Removed: the same client runs at full speed from its next request.
	setQuota(t, adm, clientIDEntity("slow-producer"), "producer_byte_rate", 0, true)
	removed := time.Since(slow.start)
	time.Sleep(3 * time.Second)
	after := slow.rate(removed+time.Second, removed+3*time.Second)
	cancel()
	wg.Wait()
	t.Logf("after removing the quota: %.0f B/s", after)
	if after < 1.5*quotaRate {
		t.Errorf("after the quota was removed the producer ran at %.0f B/s only", after)
	}
}

func scrapeMetrics(t *testing.T, tb *testBroker) string {
	t.Helper()
	resp, err := http.Get("http://" + tb.b.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return string(b)
}

// A consumer over its consumer_byte_rate is slowed to it and told the
// throttle times; a consumer without a quota reading the same data in the
// same run is not.
func TestFetchQuotaThrottles(t *testing.T) {
	t.Parallel()
	tb := startQuotaBroker(t)
	adm := newAdmin(t, tb.addr())
	const topic = "quota-fetch"
	createTopic(t, adm, topic, 1, nil)
	// 12 MiB: more than the throttled consumer can read in the run.
	// Batches of 16 KiB: a fetch returns at least one whole batch (KIP-74),
	// so batch size is the granularity of the consumer's throttling.
	pcl := newClient(t, tb.addr(), kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerBatchMaxBytes(16<<10))
	value := incompressible(8 << 10)
	var recs []*kgo.Record
	for range 12 << 7 {
		recs = append(recs, &kgo.Record{Value: value})
	}
	if err := pcl.ProduceSync(ctxFor(t, time.Minute), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	setQuota(t, adm, clientIDEntity("slow-consumer"), "consumer_byte_rate", quotaRate, false)

	consume := func(clientID string) (*meter, *throttleHook, func(context.Context)) {
		hook := &throttleHook{}
		cl := newClient(t, tb.addr(), kgo.ClientID(clientID), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<10),
			kgo.FetchMaxPartitionBytes(64<<10), kgo.WithHooks(hook))
		m := newMeter()
		return m, hook, func(ctx context.Context) {
			for ctx.Err() == nil {
				fs := cl.PollFetches(ctx)
				fs.EachRecord(func(r *kgo.Record) { m.add(len(r.Value)) })
			}
		}
	}
	slow, slowHook, runSlow := consume("slow-consumer")
	free, freeHook, runFree := consume("free-consumer")
	ctx, cancel := context.WithTimeout(context.Background(), quotaRun)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); runSlow(ctx) }()
	go func() { defer wg.Done(); runFree(ctx) }()
	wg.Wait()
	slowRate := slow.rate(quotaWarmup, quotaRun)
	t.Logf("quota %d B/s: throttled consumer %.0f B/s (%d throttles); free consumer read %d B (%d throttles)",
		quotaRate, slowRate, slowHook.n.Load(), free.total(), freeHook.n.Load())
	if !withinFrac(slowRate, quotaRate, 0.10) {
		t.Errorf("throttled consumer: %.0f B/s, want within 10%% of %d", slowRate, quotaRate)
	}
	if slowHook.n.Load() == 0 {
		t.Error("the throttled consumer saw no throttle_time_ms")
	}
	if freeHook.n.Load() != 0 {
		t.Errorf("the consumer without a quota was throttled %d times", freeHook.n.Load())
	}
	if free.total() != len(recs)*len(value) {
		t.Errorf("the consumer without a quota read %d of %d bytes in %v", free.total(), len(recs)*len(value), quotaRun)
	}
	if body := scrapeMetrics(t, tb); !strings.Contains(body, `kafka_server_fetch_throttle_time{client_id="slow-consumer",user=""}`) {
		t.Error("metrics lack the fetch throttle time of the throttled consumer")
	}
}

// librdkafka (confluent-kafka-python) producing over its quota is slowed
// and reports the throttle times to its throttle_cb.
func TestProduceQuotaLibrdkafka(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("/usr/bin/python3"); err != nil {
		t.Fatalf("python3: %v", err)
	}
	tb := startQuotaBroker(t)
	adm := newAdmin(t, tb.addr())
	const topic = "quota-rdkafka"
	createTopic(t, adm, topic, 1, nil)
	setQuota(t, adm, clientIDEntity("rdk-throttled"), "producer_byte_rate", quotaRate, false)
	script := `
import json, os, sys, time
from confluent_kafka import Producer
bs, topic, secs, warm = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
throttles = []
acked = []
def on_throttle(ev):
    if ev.throttle_time > 0:
        throttles.append(ev.throttle_time)
def on_ack(err, msg):
    if err is None:
        acked.append((time.time(), len(msg.value())))
p = Producer({"bootstrap.servers": bs, "client.id": "rdk-throttled", "throttle_cb": on_throttle,
              "compression.type": "none", "linger.ms": 0, "batch.size": 16384,
              "queue.buffering.max.kbytes": 256})
value = os.urandom(8192)
start = time.time()
while time.time() - start < secs:
    try:
        p.produce(topic, value, callback=on_ack)
    except BufferError:
        p.poll(0.05)
        continue
    p.poll(0)
end = time.time()
p.poll(0)
n = sum(size for at, size in acked if start + warm <= at < end)
print(json.dumps({"throttles": len(throttles), "max": max(throttles or [0]), "rate": n / (end - start - warm)}))
sys.stdout.flush()
os._exit(0)
`
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/bin/python3", "-c", script, tb.addr(), topic,
		strconv.Itoa(int(quotaRun.Seconds())), strconv.Itoa(int(quotaWarmup.Seconds()))).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	var res struct {
		Throttles int
		Max       float64
		Rate      float64
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("librdkafka output: %v\n%s", err, out)
	}
	t.Logf("quota %d B/s: librdkafka produced %.0f B/s, %d throttles reported (max %.3f s)", quotaRate, res.Rate, res.Throttles, res.Max)
	if res.Throttles == 0 {
		t.Error("librdkafka reported no throttle")
	}
	// librdkafka keeps up to five produce requests in flight, each
	// accepted before its throttle applies, and a loaded machine slows
	// the Python loop: slowed to about the quota, within 25%.
	if !withinFrac(res.Rate, quotaRate, 0.25) {
		t.Errorf("librdkafka produced %.0f B/s, want within 25%% of %d", res.Rate, quotaRate)
	}
}

// A user quota is shared by all of that user's clients (ClientQuotaManager
// measures it under the user alone); another user is not limited. The
// users authenticate with SASL/PLAIN.
func TestUserQuotaSharedByClients(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(c *config.Broker) { c.QuotaWindowNum = 2; c.AdminListener = "127.0.0.1:0" },
		withListener("SASL_PLAINTEXT", "SASL_PLAINTEXT", map[string]string{
			"listener.name.sasl_plaintext.sasl.enabled.mechanisms": "PLAIN",
			"listener.name.sasl_plaintext.plain.sasl.jaas.config":  plainJAAS,
		}))
	addr := tb.b.ListenerAddr("SASL_PLAINTEXT")
	adm := newAdmin(t, tb.addr())
	createTopic(t, adm, "quota-user", 1, nil)
	setQuota(t, adm, userEntity("alice"), "producer_byte_rate", quotaRate, false)
	alice, admin := plainAuth("alice", "alice-secret"), plainAuth("admin", "admin-secret")
	a1, a1Hook, runA1 := quotaProducer(t, addr, "app-1", "quota-user", alice)
	a2, a2Hook, runA2 := quotaProducer(t, addr, "app-2", "quota-user", alice)
	other, otherHook, runOther := quotaProducer(t, addr, "app-1", "quota-user", admin)
	ctx, cancel := context.WithTimeout(context.Background(), quotaRun)
	defer cancel()
	var wg sync.WaitGroup
	for _, run := range []func(context.Context){runA1, runA2, runOther} {
		wg.Add(1)
		go func() { defer wg.Done(); run(ctx) }()
	}
	wg.Wait()
	aliceRate := a1.rate(quotaWarmup, quotaRun) + a2.rate(quotaWarmup, quotaRun)
	otherRate := other.rate(quotaWarmup, quotaRun)
	t.Logf("user quota %d B/s: alice's two clients %.0f B/s together (%d+%d throttles); admin %.0f B/s (%d throttles)",
		quotaRate, aliceRate, a1Hook.n.Load(), a2Hook.n.Load(), otherRate, otherHook.n.Load())
	// Each connection is muted on its own: a request of one is accepted
	// while the other is throttled, so two clients overshoot a little
	// more than one (up to 10% in 20 runs on a loaded machine).
	if !withinFrac(aliceRate, quotaRate, 0.15) {
		t.Errorf("alice's clients together: %.0f B/s, want within 15%% of %d", aliceRate, quotaRate)
	}
	if a1Hook.n.Load() == 0 || a2Hook.n.Load() == 0 {
		t.Error("one of alice's clients saw no throttle")
	}
	if otherHook.n.Load() != 0 || otherRate < 1.5*quotaRate {
		t.Errorf("admin, without a quota, was throttled %d times and ran at %.0f B/s", otherHook.n.Load(), otherRate)
	}
	if body := scrapeMetrics(t, tb); !strings.Contains(body, `kafka_server_produce_byte_rate{client_id="",user="alice"}`) {
		t.Error("metrics lack alice's user quota sensor")
	}
}

// KIP-599: CreateTopics v6+ over the client's controller_mutation_rate is
// refused per topic with THROTTLING_QUOTA_EXCEEDED and the throttle time;
// older versions are accepted and throttled. The token bucket holds
// controller.quota.window.num × window × quota partitions (here 2 × 1 s ×
// 2/s).
func TestControllerMutationQuota(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(c *config.Broker) { c.ControllerQuotaWindowNum = 2 })
	adm := newAdmin(t, tb.addr())
	setQuota(t, adm, clientIDEntity("mutator"), "controller_mutation_rate", 2, false)
	setQuota(t, adm, clientIDEntity("old-mutator"), "controller_mutation_rate", 2, false)

	create := func(cl *kgo.Client, topic string, partitions int32) *kmsg.CreateTopicsResponse {
		t.Helper()
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 30_000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, 1
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctxFor(t, requestTimeout), cl)
		if err != nil {
			t.Fatalf("CreateTopics %s: %v", topic, err)
		}
		return resp
	}

	strict := newClient(t, tb.addr(), kgo.ClientID("mutator"))
	// The bucket goes from 4 to -8: four seconds to refill, so that a slow
	// request on a loaded machine still finds it below zero.
	r := create(strict, "mut-a", 12)
	if r.Topics[0].ErrorCode != 0 || r.ThrottleMillis != 0 {
		t.Fatalf("first topic: error %d, throttle %d ms; want created, unthrottled (strict quotas throttle only refusals)",
			r.Topics[0].ErrorCode, r.ThrottleMillis)
	}
	r = create(strict, "mut-b", 1)
	if r.Topics[0].ErrorCode != kerr.ThrottlingQuotaExceeded.Code || r.ThrottleMillis <= 0 || r.ThrottleMillis > 4000 {
		t.Fatalf("over the quota: error %d, throttle %d ms; want THROTTLING_QUOTA_EXCEEDED after at most 4 s",
			r.Topics[0].ErrorCode, r.ThrottleMillis)
	}
	if !poll(20*time.Second, func() bool { return create(strict, "mut-b", 1).Topics[0].ErrorCode == 0 }) {
		t.Fatal("the topic was still refused once the bucket had refilled")
	}

	// CreateTopics v5 (Kafka 2.6's) cannot carry the error: permissive.
	old := newClient(t, tb.addr(), kgo.ClientID("old-mutator"), kgo.MaxVersions(kversion.V2_6_0()))
	// 4 → -8: four seconds to refill, less the time the request took
	// (the throttle counts from when the partitions were recorded).
	r = create(old, "mut-c", 12)
	if r.Topics[0].ErrorCode != 0 || r.ThrottleMillis <= 0 || r.ThrottleMillis > 4000 {
		t.Fatalf("permissive, over the quota: error %d, throttle %d ms; want created and throttled up to 4 s",
			r.Topics[0].ErrorCode, r.ThrottleMillis)
	}
	// Other clients are not limited.
	free := newClient(t, tb.addr(), kgo.ClientID("free-mutator"))
	for i := range 3 {
		if r := create(free, fmt.Sprintf("mut-free-%d", i), 8); r.Topics[0].ErrorCode != 0 || r.ThrottleMillis != 0 {
			t.Fatalf("client without a quota: error %d, throttle %d ms", r.Topics[0].ErrorCode, r.ThrottleMillis)
		}
	}
}

// KIP-124: a client over its request_percentage is throttled, at most one
// window at a time; a client without a quota is not.
func TestRequestPercentageQuota(t *testing.T) {
	t.Parallel()
	tb := startQuotaBroker(t)
	adm := newAdmin(t, tb.addr())
	// 0.5% of a thread: 5 ms of handling per second.
	setQuota(t, adm, clientIDEntity("busy"), "request_percentage", 0.5, false)
	busyHook, freeHook := &throttleHook{}, &throttleHook{}
	busy := newClient(t, tb.addr(), kgo.ClientID("busy"), kgo.WithHooks(busyHook))
	free := newClient(t, tb.addr(), kgo.ClientID("free"), kgo.WithHooks(freeHook))
	var maxThrottle atomic.Int32
	for _, c := range []struct {
		cl  *kgo.Client
		max *atomic.Int32
	}{{busy, &maxThrottle}, {free, nil}} {
		deadline := time.Now().Add(4 * time.Second)
		for time.Now().Before(deadline) {
			req := kmsg.NewPtrMetadataRequest()
			resp, err := req.RequestWith(ctxFor(t, requestTimeout), c.cl)
			if err != nil {
				t.Fatalf("Metadata: %v", err)
			}
			if c.max != nil && resp.ThrottleMillis > c.max.Load() {
				c.max.Store(resp.ThrottleMillis)
			}
		}
	}
	t.Logf("throttles: busy client %d (max %d ms), free client %d", busyHook.n.Load(), maxThrottle.Load(), freeHook.n.Load())
	if busyHook.n.Load() == 0 {
		t.Error("the client over its request_percentage was not throttled")
	}
	if maxThrottle.Load() > 1000 {
		t.Errorf("a request-time throttle of %d ms: more than one window", maxThrottle.Load())
	}
	if freeHook.n.Load() != 0 {
		t.Errorf("the client without a quota was throttled %d times", freeHook.n.Load())
	}
}

// A CreateTopics forwarded by a broker that is not the active controller
// (KIP-590) is measured on the controller under the client's client-id, and
// the broker mutes the client's connection for the throttle the controller
// answered.
func TestControllerMutationQuotaForwarded(t *testing.T) {
	t.Parallel()
	tc := startCluster(t, 3, func(_ int32, c *config.Broker) { c.ControllerQuotaWindowNum = 2 })
	var addr string
	for i := range 3 {
		if !server.IsActiveController(tc.node(i).b) {
			addr = tc.node(i).addr()
			break
		}
	}
	if addr == "" {
		t.Fatal("no node that is not the active controller")
	}
	adm := newAdmin(t, addr)
	// rawConn requests carry client-id riffle-itest.
	setQuota(t, adm, clientIDEntity("riffle-itest"), "controller_mutation_rate", 1, false)
	rc := dialRaw(t, addr)
	create := func(topic string, partitions int32) *kmsg.CreateTopicsResponse {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Version, req.TimeoutMillis = 7, 30_000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, 1
		req.Topics = append(req.Topics, rt)
		return rc.roundTrip(req).(*kmsg.CreateTopicsResponse)
	}
	// A burst of 2 at 1/s: 10 partitions leave the bucket at -8, eight
	// seconds to refill, however slowly a loaded machine forwards.
	began := time.Now()
	if r := create("fwd-a", 10); r.Topics[0].ErrorCode != 0 {
		t.Fatalf("first topic: error %d", r.Topics[0].ErrorCode)
	}
	r := create("fwd-b", 1)
	if r.Topics[0].ErrorCode != kerr.ThrottlingQuotaExceeded.Code || r.ThrottleMillis <= 0 || r.ThrottleMillis > 8000 {
		t.Fatalf("over the quota through a forwarding broker (%v after the first request): error %d, throttle %d ms; want THROTTLING_QUOTA_EXCEEDED, up to 8 s",
			time.Since(began), r.Topics[0].ErrorCode, r.ThrottleMillis)
	}
	// The raw connection does not back off by itself: the broker's mute
	// holds its next request.
	start := time.Now()
	meta := kmsg.NewPtrMetadataRequest()
	meta.Version = 12
	rc.roundTrip(meta)
	if held := time.Since(start); held < time.Duration(r.ThrottleMillis)*time.Millisecond-50*time.Millisecond {
		t.Errorf("the next request was answered after %v; the connection should have been muted for %d ms", held, r.ThrottleMillis)
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// PhaseResult is one produce or consume phase against one broker.
type PhaseResult struct {
	Records       int64   `json:"records"`
	Bytes         int64   `json:"bytes"` // record value bytes moved
	Seconds       float64 `json:"seconds"`
	MBPerSec      float64 `json:"mb_per_sec"` // 1 MB = 10^6 bytes
	RecordsPerSec float64 `json:"records_per_sec"`
	// WarmupRecords were produced before the measured window (produce only);
	// the consume phase reads them back too.
	WarmupRecords int64 `json:"warmup_records,omitempty"`
	// StoppedBy says which bound ended the phase: "records" when the record
	// budget was used up, "time" when the phase deadline came first.
	StoppedBy string `json:"stopped_by"`

	// Produce latency: time from handing a record to the client until its
	// promise fires, with at most Window records in flight.
	P50Ms  float64 `json:"p50_ms,omitempty"`
	P99Ms  float64 `json:"p99_ms,omitempty"`
	MaxMs  float64 `json:"max_ms,omitempty"`
	Window int     `json:"window,omitempty"`

	BrokerCPUSeconds      float64 `json:"broker_cpu_seconds"`
	BrokerCPUSecondsPerGB float64 `json:"broker_cpu_seconds_per_gb"` // 1 GB = 10^9 bytes
	LoadgenCPUSeconds     float64 `json:"loadgen_cpu_seconds"`
}

// finish fills the derived rates from the counts, elapsed time and CPU use.
func (r *PhaseResult) finish(elapsed time.Duration, brokerCPU, selfCPU float64) {
	r.Seconds = elapsed.Seconds()
	if r.Seconds > 0 {
		r.MBPerSec = float64(r.Bytes) / 1e6 / r.Seconds
		r.RecordsPerSec = float64(r.Records) / r.Seconds
	}
	r.BrokerCPUSeconds = brokerCPU
	r.LoadgenCPUSeconds = selfCPU
	if r.Bytes > 0 {
		r.BrokerCPUSecondsPerGB = brokerCPU / (float64(r.Bytes) / 1e9)
	}
}

// phaseLimits bounds a phase by count and by time, whichever comes first.
type phaseLimits struct {
	Records int64
	Timeout time.Duration
}

// meters samples broker and load-generator CPU around a phase.
type meters struct {
	broker cpuMeter
	self   cpuMeter
}

func (m meters) sample() (broker, self float64, err error) {
	if broker, err = m.broker.sample(); err != nil {
		return 0, 0, fmt.Errorf("broker cpu: %w", err)
	}
	if self, err = m.self.sample(); err != nil {
		return 0, 0, fmt.Errorf("loadgen cpu: %w", err)
	}
	return broker, self, nil
}

// produceConfig is what the producer needs beyond the scenario.
type produceConfig struct {
	Seeds         []string
	Linger        time.Duration
	WindowBytes   int
	FlushTimeout  time.Duration
	DeliveryLimit time.Duration
}

// windowRecords is how many records may be in flight at once: a fixed
// number of bytes, so that 100 B and 1 KiB records queue for comparable
// times and the latency figures measure the broker rather than a queue of
// unbounded length inside the client.
func (c produceConfig) windowRecords(recordBytes int) int {
	w := c.WindowBytes / max(recordBytes, 1)
	return max(w, 1)
}

func (c produceConfig) clientOpts(sc Scenario, window int) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Seeds...),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(c.Linger),
		// Above the window, so Produce never blocks on the client's own
		// buffer and the window alone decides what is in flight.
		kgo.MaxBufferedRecords(window + 1),
		kgo.RecordDeliveryTimeout(c.DeliveryLimit),
	}
	if sc.Acks == "all" {
		// Idempotence is the default of Kafka's clients since Kafka 3.0
		// (KIP-679), so acks=all is measured the way clients run it.
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	} else {
		// acks=1 is incompatible with idempotent writes.
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	}
	return opts
}

// produce writes records of sc.RecordBytes to topic until lim.Records are
// acknowledged or lim.Timeout passes, with at most a window of records in
// flight, and records each record's latency from its promise. Any failed
// record fails the phase: a benchmark that drops writes measures nothing.
func produce(ctx context.Context, cfg produceConfig, sc Scenario, topic string, lim phaseLimits, m meters) (PhaseResult, error) {
	window := cfg.windowRecords(sc.RecordBytes)
	cl, err := kgo.NewClient(cfg.clientOpts(sc, window)...)
	if err != nil {
		return PhaseResult{}, err
	}
	defer cl.Close()

	// Warm the connection and metadata outside the measured window, so the
	// phase measures steady-state produce rather than the client's start.
	if err := warmProducer(ctx, cl, topic, sc.RecordBytes); err != nil {
		return PhaseResult{}, fmt.Errorf("warm-up: %w", err)
	}

	// One shared value: kgo never writes to it, and random bytes keep any
	// later compression honest.
	value := make([]byte, sc.RecordBytes)
	rng := rand.New(rand.NewPCG(uint64(sc.RecordBytes), uint64(sc.Partitions)))
	for i := range value {
		value[i] = byte(rng.Uint32())
	}

	var (
		sem       = make(chan struct{}, window)
		latencies = make([]time.Duration, lim.Records)
		acked     atomic.Int64
		failOnce  sync.Once
		failErr   error
		failed    = make(chan struct{})
	)
	fail := func(err error) {
		failOnce.Do(func() {
			failErr = err
			close(failed)
		})
	}

	cpu0, self0, err := m.sample()
	if err != nil {
		return PhaseResult{}, err
	}
	start := time.Now()
	deadline := time.NewTimer(lim.Timeout)
	defer deadline.Stop()

	res := PhaseResult{StoppedBy: "records", Window: window, WarmupRecords: 1}
	var sent int64
produceLoop:
	for sent < lim.Records {
		select {
		case sem <- struct{}{}:
		case <-deadline.C:
			res.StoppedBy = "time"
			break produceLoop
		case <-failed:
			break produceLoop
		case <-ctx.Done():
			fail(ctx.Err())
			break produceLoop
		}
		begin := time.Now()
		cl.Produce(context.Background(), &kgo.Record{Topic: topic, Value: value}, func(_ *kgo.Record, err error) {
			lat := time.Since(begin)
			<-sem
			if err != nil {
				fail(fmt.Errorf("produce to %s: %w", topic, err))
				return
			}
			// Promises can fire on more than one goroutine; each takes its
			// own slot, and there are never more acks than records sent.
			latencies[acked.Add(1)-1] = lat
		})
		sent++
	}

	flushCtx, cancel := context.WithTimeout(ctx, cfg.FlushTimeout)
	defer cancel()
	if err := cl.Flush(flushCtx); err != nil {
		fail(fmt.Errorf("flush %s: %w", topic, err))
	}
	elapsed := time.Since(start)
	cpu1, self1, err := m.sample()
	if err != nil {
		return PhaseResult{}, err
	}
	select {
	case <-failed:
		return PhaseResult{}, failErr
	default:
	}

	n := acked.Load()
	if n != sent {
		return PhaseResult{}, fmt.Errorf("produce to %s: %d records sent but %d acknowledged", topic, sent, n)
	}
	res.Records = n
	res.Bytes = n * int64(sc.RecordBytes)
	res.P50Ms, res.P99Ms, res.MaxMs = percentilesMs(latencies[:n])
	res.finish(elapsed, cpu1-cpu0, self1-self0)
	return res, nil
}

// warmProducer sends one record synchronously: it makes the client load
// metadata, connect and (for acks=all) obtain a producer ID.
func warmProducer(ctx context.Context, cl *kgo.Client, topic string, size int) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: make([]byte, size)}).FirstErr()
}

// percentilesMs returns the 50th and 99th percentiles and the maximum of
// lats in milliseconds, by sorting the full sample (nearest-rank).
func percentilesMs(lats []time.Duration) (p50, p99, maxMs float64) {
	if len(lats) == 0 {
		return 0, 0, 0
	}
	slices.Sort(lats)
	rank := func(p float64) float64 {
		i := int(p*float64(len(lats))+0.999999) - 1
		i = min(max(i, 0), len(lats)-1)
		return float64(lats[i]) / float64(time.Millisecond)
	}
	return rank(0.50), rank(0.99), rank(1)
}

// errShortRead is returned when a consume phase cannot read back every
// record that was acknowledged.
var errShortRead = errors.New("consumed record count differs from produced")

// consume reads topic from the start until it has seen want records, and
// fails unless it reads exactly want records of recordBytes each within the
// timeout.
func consume(ctx context.Context, seeds []string, topic string, want int64, recordBytes int, timeout time.Duration, m meters) (PhaseResult, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(seeds...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	if err != nil {
		return PhaseResult{}, err
	}
	defer cl.Close()

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	cpu0, self0, err := m.sample()
	if err != nil {
		return PhaseResult{}, err
	}
	start := time.Now()
	var res PhaseResult
	res.StoppedBy = "records"
	var badSize error
	for res.Records < want {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return PhaseResult{}, fmt.Errorf("%w: %s: read %d of %d records before the %v deadline",
				errShortRead, topic, res.Records, want, timeout)
		}
		var fetchErr error
		fetches.EachError(func(t string, p int32, err error) {
			if fetchErr == nil {
				fetchErr = fmt.Errorf("fetch %s[%d]: %w", t, p, err)
			}
		})
		if fetchErr != nil {
			return PhaseResult{}, fetchErr
		}
		fetches.EachRecord(func(r *kgo.Record) {
			res.Records++
			res.Bytes += int64(len(r.Value))
			if len(r.Value) != recordBytes && badSize == nil {
				badSize = fmt.Errorf("%s[%d]@%d: value of %d bytes, produced %d", r.Topic, r.Partition, r.Offset, len(r.Value), recordBytes)
			}
		})
		if badSize != nil {
			return PhaseResult{}, badSize
		}
	}
	elapsed := time.Since(start)
	cpu1, self1, err := m.sample()
	if err != nil {
		return PhaseResult{}, err
	}
	if res.Records != want {
		return PhaseResult{}, fmt.Errorf("%w: %s: read %d records, produced %d", errShortRead, topic, res.Records, want)
	}
	res.finish(elapsed, cpu1-cpu0, self1-self0)
	return res, nil
}

// selfMeter measures this process.
func selfMeter() cpuMeter { return cpuMeter{pid: os.Getpid()} }

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Scenario is one cell of the benchmark matrix.
type Scenario struct {
	Partitions  int32  `json:"partitions"`
	RecordBytes int    `json:"record_bytes"`
	Acks        string `json:"acks"` // "1" or "all"
}

func (s Scenario) String() string {
	return fmt.Sprintf("p%d-%dB-acks%s", s.Partitions, s.RecordBytes, s.Acks)
}

// Title is the scenario as a table heading.
func (s Scenario) Title() string {
	parts := "partitions"
	if s.Partitions == 1 {
		parts = "partition"
	}
	return fmt.Sprintf("%d %s, %d B records, acks=%s", s.Partitions, parts, s.RecordBytes, s.Acks)
}

func (c Config) scenarios() []Scenario {
	var out []Scenario
	for _, p := range c.Partitions {
		for _, size := range c.RecordSizes {
			for _, acks := range c.Acks {
				out = append(out, Scenario{Partitions: p, RecordBytes: size, Acks: acks})
			}
		}
	}
	return out
}

// Result is one scenario against one target.
type Result struct {
	Scenario
	Target  string      `json:"target"`
	Round   int         `json:"round"`
	Topic   string      `json:"topic"`
	Produce PhaseResult `json:"produce"`
	Consume PhaseResult `json:"consume"`

	// Seconds is the whole scenario, including topic creation and deletion,
	// client start-up and the checks between phases.
	Seconds       float64 `json:"seconds"`
	CreateSeconds float64 `json:"create_seconds"`
	DeleteSeconds float64 `json:"delete_seconds"`
}

// Report is the whole run, as written to JSON.
type Report struct {
	Started    time.Time    `json:"started"`
	Seconds    float64      `json:"seconds"`
	NumCPU     int          `json:"num_cpu"`
	GoVersion  string       `json:"go_version"`
	Config     Config       `json:"config"`
	Results    []Result     `json:"results"`
	Ratios     []RatioRow   `json:"ratios,omitempty"`
	Summary    []SummaryRow `json:"summary,omitempty"`
	Incomplete bool         `json:"incomplete,omitempty"`
	Error      string       `json:"error,omitempty"`
}

// runBench runs every scenario against every target. It returns what it
// measured so far along with the first error, which ends the run: a figure
// from a broken phase is not a figure.
func runBench(ctx context.Context, cfg Config, log io.Writer) (*Report, error) {
	rep := &Report{Started: time.Now(), NumCPU: runtime.NumCPU(), GoVersion: runtime.Version(), Config: cfg}
	defer func() { rep.Seconds = time.Since(rep.Started).Seconds() }()
	fail := func(err error) (*Report, error) {
		rep.Incomplete, rep.Error = true, err.Error()
		rep.computeRatios()
		return rep, err
	}

	admins := make([]*kadm.Client, len(cfg.Targets))
	for i, t := range cfg.Targets {
		adm, err := kadm.NewOptClient(kgo.SeedBrokers(t.Addr))
		if err != nil {
			return fail(fmt.Errorf("%s: %w", t.Name, err))
		}
		defer adm.Close()
		admins[i] = adm
		if err := waitReady(ctx, adm, cfg.ReadyTimeout); err != nil {
			return fail(fmt.Errorf("%s at %s not ready: %w", t.Name, t.Addr, err))
		}
	}

	runID := rep.Started.Unix()
	for _, sc := range cfg.scenarios() {
		for round := range cfg.Rounds {
			// Rounds alternate who goes first (A B, B A, ...), so that slow
			// drift on a shared machine falls on both brokers alike.
			order := make([]int, len(cfg.Targets))
			for j := range order {
				order[j] = j
				if round%2 == 1 {
					order[j] = len(order) - 1 - j
				}
			}
			for _, j := range order {
				t := cfg.Targets[j]
				topic := fmt.Sprintf("%s-%s-r%d-%d", cfg.TopicPrefix, sc, round, runID)
				fmt.Fprintf(log, "%-8s %-18s round %d  ", t.Name, sc, round)
				res, err := runScenario(ctx, cfg, t, admins[j], sc, topic)
				if err != nil {
					fmt.Fprintln(log, "FAILED")
					return fail(fmt.Errorf("%s %s round %d: %w", t.Name, sc, round, err))
				}
				res.Round = round
				fmt.Fprintf(log, "produce %7.1f MB/s (%s)  consume %7.1f MB/s  broker CPU-s/GB %5.2f / %5.2f  [%.1fs]\n",
					res.Produce.MBPerSec, res.Produce.StoppedBy, res.Consume.MBPerSec,
					res.Produce.BrokerCPUSecondsPerGB, res.Consume.BrokerCPUSecondsPerGB, res.Seconds)
				rep.Results = append(rep.Results, res)
			}
		}
	}
	rep.computeRatios()
	return rep, nil
}

// runScenario creates the topic, produces, checks the log end offsets,
// consumes everything back, and deletes the topic.
func runScenario(ctx context.Context, cfg Config, t Target, adm *kadm.Client, sc Scenario, topic string) (res Result, err error) {
	res = Result{Scenario: sc, Target: t.Name, Topic: topic}
	began := time.Now()
	defer func() { res.Seconds = time.Since(began).Seconds() }()
	if err := createTopic(ctx, adm, topic, sc.Partitions); err != nil {
		return res, err
	}
	res.CreateSeconds = time.Since(began).Seconds()
	defer func() {
		began := time.Now()
		deleteTopic(adm, topic)
		res.DeleteSeconds = time.Since(began).Seconds()
	}()

	m := meters{broker: cpuMeter{pid: t.PID}, self: selfMeter()}
	pcfg := produceConfig{
		Seeds:         []string{t.Addr},
		Linger:        cfg.Linger,
		WindowBytes:   cfg.WindowBytes,
		FlushTimeout:  15 * time.Second,
		DeliveryLimit: 30 * time.Second,
	}
	lim := phaseLimits{Records: cfg.recordsFor(sc.RecordBytes), Timeout: cfg.ProduceTimeout}
	if res.Produce, err = produce(ctx, pcfg, sc, topic, lim, m); err != nil {
		return res, fmt.Errorf("produce: %w", err)
	}
	want := res.Produce.Records + res.Produce.WarmupRecords
	if err := checkLogSize(ctx, adm, topic, sc.Partitions, want); err != nil {
		return res, err
	}
	if res.Consume, err = consume(ctx, pcfg.Seeds, topic, want, sc.RecordBytes, cfg.ConsumeTimeout, m); err != nil {
		return res, fmt.Errorf("consume: %w", err)
	}
	return res, nil
}

// waitReady polls the broker's metadata until it answers with at least one
// broker, or the deadline passes.
func waitReady(ctx context.Context, adm *kadm.Client, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return poll(ctx, func(ctx context.Context) error {
		md, err := adm.BrokerMetadata(ctx)
		if err == nil && len(md.Brokers) == 0 {
			err = errors.New("metadata lists no brokers")
		}
		return err
	})
}

// createTopic creates topic with replication factor 1 (both brokers run as a
// single node) and waits until every partition has a leader.
func createTopic(ctx context.Context, adm *kadm.Client, topic string, partitions int32) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	err := poll(ctx, func(ctx context.Context) error {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return err
		}
		td, ok := md.Topics[topic]
		switch {
		case !ok:
			return errors.New("not in metadata")
		case td.Err != nil:
			return td.Err
		case int32(len(td.Partitions)) != partitions:
			return fmt.Errorf("%d partitions, want %d", len(td.Partitions), partitions)
		}
		for _, p := range td.Partitions {
			if p.Err != nil || p.Leader < 0 {
				return fmt.Errorf("partition %d has no leader (%v)", p.Partition, p.Err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("topic %s not ready: %w", topic, err)
	}
	return nil
}

// checkLogSize compares the log end minus log start offsets, summed over the
// partitions, with the number of records acknowledged. Every acknowledged
// record must be in the log, and nothing else.
func checkLogSize(ctx context.Context, adm *kadm.Client, topic string, partitions int32, want int64) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("list end offsets: %w", err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("list start offsets: %w", err)
	}
	var got int64
	var seen int32
	ends.Each(func(o kadm.ListedOffset) {
		seen++
		got += o.Offset
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok {
			got -= s.Offset
		}
	})
	if seen != partitions {
		return fmt.Errorf("list offsets: %d partitions, want %d", seen, partitions)
	}
	if got != want {
		return fmt.Errorf("log holds %d records, %d were acknowledged", got, want)
	}
	return nil
}

// deleteTopic removes a finished topic so the run's disk use stays bounded.
// A failure here does not invalidate the figures, so it is not an error.
func deleteTopic(adm *kadm.Client, topic string) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, _ = adm.DeleteTopic(ctx, topic)
}

// poll calls fn until it succeeds or ctx ends, returning fn's last error.
func poll(ctx context.Context, fn func(context.Context) error) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

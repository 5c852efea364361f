package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestParseProcStat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want float64
		err  bool
	}{
		{"plain", "42 (riffle) S 1 42 42 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 1000 1 1", 3.25, false},
		{"name with spaces and parens", "7 (a ) b (c) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0", 0.03, false},
		{"no name", "7 riffle R 1", 0, true},
		{"short", "7 (riffle) R 1 2 3", 0, true},
		{"not a number", "7 (riffle) R 1 7 7 0 -1 0 0 0 0 0 x 2 0 0", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcStat([]byte(tt.in))
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if !tt.err && (got < tt.want-1e-9 || got > tt.want+1e-9) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// The CPU time of this process must grow while it spins; spinning is
// bounded by a deadline, not a count.
func TestProcCPUSecondsGrows(t *testing.T) {
	before, err := procCPUSeconds(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	x := 0
	for time.Now().Before(deadline) {
		for i := range 1_000_000 {
			x += i
		}
		now, err := procCPUSeconds(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if now > before {
			return
		}
	}
	t.Fatalf("CPU time stayed at %v for 5s of spinning (%d)", before, x)
}

func TestPercentiles(t *testing.T) {
	t.Parallel()
	lats := make([]time.Duration, 100)
	for i := range lats {
		// Reverse order: percentilesMs must sort.
		lats[i] = time.Duration(100-i) * time.Millisecond
	}
	p50, p99, maxMs := percentilesMs(lats)
	if p50 != 50 || p99 != 99 || maxMs != 100 {
		t.Fatalf("p50, p99, max = %v, %v, %v; want 50, 99, 100", p50, p99, maxMs)
	}
	if p50, p99, maxMs := percentilesMs(nil); p50 != 0 || p99 != 0 || maxMs != 0 {
		t.Fatalf("empty sample: %v, %v, %v", p50, p99, maxMs)
	}
	if p50, p99, maxMs := percentilesMs([]time.Duration{3 * time.Millisecond}); p50 != 3 || p99 != 3 || maxMs != 3 {
		t.Fatalf("one sample: %v, %v, %v", p50, p99, maxMs)
	}
}

func TestParseFlags(t *testing.T) {
	t.Parallel()
	cfg, err := parseFlags([]string{"-target", "riffle=127.0.0.1:9092@12", "-target", "kfake=127.0.0.1:9093", "-acks", "-1,1", "-partitions", "8"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Targets; len(got) != 2 || got[0] != (Target{"riffle", "127.0.0.1:9092", 12}) || got[1] != (Target{"kfake", "127.0.0.1:9093", 0}) {
		t.Fatalf("targets = %+v", got)
	}
	if len(cfg.scenarios()) != 4 || cfg.Acks[0] != "all" || cfg.Partitions[0] != 8 {
		t.Fatalf("scenarios = %v", cfg.scenarios())
	}
	if n := cfg.recordsFor(1024); n != (512<<20)/1024 {
		t.Fatalf("recordsFor(1024) = %d", n)
	}
	if n := cfg.recordsFor(1); n != cfg.MaxRecords {
		t.Fatalf("recordsFor(1) = %d, want the cap %d", n, cfg.MaxRecords)
	}

	bad := [][]string{
		{},
		{"-target", "a=x", "-target", "a=y"},
		{"-target", "a=x", "-target", "b=y", "-target", "c=z"},
		{"-target", "noaddr"},
		{"-target", "a=x@-3"},
		{"-target", "a=x", "-acks", "2"},
		{"-target", "a=x", "-partitions", "0"},
		{"-target", "a=x", "-sizes", ""},
		{"-target", "a=x", "-rounds", "0"},
		{"-target", "a=x", "-produce-timeout", "0s"},
		{"-target", "a=x", "stray"},
	}
	for _, args := range bad {
		if _, err := parseFlags(args, &bytes.Buffer{}); err == nil {
			t.Errorf("parseFlags(%q) succeeded", args)
		}
	}
}

func newKfake(t *testing.T) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// A whole run against two kfakes: every phase must move exactly the records
// it claims, and the report must carry a ratio for every figure.
func TestRunBenchAgainstKfake(t *testing.T) {
	pid := os.Getpid()
	cfg := Config{
		Targets:        []Target{{"a", newKfake(t), pid}, {"b", newKfake(t), pid}},
		Partitions:     []int32{1, 3},
		RecordSizes:    []int{100},
		Acks:           []string{"1", "all"},
		Records:        3000,
		WindowBytes:    64 << 10,
		ProduceTimeout: 20 * time.Second,
		ConsumeTimeout: 20 * time.Second,
		ReadyTimeout:   10 * time.Second,
		TotalTimeout:   time.Minute,
		Rounds:         2,
		TopicPrefix:    "test",
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.TotalTimeout)
	defer cancel()
	var log bytes.Buffer
	rep, err := runBench(ctx, cfg, &log)
	if err != nil {
		t.Fatalf("runBench: %v\n%s", err, log.String())
	}
	if want := 4 * 2 * 2; len(rep.Results) != want {
		t.Fatalf("%d results, want %d", len(rep.Results), want)
	}
	for _, r := range rep.Results {
		p, c := r.Produce, r.Consume
		if p.Records != 3000 || p.StoppedBy != "records" || p.Bytes != 300_000 {
			t.Errorf("%s %s: produce %+v", r.Target, r.Scenario, p)
		}
		if c.Records != 3001 || c.Bytes != 300_100 {
			t.Errorf("%s %s: consume %+v", r.Target, r.Scenario, c)
		}
		if p.MBPerSec <= 0 || c.MBPerSec <= 0 || p.P50Ms <= 0 || p.P99Ms < p.P50Ms || p.MaxMs < p.P99Ms {
			t.Errorf("%s %s: implausible figures: produce %+v consume %+v", r.Target, r.Scenario, p, c)
		}
		if p.Window != (64<<10)/100 {
			t.Errorf("window = %d", p.Window)
		}
	}
	// Throughput and latency are always measured; CPU may round to zero
	// ticks in so short a phase, which leaves that ratio null.
	if want := 4 * len(metrics); len(rep.Ratios) != want {
		t.Fatalf("%d ratios, want %d", len(rep.Ratios), want)
	}
	for _, r := range rep.Ratios {
		if r.Ratio == nil && !strings.Contains(r.Metric, "CPU") {
			t.Errorf("no ratio for %s %s", r.Scenario, r.Metric)
		}
	}

	var out bytes.Buffer
	printReport(&out, rep)
	for _, want := range []string{"== 3 partitions, 100 B records, acks=all ==", "a/b", "produce p99 latency ms", "consume broker CPU-s/GB", "geometric mean"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}

	path := filepath.Join(t.TempDir(), "results", "latest.json")
	if err := writeJSON(path, rep); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Results) != len(rep.Results) || back.Config.Rounds != 2 {
		t.Fatalf("JSON round trip lost data: %d results", len(back.Results))
	}
}

// The consume phase must fail, not report, when it cannot read back exactly
// what was produced.
func TestConsumeVerifiesCount(t *testing.T) {
	addr := newKfake(t)
	seeds := []string{addr}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	const topic = "verify"
	if err := createTopic(ctx, adm, topic, 2); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: make([]byte, 8), Partition: int32(i % 2)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	m := meters{self: selfMeter()}

	if _, err := consume(ctx, seeds, topic, 10, 8, 10*time.Second, m); err != nil {
		t.Fatalf("exact count: %v", err)
	}
	if err := checkLogSize(ctx, adm, topic, 2, 10); err != nil {
		t.Fatalf("exact log size: %v", err)
	}
	if _, err := consume(ctx, seeds, topic, 11, 8, 2*time.Second, m); !errors.Is(err, errShortRead) {
		t.Fatalf("reading 10 of 11: err = %v, want errShortRead", err)
	}
	if _, err := consume(ctx, seeds, topic, 4, 8, 10*time.Second, m); !errors.Is(err, errShortRead) {
		t.Fatalf("reading more than 4: err = %v, want errShortRead", err)
	}
	if _, err := consume(ctx, seeds, topic, 10, 9, 10*time.Second, m); err == nil || !strings.Contains(err.Error(), "value of 8 bytes") {
		t.Fatalf("wrong record size: err = %v", err)
	}
	if err := checkLogSize(ctx, adm, topic, 2, 9); err == nil {
		t.Fatal("log of 10 records passed as 9")
	}
}

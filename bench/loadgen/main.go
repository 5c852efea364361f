// Command loadgen measures Kafka brokers side by side with franz-go clients.
//
// For every scenario (partitions × record size × acks) and every target it
// creates a topic with kadm, produces until a record budget or a deadline is
// reached, reads the topic back and insists on seeing exactly the records it
// produced, and samples the broker process's CPU time around each phase.
// Targets take turns within each scenario, alternating who goes first, so
// that drift on a shared machine falls on both alike. The first target is the
// subject and the second its peer: tables show subject/peer ratios.
//
// Usage:
//
//	loadgen -target riffle=127.0.0.1:9092@4242 -target kfake=127.0.0.1:9192@4343
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.TotalTimeout)
	defer cancel()

	rep, err := runBench(ctx, cfg, os.Stderr)
	if rep != nil && len(rep.Results) > 0 {
		printReport(os.Stdout, rep)
		if werr := writeJSON(cfg.Out, rep); werr != nil {
			fmt.Fprintf(os.Stderr, "loadgen: %v\n", werr)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stdout, "\nraw results: %s\n", cfg.Out)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: FAILED: %v\n", err)
		os.Exit(1)
	}
}

// Target is one broker under test.
type Target struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
	// PID is the broker's process, whose CPU time we sample; 0 if unknown.
	PID int `json:"pid"`
}

// parseTarget reads name=host:port[@pid].
func parseTarget(s string) (Target, error) {
	name, rest, ok := strings.Cut(s, "=")
	if !ok || name == "" || rest == "" {
		return Target{}, fmt.Errorf("target %q: want name=host:port[@pid]", s)
	}
	t := Target{Name: name, Addr: rest}
	if addr, pid, ok := strings.Cut(rest, "@"); ok {
		n, err := strconv.Atoi(pid)
		if err != nil || n <= 0 {
			return Target{}, fmt.Errorf("target %q: bad pid %q", s, pid)
		}
		t.Addr, t.PID = addr, n
	}
	return t, nil
}

type targetFlags []Target

func (f *targetFlags) String() string { return fmt.Sprint(*f) }

func (f *targetFlags) Set(s string) error {
	t, err := parseTarget(s)
	if err != nil {
		return err
	}
	*f = append(*f, t)
	return nil
}

// Config is everything a run depends on; it is recorded in the JSON output.
type Config struct {
	Targets        []Target      `json:"targets"`
	Partitions     []int32       `json:"partitions"`
	RecordSizes    []int         `json:"record_sizes"`
	Acks           []string      `json:"acks"`
	Records        int64         `json:"records"`     // per phase; 0: PhaseBytes / size
	PhaseBytes     int64         `json:"phase_bytes"` // per-phase data budget when Records is 0
	MaxRecords     int64         `json:"max_records"` // cap on the derived count
	ProduceTimeout time.Duration `json:"produce_timeout_ns"`
	ConsumeTimeout time.Duration `json:"consume_timeout_ns"`
	WindowBytes    int           `json:"window_bytes"`
	Linger         time.Duration `json:"linger_ns"`
	ReadyTimeout   time.Duration `json:"ready_timeout_ns"`
	TotalTimeout   time.Duration `json:"total_timeout_ns"`
	Rounds         int           `json:"rounds"` // measurements per scenario and target; the best counts
	TopicPrefix    string        `json:"topic_prefix"`
	Out            string        `json:"-"`
}

// recordsFor is the record budget of one phase with records of size bytes.
func (c Config) recordsFor(size int) int64 {
	if c.Records > 0 {
		return c.Records
	}
	n := c.PhaseBytes / int64(max(size, 1))
	if c.MaxRecords > 0 {
		n = min(n, c.MaxRecords)
	}
	return max(n, 1)
}

func parseFlags(args []string, errOut io.Writer) (Config, error) {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(errOut)
	var (
		cfg        Config
		targets    targetFlags
		partitions = fs.String("partitions", "1,8", "partition counts, comma separated")
		sizes      = fs.String("sizes", "100,1024", "record value sizes in bytes, comma separated")
		acks       = fs.String("acks", "1,all", "acks settings, comma separated: 1, all")
	)
	fs.Var(&targets, "target", "name=host:port[@pid] (repeatable; the first is the subject, the second its peer)")
	fs.Int64Var(&cfg.Records, "records", 0, "records per phase (0: derive from -phase-bytes)")
	fs.Int64Var(&cfg.PhaseBytes, "phase-bytes", 512<<20, "bytes of record values per phase when -records is 0")
	fs.Int64Var(&cfg.MaxRecords, "max-records", 2_000_000, "cap on the records per phase derived from -phase-bytes")
	fs.DurationVar(&cfg.ProduceTimeout, "produce-timeout", 6*time.Second, "produce phase deadline (the phase ends early, counting what was acknowledged)")
	fs.DurationVar(&cfg.ConsumeTimeout, "consume-timeout", 30*time.Second, "consume phase deadline (reading back fewer records than produced fails the run)")
	fs.IntVar(&cfg.WindowBytes, "window-bytes", 1<<20, "bytes of records in flight during produce")
	fs.DurationVar(&cfg.Linger, "linger", 0, "producer linger")
	fs.DurationVar(&cfg.ReadyTimeout, "ready-timeout", 60*time.Second, "how long to wait for each broker to answer metadata")
	fs.DurationVar(&cfg.TotalTimeout, "total-timeout", 9*time.Minute, "deadline for the whole run")
	fs.IntVar(&cfg.Rounds, "rounds", 2, "rounds per scenario; targets alternate order each round and each figure is the best round's")
	fs.StringVar(&cfg.TopicPrefix, "topic-prefix", "bench", "prefix of the topics created")
	fs.StringVar(&cfg.Out, "out", "bench/results/latest.json", "where to write the raw results as JSON")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if len(targets) == 0 || len(targets) > 2 {
		return Config{}, fmt.Errorf("want one or two -target flags, got %d", len(targets))
	}
	if len(targets) == 2 && targets[0].Name == targets[1].Name {
		return Config{}, fmt.Errorf("targets need distinct names, both are %q", targets[0].Name)
	}
	cfg.Targets = targets

	var err error
	if cfg.Partitions, err = parseList(*partitions, func(s string) (int32, error) {
		n, err := strconv.ParseInt(s, 10, 32)
		if err == nil && (n < 1 || n > 1000) {
			err = fmt.Errorf("out of range 1..1000")
		}
		return int32(n), err
	}); err != nil {
		return Config{}, fmt.Errorf("-partitions: %w", err)
	}
	if cfg.RecordSizes, err = parseList(*sizes, func(s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err == nil && (n < 1 || n > 512<<10) {
			err = fmt.Errorf("out of range 1..%d", 512<<10)
		}
		return n, err
	}); err != nil {
		return Config{}, fmt.Errorf("-sizes: %w", err)
	}
	if cfg.Acks, err = parseList(*acks, func(s string) (string, error) {
		switch s {
		case "1", "all":
			return s, nil
		case "-1":
			return "all", nil
		}
		return "", fmt.Errorf("want 1 or all, got %q", s)
	}); err != nil {
		return Config{}, fmt.Errorf("-acks: %w", err)
	}
	switch {
	case cfg.Records < 0, cfg.PhaseBytes < 1, cfg.WindowBytes < 1:
		return Config{}, fmt.Errorf("-records, -phase-bytes and -window-bytes must be positive")
	case cfg.Rounds < 1 || cfg.Rounds > 10:
		return Config{}, fmt.Errorf("-rounds must be in 1..10")
	case cfg.ProduceTimeout <= 0, cfg.ConsumeTimeout <= 0, cfg.ReadyTimeout <= 0, cfg.TotalTimeout <= 0:
		return Config{}, fmt.Errorf("timeouts must be positive")
	}
	return cfg, nil
}

func parseList[T any](s string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v, err := parse(f)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", f, err)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty list")
	}
	return out, nil
}

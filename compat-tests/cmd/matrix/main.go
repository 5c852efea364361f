// Command matrix runs the compat test binaries (built with `go test -c`, one
// per client) against the broker named by BROKER_SEEDS and prints the
// client × scenario table: pass, FAIL, n/a (the client lacks the feature)
// or "-" (the cell never reported: the binary is missing or crashed, which
// counts as a failure). The failing assertions follow the table. It exits 1
// when any cell failed.
//
//	go test -c -o bin/ ./clients/...
//	BROKER_SEEDS=127.0.0.1:9092 go run ./cmd/matrix -bin bin
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/riffle-io/riffle/compat-tests/matrix"
)

type status int

const (
	notRun status = iota
	passed
	failed
	notApplicable
)

func (s status) String() string {
	return [...]string{"-", "pass", "FAIL", "n/a"}[s]
}

// cell collects one subtest's outcome and output.
type cell struct {
	status status
	output []string
}

// result is everything one client's binary reported.
type result struct {
	cells   map[string]*cell // by scenario name
	general []string         // output outside any scenario (setup failures, panics)
	err     error
}

func main() {
	bin := flag.String("bin", "bin", "directory holding <package>.test binaries")
	timeout := flag.Duration("timeout", 10*time.Minute, "limit for each client's binary")
	parallel := flag.Int("parallel", 2, "client binaries run at once")
	run := flag.String("run", "", "only scenarios matching this -test.run pattern (below TestMatrix/)")
	only := flag.String("clients", "", "comma-separated client names (default: all)")
	flag.Parse()

	if os.Getenv("BROKER_SEEDS") == "" {
		fmt.Fprintln(os.Stderr, "matrix: BROKER_SEEDS is not set")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	clients := matrix.Clients
	if *only != "" {
		clients = nil
		for _, name := range strings.Split(*only, ",") {
			c, ok := matrix.ClientByName(strings.TrimSpace(name))
			if !ok {
				fmt.Fprintf(os.Stderr, "matrix: unknown client %q\n", name)
				os.Exit(2)
			}
			clients = append(clients, c)
		}
	}

	results := make([]*result, len(clients))
	sem := make(chan struct{}, max(*parallel, 1))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			start := time.Now()
			fmt.Fprintf(os.Stderr, "matrix: running %s\n", c.Name)
			results[i] = runClient(ctx, filepath.Join(*bin, path.Base(c.Package)+".test"), *timeout, *run)
			fmt.Fprintf(os.Stderr, "matrix: %s done in %s\n", c.Name, time.Since(start).Round(100*time.Millisecond))
		}()
	}
	wg.Wait()

	ok := render(os.Stdout, clients, results, *run)
	if !ok {
		os.Exit(1)
	}
}

// runClient runs one test binary in test2json framing mode and parses it.
func runClient(ctx context.Context, binary string, timeout time.Duration, run string) *result {
	res := &result{cells: map[string]*cell{}}
	ctx, cancel := context.WithTimeout(ctx, timeout+30*time.Second)
	defer cancel()
	pattern := "^TestMatrix$"
	if run != "" {
		// Grouped, so that "a|b" selects scenarios rather than splitting the
		// whole pattern at the top level.
		pattern = "^TestMatrix$/(" + run + ")"
	}
	cmd := exec.CommandContext(ctx, binary, "-test.v=test2json", "-test.count=1",
		"-test.timeout="+timeout.String(), "-test.run="+pattern)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	parse(&out, res)
	if err != nil {
		res.err = err
	}
	return res
}

// parse reads `-test.v=test2json` output: framing lines start with ^V, and
// every other line belongs to the test named by the last frame.
func parse(r io.Reader, res *result) {
	current := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "\x16") {
			if c := res.cells[scenarioOf(current)]; c != nil && scenarioOf(current) != "" {
				c.output = append(c.output, line)
			} else if strings.TrimSpace(line) != "" {
				res.general = append(res.general, line)
			}
			continue
		}
		frame := strings.TrimPrefix(line, "\x16")
		switch {
		case strings.HasPrefix(frame, "=== "):
			f := strings.Fields(frame)
			current = ""
			if len(f) >= 3 {
				current = f[2]
			}
			if sc := scenarioOf(current); sc != "" && res.cells[sc] == nil {
				res.cells[sc] = &cell{}
			}
		case strings.HasPrefix(frame, "--- PASS: "), strings.HasPrefix(frame, "--- FAIL: "), strings.HasPrefix(frame, "--- SKIP: "):
			f := strings.Fields(frame)
			name := f[2]
			if sc := scenarioOf(name); sc != "" {
				c := res.cells[sc]
				if c == nil {
					c = &cell{}
					res.cells[sc] = c
				}
				c.status = passed
				if f[1] != "PASS:" {
					c.status = failed // a skip is not a pass
				}
			}
			current = name
		}
	}
}

// scenarioOf maps "TestMatrix/<scenario>[/...]" to the scenario.
func scenarioOf(test string) string {
	rest, ok := strings.CutPrefix(test, "TestMatrix/")
	if !ok {
		return ""
	}
	sc, _, _ := strings.Cut(rest, "/")
	return sc
}

// render prints the table and the failures; it reports whether all passed.
func render(w io.Writer, clients []matrix.Client, results []*result, run string) bool {
	allOK := true
	width := len("client")
	for _, c := range clients {
		width = max(width, len(c.Name))
	}
	fmt.Fprintf(w, "\n%-*s", width, "client")
	for _, sc := range matrix.Scenarios {
		fmt.Fprintf(w, "  %-*s", colWidth(sc), sc.Title)
	}
	fmt.Fprintln(w)
	var failures []string
	for i, c := range clients {
		res := results[i]
		fmt.Fprintf(w, "%-*s", width, c.Name)
		for _, sc := range matrix.Scenarios {
			st := notRun
			if cl := res.cells[sc.Name]; cl != nil {
				st = cl.status
			}
			if !c.Supported(sc.Name) {
				st = notApplicable
			}
			if st == notRun && !selected(sc.Name, run) {
				st = notApplicable // filtered out by -run: not a failure
				fmt.Fprintf(w, "  %-*s", colWidth(sc), "skip")
				continue
			}
			if st == failed || st == notRun {
				allOK = false
				var msg []string
				if cl := res.cells[sc.Name]; cl != nil {
					msg = cl.output
				} else {
					msg = append([]string{fmt.Sprintf("    no result (binary error: %v)", res.err)}, res.general...)
				}
				failures = append(failures, fmt.Sprintf("%s / %s:\n%s", c.Name, sc.Name, strings.Join(clipLines(msg, 20), "\n")))
			}
			fmt.Fprintf(w, "  %-*s", colWidth(sc), st)
		}
		fmt.Fprintln(w)
	}
	for _, c := range clients {
		for sc, reason := range c.NA {
			fmt.Fprintf(w, "n/a: %s / %s: %s\n", c.Name, sc, reason)
		}
	}
	if len(failures) > 0 {
		fmt.Fprintf(w, "\nFAILURES (%d)\n\n%s\n", len(failures), strings.Join(failures, "\n\n"))
	} else {
		fmt.Fprintln(w, "\nall cells passed")
	}
	return allOK
}

func colWidth(sc matrix.Scenario) int { return max(len(sc.Title), 4) }

// selected approximates -test.run for the table: a plain substring match is
// enough to tell "filtered out" from "did not report".
func selected(scenario, run string) bool {
	if run == "" {
		return true
	}
	for _, alt := range strings.Split(strings.Trim(run, "^$()"), "|") {
		if strings.Contains(scenario, strings.Trim(alt, "^$()")) {
			return true
		}
	}
	return false
}

func clipLines(lines []string, n int) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "--- ") {
			continue
		}
		out = append(out, l)
	}
	if len(out) > n {
		out = append(out[:n], fmt.Sprintf("    ... %d more lines", len(out)-n))
	}
	return out
}

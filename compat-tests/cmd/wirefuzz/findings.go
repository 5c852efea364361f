package main

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Finding classes. -allow names the ones that are reported but do not fail
// the run.
const (
	classCorruptAccepted = "corrupt-accepted"   // error 0 for a corrupt batch
	classValidRefused    = "valid-refused"      // valid batch after a refused one not accepted at the next offset
	classUnanswered      = "unanswered"         // no response and the connection still open after the timeout
	classUndecodable     = "undecodable"        // a response that does not decode as the request's API and version
	classBadSizeOpen     = "bad-size-kept-open" // a negative or oversized frame size did not close the connection
	classRSS             = "rss-over-bound"     // broker RSS above -max-rss-mib
	classControlChanged  = "control-changed"    // the control topic's bytes differ after the run
	classConsume         = "consume"            // a consumer could not read a fuzzed partition to its end
	classUnresponsive    = "broker-unresponsive"
	classStarved         = "starved"             // memory mode: the well-behaved client was not served in time
	classOverLimit       = "over-limit-accepted" // a creation Kafka refuses for its size was accepted
)

// finding is one failed check with what it takes to reproduce it.
type finding struct {
	class  string
	what   string // API/version, batch variant, ...
	detail string
	req    []byte // the request frame, when one request caused it
}

type reporter struct {
	mu      sync.Mutex
	seed    int64
	allow   map[string]bool
	counts  map[string]int // by class + what
	byClass map[string]int
	outDir  string
	printed int
	start   time.Time
}

func newReporter(seed int64, allow string, outDir string) *reporter {
	r := &reporter{start: time.Now(), seed: seed, allow: map[string]bool{}, counts: map[string]int{}, byClass: map[string]int{}, outDir: outDir}
	for _, c := range strings.Split(allow, ",") {
		if c = strings.TrimSpace(c); c != "" {
			r.allow[c] = true
		}
	}
	return r
}

// report prints the first few findings of each class and what, with the
// request bytes in hex (and to -out as a file for -replay).
func (r *reporter) report(f finding) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := f.class + " " + f.what
	r.counts[key]++
	r.byClass[f.class]++
	if r.counts[key] > 3 {
		return
	}
	tag := "FINDING"
	if r.allow[f.class] {
		tag = "finding (allowed)"
	}
	fmt.Printf("%s %s: %s (seed %d, t+%ds): %s\n", tag, f.class, f.what, r.seed, int(time.Since(r.start).Seconds()), f.detail)
	if f.req != nil {
		show := f.req
		if len(show) > 256 {
			show = show[:256]
		}
		fmt.Printf("  request (%d bytes): %s%s\n", len(f.req), hex.EncodeToString(show), map[bool]string{true: "...", false: ""}[len(f.req) > 256])
		if r.outDir != "" {
			r.printed++
			name := filepath.Join(r.outDir, fmt.Sprintf("%s-%03d.bin", f.class, r.printed))
			if err := os.WriteFile(name, f.req, 0o644); err == nil {
				fmt.Printf("  saved: %s (wirefuzz -replay %s)\n", name, name)
			}
		}
	}
}

// summary prints the counts and says whether any unallowed finding occurred.
func (r *reporter) summary() (failed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := make([]string, 0, len(r.counts))
	for k := range r.counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Printf("== findings (seed %d): %d kinds\n", r.seed, len(keys))
	for _, k := range keys {
		class := strings.SplitN(k, " ", 2)[0]
		mark := ""
		if r.allow[class] {
			mark = " (allowed)"
		} else {
			failed = true
		}
		fmt.Printf("  %6d  %s%s\n", r.counts[k], k, mark)
	}
	return failed
}

// rssWatch samples the broker's VmRSS every 200 ms and reports once when it
// passes the bound.
type rssWatch struct {
	mu   sync.Mutex
	peak int64 // KiB
}

func readRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

func (w *rssWatch) run(pid int, boundMiB int64, rep *reporter, stop <-chan struct{}) {
	reported := false
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		kib, err := readRSS(pid)
		if err != nil {
			rep.report(finding{class: classUnresponsive, what: "process", detail: fmt.Sprintf("broker pid %d: %v", pid, err)})
			return
		}
		w.mu.Lock()
		w.peak = max(w.peak, kib)
		w.mu.Unlock()
		if kib > boundMiB<<10 && !reported {
			reported = true
			rep.report(finding{class: classRSS, what: "VmRSS", detail: fmt.Sprintf("%d MiB > bound %d MiB", kib>>10, boundMiB)})
		}
	}
}

func (w *rssWatch) peakMiB() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.peak >> 10
}

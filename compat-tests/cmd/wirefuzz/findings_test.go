package main

import (
	"os"
	"testing"
)

// Allowed classes are reported but do not fail the run; any other class does.
func TestReporterAllow(t *testing.T) {
	r := newReporter(1, "unanswered, starved", "")
	r.report(finding{class: classUnanswered, what: "Metadata v1"})
	r.report(finding{class: classStarved, what: "probe"})
	if r.summary() {
		t.Fatal("allowed findings failed the run")
	}
	r.report(finding{class: classCorruptAccepted, what: "bomb/zstd", req: []byte{0, 0, 0, 0}})
	if !r.summary() {
		t.Fatal("a corrupt-accepted finding did not fail the run")
	}
}

func TestReadRSS(t *testing.T) {
	kib, err := readRSS(os.Getpid())
	if err != nil || kib <= 0 {
		t.Fatalf("VmRSS %d KiB, %v", kib, err)
	}
	if _, err := readRSS(-5); err == nil {
		t.Fatal("no error for a process that cannot exist")
	}
}

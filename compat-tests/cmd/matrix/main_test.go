package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/riffle-io/riffle/compat-tests/matrix"
)

// Output as `-test.v=test2json` frames it: ^V marks framing lines.
const sample = "\x16=== RUN   TestMatrix\n" +
	"\x16=== RUN   TestMatrix/metadata\n" +
	"\x16--- PASS: TestMatrix/metadata (0.01s)\n" +
	"\x16=== RUN   TestMatrix/produce-consume-gzip\n" +
	"    suite.go:149: stored with codec 0, want 1\n" +
	"\x16--- FAIL: TestMatrix/produce-consume-gzip (0.50s)\n" +
	"\x16=== NAME  TestMatrix\n" +
	"\x16--- FAIL: TestMatrix (0.60s)\n" +
	"\x16FAIL\n"

func TestParse(t *testing.T) {
	res := &result{cells: map[string]*cell{}}
	parse(strings.NewReader(sample), res)
	if c := res.cells["metadata"]; c == nil || c.status != passed {
		t.Errorf("metadata: %+v, want pass", c)
	}
	c := res.cells["produce-consume-gzip"]
	if c == nil || c.status != failed {
		t.Fatalf("gzip: %+v, want FAIL", c)
	}
	if len(c.output) != 1 || !strings.Contains(c.output[0], "want 1") {
		t.Errorf("gzip output %q, want the assertion", c.output)
	}
}

func TestRenderMarksMissingAndNA(t *testing.T) {
	kafkago, _ := matrix.ClientByName("kafka-go")
	res := &result{cells: map[string]*cell{}}
	for _, sc := range matrix.Scenarios {
		res.cells[sc.Name] = &cell{status: passed}
	}
	var out bytes.Buffer
	if !render(&out, []matrix.Client{kafkago}, []*result{res}, "") {
		t.Errorf("all passed but render reported failure:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "n/a") {
		t.Errorf("kafka-go's idempotent cell not shown as n/a:\n%s", out.String())
	}
	delete(res.cells, matrix.Metadata) // a cell that never reported is a failure
	out.Reset()
	if render(&out, []matrix.Client{kafkago}, []*result{res}, "") {
		t.Errorf("a missing cell passed:\n%s", out.String())
	}
}

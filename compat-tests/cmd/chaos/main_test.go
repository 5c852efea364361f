package main

import (
	"strings"
	"testing"
	"time"
)

func testConfig(scenarios string, nodes int) *config {
	c := &config{topic: "t", partitions: 6, warmup: 5 * time.Second, killFor: 60 * time.Second,
		killEvery: 10 * time.Second, isolateFor: 10 * time.Second, pauseFor: 15 * time.Second,
		settle: 10 * time.Second, scenarios: map[string]bool{}, nodes: map[int32]string{}}
	for _, s := range strings.Split(scenarios, ",") {
		c.scenarios[s] = true
	}
	for i := 1; i <= nodes; i++ {
		c.nodes[int32(i)] = "n"
	}
	return c
}

// The schedule of the short mode: six leader kills 10 s apart over all six
// partitions, one isolation, one pause, a restart per node, the two
// coordinator kills, then the end; times never go backwards.
func TestPlanShort(t *testing.T) {
	steps := testConfig(allScenarios, 3).plan(nil)
	count := map[string]int{}
	var prev time.Duration
	for i, s := range steps {
		if s.at < prev {
			t.Errorf("step %d (%s) at %v, before the previous step's %v", i, s.name, s.at, prev)
		}
		prev = s.at
		switch {
		case strings.HasPrefix(s.name, "kill -9 the leader"):
			count["kill"]++
		case strings.HasPrefix(s.name, "cut the leader"):
			count["isolate"]++
		case strings.HasPrefix(s.name, "pause"):
			count["pause"]++
		case strings.HasPrefix(s.name, "rolling restart"):
			count["rolling"]++
		case strings.Contains(s.name, "coordinator"):
			count["coordinator"]++
		}
		if s.run == nil && i != len(steps)-1 {
			t.Errorf("step %q does nothing", s.name)
		}
	}
	want := map[string]int{"kill": 6, "isolate": 1, "pause": 1, "rolling": 3, "coordinator": 2}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%s steps: %d, want %d (%v)", k, count[k], n, count)
		}
	}
	if steps[0].at != 5*time.Second || steps[1].at != 15*time.Second {
		t.Errorf("kills at %v, %v: want +5s and +15s", steps[0].at, steps[1].at)
	}
	if !strings.Contains(steps[len(steps)-1].name, "end of faults") {
		t.Errorf("last step %q", steps[len(steps)-1].name)
	}
}

// A single node has no peers to be isolated from: the step is skipped and
// says so.
func TestPlanSingleNodeSkipsIsolation(t *testing.T) {
	steps := testConfig("isolate,kill", 1).plan(nil)
	var skipped bool
	for _, s := range steps {
		if strings.HasPrefix(s.name, "isolate: skipped") && s.run == nil {
			skipped = true
		}
		if strings.HasPrefix(s.name, "cut the leader") {
			t.Errorf("isolation planned on a single node")
		}
	}
	if !skipped {
		t.Error("no skipped isolation step")
	}
}

func TestParseNodes(t *testing.T) {
	m, err := parseNodes("1=a, 2=b,3=c")
	if err != nil || len(m) != 3 || m[2] != "b" {
		t.Fatalf("%v %v", m, err)
	}
	for _, bad := range []string{"", "1", "x=a", "1=", "1=a,2"} {
		if _, err := parseNodes(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

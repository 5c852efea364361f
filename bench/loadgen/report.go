package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
)

// metric is one figure of a Result, with the direction that is better.
type metric struct {
	Name   string
	Higher bool // true when a higher value is better
	Format string
	Get    func(Result) float64
}

var metrics = []metric{
	{"produce MB/s", true, "%.1f", func(r Result) float64 { return r.Produce.MBPerSec }},
	{"produce records/s", true, "%.0f", func(r Result) float64 { return r.Produce.RecordsPerSec }},
	{"produce p50 latency ms", false, "%.2f", func(r Result) float64 { return r.Produce.P50Ms }},
	{"produce p99 latency ms", false, "%.2f", func(r Result) float64 { return r.Produce.P99Ms }},
	{"produce broker CPU-s/GB", false, "%.2f", func(r Result) float64 { return r.Produce.BrokerCPUSecondsPerGB }},
	{"consume MB/s", true, "%.1f", func(r Result) float64 { return r.Consume.MBPerSec }},
	{"consume records/s", true, "%.0f", func(r Result) float64 { return r.Consume.RecordsPerSec }},
	{"consume broker CPU-s/GB", false, "%.2f", func(r Result) float64 { return r.Consume.BrokerCPUSecondsPerGB }},
}

// RatioRow is one figure of one scenario, subject against peer.
type RatioRow struct {
	Scenario string  `json:"scenario"`
	Metric   string  `json:"metric"`
	Subject  float64 `json:"subject"`
	Peer     float64 `json:"peer"`
	// Ratio is Subject/Peer; null when either side is zero (not measured).
	Ratio          *float64 `json:"ratio"`
	HigherIsBetter bool     `json:"higher_is_better"`
}

// SummaryRow is the geometric mean of one metric's ratios over scenarios.
type SummaryRow struct {
	Metric         string  `json:"metric"`
	GeoMeanRatio   float64 `json:"geomean_ratio"`
	Scenarios      int     `json:"scenarios"`
	HigherIsBetter bool    `json:"higher_is_better"`
}

func ratio(subject, peer float64) *float64 {
	if subject <= 0 || peer <= 0 {
		return nil
	}
	r := subject / peer
	return &r
}

// byTarget groups the results by scenario, in run order, and by target
// index (0 is the subject, 1 the peer).
func (rep *Report) byTarget() (scenarios []Scenario, rounds [2]map[Scenario][]Result) {
	rounds = [2]map[Scenario][]Result{{}, {}}
	seen := map[Scenario]bool{}
	for _, r := range rep.Results {
		if !seen[r.Scenario] {
			seen[r.Scenario] = true
			scenarios = append(scenarios, r.Scenario)
		}
		i := 0
		if r.Target != rep.Config.Targets[0].Name {
			i = 1
		}
		rounds[i][r.Scenario] = append(rounds[i][r.Scenario], r)
	}
	return scenarios, rounds
}

// best is the best value of m over rounds: interference from other work on
// the machine only ever makes a broker look worse, so the best round is the
// least disturbed one. ok is false when there is no measured value.
func (m metric) best(rs []Result) (v float64, ok bool) {
	for _, r := range rs {
		x := m.Get(r)
		if x <= 0 {
			continue
		}
		if !ok || (m.Higher && x > v) || (!m.Higher && x < v) {
			v, ok = x, true
		}
	}
	return v, ok
}

// computeRatios fills Ratios and Summary when there are two targets.
func (rep *Report) computeRatios() {
	rep.Ratios, rep.Summary = nil, nil
	if len(rep.Config.Targets) != 2 {
		return
	}
	scenarios, rounds := rep.byTarget()
	logSum := make([]float64, len(metrics))
	count := make([]int, len(metrics))
	for _, sc := range scenarios {
		if len(rounds[0][sc]) == 0 || len(rounds[1][sc]) == 0 {
			continue
		}
		for i, m := range metrics {
			s, _ := m.best(rounds[0][sc])
			p, _ := m.best(rounds[1][sc])
			r := ratio(s, p)
			rep.Ratios = append(rep.Ratios, RatioRow{
				Scenario: sc.String(), Metric: m.Name,
				Subject: s, Peer: p, Ratio: r, HigherIsBetter: m.Higher,
			})
			if r != nil {
				logSum[i] += math.Log(*r)
				count[i]++
			}
		}
	}
	for i, m := range metrics {
		if count[i] > 0 {
			rep.Summary = append(rep.Summary, SummaryRow{
				Metric: m.Name, GeoMeanRatio: math.Exp(logSum[i] / float64(count[i])),
				Scenarios: count[i], HigherIsBetter: m.Higher,
			})
		}
	}
}

func better(higher bool) string {
	if higher {
		return "higher is better"
	}
	return "lower is better"
}

func formatValue(format string, v float64, ok bool) string {
	if !ok {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

// printReport writes one table per scenario and a summary of ratios.
func printReport(w io.Writer, rep *Report) {
	targets := rep.Config.Targets
	scenarios, rounds := rep.byTarget()
	fmt.Fprintf(w, "\nbest of %d round(s) per figure; ratio = %s", rep.Config.Rounds, targets[0].Name)
	if len(targets) == 2 {
		fmt.Fprintf(w, "/%s", targets[1].Name)
	}
	fmt.Fprintln(w)
	for _, sc := range scenarios {
		fmt.Fprintf(w, "\n== %s ==\n", sc.Title())
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		header := []string{"", targets[0].Name}
		if len(targets) == 2 {
			header = append(header, targets[1].Name, targets[0].Name+"/"+targets[1].Name, "")
		}
		fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
		for _, m := range metrics {
			row := []string{m.Name}
			var vals []float64
			for i := range targets {
				v, ok := m.best(rounds[i][sc])
				row = append(row, formatValue(m.Format, v, ok))
				vals = append(vals, v)
			}
			if len(targets) == 2 {
				r := "-"
				if v := ratio(vals[0], vals[1]); v != nil {
					r = fmt.Sprintf("%.2f", *v)
				}
				row = append(row, r, "  "+better(m.Higher))
			}
			fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
		}
		tw.Flush()
		for i, t := range targets {
			for _, r := range rounds[i][sc] {
				if r.Produce.StoppedBy == "time" {
					fmt.Fprintf(w, "note: %s round %d reached the produce deadline after %d records (its consume phase read only those)\n", t.Name, r.Round, r.Produce.Records)
				}
			}
		}
	}
	if len(rep.Summary) > 0 {
		fmt.Fprintf(w, "\n== geometric mean of %s/%s over scenarios ==\n", targets[0].Name, targets[1].Name)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		for _, s := range rep.Summary {
			fmt.Fprintf(tw, "%s\t%.2f\t  %s\t\n", s.Metric, s.GeoMeanRatio, better(s.HigherIsBetter))
		}
		tw.Flush()
	}
	if rep.Incomplete {
		fmt.Fprintf(w, "\nINCOMPLETE: %s\n", rep.Error)
	}
}

// writeJSON writes the report to path, creating its directory, through a
// temporary file so a reader never sees half a file.
func writeJSON(path string, rep *Report) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

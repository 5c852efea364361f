package checker

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"
)

// The anomaly classes. Each names what a correct Kafka cluster never shows.
const (
	// LostWrite: an acknowledged write is missing from the final read (for
	// read_committed: a committed or non-transactional one below the LSO).
	LostWrite = "lost-write"
	// Duplicate: one write appears at more than one offset.
	Duplicate = "duplicate"
	// WrongOffset: a write was acknowledged at one offset and is found at
	// another.
	WrongOffset = "wrong-offset"
	// InconsistentOffset: two reads disagree on the record at an offset (a
	// live consumer against the final read, or read_committed against
	// read_uncommitted), or a consumer saw an offset the log no longer has.
	InconsistentOffset = "inconsistent-offset"
	// Reorder: one producer's writes to a partition are not in the order it
	// sent them (an idempotent producer's sequence).
	Reorder = "reorder"
	// UnknownValue: a record that no producer of this run wrote.
	UnknownValue = "unknown-value"
	// AbortedRead: a read_committed reader saw a record of an aborted
	// transaction.
	AbortedRead = "aborted-read"
	// PartialTransaction: a read_committed reader saw some of a
	// transaction's records but not all.
	PartialTransaction = "partial-transaction"
	// PollSkip: a live consumer's next record skipped over records that the
	// final read at the same isolation level shows in between.
	PollSkip = "poll-skip"
	// PollBackwards: a live consumer's offsets in a partition went down or
	// repeated.
	PollBackwards = "poll-backwards"
	// EOSMissing / EOSDuplicate: an input record of an exactly-once pipeline
	// appears zero times / more than once in its output (read_committed).
	EOSMissing   = "eos-missing"
	EOSDuplicate = "eos-duplicate"
	// ReplicaDivergence: the replicas of a partition hold different bytes
	// once the cluster is quiet (a divergent tail not truncated, a follower
	// that did not catch up).
	ReplicaDivergence = "replica-divergence"
)

// Classes lists every class in the order reports print them.
var Classes = []string{LostWrite, Duplicate, WrongOffset, InconsistentOffset, Reorder,
	UnknownValue, AbortedRead, PartialTransaction, PollSkip, PollBackwards, EOSMissing, EOSDuplicate,
	ReplicaDivergence}

// Report is the result of Check.
type Report struct {
	Counts   map[string]int      // anomalies per class
	Examples map[string][]string // the first few of each class
	// Judged counts what was checked, so that a clean report on an empty
	// history is visible as such.
	Acked, Unknown, Read int
}

// MaxExamples bounds the examples kept per class.
const MaxExamples = 5

func (r *Report) add(class, format string, args ...any) {
	r.Counts[class]++
	if len(r.Examples[class]) < MaxExamples {
		r.Examples[class] = append(r.Examples[class], fmt.Sprintf(format, args...))
	}
}

// Anomalies is the total over every class.
func (r *Report) Anomalies() int {
	n := 0
	for _, c := range r.Counts {
		n += c
	}
	return n
}

// Print writes counts per class and the first examples.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "checked: %d acknowledged writes, %d with unknown outcome, %d records read\n", r.Acked, r.Unknown, r.Read)
	for _, c := range Classes {
		fmt.Fprintf(w, "  %-20s %d\n", c, r.Counts[c])
		for _, e := range r.Examples[c] {
			fmt.Fprintf(w, "      %s\n", e)
		}
	}
	if n := r.Anomalies(); n > 0 {
		fmt.Fprintf(w, "ANOMALIES: %d\n", n)
	} else {
		fmt.Fprintln(w, "no anomalies")
	}
}

type tp struct {
	topic string
	part  int32
}

func (t tp) String() string { return fmt.Sprintf("%s/%d", t.topic, t.part) }

type wkey struct {
	producer int
	seq      int64
}

// logView is one final read indexed by partition and offset.
type logView struct {
	byOffset map[tp]map[int64]string
	sorted   map[tp][]Record // by offset
}

func newLogView(rs []Record) logView {
	v := logView{byOffset: map[tp]map[int64]string{}, sorted: map[tp][]Record{}}
	for _, r := range rs {
		k := tp{r.Topic, r.Partition}
		if v.byOffset[k] == nil {
			v.byOffset[k] = map[int64]string{}
		}
		v.byOffset[k][r.Offset] = r.Value
		v.sorted[k] = append(v.sorted[k], r)
	}
	for k := range v.sorted {
		s := v.sorted[k]
		sort.Slice(s, func(i, j int) bool { return s[i].Offset < s[j].Offset })
	}
	return v
}

// between reports whether the view holds a record of k with lo < offset < hi.
func (v logView) between(k tp, lo, hi int64) (int64, bool) {
	s := v.sorted[k]
	i := sort.Search(len(s), func(i int) bool { return s[i].Offset > lo })
	if i < len(s) && s[i].Offset < hi {
		return s[i].Offset, true
	}
	return 0, false
}

// Check judges a history.
func Check(h *History) *Report {
	r := &Report{Counts: map[string]int{}, Examples: map[string][]string{}}
	ends := map[tp]PartitionEnd{}
	for _, e := range h.Final.Ends {
		ends[tp{e.Topic, e.Partition}] = e
	}
	txns := map[int64]Txn{}
	for _, t := range h.Txns {
		txns[t.ID] = t
	}
	writes := map[wkey]Write{}
	writtenTopics := map[string]bool{}
	for _, w := range h.Writes {
		writes[wkey{w.Producer, w.Seq}] = w
		writtenTopics[w.Topic] = true
		if w.Acked() {
			r.Acked++
		} else {
			r.Unknown++
		}
	}
	outputs := map[string]bool{}
	for _, p := range h.Pipelines {
		outputs[p.Output] = true
	}
	unc := newLogView(h.Final.Uncommitted)
	com := newLogView(h.Final.Committed)
	r.Read = len(h.Final.Uncommitted) + len(h.Final.Committed)

	// Where each write was found, per isolation level.
	found := func(rs []Record, committed bool) map[wkey][]place {
		m := map[wkey][]place{}
		for _, rec := range rs {
			if outputs[rec.Topic] {
				continue // judged by the pipeline check
			}
			p, seq, ok := ParseValue(rec.Value)
			w, known := writes[wkey{p, seq}]
			if !ok || !known || w.Topic != rec.Topic || w.Partition != rec.Partition {
				if !committed { // the committed read would report it again
					r.add(UnknownValue, "%s/%d@%d holds %q, which no write of this run sent there", rec.Topic, rec.Partition, rec.Offset, rec.Value)
				}
				continue
			}
			m[wkey{p, seq}] = append(m[wkey{p, seq}], place{tp{rec.Topic, rec.Partition}, rec.Offset})
		}
		return m
	}
	inUnc := found(h.Final.Uncommitted, false)
	inCom := found(h.Final.Committed, true)

	// Sorted for stable examples.
	keys := make([]wkey, 0, len(writes))
	for k := range writes {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b wkey) int {
		if a.producer != b.producer {
			return a.producer - b.producer
		}
		return int(a.seq - b.seq)
	})
	for _, key := range keys {
		w := writes[key]
		k := tp{w.Topic, w.Partition}
		end, read := ends[k]
		pu := inUnc[key]
		if len(pu) > 1 {
			r.add(Duplicate, "%s %q at offsets %v", k, w.Value(), offsets(pu))
		}
		if w.Acked() {
			switch {
			case len(pu) == 0 && read && w.Offset >= end.LogStart:
				r.add(LostWrite, "%s %q acknowledged at offset %d, absent (high watermark %d)", k, w.Value(), w.Offset, end.HighWatermark)
			case len(pu) > 0 && pu[0].off != w.Offset:
				r.add(WrongOffset, "%s %q acknowledged at offset %d, found at %d", k, w.Value(), w.Offset, pu[0].off)
			}
		}
		// read_committed: what must and must not be visible.
		pc := inCom[key]
		if len(pc) > 1 {
			r.add(Duplicate, "%s %q at offsets %v (read_committed)", k, w.Value(), offsets(pc))
		}
		t, transactional := txns[w.Txn]
		switch {
		case transactional && (t.Intent == "abort" || t.Outcome == "aborted"):
			if len(pc) > 0 {
				r.add(AbortedRead, "%s %q of transaction %d (%s, %s) read at offset %d by read_committed", k, w.Value(), w.Txn, t.Intent, t.Outcome, pc[0].off)
			}
		case transactional && t.Outcome == "unknown":
			// Atomicity is judged per transaction below.
		case w.Acked() && read && len(pc) == 0 && w.Offset >= end.LogStart && w.Offset < end.LastStable:
			r.add(LostWrite, "%s %q acknowledged at offset %d (transaction %d), absent from read_committed (last stable offset %d)", k, w.Value(), w.Offset, w.Txn, end.LastStable)
		}
	}

	// A transaction whose outcome is unknown is all or nothing for
	// read_committed readers.
	for _, t := range h.Txns {
		if t.Outcome != "unknown" || t.Intent != "commit" {
			continue
		}
		var seen, missing []string
		for _, key := range keys {
			w := writes[key]
			if w.Txn != t.ID {
				continue
			}
			end, read := ends[tp{w.Topic, w.Partition}]
			if len(inCom[key]) > 0 {
				seen = append(seen, w.Value())
			} else if w.Acked() && read && w.Offset < end.LastStable {
				missing = append(missing, w.Value())
			}
		}
		if len(seen) > 0 && len(missing) > 0 {
			r.add(PartialTransaction, "transaction %d: read_committed shows %v but not %v", t.ID, first(seen), first(missing))
		}
	}

	// Sequence order per producer and partition, in the log's order.
	for k, rs := range unc.sorted {
		if outputs[k.topic] || !writtenTopics[k.topic] {
			continue
		}
		last := map[int]int64{}
		lastOff := map[int]int64{}
		for _, rec := range rs {
			p, seq, ok := ParseValue(rec.Value)
			if !ok {
				continue
			}
			if prev, seen := last[p]; seen && seq <= prev {
				if seq < prev {
					r.add(Reorder, "%s producer %d: s=%d at offset %d after s=%d at offset %d", k, p, seq, rec.Offset, prev, lastOff[p])
				}
				continue
			}
			last[p], lastOff[p] = seq, rec.Offset
		}
	}

	// The two final reads agree where both have a record.
	for k, m := range com.byOffset {
		for off, v := range m {
			if u, ok := unc.byOffset[k][off]; ok && u != v {
				r.add(InconsistentOffset, "%s@%d: read_uncommitted %q, read_committed %q", k, off, u, v)
			}
		}
	}

	for _, c := range h.Consumers {
		checkConsumer(r, c, unc, com, ends, writes, txns)
	}
	for _, p := range h.Pipelines {
		checkPipeline(r, p, com, ends)
	}
	checkReplicas(r, h.Replicas)
	return r
}

// checkReplicas: every replica of a partition holds the same bytes.
func checkReplicas(r *Report, logs []ReplicaLog) {
	by := map[tp][]ReplicaLog{}
	var keys []tp
	for _, l := range logs {
		k := tp{l.Topic, l.Partition}
		if by[k] == nil {
			keys = append(keys, k)
		}
		by[k] = append(by[k], l)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].topic != keys[j].topic {
			return keys[i].topic < keys[j].topic
		}
		return keys[i].part < keys[j].part
	})
	for _, k := range keys {
		ls := by[k]
		for _, l := range ls[1:] {
			if l.SHA256 != ls[0].SHA256 || l.Bytes != ls[0].Bytes {
				var desc []string
				for _, x := range ls {
					desc = append(desc, fmt.Sprintf("node %d: %d bytes %.12s", x.Node, x.Bytes, x.SHA256))
				}
				r.add(ReplicaDivergence, "%s: %s", k, strings.Join(desc, "; "))
				break
			}
		}
	}
}

// checkConsumer judges what one live consumer polled against the final read
// at its isolation level.
func checkConsumer(r *Report, c Consumer, unc, com logView, ends map[tp]PartitionEnd, writes map[wkey]Write, txns map[int64]Txn) {
	view := unc
	if c.ReadCommitted {
		view = com
	}
	last := map[tp]int64{}
	for _, rec := range c.Records {
		k := tp{rec.Topic, rec.Partition}
		end, read := ends[k]
		prev, seen := last[k]
		if seen && rec.Offset <= prev {
			r.add(PollBackwards, "%s %s: offset %d after %d", c.Name, k, rec.Offset, prev)
			continue
		}
		if read {
			lo := prev
			if !seen {
				lo = end.LogStart - 1
			}
			if off, ok := view.between(k, lo, rec.Offset); ok {
				r.add(PollSkip, "%s %s: jumped from %d to %d over offset %d", c.Name, k, lo, rec.Offset, off)
			}
			if v, ok := view.byOffset[k][rec.Offset]; !ok || v != rec.Value {
				if !ok {
					v = "nothing"
				} else {
					v = fmt.Sprintf("%q", v)
				}
				r.add(InconsistentOffset, "%s %s@%d: polled %q, final read has %s", c.Name, k, rec.Offset, rec.Value, v)
			}
		}
		if c.ReadCommitted {
			if p, seq, ok := ParseValue(rec.Value); ok {
				if w, known := writes[wkey{p, seq}]; known && w.Txn != 0 {
					if t := txns[w.Txn]; t.Intent == "abort" || t.Outcome == "aborted" {
						r.add(AbortedRead, "%s %s@%d: polled %q of aborted transaction %d", c.Name, k, rec.Offset, rec.Value, w.Txn)
					}
				}
			}
		}
		last[k] = rec.Offset
	}
}

// checkPipeline: every record of the input appears exactly once in the
// output for read_committed readers.
func checkPipeline(r *Report, p Pipeline, com logView, ends map[tp]PartitionEnd) {
	want := map[string]string{} // value → where it is in the input
	complete := true
	out := map[string][]string{}
	for k, rs := range com.sorted {
		if _, read := ends[k]; !read && (k.topic == p.Input || k.topic == p.Output) {
			complete = false
		}
		switch k.topic {
		case p.Input:
			for _, rec := range rs {
				want[rec.Value] = fmt.Sprintf("%s@%d", k, rec.Offset)
			}
		case p.Output:
			for _, rec := range rs {
				out[rec.Value] = append(out[rec.Value], fmt.Sprintf("%s@%d", k, rec.Offset))
			}
		}
	}
	vals := make([]string, 0, len(want))
	for v := range want {
		vals = append(vals, v)
	}
	sort.Strings(vals)
	for _, v := range vals {
		switch n := len(out[v]); {
		case n == 0 && complete:
			r.add(EOSMissing, "%s %q (input %s) is not in %s", p.Output, v, want[v], p.Output)
		case n > 1:
			r.add(EOSDuplicate, "%s %q (input %s) at %v", p.Output, v, want[v], out[v])
		}
	}
	outVals := make([]string, 0, len(out))
	for v := range out {
		outVals = append(outVals, v)
	}
	sort.Strings(outVals)
	for _, v := range outVals {
		if _, ok := want[v]; !ok {
			r.add(UnknownValue, "%s %q at %v is no record of %s", p.Output, v, out[v], p.Input)
		}
	}
}

// place is where a write was found.
type place struct {
	k   tp
	off int64
}

func offsets(ps []place) []int64 {
	var o []int64
	for _, p := range ps {
		o = append(o, p.off)
	}
	return o
}

func first(s []string) string {
	if len(s) > 3 {
		return strings.Join(s[:3], ", ") + ", …"
	}
	return strings.Join(s, ", ")
}

// Failover measures, for every kill of a partition's leader, the time from
// the kill to the first acknowledgement of a write to that partition sent
// at or after the kill. Kills after which no write to the partition was
// acknowledged are counted in unresolved.
func Failover(h *History) (d []time.Duration, unresolved int) {
	single, overlapped, unresolved := FailoverSplit(h)
	return append(single, overlapped...), unresolved
}

// recovery is the time from kill f to the first acknowledgement of a write
// to its partition sent at or after it; -1 when there was none.
func recovery(h *History, f Fault) time.Duration {
	var best time.Duration = -1
	for _, w := range h.Writes {
		if w.Topic != f.Topic || w.Partition != f.Partition || !w.Acked() || w.Sent.Before(f.Start) {
			continue
		}
		if dt := w.Done.Sub(f.Start); best < 0 || dt < best {
			best = dt
		}
	}
	return best
}

// FailoverSplit divides Failover's kills in two: those where nothing else
// happened before the partition took writes again (the failover of one
// fault), and those where another fault started in between — with a kill
// every 10 s the new leader, or the follower needed for
// min.insync.replicas, is often the next one killed, and the partition
// waits through a second session timeout and catch-up.
func FailoverSplit(h *History) (single, overlapped []time.Duration, unresolved int) {
	for _, f := range h.Faults {
		if f.Kind != "kill" || f.Partition < 0 {
			continue
		}
		best := recovery(h, f)
		if best < 0 {
			unresolved++
			continue
		}
		alone := true
		for _, g := range h.Faults {
			if g != f && g.Start.After(f.Start) && g.Start.Before(f.Start.Add(best)) {
				alone = false
				break
			}
		}
		if alone {
			single = append(single, best)
		} else {
			overlapped = append(overlapped, best)
		}
	}
	return single, overlapped, unresolved
}

// Percentile returns the p-th percentile (0–100) of d, by nearest rank.
func Percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	i = max(0, min(i, len(s)-1))
	return s[i]
}

// FailedWrites counts the writes that failed (or had no outcome) by the
// fault they were sent during — a write sent between a fault's start and
// its end — or "none". A rolling restart with controlled shutdown should
// fail none: clients are meant to see only retriable errors there.
func FailedWrites(h *History) map[string]int {
	m := map[string]int{}
	for _, w := range h.Writes {
		if w.Acked() {
			continue
		}
		kind := "none"
		for _, f := range h.Faults {
			if !w.Sent.Before(f.Start) && !w.Sent.After(f.End) {
				kind = f.Kind
				break
			}
		}
		m[kind]++
	}
	return m
}

// FaultLatency is how acks=all writes fared while one fault lasted.
type FaultLatency struct {
	Fault    Fault
	Acked    int
	Failed   int
	P50, Max time.Duration // from sent to acknowledged, over the acknowledged
}

// LatencyDuring summarizes, for every fault, the writes sent between its
// start and its end: a leader that cannot replicate must hold acks=all
// writes back (or fail them), never acknowledge them early.
func LatencyDuring(h *History) []FaultLatency {
	var out []FaultLatency
	for _, f := range h.Faults {
		fl := FaultLatency{Fault: f}
		var d []time.Duration
		for _, w := range h.Writes {
			if w.Sent.Before(f.Start) || w.Sent.After(f.End) {
				continue
			}
			if !w.Acked() {
				fl.Failed++
				continue
			}
			fl.Acked++
			d = append(d, w.Done.Sub(w.Sent))
		}
		fl.P50, fl.Max = Percentile(d, 50), Percentile(d, 100)
		out = append(out, fl)
	}
	return out
}

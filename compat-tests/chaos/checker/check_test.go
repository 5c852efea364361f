package checker

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// clean builds a correct history: two producers writing 10 records each,
// alternating over two partitions of topic "t"; a transactional producer
// (producer 9) with one committed and one aborted transaction of two
// records each; one consumer at each isolation level that polled
// everything; final reads that agree with every acknowledgement.
func clean() *History {
	h := &History{}
	next := map[int32]int64{}
	var unc, com []Record
	write := func(p int, seq int64, part int32, txn int64) {
		off := next[part]
		next[part]++
		w := Write{Topic: "t", Partition: part, Producer: p, Seq: seq, Offset: off, Txn: txn,
			Sent: t0.Add(time.Duration(seq) * time.Second), Done: t0.Add(time.Duration(seq)*time.Second + 10*time.Millisecond)}
		h.Writes = append(h.Writes, w)
		rec := Record{Topic: "t", Partition: part, Offset: off, Value: w.Value()}
		unc = append(unc, rec)
		if txn != 2 { // transaction 2 is aborted
			com = append(com, rec)
		}
	}
	for seq := int64(0); seq < 10; seq++ {
		for p := 0; p < 2; p++ {
			write(p, seq, int32(seq%2), 0)
		}
	}
	h.Txns = []Txn{{ID: 1, Intent: "commit", Outcome: "committed"}, {ID: 2, Intent: "abort", Outcome: "aborted"}}
	write(9, 0, 0, 1)
	write(9, 1, 1, 1)
	next[0]++ // the commit marker
	next[1]++
	write(9, 2, 0, 2)
	write(9, 3, 1, 2)
	next[0]++ // the abort marker
	next[1]++
	for p := int32(0); p < 2; p++ {
		h.Final.Ends = append(h.Final.Ends, PartitionEnd{Topic: "t", Partition: p, HighWatermark: next[p], LastStable: next[p]})
	}
	h.Final.Uncommitted, h.Final.Committed = unc, com
	h.Consumers = []Consumer{
		{Name: "uncommitted", Records: append([]Record(nil), unc...)},
		{Name: "committed", ReadCommitted: true, Records: append([]Record(nil), com...)},
	}
	return h
}

// find returns the index of the write of producer p with sequence seq.
func find(h *History, p int, seq int64) int {
	for i, w := range h.Writes {
		if w.Producer == p && w.Seq == seq {
			return i
		}
	}
	panic("no such write")
}

func dropRecord(rs []Record, part int32, off int64) []Record {
	var out []Record
	for _, r := range rs {
		if r.Partition != part || r.Offset != off {
			out = append(out, r)
		}
	}
	return out
}

func TestCleanHistoryHasNoAnomalies(t *testing.T) {
	r := Check(clean())
	if r.Anomalies() != 0 {
		var b bytes.Buffer
		r.Print(&b)
		t.Fatalf("clean history reported anomalies:\n%s", b.String())
	}
	if r.Acked != 24 || r.Read == 0 {
		t.Fatalf("acked %d, read %d: the clean history was not judged", r.Acked, r.Read)
	}
}

func TestEachAnomalyClass(t *testing.T) {
	cases := []struct {
		name   string
		class  string
		mutate func(h *History)
	}{
		{"acknowledged write missing", LostWrite, func(h *History) {
			w := h.Writes[find(h, 0, 4)]
			h.Final.Uncommitted = dropRecord(h.Final.Uncommitted, w.Partition, w.Offset)
			h.Final.Committed = dropRecord(h.Final.Committed, w.Partition, w.Offset)
			h.Consumers = nil
		}},
		{"committed transaction invisible to read_committed", LostWrite, func(h *History) {
			w := h.Writes[find(h, 9, 0)]
			h.Final.Committed = dropRecord(h.Final.Committed, w.Partition, w.Offset)
			h.Consumers = nil
		}},
		{"write at two offsets", Duplicate, func(h *History) {
			w := h.Writes[find(h, 1, 9)] // the last of its producer: no reordering
			h.Final.Uncommitted = append(h.Final.Uncommitted, Record{Topic: "t", Partition: w.Partition, Offset: 100, Value: w.Value()})
			h.Final.Ends[w.Partition].HighWatermark = 101
		}},
		{"acknowledged elsewhere", WrongOffset, func(h *History) {
			h.Writes[find(h, 0, 2)].Offset = 77
		}},
		{"consumer saw another value", InconsistentOffset, func(h *History) {
			h.Consumers[0].Records[3].Value = Value(1, 9)
		}},
		{"consumer saw a truncated offset", InconsistentOffset, func(h *History) {
			h.Consumers[0].Records = append(h.Consumers[0].Records, Record{Topic: "t", Partition: 0, Offset: 500, Value: Value(0, 99)})
		}},
		{"sequence order broken", Reorder, func(h *History) {
			// Swap producer 0's first two records in partition 0 (s=0 at
			// offset 0, s=2 at offset 2) in both reads.
			for _, rs := range [][]Record{h.Final.Uncommitted, h.Final.Committed} {
				var a, b int = -1, -1
				for i, r := range rs {
					if r.Partition == 0 && r.Offset == 0 {
						a = i
					}
					if r.Partition == 0 && r.Offset == 2 {
						b = i
					}
				}
				rs[a].Value, rs[b].Value = rs[b].Value, rs[a].Value
			}
			h.Writes[find(h, 0, 0)].Err = "timeout" // keep WrongOffset out of it
			h.Writes[find(h, 0, 2)].Err = "timeout"
			h.Consumers = nil
		}},
		{"record nobody wrote", UnknownValue, func(h *History) {
			h.Final.Uncommitted = append(h.Final.Uncommitted, Record{Topic: "t", Partition: 1, Offset: 100, Value: "garbage"})
		}},
		{"read_committed shows an aborted transaction", AbortedRead, func(h *History) {
			w := h.Writes[find(h, 9, 2)]
			rec := Record{Topic: "t", Partition: w.Partition, Offset: w.Offset, Value: w.Value()}
			h.Final.Committed = append(h.Final.Committed, rec)
			h.Consumers[1].Records = nil
		}},
		{"read_committed consumer polls an aborted record", AbortedRead, func(h *History) {
			w := h.Writes[find(h, 9, 3)]
			h.Consumers = []Consumer{{Name: "c", ReadCommitted: true,
				Records: []Record{{Topic: "t", Partition: w.Partition, Offset: w.Offset, Value: w.Value()}}}}
			// Only the aborted read, not the skip it also is.
			h.Final.Ends = nil
		}},
		{"half a transaction of unknown outcome", PartialTransaction, func(h *History) {
			h.Txns[0].Outcome = "unknown"
			w := h.Writes[find(h, 9, 1)]
			h.Final.Committed = dropRecord(h.Final.Committed, w.Partition, w.Offset)
			h.Consumers = nil
		}},
		{"consumer skipped a record", PollSkip, func(h *History) {
			h.Consumers[0].Records = append(h.Consumers[0].Records[:2:2], h.Consumers[0].Records[4:]...)
		}},
		{"consumer went backwards", PollBackwards, func(h *History) {
			rs := h.Consumers[1].Records
			h.Consumers[1].Records = append(rs[:len(rs):len(rs)], rs[0])
		}},
		{"pipeline lost an input", EOSMissing, func(h *History) {
			addPipeline(h)
			h.Final.Committed = dropRecord(h.Final.Committed, 7, 2) // output partition 7
		}},
		{"pipeline wrote an input twice", EOSDuplicate, func(h *History) {
			addPipeline(h)
			h.Final.Committed = append(h.Final.Committed, Record{Topic: "out", Partition: 7, Offset: 10, Value: "in-1"})
			h.Final.Ends[len(h.Final.Ends)-1].HighWatermark = 11
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := clean()
			tc.mutate(h)
			r := Check(h)
			var b bytes.Buffer
			r.Print(&b)
			if r.Counts[tc.class] == 0 {
				t.Fatalf("want %s, got:\n%s", tc.class, b.String())
			}
			for c, n := range r.Counts {
				if c != tc.class && n > 0 {
					t.Errorf("only %s expected, also got %s:\n%s", tc.class, c, b.String())
				}
			}
			if !strings.Contains(b.String(), "ANOMALIES:") {
				t.Errorf("the report does not say ANOMALIES:\n%s", b.String())
			}
		})
	}
}

// addPipeline adds a correct exactly-once pipeline: input topic "in" with
// three records, output partition 7 of "out" with each once.
func addPipeline(h *History) {
	h.Pipelines = append(h.Pipelines, Pipeline{Input: "in", Output: "out"})
	for i, v := range []string{"in-0", "in-1", "in-2"} {
		h.Final.Committed = append(h.Final.Committed,
			Record{Topic: "in", Partition: 0, Offset: int64(i), Value: v},
			Record{Topic: "out", Partition: 7, Offset: int64(i), Value: v})
	}
	h.Final.Ends = append(h.Final.Ends,
		PartitionEnd{Topic: "in", Partition: 0, HighWatermark: 3, LastStable: 3},
		PartitionEnd{Topic: "out", Partition: 7, HighWatermark: 3, LastStable: 3})
}

func TestCleanPipeline(t *testing.T) {
	h := clean()
	addPipeline(h)
	if r := Check(h); r.Anomalies() != 0 {
		var b bytes.Buffer
		r.Print(&b)
		t.Fatal(b.String())
	}
}

// Unknown outcomes are not anomalies: a write that errored may or may not
// be in the log, once.
func TestUnknownOutcomesAreAllowed(t *testing.T) {
	h := clean()
	// Write 0/5 errored and is absent; 1/5 errored and is present.
	i := find(h, 0, 5)
	w := h.Writes[i]
	h.Writes[i].Err = "NOT_ENOUGH_REPLICAS"
	h.Final.Uncommitted = dropRecord(h.Final.Uncommitted, w.Partition, w.Offset)
	h.Final.Committed = dropRecord(h.Final.Committed, w.Partition, w.Offset)
	h.Consumers = nil
	h.Writes[find(h, 1, 5)].Err = "timeout"
	if r := Check(h); r.Anomalies() != 0 || r.Unknown != 2 {
		var b bytes.Buffer
		r.Print(&b)
		t.Fatalf("unknown %d:\n%s", r.Unknown, b.String())
	}
}

// A partition the final read did not reach the end of is not judged for
// lost writes: absence proves nothing there.
func TestUnreadPartitionIsNotJudgedLost(t *testing.T) {
	h := clean()
	w := h.Writes[find(h, 0, 4)]
	h.Final.Uncommitted = dropRecord(h.Final.Uncommitted, w.Partition, w.Offset)
	h.Final.Committed = dropRecord(h.Final.Committed, w.Partition, w.Offset)
	h.Consumers = nil
	h.Final.Ends = h.Final.Ends[:0]
	if r := Check(h); r.Counts[LostWrite] != 0 {
		t.Fatalf("lost writes judged without a complete read: %v", r.Counts)
	}
}

func TestHistoryRoundTripsThroughJSON(t *testing.T) {
	h := clean()
	h.Faults = []Fault{{Kind: "kill", Node: 2, Topic: "t", Partition: 1, Start: t0, End: t0.Add(time.Second)}}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var back History
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if r := Check(&back); r.Anomalies() != 0 || r.Acked != 24 {
		t.Fatalf("after a JSON round trip: acked %d, %v", r.Acked, r.Counts)
	}
}

func TestFailover(t *testing.T) {
	h := &History{
		Faults: []Fault{
			{Kind: "kill", Topic: "t", Partition: 0, Start: t0},
			{Kind: "kill", Topic: "t", Partition: 1, Start: t0.Add(10 * time.Second)},
			{Kind: "kill", Topic: "t", Partition: 1, Start: t0.Add(20 * time.Second)}, // nothing after it
			{Kind: "pause", Topic: "t", Partition: 0, Start: t0},                      // not a kill
		},
		Writes: []Write{
			// Sent before the kill: does not count although acked after it.
			{Topic: "t", Partition: 0, Sent: t0.Add(-time.Millisecond), Done: t0.Add(100 * time.Millisecond)},
			{Topic: "t", Partition: 0, Sent: t0.Add(time.Millisecond), Done: t0.Add(900 * time.Millisecond)},
			{Topic: "t", Partition: 0, Sent: t0.Add(2 * time.Millisecond), Done: t0.Add(800 * time.Millisecond)},
			// Failed: does not count.
			{Topic: "t", Partition: 1, Sent: t0.Add(10 * time.Second), Done: t0.Add(10*time.Second + time.Millisecond), Err: "x"},
			{Topic: "t", Partition: 1, Sent: t0.Add(10 * time.Second), Done: t0.Add(12 * time.Second)},
			{Topic: "t", Partition: 1, Sent: t0.Add(15 * time.Second), Done: t0.Add(15 * time.Second), Lost: true},
		},
	}
	d, unresolved := Failover(h)
	if len(d) != 2 || d[0] != 800*time.Millisecond || d[1] != 2*time.Second || unresolved != 1 {
		t.Fatalf("failover %v, unresolved %d", d, unresolved)
	}
	if p := Percentile(d, 50); p != 800*time.Millisecond {
		t.Errorf("p50 %v", p)
	}
	if p := Percentile(d, 100); p != 2*time.Second {
		t.Errorf("max %v", p)
	}
}

// TestFailoverSplit: a kill followed by another fault before its partition
// took a write again counts as overlapped, not as a single fault.
func TestFailoverSplit(t *testing.T) {
	h := &History{
		Faults: []Fault{
			{Kind: "kill", Topic: "t", Partition: 0, Start: t0},
			{Kind: "kill", Topic: "t", Partition: 1, Start: t0.Add(10 * time.Second)},
			{Kind: "pause", Topic: "t", Partition: 1, Start: t0.Add(12 * time.Second)}, // before partition 1 recovers
		},
		Writes: []Write{
			{Topic: "t", Partition: 0, Sent: t0.Add(time.Second), Done: t0.Add(9 * time.Second)},
			{Topic: "t", Partition: 1, Sent: t0.Add(11 * time.Second), Done: t0.Add(30 * time.Second)},
		},
	}
	single, overlapped, unresolved := FailoverSplit(h)
	if len(single) != 1 || single[0] != 9*time.Second || len(overlapped) != 1 || overlapped[0] != 20*time.Second || unresolved != 0 {
		t.Fatalf("single %v, overlapped %v, unresolved %d", single, overlapped, unresolved)
	}
}

func TestFailedWrites(t *testing.T) {
	h := &History{
		Faults: []Fault{{Kind: "restart", Start: t0, End: t0.Add(5 * time.Second)}},
		Writes: []Write{
			{Sent: t0.Add(time.Second), Err: "x"},
			{Sent: t0.Add(time.Second)}, // acknowledged
			{Sent: t0.Add(6 * time.Second), Lost: true},
		},
	}
	got := FailedWrites(h)
	if got["restart"] != 1 || got["none"] != 1 || len(got) != 2 {
		t.Fatalf("%v", got)
	}
}

func TestLatencyDuring(t *testing.T) {
	h := &History{
		Faults: []Fault{{Kind: "pause", Start: t0, End: t0.Add(10 * time.Second)}},
		Writes: []Write{
			{Sent: t0.Add(time.Second), Done: t0.Add(11 * time.Second)},
			{Sent: t0.Add(2 * time.Second), Done: t0.Add(3 * time.Second)},
			{Sent: t0.Add(3 * time.Second), Err: "x"},
			{Sent: t0.Add(20 * time.Second), Done: t0.Add(40 * time.Second)}, // after the fault
		},
	}
	l := LatencyDuring(h)
	if len(l) != 1 || l[0].Acked != 2 || l[0].Failed != 1 || l[0].P50 != time.Second || l[0].Max != 10*time.Second {
		t.Fatalf("%+v", l)
	}
}

func TestReplicaDivergence(t *testing.T) {
	h := clean()
	h.Replicas = []ReplicaLog{
		{Topic: "t", Partition: 0, Node: 1, Bytes: 10, SHA256: "aa"},
		{Topic: "t", Partition: 0, Node: 2, Bytes: 10, SHA256: "aa"},
		{Topic: "t", Partition: 1, Node: 1, Bytes: 10, SHA256: "bb"},
		{Topic: "t", Partition: 1, Node: 3, Bytes: 10, SHA256: "bb"},
	}
	if r := Check(h); r.Anomalies() != 0 {
		t.Fatalf("identical replicas reported: %v", r.Counts)
	}
	h.Replicas = append(h.Replicas, ReplicaLog{Topic: "t", Partition: 1, Node: 2, Bytes: 8, SHA256: "cc"})
	if r := Check(h); r.Counts[ReplicaDivergence] != 1 || r.Anomalies() != 1 {
		t.Fatalf("a diverging replica: %v", r.Counts)
	}
}

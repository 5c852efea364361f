package storage

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"testing"
	"time"

	"github.com/riffle-io/riffle/protocol/records"
)

// txnKeyedBatch is a transactional batch of keyed records.
func txnKeyedBatch(t testing.TB, pid int64, seq int32, ts int64, kvs []kv) records.Batch {
	t.Helper()
	recs := make([]records.Record, len(kvs))
	for i, r := range kvs {
		recs[i] = records.Record{OffsetDelta: int32(i), Key: r.key, Value: r.value}
	}
	b, err := records.Build(records.BatchHeader{Attributes: records.TransactionalFlag, BaseTimestamp: ts, MaxTimestamp: ts,
		ProducerID: pid, ProducerEpoch: 0, BaseSequence: seq, PartitionLeaderEpoch: -1}, records.CodecNone, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// txnModel is what was appended: every data record with its fate.
type txnModel struct {
	key, value map[int64]string
	pidOf      map[int64]int64 // transactional records only
	fate       map[int64]ControlType
	open       map[int64][]int64 // producer id → offsets of its open transaction
	seq        map[int64]int32
}

func newTxnModel() *txnModel {
	return &txnModel{key: map[int64]string{}, value: map[int64]string{}, pidOf: map[int64]int64{},
		fate: map[int64]ControlType{}, open: map[int64][]int64{}, seq: map[int64]int32{}}
}

func (m *txnModel) appendData(t *testing.T, l *Log, pid int64, kvs []kv) {
	t.Helper()
	var b records.Batch
	if pid < 0 {
		b = keyedBatch(t, t0.UnixMilli(), records.CodecNone, kvs)
	} else {
		b = txnKeyedBatch(t, pid, m.seq[pid], t0.UnixMilli(), kvs)
		m.seq[pid] += int32(len(kvs))
	}
	r := mustAppend(t, l, b, t0)
	for i, x := range kvs {
		off := r.FirstOffset + int64(i)
		m.key[off], m.value[off] = string(x.key), string(x.value)
		if pid >= 0 {
			m.pidOf[off] = pid
			m.open[pid] = append(m.open[pid], off)
		}
	}
}

func (m *txnModel) end(t *testing.T, l *Log, pid int64, typ ControlType) {
	t.Helper()
	mustAppend(t, l, controlBatch(t, pid, 0, typ), t0)
	for _, off := range m.open[pid] {
		m.fate[off] = typ
	}
	delete(m.open, pid)
}

// visible reports whether a read_committed consumer may see the record.
func (m *txnModel) visible(off int64) bool {
	if _, txn := m.pidOf[off]; !txn {
		return true
	}
	fate, done := m.fate[off]
	return done && fate == ControlCommit
}

// latest is the read_committed view: key → value of its last visible record.
func (m *txnModel) latest() map[string]string {
	offs := make([]int64, 0, len(m.key))
	for off := range m.key {
		offs = append(offs, off)
	}
	sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
	out := map[string]string{}
	for _, off := range offs {
		if m.visible(off) {
			out[m.key[off]] = m.value[off]
		}
	}
	return out
}

// readCommitted reads the log as a read_committed consumer does (Kafka's
// Fetcher with the fetch's aborted transactions): data of a producer is
// dropped from an aborted transaction's first offset to its ABORT marker.
func readCommitted(t *testing.T, l *Log) map[string]string {
	t.Helper()
	aborted := l.AbortedTransactions(l.LogStartOffset(), l.LogEndOffset())
	sort.Slice(aborted, func(i, j int) bool { return aborted[i].FirstOffset < aborted[j].FirstOffset })
	abortedPIDs := map[int64]bool{}
	out := map[string]string{}
	for _, b := range readAll(t, l) {
		for len(aborted) > 0 && aborted[0].FirstOffset <= b.LastOffset() {
			abortedPIDs[aborted[0].ProducerID] = true
			aborted = aborted[1:]
		}
		if b.IsControl() {
			typ, err := ControlRecordType(b)
			if err != nil {
				t.Fatalf("control batch at %d: %v", b.BaseOffset(), err)
			}
			if typ == ControlAbort {
				delete(abortedPIDs, b.ProducerID())
			}
			continue
		}
		if b.IsTransactional() && abortedPIDs[b.ProducerID()] {
			continue
		}
		err := b.ForEachRecord(func(r *records.Record) error {
			out[string(r.Key)] = string(r.Value)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// checkTxnCompaction checks a cleaned log against the model: no aborted
// record is left, every key below the cleaned end appears once among the
// visible records, the read_committed view is the model's, and every
// aborted transaction a fetch reports has its ABORT marker in the log.
func checkTxnCompaction(t *testing.T, l *Log, m *txnModel, cleanedEnd int64) (markers int) {
	t.Helper()
	seen := map[string]int64{}
	for _, r := range readRecords(t, l) {
		if _, data := m.key[r.offset]; data && (r.key != m.key[r.offset] || r.value != m.value[r.offset]) {
			t.Fatalf("offset %d: %s=%s, appended %s=%s", r.offset, r.key, r.value, m.key[r.offset], m.value[r.offset])
		}
	}
	ctl := map[int64]ControlType{}
	for _, b := range readAll(t, l) {
		if b.IsControl() {
			typ, err := ControlRecordType(b)
			if err != nil {
				t.Fatalf("control batch at %d: %v", b.BaseOffset(), err)
			}
			ctl[b.BaseOffset()] = typ
			continue
		}
		err := b.ForEachRecord(func(r *records.Record) error {
			off := b.BaseOffset() + int64(r.OffsetDelta)
			if fate, done := m.fate[off]; done && fate == ControlAbort && off < cleanedEnd {
				return fmt.Errorf("aborted record %d (%s) survived cleaning", off, r.Key)
			}
			if m.visible(off) && off < cleanedEnd {
				if prev, dup := seen[string(r.Key)]; dup {
					return fmt.Errorf("key %s at %d and %d below the cleaned end %d", r.Key, prev, off, cleanedEnd)
				}
				seen[string(r.Key)] = off
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range l.AbortedTransactions(0, l.LogEndOffset()) {
		if typ, ok := ctl[a.LastOffset]; !ok || typ != ControlAbort {
			t.Fatalf("aborted transaction %+v reported, but its marker is gone", a)
		}
	}
	got, want := readCommitted(t, l), m.latest()
	if len(got) != len(want) {
		t.Fatalf("read_committed sees %d keys, want %d: %v vs %v", len(got), len(want), got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("read_committed: %s=%q, want %q", k, got[k], v)
		}
	}
	return len(ctl)
}

// TestCompactionTransactions: compaction removes aborted data, compacts
// committed data like any other, keeps markers while their transaction has
// data, stamps then removes them after delete.retention.ms (KIP-534), drops
// the .txnindex entries of removed markers, survives a restart, and never
// touches data at or above the first unstable offset.
func TestCompactionTransactions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		abortRate float64 // share of transactions aborted
		txnRate   float64 // share of appends that are transactional
	}{
		{"committed", 0, 0.6},
		{"aborted", 1, 0.6},
		{"mixed", 0.5, 0.5},
		{"mostly-plain", 0.5, 0.15},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := compactCfg()
			cfg.DeleteRetentionMs = 1000
			m := newTestManager(t, []string{dir}, cfg)
			l, err := m.GetOrCreateLog(testTP, [16]byte{1, 2, 3}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewSource(int64(len(tc.name))))
			model := newTxnModel()
			val := 0
			kvs := func() []kv {
				var out []kv
				for j := 0; j < 1+rng.Intn(3); j++ {
					val++
					out = append(out, kv{[]byte(fmt.Sprintf("k%d", rng.Intn(20))), []byte(fmt.Sprintf("v%d", val))})
				}
				return out
			}
			endTxn := func(pid int64) {
				typ := ControlCommit
				if rng.Float64() < tc.abortRate {
					typ = ControlAbort
				}
				model.end(t, l, pid, typ)
			}
			appendSome := func(n int) {
				for i := 0; i < n; i++ {
					if rng.Float64() >= tc.txnRate {
						model.appendData(t, l, -1, kvs())
						continue
					}
					pid := int64(1 + rng.Intn(3))
					if len(model.open[pid]) > 0 && rng.Intn(3) == 0 {
						endTxn(pid)
						continue
					}
					model.appendData(t, l, pid, kvs())
				}
			}
			clean := func(now time.Time, want int) {
				t.Helper()
				l.SetHighWatermark(l.LogEndOffset())
				if n, err := m.CleanLogs(context.Background(), now, CleanerConfig{}); err != nil || n != want {
					t.Fatalf("cleaned %d logs, want %d: %v", n, want, err)
				}
			}

			// An open transaction in the middle holds cleaning back.
			appendSome(150)
			model.appendData(t, l, 9, []kv{{[]byte("k0"), []byte("open")}, {[]byte("k1"), []byte("open")}})
			fuo := model.open[9][0]
			appendSome(150)
			if err := l.Roll(t0); err != nil {
				t.Fatal(err)
			}
			clean(t0, 1)
			if end := m.cleanerOffset(testTP); end > fuo {
				t.Fatalf("cleaned up to %d, past the open transaction at %d", end, fuo)
			}
			for _, r := range readRecords(t, l) {
				if _, data := model.key[r.offset]; !data {
					continue
				}
				if r.offset >= fuo && r.value != model.value[r.offset] {
					t.Fatalf("offset %d changed above the first unstable offset", r.offset)
				}
			}
			n := 0
			for _, r := range readRecords(t, l) {
				if _, data := model.key[r.offset]; data && r.offset >= fuo {
					n++
				}
			}
			if want := func() int {
				c := 0
				for off := range model.key {
					if off >= fuo {
						c++
					}
				}
				return c
			}(); n != want {
				t.Fatalf("%d records at or above the first unstable offset, appended %d", n, want)
			}
			model.end(t, l, 9, ControlCommit)
			for pid := range model.open {
				endTxn(pid)
			}
			if err := l.Roll(t0); err != nil {
				t.Fatal(err)
			}
			clean(t0, 1)
			end := m.cleanerOffset(testTP)
			if end != l.LogEndOffset() {
				t.Fatalf("cleaned up to %d, log end %d", end, l.LogEndOffset())
			}
			markersBefore := checkTxnCompaction(t, l, model, end)

			// Restart; then cleanings past delete.retention.ms remove the
			// markers of emptied transactions.
			abandon(l)
			if err := m.Shutdown(); err != nil {
				t.Fatal(err)
			}
			m = newTestManager(t, []string{dir}, cfg)
			if l, err = m.GetOrCreateLog(testTP, [16]byte{1, 2, 3}, cfg); err != nil {
				t.Fatal(err)
			}
			checkTxnCompaction(t, l, model, end)
			model.appendData(t, l, -1, []kv{{[]byte("k0"), []byte("after-restart")}})
			if err := l.Roll(t0); err != nil {
				t.Fatal(err)
			}
			clean(t0, 1) // stamps the emptied markers
			checkTxnCompaction(t, l, model, m.cleanerOffset(testTP))
			later := t0.Add(2 * time.Second)
			clean(later, 1) // forced by the markers' horizon
			markersAfter := checkTxnCompaction(t, l, model, m.cleanerOffset(testTP))
			if markersAfter >= markersBefore {
				t.Fatalf("%d markers after their horizon, %d before", markersAfter, markersBefore)
			}
			// At most one marker per producer may stay (the producer's last
			// batch), plus those still with data.
			if markersAfter > 4+len(l.AbortedTransactions(0, l.LogEndOffset()))+4 {
				t.Fatalf("%d markers left", markersAfter)
			}
			clean(later, 0)
			abandon(l)
			l2 := openTestLog(t, l.Dir(), cfg)
			checkTxnCompaction(t, l2, model, m.cleanerOffset(testTP))
		})
	}
}

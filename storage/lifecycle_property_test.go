package storage

import (
	"errors"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/riffle-io/riffle/protocol/records"
)

// TestLifecycleAgreesWithModel drives a log through random interleavings of
// produce, fetch, roll, truncate, compact, retention, DeleteRecords and
// restart (clean and crashed), checking it against a simple model after
// every step: the offsets, every record served, and that compaction never
// loses a key's newest record.
func TestLifecycleAgreesWithModel(t *testing.T) {
	t.Parallel()
	for seed := int64(1); seed <= 12; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			runModelSeed(t, seed)
		})
	}
}

func runModelSeed(t *testing.T, seed int64) {
	rng := rand.New(rand.NewSource(seed))
	dir := t.TempDir()
	cfg := LogConfig{SegmentBytes: 400 + int64(rng.Intn(800)), IndexIntervalBytes: 64 + rng.Intn(300),
		CleanupCompact: true, CleanupDelete: true, DeleteRetentionMs: 1 << 40, MaxCompactionLagMs: 1 << 62,
		FileDeleteDelayMs: int64(rng.Intn(2)) * 1000}
	codec := []records.Codec{records.CodecNone, records.CodecSnappy, records.CodecZstd}[rng.Intn(3)]
	l, err := OpenLog(dir, testTP, [16]byte{7}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { l.Close() }()
	m := &lifecycleModel{records: map[int64]kv{}}
	var leo, hw int64
	firstDirty := int64(0)
	now := t0
	var trace []string
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d after %v: %s", seed, trace, fmt.Sprintf(format, args...))
	}
	for step := 0; step < 250; step++ {
		now = now.Add(time.Duration(rng.Intn(50)) * time.Millisecond)
		op := rng.Intn(100)
		switch {
		case op < 45:
			var kvs []kv
			for j := 0; j < 1+rng.Intn(5); j++ {
				kvs = append(kvs, kv{[]byte(fmt.Sprint("k", rng.Intn(10))), []byte(fmt.Sprintf("v%d-%d", step, j))})
			}
			r, err := l.AppendAsLeader(keyedBatch(t, now.UnixMilli(), codec, kvs), 1, now)
			if err != nil || r.FirstOffset != leo {
				fail("append: %+v %v, LEO %d", r, err, leo)
			}
			for j, x := range kvs {
				m.records[leo+int64(j)] = x
			}
			leo += int64(len(kvs))
			if rng.Intn(3) > 0 {
				hw = leo
				l.SetHighWatermark(hw)
			}
			trace = append(trace, "produce")
		case op < 60:
			off := m.logStartOffset - 2 + rng.Int63n(leo-m.logStartOffset+5)
			res, err := l.Read(off, 1+rng.Intn(2000), hw, rng.Intn(2) == 0)
			inRange := off >= m.logStartOffset && off <= leo
			if inRange != (err == nil) || (!inRange && !errors.Is(err, ErrOffsetOutOfRange)) {
				fail("read at %d of [%d, %d]: %v", off, m.logStartOffset, leo, err)
			}
			bs, serr := records.Split(res.Records)
			if serr != nil {
				fail("read at %d: %v", off, serr)
			}
			for _, b := range bs {
				if err := b.EnsureValid(); err != nil || b.LastOffset() >= hw {
					fail("read at %d: batch %d..%d (HW %d): %v", off, b.BaseOffset(), b.LastOffset(), hw, err)
				}
				_ = b.ForEachRecord(func(r *records.Record) error {
					o := b.BaseOffset() + int64(r.OffsetDelta)
					if want := m.records[o]; string(want.key) != string(r.Key) || string(want.value) != string(r.Value) {
						fail("read at %d: offset %d holds %s=%s, want %s=%s", off, o, r.Key, r.Value, want.key, want.value)
					}
					return nil
				})
			}
			trace = append(trace, fmt.Sprint("fetch@", off))
		case op < 67:
			if err := l.Roll(now); err != nil {
				fail("roll: %v", err)
			}
			trace = append(trace, "roll")
		case op < 72:
			// A follower discarding an uncommitted tail (KIP-101): to a
			// batch boundary at or above the high watermark.
			to := leo
			for _, b := range readAll(t, l) {
				if b.BaseOffset() >= hw && rng.Intn(3) == 0 {
					to = b.BaseOffset()
					break
				}
			}
			if err := l.TruncateTo(to); err != nil {
				fail("truncate to %d: %v", to, err)
			}
			leo = l.LogEndOffset()
			if leo > to || leo < m.logStartOffset {
				fail("truncate to %d left LEO %d", to, leo)
			}
			for o := range m.records {
				if o >= leo {
					delete(m.records, o)
				}
			}
			hw = min(hw, leo)
			firstDirty = min(firstDirty, leo)
			trace = append(trace, fmt.Sprint("truncate@", to))
		case op < 82:
			hw = leo
			l.SetHighWatermark(hw)
			if firstDirty, err = cleanForTest(l, firstDirty, now); err != nil {
				fail("clean: %v", err)
			}
			trace = append(trace, "compact")
		case op < 87:
			target := m.logStartOffset + rng.Int63n(hw-m.logStartOffset+1)
			if err := l.IncrementLogStartOffset(target); err != nil {
				fail("delete records to %d: %v", target, err)
			}
			m.logStartOffset = max(m.logStartOffset, target)
			trace = append(trace, fmt.Sprint("delete-records@", target))
		case op < 92:
			if _, err := l.DeleteOldSegments(now, -1, int64(rng.Intn(3000))); err != nil {
				fail("retention: %v", err)
			}
			m.logStartOffset = max(m.logStartOffset, l.LogStartOffset())
			trace = append(trace, "retention")
		default:
			clean := rng.Intn(2) == 0
			rp, lso := l.RecoveryPoint(), l.LogStartOffset()
			if clean {
				if err := l.Close(); err != nil {
					fail("close: %v", err)
				}
			} else {
				abandon(l)
			}
			l, err = OpenLog(dir, testTP, [16]byte{7}, cfg, WithCleanShutdown(clean), WithRecoveryPoint(rp),
				WithLogStartOffset(lso), WithHighWatermark(hw))
			if err != nil {
				fail("reopen (clean %v): %v", clean, err)
			}
			trace = append(trace, fmt.Sprint("restart clean=", clean))
		}
		if l.LogEndOffset() != leo || l.LogStartOffset() != m.logStartOffset || l.HighWatermark() != hw {
			fail("offsets [%d, %d) HW %d, model [%d, %d) HW %d", l.LogStartOffset(), l.LogEndOffset(), l.HighWatermark(),
				m.logStartOffset, leo, hw)
		}
		m.check(t, l, leo, fmt.Sprintf("seed %d step %d (%s)", seed, step, trace[len(trace)-1]))
		if len(trace) > 12 {
			trace = trace[1:]
		}
	}
}

package storage

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/riffle-io/riffle/protocol/records"
)

// kv is one record of a keyed test batch; a nil value is a tombstone.
type kv struct {
	key, value []byte
}

func keyedBatch(t testing.TB, ts int64, codec records.Codec, kvs []kv) records.Batch {
	t.Helper()
	recs := make([]records.Record, len(kvs))
	for i, r := range kvs {
		recs[i] = records.Record{OffsetDelta: int32(i), Key: r.key, Value: r.value}
	}
	b, err := records.Build(records.BatchHeader{BaseTimestamp: ts, MaxTimestamp: ts, ProducerID: -1, ProducerEpoch: -1,
		BaseSequence: -1, PartitionLeaderEpoch: -1}, codec, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// logRecord is a record as read back, with its offset.
type logRecord struct {
	offset     int64
	key, value string
	tombstone  bool
}

// readRecords reads the whole log record by record, checking every batch.
func readRecords(t testing.TB, l *Log) []logRecord {
	t.Helper()
	var out []logRecord
	prev := int64(-1)
	for _, b := range readAll(t, l) {
		if b.NumRecords() == 0 && (b.Codec() != records.CodecNone || len(b) != records.HeaderSize) {
			t.Fatalf("empty batch at %d is not a bare header: codec %s, %d bytes", b.BaseOffset(), b.Codec(), len(b))
		}
		if b.BaseOffset() <= prev {
			t.Fatalf("batch at %d after offset %d", b.BaseOffset(), prev)
		}
		err := b.ForEachRecord(func(r *records.Record) error {
			off := b.BaseOffset() + int64(r.OffsetDelta)
			if off <= prev || off > b.LastOffset() {
				return fmt.Errorf("record offset %d after %d in batch %d..%d", off, prev, b.BaseOffset(), b.LastOffset())
			}
			prev = off
			if off >= l.LogStartOffset() {
				out = append(out, logRecord{offset: off, key: string(r.Key), value: string(r.Value), tombstone: r.Value == nil})
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		prev = b.LastOffset()
	}
	return out
}

func compactCfg() LogConfig {
	return LogConfig{SegmentBytes: 4096, IndexIntervalBytes: 256, CleanupCompact: true, DeleteRetentionMs: 1 << 40,
		MaxCompactionLagMs: 1 << 62}
}

func newTestManager(t testing.TB, dirs []string, cfg LogConfig) *LogManager {
	t.Helper()
	m, err := NewLogManager(dirs, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown() })
	return m
}

// TestCompactionKeepsLatestPerKey: after a cleaning every key below the
// cleaned end appears once, with its latest value, at its original offset;
// batches stay valid; a restart gives the same log.
func TestCompactionKeepsLatestPerKey(t *testing.T) {
	t.Parallel()
	for _, codec := range []records.Codec{records.CodecNone, records.CodecZstd, records.CodecSnappy, records.CodecLZ4, records.CodecGzip} {
		t.Run(codec.String(), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := compactCfg()
			m := newTestManager(t, []string{dir}, cfg)
			l, err := m.GetOrCreateLog(testTP, [16]byte{1, 2, 3}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewSource(3))
			model := map[int64]kv{}
			for i := 0; i < 300; i++ {
				var kvs []kv
				for j := 0; j < 4; j++ {
					kvs = append(kvs, kv{[]byte(fmt.Sprintf("k%d", rng.Intn(25))), []byte(fmt.Sprintf("v%d-%d", i, j))})
				}
				r := mustAppend(t, l, keyedBatch(t, t0.UnixMilli(), codec, kvs), t0)
				for j, x := range kvs {
					model[r.FirstOffset+int64(j)] = x
				}
			}
			if err := l.Roll(t0); err != nil {
				t.Fatal(err)
			}
			l.SetHighWatermark(l.LogEndOffset())
			segsBefore := l.NumSegments()
			n, err := m.CleanLogs(context.Background(), t0, CleanerConfig{})
			if err != nil || n != 1 {
				t.Fatalf("cleaned %d: %v", n, err)
			}
			if l.NumSegments() != segsBefore {
				t.Fatalf("%d segments after cleaning, %d before", l.NumSegments(), segsBefore)
			}
			check := func(l *Log) {
				t.Helper()
				latest := map[string]int64{}
				for off, x := range model {
					if off > latest[string(x.key)] || latest[string(x.key)] == 0 {
						latest[string(x.key)] = off
					}
				}
				got := readRecords(t, l)
				if len(got) != len(latest) {
					t.Fatalf("%d records after cleaning, want %d", len(got), len(latest))
				}
				for _, r := range got {
					want := model[r.offset]
					if r.key != string(want.key) || r.value != string(want.value) || latest[r.key] != r.offset {
						t.Fatalf("offset %d: %s=%s, want %s=%s (latest at %d)", r.offset, r.key, r.value, want.key, want.value, latest[r.key])
					}
				}
			}
			check(l)
			// More updates; the next cleaning merges the small cleaned
			// segments (groups are bounded by segment.bytes).
			for i := 0; i < 100; i++ {
				kvs := []kv{{[]byte(fmt.Sprintf("k%d", rng.Intn(25))), []byte(fmt.Sprintf("w%d", i))}}
				r := mustAppend(t, l, keyedBatch(t, t0.UnixMilli(), codec, kvs), t0)
				model[r.FirstOffset] = kvs[0]
			}
			if err := l.Roll(t0); err != nil {
				t.Fatal(err)
			}
			l.SetHighWatermark(l.LogEndOffset())
			if n, err := m.CleanLogs(context.Background(), t0, CleanerConfig{}); err != nil || n != 1 {
				t.Fatalf("cleaned %d: %v", n, err)
			}
			if l.NumSegments() >= segsBefore {
				t.Fatalf("%d segments after the second cleaning", l.NumSegments())
			}
			check(l)
			if got := m.cleanerOffset(testTP); got != l.LogEndOffset() {
				t.Fatalf("cleaner checkpoint %d, LEO %d", got, l.LogEndOffset())
			}
			// Nothing dirty: a second round does nothing.
			if n, err := m.CleanLogs(context.Background(), t0, CleanerConfig{}); err != nil || n != 0 {
				t.Fatalf("second round cleaned %d: %v", n, err)
			}
			if left, _ := filepath.Glob(filepath.Join(l.Dir(), "*.deleted")); len(left) != 0 {
				t.Fatalf("left behind: %v", left)
			}
			abandon(l)
			l2 := openTestLog(t, l.Dir(), cfg)
			check(l2)
		})
	}
}

// TestCompactionTombstonesAndLag: tombstones stay delete.retention.ms and
// then go; min.compaction.lag.ms keeps young segments dirty;
// min.cleanable.dirty.ratio holds cleaning back.
func TestCompactionTombstonesAndLag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := compactCfg()
	cfg.DeleteRetentionMs = 1000
	cfg.MinCompactionLagMs = 500
	cfg.MinCleanableDirtyRatio = 0.5
	m := newTestManager(t, []string{dir}, cfg)
	l, err := m.GetOrCreateLog(testTP, [16]byte{1, 2, 3}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	base := t0.UnixMilli()
	for i := 0; i < 40; i++ {
		mustAppend(t, l, keyedBatch(t, base, records.CodecNone, []kv{{[]byte("a"), make([]byte, 100)}, {[]byte(fmt.Sprint("b", i%2)), make([]byte, 100)}}), t0)
	}
	mustAppend(t, l, keyedBatch(t, base, records.CodecNone, []kv{{[]byte("a"), nil}}), t0)
	if err := l.Roll(t0); err != nil {
		t.Fatal(err)
	}
	l.SetHighWatermark(l.LogEndOffset())
	ctx := context.Background()
	// Within min.compaction.lag.ms nothing is cleanable.
	if n, err := m.CleanLogs(ctx, time.UnixMilli(base+100), CleanerConfig{}); err != nil || n != 0 {
		t.Fatalf("cleaned %d within the lag: %v", n, err)
	}
	if n, err := m.CleanLogs(ctx, time.UnixMilli(base+600), CleanerConfig{}); err != nil || n != 1 {
		t.Fatalf("cleaned %d: %v", n, err)
	}
	got := readRecords(t, l)
	if len(got) != 3 || !got[2].tombstone || got[2].key != "a" {
		t.Fatalf("after cleaning: %+v", got)
	}
	// KIP-534: the tombstone stays delete.retention.ms from the cleaning
	// that first kept it (base+600), not from its timestamp; after that a
	// round runs although nothing is dirty, and the tombstone goes.
	if n, err := m.CleanLogs(ctx, time.UnixMilli(base+1599), CleanerConfig{}); err != nil || n != 0 {
		t.Fatalf("cleaned %d before the tombstone is due: %v", n, err)
	}
	if got := readRecords(t, l); len(got) != 3 || !got[2].tombstone {
		t.Fatalf("before the delete horizon: %+v", got)
	}
	if n, err := m.CleanLogs(ctx, time.UnixMilli(base+1600), CleanerConfig{}); err != nil || n != 1 {
		t.Fatalf("cleaned %d when the tombstone is due: %v", n, err)
	}
	got = readRecords(t, l)
	if len(got) != 2 || got[0].key != "b0" || got[1].key != "b1" {
		t.Fatalf("after tombstone removal: %+v", got)
	}
	// The log still ends where it did and takes appends.
	leo := l.LogEndOffset()
	r := mustAppend(t, l, keyedBatch(t, base, records.CodecNone, []kv{{[]byte("c"), []byte("x")}}), t0)
	if r.FirstOffset != leo {
		t.Fatalf("append at %d, LEO was %d", r.FirstOffset, leo)
	}
	// A small dirty section under the ratio is left alone.
	if err := l.Roll(t0); err != nil {
		t.Fatal(err)
	}
	l.SetHighWatermark(l.LogEndOffset())
	if n, err := m.CleanLogs(ctx, time.UnixMilli(base+2000), CleanerConfig{}); err != nil || n != 0 {
		t.Fatalf("cleaned %d under min.cleanable.dirty.ratio: %v", n, err)
	}
}

// TestTombstoneHorizonSurvivesRestart: KIP-534. The first cleaning that
// keeps a tombstone stamps its batch with a delete horizon (attribute bit,
// baseTimestamp = now + delete.retention.ms, record timestamps unchanged);
// after a restart a cleaning before the horizon keeps the tombstone and
// does not move the horizon, and after another restart the horizon, read
// back from disk, forces the cleaning that removes it.
func TestTombstoneHorizonSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := compactCfg()
	cfg.DeleteRetentionMs = 1000
	base := t0.UnixMilli()
	ctx := context.Background()
	open := func() (*LogManager, *Log) {
		t.Helper()
		m := newTestManager(t, []string{dir}, cfg)
		l, err := m.GetOrCreateLog(testTP, [16]byte{1, 2, 3}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return m, l
	}
	m, l := open()
	for i := 0; i < 20; i++ {
		mustAppend(t, l, keyedBatch(t, base-5000, records.CodecLZ4, []kv{{[]byte("a"), []byte("old")}, {[]byte(fmt.Sprint("b", i%3)), []byte("x")}}), t0)
	}
	// The tombstone's own timestamp is long past delete.retention.ms: only
	// the horizon set when the cleaner first keeps it counts.
	tomb := keyedBatch(t, base-5000, records.CodecLZ4, []kv{{[]byte("c"), []byte("y")}, {[]byte("a"), nil}})
	tombOffset := mustAppend(t, l, tomb, t0).FirstOffset + 1
	if err := l.Roll(t0); err != nil {
		t.Fatal(err)
	}
	l.SetHighWatermark(l.LogEndOffset())
	if n, err := m.CleanLogs(ctx, time.UnixMilli(base+100), CleanerConfig{}); err != nil || n != 1 {
		t.Fatalf("cleaned %d: %v", n, err)
	}
	horizon := base + 100 + cfg.DeleteRetentionMs
	checkTombstone := func(l *Log, what string) {
		t.Helper()
		for _, b := range readAll(t, l) {
			if b.BaseOffset() > tombOffset || b.LastOffset() < tombOffset {
				continue
			}
			if !b.HasDeleteHorizon() || b.BaseTimestamp() != horizon || b.MaxTimestamp() != base-5000 {
				t.Fatalf("%s: tombstone batch: horizon flag %v, base timestamp %d (want %d), max %d",
					what, b.HasDeleteHorizon(), b.BaseTimestamp(), horizon, b.MaxTimestamp())
			}
			var seen bool
			err := b.ForEachRecord(func(r *records.Record) error {
				if ts := b.BaseTimestamp() + r.TimestampDelta; ts != base-5000 {
					return fmt.Errorf("record %d: timestamp %d, want %d", r.OffsetDelta, ts, base-5000)
				}
				seen = seen || (r.Value == nil && b.BaseOffset()+int64(r.OffsetDelta) == tombOffset)
				return nil
			})
			if err != nil || !seen {
				t.Fatalf("%s: tombstone at %d present %v: %v", what, tombOffset, seen, err)
			}
			return
		}
		t.Fatalf("%s: no batch holds offset %d", what, tombOffset)
	}
	checkTombstone(l, "after the first cleaning")
	if err := m.Shutdown(); err != nil {
		t.Fatal(err)
	}

	// Restart, make the log dirty, and clean just before the horizon.
	m, l = open()
	checkTombstone(l, "after a restart")
	for i := 0; i < 40; i++ {
		mustAppend(t, l, keyedBatch(t, base, records.CodecNone, []kv{{[]byte(fmt.Sprint("b", i%3)), []byte("z")}}), t0)
	}
	if err := l.Roll(t0); err != nil {
		t.Fatal(err)
	}
	l.SetHighWatermark(l.LogEndOffset())
	if n, err := m.CleanLogs(ctx, time.UnixMilli(horizon-1), CleanerConfig{}); err != nil || n != 1 {
		t.Fatalf("cleaned %d before the horizon: %v", n, err)
	}
	checkTombstone(l, "cleaned before the horizon")
	if err := m.Shutdown(); err != nil {
		t.Fatal(err)
	}

	// Restart again: nothing is dirty, but the tombstone is due.
	m, l = open()
	if n, err := m.CleanLogs(ctx, time.UnixMilli(horizon), CleanerConfig{}); err != nil || n != 1 {
		t.Fatalf("cleaned %d at the horizon: %v", n, err)
	}
	for _, r := range readRecords(t, l) {
		if r.key == "a" {
			t.Fatalf("key a still at %d after its horizon", r.offset)
		}
	}
	if n, err := m.CleanLogs(ctx, time.UnixMilli(horizon+1), CleanerConfig{}); err != nil || n != 0 {
		t.Fatalf("cleaned %d with no tombstones left: %v", n, err)
	}
}

// TestCleanerSwapRecovery: a crash at any point of the swap leaves a log
// that loads to either the old or the cleaned content, with every offset's
// record unchanged.
func TestCleanerSwapRecovery(t *testing.T) {
	t.Parallel()
	template := t.TempDir()
	cfg := compactCfg()
	l := openTestLog(t, template, cfg)
	for i := 0; i < 120; i++ {
		mustAppend(t, l, keyedBatch(t, t0.UnixMilli(), records.CodecNone, []kv{{[]byte(fmt.Sprint("k", i%7)), []byte(fmt.Sprint("v", i))}}), t0)
	}
	if err := l.Roll(t0); err != nil {
		t.Fatal(err)
	}
	l.SetHighWatermark(l.LogEndOffset())
	before := readRecords(t, l)
	leo := l.LogEndOffset()
	l.Close()
	byOffset := map[int64]logRecord{}
	for _, r := range before {
		byOffset[r.offset] = r
	}
	// Each stage of the protocol, as a crash would leave it.
	stages := []func(t *testing.T, dir string, cleaned []string){
		func(t *testing.T, dir string, cleaned []string) { // .cleaned written, not renamed
		},
		func(t *testing.T, dir string, cleaned []string) { // renamed to .swap
			renameAll(t, cleaned, ".cleaned", ".swap")
		},
		func(t *testing.T, dir string, cleaned []string) { // .swap, first old segment .deleted
			renameAll(t, cleaned, ".cleaned", ".swap")
			logs := segmentFiles(t, dir, ".log")
			if err := os.Rename(logs[0], logs[0]+".deleted"); err != nil {
				t.Fatal(err)
			}
		},
		func(t *testing.T, dir string, cleaned []string) { // index swaps installed, .log.swap not yet
			renameAll(t, cleaned, ".cleaned", ".swap")
			logs := segmentFiles(t, dir, ".log")
			for _, f := range logs {
				if err := os.Rename(f, f+".deleted"); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range cleaned {
				if filepath.Ext(f[:len(f)-len(".cleaned")]) != ".log" {
					g := f[:len(f)-len(".cleaned")]
					os.Remove(g)
					if err := os.Rename(g+".swap", g); err != nil {
						t.Fatal(err)
					}
				}
			}
		},
	}
	for i, stage := range stages {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, template, dir)
			// Produce the cleaned files of the first group by cleaning a
			// copy, then lay them beside the original as .cleaned.
			work := t.TempDir()
			copyDir(t, template, work)
			wl := openTestLog(t, work, cfg, WithCleanShutdown(true))
			wl.SetHighWatermark(leo)
			p, ok := wl.planClean(0, t0)
			if !ok {
				t.Fatal("nothing to clean")
			}
			c := &cleaning{l: wl, cfg: cfg, now: t0, keys: map[[16]byte]int64{}, throttle: func(int) error { return nil }, txns: newCleanedTxns(nil)}
			for _, s := range p.segs {
				if err := c.addToMap(s, 0, newCleanedTxns(nil)); err != nil {
					t.Fatal(err)
				}
			}
			big := cfg
			big.SegmentBytes = 1 << 20
			group := groupSegments(p.segs, big)[0]
			base := group[0].baseOffset
			if len(group) < 2 {
				t.Fatalf("group of %d segments", len(group))
			}
			// Write the cleaned files without swapping them in.
			cs, _, err := openSegmentFiles(wl.fs, work, base, cfg.SegmentIndexBytes, t0, cleanedFileSuffix)
			if err != nil {
				t.Fatal(err)
			}
			for gi, s := range group {
				err := c.forEachBatch(s, func(b records.Batch, h batchHeader, last bool) error {
					out, err := c.filterBatch(b, h, last && gi == len(group)-1)
					if out != nil {
						_, err = cs.log.Write(out)
					}
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			cs.close()
			var cleaned []string
			for _, suf := range segmentFileSuffixes {
				name := filenamePrefixFromOffset(base) + suf + cleanedFileSuffix
				data, err := os.ReadFile(filepath.Join(work, name))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
					t.Fatal(err)
				}
				cleaned = append(cleaned, filepath.Join(dir, name))
			}
			stage(t, dir, cleaned)
			rl := openTestLog(t, dir, cfg)
			if rl.LogEndOffset() != leo {
				t.Fatalf("LEO %d, want %d", rl.LogEndOffset(), leo)
			}
			for _, r := range readRecords(t, rl) {
				if byOffset[r.offset] != r {
					t.Fatalf("offset %d: %+v, want %+v", r.offset, r, byOffset[r.offset])
				}
			}
			for _, suf := range []string{".cleaned", ".swap", ".deleted"} {
				if left, _ := filepath.Glob(filepath.Join(dir, "*"+suf)); len(left) != 0 {
					t.Fatalf("left behind: %v", left)
				}
			}
		})
	}
}

func renameAll(t *testing.T, files []string, from, to string) {
	t.Helper()
	for _, f := range files {
		if err := os.Rename(f, f[:len(f)-len(from)]+to); err != nil {
			t.Fatal(err)
		}
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCleanerThrottle: log.cleaner.io.max.bytes.per.second holds the
// cleaner's reads to the rate, and gives way to cancellation.
func TestCleanerThrottle(t *testing.T) {
	t.Parallel()
	throttle := newThrottler(context.Background(), 1<<20) // 1 MiB/s
	start := time.Now()
	for i := 0; i < 16; i++ {
		if err := throttle(16 << 10); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Fatalf("256 KiB at 1 MiB/s took %v", took)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := newThrottler(ctx, 1)(1 << 20); err == nil {
		t.Fatal("a cancelled throttle waited")
	}
	if err := newThrottler(context.Background(), 0)(1 << 30); err != nil {
		t.Fatal(err)
	}
}

// TestMaxCompactionLagForcesCleaning: below min.cleanable.dirty.ratio a log
// is still cleaned once its dirty data is older than max.compaction.lag.ms.
func TestMaxCompactionLagForcesCleaning(t *testing.T) {
	t.Parallel()
	cfg := compactCfg()
	cfg.MinCleanableDirtyRatio = 0.99
	cfg.MaxCompactionLagMs = 1000
	l := openTestLog(t, t.TempDir(), cfg)
	base := t0.UnixMilli()
	for i := 0; i < 20; i++ {
		mustAppend(t, l, keyedBatch(t, base, records.CodecNone, []kv{{[]byte("k"), []byte(fmt.Sprint(i))}}), t0)
	}
	if err := l.Roll(t0); err != nil {
		t.Fatal(err)
	}
	l.SetHighWatermark(l.LogEndOffset())
	// A never-cleaned log is all dirty: the first cleaning runs.
	first, err := cleanForTest(l, 0, time.UnixMilli(base+500))
	if err != nil || first != 20 {
		t.Fatalf("first cleaning: %d %v", first, err)
	}
	cfg.MinCleanableDirtyRatio = 0.99
	l.SetConfig(cfg)
	mustAppend(t, l, keyedBatch(t, base+2000, records.CodecNone, []kv{{[]byte("k"), []byte("new")}}), t0)
	if err := l.Roll(t0); err != nil {
		t.Fatal(err)
	}
	l.SetHighWatermark(l.LogEndOffset())
	if next, err := cleanForTest(l, first, time.UnixMilli(base+2500)); err != nil || next != first {
		t.Fatalf("cleaned under the ratio within the lag: %d %v", next, err)
	}
	if next, err := cleanForTest(l, first, time.UnixMilli(base+3500)); err != nil || next != 21 {
		t.Fatalf("not cleaned past max.compaction.lag.ms: %d %v", next, err)
	}
	if got := readRecords(t, l); len(got) != 1 || got[0].value != "new" {
		t.Fatalf("after forced cleaning: %+v", got)
	}
}

package storage

import (
	"math/rand"
	"path/filepath"
	"runtime"
	"sort"
	"testing"
)

// TestIndexesLookUpFromTheFile: the offset and time indexes answer from
// their files, across a reopen, a truncation and appends after it, exactly
// as a search over all their entries would.
func TestIndexesLookUpFromTheFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const base = 1000
	oi, _, err := openOffsetIndex(osFS(), filepath.Join(dir, "x.index"), base, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	ti, _, err := openTimeIndex(osFS(), filepath.Join(dir, "x.timeindex"), base, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var offs []offsetEntry
	var tss []timeEntry
	for i := 0; i < 3000; i++ {
		o := offsetEntry{offset: base + int64(3*i+2), position: int64(100 * i)}
		te := timeEntry{timestamp: int64(10 * i), offset: o.offset}
		offs, tss = append(offs, o), append(tss, te)
		if err := oi.append(o.offset, o.position); err != nil {
			t.Fatal(err)
		}
		if err := ti.maybeAppend(te.timestamp, te.offset, false); err != nil {
			t.Fatal(err)
		}
	}
	oi.close()
	ti.close()
	oi, ok1, err := openOffsetIndex(osFS(), filepath.Join(dir, "x.index"), base, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer oi.close()
	ti, ok2, err := openTimeIndex(osFS(), filepath.Join(dir, "x.timeindex"), base, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer ti.close()
	if !ok1 || !ok2 || oi.sanityCheck(1<<40, 1<<40) != nil || ti.sanityCheck(1<<40) != nil {
		t.Fatal("reopened indexes not usable")
	}
	check := func(what string) {
		t.Helper()
		rng := rand.New(rand.NewSource(1))
		for k := 0; k < 2000; k++ {
			target := base - 5 + rng.Int63n(int64(3*len(offs)+10))
			i := sort.Search(len(offs), func(i int) bool { return offs[i].offset > target })
			want := offsetEntry{offset: base}
			if i > 0 {
				want = offs[i-1]
			}
			if got := oi.lookup(target); got != want {
				t.Fatalf("%s: offset lookup %d = %+v, want %+v", what, target, got, want)
			}
			ts := -5 + rng.Int63n(int64(10*len(tss)+10))
			j := sort.Search(len(tss), func(i int) bool { return tss[i].timestamp > ts })
			wantT := timeEntry{timestamp: -1, offset: base}
			if j > 0 {
				wantT = tss[j-1]
			}
			if got := ti.lookup(ts); got != wantT {
				t.Fatalf("%s: time lookup %d = %+v, want %+v", what, ts, got, wantT)
			}
		}
	}
	check("reopened")
	cut := offs[1234].offset
	if err := oi.truncateTo(cut); err != nil {
		t.Fatal(err)
	}
	if err := ti.truncateTo(cut); err != nil {
		t.Fatal(err)
	}
	offs, tss = offs[:1234], tss[:1234]
	check("truncated")
	if oi.last() != offs[len(offs)-1] {
		t.Fatalf("last after truncation %+v", oi.last())
	}
	o := offsetEntry{offset: cut + 100, position: 1 << 30}
	if err := oi.append(o.offset, o.position); err != nil {
		t.Fatal(err)
	}
	if err := ti.maybeAppend(1<<40, o.offset, false); err != nil {
		t.Fatal(err)
	}
	offs, tss = append(offs, o), append(tss, timeEntry{timestamp: 1 << 40, offset: o.offset})
	check("appended after truncation")
}

// TestIndexHeapDoesNotGrowWithRetainedData: opening a log keeps no index
// entries on the heap (Kafka memory-maps its indexes), so the heap a log
// takes does not grow with the data it retains. Every batch here gets an
// offset and a time index entry, 40,000 of each: held in memory they would
// take at least 960 KB.
func TestIndexHeapDoesNotGrowWithRetainedData(t *testing.T) {
	dir := t.TempDir()
	cfg := LogConfig{SegmentBytes: 400 << 10, IndexIntervalBytes: 1}
	l := openTestLog(t, dir, cfg)
	const batches = 40000
	for i := 0; i < batches; i++ {
		mustAppend(t, l, makeBatch(t, batchSpec{n: 1, ts: t0.UnixMilli() + int64(i), valueLen: 1}), t0)
	}
	segs := l.NumSegments()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	l = openTestLog(t, dir, cfg, WithCleanShutdown(true))
	after := heap()
	grown := int64(after) - int64(before)
	t.Logf("%d segments, %d index entries of each kind: heap grew %d bytes on opening the log", segs, batches, grown)
	if grown > 300<<10 {
		t.Fatalf("opening a log with %d index entries grew the heap by %d bytes", batches, grown)
	}
	if got := l.LogEndOffset(); got != batches {
		t.Fatalf("log end offset %d", got)
	}
	runtime.KeepAlive(l)
}

// BenchmarkOffsetIndexLookup looks up random offsets in a full default-size
// index (10 MiB, 1,310,720 entries) read from its file; the tail case is
// a consumer at the end of the active segment.
func BenchmarkOffsetIndexLookup(b *testing.B) {
	dir := b.TempDir()
	const entries = 10 << 20 / offsetIndexEntrySize
	x, _, err := openOffsetIndex(osFS(), filepath.Join(dir, "b.index"), 0, 10<<20)
	if err != nil {
		b.Fatal(err)
	}
	defer x.close()
	for i := 0; i < entries; i++ {
		if err := x.append(int64(2*i+1), int64(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("random", func(b *testing.B) {
		rng := rand.New(rand.NewSource(1))
		for i := 0; i < b.N; i++ {
			x.lookup(rng.Int63n(2 * entries))
		}
	})
	b.Run("tail", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			x.lookup(2 * entries)
		}
	})
}

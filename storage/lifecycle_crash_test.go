package storage

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riffle-io/riffle/protocol/records"
	"github.com/riffle-io/riffle/storage/vfs"
)

// lossyFS models what a power cut keeps of segment files: bytes written
// since a file's last fsync may be lost, in part or in full. It tracks each
// .log file's synced size (following renames, as the cleaner renames its
// output); crash cuts every file back to a random size between its synced
// and its current size. Directory operations are taken as durable in order,
// a simplification: storage fsyncs directories after creates and renames.
type lossyFS struct {
	vfs.FS
	mu    sync.Mutex
	files map[string]*lossyState
}

type lossyState struct{ synced int64 }

func newLossyFS(fs vfs.FS) *lossyFS { return &lossyFS{FS: fs, files: map[string]*lossyState{}} }

func tracked(name string) bool { return strings.Contains(name, ".log") }

func (l *lossyFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := l.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	if !tracked(name) {
		return &lossyFile{File: f, fs: l}, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.files[name]
	if st == nil {
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		st = &lossyState{synced: fi.Size()}
		l.files[name] = st
	}
	if flag&os.O_TRUNC != 0 {
		st.synced = 0
	}
	return &lossyFile{File: f, fs: l, st: st}, nil
}

func (l *lossyFS) SyncDir(string) error { return nil }

func (l *lossyFS) Rename(oldpath, newpath string) error {
	if err := l.FS.Rename(oldpath, newpath); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if st, ok := l.files[oldpath]; ok {
		delete(l.files, oldpath)
		l.files[newpath] = st
	}
	return nil
}

func (l *lossyFS) Remove(name string) error {
	err := l.FS.Remove(name)
	if err == nil {
		l.mu.Lock()
		delete(l.files, name)
		l.mu.Unlock()
	}
	return err
}

// crash cuts every tracked file back as a power cut may.
func (l *lossyFS) crash(t testing.TB, rng *rand.Rand) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for name, st := range l.files {
		fi, err := os.Stat(name)
		if err != nil {
			continue
		}
		if fi.Size() > st.synced {
			if err := os.Truncate(name, st.synced+rng.Int63n(fi.Size()-st.synced+1)); err != nil {
				t.Fatal(err)
			}
		}
	}
	l.files = map[string]*lossyState{}
}

// lossyFile wraps every file lossyFS opens; only tracked ones carry st.
type lossyFile struct {
	vfs.File
	fs *lossyFS
	st *lossyState
}

// Sync records durability without asking the disk: the model, not the
// kernel, decides what a crash keeps, and the test stays fast.
func (f *lossyFile) Sync() error {
	if f.st == nil {
		return nil
	}
	fi, err := f.File.Stat()
	if err != nil {
		return err
	}
	f.fs.mu.Lock()
	f.st.synced = fi.Size()
	f.fs.mu.Unlock()
	return nil
}

func (f *lossyFile) Truncate(size int64) error {
	if err := f.File.Truncate(size); err != nil || f.st == nil {
		return err
	}
	f.fs.mu.Lock()
	f.st.synced = min(f.st.synced, size)
	f.fs.mu.Unlock()
	return nil
}

// cleanForTest runs one cleaning of l from firstDirty, as the LogManager's
// cleaner would, and returns the next first dirty offset.
func cleanForTest(l *Log, firstDirty int64, now time.Time) (int64, error) {
	p, ok := l.planClean(firstDirty, now)
	if !ok {
		return firstDirty, nil
	}
	stats, err := l.clean(context.Background(), p, now, 1<<20, func(int) error { return nil })
	if err != nil {
		return firstDirty, err
	}
	return stats.End, nil
}

// lifecycleModel is what a log must agree with: every record ever
// appended, by offset, and the log start offset.
type lifecycleModel struct {
	records        map[int64]kv
	logStartOffset int64
}

// check verifies a recovered or running log against the model: every record
// it holds is the one appended at that offset; the log reaches at least
// mustReach; for every key, the newest record below mustReach and at or
// above the log start offset is still there or superseded by a newer one
// that is (compaction may only drop superseded records).
func (m *lifecycleModel) check(t testing.TB, l *Log, mustReach int64, what string) {
	t.Helper()
	if l.LogEndOffset() < mustReach {
		t.Fatalf("%s: log ends at %d, below %d", what, l.LogEndOffset(), mustReach)
	}
	lso := max(l.LogStartOffset(), m.logStartOffset)
	got := readRecords(t, l)
	newestPresent := map[string]int64{}
	for _, r := range got {
		want, ok := m.records[r.offset]
		if !ok || r.key != string(want.key) || r.value != string(want.value) {
			t.Fatalf("%s: offset %d holds %s=%s, appended %s=%s (%v)", what, r.offset, r.key, r.value, want.key, want.value, ok)
		}
		newestPresent[r.key] = max(newestPresent[r.key], r.offset)
	}
	newestDurable := map[string]int64{}
	for off, x := range m.records {
		if off >= lso && off < mustReach && off > newestDurable[string(x.key)] {
			newestDurable[string(x.key)] = off
		}
	}
	for k, off := range newestDurable {
		if p, ok := newestPresent[k]; !ok || p < off {
			t.Fatalf("%s: key %s: durable record at %d lost (newest present %d, %v)", what, k, off, p, ok)
		}
	}
}

// runLifecycleScript runs a fixed sequence of appends, flushes, rolls,
// compactions, retention deletions and DeleteRecords against a log on fs,
// stopping at the first error. It returns the model and how far the log was
// known to be durable (its recovery point) when it stopped.
//
// With syncRolls, rolls flush in line, so that the operations come in a
// fixed order; otherwise in the background, as in production.
func runLifecycleScript(t testing.TB, dir string, fs vfs.FS, cfg LogConfig, syncRolls bool) (*lifecycleModel, int64, int64, error) {
	opts := []Option{WithFS(fs)}
	if syncRolls {
		opts = append(opts, withSyncRollFlush())
	}
	l, err := OpenLog(dir, testTP, [16]byte{7}, cfg, opts...)
	if err != nil {
		return nil, 0, 0, err
	}
	defer abandon(l)
	m := &lifecycleModel{records: map[int64]kv{}}
	rng := rand.New(rand.NewSource(42))
	firstDirty := int64(0)
	now := t0
	for step := 0; step < 45; step++ {
		now = now.Add(10 * time.Millisecond)
		switch {
		case step%13 == 12:
			_, err = l.DeleteOldSegments(now, -1, 4000)
		case step%17 == 16:
			err = l.IncrementLogStartOffset(l.HighWatermark() - 3)
		case step%7 == 6:
			err = l.Roll(now)
		case step%11 == 10:
			l.SetHighWatermark(l.LogEndOffset())
			firstDirty, err = cleanForTest(l, firstDirty, now)
		case step%5 == 4:
			err = l.Flush()
		default:
			var kvs []kv
			for j := 0; j < 1+rng.Intn(4); j++ {
				kvs = append(kvs, kv{[]byte(fmt.Sprint("k", rng.Intn(6))), []byte(fmt.Sprintf("s%d-%d", step, j))})
			}
			var r AppendResult
			if r, err = l.AppendAsLeader(keyedBatch(t, now.UnixMilli(), records.CodecNone, kvs), 1, now); err == nil {
				for j, x := range kvs {
					m.records[r.FirstOffset+int64(j)] = x
				}
			}
		}
		if err != nil {
			break
		}
		if step%4 == 0 {
			l.SetHighWatermark(l.LogEndOffset())
		}
		m.logStartOffset = l.LogStartOffset()
	}
	return m, l.RecoveryPoint(), l.LogStartOffset(), err
}

// TestLifecycleCrashAtEveryPoint runs the script crashing at each write,
// fsync, rename, remove and truncate in turn: from that operation on every
// one fails (the process is gone), and unsynced bytes are then partly lost.
// Reopening must give a valid log that holds every flushed record (or what
// compaction and retention legitimately removed) and takes appends.
func TestLifecycleCrashAtEveryPoint(t *testing.T) {
	t.Parallel()
	cfg := LogConfig{SegmentBytes: 700, IndexIntervalBytes: 120, CleanupCompact: true, CleanupDelete: true,
		DeleteRetentionMs: 1 << 40, MaxCompactionLagMs: 1 << 62}
	// A dry run counts the operations.
	var total atomic.Int64
	efs := vfs.NewErrorFS(newLossyFS(vfs.Default))
	efs.SetFail(func(vfs.Op, string) bool { total.Add(1); return false })
	if _, _, _, err := runLifecycleScript(t, t.TempDir(), efs, cfg, true); err != nil {
		t.Fatalf("dry run: %v", err)
	}
	n := total.Load()
	if n < 100 {
		t.Fatalf("script made only %d operations", n)
	}
	t.Logf("%d crash points", n)
	rng := rand.New(rand.NewSource(1))
	for point := int64(1); point <= n; point++ {
		dir := t.TempDir()
		lossy := newLossyFS(vfs.Default)
		efs := vfs.NewErrorFS(lossy)
		var ops atomic.Int64
		efs.SetFail(func(vfs.Op, string) bool { return ops.Add(1) >= point })
		model, rp, lso, err := runLifecycleScript(t, dir, efs, cfg, true)
		if model == nil {
			continue // crashed while creating the log
		}
		if err == nil {
			t.Fatalf("point %d: the script did not fail", point)
		}
		lossy.crash(t, rng)
		// Reopened on a healthy disk (whose fsyncs the model skips too).
		l, err := OpenLog(dir, testTP, [16]byte{7}, cfg, WithRecoveryPoint(rp), WithLogStartOffset(lso), WithFS(newLossyFS(vfs.Default)))
		if err != nil {
			t.Fatalf("point %d: reopen: %v", point, err)
		}
		model.check(t, l, rp, fmt.Sprintf("point %d", point))
		leo := l.LogEndOffset()
		r, err := l.AppendAsLeader(keyedBatch(t, t0.UnixMilli(), records.CodecNone, []kv{{[]byte("k0"), []byte("after")}}), 2, t0)
		if err != nil || r.FirstOffset != leo {
			t.Fatalf("point %d: append after recovery: %+v %v", point, r, err)
		}
		for _, suf := range []string{".cleaned", ".swap", ".deleted"} {
			if left := segmentFiles(t, dir, suf); len(left) != 0 {
				t.Fatalf("point %d: left behind: %v", point, left)
			}
		}
		l.Close()
	}
}

// TestLifecycleCrashWithBackgroundFlushes is TestLifecycleCrashAtEveryPoint
// with rolls flushing in the background, so that a crash can find a rolled
// segment unflushed while the next one holds data. The operations no longer
// come in a fixed order, so a crash point may fall after the script's end;
// the log must recover all the same.
func TestLifecycleCrashWithBackgroundFlushes(t *testing.T) {
	t.Parallel()
	cfg := LogConfig{SegmentBytes: 700, IndexIntervalBytes: 120, CleanupCompact: true, CleanupDelete: true,
		DeleteRetentionMs: 1 << 40, MaxCompactionLagMs: 1 << 62}
	var total atomic.Int64
	efs := vfs.NewErrorFS(newLossyFS(vfs.Default))
	efs.SetFail(func(vfs.Op, string) bool { total.Add(1); return false })
	if _, _, _, err := runLifecycleScript(t, t.TempDir(), efs, cfg, false); err != nil {
		t.Fatalf("dry run: %v", err)
	}
	n := total.Load()
	rng := rand.New(rand.NewSource(2))
	for point := int64(1); point <= n; point += 2 {
		dir := t.TempDir()
		lossy := newLossyFS(vfs.Default)
		efs := vfs.NewErrorFS(lossy)
		var ops atomic.Int64
		efs.SetFail(func(vfs.Op, string) bool { return ops.Add(1) >= point })
		model, rp, lso, _ := runLifecycleScript(t, dir, efs, cfg, false)
		if model == nil {
			continue // crashed while creating the log
		}
		lossy.crash(t, rng)
		l, err := OpenLog(dir, testTP, [16]byte{7}, cfg, WithRecoveryPoint(rp), WithLogStartOffset(lso), WithFS(newLossyFS(vfs.Default)))
		if err != nil {
			t.Fatalf("point %d: reopen: %v", point, err)
		}
		model.check(t, l, rp, fmt.Sprintf("point %d", point))
		leo := l.LogEndOffset()
		r, err := l.AppendAsLeader(keyedBatch(t, t0.UnixMilli(), records.CodecNone, []kv{{[]byte("k0"), []byte("after")}}), 2, t0)
		if err != nil || r.FirstOffset != leo {
			t.Fatalf("point %d: append after recovery: %+v %v", point, r, err)
		}
		l.Close()
	}
}

package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/riffle-io/riffle/protocol/records"
	"github.com/riffle-io/riffle/storage/vfs"
)

var moveTP = TopicPartition{Topic: "moves", Partition: 1}

func newMoveManager(t *testing.T, dirs []string, cfg LogConfig, opts ...Option) *LogManager {
	t.Helper()
	m, err := NewLogManager(dirs, cfg, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func cloneBatches(bs []records.Batch) [][]byte {
	out := make([][]byte, len(bs))
	for i, b := range bs {
		out[i] = append([]byte(nil), b...)
	}
	return out
}

func sameBatches(t *testing.T, what string, got []records.Batch, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d batches, want %d", what, len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("%s: batch %d differs", what, i)
		}
	}
}

// partitionCopies lists every entry of the log dirs that belongs to tp:
// its live dir and any -future or -delete leftovers.
func partitionCopies(t *testing.T, dirs []string, tp TopicPartition) []string {
	t.Helper()
	var out []string
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() && (e.Name() == tp.String() || strings.HasPrefix(e.Name(), tp.String()+".")) {
				out = append(out, filepath.Join(d, e.Name()))
			}
		}
	}
	return out
}

// TestMoveLog moves a live partition to the other log dir while a reader
// reads it: the same *Log keeps serving every batch, takes appends after
// the move, and the partition is in its new dir after a restart.
func TestMoveLog(t *testing.T) {
	t.Parallel()
	dirs := []string{t.TempDir(), t.TempDir()}
	if _, err := EnsureFormatted(dirs, 1); err != nil {
		t.Fatal(err)
	}
	cfg := LogConfig{SegmentBytes: 700, IndexIntervalBytes: 100}
	m := newMoveManager(t, dirs, cfg)
	l, err := m.GetOrCreateLog(moveTP, [16]byte{9}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	fillLog(t, l, 20)
	l.SetHighWatermark(l.LogEndOffset())
	want := cloneBatches(readAll(t, l))
	src, _ := m.LogDir(moveTP)
	dest := dirs[0]
	if src == dest {
		dest = dirs[1]
	}

	if err := m.MoveLog(moveTP, t.TempDir()); !errors.Is(err, ErrLogDirNotFound) {
		t.Fatalf("move to a dir outside log.dirs: %v", err)
	}
	if err := m.MoveLog(TopicPartition{Topic: "nope", Partition: 0}, dest); !errors.Is(err, ErrUnknownPartition) {
		t.Fatalf("move of an unknown partition: %v", err)
	}
	if err := m.MoveLog(moveTP, src); err != nil {
		t.Fatalf("move to its own dir: %v", err)
	}

	// A reader keeps reading the whole log during the move.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var readErr atomic.Value
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 100000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			r, err := l.Read(0, 1<<20, l.LogEndOffset(), true)
			if err != nil {
				readErr.Store(err)
				return
			}
			if len(r.Records) == 0 {
				readErr.Store(errors.New("empty read"))
				return
			}
		}
	}()
	if err := m.MoveLog(moveTP, dest); err != nil {
		t.Fatalf("move: %v", err)
	}
	close(stop)
	wg.Wait()
	if err, _ := readErr.Load().(error); err != nil {
		t.Fatalf("read during the move: %v", err)
	}

	if got, _ := m.LogDir(moveTP); got != dest {
		t.Fatalf("LogDir after move: %s, want %s", got, dest)
	}
	if l2, _ := m.Log(moveTP); l2 != l {
		t.Fatal("the move replaced the *Log")
	}
	if l.Dir() != filepath.Join(dest, moveTP.String()) {
		t.Fatalf("Dir after move: %s", l.Dir())
	}
	if c := partitionCopies(t, dirs, moveTP); len(c) != 1 || c[0] != l.Dir() {
		t.Fatalf("copies after move: %v", c)
	}
	sameBatches(t, "after move", readAll(t, l), want)

	// Appends continue in the new dir, with the producer state intact.
	b := makeBatch(t, batchSpec{n: 2, ts: t0.UnixMilli(), pid: 77, seq: 40})
	if r, err := l.AppendAsLeader(b, 5, t0); err != nil || r.FirstOffset != 40 {
		t.Fatalf("append after move: %+v %v", r, err)
	}
	if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{n: 2, pid: 77, seq: 40}), 5, t0); err != nil {
		t.Fatalf("duplicate append after move: %v", err)
	}
	want = cloneBatches(readAll(t, l))
	if len(want) != 21 {
		t.Fatalf("%d batches after the append, want 21", len(want))
	}
	if err := m.Shutdown(); err != nil {
		t.Fatal(err)
	}

	m2 := newMoveManager(t, dirs, cfg)
	defer m2.Shutdown()
	if got, _ := m2.LogDir(moveTP); got != dest {
		t.Fatalf("LogDir after restart: %s, want %s", got, dest)
	}
	l2, _ := m2.Log(moveTP)
	sameBatches(t, "after restart", readAll(t, l2), want)
	if l2.HighWatermark() != 40 || l2.LogStartOffset() != 0 {
		t.Fatalf("after restart: hw %d log start %d", l2.HighWatermark(), l2.LogStartOffset())
	}
}

// TestMoveLogCrashAtAnyOperation fails the move at its n-th filesystem
// operation, for every n, either as a crash (that operation and all later
// ones fail, and the broker restarts) or as one transient error. Invariant:
// the live log keeps its data; after a restart exactly one copy of the
// partition exists, in the old or the new dir, holding every batch.
func TestMoveLogCrashAtAnyOperation(t *testing.T) {
	t.Parallel()
	cfg := LogConfig{SegmentBytes: 1200, IndexIntervalBytes: 100}
	for _, crash := range []bool{true, false} {
		for n := int64(1); ; n++ {
			if n > 500 {
				t.Fatal("the move never finished")
			}
			dirs := []string{t.TempDir(), t.TempDir()}
			if _, err := EnsureFormatted(dirs, 1); err != nil {
				t.Fatal(err)
			}
			efs := vfs.NewErrorFS(vfs.Default)
			var ops atomic.Int64
			var armed atomic.Bool
			efs.SetFail(func(vfs.Op, string) bool {
				if !armed.Load() {
					return false
				}
				k := ops.Add(1)
				return k == n || crash && k > n
			})
			m := newMoveManager(t, dirs, cfg, WithFS(efs))
			l, err := m.GetOrCreateLog(moveTP, [16]byte{9}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			fillLog(t, l, 10)
			want := cloneBatches(readAll(t, l))
			src, _ := m.LogDir(moveTP)
			dest := dirs[0]
			if src == dest {
				dest = dirs[1]
			}
			armed.Store(true)
			moveErr := m.MoveLog(moveTP, dest)
			armed.Store(false)
			if moveErr == nil && ops.Load() < n {
				m.Shutdown()
				if n == 1 {
					t.Fatal("the move made no filesystem operations")
				}
				t.Logf("crash %v: the move made %d operations", crash, n-1)
				break // n passed the move's last operation
			}
			if !crash && l.Offline() == nil {
				// A transient failure left the log online: it still
				// serves everything and takes appends where it is.
				sameBatches(t, "live after a failed move", readAll(t, l), want)
				b := makeBatch(t, batchSpec{n: 2, ts: t0.UnixMilli(), pid: 77, seq: 20})
				if _, err := l.AppendAsLeader(b, 5, t0); err != nil {
					t.Fatalf("op %d: append after a failed move: %v", n, err)
				}
				want = cloneBatches(readAll(t, l))
			}
			abandon(l)

			m2 := newMoveManager(t, dirs, cfg)
			copies := partitionCopies(t, dirs, moveTP)
			if len(copies) != 1 {
				t.Fatalf("crash %v op %d (move err %v): copies after restart: %v", crash, n, moveErr, copies)
			}
			got, _ := m2.LogDir(moveTP)
			if got != src && got != dest || copies[0] != filepath.Join(got, moveTP.String()) {
				t.Fatalf("op %d: partition in %s; copies %v", n, got, copies)
			}
			if moveErr == nil && got != dest {
				t.Fatalf("op %d: move acknowledged but partition still in %s", n, got)
			}
			l2, _ := m2.Log(moveTP)
			if err := l2.Offline(); err != nil {
				t.Fatalf("op %d: offline after restart: %v", n, err)
			}
			sameBatches(t, "after restart", readAll(t, l2), want)
			if err := m2.Shutdown(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

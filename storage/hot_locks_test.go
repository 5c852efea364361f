package storage

import (
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riffle-io/riffle/storage/vfs"
)

// gateFS blocks the operations match picks, once armed, until open is
// called, as a disk whose fsyncs (or creates, or removes) take as long as
// the test likes. blocked is closed when the first of them is waiting.
type gateFS struct {
	*vfs.ErrorFS
	gate, blocked chan struct{}
	once, opened  sync.Once
	armed         atomic.Bool
}

func newGateFS(match func(op vfs.Op, name string) bool) *gateFS {
	g := &gateFS{ErrorFS: vfs.NewErrorFS(vfs.Default), gate: make(chan struct{}), blocked: make(chan struct{})}
	g.SetHook(func(op vfs.Op, name string) {
		if g.armed.Load() && match(op, name) {
			g.once.Do(func() { close(g.blocked) })
			<-g.gate
		}
	})
	return g
}

func (g *gateFS) arm() { g.armed.Store(true) }

func (g *gateFS) open() { g.opened.Do(func() { close(g.gate) }) }

// waitBlocked waits until an operation is held at the gate.
func (g *gateFS) waitBlocked(t testing.TB) {
	t.Helper()
	select {
	case <-g.blocked:
	case <-time.After(30 * time.Second):
		t.Fatal("no operation reached the gate")
	}
}

// within runs fn in a goroutine and fails the test if it has not returned
// within 30 s: something it needs is held by the blocked operation.
func within(t testing.TB, what string, fn func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s blocked behind the held operation", what)
	}
}

// TestRollFsyncDoesNotBlockAppends: a roll leaves the fsync of the rolled
// segment to a background flush (Kafka's "flush-log" task after
// UnifiedLog.roll), so appends continue into the new segment while the
// disk is slow; the recovery point moves only once the flush is done.
func TestRollFsyncDoesNotBlockAppends(t *testing.T) {
	t.Parallel()
	fs := newGateFS(func(op vfs.Op, name string) bool {
		return op == vfs.OpSync && strings.HasSuffix(name, "00000000000000000000.log")
	})
	l := openTestLog(t, t.TempDir(), LogConfig{SegmentBytes: 1000}, WithFS(fs))
	t.Cleanup(fs.open) // before the log closes: cleanups run last first
	fs.arm()
	within(t, "appends through a roll", func() error {
		for i := 0; l.NumSegments() < 2; i++ {
			if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{n: 2, ts: t0.UnixMilli() + int64(i)}), 0, t0); err != nil {
				return err
			}
		}
		return nil
	})
	fs.waitBlocked(t)
	within(t, "appends to the new segment while the old one's fsync is held", func() error {
		for i := 0; i < 5; i++ {
			if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{n: 2, ts: t0.UnixMilli()}), 0, t0); err != nil {
				return err
			}
		}
		return nil
	})
	if l.NumSegments() != 2 {
		t.Fatalf("%d segments", l.NumSegments())
	}
	if rp := l.RecoveryPoint(); rp != 0 {
		t.Fatalf("recovery point %d before the rolled segment was fsynced", rp)
	}
	fs.open()
	rolledAt := l.activeSegment().baseOffset
	if !pollUntil(30*time.Second, func() bool { return l.RecoveryPoint() == rolledAt }) {
		t.Fatalf("recovery point %d, want %d once the flush is done", l.RecoveryPoint(), rolledAt)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRollFlushFailureTakesLogOffline: a failed background fsync of a
// rolled segment is as sticky as any other: the log goes offline and the
// recovery point stays.
func TestRollFlushFailureTakesLogOffline(t *testing.T) {
	t.Parallel()
	fs := vfs.NewErrorFS(vfs.Default)
	l := openTestLog(t, t.TempDir(), LogConfig{SegmentBytes: 1000}, WithFS(fs))
	fs.SetFail(func(op vfs.Op, name string) bool {
		return op == vfs.OpSync && strings.HasSuffix(name, "00000000000000000000.log")
	})
	for i := 0; l.NumSegments() < 2; i++ {
		if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{n: 2, ts: t0.UnixMilli() + int64(i)}), 0, t0); err != nil {
			t.Fatal(err)
		}
	}
	if !pollUntil(30*time.Second, func() bool { return l.Offline() != nil }) {
		t.Fatal("log still online after its rolled segment failed to fsync")
	}
	if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{n: 1}), 0, t0); err == nil {
		t.Fatal("append to an offline log accepted")
	}
	if rp := l.RecoveryPoint(); rp != 0 {
		t.Fatalf("recovery point %d after a failed flush", rp)
	}
}

// TestLogManagerCreateDeleteDoNotBlockOthers: creating or deleting one
// partition's log (recovery, fsyncs, removing files) must not hold up
// lookups, appends, checkpoints or the creation of other partitions.
func TestLogManagerCreateDeleteDoNotBlockOthers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		match func(op vfs.Op, name string) bool
		run   func(m *LogManager) error
	}{
		{"create", func(op vfs.Op, name string) bool {
			return op == vfs.OpOpen && strings.Contains(name, string(filepath.Separator)+"slow-0"+string(filepath.Separator))
		}, func(m *LogManager) error {
			_, err := m.GetOrCreateLog(TopicPartition{"slow", 0}, [16]byte{9}, LogConfig{})
			return err
		}},
		{"delete", func(op vfs.Op, name string) bool {
			return op == vfs.OpSync && strings.Contains(name, string(filepath.Separator)+"slow-0"+string(filepath.Separator))
		}, func(m *LogManager) error {
			return m.DeleteLog(TopicPartition{"slow", 0})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fs := newGateFS(tc.match)
			m, err := NewLogManager([]string{t.TempDir()}, LogConfig{}, nil, WithFS(fs))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Shutdown() })
			t.Cleanup(fs.open) // before the shutdown: cleanups run last first
			a, err := m.GetOrCreateLog(TopicPartition{"a", 0}, [16]byte{1}, LogConfig{})
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "delete" {
				slow, err := m.GetOrCreateLog(TopicPartition{"slow", 0}, [16]byte{9}, LogConfig{})
				if err != nil {
					t.Fatal(err)
				}
				mustAppend(t, slow, makeBatch(t, batchSpec{n: 1}), t0)
			}
			fs.arm()
			slowDone := make(chan error, 1)
			go func() { slowDone <- tc.run(m) }()
			fs.waitBlocked(t)

			within(t, "lookup and append on another partition", func() error {
				if l, ok := m.Log(TopicPartition{"a", 0}); !ok || l != a {
					t.Error("partition a not found")
				}
				_, err := a.AppendAsLeader(makeBatch(t, batchSpec{n: 1}), 0, t0)
				return err
			})
			within(t, "listing logs", func() error { m.Logs(); return nil })
			within(t, "checkpoint", m.Checkpoint)
			within(t, "creating another partition", func() error {
				_, err := m.GetOrCreateLog(TopicPartition{"b", 0}, [16]byte{2}, LogConfig{})
				return err
			})
			within(t, "deleting another partition", func() error { return m.DeleteLog(TopicPartition{"b", 0}) })

			fs.open()
			select {
			case err := <-slowDone:
				if err != nil {
					t.Fatalf("%s of the slow partition: %v", tc.name, err)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("%s of the slow partition did not finish", tc.name)
			}
			_, ok := m.Log(TopicPartition{"slow", 0})
			if ok != (tc.name == "create") {
				t.Fatalf("after %s, slow partition hosted: %v", tc.name, ok)
			}
		})
	}
}

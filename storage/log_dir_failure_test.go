package storage

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riffle-io/riffle/storage/vfs"
)

// TestLogDirFailureTakesWholeDirOffline: an I/O error of any kind in one
// log (write, fsync, read, roll, creation) takes every log of its log dir
// offline, reports the dir once, and leaves the other dir serving; new
// logs go to the online dir only. Once both dirs have failed no log can
// be created. After a restart on a repaired disk every acknowledged
// record is back.
func TestLogDirFailureTakesWholeDirOffline(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// fail arms efs to fail an operation on sick's files and makes
		// sick (or, for create, a new log in sick's dir) hit it.
		fail func(t *testing.T, m *LogManager, efs *vfs.ErrorFS, sick *Log) error
	}{
		{"write", func(t *testing.T, _ *LogManager, efs *vfs.ErrorFS, sick *Log) error {
			efs.SetFail(func(op vfs.Op, name string) bool { return op == vfs.OpWrite && strings.Contains(name, "sick-0") })
			_, err := sick.AppendAsLeader(makeBatch(t, batchSpec{n: 2}), 5, t0)
			return err
		}},
		{"fsync", func(t *testing.T, _ *LogManager, efs *vfs.ErrorFS, sick *Log) error {
			efs.SetFail(func(op vfs.Op, name string) bool { return op == vfs.OpSync && strings.Contains(name, "sick-0") })
			return sick.Flush()
		}},
		{"read", func(t *testing.T, _ *LogManager, efs *vfs.ErrorFS, sick *Log) error {
			efs.SetReadFaults(true)
			efs.SetFail(func(op vfs.Op, name string) bool {
				return op == vfs.OpRead && strings.Contains(name, "sick-0") && filepath.Ext(name) == ".log"
			})
			_, err := sick.Read(0, 1<<20, sick.LogEndOffset(), true)
			return err
		}},
		{"roll", func(t *testing.T, _ *LogManager, efs *vfs.ErrorFS, sick *Log) error {
			efs.SetFail(func(op vfs.Op, name string) bool {
				return op == vfs.OpOpen && strings.Contains(name, "sick-0") && !strings.HasSuffix(name, "00000000000000000000.log")
			})
			for i := 0; i < 100; i++ {
				if _, err := sick.AppendAsLeader(makeBatch(t, batchSpec{n: 2}), 5, t0); err != nil {
					return err
				}
			}
			t.Fatal("no roll within 100 appends")
			return nil
		}},
		{"create", func(t *testing.T, m *LogManager, efs *vfs.ErrorFS, _ *Log) error {
			efs.SetFail(func(op vfs.Op, name string) bool { return op == vfs.OpOpen && strings.Contains(name, "new-0") })
			// well-1 evens the dirs out: the new log goes to the first.
			if _, err := m.GetOrCreateLog(TopicPartition{"well", 1}, [16]byte{4}, LogConfig{}); err != nil {
				t.Fatal(err)
			}
			_, err := m.GetOrCreateLog(TopicPartition{"new", 0}, [16]byte{5}, LogConfig{})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			efs := vfs.NewErrorFS(vfs.Default)
			dirs := []string{t.TempDir(), t.TempDir()}
			cfg := LogConfig{SegmentBytes: 2000}
			if err := formatLogDirs(vfs.Default, dirs, NewClusterID(), 1); err != nil {
				t.Fatal(err)
			}
			m, err := NewLogManager(dirs, cfg, nil, WithFS(efs))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Shutdown() })
			// Placement by fewest partitions: sick and mate in the first
			// dir, well in the second.
			create := func(name string, id byte) *Log {
				l, err := m.GetOrCreateLog(TopicPartition{name, 0}, [16]byte{id}, cfg)
				if err != nil {
					t.Fatal(err)
				}
				return l
			}
			sick, well, mate := create("sick", 1), create("well", 2), create("mate", 3)
			for _, c := range []struct {
				l   *Log
				dir string
			}{{sick, dirs[0]}, {well, dirs[1]}, {mate, dirs[0]}} {
				if d, _ := m.LogDir(c.l.TopicPartition()); d != c.dir {
					t.Fatalf("%s placed in %s, want %s", c.l.TopicPartition(), d, c.dir)
				}
				mustAppend(t, c.l, makeBatch(t, batchSpec{n: 3}), t0)
			}

			if err := tc.fail(t, m, efs, sick); !errors.Is(err, ErrLogOffline) {
				t.Fatalf("the failed operation answered %v, want ErrLogOffline", err)
			}
			efs.SetFail(nil) // the disk answers again; the dir stays offline
			select {
			case d := <-m.DirFailures():
				if d != dirs[0] {
					t.Fatalf("dir failure reported %s, want %s", d, dirs[0])
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no dir failure reported")
			}
			if got := m.OfflineDirs(); !slices.Equal(got, dirs[:1]) {
				t.Fatalf("offline dirs %v, want %v", got, dirs[:1])
			}
			for _, l := range []*Log{sick, mate} {
				if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{n: 1}), 5, t0); !errors.Is(err, ErrLogOffline) {
					t.Fatalf("append to %s in the offline dir: %v", l.TopicPartition(), err)
				}
				if _, err := l.Read(0, 1<<20, 3, true); !errors.Is(err, ErrLogOffline) {
					t.Fatalf("read of %s in the offline dir: %v", l.TopicPartition(), err)
				}
			}
			mustAppend(t, well, makeBatch(t, batchSpec{n: 2}), t0)
			if res, err := well.Read(0, 1<<20, 5, true); err != nil || len(res.Records) == 0 {
				t.Fatalf("read of the healthy dir's log: %v", err)
			}
			// New logs go to the online dir; checkpoints skip the offline one.
			if d := create("later", 6); d.Dir() != filepath.Join(dirs[1], "later-0") {
				t.Fatalf("a new log went to %s", d.Dir())
			}
			if err := m.Checkpoint(); err != nil {
				t.Fatalf("checkpoint with an offline dir: %v", err)
			}
			select {
			case d := <-m.DirFailures():
				t.Fatalf("dir %s reported again", d)
			default:
			}

			// The second dir fails on its next fsync: nothing is left.
			efs.SetFail(func(op vfs.Op, name string) bool { return op == vfs.OpSync && strings.HasPrefix(name, dirs[1]) })
			if err := well.Flush(); !errors.Is(err, ErrLogOffline) {
				t.Fatalf("flush on a failing disk: %v", err)
			}
			efs.SetFail(nil)
			if d := <-m.DirFailures(); d != dirs[1] {
				t.Fatalf("second failure reported %s", d)
			}
			if _, err := m.GetOrCreateLog(TopicPartition{"none", 0}, [16]byte{7}, cfg); !errors.Is(err, ErrAllLogDirsOffline) {
				t.Fatalf("create with every dir offline: %v", err)
			}
			if err := m.Shutdown(); err != nil {
				t.Fatalf("shutdown: %v", err)
			}

			// Repaired: a restart loads every dir online, with the records
			// appended before the failures.
			m2, err := NewLogManager(dirs, cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m2.Shutdown() })
			if got := m2.OfflineDirs(); len(got) != 0 {
				t.Fatalf("offline dirs after restart: %v", got)
			}
			for _, name := range []string{"sick", "mate", "well"} {
				l, ok := m2.Log(TopicPartition{name, 0})
				if !ok || l.Offline() != nil {
					t.Fatalf("%s after restart: present %v, offline %v", name, ok, l.Offline())
				}
				if l.LogEndOffset() < 3 {
					t.Fatalf("%s lost acknowledged records: log end %d", name, l.LogEndOffset())
				}
				if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{n: 1}), 5, t0); err != nil {
					t.Fatalf("append to %s after restart: %v", name, err)
				}
			}
			if m2.DirectoryID(dirs[0]) != m.DirectoryID(dirs[0]) || m2.DirectoryID(dirs[0]) == m2.DirectoryID(dirs[1]) {
				t.Fatal("directory ids are not stable and distinct across restarts")
			}
		})
	}
}

// TestLogManagerAddsMissingDirectoryID: a log dir formatted without a
// directory.id (an older meta.properties) gets one at start, written back
// so that it stays the same across restarts, as Kafka's
// MetaPropertiesEnsemble does.
func TestLogManagerAddsMissingDirectoryID(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clusterID := NewClusterID()
	if err := writeMetaProperties(vfs.Default, dir, MetaProperties{NodeID: 3, ClusterID: clusterID, Version: 1}); err != nil {
		t.Fatal(err)
	}
	m, err := NewLogManager([]string{dir}, LogConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := m.DirectoryID(dir)
	m.Shutdown()
	mp, err := ReadMetaProperties(dir)
	if err != nil {
		t.Fatal(err)
	}
	if id == ([16]byte{}) || mp.DirectoryID != UUIDString(id) || mp.ClusterID != clusterID || mp.NodeID != 3 {
		t.Fatalf("meta.properties after start: %+v, id %s", mp, UUIDString(id))
	}
}

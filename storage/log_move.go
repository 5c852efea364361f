package storage

// Moving a partition between log dirs (KIP-113, AlterReplicaLogDirs).
//
// Kafka copies the partition into a "future" replica in the target dir that
// fetches from the current one until it catches up, then swaps the two. A
// Riffle move is the same in spirit, done in one step under the log's
// append lock (appends wait; reads keep being served from the current
// files):
//
//	1. flush, snapshot producer state at the log end offset
//	2. copy <src>/<tp>/* to <dst>/<tp>.<id>-future, fsync files and dirs
//	3. rename <src>/<tp> to <src>/<tp>.<id>-delete, fsync <src>
//	4. rename <dst>/<tp>.<id>-future to <dst>/<tp>, fsync <dst>
//	5. open the new copy, hand its segments to the live *Log, close the old
//	   files (readers holding them retry on the new ones), remove -delete
//
// A crash at any point leaves exactly one valid copy on restart
// (resolveFutureLogs): before step 3 the source is live and the -future
// dir, complete or not, is discarded; after step 3 the only copy is the
// -future dir, complete because it was fsynced first, and it is promoted;
// after step 4 it is an ordinary partition dir, and -delete dirs are always
// removed at load.

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/riffle-io/riffle/storage/vfs"
)

// futureDirSuffix marks a partition copy being built in its new log dir
// (Kafka's UnifiedLog.FutureDirSuffix).
const futureDirSuffix = "-future"

var (
	// ErrLogDirNotFound: a move names a directory that is not one of
	// log.dirs (Kafka's LOG_DIR_NOT_FOUND).
	ErrLogDirNotFound = errors.New("log dir not found")
	// ErrUnknownPartition: a move names a partition this manager does not
	// host (Kafka's REPLICA_NOT_AVAILABLE).
	ErrUnknownPartition = errors.New("partition not hosted")
)

// MoveLog moves the partition's log into dest, one of the log dirs. It
// returns nil at once when the log is already there. The *Log stays the
// same object: holders of it (the replica layer) keep using it.
func (m *LogManager) MoveLog(tp TopicPartition, dest string) error {
	// Lock order: cleanMu, then the partition's claim, then mu, then the
	// log's appendMu. cleanMu keeps the cleaner from writing a cleaned
	// segment into the old dir midway; the claim keeps a creation or
	// deletion of the partition out, while other partitions carry on.
	m.cleanMu.Lock()
	defer m.cleanMu.Unlock()
	release := m.claimPartition(tp)
	defer release()
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	dest = m.logDirNamed(dest)
	if dest == "" {
		m.mu.Unlock()
		return fmt.Errorf("move log %s: %w", tp, ErrLogDirNotFound)
	}
	l, ok := m.mu.logs[tp]
	if !ok {
		m.mu.Unlock()
		return fmt.Errorf("move log %s: %w", tp, ErrUnknownPartition)
	}
	src := m.mu.dirOf[tp]
	if reason := m.mu.offlineDirs[dest]; reason != nil {
		m.mu.Unlock()
		return fmt.Errorf("move log %s: %w", tp, reason)
	}
	m.mu.Unlock()
	if src == dest {
		return nil
	}
	if err := l.moveTo(src, dest, m.logOptions()); err != nil {
		return fmt.Errorf("move log %s to %s: %w", tp, dest, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.dirOf[tp] = dest
	// The new dir's checkpoints must name the partition, or a restart
	// would recover it from its first segment and lose its log start
	// offset.
	if _, err := m.checkpointLocked(); err != nil {
		m.logger.Warn("checkpoint after log move", "partition", tp.String(), "err", err)
	}
	return nil
}

// logDirNamed returns the configured log dir that dir names (compared as
// clean absolute paths), or "".
func (m *LogManager) logDirNamed(dir string) string {
	want := absPath(dir)
	for _, d := range m.dirs {
		if absPath(d) == want {
			return d
		}
	}
	return ""
}

func absPath(dir string) string {
	if a, err := filepath.Abs(dir); err == nil {
		return a
	}
	return filepath.Clean(dir)
}

func randomSuffix() string {
	var id [16]byte
	_, _ = rand.Read(id[:])
	return hex.EncodeToString(id[:])
}

// moveTo runs the move's steps; see the file comment. On an error before
// the swap the log is unchanged; after it, the log is taken offline rather
// than keep appending to files that are no longer its directory.
func (l *Log) moveTo(src, dest string, opts []Option) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	if err := l.flushLocked(time.Now()); err != nil {
		return err
	}
	if err := writeProducerSnapshot(l.fs, l.dir, l.LogEndOffset(), l.producers.producers, true); err != nil {
		return l.fail(err)
	}
	id := randomSuffix()
	name := filepath.Base(l.dir)
	future := filepath.Join(dest, name+"."+id+futureDirSuffix)
	if err := copyPartitionDir(l.fs, l.dir, future); err != nil {
		_ = l.fs.RemoveAll(future)
		return err
	}
	if err := l.fs.SyncDir(dest); err != nil {
		_ = l.fs.RemoveAll(future)
		return err
	}
	oldDir := l.dir
	retired := filepath.Join(src, name+"."+id+deleteDirSuffix)
	if err := l.fs.Rename(oldDir, retired); err != nil {
		_ = l.fs.RemoveAll(future)
		return err
	}
	// From here the -future copy is the partition (resolveFutureLogs
	// promotes it after a crash).
	if err := l.fs.SyncDir(src); err != nil {
		return l.fail(err)
	}
	target := filepath.Join(dest, name)
	if err := l.fs.Rename(future, target); err != nil {
		return l.fail(err)
	}
	if err := l.fs.SyncDir(dest); err != nil {
		return l.fail(err)
	}
	opts = append(opts, WithRecoveryPoint(l.RecoveryPoint()), WithLogStartOffset(l.LogStartOffset()),
		WithHighWatermark(l.HighWatermark()))
	nl, err := OpenLog(target, l.tp, l.TopicID(), l.Config(), opts...)
	if err != nil {
		return l.fail(err)
	}
	l.adoptLocked(nl)
	if err := l.fs.RemoveAll(retired); err != nil {
		l.logger.Warn("removing moved partition's old dir", "dir", retired, "err", err)
	}
	return nil
}

// adoptLocked makes l serve nl's files: nl was just opened on l's moved
// directory and is dropped. Readers that took a view of the old segments
// find them closed and retry on the new ones. appendMu held.
func (l *Log) adoptLocked(nl *Log) {
	l.mu.Lock()
	old := l.mu.segments
	l.dir = nl.dir
	l.producers = nl.producers
	l.epochs = nl.epochs
	l.mu.segments = nl.mu.segments
	l.mu.logStartOffset = nl.mu.logStartOffset
	l.mu.logEndOffset = nl.mu.logEndOffset
	l.mu.highWatermark = nl.mu.highWatermark
	l.mu.recoveryPoint = nl.mu.recoveryPoint
	l.mu.Unlock()

	nl.txn.mu.RLock()
	ongoing, first, aborted, unreplicated := nl.txn.ongoing, nl.txn.firstUnstable, nl.txn.aborted, nl.txn.unreplicated
	nl.txn.mu.RUnlock()
	l.txn.mu.Lock()
	l.txn.ongoing, l.txn.firstUnstable, l.txn.aborted, l.txn.unreplicated = ongoing, first, aborted, unreplicated
	l.txn.mu.Unlock()

	for _, s := range old {
		_ = s.close()
	}
	// Segments awaiting deletion lived in the old dir, which is removed.
	for _, p := range l.pending {
		_ = p.seg.close()
	}
	l.pending = nil
}

// copyPartitionDir copies the files of a partition dir (not its segments
// awaiting deletion) into a new dir, fsyncing each file and the dir.
func copyPartitionDir(fs vfs.FS, from, to string) error {
	entries, err := fs.ReadDir(from)
	if err != nil {
		return err
	}
	if err := fs.MkdirAll(to, 0o755); err != nil {
		return err
	}
	for _, de := range entries {
		if de.IsDir() || strings.HasSuffix(de.Name(), deletedFileSuffix) {
			continue
		}
		if err := copyFile(fs, filepath.Join(from, de.Name()), filepath.Join(to, de.Name())); err != nil {
			return err
		}
	}
	return fs.SyncDir(to)
}

func copyFile(fs vfs.FS, from, to string) error {
	in, err := fs.OpenFile(from, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := fs.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// resolveFutureLogs finishes or discards the moves a crash interrupted,
// before any dir is loaded: a -future copy whose partition still has a
// live dir in some log dir is discarded; one whose partition has none (the
// source was already retired) is complete and takes the partition's name.
func (m *LogManager) resolveFutureLogs() error {
	live := map[TopicPartition]bool{}
	type future struct {
		dir, name string
		tp        TopicPartition
	}
	var futures []future
	for _, dir := range m.dirs {
		entries, err := m.fs.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("log manager: %w", err)
		}
		for _, de := range entries {
			if !de.IsDir() {
				continue
			}
			name := de.Name()
			if tp, ok := parseTopicPartitionDir(name); ok {
				live[tp] = true
				continue
			}
			if !strings.HasSuffix(name, futureDirSuffix) {
				continue
			}
			// <topic>-<partition>.<id>-future
			base := strings.TrimSuffix(name, futureDirSuffix)
			dot := strings.LastIndexByte(base, '.')
			if dot <= 0 {
				continue
			}
			if tp, ok := parseTopicPartitionDir(base[:dot]); ok {
				futures = append(futures, future{dir: dir, name: name, tp: tp})
			}
		}
	}
	var errs []error
	for _, f := range futures {
		path := filepath.Join(f.dir, f.name)
		if live[f.tp] {
			m.logger.Info("discarding an interrupted log move", "partition", f.tp.String(), "dir", path)
			errs = append(errs, m.fs.RemoveAll(path))
			continue
		}
		m.logger.Info("completing an interrupted log move", "partition", f.tp.String(), "dir", f.dir)
		if err := m.fs.Rename(path, filepath.Join(f.dir, f.tp.String())); err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, m.fs.SyncDir(f.dir))
		live[f.tp] = true
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("log manager: resolving interrupted log moves: %w", err)
	}
	return nil
}

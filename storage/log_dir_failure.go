package storage

import (
	"errors"
	"fmt"
	"os"
	"slices"
)

// Log dir failure, as Kafka's LogDirFailureChannel and
// LogManager.handleLogDirFailure: an I/O error in any log of a directory
// (a write, fsync, read, roll or the creation of a log) takes the whole
// directory offline. Every log in it answers ErrLogOffline from then on,
// no log is created in it and no checkpoint is written to it; the
// directory is reported once on DirFailures so that the broker can stop
// replicating its partitions and tell the controller, which moves their
// leadership away (KIP-858). It stays offline until the broker restarts.

// ErrAllLogDirsOffline: no log dir is online, so no log can be created.
var ErrAllLogDirsOffline = fmt.Errorf("%w: every log dir is offline", ErrLogOffline)

// DirectoryID is the dir's directory.id from meta.properties (KIP-858),
// zero for a dir that is not one of the log dirs.
func (m *LogManager) DirectoryID(dir string) [16]byte { return m.dirIDs[dir] }

// DirFailures delivers each log dir that goes offline, once (Kafka's
// LogDirFailureChannel.takeNextOfflineLogDir). The channel never blocks a
// failing log: it holds one slot per log dir.
func (m *LogManager) DirFailures() <-chan string { return m.failures }

// OfflineDirs returns the offline log dirs in configuration order.
func (m *LogManager) OfflineDirs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, d := range m.dirs {
		if m.mu.offlineDirs[d] != nil {
			out = append(out, d)
		}
	}
	return out
}

// DirOffline returns why the log dir went offline, or nil if it is online.
func (m *LogManager) DirOffline(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.offlineDirs[dir]
}

// onlineDirsLocked returns the online log dirs. mu held.
func (m *LogManager) onlineDirsLocked() []string {
	return slices.DeleteFunc(slices.Clone(m.dirs), func(d string) bool { return m.mu.offlineDirs[d] != nil })
}

// logFailed is every log's failure hook: the log's dir goes offline.
func (m *LogManager) logFailed(tp TopicPartition, cause error) {
	m.mu.Lock()
	dir, ok := m.mu.dirOf[tp]
	m.mu.Unlock()
	if ok {
		m.markDirOffline(dir, cause)
	}
}

// markDirOffline takes dir and every log in it offline and reports it on
// DirFailures. It takes the other logs' mu only (never their appendMu), so
// it may be called by a log that holds its own appendMu.
func (m *LogManager) markDirOffline(dir string, cause error) {
	m.mu.Lock()
	if m.mu.offlineDirs[dir] != nil {
		m.mu.Unlock()
		return
	}
	reason := fmt.Errorf("%w: log dir %s failed: %w", ErrLogOffline, dir, cause)
	m.mu.offlineDirs[dir] = reason
	var logs []*Log
	for tp, d := range m.mu.dirOf {
		if d == dir {
			logs = append(logs, m.mu.logs[tp])
		}
	}
	all := len(m.onlineDirsLocked()) == 0
	m.mu.Unlock()
	for _, l := range logs {
		l.takeOffline(reason)
	}
	m.logger.Error("log dir is offline: its logs stop serving until the broker restarts",
		"dir", dir, "logs", len(logs), "all_dirs_offline", all, "err", cause)
	m.failures <- dir // one slot per dir, and each dir fails once
}

// loadDirectoryIDs reads every formatted dir's directory.id, adding one
// where meta.properties has none (written by an older version), as Kafka's
// MetaPropertiesEnsemble does at startup. An unformatted dir gets an id
// for this run only.
func (m *LogManager) loadDirectoryIDs() error {
	m.dirIDs = make(map[string][16]byte, len(m.dirs))
	for _, dir := range m.dirs {
		mp, err := readMetaProperties(m.fs, dir)
		if errors.Is(err, os.ErrNotExist) {
			m.dirIDs[dir] = randomUUID()
			continue
		}
		if err != nil {
			return fmt.Errorf("log manager: %w", err)
		}
		if id, err := ParseUUID(mp.DirectoryID); err == nil && id != ([16]byte{}) {
			m.dirIDs[dir] = id
			continue
		}
		id := randomUUID()
		mp.DirectoryID, mp.Version = UUIDString(id), 1
		if err := writeMetaProperties(m.fs, dir, mp); err != nil {
			return fmt.Errorf("log manager: adding directory.id to %s: %w", dir, err)
		}
		m.dirIDs[dir] = id
	}
	for i, d := range m.dirs {
		for _, e := range m.dirs[:i] {
			if m.dirIDs[d] == m.dirIDs[e] {
				return fmt.Errorf("log manager: log dirs %s and %s have the same directory.id %s", e, d, UUIDString(m.dirIDs[d]))
			}
		}
	}
	return nil
}

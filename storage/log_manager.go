package storage

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riffle-io/riffle/storage/vfs"
)

// LogManager owns the logs in every directory of log.dirs (Kafka's
// LogManager): loading and recovery at startup, placement of new
// partitions, deletion, checkpoints and clean shutdown.
type LogManager struct {
	dirs       []string
	defaultCfg LogConfig
	logger     *slog.Logger
	fs         vfs.FS
	opts       []Option
	clusterID  string
	// dirIDs holds each log dir's directory.id (fixed after start).
	dirIDs map[string][16]byte
	// failures reports each log dir that goes offline (log_dir_failure.go).
	failures chan string

	// previousBrokerEpoch is what the clean-shutdown markers said at
	// start-up; brokerEpoch what Shutdown writes (clean_shutdown.go).
	previousBrokerEpoch int64
	brokerEpoch         atomic.Int64

	// cleanMu serialises cleaner rounds (one cleaner thread).
	cleanMu sync.Mutex

	mu struct {
		sync.Mutex
		logs           map[TopicPartition]*Log
		dirOf          map[TopicPartition]string
		cleanerOffsets map[TopicPartition]int64 // first dirty offsets
		closed         bool
		// busy holds the partitions being created, deleted or moved; the
		// channel closes when that is done (claimPartition).
		busy map[TopicPartition]chan struct{}
		// offlineDirs holds, per offline log dir, why it went offline.
		offlineDirs map[string]error
	}
}

// claimPartition waits until no creation, deletion or move of tp is under
// way and claims tp for the caller, which calls the returned release when
// done. The disk work of those operations (recovery, fsyncs, removing
// files) runs under the claim rather than under mu, so one partition's
// creation or deletion never blocks lookups and operations on the others,
// as Kafka's LogManager creates and deletes logs without a global lock.
func (m *LogManager) claimPartition(tp TopicPartition) (release func()) {
	m.mu.Lock()
	for {
		ch, ok := m.mu.busy[tp]
		if !ok {
			break
		}
		m.mu.Unlock()
		<-ch
		m.mu.Lock()
	}
	ch := make(chan struct{})
	m.mu.busy[tp] = ch
	m.mu.Unlock()
	return func() {
		m.mu.Lock()
		delete(m.mu.busy, tp)
		m.mu.Unlock()
		close(ch)
	}
}

// NewLogManager creates missing directories, checks that formatted ones
// agree (see EnsureFormatted, which the broker calls first) and loads every
// partition directory. After a clean shutdown (.kafka_cleanshutdown present)
// logs load without recovery; otherwise each is recovered from its recovery
// point. The marker is then removed; Shutdown writes it again.
func NewLogManager(dirs []string, defaultCfg LogConfig, logger *slog.Logger, opts ...Option) (*LogManager, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if len(dirs) == 0 {
		return nil, errors.New("log manager: no log directories")
	}
	m := &LogManager{dirs: dirs, defaultCfg: defaultCfg.withDefaults(), logger: logger, fs: o.fs, opts: opts}
	m.mu.logs = make(map[TopicPartition]*Log)
	m.mu.dirOf = make(map[TopicPartition]string)
	m.mu.cleanerOffsets = make(map[TopicPartition]int64)
	m.mu.busy = make(map[TopicPartition]chan struct{})
	m.mu.offlineDirs = make(map[string]error)
	m.failures = make(chan string, len(dirs))
	m.brokerEpoch.Store(-1)
	for _, dir := range dirs {
		if err := m.fs.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("log manager: %w", err)
		}
		mp, err := readMetaProperties(m.fs, dir)
		switch {
		case errors.Is(err, os.ErrNotExist):
			logger.Warn("log dir is not formatted", "dir", dir)
		case err != nil:
			return nil, fmt.Errorf("log manager: %w", err)
		case m.clusterID != "" && mp.ClusterID != m.clusterID:
			return nil, fmt.Errorf("log manager: log dir %s belongs to cluster %s, other dirs to %s", dir, mp.ClusterID, m.clusterID)
		default:
			m.clusterID = mp.ClusterID
		}
	}
	if err := m.loadDirectoryIDs(); err != nil {
		return nil, err
	}
	if err := m.resolveFutureLogs(); err != nil { // log_move.go
		return nil, err
	}
	m.previousBrokerEpoch = readCleanShutdownEpoch(m.fs, dirs[0])
	for _, dir := range dirs {
		// Read before loadDir removes the marker; every directory must
		// name the same epoch.
		if readCleanShutdownEpoch(m.fs, dir) != m.previousBrokerEpoch {
			m.previousBrokerEpoch = -1
		}
		if err := m.loadDir(dir); err != nil {
			m.closeAll()
			return nil, err
		}
	}
	return m, nil
}

// ClusterID is the cluster id from meta.properties ("" if unformatted).
func (m *LogManager) ClusterID() string { return m.clusterID }

// Dirs returns the log directories.
func (m *LogManager) Dirs() []string { return append([]string(nil), m.dirs...) }

func (m *LogManager) loadDir(dir string) error {
	m.loadCleanerOffsets(m.fs, dir)
	cleanMarker := filepath.Join(dir, CleanShutdownFile)
	_, err := m.fs.Stat(cleanMarker)
	clean := err == nil
	recoveryPoints, err := ReadOffsetCheckpoint(m.fs, filepath.Join(dir, RecoveryPointCheckpointFile))
	if err != nil {
		// Derived data: without it every log is recovered from its start.
		m.logger.Warn("ignoring unreadable checkpoint", "err", err)
		recoveryPoints, clean = nil, false
	}
	logStarts, err := ReadOffsetCheckpoint(m.fs, filepath.Join(dir, LogStartOffsetCheckpointFile))
	if err != nil {
		m.logger.Warn("ignoring unreadable checkpoint", "err", err)
	}
	highWatermarks, err := ReadOffsetCheckpoint(m.fs, filepath.Join(dir, ReplicationCheckpointFile))
	if err != nil {
		m.logger.Warn("ignoring unreadable checkpoint", "err", err)
	}
	entries, err := m.fs.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("log manager: %w", err)
	}
	for _, de := range entries {
		if !de.IsDir() {
			continue
		}
		name := de.Name()
		if strings.HasSuffix(name, deleteDirSuffix) {
			// A deletion interrupted by a crash: finish it.
			if err := m.fs.RemoveAll(filepath.Join(dir, name)); err != nil {
				m.logger.Warn("removing deleted partition", "dir", name, "err", err)
			}
			continue
		}
		tp, ok := parseTopicPartitionDir(name)
		if !ok {
			continue
		}
		if other, dup := m.mu.dirOf[tp]; dup {
			return fmt.Errorf("log manager: partition %s is in both %s and %s", tp, other, dir)
		}
		start := time.Now()
		opts := m.logOptionsFor(tp,
			WithCleanShutdown(clean),
			WithRecoveryPoint(recoveryPoints[tp]),
			WithLogStartOffset(logStarts[tp]),
			WithHighWatermark(highWatermarks[tp]),
		)
		l, err := OpenLog(filepath.Join(dir, name), tp, [16]byte{}, m.defaultCfg, opts...)
		if err != nil {
			// One damaged partition must not keep the others from
			// serving: it stays registered, offline, and says why.
			m.logger.Error("log is offline: it could not be loaded", "partition", tp.String(), "err", err)
			o := defaultOptions()
			for _, opt := range opts {
				opt(&o)
			}
			l = offlineLog(filepath.Join(dir, name), tp, m.defaultCfg, o, err)
		}
		m.logger.Debug("loaded log", "partition", tp.String(), "log_end_offset", l.LogEndOffset(),
			"clean", clean, "took", time.Since(start))
		m.mu.logs[tp] = l
		m.mu.dirOf[tp] = dir
	}
	if clean {
		if err := m.fs.Remove(cleanMarker); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("log manager: %w", err)
		}
		if err := m.fs.SyncDir(dir); err != nil {
			return fmt.Errorf("log manager: %w", err)
		}
	}
	return nil
}

func (m *LogManager) logOptions(extra ...Option) []Option {
	opts := append([]Option{WithLogger(m.logger)}, m.opts...)
	return append(opts, extra...)
}

// logOptionsFor is logOptions for the log of tp, whose I/O errors take
// its log dir offline.
func (m *LogManager) logOptionsFor(tp TopicPartition, extra ...Option) []Option {
	hook := withFailureHook(func(err error) { m.logFailed(tp, err) })
	return m.logOptions(append([]Option{hook}, extra...)...)
}

// parseTopicPartitionDir parses "<topic>-<partition>" (Kafka's
// UnifiedLog.parseTopicPartitionName), ignoring Kafka's -future and -stray
// directories and anything that is not a legal name.
// MetadataTopic is the name of the cluster metadata log's directory prefix
// (__cluster_metadata-0), which is not a partition of this LogManager.
const MetadataTopic = "__cluster_metadata"

func parseTopicPartitionDir(name string) (TopicPartition, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return TopicPartition{}, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || p < 0 {
		return TopicPartition{}, false
	}
	tp := TopicPartition{Topic: name[:i], Partition: int32(p)}
	// The KRaft metadata log lives beside the partitions under a
	// partition-like name; Kafka's LogManager skips it, and so do we.
	if tp.Topic == MetadataTopic {
		return TopicPartition{}, false
	}
	if validateTopic(tp.Topic) != nil {
		return TopicPartition{}, false
	}
	return tp, true
}

// validateTopic applies Kafka's topic name rules; they also keep partition
// directories inside the log dir.
func validateTopic(topic string) error {
	if topic == "" || topic == "." || topic == ".." || len(topic) > 249 {
		return fmt.Errorf("invalid topic name %q", topic)
	}
	for _, c := range topic {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("invalid topic name %q", topic)
		}
	}
	return nil
}

// GetOrCreateLog returns the partition's log, creating it in the directory
// holding the fewest partitions. For an existing log, cfg replaces its
// configuration and a topic id is recorded if it had none.
func (m *LogManager) GetOrCreateLog(tp TopicPartition, topicID [16]byte, cfg LogConfig) (*Log, error) {
	release := m.claimPartition(tp)
	defer release()
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	if l, ok := m.mu.logs[tp]; ok {
		m.mu.Unlock()
		if err := l.setTopicID(topicID); err != nil {
			return nil, err
		}
		l.SetConfig(cfg)
		return l, nil
	}
	if err := validateTopic(tp.Topic); err != nil || tp.Partition < 0 {
		m.mu.Unlock()
		return nil, fmt.Errorf("create log %s: invalid partition", tp)
	}
	// A new log goes to the online dir holding the fewest partitions.
	online := m.onlineDirsLocked()
	if len(online) == 0 {
		m.mu.Unlock()
		return nil, fmt.Errorf("create log %s: %w", tp, ErrAllLogDirsOffline)
	}
	counts := make(map[string]int, len(m.dirs))
	for _, d := range m.mu.dirOf {
		counts[d]++
	}
	m.mu.Unlock()
	dir := online[0]
	for _, d := range online[1:] {
		if counts[d] < counts[dir] {
			dir = d
		}
	}
	l, err := OpenLog(filepath.Join(dir, tp.String()), tp, topicID, cfg, m.logOptionsFor(tp)...)
	if err == nil {
		if err = m.fs.SyncDir(dir); err != nil {
			l.Close()
			err = fmt.Errorf("create log %s: %w", tp, err)
		}
	}
	if err != nil {
		if isIOError(err) {
			// Kafka's LogManager.getOrCreateLog: failing to create a
			// log in a dir takes the dir offline.
			m.markDirOffline(dir, err)
			return nil, fmt.Errorf("create log %s: %w", tp, m.DirOffline(dir))
		}
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		// Shut down meanwhile: the new log closes as the others did.
		l.Close()
		return nil, ErrClosed
	}
	m.mu.logs[tp] = l
	m.mu.dirOf[tp] = dir
	if reason := m.mu.offlineDirs[dir]; reason != nil {
		l.takeOffline(reason) // the dir failed while the log was created
	}
	return l, nil
}

// Log returns the partition's log if it exists.
func (m *LogManager) Log(tp TopicPartition) (*Log, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.mu.logs[tp]
	return l, ok
}

// LogDir returns the log directory holding the partition.
func (m *LogManager) LogDir(tp TopicPartition) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.mu.dirOf[tp]
	return d, ok
}

// Logs returns a copy of the partition → log map.
func (m *LogManager) Logs() map[TopicPartition]*Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[TopicPartition]*Log, len(m.mu.logs))
	for tp, l := range m.mu.logs {
		out[tp] = l
	}
	return out
}

const deleteDirSuffix = "-delete"

// DeleteLog closes the log and removes its directory the way Kafka does:
// first renamed to <topic>-<partition>.<uuid>-delete (so a crash midway
// never leaves a half-deleted partition that would load), then removed.
//
// Only the map update holds mu; closing (a flush), renaming and removing
// the files run under the partition's claim.
func (m *LogManager) DeleteLog(tp TopicPartition) error {
	release := m.claimPartition(tp)
	defer release()
	m.mu.Lock()
	l, ok := m.mu.logs[tp]
	if !ok {
		m.mu.Unlock()
		return nil
	}
	dir := m.mu.dirOf[tp]
	delete(m.mu.logs, tp)
	delete(m.mu.dirOf, tp)
	delete(m.mu.cleanerOffsets, tp)
	m.mu.Unlock()
	if err := l.Close(); err != nil {
		m.logger.Warn("closing deleted log", "partition", tp.String(), "err", err)
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	suffix := fmt.Sprintf("-%d.%s%s", tp.Partition, hex.EncodeToString(id[:]), deleteDirSuffix)
	topic := tp.Topic
	if len(topic)+len(suffix) > 255 {
		topic = topic[:255-len(suffix)] // Kafka's logDeleteDirName keeps names within 255 bytes
	}
	target := filepath.Join(dir, topic+suffix)
	if err := m.fs.Rename(l.Dir(), target); err != nil {
		return fmt.Errorf("delete log %s: %w", tp, err)
	}
	if err := m.fs.SyncDir(dir); err != nil {
		return fmt.Errorf("delete log %s: %w", tp, err)
	}
	if err := m.fs.RemoveAll(target); err != nil {
		return fmt.Errorf("delete log %s: %w", tp, err)
	}
	return nil
}

// Checkpoint writes, per log dir, the recovery points, log start offsets
// and high watermarks of its logs (Kafka does this every
// log.flush.offset.checkpoint.interval.ms; the broker calls it on a timer).
// A dir whose checkpoint cannot be written goes offline, as in Kafka.
func (m *LogManager) Checkpoint() error {
	m.mu.Lock()
	failed, err := m.checkpointLocked()
	m.mu.Unlock()
	for dir, cause := range failed {
		m.markDirOffline(dir, cause)
	}
	return err
}

// checkpointLocked writes the checkpoints of the online dirs and returns
// the dirs it could not write. mu held.
func (m *LogManager) checkpointLocked() (map[string]error, error) {
	var errs []error
	failed := map[string]error{}
	for _, dir := range m.dirs {
		if m.mu.offlineDirs[dir] != nil {
			continue // Kafka writes no checkpoint to an offline dir
		}
		rps, starts, hws := map[TopicPartition]int64{}, map[TopicPartition]int64{}, map[TopicPartition]int64{}
		for tp, l := range m.mu.logs {
			if m.mu.dirOf[tp] != dir {
				continue
			}
			rps[tp] = l.RecoveryPoint()
			starts[tp] = l.LogStartOffset()
			hws[tp] = l.HighWatermark()
		}
		for name, offsets := range map[string]map[TopicPartition]int64{
			RecoveryPointCheckpointFile:  rps,
			LogStartOffsetCheckpointFile: starts,
			ReplicationCheckpointFile:    hws,
		} {
			if err := WriteOffsetCheckpoint(m.fs, filepath.Join(dir, name), offsets); err != nil {
				errs = append(errs, fmt.Errorf("checkpoint %s: %w", dir, err))
				failed[dir] = err
			}
		}
	}
	return failed, errors.Join(errs...)
}

// FlushDue flushes every log whose flush.ms has elapsed since its last
// flush (Kafka's log flusher, run every log.flush.scheduler.interval.ms).
func (m *LogManager) FlushDue(now time.Time) error {
	var errs []error
	for _, l := range m.Logs() {
		cfg := l.Config()
		if cfg.FlushMs <= 0 || cfg.FlushMs == 1<<63-1 || l.Offline() != nil {
			continue // an offline log said why once, when it failed
		}
		l.appendMu.Lock()
		due := now.Sub(l.lastFlush).Milliseconds() >= cfg.FlushMs
		l.appendMu.Unlock()
		if due {
			errs = append(errs, l.Flush())
		}
	}
	return errors.Join(errs...)
}

// Shutdown closes every log (flushing it and snapshotting producer state),
// writes the checkpoints and, in each directory whose logs all closed
// cleanly, the clean-shutdown marker that lets the next start skip recovery.
func (m *LogManager) Shutdown() error {
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		return nil
	}
	m.mu.closed = true
	logs := make(map[TopicPartition]*Log, len(m.mu.logs))
	for tp, l := range m.mu.logs {
		logs[tp] = l
	}
	m.mu.Unlock()
	// Logs close without mu: a log failing meanwhile takes mu to take its
	// dir offline while it holds its own appendMu, which Close takes.
	var errs []error
	closeErr := map[TopicPartition]bool{}
	for tp, l := range logs {
		if err := l.Close(); err != nil {
			errs = append(errs, err)
			closeErr[tp] = true
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	dirty := map[string]bool{}
	for tp, l := range logs {
		if closeErr[tp] || l.Offline() != nil {
			dirty[m.mu.dirOf[tp]] = true
		}
	}
	if _, err := m.checkpointLocked(); err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, dir := range m.dirs {
		if dirty[dir] || m.mu.offlineDirs[dir] != nil {
			continue
		}
		// Kafka 3.7+ (CleanShutdownFileHandler) writes the broker epoch
		// here (clean_shutdown.go); -1 says "unknown" and older readers
		// only test existence.
		marker := cleanShutdownMarker(m.brokerEpoch.Load())
		if err := vfs.WriteFileAtomic(m.fs, dir, filepath.Join(dir, CleanShutdownFile), marker); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (m *LogManager) closeAll() {
	for _, l := range m.mu.logs {
		l.Close()
	}
}

// RemoveExpiredProducers expires idle producers in every log (Kafka's
// PeriodicProducerExpirationCheck task, run every
// producer.id.expiration.check.interval.ms). It returns how many were
// removed.
func (m *LogManager) RemoveExpiredProducers(now time.Time) int {
	n := 0
	for _, l := range m.Logs() {
		n += l.RemoveExpiredProducers(now)
	}
	return n
}

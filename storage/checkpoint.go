package storage

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/riffle-io/riffle/storage/vfs"
)

// Kafka's checkpoint file names in a log directory.
const (
	RecoveryPointCheckpointFile  = "recovery-point-offset-checkpoint"
	LogStartOffsetCheckpointFile = "log-start-offset-checkpoint"
	ReplicationCheckpointFile    = "replication-offset-checkpoint"
	CleanShutdownFile            = ".kafka_cleanshutdown"
	LeaderEpochCheckpointFile    = "leader-epoch-checkpoint"
	PartitionMetadataFile        = "partition.metadata"
)

const checkpointVersion = 0

// readCheckpointLines parses Kafka's CheckpointFile format:
// "<version>\n<count>\n" then count lines of fields fieldsPerLine fields.
// A missing file is an empty checkpoint.
func readCheckpointLines(fs vfs.FS, path string, fieldsPerLine int) ([][]string, error) {
	data, err := vfs.ReadFile(fs, path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) < 2 {
		return nil, fmt.Errorf("checkpoint %s: too short", path)
	}
	if v, err := strconv.Atoi(strings.TrimSpace(lines[0])); err != nil || v != checkpointVersion {
		return nil, fmt.Errorf("checkpoint %s: unsupported version %q", path, lines[0])
	}
	n, err := strconv.Atoi(strings.TrimSpace(lines[1]))
	if err != nil || n < 0 || n != len(lines)-2 {
		return nil, fmt.Errorf("checkpoint %s: expected %q entries, found %d", path, lines[1], len(lines)-2)
	}
	out := make([][]string, 0, n)
	for _, line := range lines[2:] {
		f := strings.Fields(line)
		if len(f) != fieldsPerLine {
			return nil, fmt.Errorf("checkpoint %s: malformed line %q", path, line)
		}
		out = append(out, f)
	}
	return out, nil
}

func writeCheckpointLines(fs vfs.FS, path string, lines []string) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n%d\n", checkpointVersion, len(lines))
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return vfs.WriteFileAtomic(fs, filepath.Dir(path), path, b.Bytes())
}

// ReadOffsetCheckpoint reads a "<topic> <partition> <offset>" checkpoint
// (Kafka's OffsetCheckpointFile).
func ReadOffsetCheckpoint(fs vfs.FS, path string) (map[TopicPartition]int64, error) {
	lines, err := readCheckpointLines(fs, path, 3)
	if err != nil {
		return nil, err
	}
	out := make(map[TopicPartition]int64, len(lines))
	for _, f := range lines {
		p, err1 := strconv.ParseInt(f[1], 10, 32)
		off, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("checkpoint %s: malformed line %q", path, strings.Join(f, " "))
		}
		out[TopicPartition{Topic: f[0], Partition: int32(p)}] = off
	}
	return out, nil
}

// WriteOffsetCheckpoint writes offsets atomically, sorted for stable output.
func WriteOffsetCheckpoint(fs vfs.FS, path string, offsets map[TopicPartition]int64) error {
	lines := make([]string, 0, len(offsets))
	for tp, off := range offsets {
		lines = append(lines, fmt.Sprintf("%s %d %d", tp.Topic, tp.Partition, off))
	}
	sort.Strings(lines)
	return writeCheckpointLines(fs, path, lines)
}

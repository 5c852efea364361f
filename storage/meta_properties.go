package storage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/riffle-io/riffle/storage/vfs"
)

// MetaPropertiesFile is the name of the file that marks a formatted log
// directory (Kafka's MetaPropertiesEnsemble).
const MetaPropertiesFile = "meta.properties"

// MetaProperties is the content of meta.properties (KRaft, version 1).
type MetaProperties struct {
	NodeID      int32
	ClusterID   string
	DirectoryID string
	Version     int
}

// ReadMetaProperties reads dir/meta.properties; the error wraps
// os.ErrNotExist when the directory is not formatted.
func ReadMetaProperties(dir string) (MetaProperties, error) {
	return readMetaProperties(vfs.Default, dir)
}

func readMetaProperties(fs vfs.FS, dir string) (MetaProperties, error) {
	path := filepath.Join(dir, MetaPropertiesFile)
	data, err := vfs.ReadFile(fs, path)
	if err != nil {
		return MetaProperties{}, fmt.Errorf("read %s: %w", path, err)
	}
	props := parseProperties(data)
	mp := MetaProperties{ClusterID: props["cluster.id"], DirectoryID: props["directory.id"]}
	if mp.Version, err = strconv.Atoi(props["version"]); err != nil || mp.Version < 0 || mp.Version > 1 {
		return mp, fmt.Errorf("%s: unsupported version %q", path, props["version"])
	}
	idKey := "node.id"
	if mp.Version == 0 {
		idKey = "broker.id" // pre-KRaft layout
	}
	id, err := strconv.ParseInt(props[idKey], 10, 32)
	if err != nil || id < 0 {
		return mp, fmt.Errorf("%s: invalid %s %q", path, idKey, props[idKey])
	}
	mp.NodeID = int32(id)
	if mp.ClusterID == "" {
		return mp, fmt.Errorf("%s: missing cluster.id", path)
	}
	return mp, nil
}

// parseProperties reads the subset of java.util.Properties that
// meta.properties uses: key=value lines, # and ! comments.
func parseProperties(data []byte) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			k, v, _ = strings.Cut(line, ":")
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out
}

func writeMetaProperties(fs vfs.FS, dir string, mp MetaProperties) error {
	var b bytes.Buffer
	// Kafka writes through java.util.Properties.store: a comment line and
	// a date line first.
	fmt.Fprintf(&b, "#\n#%s\n", time.Now().UTC().Format("Mon Jan 02 15:04:05 MST 2006"))
	fmt.Fprintf(&b, "node.id=%d\n", mp.NodeID)
	if mp.DirectoryID != "" {
		fmt.Fprintf(&b, "directory.id=%s\n", mp.DirectoryID)
	}
	fmt.Fprintf(&b, "version=%d\n", mp.Version)
	fmt.Fprintf(&b, "cluster.id=%s\n", mp.ClusterID)
	return vfs.WriteFileAtomic(fs, dir, filepath.Join(dir, MetaPropertiesFile), b.Bytes())
}

// FormatLogDirs formats each directory for clusterID and nodeID, like
// kafka-storage.sh format --ignore-formatted: a directory already formatted
// for the same cluster and node is left alone, one formatted for another
// is an error.
func FormatLogDirs(dirs []string, clusterID string, nodeID int32) error {
	// kafka-storage.sh refuses cluster ids that are not Kafka Uuids.
	if _, err := ParseUUID(clusterID); err != nil {
		return fmt.Errorf("format: cluster id: %w", err)
	}
	return formatLogDirs(vfs.Default, dirs, clusterID, nodeID)
}

func formatLogDirs(fs vfs.FS, dirs []string, clusterID string, nodeID int32) error {
	for _, dir := range dirs {
		if err := fs.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		mp, err := readMetaProperties(fs, dir)
		switch {
		case errors.Is(err, os.ErrNotExist):
			if err := writeMetaProperties(fs, dir, MetaProperties{NodeID: nodeID, ClusterID: clusterID,
				DirectoryID: UUIDString(randomUUID()), Version: 1}); err != nil {
				return err
			}
		case err != nil:
			return err
		case mp.ClusterID != clusterID:
			return fmt.Errorf("format %s: already formatted for cluster %s, not %s", dir, mp.ClusterID, clusterID)
		case mp.NodeID != nodeID:
			return fmt.Errorf("format %s: already formatted for node %d, not %d", dir, mp.NodeID, nodeID)
		}
	}
	return nil
}

// EnsureFormatted prepares dirs at startup. On first start every empty
// directory is formatted with a newly generated cluster id; later, the
// cluster id is read back. Directories formatted for another node, or
// formatted for different clusters, are an error. A directory added later
// is formatted with the existing cluster id.
func EnsureFormatted(dirs []string, nodeID int32) (clusterID string, err error) {
	return ensureFormatted(vfs.Default, dirs, nodeID)
}

func ensureFormatted(fs vfs.FS, dirs []string, nodeID int32) (string, error) {
	if len(dirs) == 0 {
		return "", errors.New("no log directories")
	}
	var clusterID string
	for _, dir := range dirs {
		if err := fs.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		mp, err := readMetaProperties(fs, dir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		if mp.NodeID != nodeID {
			return "", fmt.Errorf("log dir %s belongs to node %d, this is node %d", dir, mp.NodeID, nodeID)
		}
		if clusterID != "" && mp.ClusterID != clusterID {
			return "", fmt.Errorf("log dir %s belongs to cluster %s, other dirs to %s", dir, mp.ClusterID, clusterID)
		}
		clusterID = mp.ClusterID
	}
	if clusterID == "" {
		clusterID = NewClusterID()
	}
	if err := formatLogDirs(fs, dirs, clusterID, nodeID); err != nil {
		return "", err
	}
	return clusterID, nil
}

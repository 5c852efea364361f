package storage

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/riffle-io/riffle/storage/vfs"
)

// UUIDString renders a 16-byte id as Kafka's Uuid.toString does: URL-safe
// base64 without padding (22 characters).
func UUIDString(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// ParseUUID is Kafka's Uuid.fromString.
func ParseUUID(s string) ([16]byte, error) {
	var id [16]byte
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 16 {
		return id, fmt.Errorf("invalid uuid %q", s)
	}
	copy(id[:], b)
	return id, nil
}

// randomUUID is Kafka's Uuid.randomUuid: never zero, never the metadata
// topic's id (1), never rendering with a leading '-' (that would read as a
// command-line flag).
func randomUUID() [16]byte {
	for {
		var id [16]byte
		_, _ = rand.Read(id[:])   // crypto/rand.Read never fails (Go 1.24+)
		id[6] = id[6]&0x0f | 0x40 // version 4, like java.util.UUID.randomUUID
		id[8] = id[8]&0x3f | 0x80
		if id != ([16]byte{}) && id != ([16]byte{15: 1}) && !strings.HasPrefix(UUIDString(id), "-") {
			return id
		}
	}
}

// NewClusterID returns a fresh cluster id, as kafka-storage.sh random-uuid.
func NewClusterID() string { return UUIDString(randomUUID()) }

// readPartitionMetadata reads partition.metadata; ok is false when absent.
func readPartitionMetadata(fs vfs.FS, dir string) (id [16]byte, ok bool, err error) {
	data, err := vfs.ReadFile(fs, filepath.Join(dir, PartitionMetadataFile))
	if os.IsNotExist(err) {
		return id, false, nil
	}
	if err != nil {
		return id, false, err
	}
	var version, topicID string
	for _, line := range strings.Split(string(data), "\n") {
		k, v, found := strings.Cut(line, ":")
		if !found {
			continue
		}
		switch strings.TrimSpace(k) {
		case "version":
			version = strings.TrimSpace(v)
		case "topic_id":
			topicID = strings.TrimSpace(v)
		}
	}
	if version != "0" {
		return id, false, fmt.Errorf("%s: unsupported version %q", PartitionMetadataFile, version)
	}
	id, err = ParseUUID(topicID)
	if err != nil {
		return id, false, fmt.Errorf("%s: %w", PartitionMetadataFile, err)
	}
	return id, true, nil
}

// writePartitionMetadata writes Kafka's PartitionMetadataFile.
func writePartitionMetadata(fs vfs.FS, dir string, id [16]byte) error {
	data := fmt.Sprintf("version: 0\ntopic_id: %s\n", UUIDString(id))
	return vfs.WriteFileAtomic(fs, dir, filepath.Join(dir, PartitionMetadataFile), []byte(data))
}

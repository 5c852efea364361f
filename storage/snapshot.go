package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/riffle-io/riffle/storage/vfs"
)

// Producer state snapshots use Kafka's ProducerStateManager format
// (version 1), so a Kafka broker can read ours and we can read Kafka's.
const (
	producerSnapshotVersion   = 1
	producerSnapshotEntrySize = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8
	producerSnapshotHeader    = 2 + 4 + 4 // version, crc, entry count
	snapshotsToKeep           = 3
)

var (
	crc32c = crc32.MakeTable(crc32.Castagnoli)

	errCorruptSnapshot = errors.New("corrupt producer snapshot")
)

func snapshotPath(dir string, offset int64) string {
	return filepath.Join(dir, filenamePrefixFromOffset(offset)+snapshotFileSuffix)
}

// encodeProducerSnapshot serialises the producer table. Like Kafka, only
// the last batch of each producer is kept, so after a restart only a retry
// of a producer's last batch is recognised as a duplicate.
func encodeProducerSnapshot(producers map[int64]*ProducerEntry) []byte {
	ids := make([]int64, 0, len(producers))
	for id := range producers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	buf := make([]byte, producerSnapshotHeader, producerSnapshotHeader+len(ids)*producerSnapshotEntrySize)
	binary.BigEndian.PutUint16(buf[0:], producerSnapshotVersion)
	binary.BigEndian.PutUint32(buf[6:], uint32(len(ids)))
	for _, id := range ids {
		e := producers[id]
		lastSeq, lastOffset, offsetDelta, ts := int32(-1), int64(-1), int32(0), e.LastTimestamp
		if n := len(e.Batches); n > 0 {
			b := e.Batches[n-1]
			lastSeq, lastOffset, offsetDelta = b.LastSeq, b.LastOffset, int32(b.LastOffset-b.FirstOffset)
		}
		buf = binary.BigEndian.AppendUint64(buf, uint64(id))
		buf = binary.BigEndian.AppendUint16(buf, uint16(e.ProducerEpoch))
		buf = binary.BigEndian.AppendUint32(buf, uint32(lastSeq))
		buf = binary.BigEndian.AppendUint64(buf, uint64(lastOffset))
		buf = binary.BigEndian.AppendUint32(buf, uint32(offsetDelta))
		buf = binary.BigEndian.AppendUint64(buf, uint64(ts))
		buf = binary.BigEndian.AppendUint32(buf, uint32(e.CoordinatorEpoch))
		buf = binary.BigEndian.AppendUint64(buf, uint64(e.CurrentTxnFirstOffset))
	}
	binary.BigEndian.PutUint32(buf[2:], crc32.Checksum(buf[6:], crc32c))
	return buf
}

// decodeProducerSnapshot parses a snapshot, refusing anything malformed.
func decodeProducerSnapshot(data []byte) (map[int64]*ProducerEntry, error) {
	if len(data) < producerSnapshotHeader {
		return nil, fmt.Errorf("%w: %d bytes", errCorruptSnapshot, len(data))
	}
	if v := int16(binary.BigEndian.Uint16(data)); v != producerSnapshotVersion {
		return nil, fmt.Errorf("%w: version %d", errCorruptSnapshot, v)
	}
	if want, got := binary.BigEndian.Uint32(data[2:]), crc32.Checksum(data[6:], crc32c); want != got {
		return nil, fmt.Errorf("%w: crc %08x, computed %08x", errCorruptSnapshot, want, got)
	}
	n := int64(int32(binary.BigEndian.Uint32(data[6:])))
	body := data[producerSnapshotHeader:]
	if n < 0 || n*producerSnapshotEntrySize != int64(len(body)) {
		return nil, fmt.Errorf("%w: %d entries in %d bytes", errCorruptSnapshot, n, len(body))
	}
	out := make(map[int64]*ProducerEntry, n)
	for p := 0; p < len(body); p += producerSnapshotEntrySize {
		e := body[p:]
		id := int64(binary.BigEndian.Uint64(e[0:]))
		entry := &ProducerEntry{
			ProducerID:            id,
			ProducerEpoch:         int16(binary.BigEndian.Uint16(e[8:])),
			LastTimestamp:         int64(binary.BigEndian.Uint64(e[26:])),
			CoordinatorEpoch:      int32(binary.BigEndian.Uint32(e[34:])),
			CurrentTxnFirstOffset: int64(binary.BigEndian.Uint64(e[38:])),
		}
		lastSeq := int32(binary.BigEndian.Uint32(e[10:]))
		lastOffset := int64(binary.BigEndian.Uint64(e[14:]))
		offsetDelta := int32(binary.BigEndian.Uint32(e[22:]))
		if lastOffset >= 0 && offsetDelta >= 0 {
			entry.Batches = []BatchMetadata{{
				FirstSeq: decrementSequence(lastSeq, offsetDelta), LastSeq: lastSeq,
				FirstOffset: lastOffset - int64(offsetDelta), LastOffset: lastOffset,
				Timestamp: entry.LastTimestamp,
			}}
		}
		out[id] = entry
	}
	return out, nil
}

// listSnapshots returns the offsets of the snapshot files in dir, ascending.
func listSnapshots(fs vfs.FS, dir string) ([]int64, error) {
	entries, err := fs.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var offs []int64
	for _, de := range entries {
		if off, ok := offsetFromFileName(de.Name(), snapshotFileSuffix); ok && !de.IsDir() {
			offs = append(offs, off)
		}
	}
	sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
	return offs, nil
}

// writeProducerSnapshot writes the snapshot at offset and keeps only the
// most recent few. Without sync the file is written and renamed into place
// but not fsynced: a roll leaves that to its background flush, as Kafka's
// takeSnapshot(sync=false) does. A snapshot torn by a crash fails its CRC
// and is deleted at load, and producer state is rebuilt from an older one.
func writeProducerSnapshot(fs vfs.FS, dir string, offset int64, producers map[int64]*ProducerEntry, sync bool) error {
	path, data := snapshotPath(dir, offset), encodeProducerSnapshot(producers)
	if sync {
		if err := vfs.WriteFileAtomic(fs, dir, path, data); err != nil {
			return err
		}
	} else if err := writeFileNoSync(fs, path, data); err != nil {
		return err
	}
	offs, err := listSnapshots(fs, dir)
	if err != nil {
		return err
	}
	for len(offs) > snapshotsToKeep {
		if err := fs.Remove(snapshotPath(dir, offs[0])); err != nil && !os.IsNotExist(err) {
			return err
		}
		offs = offs[1:]
	}
	return nil
}

// writeFileNoSync writes data to name through a temporary file renamed over
// it, without fsyncs.
func writeFileNoSync(fs vfs.FS, name string, data []byte) error {
	tmp := name + ".tmp"
	f, err := fs.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return fs.Rename(tmp, name)
}

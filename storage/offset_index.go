package storage

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"sort"
	"sync"

	"github.com/riffle-io/riffle/storage/vfs"
)

const offsetIndexEntrySize = 8

// offsetIndex is Kafka's OffsetIndex: a sparse map from offset to the file
// position of the batch ending at that offset. Entries live in memory and
// are appended to the .index file; the file is derived data that recovery
// rebuilds.
type offsetIndex struct {
	path       string
	file       vfs.File
	baseOffset int64
	maxEntries int
	// mu guards entries: the writer (holding Log.appendMu) mutates them,
	// readers look them up concurrently.
	mu      sync.RWMutex
	entries []packedOffsetEntry // relative, as on disk: 8 bytes per entry in memory too
}

type packedOffsetEntry struct{ rel, pos uint32 }

func (x *offsetIndex) entry(i int) offsetEntry {
	e := x.entries[i]
	return offsetEntry{offset: x.baseOffset + int64(e.rel), position: int64(e.pos)}
}

type offsetEntry struct {
	offset   int64 // absolute
	position int64
}

// openOffsetIndex loads path (creating it when absent). A file whose size
// is not a whole number of entries is reported as inconsistent through
// ok=false so the caller rebuilds it.
func openOffsetIndex(fs vfs.FS, path string, baseOffset int64, maxIndexBytes int) (idx *offsetIndex, ok bool, err error) {
	data, err := vfs.ReadFile(fs, path)
	if err != nil && !os.IsNotExist(err) {
		return nil, false, err
	}
	existed := err == nil
	f, err := fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, false, err
	}
	idx = &offsetIndex{path: path, file: f, baseOffset: baseOffset, maxEntries: maxIndexBytes / offsetIndexEntrySize}
	if len(data)%offsetIndexEntrySize != 0 {
		return idx, false, nil
	}
	idx.entries = make([]packedOffsetEntry, 0, len(data)/offsetIndexEntrySize)
	for p := 0; p+offsetIndexEntrySize <= len(data); p += offsetIndexEntrySize {
		rel := binary.BigEndian.Uint32(data[p:])
		pos := binary.BigEndian.Uint32(data[p+4:])
		idx.entries = append(idx.entries, packedOffsetEntry{rel: rel, pos: pos})
	}
	return idx, existed, nil
}

// sanityCheck reports whether the entries are usable for a segment of
// logSize bytes whose next offset is nextOffset (Kafka's
// OffsetIndex.sanityCheck plus bounds that catch a stale index).
func (x *offsetIndex) sanityCheck(logSize, nextOffset int64) error {
	x.mu.RLock()
	defer x.mu.RUnlock()
	prev := offsetEntry{offset: x.baseOffset - 1, position: -1}
	for i := range x.entries {
		e := x.entry(i)
		if e.offset <= prev.offset || e.position <= prev.position && prev.position >= 0 || e.position >= logSize || e.offset >= nextOffset {
			return fmt.Errorf("offset index %s: bad entry %d@%d", x.path, e.offset, e.position)
		}
		prev = e
	}
	return nil
}

func (x *offsetIndex) isFull() bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.entries) >= x.maxEntries
}

// last returns the last entry, or the start of the segment.
func (x *offsetIndex) last() offsetEntry {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if len(x.entries) == 0 {
		return offsetEntry{offset: x.baseOffset, position: 0}
	}
	return x.entry(len(x.entries) - 1)
}

// append adds an entry; offsets must grow (Kafka throws otherwise, we skip).
func (x *offsetIndex) append(offset, position int64) error {
	x.mu.RLock()
	n := len(x.entries)
	stale := n > 0 && offset <= x.entry(n-1).offset
	x.mu.RUnlock()
	if stale {
		return nil
	}
	rel := offset - x.baseOffset
	if rel < 0 || rel > math.MaxInt32 || position > math.MaxInt32 {
		return nil
	}
	var buf [offsetIndexEntrySize]byte
	binary.BigEndian.PutUint32(buf[0:], uint32(rel))
	binary.BigEndian.PutUint32(buf[4:], uint32(position))
	if _, err := x.file.Write(buf[:]); err != nil {
		return err
	}
	x.mu.Lock()
	x.entries = append(x.entries, packedOffsetEntry{rel: uint32(rel), pos: uint32(position)})
	x.mu.Unlock()
	return nil
}

// lookup returns the entry with the largest offset <= target, or the start
// of the segment.
func (x *offsetIndex) lookup(target int64) offsetEntry {
	x.mu.RLock()
	defer x.mu.RUnlock()
	i := sort.Search(len(x.entries), func(i int) bool { return x.entry(i).offset > target })
	if i == 0 {
		return offsetEntry{offset: x.baseOffset, position: 0}
	}
	return x.entry(i - 1)
}

// truncateTo drops every entry with offset >= offset.
func (x *offsetIndex) truncateTo(offset int64) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	i := sort.Search(len(x.entries), func(i int) bool { return x.entry(i).offset >= offset })
	if i == len(x.entries) {
		return nil
	}
	if err := x.file.Truncate(int64(i) * offsetIndexEntrySize); err != nil {
		return err
	}
	x.entries = x.entries[:i]
	return nil
}

// reset empties the index, whatever the file held.
func (x *offsetIndex) reset() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.file.Truncate(0); err != nil {
		return err
	}
	x.entries = nil
	return nil
}

func (x *offsetIndex) sync() error  { return x.file.Sync() }
func (x *offsetIndex) close() error { return x.file.Close() }

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

// indexReadChunk is how much of an index file a full scan (sanityCheck)
// reads at a time.
const indexReadChunk = 64 << 10

// offsetIndex is Kafka's OffsetIndex: a sparse map from offset to the file
// position of the batch ending at that offset, in the .index file as
// 4-byte relative offset + 4-byte position per entry. The entries stay in
// the file: lookups binary-search it with positioned reads, which the page
// cache serves as Kafka's memory-mapped AbstractIndex is served, so the heap
// holds a few words per index however much data is retained. Only the last
// entry is kept in memory, for appends and for readers at the tail. The
// file is derived data that recovery rebuilds.
//
// Reads go through the vfs seam (unlike a memory map), so the fault tests
// reach them too.
type offsetIndex struct {
	path       string
	file       vfs.File
	baseOffset int64
	maxEntries int
	// mu guards n and lastEntry: the writer (holding Log.appendMu) appends
	// to the file and then publishes the new count; readers only read the
	// first n entries, which are never rewritten in place.
	mu        sync.RWMutex
	n         int
	id        uint64 // generation in the page cache (index_cache.go)
	lastEntry offsetEntry
}

type offsetEntry struct {
	offset   int64 // absolute
	position int64
}

// openOffsetIndex opens path (creating it when absent). A file whose size
// is not a whole number of entries, or that did not exist, is reported
// through ok=false so the caller rebuilds it.
func openOffsetIndex(fs vfs.FS, path string, baseOffset int64, maxIndexBytes int) (idx *offsetIndex, ok bool, err error) {
	_, err = fs.Stat(path)
	if err != nil && !os.IsNotExist(err) {
		return nil, false, err
	}
	existed := err == nil
	f, err := fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, false, err
	}
	idx = &offsetIndex{path: path, file: f, baseOffset: baseOffset, maxEntries: maxIndexBytes / offsetIndexEntrySize, id: indexIDs.Add(1)}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, false, err
	}
	if fi.Size()%offsetIndexEntrySize != 0 {
		return idx, false, nil
	}
	idx.n = int(fi.Size() / offsetIndexEntrySize)
	if idx.n > 0 {
		if idx.lastEntry, err = idx.readEntry(idx.n - 1); err != nil {
			f.Close()
			return nil, false, err
		}
	}
	return idx, existed, nil
}

// readEntry reads entry i from the file.
func (x *offsetIndex) readEntry(i int) (offsetEntry, error) {
	var buf [offsetIndexEntrySize]byte
	if err := readIndexEntry(x.file, x.id, x.n, i, offsetIndexEntrySize, buf[:]); err != nil {
		return offsetEntry{}, fmt.Errorf("offset index %s: entry %d: %w", x.path, i, err)
	}
	return x.decode(buf[:]), nil
}

func (x *offsetIndex) decode(b []byte) offsetEntry {
	return offsetEntry{offset: x.baseOffset + int64(binary.BigEndian.Uint32(b)), position: int64(binary.BigEndian.Uint32(b[4:]))}
}

// search returns the number of the first n entries for which pred fails
// before it holds (pred must be monotonic), reading entries from the
// file. mu held.
func (x *offsetIndex) search(n int, pred func(offsetEntry) bool) (int, error) {
	var rerr error
	i := sort.Search(n, func(i int) bool {
		if rerr != nil {
			return true
		}
		e, err := x.readEntry(i)
		if err != nil {
			rerr = err
			return true
		}
		return pred(e)
	})
	return i, rerr
}

// sanityCheck reports whether the entries are usable for a segment of
// logSize bytes whose next offset is nextOffset (Kafka's
// OffsetIndex.sanityCheck plus bounds that catch a stale index). It reads
// the file in chunks.
func (x *offsetIndex) sanityCheck(logSize, nextOffset int64) error {
	x.mu.RLock()
	defer x.mu.RUnlock()
	prev := offsetEntry{offset: x.baseOffset - 1, position: -1}
	buf := make([]byte, indexReadChunk)
	for i := 0; i < x.n; {
		k := min(x.n-i, len(buf)/offsetIndexEntrySize)
		chunk := buf[:k*offsetIndexEntrySize]
		if _, err := x.file.ReadAt(chunk, int64(i)*offsetIndexEntrySize); err != nil {
			return fmt.Errorf("offset index %s: %w", x.path, err)
		}
		for p := 0; p < len(chunk); p += offsetIndexEntrySize {
			e := x.decode(chunk[p:])
			if e.offset <= prev.offset || e.position <= prev.position && prev.position >= 0 || e.position >= logSize || e.offset >= nextOffset {
				return fmt.Errorf("offset index %s: bad entry %d@%d", x.path, e.offset, e.position)
			}
			prev = e
		}
		i += k
	}
	return nil
}

func (x *offsetIndex) isFull() bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.n >= x.maxEntries
}

// last returns the last entry, or the start of the segment.
func (x *offsetIndex) last() offsetEntry {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.n == 0 {
		return offsetEntry{offset: x.baseOffset, position: 0}
	}
	return x.lastEntry
}

// append adds an entry; offsets must grow (Kafka throws otherwise, we skip).
// Only the appender calls it, so n cannot change underneath it.
func (x *offsetIndex) append(offset, position int64) error {
	x.mu.RLock()
	stale := x.n > 0 && offset <= x.lastEntry.offset
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
	x.n++
	x.lastEntry = offsetEntry{offset: offset, position: position}
	x.mu.Unlock()
	return nil
}

// lookup returns the entry with the largest offset <= target, or the start
// of the segment. A reader at the tail is answered from memory; others
// binary-search the file. A failed read answers the start of the segment,
// which is always correct, only slower to scan from.
func (x *offsetIndex) lookup(target int64) offsetEntry {
	x.mu.RLock()
	defer x.mu.RUnlock()
	start := offsetEntry{offset: x.baseOffset, position: 0}
	if x.n == 0 {
		return start
	}
	if target >= x.lastEntry.offset {
		return x.lastEntry
	}
	i, err := x.search(x.n-1, func(e offsetEntry) bool { return e.offset > target })
	if err != nil || i == 0 {
		return start
	}
	e, err := x.readEntry(i - 1)
	if err != nil {
		return start
	}
	return e
}

// truncateTo drops every entry with offset >= offset.
func (x *offsetIndex) truncateTo(offset int64) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.n == 0 || x.lastEntry.offset < offset {
		return nil
	}
	i, err := x.search(x.n, func(e offsetEntry) bool { return e.offset >= offset })
	if err != nil {
		return err
	}
	var last offsetEntry
	if i > 0 {
		if last, err = x.readEntry(i - 1); err != nil {
			return err
		}
	}
	if err := x.file.Truncate(int64(i) * offsetIndexEntrySize); err != nil {
		return err
	}
	x.n, x.lastEntry, x.id = i, last, indexIDs.Add(1)
	return nil
}

// reset empties the index, whatever the file held.
func (x *offsetIndex) reset() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.file.Truncate(0); err != nil {
		return err
	}
	x.n, x.lastEntry, x.id = 0, offsetEntry{}, indexIDs.Add(1)
	return nil
}

func (x *offsetIndex) sync() error  { return x.file.Sync() }
func (x *offsetIndex) close() error { return x.file.Close() }

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

const timeIndexEntrySize = 12

// timeIndex is Kafka's TimeIndex: a sparse map from the largest timestamp
// seen so far to the last offset of the batch carrying it, in the
// .timeindex file as 8-byte timestamp + 4-byte relative offset per entry.
// Timestamps in the index never decrease. Like offsetIndex, the entries
// stay in the file and only the last one is kept in memory.
type timeIndex struct {
	path       string
	file       vfs.File
	baseOffset int64
	maxEntries int
	// mu guards n and lastEntry, as in offsetIndex.
	mu        sync.RWMutex
	n         int
	id        uint64 // generation in the page cache (index_cache.go)
	lastEntry timeEntry
}

type timeEntry struct {
	timestamp int64
	offset    int64 // absolute
}

func openTimeIndex(fs vfs.FS, path string, baseOffset int64, maxIndexBytes int) (idx *timeIndex, ok bool, err error) {
	_, err = fs.Stat(path)
	if err != nil && !os.IsNotExist(err) {
		return nil, false, err
	}
	existed := err == nil
	f, err := fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, false, err
	}
	idx = &timeIndex{path: path, file: f, baseOffset: baseOffset, maxEntries: maxIndexBytes / timeIndexEntrySize, id: indexIDs.Add(1)}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, false, err
	}
	if fi.Size()%timeIndexEntrySize != 0 {
		return idx, false, nil
	}
	idx.n = int(fi.Size() / timeIndexEntrySize)
	if idx.n > 0 {
		if idx.lastEntry, err = idx.readEntry(idx.n - 1); err != nil {
			f.Close()
			return nil, false, err
		}
	}
	return idx, existed, nil
}

func (x *timeIndex) readEntry(i int) (timeEntry, error) {
	var buf [timeIndexEntrySize]byte
	if err := readIndexEntry(x.file, x.id, x.n, i, timeIndexEntrySize, buf[:]); err != nil {
		return timeEntry{}, fmt.Errorf("time index %s: entry %d: %w", x.path, i, err)
	}
	return x.decode(buf[:]), nil
}

func (x *timeIndex) decode(b []byte) timeEntry {
	return timeEntry{timestamp: int64(binary.BigEndian.Uint64(b)), offset: x.baseOffset + int64(binary.BigEndian.Uint32(b[8:]))}
}

// search is offsetIndex.search for the time index. mu held.
func (x *timeIndex) search(n int, pred func(timeEntry) bool) (int, error) {
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

func (x *timeIndex) sanityCheck(nextOffset int64) error {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var prev timeEntry
	buf := make([]byte, indexReadChunk-indexReadChunk%timeIndexEntrySize)
	for i := 0; i < x.n; {
		k := min(x.n-i, len(buf)/timeIndexEntrySize)
		chunk := buf[:k*timeIndexEntrySize]
		if _, err := x.file.ReadAt(chunk, int64(i)*timeIndexEntrySize); err != nil {
			return fmt.Errorf("time index %s: %w", x.path, err)
		}
		for p := 0; p < len(chunk); p += timeIndexEntrySize {
			e := x.decode(chunk[p:])
			first := i == 0 && p == 0
			if e.offset < x.baseOffset || e.offset >= nextOffset ||
				!first && (e.timestamp < prev.timestamp || e.offset < prev.offset) {
				return fmt.Errorf("time index %s: bad entry %d@%d", x.path, e.timestamp, e.offset)
			}
			prev = e
		}
		i += k
	}
	return nil
}

func (x *timeIndex) isFull() bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.n >= x.maxEntries
}

func (x *timeIndex) last() (timeEntry, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.n == 0 {
		return timeEntry{}, false
	}
	return x.lastEntry, true
}

// maybeAppend adds an entry when timestamp is larger than the last one, as
// Kafka's TimeIndex.maybeAppend does. skipFull lets the final entry of a
// rolled segment through even when the index is full.
func (x *timeIndex) maybeAppend(timestamp, offset int64, skipFull bool) error {
	if last, ok := x.last(); ok && (timestamp <= last.timestamp || offset < last.offset) {
		return nil
	}
	if !skipFull && x.isFull() {
		return nil
	}
	rel := offset - x.baseOffset
	if rel < 0 || rel > math.MaxInt32 {
		return nil
	}
	var buf [timeIndexEntrySize]byte
	binary.BigEndian.PutUint64(buf[0:], uint64(timestamp))
	binary.BigEndian.PutUint32(buf[8:], uint32(rel))
	if _, err := x.file.Write(buf[:]); err != nil {
		return err
	}
	x.mu.Lock()
	x.n++
	x.lastEntry = timeEntry{timestamp: timestamp, offset: offset}
	x.mu.Unlock()
	return nil
}

// lookup returns the entry with the largest timestamp <= target, or the
// segment's base offset when there is none (also when the file cannot be
// read: scanning from the segment's start is always correct).
func (x *timeIndex) lookup(target int64) timeEntry {
	x.mu.RLock()
	defer x.mu.RUnlock()
	start := timeEntry{timestamp: -1, offset: x.baseOffset}
	if x.n == 0 {
		return start
	}
	if target >= x.lastEntry.timestamp {
		return x.lastEntry
	}
	i, err := x.search(x.n-1, func(e timeEntry) bool { return e.timestamp > target })
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
func (x *timeIndex) truncateTo(offset int64) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.n == 0 || x.lastEntry.offset < offset {
		return nil
	}
	i, err := x.search(x.n, func(e timeEntry) bool { return e.offset >= offset })
	if err != nil {
		return err
	}
	var last timeEntry
	if i > 0 {
		if last, err = x.readEntry(i - 1); err != nil {
			return err
		}
	}
	if err := x.file.Truncate(int64(i) * timeIndexEntrySize); err != nil {
		return err
	}
	x.n, x.lastEntry, x.id = i, last, indexIDs.Add(1)
	return nil
}

// reset empties the index, whatever the file held.
func (x *timeIndex) reset() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.file.Truncate(0); err != nil {
		return err
	}
	x.n, x.lastEntry, x.id = 0, timeEntry{}, indexIDs.Add(1)
	return nil
}

func (x *timeIndex) sync() error  { return x.file.Sync() }
func (x *timeIndex) close() error { return x.file.Close() }

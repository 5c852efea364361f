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
// seen so far to the last offset of the batch carrying it. Timestamps in
// the index never decrease.
type timeIndex struct {
	path       string
	file       vfs.File
	baseOffset int64
	maxEntries int
	// mu guards entries, as in offsetIndex.
	mu      sync.RWMutex
	entries []timeEntry
}

type timeEntry struct {
	timestamp int64
	offset    int64 // absolute
}

func openTimeIndex(fs vfs.FS, path string, baseOffset int64, maxIndexBytes int) (idx *timeIndex, ok bool, err error) {
	data, err := vfs.ReadFile(fs, path)
	if err != nil && !os.IsNotExist(err) {
		return nil, false, err
	}
	existed := err == nil
	f, err := fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, false, err
	}
	idx = &timeIndex{path: path, file: f, baseOffset: baseOffset, maxEntries: maxIndexBytes / timeIndexEntrySize}
	if len(data)%timeIndexEntrySize != 0 {
		return idx, false, nil
	}
	idx.entries = make([]timeEntry, 0, len(data)/timeIndexEntrySize)
	for p := 0; p+timeIndexEntrySize <= len(data); p += timeIndexEntrySize {
		ts := int64(binary.BigEndian.Uint64(data[p:]))
		rel := binary.BigEndian.Uint32(data[p+8:])
		idx.entries = append(idx.entries, timeEntry{timestamp: ts, offset: baseOffset + int64(rel)})
	}
	return idx, existed, nil
}

func (x *timeIndex) sanityCheck(nextOffset int64) error {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for i, e := range x.entries {
		if e.offset < x.baseOffset || e.offset >= nextOffset ||
			i > 0 && (e.timestamp < x.entries[i-1].timestamp || e.offset < x.entries[i-1].offset) {
			return fmt.Errorf("time index %s: bad entry %d@%d", x.path, e.timestamp, e.offset)
		}
	}
	return nil
}

func (x *timeIndex) isFull() bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.entries) >= x.maxEntries
}

func (x *timeIndex) last() (timeEntry, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if len(x.entries) == 0 {
		return timeEntry{}, false
	}
	return x.entries[len(x.entries)-1], true
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
	x.entries = append(x.entries, timeEntry{timestamp: timestamp, offset: offset})
	x.mu.Unlock()
	return nil
}

// lookup returns the entry with the largest timestamp <= target, or the
// segment's base offset when there is none.
func (x *timeIndex) lookup(target int64) timeEntry {
	x.mu.RLock()
	defer x.mu.RUnlock()
	i := sort.Search(len(x.entries), func(i int) bool { return x.entries[i].timestamp > target })
	if i == 0 {
		return timeEntry{timestamp: -1, offset: x.baseOffset}
	}
	return x.entries[i-1]
}

// truncateTo drops every entry with offset >= offset.
func (x *timeIndex) truncateTo(offset int64) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	i := sort.Search(len(x.entries), func(i int) bool { return x.entries[i].offset >= offset })
	if i == len(x.entries) {
		return nil
	}
	if err := x.file.Truncate(int64(i) * timeIndexEntrySize); err != nil {
		return err
	}
	x.entries = x.entries[:i]
	return nil
}

// reset empties the index, whatever the file held.
func (x *timeIndex) reset() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.file.Truncate(0); err != nil {
		return err
	}
	x.entries = nil
	return nil
}

func (x *timeIndex) sync() error  { return x.file.Sync() }
func (x *timeIndex) close() error { return x.file.Close() }

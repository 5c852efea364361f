package storage

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/riffle-io/riffle/storage/vfs"
)

// EpochEntry says that leader epoch Epoch began at StartOffset.
type EpochEntry struct {
	Epoch       int32
	StartOffset int64
}

// leaderEpochCache is Kafka's LeaderEpochFileCache, persisted to
// leader-epoch-checkpoint on every change. Guarded by Log.appendMu; the
// copy in Log.mu serves readers.
type leaderEpochCache struct {
	fs      vfs.FS
	path    string
	entries []EpochEntry
}

func loadLeaderEpochCache(fs vfs.FS, dir string) (*leaderEpochCache, error) {
	c := &leaderEpochCache{fs: fs, path: filepath.Join(dir, LeaderEpochCheckpointFile)}
	lines, err := readCheckpointLines(fs, c.path, 2)
	if err != nil {
		// Derived data: a damaged file is rebuilt from the batches' epochs
		// as the log is appended to; start empty rather than fail.
		return c, nil
	}
	for _, f := range lines {
		e, err1 := strconv.ParseInt(f[0], 10, 32)
		o, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil || e < 0 || o < 0 {
			return &leaderEpochCache{fs: fs, path: c.path}, nil
		}
		c.entries = append(c.entries, EpochEntry{Epoch: int32(e), StartOffset: o})
	}
	return c, nil
}

func (c *leaderEpochCache) persist() error {
	lines := make([]string, len(c.entries))
	for i, e := range c.entries {
		lines[i] = fmt.Sprintf("%d %d", e.Epoch, e.StartOffset)
	}
	return writeCheckpointLines(c.fs, c.path, lines)
}

func (c *leaderEpochCache) latest() (EpochEntry, bool) {
	if len(c.entries) == 0 {
		return EpochEntry{}, false
	}
	return c.entries[len(c.entries)-1], true
}

// assign records that epoch starts at startOffset when it is newer than
// the latest known epoch (Kafka only ever appends increasing epochs;
// batches of an older epoch keep the current entry). changed reports
// whether the file must be rewritten.
func (c *leaderEpochCache) assign(epoch int32, startOffset int64) (changed bool) {
	if epoch < 0 {
		return false
	}
	if last, ok := c.latest(); ok && (epoch <= last.Epoch || startOffset < last.StartOffset) {
		return false
	}
	c.entries = append(c.entries, EpochEntry{Epoch: epoch, StartOffset: startOffset})
	return true
}

// truncateFromEnd drops epochs that start at or after endOffset, after the
// log was truncated to endOffset.
func (c *leaderEpochCache) truncateFromEnd(endOffset int64) (changed bool) {
	n := len(c.entries)
	for n > 0 && c.entries[n-1].StartOffset >= endOffset {
		n--
	}
	changed = n != len(c.entries)
	c.entries = c.entries[:n]
	return changed
}

// endOffsetFor answers OffsetForLeaderEpoch (KIP-101, KIP-279) exactly as
// Kafka's LeaderEpochFileCache.endOffsetFor: for the latest epoch, the log
// end offset; otherwise the largest epoch <= requested and the start offset
// of the next epoch (the requested epoch itself when it precedes every
// entry); (-1, -1) when requested is newer than every epoch or undefined.
func (c *leaderEpochCache) endOffsetFor(requested int32, logEndOffset int64) (int32, int64) {
	if requested < 0 || len(c.entries) == 0 {
		return -1, -1
	}
	if requested == c.entries[len(c.entries)-1].Epoch {
		return requested, logEndOffset
	}
	// higher: the first entry with epoch > requested.
	higher := sort.Search(len(c.entries), func(i int) bool { return c.entries[i].Epoch > requested })
	if higher == len(c.entries) {
		return -1, -1
	}
	if higher == 0 {
		return requested, c.entries[0].StartOffset
	}
	return c.entries[higher-1].Epoch, c.entries[higher].StartOffset
}

package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/riffle-io/riffle/protocol/records"
	"github.com/riffle-io/riffle/storage/vfs"
)

var testTP = TopicPartition{Topic: "orders", Partition: 3}

// batchSpec describes a test batch: n records whose timestamps are
// ts, ts+1, ... unless tss is set.
type batchSpec struct {
	n        int
	ts       int64
	tss      []int64
	pid      int64
	epoch    int16
	seq      int32
	codec    records.Codec
	valueLen int
	attrs    int16
}

func makeBatch(t testing.TB, s batchSpec) records.Batch {
	t.Helper()
	if s.pid == 0 {
		s.pid = records.NoProducerID
		s.epoch = records.NoProducerEpoch
		s.seq = records.NoSequence
	}
	if s.tss == nil {
		for i := 0; i < s.n; i++ {
			s.tss = append(s.tss, s.ts+int64(i))
		}
	}
	if s.valueLen == 0 {
		s.valueLen = 20
	}
	base, maxTs := s.tss[0], s.tss[0]
	for _, ts := range s.tss {
		base = min(base, ts)
		maxTs = max(maxTs, ts)
	}
	recs := make([]records.Record, len(s.tss))
	for i, ts := range s.tss {
		v := make([]byte, s.valueLen)
		copy(v, fmt.Sprintf("value-%d", i))
		recs[i] = records.Record{TimestampDelta: ts - base, OffsetDelta: int32(i), Key: []byte(fmt.Sprintf("k%d", i)), Value: v}
	}
	b, err := records.Build(records.BatchHeader{
		BaseTimestamp: base, MaxTimestamp: maxTs, Attributes: s.attrs,
		ProducerID: s.pid, ProducerEpoch: s.epoch, BaseSequence: s.seq, PartitionLeaderEpoch: -1,
	}, s.codec, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func openTestLog(t testing.TB, dir string, cfg LogConfig, opts ...Option) *Log {
	t.Helper()
	l, err := OpenLog(dir, testTP, [16]byte{1, 2, 3}, cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func mustAppend(t testing.TB, l *Log, b records.Batch, now time.Time) AppendResult {
	t.Helper()
	r, err := l.AppendAsLeader(b, 5, now)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return r
}

// readAll reads the whole log and returns its batches.
func readAll(t testing.TB, l *Log) []records.Batch {
	t.Helper()
	var out []records.Batch
	off := l.LogStartOffset()
	for i := 0; off < l.LogEndOffset() && i < 100000; i++ {
		r, err := l.Read(off, 1<<20, l.LogEndOffset(), true)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		bs, err := records.Split(r.Records)
		if err != nil {
			t.Fatalf("read at %d: %d batches, %v", off, len(bs), err)
		}
		if len(bs) == 0 {
			// Only a hole at the end of the log reads as nothing: a
			// follower's truncation into a compacted batch's span.
			if next := l.nextBatchAfter(off); next >= 0 {
				t.Fatalf("read at %d: nothing, but a batch starts at %d", off, next)
			}
			break
		}
		for _, b := range bs {
			if err := b.EnsureValid(); err != nil {
				t.Fatalf("batch at %d: %v", b.BaseOffset(), err)
			}
		}
		out = append(out, bs...)
		off = bs[len(bs)-1].NextOffset()
	}
	return out
}

func segmentFiles(t testing.TB, dir, suffix string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

var t0 = time.UnixMilli(time.Now().UnixMilli())

func osFS() vfs.FS { return vfs.Default }

// nextBatchAfter returns the base offset of the first batch ending at or
// after offset, or -1.
func (l *Log) nextBatchAfter(offset int64) int64 {
	l.mu.RLock()
	views := l.viewsLocked(0)
	l.mu.RUnlock()
	found := int64(-1)
	for _, v := range views {
		_ = v.seg.walkHeaders(0, v.size, func(h batchHeader, _ int64) bool {
			if h.lastOffset() >= offset {
				found = h.baseOffset
				return false
			}
			return true
		})
		if found >= 0 {
			break
		}
	}
	return found
}

// withSyncRollFlush makes rolls flush before they return (options.syncRollFlush).
func withSyncRollFlush() Option { return func(o *options) { o.syncRollFlush = true } }

// pollUntil reports whether cond held within d, checking every millisecond.
func pollUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}

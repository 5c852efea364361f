package storage

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riffle-io/riffle/protocol/records"
	"github.com/riffle-io/riffle/storage/vfs"
)

// abandon simulates a crash: files are closed without the producer snapshot,
// final index entries and flush that Close would write.
func abandon(l *Log) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.rollFlushes.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.mu.segments {
		s.close()
	}
	l.mu.closed = true
}

// fillLog appends n idempotent batches of 2 records from producer 77.
func fillLog(t testing.TB, l *Log, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		mustAppend(t, l, makeBatch(t, batchSpec{n: 2, ts: t0.UnixMilli() + int64(i), pid: 77, seq: int32(2 * i)}), t0)
	}
}

func lastLogFile(t testing.TB, dir string) string {
	t.Helper()
	logs := segmentFiles(t, dir, ".log")
	return logs[len(logs)-1]
}

func appendToFile(t testing.TB, path string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkProducerContinues checks that producer 77's state survived: a retry
// of its last batch is a duplicate and the next sequence is accepted.
func checkProducerContinues(t testing.TB, l *Log, batches int) {
	t.Helper()
	last := int32(2 * (batches - 1))
	r, err := l.AppendAsLeader(makeBatch(t, batchSpec{n: 2, pid: 77, seq: last}), 5, t0)
	if err != nil || !r.Duplicate || r.FirstOffset != int64(last) {
		t.Fatalf("retry of last batch: %+v %v", r, err)
	}
	if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{n: 1, pid: 77, seq: last + 5}), 5, t0); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("gap after restart: %v", err)
	}
	r, err = l.AppendAsLeader(makeBatch(t, batchSpec{n: 1, pid: 77, seq: last + 2}), 5, t0)
	if err != nil || r.FirstOffset != int64(2*batches) {
		t.Fatalf("next batch after restart: %+v %v", r, err)
	}
}

func TestRecoveryAfterCrash(t *testing.T) {
	t.Parallel()
	valid := makeBatch(t, batchSpec{n: 3})
	corrupt := append(records.Batch(nil), valid...)
	corrupt[len(corrupt)-1] ^= 0xff // CRC mismatch
	tests := []struct {
		name string
		tail []byte
	}{
		{name: "clean tail", tail: nil},
		{name: "torn batch", tail: valid[:len(valid)/2]},
		{name: "torn header", tail: valid[:20]},
		{name: "garbage", tail: bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 40)},
		{name: "zeros (preallocated tail)", tail: make([]byte, 4096)},
		{name: "bad crc", tail: corrupt},
		{name: "offsets going backwards", tail: valid}, // base offset 0 < LEO
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := LogConfig{SegmentBytes: 1500, IndexIntervalBytes: 100}
			l := openTestLog(t, dir, cfg)
			fillLog(t, l, 20)
			leo, size := l.LogEndOffset(), l.Size()
			want := readAll(t, l)
			abandon(l)
			last := lastLogFile(t, dir)
			idx, err := os.ReadFile(last[:len(last)-4] + ".index")
			if err != nil {
				t.Fatal(err)
			}
			appendToFile(t, last, tc.tail)

			l2 := openTestLog(t, dir, cfg) // no clean shutdown, recovery point 0
			if l2.LogEndOffset() != leo || l2.Size() != size || fileSize(t, last) != size-sumSizesBefore(t, dir, last) {
				t.Fatalf("after recovery LEO %d size %d, want %d %d", l2.LogEndOffset(), l2.Size(), leo, size)
			}
			got := readAll(t, l2)
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("batch %d differs after recovery", i)
				}
			}
			idx2, err := os.ReadFile(last[:len(last)-4] + ".index")
			if err != nil || !bytes.Equal(idx, idx2) {
				t.Fatalf("rebuilt index differs: %x vs %x (%v)", idx2, idx, err)
			}
			checkProducerContinues(t, l2, 20)
		})
	}
}

// sumSizesBefore sums the sizes of the .log files that sort before last.
func sumSizesBefore(t testing.TB, dir, last string) int64 {
	var n int64
	for _, f := range segmentFiles(t, dir, ".log") {
		if f < last {
			n += fileSize(t, f)
		}
	}
	return n
}

// TestRecoveryCorruptMiddleRefusesLoudly: a bad batch below the recovery
// point in a segment that is not the last one is damage, not a torn tail.
// Loading must stop with an error naming the file and offset, and leave
// every file as it was.
func TestRecoveryCorruptMiddleRefusesLoudly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := LogConfig{SegmentBytes: 1500}
	l := openTestLog(t, dir, cfg)
	fillLog(t, l, 30)
	abandon(l)
	logs := segmentFiles(t, dir, ".log")
	if len(logs) < 3 {
		t.Fatalf("%d segments", len(logs))
	}
	// Flip a byte inside the second batch of the second segment.
	data, err := os.ReadFile(logs[1])
	if err != nil {
		t.Fatal(err)
	}
	b0, _, _ := records.ReadBatch(data)
	data[len(b0)+records.HeaderSize+3] ^= 1
	if err := os.WriteFile(logs[1], data, 0o644); err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int64{}
	for _, f := range logs {
		sizes[f] = fileSize(t, f)
	}
	// The recovery point lies inside the second segment, past the bad
	// batch: that batch had been flushed.
	third, _ := offsetFromFileName(filepath.Base(logs[2]), ".log")
	_, err = OpenLog(dir, testTP, [16]byte{1, 2, 3}, cfg, WithRecoveryPoint(third-1))
	if !errors.Is(err, ErrCorruptLog) {
		t.Fatalf("open: %v, want ErrCorruptLog", err)
	}
	want := fmt.Sprintf("%s: invalid batch at position %d (offset %d)", logs[1], len(b0), b0.NextOffset())
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
	for _, f := range segmentFiles(t, dir, ".log") {
		if sizes[f] != fileSize(t, f) {
			t.Fatalf("%s changed size", f)
		}
	}
	if got := len(segmentFiles(t, dir, ".log")); got != len(logs) {
		t.Fatalf("%d segments left of %d", got, len(logs))
	}
	// Repair it; now damage the first batch of the last segment. Below the
	// recovery point that is refused too; past it, it is a torn tail.
	data[len(b0)+records.HeaderSize+3] ^= 1
	if err := os.WriteFile(logs[1], data, 0o644); err != nil {
		t.Fatal(err)
	}
	last := logs[len(logs)-1]
	lastData, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	lastData[records.HeaderSize+3] ^= 1
	if err := os.WriteFile(last, lastData, 0o644); err != nil {
		t.Fatal(err)
	}
	lastBase, _ := offsetFromFileName(filepath.Base(last), ".log")
	if _, err := OpenLog(dir, testTP, [16]byte{1, 2, 3}, cfg, WithRecoveryPoint(lastBase+1)); !errors.Is(err, ErrCorruptLog) {
		t.Fatalf("open with recovery point past the damage: %v", err)
	}
	l2 := openTestLog(t, dir, cfg, WithRecoveryPoint(lastBase))
	if l2.LogEndOffset() != lastBase {
		t.Fatalf("LEO %d, want %d (torn tail cut)", l2.LogEndOffset(), lastBase)
	}
}

func TestCleanShutdownTrustsLogAndRebuildsMissingIndexes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := LogConfig{SegmentBytes: 1500, IndexIntervalBytes: 100}
	l := openTestLog(t, dir, cfg)
	fillLog(t, l, 30)
	leo := l.LogEndOffset()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	logs := segmentFiles(t, dir, ".log")
	first := logs[0][:len(logs[0])-4]
	idx, _ := os.ReadFile(first + ".index")
	tidx, _ := os.ReadFile(first + ".timeindex")
	if len(idx) == 0 || len(tidx) == 0 {
		t.Fatal("empty indexes")
	}
	os.Remove(first + ".index")
	if err := os.WriteFile(first+".timeindex", tidx[:5], 0o644); err != nil { // not a whole entry
		t.Fatal(err)
	}
	// Corrupt a record byte in the active segment: a clean shutdown means
	// the log is trusted, so the CRC is not checked.
	last := lastLogFile(t, dir)
	data, _ := os.ReadFile(last)
	data[records.HeaderSize+2] ^= 1
	os.WriteFile(last, data, 0o644)

	l2 := openTestLog(t, dir, cfg, WithCleanShutdown(true), WithRecoveryPoint(leo))
	if l2.LogEndOffset() != leo {
		t.Fatalf("LEO %d, want %d", l2.LogEndOffset(), leo)
	}
	idx2, _ := os.ReadFile(first + ".index")
	tidx2, _ := os.ReadFile(first + ".timeindex")
	if !bytes.Equal(idx, idx2) || !bytes.Equal(tidx, tidx2) {
		t.Fatalf("rebuilt indexes differ:\n%x\n%x\n%x\n%x", idx, idx2, tidx, tidx2)
	}
	// Producer state came from the snapshot taken at close.
	if _, err := os.Stat(snapshotPath(dir, leo)); err != nil {
		t.Fatal(err)
	}
	checkProducerContinues(t, l2, 30)
	abandon(l2)

	// Without the clean shutdown the corrupt batch ends the log.
	l3 := openTestLog(t, dir, cfg)
	if l3.LogEndOffset() >= leo {
		t.Fatalf("corrupt batch survived unclean recovery: LEO %d", l3.LogEndOffset())
	}
}

func TestWriteErrorTakesLogOffline(t *testing.T) {
	t.Parallel()
	for _, op := range []vfs.Op{vfs.OpWrite, vfs.OpSync} {
		dir := t.TempDir()
		efs := vfs.NewErrorFS(vfs.Default)
		cfg := LogConfig{FlushMessages: 1}
		l := openTestLog(t, dir, cfg, WithFS(efs))
		fillLog(t, l, 3)
		leo := l.LogEndOffset()
		efs.SetFail(func(o vfs.Op, name string) bool { return o == op && filepath.Ext(name) == ".log" })
		_, err := l.AppendAsLeader(makeBatch(t, batchSpec{n: 2, pid: 77, seq: 6}), 5, t0)
		if !errors.Is(err, ErrLogOffline) || !errors.Is(err, vfs.ErrInjected) {
			t.Fatalf("op %d: append error %v", op, err)
		}
		efs.SetFail(nil) // the disk heals, the log stays offline
		if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{n: 2}), 5, t0); !errors.Is(err, ErrLogOffline) {
			t.Fatalf("append after failure: %v", err)
		}
		if _, err := l.Read(0, 1000, leo, true); !errors.Is(err, ErrLogOffline) {
			t.Fatalf("read after failure: %v", err)
		}
		if err := l.Flush(); !errors.Is(err, ErrLogOffline) {
			t.Fatalf("flush after failure: %v", err)
		}
		abandon(l)
		l2 := openTestLog(t, dir, cfg)
		if op == vfs.OpWrite && l2.LogEndOffset() != leo {
			t.Fatalf("op %d: LEO %d after recovery, want %d", op, l2.LogEndOffset(), leo)
		}
		readAll(t, l2)
	}
}

func TestOpenLogTopicID(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, err := OpenLog(dir, testTP, [16]byte{9}, LogConfig{})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := OpenLog(dir, testTP, [16]byte{8}, LogConfig{}); !errors.Is(err, ErrInconsistentTopicID) {
		t.Fatalf("other topic id: %v", err)
	}
	l, err = OpenLog(dir, testTP, [16]byte{}, LogConfig{})
	if err != nil || l.TopicID() != ([16]byte{9}) {
		t.Fatalf("adopted %v %v", l, err)
	}
	l.Close()
}

// FuzzRecovery appends arbitrary bytes to a valid segment and reopens the
// log without a clean shutdown. Invariant: it never panics, and the valid
// prefix survives byte for byte.
func FuzzRecovery(f *testing.F) {
	valid := makeBatch(f, batchSpec{n: 2})
	f.Add([]byte{})
	f.Add([]byte(valid[:30]))
	f.Add([]byte(valid))
	f.Add(bytes.Repeat([]byte{0xff}, 100))
	f.Add(append(make([]byte, 8), 0, 0, 0, 49, 0, 0, 0, 0, 2))
	cfg := LogConfig{IndexIntervalBytes: 50}
	template := f.TempDir()
	l := openTestLog(f, template, cfg)
	fillLog(f, l, 4)
	leo := l.LogEndOffset()
	want := readAll(f, l)
	abandon(l)
	files, err := os.ReadDir(template)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, tail []byte) {
		checkRecoveryWithTail(t, template, files, cfg, leo, want, tail)
	})
}

func checkRecoveryWithTail(t *testing.T, template string, files []os.DirEntry, cfg LogConfig, leo int64, want []records.Batch, tail []byte) {
	{
		dir := t.TempDir()
		for _, de := range files {
			data, err := os.ReadFile(filepath.Join(template, de.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if filepath.Ext(de.Name()) == ".log" {
				data = append(data, tail...)
			}
			if err := os.WriteFile(filepath.Join(dir, de.Name()), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		l2, err := OpenLog(dir, testTP, [16]byte{}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer l2.Close()
		if l2.LogEndOffset() < leo {
			t.Fatalf("LEO %d < %d", l2.LogEndOffset(), leo)
		}
		got := readAll(t, l2)
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("batch %d changed", i)
			}
		}
		if _, err := l2.AppendAsLeader(makeBatch(t, batchSpec{n: 1}), 0, t0); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRecoveryRandomTails runs FuzzRecovery's check over a fixed set of
// pseudo-random tails, some starting with a valid next batch (which must
// then survive too).
func TestRecoveryRandomTails(t *testing.T) {
	t.Parallel()
	cfg := LogConfig{IndexIntervalBytes: 50}
	template := t.TempDir()
	l := openTestLog(t, template, cfg)
	fillLog(t, l, 4)
	leo := l.LogEndOffset()
	want := readAll(t, l)
	abandon(l)
	files, err := os.ReadDir(template)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 40; i++ {
		tail := make([]byte, rng.Intn(300))
		rng.Read(tail)
		wantLEO := leo
		if i%3 == 0 {
			b := makeBatch(t, batchSpec{n: 2})
			b.SetBaseOffset(leo)
			tail = append(append([]byte(nil), b...), tail...)
			wantLEO += 2
		}
		t.Run("", func(t *testing.T) {
			checkRecoveryWithTail(t, template, files, cfg, wantLEO, want, tail)
		})
	}
}

// TestRecoveryTornUnflushedSegmentDropsLaterOnes: rolls fsync the rolled
// segment in the background, so a crash can leave that segment torn while
// the next one already holds data. Both lie past the recovery point; as
// Kafka's LogLoader.recoverLog does, recovery truncates the torn segment
// and deletes the unflushed segments after it. The same damage below the
// recovery point is refused (TestRecoveryCorruptMiddleRefusesLoudly).
func TestRecoveryTornUnflushedSegmentDropsLaterOnes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		rpInSeg1 bool
	}{{"past the recovery point", false}, {"below the recovery point", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := LogConfig{SegmentBytes: 1500}
			l := openTestLog(t, dir, cfg)
			fillLog(t, l, 30)
			abandon(l)
			logs := segmentFiles(t, dir, ".log")
			if len(logs) < 3 {
				t.Fatalf("%d segments", len(logs))
			}
			// The second segment loses the second half of its last batch.
			data, err := os.ReadFile(logs[1])
			if err != nil {
				t.Fatal(err)
			}
			var lastStart int
			var keptEnd int64
			for rest, pos := data, 0; len(rest) > 0; {
				b, next, err := records.ReadBatch(rest)
				if err != nil {
					t.Fatal(err)
				}
				lastStart = pos
				pos += len(b)
				rest = next
			}
			b, _, _ := records.ReadBatch(data[lastStart:])
			keptEnd = b.BaseOffset()
			if err := os.Truncate(logs[1], int64(lastStart+len(b)/2)); err != nil {
				t.Fatal(err)
			}
			rp := int64(0)
			if tc.rpInSeg1 {
				rp = keptEnd + 1 // the torn batch had been flushed
			}
			l, err = OpenLog(dir, testTP, [16]byte{1, 2, 3}, cfg, WithRecoveryPoint(rp))
			if tc.rpInSeg1 {
				if !errors.Is(err, ErrCorruptLog) {
					t.Fatalf("open: %v, want ErrCorruptLog", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			t.Cleanup(func() { l.Close() })
			if l.LogEndOffset() != keptEnd || l.NumSegments() != 2 {
				t.Fatalf("log end offset %d with %d segments, want %d with 2", l.LogEndOffset(), l.NumSegments(), keptEnd)
			}
			if left := segmentFiles(t, dir, ".log"); len(left) != 2 {
				t.Fatalf("segment files left: %v", left)
			}
			if n := len(readAll(t, l)); int64(n) != keptEnd/2 {
				t.Fatalf("%d batches readable, want %d", n, keptEnd/2)
			}
			r := mustAppend(t, l, makeBatch(t, batchSpec{n: 1}), t0)
			if r.FirstOffset != keptEnd {
				t.Fatalf("append after recovery at %d, want %d", r.FirstOffset, keptEnd)
			}
		})
	}
}

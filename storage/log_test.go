package storage

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/riffle-io/riffle/protocol/records"
)

func TestAppendAssignsDenseOffsets(t *testing.T) {
	t.Parallel()
	l := openTestLog(t, t.TempDir(), LogConfig{})
	want := int64(0)
	for i := 1; i <= 5; i++ {
		r := mustAppend(t, l, makeBatch(t, batchSpec{n: i, ts: t0.UnixMilli()}), t0)
		if r.FirstOffset != want || r.LastOffset != want+int64(i)-1 || r.LogAppendTime != -1 || r.Duplicate {
			t.Fatalf("append %d: %+v, want first %d", i, r, want)
		}
		want += int64(i)
	}
	if l.LogEndOffset() != want {
		t.Fatalf("LEO %d, want %d", l.LogEndOffset(), want)
	}
	bs := readAll(t, l)
	if len(bs) != 5 || bs[0].PartitionLeaderEpoch() != 5 {
		t.Fatalf("got %d batches, epoch %d", len(bs), bs[0].PartitionLeaderEpoch())
	}
	if got := l.EpochEntries(); len(got) != 1 || got[0] != (EpochEntry{Epoch: 5, StartOffset: 0}) {
		t.Fatalf("epochs %v", got)
	}
	data, err := os.ReadFile(filepath.Join(l.Dir(), LeaderEpochCheckpointFile))
	if err != nil || string(data) != "0\n1\n5 0\n" {
		t.Fatalf("leader-epoch-checkpoint %q %v", data, err)
	}
	data, err = os.ReadFile(filepath.Join(l.Dir(), PartitionMetadataFile))
	if err != nil || string(data) != "version: 0\ntopic_id: AQIDAAAAAAAAAAAAAAAAAA\n" {
		t.Fatalf("partition.metadata %q %v", data, err)
	}
}

func TestRead(t *testing.T) {
	t.Parallel()
	l := openTestLog(t, t.TempDir(), LogConfig{IndexIntervalBytes: 1})
	var sizes []int
	for i := 0; i < 10; i++ { // 10 batches of 3 records: offsets 0..29
		b := makeBatch(t, batchSpec{n: 3, ts: t0.UnixMilli()})
		sizes = append(sizes, len(b))
		mustAppend(t, l, b, t0)
	}
	l.SetHighWatermark(21)
	sz := sizes[0]
	tests := []struct {
		name        string
		start       int64
		maxBytes    int
		maxOffset   int64
		minOne      bool
		wantBases   []int64
		wantErr     error
		wantRecords bool
	}{
		{name: "from start", start: 0, maxBytes: 1 << 20, maxOffset: 30, wantBases: []int64{0, 3, 6, 9, 12, 15, 18, 21, 24, 27}},
		{name: "mid batch starts at its base", start: 4, maxBytes: 2 * sz, maxOffset: 30, wantBases: []int64{3, 6}},
		{name: "stops before high watermark", start: 10, maxBytes: 1 << 20, maxOffset: 21, wantBases: []int64{9, 12, 15, 18}},
		{name: "batch straddling hw excluded", start: 19, maxBytes: 1 << 20, maxOffset: 20, wantBases: nil},
		{name: "maxBytes cuts at whole batch", start: 0, maxBytes: 2*sz + sz/2, maxOffset: 30, wantBases: []int64{0, 3}},
		{name: "KIP-74 first batch larger than maxBytes", start: 3, maxBytes: 10, maxOffset: 30, minOne: true, wantBases: []int64{3}},
		{name: "no minOne returns nothing", start: 3, maxBytes: 10, maxOffset: 30, wantBases: nil},
		{name: "at LEO empty", start: 30, maxBytes: 1 << 20, maxOffset: 30, wantBases: nil},
		{name: "past LEO", start: 31, maxBytes: 1 << 20, maxOffset: 30, wantErr: ErrOffsetOutOfRange},
		{name: "negative", start: -1, maxBytes: 1 << 20, maxOffset: 30, wantErr: ErrOffsetOutOfRange},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := l.Read(tc.start, tc.maxBytes, tc.maxOffset, tc.minOne)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if r.LogEndOffset != 30 || r.HighWatermark != 21 || r.LogStartOffset != 0 {
				t.Fatalf("offsets %+v", r)
			}
			bs, err := records.Split(r.Records)
			if err != nil {
				t.Fatal(err)
			}
			var bases []int64
			for _, b := range bs {
				bases = append(bases, b.BaseOffset())
			}
			if !equalInt64s(bases, tc.wantBases) {
				t.Fatalf("bases %v, want %v", bases, tc.wantBases)
			}
		})
	}
}

func equalInt64s(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRollBySizeAndReadAcrossSegments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openTestLog(t, dir, LogConfig{SegmentBytes: 1000, IndexIntervalBytes: 200})
	var total int64
	for i := 0; i < 40; i++ {
		b := makeBatch(t, batchSpec{n: 2, ts: t0.UnixMilli() + int64(i)})
		total += int64(len(b))
		mustAppend(t, l, b, t0)
	}
	logs := segmentFiles(t, dir, ".log")
	if len(logs) < 5 || len(logs) != l.NumSegments() {
		t.Fatalf("%d segment files, %d segments", len(logs), l.NumSegments())
	}
	for _, f := range logs {
		if fileSize(t, f) > 1000 {
			t.Fatalf("%s is %d bytes, above segment.bytes", f, fileSize(t, f))
		}
		if _, err := os.Stat(f[:len(f)-4] + ".txnindex"); err != nil {
			t.Fatal(err)
		}
	}
	if filepath.Base(logs[0]) != "00000000000000000000.log" {
		t.Fatalf("first segment %s", logs[0])
	}
	if l.Size() != total {
		t.Fatalf("size %d, want %d", l.Size(), total)
	}
	// Producer snapshots are taken at each roll; only the newest few stay.
	if n := len(segmentFiles(t, dir, ".snapshot")); n == 0 || n > snapshotsToKeep {
		t.Fatalf("%d snapshots", n)
	}
	// Rolls flush in the background; the recovery point follows.
	if !pollUntil(10*time.Second, func() bool { return l.RecoveryPoint() == l.activeSegment().baseOffset }) {
		t.Fatalf("recovery point %d did not advance to the last roll at %d", l.RecoveryPoint(), l.activeSegment().baseOffset)
	}
	for off := int64(0); off < 80; off++ {
		r, err := l.Read(off, 1, 80, true)
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := records.ReadBatch(r.Records)
		if err != nil || b.BaseOffset() > off || b.LastOffset() < off {
			t.Fatalf("read %d: batch %d..%d %v", off, b.BaseOffset(), b.LastOffset(), err)
		}
	}
	if got := len(readAll(t, l)); got != 40 {
		t.Fatalf("read %d batches", got)
	}
}

func TestRollByTime(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openTestLog(t, dir, LogConfig{SegmentMs: 100})
	// Kafka compares the incoming batch's timestamp with the segment's
	// first batch timestamp.
	ts := []int64{0, 50, 100, 101, 150, 250}
	for _, d := range ts {
		mustAppend(t, l, makeBatch(t, batchSpec{n: 1, ts: t0.UnixMilli() + d}), t0)
	}
	// Segments: [0,50,100] [101,150] [250]
	if got := l.NumSegments(); got != 3 {
		t.Fatalf("%d segments, want 3", got)
	}
	for _, name := range []string{"00000000000000000000.log", "00000000000000000003.log", "00000000000000000005.log"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	// An empty segment rolls on wall-clock age only once it has data.
	l2 := openTestLog(t, t.TempDir(), LogConfig{SegmentMs: 100})
	mustAppend(t, l2, makeBatch(t, batchSpec{n: 1, ts: t0.UnixMilli()}), t0.Add(time.Hour))
	if l2.NumSegments() != 1 {
		t.Fatal("rolled an empty segment")
	}
}

func TestOffsetIndexIsSparseAndCorrect(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openTestLog(t, dir, LogConfig{IndexIntervalBytes: 300})
	var positions []int64
	var pos int64
	for i := 0; i < 30; i++ {
		b := makeBatch(t, batchSpec{n: 2, ts: t0.UnixMilli() + int64(i)*10})
		positions = append(positions, pos)
		pos += int64(len(b))
		mustAppend(t, l, b, t0)
	}
	idx := segmentFiles(t, dir, ".index")[0]
	data, err := os.ReadFile(idx)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) == 0 || len(data)%8 != 0 {
		t.Fatalf("index size %d", len(data))
	}
	batchSize := positions[1]
	if n, max := len(data)/8, int(pos/300)+1; n > max || n < int(pos/(300+batchSize))-1 {
		t.Fatalf("%d index entries for %d bytes", n, pos)
	}
	for p := 0; p < len(data); p += 8 {
		rel := int64(be32(data[p:]))
		position := int64(be32(data[p+4:]))
		// The entry maps a batch's last offset to where the batch starts.
		i := rel / 2
		if rel%2 != 1 || positions[i] != position {
			t.Fatalf("entry %d→%d, batch %d starts at %d", rel, position, i, positions[i])
		}
	}
	tdata, err := os.ReadFile(segmentFiles(t, dir, ".timeindex")[0])
	if err != nil || len(tdata) == 0 || len(tdata)%12 != 0 {
		t.Fatalf("timeindex %d bytes %v", len(tdata), err)
	}
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func TestOffsetForTimestampAndMaxTimestamp(t *testing.T) {
	t.Parallel()
	l := openTestLog(t, t.TempDir(), LogConfig{SegmentMs: 1 << 40, IndexIntervalBytes: 1, SegmentBytes: 300})
	if ts, off := l.MaxTimestamp(); ts != -1 || off != -1 {
		t.Fatalf("empty log max timestamp %d@%d", ts, off)
	}
	// Offsets and timestamps:     0:100 1:105 2:103 | 3:110 4:250 5:120 | 6:130 7:140 | 8:250 (gzip)
	mustAppend(t, l, makeBatch(t, batchSpec{tss: []int64{100, 105, 103}}), t0)
	mustAppend(t, l, makeBatch(t, batchSpec{tss: []int64{110, 250, 120}}), t0)
	mustAppend(t, l, makeBatch(t, batchSpec{tss: []int64{130, 140}}), t0)
	mustAppend(t, l, makeBatch(t, batchSpec{tss: []int64{250}, codec: records.CodecGzip}), t0)
	if l.NumSegments() < 2 {
		t.Fatalf("want several segments, have %d", l.NumSegments())
	}
	tests := []struct {
		ts, wantOff, wantTs int64
		found               bool
	}{
		{ts: 0, wantOff: 0, wantTs: 100, found: true},
		{ts: 100, wantOff: 0, wantTs: 100, found: true},
		{ts: 101, wantOff: 1, wantTs: 105, found: true},
		{ts: 106, wantOff: 3, wantTs: 110, found: true},
		{ts: 111, wantOff: 4, wantTs: 250, found: true},
		{ts: 250, wantOff: 4, wantTs: 250, found: true},
		{ts: 251, wantOff: -1, wantTs: -1, found: false},
	}
	for _, tc := range tests {
		off, ts, found := l.OffsetForTimestamp(tc.ts)
		if off != tc.wantOff || ts != tc.wantTs || found != tc.found {
			t.Errorf("OffsetForTimestamp(%d) = %d@%d %v, want %d@%d %v", tc.ts, off, ts, found, tc.wantOff, tc.wantTs, tc.found)
		}
	}
	// KIP-734: the first record with the largest timestamp.
	if ts, off := l.MaxTimestamp(); ts != 250 || off != 4 {
		t.Fatalf("max timestamp %d@%d, want 250@4", ts, off)
	}
}

func TestLogAppendTime(t *testing.T) {
	t.Parallel()
	l := openTestLog(t, t.TempDir(), LogConfig{MessageTimestampLogAppendTime: true})
	mustAppend(t, l, makeBatch(t, batchSpec{n: 2, ts: 5}), t0)
	r := mustAppend(t, l, makeBatch(t, batchSpec{n: 2, ts: 7}), t0.Add(time.Second))
	if r.LogAppendTime != t0.Add(time.Second).UnixMilli() {
		t.Fatalf("log append time %d", r.LogAppendTime)
	}
	bs := readAll(t, l)
	if bs[1].TimestampType() != records.LogAppendTime || bs[1].MaxTimestamp() != r.LogAppendTime {
		t.Fatalf("stored batch type %v max %d", bs[1].TimestampType(), bs[1].MaxTimestamp())
	}
	if off, ts, ok := l.OffsetForTimestamp(t0.UnixMilli() + 1); !ok || off != 2 || ts != r.LogAppendTime {
		t.Fatalf("OffsetForTimestamp %d@%d %v", off, ts, ok)
	}
}

func TestAppendAsFollower(t *testing.T) {
	t.Parallel()
	l := openTestLog(t, t.TempDir(), LogConfig{})
	var data []byte
	for i, base := range []int64{0, 3, 10} { // a compacted gap is allowed
		b := makeBatch(t, batchSpec{n: 3, ts: int64(i)})
		b.SetBaseOffset(base)
		b.SetPartitionLeaderEpoch(int32(2 + i/2))
		data = append(data, b...)
	}
	partial := makeBatch(t, batchSpec{n: 1})
	partial.SetBaseOffset(13)
	if err := l.AppendAsFollower(append(data, partial[:30]...)); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != 13 {
		t.Fatalf("LEO %d", l.LogEndOffset())
	}
	if got := l.EpochEntries(); len(got) != 2 || got[1] != (EpochEntry{Epoch: 3, StartOffset: 10}) {
		t.Fatalf("epochs %v", got)
	}
	if e, off := l.EndOffsetForEpoch(2); e != 2 || off != 10 {
		t.Fatalf("end offset for epoch 2: %d %d", e, off)
	}
	b := makeBatch(t, batchSpec{n: 1})
	b.SetBaseOffset(12)
	if err := l.AppendAsFollower(b); !errors.Is(err, ErrUnexpectedAppendOffset) {
		t.Fatalf("overlapping append: %v", err)
	}
}

func TestTruncateTo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openTestLog(t, dir, LogConfig{SegmentBytes: 600, IndexIntervalBytes: 1})
	for i := 0; i < 20; i++ {
		b := makeBatch(t, batchSpec{n: 2, ts: int64(i)})
		if _, err := l.AppendAsLeader(b, int32(i/5), t0); err != nil {
			t.Fatal(err)
		}
	}
	l.SetHighWatermark(40)
	if err := l.TruncateTo(17); err != nil { // mid-batch: the batch 16..17 goes
		t.Fatal(err)
	}
	if l.LogEndOffset() != 16 || l.HighWatermark() != 16 {
		t.Fatalf("LEO %d HW %d", l.LogEndOffset(), l.HighWatermark())
	}
	if got := l.EpochEntries(); got[len(got)-1].StartOffset >= 16 {
		t.Fatalf("epochs %v", got)
	}
	if got := len(readAll(t, l)); got != 8 {
		t.Fatalf("%d batches", got)
	}
	r := mustAppend(t, l, makeBatch(t, batchSpec{n: 1}), t0)
	if r.FirstOffset != 16 {
		t.Fatalf("append after truncate at %d", r.FirstOffset)
	}
	if err := l.TruncateTo(0); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != 0 || l.NumSegments() != 1 || l.Size() != 0 {
		t.Fatalf("LEO %d, %d segments, size %d", l.LogEndOffset(), l.NumSegments(), l.Size())
	}
}

// TestTruncateToAtLogStart: truncating into the batch that holds the log
// start offset, or below the log start, leaves an empty log starting at the
// target (Kafka's UnifiedLog.truncateTo → truncateFullyAndStartAt), never a
// log end below the log start; the log takes appends and reloads.
func TestTruncateToAtLogStart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		deleteTo, to int64
		wantStart    int64
		restarted    bool // emptied and restarted at the target
	}{
		{name: "into the batch holding the log start", deleteTo: 17, to: 17, wantStart: 17, restarted: true},
		{name: "into the batch starting at the log start", deleteTo: 16, to: 17, wantStart: 16},
		{name: "below the log start", deleteTo: 20, to: 11, wantStart: 11, restarted: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := LogConfig{SegmentBytes: 600, IndexIntervalBytes: 1}
			l := openTestLog(t, dir, cfg)
			for i := 0; i < 20; i++ { // batches of two: 0..1, 2..3, ...
				mustAppend(t, l, makeBatch(t, batchSpec{n: 2, ts: int64(i)}), t0)
			}
			l.SetHighWatermark(40)
			if err := l.IncrementLogStartOffset(tc.deleteTo); err != nil {
				t.Fatal(err)
			}
			if err := l.TruncateTo(tc.to); err != nil {
				t.Fatal(err)
			}
			if l.LogStartOffset() != tc.wantStart || l.LogEndOffset() != tc.wantStart || l.HighWatermark() != tc.wantStart {
				t.Fatalf("log start %d, LEO %d, HW %d; want all %d", l.LogStartOffset(), l.LogEndOffset(), l.HighWatermark(), tc.wantStart)
			}
			if got := readAll(t, l); len(got) != 0 || tc.restarted && (l.NumSegments() != 1 || l.Size() != 0) {
				t.Fatalf("%d batches, %d segments, %d bytes left", len(got), l.NumSegments(), l.Size())
			}
			if r := mustAppend(t, l, makeBatch(t, batchSpec{n: 3}), t0); r.FirstOffset != tc.wantStart {
				t.Fatalf("append after truncation at %d", r.FirstOffset)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openTestLog(t, dir, cfg, WithLogStartOffset(tc.wantStart), WithHighWatermark(tc.wantStart+3))
			bs := readAll(t, l)
			if l.LogStartOffset() != tc.wantStart || l.LogEndOffset() != tc.wantStart+3 || len(bs) != 1 || bs[0].BaseOffset() != tc.wantStart {
				t.Fatalf("reloaded: log start %d, LEO %d, %d batches", l.LogStartOffset(), l.LogEndOffset(), len(bs))
			}
		})
	}
	l := openTestLog(t, t.TempDir(), LogConfig{})
	if err := l.TruncateTo(-1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("truncate to -1: %v", err)
	}
}

func TestConcurrentReadsDuringAppends(t *testing.T) {
	t.Parallel()
	l := openTestLog(t, t.TempDir(), LogConfig{SegmentBytes: 2000, IndexIntervalBytes: 100})
	const n = 300
	var wg sync.WaitGroup
	wg.Add(2)
	errc := make(chan error, 2)
	go func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{n: 2, ts: int64(i)}), 1, t0); err != nil {
				errc <- err
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < 2000; i++ {
			leo := l.LogEndOffset()
			if leo == 0 {
				continue
			}
			r, err := l.Read(leo-1, 1<<16, leo, true)
			if err != nil {
				errc <- err
				return
			}
			bs, err := records.Split(r.Records)
			if err != nil || len(bs) == 0 || bs[0].LastOffset() != leo-1 {
				errc <- errors.New("read did not return the last batch")
				return
			}
		}
	}()
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if got := len(readAll(t, l)); got != n {
		t.Fatalf("%d batches", got)
	}
}

func TestRetentionAndDeleteRecords(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openTestLog(t, dir, LogConfig{SegmentMs: 100})
	// Five segments of one batch each, timestamps 0, 200, 400, 600, 800 ms after base.
	base := t0.UnixMilli()
	for i := 0; i < 5; i++ {
		mustAppend(t, l, makeBatch(t, batchSpec{n: 2, ts: base + int64(i)*200}), t0)
	}
	if l.NumSegments() != 5 {
		t.Fatalf("%d segments", l.NumSegments())
	}
	// Nothing is deleted above the high watermark.
	if n, err := l.DeleteOldSegments(t0.Add(time.Hour), 0, -1); err != nil || n != 0 {
		t.Fatalf("deleted %d above HW: %v", n, err)
	}
	l.SetHighWatermark(l.LogEndOffset())
	now := time.UnixMilli(base + 450)
	if n, err := l.DeleteOldSegments(now, 100, -1); err != nil || n != 2 {
		t.Fatalf("retention.ms deleted %d: %v", n, err)
	}
	if l.LogStartOffset() != 4 || len(segmentFiles(t, dir, ".log")) != 3 {
		t.Fatalf("log start %d, %d files", l.LogStartOffset(), len(segmentFiles(t, dir, ".log")))
	}
	if _, err := l.Read(0, 1000, 10, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below log start: %v", err)
	}
	segSize := l.Size() / 3
	if n, err := l.DeleteOldSegments(now, -1, 2*segSize); err != nil || n != 1 {
		t.Fatalf("retention.bytes deleted %d: %v", n, err)
	}
	if err := l.IncrementLogStartOffset(l.LogEndOffset() + 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("delete records past HW: %v", err)
	}
	if err := l.IncrementLogStartOffset(9); err != nil {
		t.Fatal(err)
	}
	// The active segment stays; the log start offset is mid-segment.
	if l.LogStartOffset() != 9 || l.NumSegments() != 1 {
		t.Fatalf("log start %d, %d segments", l.LogStartOffset(), l.NumSegments())
	}
	r, err := l.Read(9, 1000, 10, true)
	if err != nil || len(r.Records) == 0 || r.LogStartOffset != 9 {
		t.Fatalf("read at log start: %+v %v", r, err)
	}
	if off, _, ok := l.OffsetForTimestamp(0); !ok || off != 9 {
		t.Fatalf("earliest by timestamp %d %v", off, ok)
	}
}

func TestTruncateFullyAndStartAt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := LogConfig{SegmentMs: 1}
	l := openTestLog(t, dir, cfg)
	for i := 0; i < 3; i++ {
		mustAppend(t, l, makeBatch(t, batchSpec{n: 2, ts: int64(i) * 10, pid: 3, seq: int32(2 * i)}), t0)
	}
	if err := l.TruncateFullyAndStartAt(100); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 100 || l.LogEndOffset() != 100 || l.NumSegments() != 1 || len(l.ProducerIDs()) != 0 {
		t.Fatalf("after: LSO %d LEO %d", l.LogStartOffset(), l.LogEndOffset())
	}
	b := makeBatch(t, batchSpec{n: 2})
	b.SetBaseOffset(100)
	if err := l.AppendAsFollower(b); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openTestLog(t, dir, cfg, WithLogStartOffset(100), WithCleanShutdown(true))
	if l2.LogStartOffset() != 100 || l2.LogEndOffset() != 102 {
		t.Fatalf("reopened: LSO %d LEO %d", l2.LogStartOffset(), l2.LogEndOffset())
	}
}

package suite

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Dataset builds perPartition records for each of partitions partitions,
// interleaved across partitions in produce order. Values are compressible
// text so that every codec actually compresses (librdkafka sends a batch
// uncompressed when compression does not help). Headers repeat a key, as
// Kafka allows, and differ per partition; they do not differ per record
// because kcat can only set headers per invocation.
func Dataset(partitions int32, perPartition int, base time.Time) []Record {
	var out []Record
	for i := 0; i < perPartition; i++ {
		for p := int32(0); p < partitions; p++ {
			n := i*int(partitions) + int(p)
			out = append(out, Record{
				Partition: p,
				Offset:    int64(i),
				Key:       []byte(fmt.Sprintf("key-p%d-%03d", p, i)),
				Value:     []byte(fmt.Sprintf("value-%d-%d %s", p, i, strings.Repeat("riffle compat payload ", 16))),
				Headers: []Header{
					{Key: "partition", Value: []byte(fmt.Sprintf("p%d", p))},
					{Key: "dup", Value: []byte("first")},
					{Key: "dup", Value: []byte("second")},
				},
				Timestamp: base.Add(time.Duration(n) * 10 * time.Millisecond),
			})
		}
	}
	return out
}

// BaseTime is a millisecond-precision timestamp safely in the past, so that
// client-set CreateTimes differ from the broker's clock.
func BaseTime() time.Time {
	return time.UnixMilli(time.Now().Add(-time.Hour).UnixMilli())
}

// Counts returns how many records of recs go to each partition.
func Counts(recs []Record) map[int32]int {
	c := map[int32]int{}
	for _, r := range recs {
		c[r.Partition]++
	}
	return c
}

func sortedPartitions(counts map[int32]int) []int32 {
	var ps []int32
	for p := range counts {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps
}

// TimeWindow bounds timestamps a client chose itself.
type TimeWindow struct{ From, To time.Time }

// Compare checks got against want record by record and returns one line per
// mismatch (at most 10). want is in produce order with Offset set to the
// expected offset; got is in partition order, each partition in offset
// order. If window is non-nil, timestamps are only required to fall inside
// it (the client could not set them).
func Compare(want, got []Record, window *TimeWindow) []string {
	var problems []string
	add := func(format string, args ...any) {
		if len(problems) < 10 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	byPart := map[int32][]Record{}
	for _, r := range want {
		byPart[r.Partition] = append(byPart[r.Partition], r)
	}
	gotPart := map[int32][]Record{}
	for _, r := range got {
		gotPart[r.Partition] = append(gotPart[r.Partition], r)
	}
	for p := range gotPart {
		if _, ok := byPart[p]; !ok {
			add("partition %d: %d unexpected records", p, len(gotPart[p]))
		}
	}
	for _, p := range sortedPartitions(Counts(want)) {
		w, g := byPart[p], gotPart[p]
		if len(g) != len(w) {
			add("partition %d: got %d records, want %d", p, len(g), len(w))
		}
		for i := 0; i < len(w) && i < len(g); i++ {
			wr, gr := w[i], g[i]
			where := fmt.Sprintf("partition %d record %d", p, i)
			if gr.Offset != wr.Offset {
				add("%s: offset %d, want %d (order or offsets wrong)", where, gr.Offset, wr.Offset)
			}
			if !bytes.Equal(gr.Key, wr.Key) {
				add("%s: key %q, want %q", where, clip(gr.Key), clip(wr.Key))
			}
			if !bytes.Equal(gr.Value, wr.Value) {
				add("%s: value %q (%d bytes), want %q (%d bytes)", where, clip(gr.Value), len(gr.Value), clip(wr.Value), len(wr.Value))
			}
			if hg, hw := headerString(gr.Headers), headerString(wr.Headers); hg != hw {
				add("%s: headers %s, want %s", where, hg, hw)
			}
			switch {
			case window != nil:
				if gr.Timestamp.Before(window.From) || gr.Timestamp.After(window.To) {
					add("%s: timestamp %s outside produce window [%s, %s]", where, ms(gr.Timestamp), ms(window.From), ms(window.To))
				}
			case !gr.Timestamp.Equal(wr.Timestamp):
				add("%s: timestamp %s, want %s", where, ms(gr.Timestamp), ms(wr.Timestamp))
			}
		}
	}
	return problems
}

func clip(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

func ms(t time.Time) string { return fmt.Sprint(t.UnixMilli()) }

func headerString(hs []Header) string {
	parts := make([]string, len(hs))
	for i, h := range hs {
		parts[i] = fmt.Sprintf("%s=%q", h.Key, h.Value)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

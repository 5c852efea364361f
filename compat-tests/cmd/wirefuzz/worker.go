package main

import (
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// stats counts cases by kind for the summary.
type stats struct {
	mu sync.Mutex
	n  map[string]int
}

func (s *stats) add(k string) {
	s.mu.Lock()
	if s.n == nil {
		s.n = map[string]int{}
	}
	s.n[k]++
	s.mu.Unlock()
}

func (s *stats) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("%d API requests, %d malformed frames, %d batches (%d corrupt, %d refused as they should be)",
		s.n["api"], s.n["frame"], s.n["batch"], s.n["corrupt"], s.n["refused"])
}

// worker owns one connection for well-formed requests and one partition of
// the batch topic, so its expected next offset needs no locking.
type worker struct {
	id        int
	addr      string
	rng       *rand.Rand
	apis      []apiRange
	flexible  []apiRange // APIs with a flexible max version
	produce   apiRange
	protected []string
	topic     string
	topicID   [16]byte
	partition int32
	next      int64 // where the next accepted batch must land
	uncertain bool  // a produce went unanswered: it may still land, so next is a floor
	timeout   time.Duration
	rep       *reporter
	stats     *stats
	c         *conn
	only      map[string]bool // case kinds to run; all when empty
	board     *board          // what every worker is waiting for
}

// board records each worker's request in flight, so an unanswered request
// is reported with what the other connections were doing at the time.
type board struct {
	mu  sync.Mutex
	cur map[int]string
	at  map[int]time.Time
}

func newBoard() *board { return &board{cur: map[int]string{}, at: map[int]time.Time{}} }

func (w *worker) busy(what string) {
	w.board.mu.Lock()
	w.board.cur[w.id], w.board.at[w.id] = what, time.Now()
	w.board.mu.Unlock()
}

// others lists the other workers' requests in flight and their age.
func (w *worker) others() string {
	w.board.mu.Lock()
	defer w.board.mu.Unlock()
	var out []string
	for id, what := range w.board.cur {
		if id != w.id {
			out = append(out, fmt.Sprintf("%s for %v", what, time.Since(w.board.at[id]).Round(100*time.Millisecond)))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

func (w *worker) conn() (*conn, error) {
	if w.c == nil {
		c, err := dial(w.addr)
		if err != nil {
			return nil, err
		}
		w.c = c
	}
	return w.c, nil
}

func (w *worker) drop() {
	if w.c != nil {
		w.c.Close()
		w.c = nil
	}
}

// run does random cases until the deadline: about half random API requests,
// a third record batches, the rest malformed frames.
func (w *worker) run(deadline time.Time) {
	defer w.drop()
	for time.Now().Before(deadline) {
		kind := "frame"
		if r := w.rng.Intn(20); r < 10 {
			kind = "api"
		} else if r < 17 {
			kind = "batch"
		}
		if len(w.only) > 0 && !w.only[kind] {
			continue
		}
		switch kind {
		case "api":
			w.apiCase()
		case "batch":
			w.batchCase()
		default:
			w.frameCase()
		}
	}
}

// produceBatch sends one batch to the worker's partition and returns the
// partition's error code and base offset.
// Kafka takes zstd only from Produce v7 (KIP-110) and answers older
// versions UNSUPPORTED_COMPRESSION_TYPE.
func (w *worker) produceBatch(b batch) (errCode int16, base int64, reqBytes []byte, err error) {
	c, err := w.conn()
	if err != nil {
		return 0, 0, nil, err
	}
	req := kmsg.NewPtrProduceRequest()
	lo := w.produce.min
	if b.codec == codecZstd {
		lo = max(lo, 7)
	}
	req.SetVersion(lo + int16(w.rng.Intn(int(w.produce.max-lo)+1)))
	req.Acks = -1
	req.TimeoutMillis = 5000
	t := kmsg.NewProduceRequestTopic()
	t.Topic, t.TopicID = w.topic, w.topicID
	p := kmsg.NewProduceRequestTopicPartition()
	p.Partition, p.Records = w.partition, b.bytes
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	reqBytes, r, err := c.roundTrip(req, w.timeout)
	if err != nil {
		return 0, 0, reqBytes, err
	}
	resp := r.(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return 0, 0, reqBytes, fmt.Errorf("%w: %d topics in a produce response to one partition", errUndecodable, len(resp.Topics))
	}
	pr := resp.Topics[0].Partitions[0]
	return pr.ErrorCode, pr.BaseOffset, reqBytes, nil
}

// batchCase produces a random batch; after a refused one, a valid batch must
// land at the next offset.
func (w *worker) batchCase() {
	now := time.Now().UnixMilli()
	var b batch
	if w.rng.Intn(30) == 0 {
		b = twoBatches(w.rng, now)
	} else {
		b = genBatch(w.rng, "", -1, now)
	}
	w.stats.add("batch")
	if !b.valid {
		w.stats.add("corrupt")
	}
	what := fmt.Sprintf("Produce %s", b.variant)
	w.busy(what)
	ec, base, reqBytes, err := w.produceBatch(b)
	ver := fmt.Sprintf("Produce v%d, ", frameVersion(reqBytes))
	if err != nil {
		w.check(err, what, reqBytes)
		w.drop()
		w.uncertain = true
		return
	}
	switch {
	case !b.valid && ec == 0:
		w.rep.report(finding{class: classCorruptAccepted, what: b.variant,
			detail: ver + fmt.Sprintf("error 0, stored at offset %d of %s[%d]", base, w.topic, w.partition), req: reqBytes})
		w.resync()
		return
	case b.valid && ec != 0:
		w.rep.report(finding{class: classValidRefused, what: b.variant, detail: ver + fmt.Sprintf("error %d for a valid batch", ec), req: reqBytes})
		return
	case b.valid:
		w.landed(b, base, reqBytes)
		return
	}
	w.stats.add("refused")
	// The refused batch must leave nothing behind.
	v := genBatch(w.rng, "valid", -1, now)
	w.busy("Produce valid after " + b.variant)
	ec, base, reqBytes, err = w.produceBatch(v)
	if err != nil {
		w.check(err, "Produce valid after "+b.variant, reqBytes)
		w.drop()
		w.uncertain = true
		return
	}
	if ec != 0 {
		w.rep.report(finding{class: classValidRefused, what: "after " + b.variant, detail: fmt.Sprintf("Produce v%d, error %d for a valid %s batch", frameVersion(reqBytes), ec, v.variant), req: reqBytes})
		return
	}
	w.landed(v, base, reqBytes)
}

func (w *worker) landed(b batch, base int64, reqBytes []byte) {
	if w.uncertain && base >= w.next {
		// An unanswered produce (already a finding) may have been appended
		// after we gave up on it; only going backwards is wrong then.
		w.uncertain, w.next = false, base
	}
	if base != w.next {
		w.rep.report(finding{class: classValidRefused, what: b.variant,
			detail: fmt.Sprintf("Produce v%d, accepted at offset %d, want %d", frameVersion(reqBytes), base, w.next), req: reqBytes})
	}
	w.next = base + int64(b.records)
}

// resync asks for the partition's end after a corrupt batch was stored.
func (w *worker) resync() {
	ends, err := listEnds(w.addr, w.topic)
	if err == nil {
		w.next = ends[w.partition]
	}
}

// frameVersion reads the API version from a request frame.
func frameVersion(b []byte) int16 {
	if len(b) < 8 {
		return -1
	}
	return int16(uint16(b[6])<<8 | uint16(b[7]))
}

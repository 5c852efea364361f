package server_test

import (
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
)

// cuttingProxy relays TCP to the broker and, a bounded number of times, cuts
// a connection right after forwarding client bytes: the request reached the
// broker but its response is lost, so the client retries a batch the broker
// already appended. That is exactly the case idempotence exists for (KIP-98).
type cuttingProxy struct {
	ln       net.Listener
	target   atomic.Value // string
	cutAfter int64
	cutsLeft atomic.Int64
	cuts     atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
}

func startCuttingProxy(t testing.TB, cutAfter int64, cuts int64) *cuttingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &cuttingProxy{ln: ln, cutAfter: cutAfter, conns: make(map[net.Conn]struct{})}
	p.cutsLeft.Store(cuts)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *cuttingProxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *cuttingProxy) track(c net.Conn, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return false
	}
	if add {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
	return true
}

func (p *cuttingProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *cuttingProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *cuttingProxy) serve(c net.Conn) {
	defer p.wg.Done()
	target, _ := p.target.Load().(string)
	up, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c, true) || !p.track(up, true) {
		c.Close()
		up.Close()
		return
	}
	defer func() {
		c.Close()
		up.Close()
		p.track(c, false)
		p.track(up, false)
	}()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		_, _ = io.Copy(c, up)
		c.Close()
		up.Close()
	}()
	buf := make([]byte, 32<<10)
	var sent int64
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := up.Write(buf[:n]); werr != nil {
				return
			}
			sent += int64(n)
			if sent >= p.cutAfter && p.cutsLeft.Add(-1) >= 0 {
				p.cuts.Add(1)
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestIdempotentProduceUnderRetries produces through a proxy that keeps
// cutting connections after requests were delivered. franz-go's default
// producer is idempotent; every record must land exactly once, in order, at
// the offset it was acknowledged with.
func TestIdempotentProduceUnderRetries(t *testing.T) {
	t.Parallel()
	const (
		parts = 4
		count = 100_000
	)
	proxy := startCuttingProxy(t, 192<<10, 30)
	tb := startBroker(t, func(c *config.Broker) {
		var err error
		c.AdvertisedListeners, err = config.ParseListeners("PLAINTEXT://127.0.0.1:" + strconv.Itoa(proxy.port()))
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
	})
	proxy.target.Store(tb.addr())
	via := "127.0.0.1:" + strconv.Itoa(proxy.port())

	adm := newAdmin(t, tb.addr())
	createTopic(t, adm, "idem-retries", parts, nil)
	base := genBase()
	cl := newClient(t, via,
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(time.Millisecond),
		kgo.ProducerBatchMaxBytes(64<<10),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
		kgo.MetadataMinAge(50*time.Millisecond),
	)
	produceGenerated(t, cl, "idem-retries", 0, count, parts, base, nil)
	cl.Close()
	if proxy.cuts.Load() == 0 {
		t.Fatalf("proxy never cut a connection; the test did not exercise retries")
	}
	t.Logf("proxy cut %d connections", proxy.cuts.Load())
	proxy.cutsLeft.Store(0)
	consumeGenerated(t, via, "idem-retries", count, parts, base)
	var total int64
	for _, o := range endOffsets(t, adm, "idem-retries") {
		total += o
	}
	if total != count {
		t.Fatalf("end offsets sum to %d, want %d: duplicates were appended", total, count)
	}
}

// makeBatch builds an uncompressed v2 record batch with one record per value.
func makeBatch(pid int64, epoch int16, seq int32, ts int64, values ...string) []byte {
	var recs []byte
	for j, v := range values {
		r := kmsg.Record{TimestampDelta64: int64(j), OffsetDelta: int32(j), Value: []byte(v)}
		r.Length = int32(len(r.AppendTo(nil)) - 1) // everything after the 1-byte zero length
		recs = r.AppendTo(recs)
	}
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1,
		Magic:                2,
		LastOffsetDelta:      int32(len(values) - 1),
		FirstTimestamp:       ts,
		MaxTimestamp:         ts + int64(len(values)-1),
		ProducerID:           pid,
		ProducerEpoch:        epoch,
		FirstSequence:        seq,
		NumRecords:           int32(len(values)),
		Records:              recs,
	}
	b.Length = int32(len(b.AppendTo(nil)) - 12) // after FirstOffset and Length
	return fixCRC(b.AppendTo(nil))
}

// fixCRC recomputes the CRC-32C over everything after the CRC field.
func fixCRC(batch []byte) []byte {
	crc := crc32.Checksum(batch[21:], crc32.MakeTable(crc32.Castagnoli))
	batch[17], batch[18], batch[19], batch[20] = byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc)
	return batch
}

// rawProducer issues Produce and InitProducerId over a raw connection at the
// newest version both sides know (Produce v13+ addresses topics by ID).
type rawProducer struct {
	t       testing.TB
	rc      *rawConn
	topic   string
	topicID [16]byte
	produce int16
}

func newRawProducer(t testing.TB, addr, topic string, topicID [16]byte) *rawProducer {
	rc := dialRaw(t, addr)
	vs := rc.versions()
	pv, ok := vs[0]
	if !ok {
		t.Fatalf("broker does not advertise Produce")
	}
	return &rawProducer{t: t, rc: rc, topic: topic, topicID: topicID, produce: min(pv[1], kmsg.NewPtrProduceRequest().MaxVersion())}
}

func (rp *rawProducer) send(partition int32, batch []byte) kmsg.ProduceResponseTopicPartition {
	rp.t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Version = rp.produce
	req.Acks = -1
	req.TimeoutMillis = 10000
	topic := kmsg.NewProduceRequestTopic()
	topic.Topic = rp.topic
	topic.TopicID = rp.topicID
	part := kmsg.NewProduceRequestTopicPartition()
	part.Partition = partition
	part.Records = batch
	topic.Partitions = append(topic.Partitions, part)
	req.Topics = append(req.Topics, topic)
	resp := rp.rc.roundTrip(req).(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		rp.t.Fatalf("produce v%d response has %d topics, want 1 topic with 1 partition: %+v", rp.produce, len(resp.Topics), resp)
	}
	return resp.Topics[0].Partitions[0]
}

func (rp *rawProducer) initProducerID() (int64, int16) {
	rp.t.Helper()
	req := rp.rc.maxVersion(kmsg.NewPtrInitProducerIDRequest()).(*kmsg.InitProducerIDRequest)
	req.TransactionTimeoutMillis = 60000
	resp := rp.rc.roundTrip(req).(*kmsg.InitProducerIDResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		rp.t.Fatalf("InitProducerId: %v", err)
	}
	if resp.ProducerID < 0 || resp.ProducerEpoch < 0 {
		rp.t.Fatalf("InitProducerId returned producer %d epoch %d", resp.ProducerID, resp.ProducerEpoch)
	}
	return resp.ProducerID, resp.ProducerEpoch
}

// TestIdempotentSequenceRules drives the broker's producer-state checks with
// hand-built batches, as Kafka's ProducerStateManager defines them.
func TestIdempotentSequenceRules(t *testing.T) {
	t.Parallel()
	tb := startBroker(t)
	adm := newAdmin(t, tb.addr())
	created := createTopic(t, adm, "idem-seq", 1, nil)
	rp := newRawProducer(t, tb.addr(), "idem-seq", created.ID)
	pid, epoch := rp.initProducerID()
	ts := time.Now().UnixMilli()

	var want []string // values expected in the log, in order
	batch := func(e int16, seq int32, tag string) ([]byte, []string) {
		vals := []string{tag + "-0", tag + "-1", tag + "-2"}
		return makeBatch(pid, e, seq, ts, vals...), vals
	}
	expect := func(what string, r kmsg.ProduceResponseTopicPartition, code int16, base int64) {
		t.Helper()
		if r.ErrorCode != code {
			t.Fatalf("%s: error %v, want %v", what, kerr.ErrorForCode(r.ErrorCode), kerr.ErrorForCode(code))
		}
		if code == 0 && r.BaseOffset != base {
			t.Fatalf("%s: base offset %d, want %d", what, r.BaseOffset, base)
		}
	}

	// Six batches of three records: sequences 0, 3, …, 15 at offsets 0, 3, …, 15.
	sent := make([][]byte, 6)
	for k := range sent {
		b, vals := batch(epoch, int32(3*k), "b"+strconv.Itoa(k))
		sent[k] = b
		expect(fmt.Sprintf("batch %d", k), rp.send(0, b), 0, int64(3*k))
		want = append(want, vals...)
	}

	// A retry of any of the last five batches is acknowledged with the
	// original base offset and appends nothing (Kafka's findDuplicateBatch).
	expect("duplicate of batch 3", rp.send(0, sent[3]), 0, 9)
	expect("duplicate of batch 5", rp.send(0, sent[5]), 0, 15)
	expect("duplicate of batch 1", rp.send(0, sent[1]), 0, 3)

	// Batch 0 has left the five-batch window: its sequence is simply out of order.
	expect("batch older than the window", rp.send(0, sent[0]), int16(kerr.OutOfOrderSequenceNumber.Code), 0)

	// A gap (expected 18, sent 21) is refused.
	gap, _ := batch(epoch, 21, "gap")
	expect("sequence gap", rp.send(0, gap), int16(kerr.OutOfOrderSequenceNumber.Code), 0)

	next, vals := batch(epoch, 18, "b6")
	expect("next in sequence", rp.send(0, next), 0, 18)
	want = append(want, vals...)

	// A new epoch must start at sequence 0.
	bad, _ := batch(epoch+1, 5, "bad-epoch-start")
	expect("new epoch not at sequence 0", rp.send(0, bad), int16(kerr.OutOfOrderSequenceNumber.Code), 0)
	bumped, vals := batch(epoch+1, 0, "e1")
	expect("new epoch at sequence 0", rp.send(0, bumped), 0, 21)
	want = append(want, vals...)

	// The old epoch is now fenced (Kafka ≥ 2.7 answers INVALID_PRODUCER_EPOCH).
	old, _ := batch(epoch, 21, "old-epoch")
	expect("old epoch", rp.send(0, old), int16(kerr.InvalidProducerEpoch.Code), 0)

	// Non-transactional producers get a fresh producer ID from InitProducerId.
	if pid2, _ := rp.initProducerID(); pid2 == pid {
		t.Fatalf("second InitProducerId returned the same producer ID %d", pid)
	}

	if hw := endOffsets(t, adm, "idem-seq")[0]; hw != int64(len(want)) {
		t.Fatalf("high watermark %d, want %d", hw, len(want))
	}
	got := readPartition(t, tb.addr(), "idem-seq", 0, len(want))
	for k, r := range got {
		if string(r.Value) != want[k] || r.Offset != int64(k) {
			t.Fatalf("offset %d: value %q at offset %d, want %q", k, r.Value, r.Offset, want[k])
		}
		if r.ProducerID != pid {
			t.Fatalf("offset %d: producer ID %d, want %d", k, r.ProducerID, pid)
		}
	}
}

// readPartition reads exactly n records from partition p starting at 0 and
// checks nothing lies beyond them.
func readPartition(t testing.TB, addr, topic string, p int32, n int) []*kgo.Record {
	t.Helper()
	cl := newClient(t, addr,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().At(0)}}),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	defer cl.Close()
	ctx := ctxFor(t, readTimeout)
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s/%d: read %d of %d records before the deadline", topic, p, len(out), n)
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s/%d: %v", topic, p, err)
		})
		out = append(out, fs.Records()...)
	}
	if len(out) != n {
		t.Fatalf("%s/%d: read %d records, want %d", topic, p, len(out), n)
	}
	return out
}

// TestPipelinedProduceOrder sends many Produce requests on one connection
// without waiting for answers, as every client with more than one request in
// flight does. Kafka handles a connection's requests one at a time, in order:
// appends must follow request order, and responses must come back in order.
func TestPipelinedProduceOrder(t *testing.T) {
	t.Parallel()
	const n = 200
	tb := startBroker(t)
	adm := newAdmin(t, tb.addr())
	created := createTopic(t, adm, "pipelined", 1, nil)
	for _, idempotent := range []bool{false, true} {
		rp := newRawProducer(t, tb.addr(), "pipelined", created.ID)
		pid, epoch := int64(-1), int16(-1)
		if idempotent {
			pid, epoch = rp.initProducerID()
		}
		start := endOffsets(t, adm, "pipelined")[0]
		var wire []byte
		reqs := make([]*kmsg.ProduceRequest, n)
		for k := range n {
			seq := int32(-1)
			if idempotent {
				seq = int32(2 * k)
			}
			req := kmsg.NewPtrProduceRequest()
			req.Version = rp.produce
			req.Acks = -1
			req.TimeoutMillis = 10000
			topic := kmsg.NewProduceRequestTopic()
			topic.Topic, topic.TopicID = "pipelined", created.ID
			part := kmsg.NewProduceRequestTopicPartition()
			part.Records = makeBatch(pid, epoch, seq, time.Now().UnixMilli(),
				fmt.Sprintf("%v-%d-a", idempotent, k), fmt.Sprintf("%v-%d-b", idempotent, k))
			topic.Partitions = []kmsg.ProduceRequestTopicPartition{part}
			req.Topics = []kmsg.ProduceRequestTopic{topic}
			reqs[k] = req
			rp.rc.corr++
			// AppendRequest writes the size at dst[0:4], so frame each alone.
			wire = append(wire, formatter.AppendRequest(nil, req, rp.rc.corr)...)
		}
		first := rp.rc.corr - n + 1
		if err := rp.rc.write(wire); err != nil {
			t.Fatalf("write pipelined requests: %v", err)
		}
		for k := range n {
			f, err := rp.rc.readFrame(requestTimeout)
			if err != nil {
				t.Fatalf("idempotent=%v: response %d: %v", idempotent, k, err)
			}
			body, err := responseBody(f, first+int32(k), reqs[k].IsFlexible())
			if err != nil {
				t.Fatalf("idempotent=%v: response %d: %v (responses must keep request order)", idempotent, k, err)
			}
			resp := reqs[k].ResponseKind().(*kmsg.ProduceResponse)
			resp.Version = reqs[k].Version
			if err := resp.ReadFrom(body); err != nil {
				t.Fatalf("decode response %d: %v", k, err)
			}
			p := resp.Topics[0].Partitions[0]
			if p.ErrorCode != 0 || p.BaseOffset != start+int64(2*k) {
				t.Fatalf("idempotent=%v: pipelined request %d: error %v, base offset %d, want offset %d",
					idempotent, k, kerr.ErrorForCode(p.ErrorCode), p.BaseOffset, start+int64(2*k))
			}
		}
	}
	recs := readPartition(t, tb.addr(), "pipelined", 0, 4*n)
	for k, r := range recs {
		half := k / (2 * n)
		want := fmt.Sprintf("%v-%d-%c", half == 1, (k%(2*n))/2, 'a'+k%2)
		if string(r.Value) != want {
			t.Fatalf("offset %d: %q, want %q", r.Offset, r.Value, want)
		}
	}
}

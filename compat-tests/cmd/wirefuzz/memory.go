package main

// Memory mode: many connections pipeline fetches and produces and never read
// a response, others send frames whose first array claims 2^31-1 elements,
// while a well-behaved producer and consumer must keep being served within
// the timeout and the broker's RSS must stay under the bound.

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	memoryTopic = "wirefuzz-memory"
	probeTopic  = "wirefuzz-memory-probe"
)

func memory(o options, rep *reporter) error {
	ctx := context.Background()
	apis, err := apiVersions(o.brokers)
	if err != nil {
		return err
	}
	adm, err := newAdmin(o.brokers)
	if err != nil {
		return err
	}
	defer adm.close()
	ids, err := adm.ensureTopics(ctx, map[string]int32{memoryTopic: 1, probeTopic: 1})
	if err != nil {
		return err
	}
	if err := fillMemoryTopic(o.brokers); err != nil {
		return err
	}
	// The well-behaved client starts (metadata, producer id, first fetch)
	// before the flood: what is measured is serving it, not its start-up.
	p, err := newProbe(o.brokers)
	if err != nil {
		return err
	}
	defer p.close()
	if err := p.roundTrip(30 * time.Second); err != nil {
		return fmt.Errorf("the well-behaved client before the flood: %w", err)
	}
	rng := rand.New(rand.NewSource(o.seed))
	fetch, produce := floodFrames(rng, apis, ids[memoryTopic])

	stop := make(chan struct{})
	var bg sync.WaitGroup
	var rss rssWatch
	if o.pid > 0 {
		bg.Add(1)
		go func() { defer bg.Done(); rss.run(o.pid, o.maxRSS, rep, stop) }()
	}

	deadline := time.Now().Add(o.duration)
	var written atomic.Int64
	var conns sync.Map
	var wg sync.WaitGroup
	for i := 0; i < o.conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			flood(o.brokers, []([]byte){fetch, produce}[i%2], deadline, &written, &conns)
		}()
	}
	for i := 0; i < 4; i++ {
		wg.Add(1)
		seed := o.seed + int64(i)
		go func() {
			defer wg.Done()
			hugeClaims(o.brokers, rand.New(rand.NewSource(seed)), apis, deadline, &written, o.timeout, rep)
		}()
	}
	served, lat := wellBehaved(p, deadline, o.timeout, rep)
	// Writers blocked on a broker that stopped reading end when closed.
	conns.Range(func(k, _ any) bool { k.(*conn).Close(); return true })
	wg.Wait()
	close(stop)
	bg.Wait()
	fmt.Printf("== memory: %d connections wrote %d MiB never reading a response; well-behaved client served %d round trips (%s)\n",
		o.conns, written.Load()>>20, served, lat)
	if o.pid > 0 {
		fmt.Printf("== broker peak VmRSS %d MiB (bound %d MiB)\n", rss.peakMiB(), o.maxRSS)
	}
	return nil
}

// fillMemoryTopic puts 8 MiB in the flood topic, so every pipelined
// fetch has megabytes to answer with.
func fillMemoryTopic(addr string) error {
	ends, err := listEnds(addr, memoryTopic)
	if err != nil || ends[0] >= 32 {
		return err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(memoryTopic), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		return err
	}
	defer cl.Close()
	val := []byte(strings.Repeat("m", 256<<10))
	for i := 0; i < 32; i++ {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: val}).FirstErr(); err != nil {
			return err
		}
	}
	return nil
}

// floodFrames builds the pipelined requests: a fetch of the whole topic (8 MiB) and a
// produce of a 256 KiB batch to a partition that does not exist.
func floodFrames(rng *rand.Rand, apis []apiRange, id [16]byte) (fetch, produce []byte) {
	fv, pv := int16(12), int16(9)
	for _, a := range apis {
		switch a.key {
		case 1:
			fv = min(a.max, 12)
		case 0:
			pv = a.max
		}
	}
	f := kmsg.NewPtrFetchRequest()
	f.SetVersion(fv)
	f.ReplicaID, f.MaxBytes, f.SessionEpoch = -1, 8<<20, -1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = memoryTopic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes, fp.LogStartOffset, fp.CurrentLeaderEpoch = 8<<20, -1, -1
	ft.Partitions = append(ft.Partitions, fp)
	f.Topics = append(f.Topics, ft)

	p := kmsg.NewPtrProduceRequest()
	p.SetVersion(pv)
	p.Acks, p.TimeoutMillis = 1, 5000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic, pt.TopicID = memoryTopic, id
	pp := kmsg.NewProduceRequestTopicPartition()
	// A partition that does not exist: the broker must still read, buffer
	// and answer every 256 KiB request, but nothing reaches the disk, which
	// a fast broker would otherwise fill at the flood's rate.
	pp.Partition = 1000
	recs := []kmsg.Record{{Value: randBytes(rng, 256<<10)}}
	h := newHeader(codecNone, 1)
	pp.Records = finish(h, encodeRecords(recs), time.Now().UnixMilli())
	pt.Partitions = append(pt.Partitions, pp)
	p.Topics = append(p.Topics, pt)
	return frame(f, 1), frame(p, 1)
}

// flood writes req over and over on one connection and never reads.
// A broker that mutes the connection (as Kafka does while a response is
// pending) blocks the writes; that is the point.
func flood(addr string, req []byte, deadline time.Time, written *atomic.Int64, conns *sync.Map) {
	for time.Now().Before(deadline) {
		c, err := dial(addr)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		conns.Store(c, true)
		for time.Now().Before(deadline) {
			if err := c.write(req, time.Until(deadline)); err != nil {
				break
			}
			written.Add(int64(len(req)))
		}
		conns.Delete(c)
		c.Close()
	}
}

// hugeClaims sends requests whose first array claims 2^31-1 (or, flexible,
// 2^32-2) elements, followed by up to 64 MiB of zeros.
func hugeClaims(addr string, rng *rand.Rand, apis []apiRange, deadline time.Time, written *atomic.Int64, timeout time.Duration, rep *reporter) {
	// Requests whose first body field is an array: Metadata (topics),
	// DescribeGroups (groups), DescribeConfigs (resources), DeleteGroups (groups).
	var keys []apiRange
	for _, a := range apis {
		switch a.key {
		case 3, 15, 32, 42:
			keys = append(keys, a)
		}
	}
	if len(keys) == 0 {
		return
	}
	zeros := make([]byte, 1<<20)
	for time.Now().Before(deadline) {
		a := keys[rng.Intn(len(keys))]
		ver := a.min + int16(rng.Intn(int(a.max-a.min)+1))
		probe := kmsg.RequestForKey(a.key)
		probe.SetVersion(ver)
		var body []byte
		claim := "2^31-1"
		if probe.IsFlexible() {
			claim = "2^32-2 (compact)"
			body = rawHeader(a.key, ver, 1, []byte{0})
			body = binary.AppendUvarint(body, math.MaxUint32-1)
		} else {
			body = rawHeader(a.key, ver, 1, nil)
			body = binary.BigEndian.AppendUint32(body, math.MaxInt32)
		}
		pad := rng.Intn(64 << 20)
		c, err := dial(addr)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		hdr := binary.BigEndian.AppendUint32(nil, uint32(len(body)+pad))
		err = c.write(append(hdr, body...), 10*time.Second)
		for left := pad; err == nil && left > 0; left -= len(zeros) {
			err = c.write(zeros[:min(left, len(zeros))], 10*time.Second)
			if err == nil {
				written.Add(int64(min(left, len(zeros))))
			}
		}
		if err == nil {
			// An answer or a close; either is fine, silence is not.
			if _, err := c.readFrame(timeout); err == errTimeout {
				rep.report(finding{class: classUnanswered, what: fmt.Sprintf("%s v%d huge claimed array", kmsg.NameForKey(a.key), ver),
					detail: fmt.Sprintf("%d-byte frame whose first array claims %s elements: no response and no close within %v", len(body)+pad, claim, timeout)})
			}
		}
		c.Close()
	}
}

// probe is the well-behaved client: a producer and a consumer of probeTopic.
type probe struct {
	prod, cons *kgo.Client
	n          int
	slow       slowRequests
}

// slowRequests records the probe's requests that took over a second from
// being queued in the client to their response being read, so a starved
// round trip says where the time went: waiting to be written (the client,
// or a connection muted by TCP), or waiting for the answer (the broker).
type slowRequests struct {
	mu   sync.Mutex
	seen []string
}

func (s *slowRequests) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e kgo.BrokerE2E) {
	if total := e.WriteWait + e.DurationE2E(); total > time.Second {
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.seen) < 8 {
			s.seen = append(s.seen, fmt.Sprintf("%s %v (write wait %v, write %v, answer %v, read %v)", kmsg.NameForKey(key),
				total.Round(time.Millisecond), e.WriteWait.Round(time.Millisecond), e.TimeToWrite.Round(time.Millisecond),
				e.ReadWait.Round(time.Millisecond), e.TimeToRead.Round(time.Millisecond)))
		}
	}
}

// take returns and forgets the slow requests recorded so far.
func (s *slowRequests) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := strings.Join(s.seen, "; ")
	s.seen = nil
	if out == "" {
		return "no single request over 1s"
	}
	return out
}

func newProbe(addr string) (*probe, error) {
	p := &probe{}
	prod, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(probeTopic), kgo.WithHooks(&p.slow))
	if err != nil {
		return nil, err
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(probeTopic), kgo.WithHooks(&p.slow),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		prod.Close()
		return nil, err
	}
	p.prod, p.cons = prod, cons
	return p, nil
}

func (p *probe) close() { p.prod.Close(); p.cons.Close() }

// roundTrip produces one record and waits until the consumer has seen it.
func (p *probe) roundTrip(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	p.n++
	val := fmt.Sprintf("probe %d", p.n)
	r, err := p.prod.ProduceSync(ctx, &kgo.Record{Value: []byte(val)}).First()
	for err == nil {
		fs := p.cons.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("record at offset %d not consumed: %w", r.Offset, ctx.Err())
		}
		seen := false
		fs.EachRecord(func(rec *kgo.Record) { seen = seen || string(rec.Value) == val })
		if seen {
			return nil
		}
	}
	return err
}

// wellBehaved does round trips until the deadline; each must finish within
// timeout. It returns how many did and their latencies.
func wellBehaved(p *probe, deadline time.Time, timeout time.Duration, rep *reporter) (int, latencies) {
	var lat latencies
	for time.Now().Before(deadline) {
		start := time.Now()
		if err := p.roundTrip(timeout); err != nil {
			rep.report(finding{class: classStarved, what: "produce+consume", detail: fmt.Sprintf("after %v: %v; slow requests: %s",
				time.Since(start).Round(time.Millisecond), err, p.slow.take())})
			time.Sleep(time.Second) // one report per second at most
			continue
		}
		lat = append(lat, time.Since(start))
		if d := time.Since(start); d > time.Second {
			fmt.Printf("== memory: a round trip took %v (%v of the run left); slow requests: %s\n", d.Round(time.Millisecond),
				time.Until(deadline).Round(time.Second), p.slow.take())
		}
		p.slow.take()
		time.Sleep(200 * time.Millisecond)
	}
	return len(lat), lat
}

// latencies are the well-behaved client's round trips, printed as their
// median, 99th percentile and maximum.
type latencies []time.Duration

func (l latencies) String() string {
	if len(l) == 0 {
		return "no latencies"
	}
	s := slices.Clone(l)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))].Round(time.Millisecond) }
	return fmt.Sprintf("p50 %v, p99 %v, max %v", at(0.5), at(0.99), s[len(s)-1].Round(time.Millisecond))
}

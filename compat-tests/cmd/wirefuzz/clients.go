package main

// The well-behaved side: topic set-up, the control topic, end offsets, and
// the consumers that must read every fuzzed partition to its end afterwards.

import (
	"context"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type admin struct {
	cl   *kgo.Client
	adm  *kadm.Client
	addr string
}

func newAdmin(addr string) (*admin, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return nil, err
	}
	return &admin{cl: cl, adm: kadm.NewClient(cl), addr: addr}, nil
}

func (a *admin) close() { a.cl.Close() }

// ensureTopics creates the topics that do not exist yet and returns every
// topic's ID (Produce v13+ names topics by ID).
func (a *admin) ensureTopics(ctx context.Context, want map[string]int32) (map[string][16]byte, error) {
	for name, parts := range want {
		resp, err := a.adm.CreateTopic(ctx, parts, 1, nil, name)
		if err != nil && resp.Err == nil {
			return nil, fmt.Errorf("creating %s: %w", name, err)
		}
		if resp.Err != nil && resp.Err != kerr.TopicAlreadyExists {
			return nil, fmt.Errorf("creating %s: %w", name, resp.Err)
		}
	}
	ids := map[string][16]byte{}
	deadline := time.Now().Add(30 * time.Second)
	for name, parts := range want {
		for {
			td, err := a.adm.ListTopics(ctx, name)
			if err == nil && td[name].Err == nil && len(td[name].Partitions) == int(parts) {
				ids[name] = td[name].ID
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("topic %s with %d partitions not in metadata after 30 s (%v)", name, parts, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return ids, nil
}

// seedControl writes the control topic's known records, 20 per codec, unless
// an earlier run did.
func (a *admin) seedControl(ctx context.Context, topic string) error {
	ends, err := listEnds(a.addr, topic)
	if err != nil {
		return err
	}
	if ends[0] > 0 {
		return nil
	}
	codecs := []kgo.CompressionCodec{kgo.NoCompression(), kgo.GzipCompression(), kgo.SnappyCompression(), kgo.Lz4Compression(), kgo.ZstdCompression()}
	for i, codec := range codecs {
		cl, err := kgo.NewClient(kgo.SeedBrokers(a.addr), kgo.ProducerBatchCompression(codec), kgo.DefaultProduceTopic(topic))
		if err != nil {
			return err
		}
		var recs []*kgo.Record
		for j := 0; j < 20; j++ {
			recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprintf("k%d-%d", i, j)), Value: []byte(strings.Repeat(fmt.Sprintf("control %d %d ", i, j), 1+j)),
				Headers: []kgo.RecordHeader{{Key: "n", Value: []byte{byte(i), byte(j)}}}})
		}
		err = cl.ProduceSync(ctx, recs...).FirstErr()
		cl.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// listEnds returns every partition's high watermark.
func listEnds(addr, topic string) (map[int32]int64, error) {
	return listOffsets(addr, topic, true)
}

func listOffsets(addr, topic string, end bool) (map[int32]int64, error) {
	a, err := newAdmin(addr)
	if err != nil {
		return nil, err
	}
	defer a.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var offs kadm.ListedOffsets
	if end {
		offs, err = a.adm.ListEndOffsets(ctx, topic)
	} else {
		offs, err = a.adm.ListStartOffsets(ctx, topic)
	}
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	var ferr error
	offs.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			ferr = o.Err
		}
		out[o.Partition] = o.Offset
	})
	return out, ferr
}

// snapshot fetches partition 0 of topic from offset 0 to its high watermark
// and returns the record batches exactly as the broker serves them.
func snapshot(addr, topic string) ([]byte, error) {
	c, err := dial(addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var out []byte
	var offset int64
	for i := 0; i < 1000; i++ {
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(12) // topics by name
		req.ReplicaID, req.MaxBytes, req.SessionEpoch = -1, 64<<20, -1
		t := kmsg.NewFetchRequestTopic()
		t.Topic = topic
		p := kmsg.NewFetchRequestTopicPartition()
		p.FetchOffset, p.PartitionMaxBytes, p.LogStartOffset, p.CurrentLeaderEpoch = offset, 16<<20, -1, -1
		t.Partitions = append(t.Partitions, p)
		req.Topics = append(req.Topics, t)
		_, r, err := c.roundTrip(req, 10*time.Second)
		if err != nil {
			return nil, err
		}
		resp := r.(*kmsg.FetchResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			return nil, fmt.Errorf("fetch response with %d topics", len(resp.Topics))
		}
		pr := resp.Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(pr.ErrorCode); err != nil {
			return nil, err
		}
		b := pr.RecordBatches
		for len(b) >= 61 {
			size := 12 + int(int32(binary.BigEndian.Uint32(b[8:12])))
			if size < 61 || size > len(b) {
				break // a partial batch at the end of the response
			}
			out = append(out, b[:size]...)
			offset = int64(binary.BigEndian.Uint64(b)) + int64(int32(binary.BigEndian.Uint32(b[23:27]))) + 1
			b = b[size:]
		}
		if offset >= pr.HighWatermark {
			return out, nil
		}
	}
	return nil, fmt.Errorf("%s not read to its end after 1000 fetches", topic)
}

// span is a partition range a consumer must read.
type span struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Start     int64  `json:"start"`
	End       int64  `json:"end"`
}

func spans(addr string, topics []string) ([]span, error) {
	var out []span
	for _, t := range topics {
		starts, err := listOffsets(addr, t, false)
		if err != nil {
			return nil, err
		}
		ends, err := listEnds(addr, t)
		if err != nil {
			return nil, err
		}
		for p, end := range ends {
			if end > starts[p] {
				out = append(out, span{t, p, starts[p], end})
			}
		}
	}
	return out, nil
}

//go:embed consume.py
var consumePy []byte

// consumeAll reads every partition of topics from its start to its end with
// each consumer named in -consumers.
func consumeAll(o options, rep *reporter, topics []string) {
	sp, err := spans(o.brokers, topics)
	if err != nil {
		rep.report(finding{class: classConsume, what: "list offsets", detail: err.Error()})
		return
	}
	for _, name := range strings.Split(o.consumers, ",") {
		start := time.Now()
		var stuck []string
		switch name = strings.TrimSpace(name); name {
		case "":
			continue
		case "franz-go":
			stuck = consumeFranz(o.brokers, sp)
		case "kafka-python", "librdkafka":
			stuck = consumePython(o.python, name, o.brokers, sp)
		default:
			stuck = []string{"unknown consumer " + name}
		}
		for _, s := range stuck {
			rep.report(finding{class: classConsume, what: name, detail: s})
		}
		fmt.Printf("== %s read %d partitions in %v: %d stuck\n", name, len(sp), time.Since(start).Round(time.Millisecond), len(stuck))
	}
}

func consumeFranz(addr string, sp []span) []string {
	offs := map[string]map[int32]kgo.Offset{}
	left := map[string]span{}
	for _, s := range sp {
		if offs[s.Topic] == nil {
			offs[s.Topic] = map[int32]kgo.Offset{}
		}
		offs[s.Topic][s.Partition] = kgo.NewOffset().At(s.Start)
		left[fmt.Sprintf("%s[%d]", s.Topic, s.Partition)] = s
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumePartitions(offs), kgo.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		return []string{err.Error()}
	}
	defer cl.Close()
	errs := map[string]string{}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Stop early when nothing moves for 10 s: a consumer stuck at a corrupt
	// batch stays stuck.
	progress := time.Now()
	for len(left) > 0 && ctx.Err() == nil && time.Since(progress) < 10*time.Second {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		pcancel()
		if fs.NumRecords() > 0 {
			progress = time.Now()
		}
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				errs[fmt.Sprintf("%s[%d]", t, p)] = err.Error()
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			k := fmt.Sprintf("%s[%d]", r.Topic, r.Partition)
			if s, ok := left[k]; ok && r.Offset >= s.End-1 {
				delete(left, k)
			}
		})
	}
	var out []string
	for k, s := range left {
		out = append(out, fmt.Sprintf("%s not read to its end %d (from %d): %s", k, s.End, s.Start, errs[k]))
	}
	return out
}

// consumePython runs consume.py, which prints one STUCK line per partition
// it could not read to its end.
func consumePython(python, client, addr string, sp []span) []string {
	dir, err := os.MkdirTemp("", "wirefuzz-py")
	if err != nil {
		return []string{err.Error()}
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "consume.py")
	spec, _ := json.Marshal(sp)
	if err := os.WriteFile(script, consumePy, 0o644); err != nil {
		return []string{err.Error()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "-u", script, client, addr, string(spec)).CombinedOutput()
	var stuck []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "STUCK ") {
			stuck = append(stuck, strings.TrimPrefix(line, "STUCK "))
		}
	}
	if err != nil && len(stuck) == 0 {
		tail := string(out)
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		stuck = append(stuck, fmt.Sprintf("%s failed: %v: %s", client, err, tail))
	}
	return stuck
}

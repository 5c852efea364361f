// Package kcat drives the kcat command line tool (librdkafka) in the compat
// matrix. The binary is $KCAT, or kcat on PATH.
package kcat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/riffle-io/riffle/compat-tests/suite"
)

// Driver implements suite.Driver by running kcat.
type Driver struct{ Seeds []string }

func (Driver) Name() string { return "kcat" }

// Caps: kcat cannot set a record's timestamp when producing.
func (Driver) Caps() suite.Caps { return suite.Caps{SetsTimestamps: false} }

func binary() string {
	if b := os.Getenv("KCAT"); b != "" {
		return b
	}
	return "kcat"
}

// run executes kcat with the seeds and args, feeding stdin, and returns
// stdout; a non-zero exit or an "% ERROR" line on stderr is an error that
// carries stderr.
func (d Driver) run(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	args = append([]string{"-b", strings.Join(d.Seeds, ","), "-X", "log_level=3"}, args...)
	cmd := exec.CommandContext(ctx, binary(), args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	msg := strings.TrimSpace(stderr.String())
	if err == nil && strings.Contains(msg, "% ERROR") {
		err = fmt.Errorf("errors on stderr")
	}
	if err != nil {
		e := fmt.Errorf("kcat %s: %v: %s", strings.Join(args[4:], " "), err, clip(msg))
		// librdkafka's text for error code 10.
		if strings.Contains(msg, "Message size too large") {
			e = fmt.Errorf("%w: %v", suite.ErrMessageTooLarge, e)
		}
		return nil, e
	}
	return stdout.Bytes(), nil
}

func clip(s string) string {
	if len(s) > 500 {
		return s[:500] + "..."
	}
	return s
}

type metadataJSON struct {
	Brokers []struct {
		ID   int32  `json:"id"`
		Name string `json:"name"`
	} `json:"brokers"`
	Topics []struct {
		Topic      string `json:"topic"`
		Error      string `json:"error"`
		Partitions []struct {
			Partition int32 `json:"partition"`
			Leader    int32 `json:"leader"`
		} `json:"partitions"`
	} `json:"topics"`
}

func (d Driver) Metadata(ctx context.Context, topic string) (suite.Metadata, error) {
	out, err := d.run(ctx, nil, "-L", "-J", "-t", topic)
	if err != nil {
		return suite.Metadata{}, err
	}
	var mj metadataJSON
	if err := json.Unmarshal(out, &mj); err != nil {
		return suite.Metadata{}, fmt.Errorf("kcat -L -J output: %w: %s", err, clip(string(out)))
	}
	md := suite.Metadata{Leaders: map[int32]int32{}}
	for _, b := range mj.Brokers {
		i := strings.LastIndexByte(b.Name, ':')
		if i < 0 {
			return md, fmt.Errorf("broker name %q has no port", b.Name)
		}
		port, err := strconv.Atoi(b.Name[i+1:])
		if err != nil {
			return md, fmt.Errorf("broker name %q: %w", b.Name, err)
		}
		md.Brokers = append(md.Brokers, suite.Broker{ID: b.ID, Host: b.Name[:i], Port: int32(port)})
	}
	for _, t := range mj.Topics {
		if t.Error != "" {
			return md, fmt.Errorf("topic %s: %s", t.Topic, t.Error)
		}
		for _, p := range t.Partitions {
			md.Leaders[p.Partition] = p.Leader
		}
	}
	// kcat does not print the ApiVersions answer; APIVersions stays nil.
	return md, nil
}

// Produce runs one kcat per run of consecutive records sharing a partition
// and headers: kcat applies -H headers to every message of an invocation.
func (d Driver) Produce(ctx context.Context, p suite.Produce) ([]int64, error) {
	offsets := make([]int64, len(p.Records))
	for i := 0; i < len(p.Records); {
		j := i + 1
		for j < len(p.Records) && p.Records[j].Partition == p.Records[i].Partition && sameHeaders(p.Records[j].Headers, p.Records[i].Headers) {
			j++
		}
		args := []string{"-P", "-t", p.Topic, "-p", fmt.Sprint(p.Records[i].Partition), "-K", "\t",
			"-z", p.Codec, "-X", "acks=all", "-X", "linger.ms=5", "-X", fmt.Sprintf("enable.idempotence=%v", p.Idempotent)}
		for _, h := range p.Records[i].Headers {
			args = append(args, "-H", h.Key+"="+string(h.Value))
		}
		var in bytes.Buffer
		for _, r := range p.Records[i:j] {
			if bytes.ContainsAny(r.Key, "\t\n") || bytes.ContainsRune(r.Value, '\n') {
				return nil, fmt.Errorf("record %d cannot be expressed as a kcat line", i)
			}
			in.Write(r.Key)
			in.WriteByte('\t')
			in.Write(r.Value)
			in.WriteByte('\n')
		}
		if _, err := d.run(ctx, in.Bytes(), args...); err != nil {
			return nil, err
		}
		for k := i; k < j; k++ {
			offsets[k] = -1 // kcat does not print produced offsets
		}
		i = j
	}
	return offsets, nil
}

func sameHeaders(a, b []suite.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || !bytes.Equal(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}

type messageJSON struct {
	Partition int32    `json:"partition"`
	Offset    int64    `json:"offset"`
	TsType    string   `json:"tstype"`
	Ts        int64    `json:"ts"`
	Headers   []string `json:"headers"`
	Key       *string  `json:"key"`
	Payload   *string  `json:"payload"`
}

// Consume keeps librdkafka's default isolation.level (read_committed).
func (d Driver) Consume(ctx context.Context, topic string, counts map[int32]int) ([]suite.Record, error) {
	return d.consume(ctx, topic, counts, "")
}

func (d Driver) consume(ctx context.Context, topic string, counts map[int32]int, isolation string) ([]suite.Record, error) {
	var out []suite.Record
	for p := int32(0); int(p) < len(counts); p++ {
		n := counts[p]
		args := []string{"-C", "-J", "-q", "-e", "-o", "beginning", "-t", topic, "-p", fmt.Sprint(p), "-c", fmt.Sprint(n)}
		if isolation != "" {
			args = append(args, "-X", "isolation.level="+isolation)
		}
		stdout, err := d.run(ctx, nil, args...)
		if err != nil {
			return nil, err
		}
		recs, err := decodeMessages(stdout)
		if err != nil {
			return nil, err
		}
		if len(recs) != n {
			return nil, fmt.Errorf("partition %d: kcat printed %d records, want %d", p, len(recs), n)
		}
		out = append(out, recs...)
	}
	return out, nil
}

// decodeMessages parses the JSON lines of kcat -C -J.
func decodeMessages(stdout []byte) ([]suite.Record, error) {
	var out []suite.Record
	dec := json.NewDecoder(bytes.NewReader(stdout))
	for dec.More() {
		var m messageJSON
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("kcat -J output: %w", err)
		}
		if len(m.Headers)%2 != 0 {
			return nil, fmt.Errorf("kcat headers %q: odd length", m.Headers)
		}
		r := suite.Record{Partition: m.Partition, Offset: m.Offset, Timestamp: timeMillis(m.Ts)}
		if m.Key != nil {
			r.Key = []byte(*m.Key)
		}
		if m.Payload != nil {
			r.Value = []byte(*m.Payload)
		}
		for i := 0; i < len(m.Headers); i += 2 {
			r.Headers = append(r.Headers, suite.Header{Key: m.Headers[i], Value: []byte(m.Headers[i+1])})
		}
		out = append(out, r)
	}
	return out, nil
}

var offsetLine = regexp.MustCompile(`\[(\d+)\] offset (-?\d+)`)

func (d Driver) OffsetForTime(ctx context.Context, topic string, partition int32, ts int64) (int64, error) {
	// -Q: offsets for times; -1 and -2 are passed through as Kafka's
	// latest/earliest.
	out, err := d.run(ctx, nil, "-Q", "-t", fmt.Sprintf("%s:%d:%d", topic, partition, ts))
	if err != nil {
		return 0, err
	}
	m := offsetLine.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("kcat -Q output %q", clip(string(out)))
	}
	return strconv.ParseInt(string(m[2]), 10, 64)
}

func timeMillis(ms int64) time.Time { return time.UnixMilli(ms) }

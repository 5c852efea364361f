// Package pyclient drives the Python Kafka clients (kafka-python and
// confluent-kafka-python) through client.py, embedded so that a compiled
// test binary is self-contained. The interpreter is $PYTHON, by default
// /usr/bin/python3: Debian's python3-kafka and python3-confluent-kafka
// import only there.
package pyclient

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/riffle-io/riffle/compat-tests/suite"
)

//go:embed client.py
var script []byte

var (
	scriptOnce sync.Once
	scriptPath string
	scriptErr  error
)

// Cleanup removes the temporary copy of client.py; test binaries call it
// from TestMain once every test has run.
func Cleanup() {
	if scriptPath != "" {
		_ = os.RemoveAll(filepath.Dir(scriptPath))
	}
}

func scriptFile() (string, error) {
	scriptOnce.Do(func() {
		dir, err := os.MkdirTemp("", "riffle-compat-py")
		if err != nil {
			scriptErr = err
			return
		}
		scriptPath = filepath.Join(dir, "client.py")
		scriptErr = os.WriteFile(scriptPath, script, 0o644)
	})
	return scriptPath, scriptErr
}

// Driver implements suite.Driver for one Python library.
type Driver struct {
	Seeds []string
	// Client is the matrix row name; Lib is client.py's library name.
	Client, Lib string
}

func (d Driver) Name() string     { return d.Client }
func (d Driver) Caps() suite.Caps { return suite.Caps{SetsTimestamps: true} }

type pyError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (d Driver) call(ctx context.Context, op string, req map[string]any, resp any) error {
	path, err := scriptFile()
	if err != nil {
		return err
	}
	py := os.Getenv("PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
	}
	req["seeds"] = d.Seeds
	timeout := 15.0
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(dl).Seconds()-2, 1)
	}
	req["timeout_s"] = timeout
	in, err := json.Marshal(req)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, py, path, d.Lib, op)
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %v: %s", d.Lib, op, err, tail(stderr.String()))
	}
	var envelope struct {
		Error *pyError `json:"error"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &envelope); err != nil {
		return fmt.Errorf("%s %s: bad output %q: %v", d.Lib, op, tail(stdout.String()), err)
	}
	if e := envelope.Error; e != nil {
		if e.Code == "MESSAGE_TOO_LARGE" {
			return fmt.Errorf("%w: %s", suite.ErrMessageTooLarge, e.Message)
		}
		return &pyFailure{Lib: d.Lib, Op: op, Code: e.Code, Message: e.Message}
	}
	return json.Unmarshal(stdout.Bytes(), resp)
}

// pyFailure is a Kafka error client.py reported by name.
type pyFailure struct{ Lib, Op, Code, Message string }

func (e *pyFailure) Error() string {
	return fmt.Sprintf("%s %s: %s: %s", e.Lib, e.Op, e.Code, e.Message)
}

func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 800 {
		return "..." + s[len(s)-800:]
	}
	return s
}

func (d Driver) Metadata(ctx context.Context, topic string) (suite.Metadata, error) {
	var resp struct {
		Brokers []struct {
			ID   int32  `json:"id"`
			Host string `json:"host"`
			Port int32  `json:"port"`
		} `json:"brokers"`
		Leaders     map[string]int32 `json:"leaders"`
		APIVersions map[string]int16 `json:"api_versions"`
	}
	if err := d.call(ctx, "metadata", map[string]any{"topic": topic}, &resp); err != nil {
		return suite.Metadata{}, err
	}
	md := suite.Metadata{Leaders: map[int32]int32{}}
	for _, b := range resp.Brokers {
		md.Brokers = append(md.Brokers, suite.Broker{ID: b.ID, Host: b.Host, Port: b.Port})
	}
	for p, l := range resp.Leaders {
		n, err := strconv.Atoi(p)
		if err != nil {
			return md, err
		}
		md.Leaders[int32(n)] = l
	}
	if resp.APIVersions != nil {
		md.APIVersions = map[int16]int16{}
		for k, v := range resp.APIVersions {
			n, err := strconv.Atoi(k)
			if err != nil {
				return md, err
			}
			md.APIVersions[int16(n)] = v
		}
	}
	return md, nil
}

type pyRecord struct {
	Partition   int32       `json:"partition"`
	Offset      int64       `json:"offset"`
	TimestampMs int64       `json:"timestamp_ms"`
	Key         *string     `json:"key"`
	Value       *string     `json:"value"`
	Headers     [][2]string `json:"headers"`
}

func enc(b []byte) *string {
	if b == nil {
		return nil
	}
	s := base64.StdEncoding.EncodeToString(b)
	return &s
}

func dec(s *string) ([]byte, error) {
	if s == nil {
		return nil, nil
	}
	return base64.StdEncoding.DecodeString(*s)
}

func toPy(rs []suite.Record) []pyRecord {
	recs := make([]pyRecord, len(rs))
	for i, r := range rs {
		pr := pyRecord{Partition: r.Partition, TimestampMs: r.Timestamp.UnixMilli(), Key: enc(r.Key), Value: enc(r.Value), Headers: [][2]string{}}
		for _, h := range r.Headers {
			pr.Headers = append(pr.Headers, [2]string{h.Key, *enc(h.Value)})
		}
		recs[i] = pr
	}
	return recs
}

func (d Driver) Produce(ctx context.Context, p suite.Produce) ([]int64, error) {
	recs := toPy(p.Records)
	var resp struct {
		Offsets []*int64 `json:"offsets"`
	}
	err := d.call(ctx, "produce", map[string]any{"topic": p.Topic, "codec": p.Codec, "idempotent": p.Idempotent, "records": recs}, &resp)
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(resp.Offsets))
	for i, o := range resp.Offsets {
		out[i] = -1
		if o != nil {
			out[i] = *o
		}
	}
	return out, nil
}

func (d Driver) Consume(ctx context.Context, topic string, counts map[int32]int) ([]suite.Record, error) {
	return d.consume(ctx, topic, counts, "")
}

func toRecords(prs []pyRecord) ([]suite.Record, error) {
	out := make([]suite.Record, len(prs))
	for i, pr := range prs {
		r := suite.Record{Partition: pr.Partition, Offset: pr.Offset, Timestamp: time.UnixMilli(pr.TimestampMs)}
		var err error
		if r.Key, err = dec(pr.Key); err != nil {
			return nil, err
		}
		if r.Value, err = dec(pr.Value); err != nil {
			return nil, err
		}
		for _, h := range pr.Headers {
			v, err := base64.StdEncoding.DecodeString(h[1])
			if err != nil {
				return nil, err
			}
			r.Headers = append(r.Headers, suite.Header{Key: h[0], Value: v})
		}
		out[i] = r
	}
	return out, nil
}

func (d Driver) OffsetForTime(ctx context.Context, topic string, partition int32, ts int64) (int64, error) {
	var resp struct {
		Offset int64 `json:"offset"`
	}
	err := d.call(ctx, "offset_for_time", map[string]any{"topic": topic, "partition": partition, "ts": ts}, &resp)
	return resp.Offset, err
}

package server_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
	"github.com/riffle-io/riffle/internal/freeport"
	"github.com/riffle-io/riffle/server"
)

// Deadlines used throughout the suite. Every wait is bounded by one of them.
const (
	startTimeout   = 30 * time.Second // broker start, including the metadata quorum
	requestTimeout = 15 * time.Second // one request or a short admin sequence
	readTimeout    = 90 * time.Second // reading back a large produced stream
)

// gatedWriter forwards broker logs to the test's output until the test ends;
// a broker goroutine that logs after cleanup must not panic the test binary.
type gatedWriter struct {
	mu   sync.Mutex
	w    io.Writer
	open bool
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open {
		_, _ = g.w.Write(p)
	}
	return len(p), nil
}

func (g *gatedWriter) close() {
	g.mu.Lock()
	g.open = false
	g.mu.Unlock()
}

func testLogger(t testing.TB) *slog.Logger {
	g := &gatedWriter{w: t.Output(), open: true}
	t.Cleanup(g.close)
	level := slog.LevelWarn
	if os.Getenv("RIFFLE_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(g, &slog.HandlerOptions{Level: level}))
}

// testBroker is an in-process broker on ephemeral ports with its own log dir.
// It can be stopped and started again on the same directory.
type testBroker struct {
	t       testing.TB
	dir     string
	opts    []func(*config.Broker)
	b       *server.Broker
	running bool
	// prepare, when set, runs on every new Broker before it starts.
	prepare func(*server.Broker)
}

// startBroker starts a broker on 127.0.0.1 with a fresh log dir; opts adjust
// the config (they run again on every restart).
func startBroker(t testing.TB, opts ...func(*config.Broker)) *testBroker {
	t.Helper()
	tb := &testBroker{t: t, dir: t.TempDir(), opts: opts}
	tb.start()
	t.Cleanup(func() {
		if tb.running {
			tb.stop()
		}
	})
	return tb
}

func (tb *testBroker) config() *config.Broker {
	tb.t.Helper()
	cfg := config.Default()
	cfg.LogDirs = []string{tb.dir}
	var err error
	if cfg.Listeners, err = config.ParseListeners("PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0"); err != nil {
		tb.t.Fatalf("parse listeners: %v", err)
	}
	if cfg.AdvertisedListeners, err = config.ParseListeners("PLAINTEXT://127.0.0.1:0"); err != nil {
		tb.t.Fatalf("parse advertised listeners: %v", err)
	}
	// A single node, as Kafka's sample server.properties configures one:
	// with Kafka's defaults (3) it would have no coordinators.
	cfg.OffsetsTopicReplicationFactor = 1
	cfg.TransactionStateLogReplicationFactor = 1
	cfg.TransactionStateLogMinIsr = 1
	for _, o := range tb.opts {
		o(cfg)
	}
	return cfg
}

func (tb *testBroker) start() {
	tb.t.Helper()
	if err := tb.startErr(); err != nil {
		tb.t.Fatal(err)
	}
}

// startErr starts the broker and reports failure instead of failing the
// test, so that it can run on another goroutine (startCluster).
func (tb *testBroker) startErr() error {
	b, err := server.New(tb.config(), testLogger(tb.t))
	if err != nil {
		return fmt.Errorf("server.New: %w", err)
	}
	if tb.prepare != nil {
		tb.prepare(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		return fmt.Errorf("broker start: %w", err)
	}
	tb.b, tb.running = b, true
	return nil
}

func (tb *testBroker) stop() {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	tb.running = false
	if err := tb.b.Shutdown(ctx); err != nil {
		tb.t.Errorf("broker shutdown: %v", err)
	}
}

// restart shuts the broker down gracefully and starts it again on the same
// log dir. The listener port changes; clients must be recreated.
func (tb *testBroker) restart() {
	tb.t.Helper()
	tb.stop()
	tb.start()
}

func (tb *testBroker) addr() string { return tb.b.Addr() }

// newClient returns a franz-go client for addr, closed at cleanup.
func newClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	all := append([]kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ClientID("riffle-itest"),
		kgo.RetryTimeout(requestTimeout),
		// kadm answers Metadata from a cache younger than this (5s by
		// default), which would hide a topic re-created under an old name.
		kgo.MetadataMinAge(100 * time.Millisecond),
	}, opts...)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func newAdmin(t testing.TB, addr string) *kadm.Client {
	return kadm.NewClient(newClient(t, addr))
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// createTopic creates a topic with replication factor 1 and waits until every
// partition has a leader, so producers never see the topic half-created.
func createTopic(t testing.TB, adm *kadm.Client, topic string, partitions int32, configs map[string]*string) kadm.CreateTopicResponse {
	t.Helper()
	ctx := ctxFor(t, requestTimeout)
	resp, err := adm.CreateTopic(ctx, partitions, 1, configs, topic)
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	if resp.Err != nil {
		t.Fatalf("create topic %s: %v (%s)", topic, resp.Err, resp.ErrMessage)
	}
	waitTopicReady(t, adm, topic, int(partitions))
	return resp
}

func waitTopicReady(t testing.TB, adm *kadm.Client, topic string, partitions int) {
	t.Helper()
	var last string
	ok := poll(requestTimeout, func() bool {
		md, err := adm.Metadata(ctxFor(t, requestTimeout), topic)
		if err != nil {
			last = err.Error()
			return false
		}
		td, exists := md.Topics[topic]
		if !exists || td.Err != nil || len(td.Partitions) != partitions {
			last = fmt.Sprintf("topic %+v", td)
			return false
		}
		for _, p := range td.Partitions {
			if p.Err != nil || p.Leader < 0 {
				last = fmt.Sprintf("partition %+v", p)
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("topic %s not ready within %v: %s", topic, requestTimeout, last)
	}
}

// poll calls cond until it reports true or d elapses; the pause between
// attempts is short and bounded, and never stands in for synchronisation.
func poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for pause := 5 * time.Millisecond; ; pause = min(2*pause, 200*time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
	}
}

// endOffsets returns the high watermark of each partition of topic.
func endOffsets(t testing.TB, adm *kadm.Client, topic string) map[int32]int64 {
	t.Helper()
	lo, err := adm.ListEndOffsets(ctxFor(t, requestTimeout), topic)
	if err != nil {
		t.Fatalf("list end offsets %s: %v", topic, err)
	}
	out := make(map[int32]int64)
	for _, o := range lo[topic] {
		if o.Err != nil {
			t.Fatalf("list end offsets %s/%d: %v", topic, o.Partition, o.Err)
		}
		out[o.Partition] = o.Offset
	}
	return out
}

// genRecord is record i of a deterministic stream spread round-robin over
// the partitions: record i lands in partition i%parts at offset i/parts.
// Keys are sometimes null, headers sometimes absent, values vary in length
// and compress well, timestamps are distinct milliseconds in the recent past.
type genRecord struct {
	i         int
	partition int32
	key       []byte
	value     []byte
	headers   [][2]string
	ts        time.Time
}

func genBase() time.Time { return time.Now().Add(-time.Hour).Truncate(time.Millisecond) }

func gen(i, parts int, base time.Time) genRecord {
	r := genRecord{
		i:         i,
		partition: int32(i % parts),
		value:     genValue(i),
		ts:        base.Add(time.Duration(i) * time.Millisecond),
	}
	if i%97 != 0 {
		r.key = []byte("key-" + strconv.Itoa(i))
	}
	if i%7 != 0 {
		r.headers = [][2]string{{"i", strconv.Itoa(i)}, {"src", "riffle-itest"}}
	}
	return r
}

func genValue(i int) []byte {
	v := make([]byte, 0, 24+3*(i%61))
	v = append(v, "value-"...)
	v = strconv.AppendInt(v, int64(i), 10)
	v = append(v, ':')
	for j := 0; j < i%61; j++ {
		v = append(v, "abc"...)
	}
	return v
}

// parseValueID recovers i from a value made by genValue and checks that the
// whole value is intact; ok is false for anything not produced by genValue.
func parseValueID(v []byte) (int, bool) {
	rest, found := bytes.CutPrefix(v, []byte("value-"))
	if !found {
		return 0, false
	}
	n, _, found := bytes.Cut(rest, []byte(":"))
	if !found {
		return 0, false
	}
	i, err := strconv.Atoi(string(n))
	if err != nil || i < 0 || !bytes.Equal(v, genValue(i)) {
		return 0, false
	}
	return i, true
}

func (g genRecord) kgo(topic string) *kgo.Record {
	r := &kgo.Record{Topic: topic, Partition: g.partition, Key: g.key, Value: g.value, Timestamp: g.ts}
	for _, h := range g.headers {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: h[0], Value: []byte(h[1])})
	}
	return r
}

// check compares a record read back against g; it returns a description of
// the first difference, or "".
func (g genRecord) check(partition int32, key, value []byte, headers [][2]string, ts time.Time) string {
	switch {
	case partition != g.partition:
		return fmt.Sprintf("record %d: partition %d, want %d", g.i, partition, g.partition)
	case (key == nil) != (g.key == nil) || !bytes.Equal(key, g.key):
		return fmt.Sprintf("record %d: key %q, want %q", g.i, key, g.key)
	case !bytes.Equal(value, g.value):
		return fmt.Sprintf("record %d: value %q, want %q", g.i, value, g.value)
	case !ts.Equal(g.ts):
		return fmt.Sprintf("record %d: timestamp %v, want %v", g.i, ts, g.ts)
	case len(headers) != len(g.headers):
		return fmt.Sprintf("record %d: headers %q, want %q", g.i, headers, g.headers)
	}
	for j := range headers {
		if headers[j] != g.headers[j] {
			return fmt.Sprintf("record %d: headers %q, want %q", g.i, headers, g.headers)
		}
	}
	return ""
}

func kgoHeaders(r *kgo.Record) [][2]string {
	var hs [][2]string
	for _, h := range r.Headers {
		hs = append(hs, [2]string{h.Key, string(h.Value)})
	}
	return hs
}

// produceGenerated produces records [from, to) of the generated stream with
// cl and fails the test on any error. Every acknowledged offset must be the
// record's position in its partition (offset i/parts + offset0[partition]).
func produceGenerated(t testing.TB, cl *kgo.Client, topic string, from, to, parts int, base time.Time, offset0 map[int32]int64) {
	t.Helper()
	ctx := ctxFor(t, readTimeout)
	var (
		mu       sync.Mutex
		firstErr error
		errs     int
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs++
		if firstErr == nil {
			firstErr = err
		}
	}
	for i := from; i < to; i++ {
		g := gen(i, parts, base)
		want := int64(i/parts) + offset0[g.partition]
		cl.Produce(ctx, g.kgo(topic), func(r *kgo.Record, err error) {
			switch {
			case err != nil:
				fail(fmt.Errorf("produce record %d: %w", g.i, err))
			case r.Offset != want:
				fail(fmt.Errorf("record %d acknowledged at %d/%d, want offset %d", g.i, r.Partition, r.Offset, want))
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if firstErr != nil {
		t.Fatalf("%d produce failures, first: %v", errs, firstErr)
	}
}

// consumeGenerated reads partitions [0, parts) of topic from offset 0 until
// `count` records arrived, and checks that partition p holds exactly the
// records i ≡ p (mod parts), in order, at dense offsets from 0 and with all
// fields intact. Records [0, count) of the generated stream are expected.
func consumeGenerated(t testing.TB, addr, topic string, count, parts int, base time.Time) {
	t.Helper()
	offsets := make(map[int32]kgo.Offset)
	for p := range parts {
		offsets[int32(p)] = kgo.NewOffset().At(0)
	}
	cl := newClient(t, addr,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	defer cl.Close()
	next := make([]int64, parts)
	got := 0
	ctx := ctxFor(t, readTimeout)
	for got < count {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records of %s before the deadline; next offsets %v", got, count, topic, next)
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s/%d: %v", topic, p, err)
		})
		for _, r := range fs.Records() {
			p := r.Partition
			if p < 0 || int(p) >= parts {
				t.Fatalf("record from unexpected partition %d", p)
			}
			if r.Offset != next[p] {
				t.Fatalf("partition %d: offset %d follows %d; offsets must be dense from 0", p, r.Offset, next[p]-1)
			}
			i := int(r.Offset)*parts + int(p)
			if i >= count {
				t.Fatalf("partition %d: unexpected record at offset %d (only %d records produced)", p, r.Offset, count)
			}
			if d := gen(i, parts, base).check(p, r.Key, r.Value, kgoHeaders(r), r.Timestamp); d != "" {
				t.Fatalf("%s/%d@%d: %s", topic, p, r.Offset, d)
			}
			next[p]++
			got++
		}
	}
}

// freePort reserves nothing: it returns a port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	p, err := freeport.Port()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// rawConn speaks the Kafka protocol over a plain TCP connection, so tests can
// pin versions and send bytes no client would.
type rawConn struct {
	t    testing.TB
	c    net.Conn
	corr int32
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, requestTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c}
}

func (rc *rawConn) write(b []byte) error {
	_ = rc.c.SetWriteDeadline(time.Now().Add(requestTimeout))
	_, err := rc.c.Write(b)
	return err
}

// readFrame reads one size-prefixed frame within d.
func (rc *rawConn) readFrame(d time.Duration) ([]byte, error) {
	_ = rc.c.SetReadDeadline(time.Now().Add(d))
	var size [4]byte
	if _, err := io.ReadFull(rc.c, size[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 4 || n > 64<<20 {
		return nil, fmt.Errorf("response frame size %d", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(rc.c, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// expectClosed asserts that the broker closes the connection within d,
// discarding anything it sends first.
func (rc *rawConn) expectClosed(d time.Duration) {
	rc.t.Helper()
	_ = rc.c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, rc.c)
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			rc.t.Fatalf("connection still open after %v", d)
		}
	}
}

var formatter = kmsg.NewRequestFormatter(kmsg.FormatterClientID("riffle-itest"))

// roundTrip sends req at its set version and decodes the response.
func (rc *rawConn) roundTrip(req kmsg.Request) kmsg.Response {
	rc.t.Helper()
	rc.corr++
	if err := rc.write(formatter.AppendRequest(nil, req, rc.corr)); err != nil {
		rc.t.Fatalf("write %s v%d: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	frame, err := rc.readFrame(requestTimeout)
	if err != nil {
		rc.t.Fatalf("read %s v%d response: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	body, err := responseBody(frame, rc.corr, req.IsFlexible() && req.Key() != 18)
	if err != nil {
		rc.t.Fatalf("%s v%d response: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(body); err != nil {
		rc.t.Fatalf("decode %s v%d response: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp
}

// responseBody strips the response header: the correlation ID and, for
// flexible responses other than ApiVersions (KIP-511), the tag buffer.
func responseBody(frame []byte, corr int32, flexible bool) ([]byte, error) {
	if len(frame) < 4 {
		return nil, fmt.Errorf("short response header")
	}
	if got := int32(binary.BigEndian.Uint32(frame)); got != corr {
		return nil, fmt.Errorf("correlation id %d, want %d", got, corr)
	}
	b := frame[4:]
	if !flexible {
		return b, nil
	}
	n, used := binary.Uvarint(b)
	if used <= 0 || n > 64 {
		return nil, fmt.Errorf("bad header tag count")
	}
	b = b[used:]
	for range n {
		if _, used = binary.Uvarint(b); used <= 0 { // tag
			return nil, fmt.Errorf("bad header tag")
		}
		b = b[used:]
		size, used := binary.Uvarint(b)
		if used <= 0 || size > uint64(len(b)-used) {
			return nil, fmt.Errorf("bad header tag size")
		}
		b = b[used+int(size):]
	}
	return b, nil
}

// versions returns the broker's version table via ApiVersions v3.
func (rc *rawConn) versions() map[int16][2]int16 {
	rc.t.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName = "riffle-itest"
	req.ClientSoftwareVersion = "1.0"
	resp := rc.roundTrip(req).(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode != 0 {
		rc.t.Fatalf("ApiVersions: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	out := make(map[int16][2]int16)
	for _, k := range resp.ApiKeys {
		out[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	return out
}

// maxVersion sets req to the newest version both kmsg and the broker know.
func (rc *rawConn) maxVersion(req kmsg.Request) kmsg.Request {
	rc.t.Helper()
	vs, ok := rc.versions()[req.Key()]
	if !ok {
		rc.t.Fatalf("broker does not advertise %s", kmsg.NameForKey(req.Key()))
	}
	req.SetVersion(min(vs[1], req.MaxVersion()))
	return req
}

// checkAlive proves the broker still serves a fresh franz-go client.
func checkAlive(t testing.TB, addr string) {
	t.Helper()
	cl := newClient(t, addr)
	defer cl.Close()
	ctx := ctxFor(t, requestTimeout)
	req := kmsg.NewPtrMetadataRequest()
	if _, err := req.RequestWith(ctx, cl); err != nil {
		t.Fatalf("broker no longer serves a fresh client: %v", err)
	}
	topic := fmt.Sprintf("alive-%d", time.Now().UnixNano())
	adm := kadm.NewClient(cl)
	createTopic(t, adm, topic, 1, nil)
	res := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("alive")})
	if err := res.FirstErr(); err != nil {
		t.Fatalf("broker no longer accepts a produce: %v", err)
	}
}

// buildRiffle builds cmd/riffle once per test binary run.
var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
	buildDir  string
)

func buildRiffle(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "riffle-itest-bin-")
		if buildErr != nil {
			return
		}
		buildPath = filepath.Join(buildDir, "riffle")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", "build", "-o", buildPath, "github.com/riffle-io/riffle/cmd/riffle").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/riffle: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// riffleProc is the riffle binary running as a child process.
type riffleProc struct {
	t                 testing.TB
	bin, dir          string
	port, controlPort int
	cmd               *exec.Cmd
	stderr            *lockedBuffer
	waitDone          chan struct{}
	waitErr           error
}

func startProc(t testing.TB, bin, dir string, port, controlPort int) *riffleProc {
	t.Helper()
	p := &riffleProc{t: t, bin: bin, dir: dir, port: port, controlPort: controlPort}
	p.start()
	t.Cleanup(func() {
		if p.cmd != nil {
			p.kill()
		}
	})
	return p
}

func (p *riffleProc) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) }

func (p *riffleProc) start() {
	p.t.Helper()
	p.stderr = new(lockedBuffer)
	p.cmd = exec.Command(p.bin,
		"--override", "log.dirs="+p.dir,
		"--override", fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", p.port, p.controlPort),
		"--override", fmt.Sprintf("advertised.listeners=PLAINTEXT://127.0.0.1:%d", p.port),
	)
	p.cmd.Stdout = p.stderr
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start riffle: %v", err)
	}
	p.waitDone = make(chan struct{})
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.waitDone)
	}()
	// Ready when it answers Metadata with itself as a broker.
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.addr()), kgo.RetryTimeout(time.Second))
	if err != nil {
		p.t.Fatalf("kgo.NewClient: %v", err)
	}
	defer cl.Close()
	ready := poll(startTimeout, func() bool {
		select {
		case <-p.waitDone:
			return true
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
		return err == nil && len(resp.Brokers) > 0
	})
	select {
	case <-p.waitDone:
		p.t.Fatalf("riffle exited during start: %v\n%s", p.waitErr, p.output())
	default:
	}
	if !ready {
		p.t.Fatalf("riffle not ready within %v\n%s", startTimeout, p.output())
	}
}

func (p *riffleProc) output() string { return p.stderr.String() }

// lockedBuffer collects a child's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *riffleProc) kill() {
	p.t.Helper()
	_ = p.cmd.Process.Kill()
	p.wait(requestTimeout)
}

// terminate asks for a graceful shutdown (SIGTERM) and fails the test if
// the process does not exit cleanly in time.
func (p *riffleProc) terminate() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(startTimeout)
	if p.waitErr != nil {
		p.t.Errorf("riffle exited with %v after SIGTERM\n%s", p.waitErr, p.output())
	}
}

func (p *riffleProc) wait(d time.Duration) {
	p.t.Helper()
	select {
	case <-p.waitDone:
	case <-time.After(d):
		_ = p.cmd.Process.Kill()
		<-p.waitDone
		p.t.Errorf("riffle did not exit within %v", d)
	}
	p.cmd = nil
}

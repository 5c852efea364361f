package server_test

import (
	"context"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/riffle-io/riffle/config"
	"github.com/riffle-io/riffle/server/auth/authtest"
)

const plainJAAS = `org.apache.kafka.common.security.plain.PlainLoginModule required
    username="admin" password="admin-secret"
    user_admin="admin-secret"
    user_alice="alice-secret";`

func plainAuth(user, pass string) kgo.Opt {
	return kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism())
}

// TestSASLPlainFranz: SASL/PLAIN on a SASL_PLAINTEXT listener with users
// from the listener's JAAS configuration; the connection's principal is the
// user. Wrong passwords, unknown users and unsupported mechanisms fail with
// Kafka's errors.
func TestSASLPlainFranz(t *testing.T) {
	tb := startBroker(t, withListener("SASL_PLAINTEXT", "SASL_PLAINTEXT", map[string]string{
		"listener.name.sasl_plaintext.sasl.enabled.mechanisms": "PLAIN",
		"listener.name.sasl_plaintext.plain.sasl.jaas.config":  plainJAAS,
	}), func(cfg *config.Broker) { cfg.ConnectionFailedAuthenticationDelayMs = 300 })
	addr := tb.b.ListenerAddr("SASL_PLAINTEXT")
	cl := newClient(t, addr, plainAuth("alice", "alice-secret"))
	produceConsumeOne(t, cl, "sasl-plain")
	if got := tb.b.ConnectionPrincipals(); !contains(got, "User:alice") {
		t.Fatalf("principals %v; want User:alice", got)
	}

	for _, tc := range []struct {
		name string
		opt  kgo.Opt
		want string
		code *kerr.Error
	}{
		{"wrong password", plainAuth("alice", "nope"), "Authentication failed: Invalid username or password", kerr.SaslAuthenticationFailed},
		{"unknown user", plainAuth("mallory", "alice-secret"), "Authentication failed: Invalid username or password", kerr.SaslAuthenticationFailed},
		{"unsupported mechanism", kgo.SASL(scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism()), "", kerr.UnsupportedSaslMechanism},
	} {
		bad := newClient(t, addr, tc.opt, kgo.RetryTimeout(time.Second))
		start := time.Now()
		err := bad.Ping(ctxFor(t, 30*time.Second))
		if !errors.Is(err, tc.code) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want %v %q", tc.name, err, tc.code, tc.want)
		}
		if el := time.Since(start); el < 250*time.Millisecond {
			t.Errorf("%s: failed after %v, before connection.failed.authentication.delay.ms", tc.name, el)
		}
		bad.Close()
	}
}

// saslConn dials addr and sends raw frames.
type frameConn struct {
	t         *testing.T
	nc        net.Conn
	lifetime  int64
	challenge []byte
}

func dialFrames(t *testing.T, addr string) *frameConn {
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &frameConn{t: t, nc: nc}
}

func (f *frameConn) send(b []byte) {
	f.t.Helper()
	out := binary.BigEndian.AppendUint32(nil, uint32(len(b)))
	if _, err := f.nc.Write(append(out, b...)); err != nil {
		f.t.Fatal(err)
	}
}

func (f *frameConn) request(corr int32, req kmsg.Request) {
	f.t.Helper()
	if _, err := f.nc.Write(formatter.AppendRequest(nil, req, corr)); err != nil {
		f.t.Fatal(err)
	}
}

// read returns the next frame, or the error that ended the connection.
func (f *frameConn) read() ([]byte, error) {
	_ = f.nc.SetReadDeadline(time.Now().Add(60 * time.Second))
	var size [4]byte
	if _, err := readFull(f.nc, size[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(size[:]))
	_, err := readFull(f.nc, b)
	return b, err
}

func readFull(nc net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := nc.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// expectClosed: the connection is closed with no answer.
func (f *frameConn) expectClosed(what string) {
	f.t.Helper()
	b, err := f.read()
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		f.t.Fatalf("%s: read %x, %v; want the connection closed", what, b, err)
	}
}

// decode parses a response frame (correlation id, then the body; header
// v0 — SaslHandshake and SaslAuthenticate up to v1 use it).
func decode(t *testing.T, frame []byte, resp kmsg.Response) {
	t.Helper()
	if len(frame) < 4 {
		t.Fatalf("short frame %x", frame)
	}
	if err := resp.ReadFrom(frame[4:]); err != nil {
		t.Fatalf("decode %T: %v", resp, err)
	}
}

// TestSASLStateMachine drives the authentication by hand: requests other
// than ApiVersions and SaslHandshake before authentication close the
// connection; the v0 handshake's raw tokens work; garbage tokens fail
// cleanly; SaslHandshake on a plaintext listener is ILLEGAL_SASL_STATE.
func TestSASLStateMachine(t *testing.T) {
	tb := startBroker(t, withListener("SASL_PLAINTEXT", "SASL_PLAINTEXT", map[string]string{
		"sasl.enabled.mechanisms": "PLAIN",
		"sasl.jaas.config":        plainJAAS,
	}))
	addr := tb.b.ListenerAddr("SASL_PLAINTEXT")

	// Metadata before authentication: closed, unanswered.
	f := dialFrames(t, addr)
	f.request(1, kmsg.NewPtrMetadataRequest())
	f.expectClosed("metadata before authentication")

	// A frame over sasl.server.max.receive.size (512 KiB) before
	// authentication: closed before it is read.
	f = dialFrames(t, addr)
	if _, err := f.nc.Write([]byte{0, 0x10, 0, 0}); err != nil { // 1 MiB
		t.Fatal(err)
	}
	f.expectClosed("1 MiB frame before authentication")

	// ApiVersions is served; then Metadata in the middle of the exchange
	// closes too.
	f = dialFrames(t, addr)
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 0
	f.request(1, av)
	if _, err := f.read(); err != nil {
		t.Fatalf("ApiVersions before authentication: %v", err)
	}
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, "PLAIN"
	f.request(2, hs)
	frame, err := f.read()
	if err != nil {
		t.Fatal(err)
	}
	hr := kmsg.NewPtrSASLHandshakeResponse()
	hr.Version = 1
	decode(t, frame, hr)
	if hr.ErrorCode != 0 || strings.Join(hr.SupportedMechanisms, ",") != "PLAIN" {
		t.Fatalf("handshake: %+v", hr)
	}
	f.request(3, kmsg.NewPtrMetadataRequest())
	f.expectClosed("metadata during authentication")

	// Garbage token in SaslAuthenticate: a clear error, then closed.
	f = dialFrames(t, addr)
	f.request(1, hs)
	if _, err := f.read(); err != nil {
		t.Fatal(err)
	}
	sa := kmsg.NewPtrSASLAuthenticateRequest()
	sa.Version, sa.SASLAuthBytes = 1, []byte("\xff\xfegarbage")
	f.request(2, sa)
	frame, err = f.read()
	if err != nil {
		t.Fatal(err)
	}
	ar := kmsg.NewPtrSASLAuthenticateResponse()
	ar.Version = 1
	decode(t, frame, ar)
	if ar.ErrorCode != kerr.SaslAuthenticationFailed.Code || ar.ErrorMessage == nil ||
		*ar.ErrorMessage != "Authentication failed during authentication due to invalid credentials with SASL mechanism PLAIN" {
		t.Fatalf("garbage token: %+v", ar)
	}
	f.expectClosed("after a failed authentication")

	// The v0 handshake: raw tokens; success is a zero-length frame, then
	// Kafka requests are served.
	f = dialFrames(t, addr)
	hs0 := kmsg.NewPtrSASLHandshakeRequest()
	hs0.Version, hs0.Mechanism = 0, "PLAIN"
	f.request(1, hs0)
	if _, err := f.read(); err != nil {
		t.Fatal(err)
	}
	f.send([]byte("\x00alice\x00alice-secret"))
	if frame, err = f.read(); err != nil || len(frame) != 0 {
		t.Fatalf("raw PLAIN token: %x %v; want an empty frame", frame, err)
	}
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 1
	f.request(2, md)
	if _, err := f.read(); err != nil {
		t.Fatalf("metadata after raw authentication: %v", err)
	}
	// A wrong raw token: closed.
	f = dialFrames(t, addr)
	f.request(1, hs0)
	if _, err := f.read(); err != nil {
		t.Fatal(err)
	}
	f.send([]byte("\x00alice\x00wrong"))
	f.expectClosed("wrong raw token")

	// SaslHandshake on the PLAINTEXT listener: ILLEGAL_SASL_STATE.
	f = dialFrames(t, tb.b.ListenerAddr("PLAINTEXT"))
	f.request(1, hs)
	frame, err = f.read()
	if err != nil {
		t.Fatal(err)
	}
	decode(t, frame, hr)
	if hr.ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("handshake on PLAINTEXT: %+v", hr)
	}
}

// TestSASLSSLPlainClients: SASL/PLAIN over TLS with franz-go,
// kafka-python and librdkafka (confluent-kafka-python), and librdkafka's
// SaslHandshake v0 raw framing (broker.version.fallback 0.10).
func TestSASLSSLPlainClients(t *testing.T) {
	if _, err := exec.LookPath("/usr/bin/python3"); err != nil {
		t.Fatalf("python3: %v", err)
	}
	ca := authtest.NewCA(t, "Riffle Test CA")
	srv := ca.Issue(t, "server", pkix.Name{CommonName: "localhost"})
	tb := startBroker(t, withListener("SASL_SSL", "SASL_SSL", map[string]string{
		"listener.name.sasl_ssl.ssl.keystore.type":       "PEM",
		"listener.name.sasl_ssl.ssl.keystore.location":   srv.File,
		"listener.name.sasl_ssl.sasl.enabled.mechanisms": "PLAIN",
		"listener.name.sasl_ssl.plain.sasl.jaas.config":  plainJAAS,
	}))
	addr := tb.b.ListenerAddr("SASL_SSL")
	cl := newClient(t, addr, plainAuth("alice", "alice-secret"), kgo.DialTLSConfig(ca.ClientConfig(nil)))
	produceConsumeOne(t, cl, "sasl-ssl-franz")

	script := `
import sys, uuid
which, bs, ca, topic = sys.argv[1:5]
if which == "kafka-python":
    from kafka import KafkaProducer, KafkaConsumer
    common = dict(bootstrap_servers=bs, security_protocol="SASL_SSL", ssl_cafile=ca, ssl_check_hostname=False,
                  sasl_mechanism="PLAIN", sasl_plain_username="alice", sasl_plain_password="alice-secret")
    p = KafkaProducer(**common)
    p.send(topic, b"from-" + which.encode()).get(timeout=60)
    p.close()
    c = KafkaConsumer(topic, auto_offset_reset="earliest", consumer_timeout_ms=30000, **common)
    print("got", ",".join(m.value.decode() for m in c))
else:
    from confluent_kafka import Producer, Consumer
    common = {"bootstrap.servers": bs, "security.protocol": "SASL_SSL", "ssl.ca.location": ca,
              "sasl.mechanism": "PLAIN", "sasl.username": "alice", "sasl.password": "alice-secret"}
    if which == "rdkafka-v0":
        common.update({"api.version.request": False, "broker.version.fallback": "0.10.2.1"})
    p = Producer(common)
    p.produce(topic, b"from-" + which.encode())
    if p.flush(60) != 0:
        sys.exit("flush timed out")
    c = Consumer(dict(common, **{"group.id": str(uuid.uuid4()), "auto.offset.reset": "earliest"}))
    c.subscribe([topic])
    got = []
    for _ in range(60):
        m = c.poll(1)
        if m is not None and m.error() is None:
            got.append(m.value().decode())
            break
    c.close()
    print("got", ",".join(got))
`
	for _, which := range []string{"kafka-python", "rdkafka", "rdkafka-v0"} {
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
		topic := "sasl-ssl-" + which
		out, err := exec.CommandContext(ctx, "/usr/bin/python3", "-c", script, which, addr, ca.File, topic).CombinedOutput()
		cancel()
		if err != nil || !strings.Contains(string(out), "got from-"+which) {
			t.Errorf("%s: %v\n%s", which, err, out)
		}
	}
}

func kmsgHandshake(mech string) *kmsg.SASLHandshakeRequest {
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, mech
	return hs
}

func kmsgMetadata() *kmsg.MetadataRequest {
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 1
	return md
}

// authenticateErr sends SaslAuthenticate v1 and returns its error.
func (f *frameConn) authenticateErr(corr int32, token []byte) (int16, string) {
	f.t.Helper()
	sa := kmsg.NewPtrSASLAuthenticateRequest()
	sa.Version, sa.SASLAuthBytes = 1, token
	f.request(corr, sa)
	frame, err := f.read()
	if err != nil {
		f.t.Fatal(err)
	}
	ar := kmsg.NewPtrSASLAuthenticateResponse()
	ar.Version = 1
	decode(f.t, frame, ar)
	msg := ""
	if ar.ErrorMessage != nil {
		msg = *ar.ErrorMessage
	}
	if ar.ErrorCode == 0 {
		f.lifetime = ar.SessionLifetimeMillis
	}
	f.challenge = ar.SASLAuthBytes
	return ar.ErrorCode, msg
}

// authenticate sends SaslAuthenticate v1, which must succeed, and returns
// the session lifetime.
func (f *frameConn) authenticate(corr int32, token []byte) int64 {
	f.t.Helper()
	if code, msg := f.authenticateErr(corr, token); code != 0 {
		f.t.Fatalf("SaslAuthenticate: %d %s", code, msg)
	}
	return f.lifetime
}

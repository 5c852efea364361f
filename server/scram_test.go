package server_test

import (
	"context"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/riffle-io/riffle/config"
	"github.com/riffle-io/riffle/controller"
	"github.com/riffle-io/riffle/server/auth/authtest"
)

// startSCRAMBroker starts a broker with a PLAINTEXT listener (for the
// administrator) and a SASL_SSL listener with both SCRAM mechanisms, and
// creates alice (SHA-256) and bob (SHA-512) through kadm.
func startSCRAMBroker(t *testing.T, extra map[string]string) (*testBroker, *authtest.CA, *kadm.Client) {
	ca := authtest.NewCA(t, "Riffle Test CA")
	srv := ca.Issue(t, "server", pkix.Name{CommonName: "localhost"})
	props := map[string]string{
		"listener.name.sasl_ssl.ssl.keystore.type":       "PEM",
		"listener.name.sasl_ssl.ssl.keystore.location":   srv.File,
		"listener.name.sasl_ssl.sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512",
	}
	for k, v := range extra {
		props[k] = v
	}
	tb := startBroker(t, withListener("SASL_SSL", "SASL_SSL", props))
	adm := newAdmin(t, tb.addr())
	ctx := ctxFor(t, 60*time.Second)
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "alice", Mechanism: kadm.ScramSha256, Iterations: 8192, Password: "alice-secret"},
		{User: "bob", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "bob-secret"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("upsert %s: %v %s", r.User, r.Err, r.ErrMessage)
		}
	}
	return tb, ca, adm
}

// TestSCRAMCredentialsFranz: credentials created with
// AlterUserScramCredentials authenticate franz-go over SASL_SSL with
// either mechanism; DescribeUserScramCredentials lists them; Kafka's
// validation errors; deleting a credential ends its logins.
func TestSCRAMCredentialsFranz(t *testing.T) {
	tb, ca, adm := startSCRAMBroker(t, nil)
	addr := tb.b.ListenerAddr("SASL_SSL")
	tlsOpt := kgo.DialTLSConfig(ca.ClientConfig(nil))
	ctx := ctxFor(t, 60*time.Second)

	alice := newClient(t, addr, tlsOpt, kgo.SASL(scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism()))
	produceConsumeOne(t, alice, "scram-alice")
	bob := newClient(t, addr, tlsOpt, kgo.SASL(scram.Auth{User: "bob", Pass: "bob-secret"}.AsSha512Mechanism()))
	produceConsumeOne(t, bob, "scram-bob")
	got := tb.b.ConnectionPrincipals()
	if !contains(got, "User:alice") || !contains(got, "User:bob") {
		t.Fatalf("principals %v", got)
	}

	for _, tc := range []struct {
		name string
		mech sasl.Mechanism
	}{
		{"wrong password", scram.Auth{User: "alice", Pass: "nope"}.AsSha256Mechanism()},
		{"unknown user", scram.Auth{User: "mallory", Pass: "alice-secret"}.AsSha256Mechanism()},
		{"other mechanism's user", scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism()},
	} {
		cl := newClient(t, addr, tlsOpt, kgo.SASL(tc.mech), kgo.RetryTimeout(time.Second))
		err := cl.Ping(ctx)
		if !errors.Is(err, kerr.SaslAuthenticationFailed) || !strings.Contains(err.Error(), "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-") {
			t.Errorf("%s: %v", tc.name, err)
		}
		cl.Close()
	}

	d, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(d) != 2 || len(d["alice"].CredInfos) != 1 || d["alice"].CredInfos[0].Mechanism != kadm.ScramSha256 ||
		d["alice"].CredInfos[0].Iterations != 8192 || d["bob"].CredInfos[0].Mechanism != kadm.ScramSha512 {
		t.Fatalf("describe all: %+v", d)
	}
	d, err = adm.DescribeUserSCRAMs(ctx, "alice", "nobody")
	if err != nil {
		t.Fatal(err)
	}
	if d["alice"].Err != nil || !errors.Is(d["nobody"].Err, kerr.ResourceNotFound) {
		t.Fatalf("describe named: %+v", d)
	}

	// Invalid alterations, sent raw: kadm refuses bad iterations itself.
	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	del := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
	del.Name, del.Mechanism = "ghost", 1
	req.Deletions = append(req.Deletions, del)
	for _, u := range []struct {
		name string
		mech int8
		iter int32
	}{{"carol", 1, 100}, {"dave", 1, 100000}, {"erin", 3, 4096}, {"alice", 1, 4096}, {"alice", 2, 4096}} {
		up := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		up.Name, up.Mechanism, up.Iterations, up.Salt, up.SaltedPassword = u.name, u.mech, u.iter, []byte("salt"), []byte("salted")
		req.Upsertions = append(req.Upsertions, up)
	}
	resp, err := req.RequestWith(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		code int16
		msg  string
	}{
		"ghost": {kerr.ResourceNotFound.Code, "Attempt to delete a user credential that does not exist"},
		"carol": {kerr.UnacceptableCredential.Code, "Too few iterations"},
		"dave":  {kerr.UnacceptableCredential.Code, "Too many iterations"},
		"erin":  {kerr.UnsupportedSaslMechanism.Code, "Unknown SCRAM mechanism"},
		"alice": {kerr.DuplicateResource.Code, "A user credential cannot be altered twice in the same request"},
	}
	if len(resp.Results) != len(want) {
		t.Fatalf("results %+v", resp.Results)
	}
	for _, r := range resp.Results {
		w := want[r.User]
		if r.ErrorCode != w.code || r.ErrorMessage == nil || *r.ErrorMessage != w.msg {
			t.Errorf("%s: %d %v; want %d %q", r.User, r.ErrorCode, r.ErrorMessage, w.code, w.msg)
		}
	}

	// Deleting bob's credential: bob can no longer log in.
	res, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "bob", Mechanism: kadm.ScramSha512}}, nil)
	if err != nil || res["bob"].Err != nil {
		t.Fatalf("delete bob: %v %+v", err, res)
	}
	cl := newClient(t, addr, tlsOpt, kgo.SASL(scram.Auth{User: "bob", Pass: "bob-secret"}.AsSha512Mechanism()), kgo.RetryTimeout(time.Second))
	if err := cl.Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("bob after deletion: %v", err)
	}

	// Credentials survive a restart: they are in the metadata log.
	tb.restart()
	addr = tb.b.ListenerAddr("SASL_SSL")
	alice2 := newClient(t, addr, tlsOpt, kgo.SASL(scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism()))
	if err := alice2.Ping(ctxFor(t, 60*time.Second)); err != nil {
		t.Fatalf("alice after restart: %v", err)
	}
}

// saramaSCRAM adapts franz-go's SCRAM client to Sarama's SCRAMClient.
type saramaSCRAM struct {
	mech    func(scram.Auth) sasl.Mechanism
	user    string
	pass    string
	session sasl.Session
	done    bool
}

func (s *saramaSCRAM) Begin(user, pass, _ string) error { s.user, s.pass = user, pass; return nil }
func (s *saramaSCRAM) Done() bool                       { return s.done }
func (s *saramaSCRAM) Step(challenge string) (string, error) {
	if s.session == nil {
		sess, first, err := s.mech(scram.Auth{User: s.user, Pass: s.pass}).Authenticate(context.Background(), "")
		s.session = sess
		return string(first), err
	}
	done, next, err := s.session.Challenge([]byte(challenge))
	s.done = done
	return string(next), err
}

// TestSCRAMSaramaTLS: Sarama's SCRAM-SHA-512 over TLS.
func TestSCRAMSaramaTLS(t *testing.T) {
	tb, ca, _ := startSCRAMBroker(t, nil)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Net.TLS.Enable = true
	cfg.Net.TLS.Config = ca.ClientConfig(nil)
	cfg.Net.SASL.Enable = true
	cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
	cfg.Net.SASL.User, cfg.Net.SASL.Password = "bob", "bob-secret"
	cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient {
		return &saramaSCRAM{mech: func(a scram.Auth) sasl.Mechanism { return a.AsSha512Mechanism() }}
	}
	cfg.Producer.Return.Successes = true
	cfg.Admin.Timeout = 30 * time.Second
	addr := tb.b.ListenerAddr("SASL_SSL")
	ca2, err := sarama.NewClusterAdmin([]string{addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ca2.Close()
	if err := ca2.CreateTopic("scram-sarama", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	p, err := sarama.NewSyncProducer([]string{addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: "scram-sarama", Value: sarama.StringEncoder("hi")}); err != nil {
		t.Fatal(err)
	}
	cfg.Net.SASL.Password = "wrong"
	if _, err := sarama.NewClient([]string{addr}, cfg); err == nil {
		t.Fatal("sarama with a wrong password connected")
	}
}

// TestSCRAMLibrdkafka: librdkafka (confluent-kafka-python) and kcat with
// SCRAM-SHA-256 over SASL_SSL.
func TestSCRAMLibrdkafka(t *testing.T) {
	if _, err := exec.LookPath("/usr/bin/python3"); err != nil {
		t.Fatalf("python3: %v", err)
	}
	tb, ca, _ := startSCRAMBroker(t, nil)
	addr := tb.b.ListenerAddr("SASL_SSL")
	script := `
import sys, uuid
from confluent_kafka import Producer, Consumer
bs, ca, topic = sys.argv[1:4]
common = {"bootstrap.servers": bs, "security.protocol": "SASL_SSL", "ssl.ca.location": ca,
          "sasl.mechanism": "SCRAM-SHA-256", "sasl.username": "alice", "sasl.password": "alice-secret"}
p = Producer(common)
p.produce(topic, b"from-rdkafka")
if p.flush(60) != 0:
    sys.exit("flush timed out")
c = Consumer(dict(common, **{"group.id": str(uuid.uuid4()), "auto.offset.reset": "earliest"}))
c.subscribe([topic])
for _ in range(60):
    m = c.poll(1)
    if m is not None and m.error() is None:
        print("got", m.value().decode())
        break
c.close()
`
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/bin/python3", "-c", script, addr, ca.File, "scram-rdkafka").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "got from-rdkafka") {
		t.Fatalf("librdkafka: %v\n%s", err, out)
	}
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Fatalf("kcat: %v", err)
	}
	kcat := func(args ...string) ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		base := []string{"-b", addr, "-X", "security.protocol=SASL_SSL", "-X", "ssl.ca.location=" + ca.File,
			"-X", "sasl.mechanisms=SCRAM-SHA-256", "-X", "sasl.username=alice", "-X", "sasl.password=alice-secret"}
		return exec.CommandContext(ctx, "kcat", append(base, args...)...).CombinedOutput()
	}
	out, err = kcat("-C", "-t", "scram-rdkafka", "-o", "beginning", "-c", "1", "-e")
	if err != nil || !strings.Contains(string(out), "from-rdkafka") {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
}

// TestSCRAMCredentialsCluster: AlterUserScramCredentials sent to any broker
// is forwarded to the active controller; every broker then authenticates
// the user.
func TestSCRAMCredentialsCluster(t *testing.T) {
	tc := startCluster(t, 3, func(_ int32, cfg *config.Broker) {
		withListener("SASL_PLAINTEXT", "SASL_PLAINTEXT", map[string]string{"sasl.enabled.mechanisms": "SCRAM-SHA-512"})(cfg)
	})
	ctx := ctxFor(t, 90*time.Second)
	for i := range 3 {
		adm := newAdmin(t, tc.node(i).addr())
		user := fmt.Sprintf("user%d", i)
		res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: user, Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "pw-" + user}})
		if err != nil || res[user].Err != nil {
			t.Fatalf("upsert %s through node %d: %v %+v", user, i, err, res)
		}
	}
	for i := range 3 {
		addr := tc.node(i).b.ListenerAddr("SASL_PLAINTEXT")
		for j := range 3 {
			user := fmt.Sprintf("user%d", j)
			ok := poll(60*time.Second, func() bool {
				cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(scram.Auth{User: user, Pass: "pw-" + user}.AsSha512Mechanism()), kgo.RetryTimeout(time.Second))
				if err != nil {
					return false
				}
				defer cl.Close()
				pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				return cl.Ping(pctx) == nil
			})
			if !ok {
				t.Fatalf("%s cannot log in on node %d", user, i)
			}
		}
	}
}

// TestSCRAMFromFormat: credentials given to `riffle format --add-scram`
// log in at the first start, on a broker whose only client listener needs
// SASL; the file holding them is removed once they are in the metadata log.
func TestSCRAMFromFormat(t *testing.T) {
	dir := t.TempDir()
	c, err := controller.ParseAddScram("SCRAM-SHA-512=[name=admin,password=admin-secret,iterations=8192]")
	if err != nil {
		t.Fatal(err)
	}
	if err := controller.WriteBootstrapScram(dir, []controller.BootstrapScram{c}); err != nil {
		t.Fatal(err)
	}
	tb := &testBroker{t: t, dir: dir, opts: []func(*config.Broker){
		withListener("SASL_PLAINTEXT", "SASL_PLAINTEXT", map[string]string{"sasl.enabled.mechanisms": "SCRAM-SHA-512"}),
	}}
	tb.start()
	t.Cleanup(func() {
		if tb.running {
			tb.stop()
		}
	})
	addr := tb.b.ListenerAddr("SASL_PLAINTEXT")
	cl := newClient(t, addr, kgo.SASL(scram.Auth{User: "admin", Pass: "admin-secret"}.AsSha512Mechanism()))
	d, err := kadm.NewClient(cl).DescribeUserSCRAMs(ctxFor(t, 30*time.Second), "admin")
	if err != nil || d["admin"].Err != nil || d["admin"].CredInfos[0].Iterations != 8192 {
		t.Fatalf("describe admin: %v %+v", err, d)
	}
	if _, err := os.Stat(filepath.Join(dir, controller.BootstrapScramFile)); !os.IsNotExist(err) {
		t.Fatalf("%s still there: %v", controller.BootstrapScramFile, err)
	}
	for _, bad := range []string{"SCRAM-SHA-1=[name=a,password=b]", "SCRAM-SHA-256=[password=b]", "SCRAM-SHA-256=[name=a,password=b,iterations=10]", "SCRAM-SHA-256=name=a"} {
		if _, err := controller.ParseAddScram(bad); err == nil {
			t.Errorf("--add-scram %s accepted", bad)
		}
	}
}

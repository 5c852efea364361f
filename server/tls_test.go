package server_test

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riffle-io/riffle/config"
	"github.com/riffle-io/riffle/server/auth/authtest"
)

// withListener adds a client listener name://127.0.0.1:0 of the given
// security protocol (advertised on its bound port) and sets props, as
// server.properties would.
func withListener(name, protocol string, props map[string]string) func(*config.Broker) {
	return func(cfg *config.Broker) {
		cfg.Listeners = append(cfg.Listeners, config.Listener{Name: name, Host: "127.0.0.1"})
		cfg.AdvertisedListeners = append(cfg.AdvertisedListeners, config.Listener{Name: name, Host: "127.0.0.1"})
		cfg.ListenerSecurityProtocolMap[name] = protocol
		for k, v := range props {
			cfg.Raw[k] = v
		}
	}
}

// produceConsumeOne round-trips one record through cl on a new topic.
func produceConsumeOne(t *testing.T, cl *kgo.Client, topic string) {
	t.Helper()
	ctx := ctxFor(t, 60*time.Second)
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v-" + topic)}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	cl.AddConsumeTopics(topic)
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consume %s: %v", topic, err)
		}
		for _, r := range fs.Records() {
			if string(r.Value) == "v-"+topic {
				return
			}
		}
	}
}

func TestTLSListenerFranz(t *testing.T) {
	ca := authtest.NewCA(t, "Riffle Test CA")
	srv := ca.Issue(t, "server", pkix.Name{CommonName: "localhost"})
	tb := startBroker(t, withListener("SSL", "SSL", map[string]string{
		"listener.name.ssl.ssl.keystore.type":     "PEM",
		"listener.name.ssl.ssl.keystore.location": srv.File,
	}))
	addr := tb.b.ListenerAddr("SSL")
	cl := newClient(t, addr, kgo.DialTLSConfig(ca.ClientConfig(nil)))
	produceConsumeOne(t, cl, "tls-franz")

	// Plaintext spoken to the TLS port: the handshake fails and the
	// connection is closed, without an answer.
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	apiVersions := []byte{0, 0, 0, 14, 0, 18, 0, 0, 0, 0, 0, 1, 0, 4, 'a', 'b', 'c', 'd'}
	if _, err := nc.Write(apiVersions); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 64)
	n, err := nc.Read(buf)
	for err == nil && n > 0 && buf[0] == 0x15 { // a TLS alert record, then EOF
		n, err = nc.Read(buf)
	}
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("plaintext on the TLS port: read %d bytes %x, err %v; want the connection closed", n, buf[:n], err)
	}

	// A client that does not trust the broker's CA fails the handshake.
	other := authtest.NewCA(t, "Other CA")
	_, err = tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, other.ClientConfig(nil))
	if err == nil {
		t.Fatal("a client trusting another CA completed the handshake")
	}
}

// TestTLSMutualPrincipal: with ssl.client.auth=required the principal is
// the client certificate's subject, mapped by ssl.principal.mapping.rules;
// a client without a certificate is refused.
func TestTLSMutualPrincipal(t *testing.T) {
	ca := authtest.NewCA(t, "Riffle Test CA")
	srv := ca.Issue(t, "server", pkix.Name{CommonName: "localhost"})
	alice := ca.Issue(t, "alice", pkix.Name{CommonName: "alice", OrganizationalUnit: []string{"eng"}, Organization: []string{"Acme, Inc"}, Country: []string{"US"}})
	bob := ca.Issue(t, "bob", pkix.Name{CommonName: "bob", Organization: []string{"Other"}})
	tb := startBroker(t, withListener("SSL", "SSL", map[string]string{
		"listener.name.ssl.ssl.keystore.type":              "PEM",
		"listener.name.ssl.ssl.keystore.certificate.chain": string(srv.CertPEM),
		"listener.name.ssl.ssl.keystore.key":               string(srv.KeyPEM),
		"listener.name.ssl.ssl.truststore.type":            "PEM",
		"listener.name.ssl.ssl.truststore.location":        ca.File,
		"listener.name.ssl.ssl.client.auth":                "required",
		"ssl.principal.mapping.rules":                      "RULE:^CN=([a-z]+),OU=eng,.*$/$1-eng/U,DEFAULT",
	}))
	addr := tb.b.ListenerAddr("SSL")

	cl := newClient(t, addr, kgo.DialTLSConfig(ca.ClientConfig(alice)))
	produceConsumeOne(t, cl, "mtls-alice")
	if got := tb.b.ConnectionPrincipals(); !contains(got, "User:ALICE-ENG") {
		t.Fatalf("principals %v; want User:ALICE-ENG", got)
	}
	clBob := newClient(t, addr, kgo.DialTLSConfig(ca.ClientConfig(bob)))
	if err := clBob.Ping(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := tb.b.ConnectionPrincipals(); !contains(got, "User:CN=bob,O=Other") {
		t.Fatalf("principals %v; want the DEFAULT rule's User:CN=bob,O=Other", got)
	}

	// No client certificate: the handshake fails.
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, ca.ClientConfig(nil))
	if err == nil {
		// TLS 1.3 reports the server's refusal on the first read.
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("no client certificate: err %v; want a certificate alert", err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestTLSKeystoreReload: altering the listener's key store location
// (Kafka's dynamic SSL reconfiguration) makes new connections present the
// new certificate; connections open before keep working.
func TestTLSKeystoreReload(t *testing.T) {
	ca := authtest.NewCA(t, "Riffle Test CA")
	first := ca.Issue(t, "first", pkix.Name{CommonName: "localhost", SerialNumber: "first"})
	second := ca.Issue(t, "second", pkix.Name{CommonName: "localhost", SerialNumber: "second"})
	tb := startBroker(t, withListener("SSL", "SSL", map[string]string{
		"listener.name.ssl.ssl.keystore.type":     "PEM",
		"listener.name.ssl.ssl.keystore.location": first.File,
	}))
	addr := tb.b.ListenerAddr("SSL")
	serial := func() string {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, ca.ClientConfig(nil))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.SerialNumber
	}
	if s := serial(); s != "first" {
		t.Fatalf("serving %q, want first", s)
	}
	cl := newClient(t, addr, kgo.DialTLSConfig(ca.ClientConfig(nil)))
	adm := kadm.NewClient(cl)
	ctx := ctxFor(t, 60*time.Second)
	// A cluster-wide default is refused: key stores are per broker.
	resp, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "listener.name.ssl.ssl.keystore.location", Value: &second.File}})
	if err == nil && resp[0].Err == nil {
		t.Fatal("a cluster-default key store was accepted")
	}
	resp, err = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "listener.name.ssl.ssl.keystore.location", Value: &second.File}}, 1)
	if err != nil || resp[0].Err != nil {
		t.Fatalf("alter: %v %+v", err, resp)
	}
	if !poll(30*time.Second, func() bool { return serial() == "second" }) {
		t.Fatalf("still serving %q after the alter", serial())
	}
	produceConsumeOne(t, cl, "tls-reload")
}

// TestTLSPKCS12KeyStore: a PKCS12 key store and trust store as openssl
// writes them (-legacy: the encryption golang.org/x/crypto/pkcs12 reads).
func TestTLSPKCS12KeyStore(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatalf("openssl is needed to write PKCS12 files: %v", err)
	}
	ca := authtest.NewCA(t, "Riffle Test CA")
	srv := ca.Issue(t, "server", pkix.Name{CommonName: "localhost"})
	dir := t.TempDir()
	ks := filepath.Join(dir, "server.p12")
	out, err := exec.Command("openssl", "pkcs12", "-export", "-legacy", "-in", srv.CertFile, "-inkey", srv.KeyFile,
		"-certfile", ca.File, "-out", ks, "-passout", "pass:secret").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl: %v %s", err, out)
	}
	tb := startBroker(t, withListener("SSL", "SSL", map[string]string{
		"ssl.keystore.type":     "PKCS12",
		"ssl.keystore.location": ks,
		"ssl.keystore.password": "secret",
		"ssl.enabled.protocols": "TLSv1.2",
		"ssl.cipher.suites":     "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
	}))
	addr := tb.b.ListenerAddr("SSL")
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, ca.ClientConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	st := c.ConnectionState()
	c.Close()
	if st.Version != tls.VersionTLS12 || st.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 {
		t.Fatalf("negotiated %x / %s; want TLS 1.2 with the configured suite", st.Version, tls.CipherSuiteName(st.CipherSuite))
	}
	cl := newClient(t, addr, kgo.DialTLSConfig(ca.ClientConfig(nil)))
	produceConsumeOne(t, cl, "tls-pkcs12")
}

// TestTLSBadKeyStoreRefusesStart: a listener whose key store cannot be
// read does not start (Kafka fails start-up likewise).
func TestTLSBadKeyStoreRefusesStart(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.pem")
	for name, props := range map[string]map[string]string{
		"missing file": {"ssl.keystore.type": "PEM", "ssl.keystore.location": missing},
		"JKS":          {"ssl.keystore.location": os.DevNull},
		"no keystore":  {},
	} {
		tb := &testBroker{t: t, dir: t.TempDir(), opts: []func(*config.Broker){withListener("SSL", "SSL", props)}}
		if err := tb.startErr(); err == nil {
			tb.stop()
			t.Errorf("%s: the broker started", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

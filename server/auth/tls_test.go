package auth_test

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riffle-io/riffle/server/auth"
	"github.com/riffle-io/riffle/server/auth/authtest"
)

func TestFormatDNAsJava(t *testing.T) {
	for _, tc := range []struct {
		name pkix.Name
		want string
	}{
		{pkix.Name{CommonName: "alice", OrganizationalUnit: []string{"eng"}, Organization: []string{"Acme"}, Country: []string{"US"}}, "CN=alice,OU=eng,O=Acme,C=US"},
		// Java escapes , = + < > # ; " \ anywhere, and edge spaces.
		{pkix.Name{CommonName: "a,b=c+d#e", Organization: []string{" x "}}, `CN=a\,b\=c\+d\#e,O=\ x\ `},
		// Types without an RFC 2253 keyword are OID=#hex of the DER value.
		{pkix.Name{CommonName: "svc", SerialNumber: "42"}, "2.5.4.5=#13023432,CN=svc"},
		{pkix.Name{CommonName: "h", Locality: []string{"Paris"}, Province: []string{"IDF"}, StreetAddress: []string{"1 rue"}}, "CN=h,STREET=1 rue,L=Paris,ST=IDF"},
	} {
		raw, err := asn1.Marshal(tc.name.ToRDNSequence())
		if err != nil {
			t.Fatal(err)
		}
		got, err := auth.FormatDN(raw)
		if err != nil || got != tc.want {
			t.Errorf("FormatDN(%v) = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	if _, err := auth.FormatDN([]byte{0x30, 0x05, 1}); err == nil {
		t.Error("garbage DN accepted")
	}
}

// Rules and expectations from Kafka's SslPrincipalMapperTest.
func TestSSLPrincipalMapper(t *testing.T) {
	m, err := auth.NewSSLPrincipalMapper(`RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/, RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L, RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/U, RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U, DEFAULT`)
	if err != nil {
		t.Fatal(err)
	}
	for dn, want := range map[string]string{
		"CN=Duke,OU=ServiceUsers,O=Org,C=US":        "Duke",
		"CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US": "duke@sme",
		"cn=duke,ou=sme,dc=mycp,dc=com":             "DUKE@SME",
		"cN=duke,OU=JavaSoft,O=Sun Microsystems":    "DUKE",
		"OU=JavaSoft,O=Sun Microsystems,C=US":       "OU=JavaSoft,O=Sun Microsystems,C=US",
	} {
		if got, err := m.Name(dn); err != nil || got != want {
			t.Errorf("%s → %q, %v; want %q", dn, got, err, want)
		}
	}
	noDefault, err := auth.NewSSLPrincipalMapper(`RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noDefault.Name("CN=x,O=y"); err == nil || !strings.Contains(err.Error(), "No rules apply") {
		t.Errorf("no matching rule: %v", err)
	}
	for _, bad := range []string{"DEFAULT/", "RULE:/", "RULE:x/y", "RULE:^([a/b/", "ugh"} {
		if _, err := auth.NewSSLPrincipalMapper(bad); err == nil {
			t.Errorf("rules %q accepted", bad)
		}
	}
}

// TestEncryptedPEMKey: ssl.key.password decrypts a PBES2 PKCS#8 key as
// openssl writes it; a wrong password is an error, not a panic.
func TestEncryptedPEMKey(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatalf("openssl: %v", err)
	}
	ca := authtest.NewCA(t, "CA")
	leaf := ca.Issue(t, "srv", pkix.Name{CommonName: "localhost"})
	enc := filepath.Join(t.TempDir(), "enc.key")
	out, err := exec.Command("openssl", "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", leaf.KeyFile, "-out", enc, "-passout", "pass:pw").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl: %v %s", err, out)
	}
	key, _ := os.ReadFile(enc)
	props := func(pw string) auth.Props {
		m := map[string]string{"ssl.keystore.type": "PEM", "ssl.keystore.certificate.chain": string(leaf.CertPEM), "ssl.keystore.key": string(key), "ssl.key.password": pw}
		return func(n string) (string, bool) { v, ok := m[n]; return v, ok }
	}
	if _, err := auth.ServerTLSConfig(props("pw")); err != nil {
		t.Fatalf("right password: %v", err)
	}
	if _, err := auth.ServerTLSConfig(props("wrong")); err == nil {
		t.Fatal("wrong password accepted")
	}
	if _, err := auth.ServerTLSConfig(props("")); err == nil || !strings.Contains(err.Error(), "ssl.key.password") {
		t.Fatalf("no password: %v", err)
	}
}

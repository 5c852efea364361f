package auth_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"crypto/sha256"

	"github.com/riffle-io/riffle/server/auth"
)

// TestSASLServersRefuseGarbage: random and truncated client tokens fail
// with an error, never a panic or a completed authentication.
func TestSASLServersRefuseGarbage(t *testing.T) {
	lookup := func(string) (auth.ScramCredential, bool) {
		return auth.ScramCredential{Salt: []byte("salt"), StoredKey: make([]byte, 32), ServerKey: make([]byte, 32), Iterations: 4096}, true
	}
	unsecured, err := auth.NewUnsecuredValidator(nil)
	if err != nil {
		t.Fatal(err)
	}
	servers := map[string]func() auth.SaslServer{
		"PLAIN":       func() auth.SaslServer { return &auth.PlainServer{Users: map[string]string{"alice": "a-long-secret"}} },
		"SCRAM":       func() auth.SaslServer { return &auth.ScramServer{Hash: sha256.New, Lookup: lookup} },
		"OAUTHBEARER": func() auth.SaslServer { return &auth.OAuthBearerServer{Validator: unsecured} },
	}
	seeds := []string{
		"", "\x00", "\x00a\x00", "n,,", "n,,n=a,r=x", "n,,n=a,r=", "c=biws,r=x,p=", "n,,\x01auth=Bearer \x01\x01",
		"n,,\x01auth=Bearer a.b.c\x01\x01", "y,a=,n==2,r=\x01", "p=tls-unique,,n=a,r=b",
		"n,,\x01auth=Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOjF9.\x01\x01",
	}
	r := rand.New(rand.NewPCG(1, 2))
	for name, mk := range servers {
		for i := 0; i < 3000; i++ {
			var tok []byte
			if i < len(seeds) {
				tok = []byte(seeds[i])
			} else {
				base := []byte(seeds[r.IntN(len(seeds))])
				tok = append(base, []byte(strings.Repeat(string(rune(r.IntN(128))), r.IntN(8)))...)
				for j := range tok {
					if r.IntN(8) == 0 {
						tok[j] = byte(r.IntN(256))
					}
				}
			}
			s := mk()
			_, done, err := s.Evaluate(tok)
			if done && err == nil {
				t.Fatalf("%s: garbage %q authenticated as %q", name, tok, s.AuthorizationID())
			}
			if err == nil && !done {
				// A challenge: the next garbage token must fail.
				if _, done, err := s.Evaluate(tok); done || err == nil {
					t.Fatalf("%s: second garbage token %q: done %v err %v", name, tok, done, err)
				}
			}
		}
	}
}

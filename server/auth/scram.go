package auth

// SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) on the server side,
// as Kafka's ScramSaslServer: credentials are the stored salt, iteration
// count, StoredKey and ServerKey (controller.ScramCredential), looked up by
// user name.
//
//	client-first  n,,n=<user>,r=<client nonce>[,<extensions>]
//	server-first  r=<client nonce><server nonce>,s=<salt>,i=<iterations>
//	client-final  c=<base64 gs2 header>,r=<nonce>,p=<base64 proof>
//	server-final  v=<base64 server signature>

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"
)

// ScramCredential is what the server stores for a user.
type ScramCredential struct {
	Salt, StoredKey, ServerKey []byte
	Iterations                 int
}

// ScramLookup finds a user's credential for the exchange's mechanism.
type ScramLookup func(user string) (ScramCredential, bool)

// ScramServer is one SCRAM exchange.
type ScramServer struct {
	Hash   func() hash.Hash
	Lookup ScramLookup

	state           int // 0: client-first expected, 1: client-final expected, 2: done
	user            string
	cred            ScramCredential
	nonce           string
	clientFirstBare string
	serverFirst     string
}

// maxScramMessage bounds a SCRAM message: they are a few hundred bytes.
const maxScramMessage = 4096

func (s *ScramServer) Evaluate(token []byte) ([]byte, bool, error) {
	if len(token) > maxScramMessage {
		return nil, false, errors.New("SCRAM message too long")
	}
	switch s.state {
	case 0:
		return s.clientFirst(string(token))
	case 1:
		return s.clientFinal(string(token))
	}
	return nil, false, errors.New("SCRAM exchange already complete")
}

func (s *ScramServer) clientFirst(msg string) ([]byte, bool, error) {
	// gs2-header: channel binding flag (n or y; p= is channel binding,
	// which Kafka does not support), optional a=authzid.
	parts := strings.SplitN(msg, ",", 3)
	if len(parts) != 3 {
		return nil, false, fmt.Errorf("invalid SCRAM client first message")
	}
	if parts[0] != "n" && parts[0] != "y" {
		return nil, false, fmt.Errorf("invalid SCRAM channel binding flag %q", parts[0])
	}
	authzid := ""
	if parts[1] != "" {
		a, ok := strings.CutPrefix(parts[1], "a=")
		if !ok {
			return nil, false, fmt.Errorf("invalid SCRAM authorization id")
		}
		authzid = a
	}
	s.clientFirstBare = parts[2]
	attrs := strings.Split(parts[2], ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") {
		return nil, false, fmt.Errorf("invalid SCRAM client first message")
	}
	user, err := saslName(attrs[0][2:])
	if err != nil {
		return nil, false, err
	}
	clientNonce := attrs[1][2:]
	if clientNonce == "" || strings.ContainsAny(clientNonce, ",") {
		return nil, false, fmt.Errorf("invalid SCRAM nonce")
	}
	for _, ext := range attrs[2:] {
		// Extensions (Kafka's tokenauth=true for delegation tokens):
		// Riffle has no delegation tokens.
		if strings.HasPrefix(ext, "tokenauth=") && ext != "tokenauth=false" {
			return nil, false, &AuthenticationError{Msg: "Authentication failed: delegation tokens are not supported"}
		}
	}
	if authzid != "" {
		a, err := saslName(authzid)
		if err != nil || a != user {
			return nil, false, &AuthenticationError{Msg: "Authentication failed: Client requested an authorization id that is different from username"}
		}
	}
	cred, ok := s.Lookup(user)
	if !ok || cred.Iterations <= 0 {
		return nil, false, fmt.Errorf("Authentication failed: Invalid user credentials")
	}
	if cred.Iterations < 4096 {
		return nil, false, fmt.Errorf("Iterations %d is less than the minimum 4096", cred.Iterations)
	}
	var rnd [24]byte
	_, _ = rand.Read(rnd[:])
	s.user, s.cred = user, cred
	s.nonce = clientNonce + base64.RawURLEncoding.EncodeToString(rnd[:])
	s.serverFirst = "r=" + s.nonce + ",s=" + base64.StdEncoding.EncodeToString(cred.Salt) + ",i=" + strconv.Itoa(cred.Iterations)
	s.state = 1
	return []byte(s.serverFirst), false, nil
}

func (s *ScramServer) clientFinal(msg string) ([]byte, bool, error) {
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return nil, false, fmt.Errorf("invalid SCRAM client final message")
	}
	withoutProof, proofB64 := msg[:i], msg[i+3:]
	attrs := strings.Split(withoutProof, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "c=") || !strings.HasPrefix(attrs[1], "r=") {
		return nil, false, fmt.Errorf("invalid SCRAM client final message")
	}
	// Kafka checks that the nonce ends with the server's (ScramSaslServer):
	// librdkafka sends its own nonce in front of the whole server nonce.
	if !strings.HasSuffix(attrs[1][2:], s.nonce) {
		return nil, false, fmt.Errorf("Invalid client nonce in the final client message.")
	}
	proof, err := base64.StdEncoding.DecodeString(proofB64)
	if err != nil {
		return nil, false, fmt.Errorf("invalid SCRAM proof")
	}
	authMessage := s.clientFirstBare + "," + s.serverFirst + "," + withoutProof
	mac := hmac.New(s.Hash, s.cred.StoredKey)
	mac.Write([]byte(authMessage))
	clientSignature := mac.Sum(nil)
	if len(proof) != len(clientSignature) {
		return nil, false, fmt.Errorf("Invalid client credentials")
	}
	clientKey := make([]byte, len(proof))
	for i := range proof {
		clientKey[i] = proof[i] ^ clientSignature[i]
	}
	h := s.Hash()
	h.Write(clientKey)
	if subtle.ConstantTimeCompare(h.Sum(nil), s.cred.StoredKey) != 1 {
		return nil, false, fmt.Errorf("Invalid client credentials")
	}
	mac = hmac.New(s.Hash, s.cred.ServerKey)
	mac.Write([]byte(authMessage))
	s.state = 2
	return []byte("v=" + base64.StdEncoding.EncodeToString(mac.Sum(nil))), true, nil
}

// saslName decodes RFC 5802's saslname: "=2C" is ',' and "=3D" is '='.
func saslName(s string) (string, error) {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			sb.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			sb.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			sb.WriteByte('=')
		default:
			return "", fmt.Errorf("invalid SCRAM user name encoding")
		}
		i += 2
	}
	if sb.Len() == 0 {
		return "", fmt.Errorf("empty SCRAM user name")
	}
	return sb.String(), nil
}

func (s *ScramServer) AuthorizationID() string     { return s.user }
func (s *ScramServer) CredentialExpiry() time.Time { return time.Time{} }

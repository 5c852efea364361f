package controller

// SCRAM credentials written at format time (kafka-storage.sh format
// --add-scram), so that the first administrator can log in to a cluster
// whose listeners all require SASL. Kafka puts them in the bootstrap
// checkpoint of the metadata log; Riffle's metadata log is raft's, created
// at first start, so format leaves them in BootstrapScramFile in the
// metadata directory, and the first start applies them (Broker.Start).

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// BootstrapScramFile holds the credentials format was given. It holds
// salted passwords, which log in as the user: it is written 0600 and
// removed once the credentials are in the metadata log.
const BootstrapScramFile = "bootstrap-scram.json"

// BootstrapScram is one credential given to format.
type BootstrapScram struct {
	Name           string `json:"name"`
	Mechanism      int8   `json:"mechanism"`
	Iterations     int32  `json:"iterations"`
	Salt           []byte `json:"salt"`
	SaltedPassword []byte `json:"salted_password"`
}

// ParseAddScram reads kafka-storage.sh's --add-scram argument,
// "SCRAM-SHA-256=[name=alice,password=alice-secret]", optionally with
// iterations=N and salt=<base64> (and saltedpassword=<base64> instead of
// password), and salts the password (RFC 5802's Hi, PBKDF2).
func ParseAddScram(arg string) (BootstrapScram, error) {
	bad := func(why string) (BootstrapScram, error) {
		return BootstrapScram{}, fmt.Errorf("--add-scram %q: %s (want SCRAM-SHA-256=[name=alice,password=alice-secret])", arg, why)
	}
	mech, rest, ok := strings.Cut(arg, "=")
	if !ok || !strings.HasPrefix(rest, "[") || !strings.HasSuffix(rest, "]") {
		return bad("malformed")
	}
	var c BootstrapScram
	switch strings.TrimSpace(mech) {
	case "SCRAM-SHA-256":
		c.Mechanism = ScramSHA256
	case "SCRAM-SHA-512":
		c.Mechanism = ScramSHA512
	default:
		return bad("unknown mechanism " + mech)
	}
	c.Iterations = ScramMinIterations
	var password string
	for _, kv := range strings.Split(rest[1:len(rest)-1], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return bad("expected key=value in " + kv)
		}
		v = strings.Trim(strings.TrimSpace(v), `"`)
		var err error
		switch strings.TrimSpace(strings.ToLower(k)) {
		case "name":
			c.Name = v
		case "password":
			password = v
		case "iterations":
			var n int
			n, err = strconv.Atoi(v)
			c.Iterations = int32(n)
		case "salt":
			c.Salt, err = base64.StdEncoding.DecodeString(v)
		case "saltedpassword":
			c.SaltedPassword, err = base64.StdEncoding.DecodeString(v)
		default:
			return bad("unknown key " + k)
		}
		if err != nil {
			return bad(k + ": " + err.Error())
		}
	}
	switch {
	case c.Name == "":
		return bad("no name")
	case c.Iterations < ScramMinIterations || c.Iterations > ScramMaxIterations:
		return bad(fmt.Sprintf("iterations must lie in %d..%d", ScramMinIterations, ScramMaxIterations))
	case (password == "") == (c.SaltedPassword == nil):
		return bad("give password or saltedpassword")
	case c.SaltedPassword != nil && c.Salt == nil:
		return bad("saltedpassword needs salt")
	}
	if c.Salt == nil {
		c.Salt = make([]byte, 24)
		_, _ = rand.Read(c.Salt)
	}
	if c.SaltedPassword == nil {
		h := ScramHash(c.Mechanism)
		sp, err := pbkdf2.Key(h, password, c.Salt, int(c.Iterations), h().Size())
		if err != nil {
			return bad(err.Error())
		}
		c.SaltedPassword = sp
	}
	return c, nil
}

// WriteBootstrapScram writes creds into dir (the metadata directory).
func WriteBootstrapScram(dir string, creds []BootstrapScram) error {
	data, err := json.Marshal(creds)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, BootstrapScramFile), data, 0o600)
}

// ReadBootstrapScram reads the credentials format left in dir; none when
// there is no file.
func ReadBootstrapScram(dir string) ([]BootstrapScram, error) {
	data, err := os.ReadFile(filepath.Join(dir, BootstrapScramFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var creds []BootstrapScram
	if err := json.Unmarshal(data, &creds); err != nil {
		return nil, fmt.Errorf("%s: %w", BootstrapScramFile, err)
	}
	return creds, nil
}

package auth

// TLS for SSL and SASL_SSL listeners, configured with Kafka's property names
// (SslConfigs, DefaultSslEngineFactory): key stores and trust stores in PEM
// (a file, or inline as ssl.keystore.certificate.chain / ssl.keystore.key /
// ssl.truststore.certificates) or PKCS12, ssl.client.auth,
// ssl.enabled.protocols and ssl.cipher.suites with the Java (IANA) names.
// JKS, Java's own format, cannot be read: such a listener refuses to start.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/pkcs12"
)

// Props returns a listener's value of a security property (Kafka's
// listener.name.<listener>.<name>, else <name>); ok is false when neither
// is set.
type Props func(name string) (value string, ok bool)

func (p Props) str(name, def string) string {
	if v, ok := p(name); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

// secret is a password-type property: blanks are part of it.
func (p Props) secret(name string) string {
	v, _ := p(name)
	return v
}

func (p Props) list(name, def string) []string {
	var out []string
	for _, s := range strings.Split(p.str(name, def), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Client authentication modes of ssl.client.auth.
const (
	ClientAuthNone      = "none"
	ClientAuthRequested = "requested"
	ClientAuthRequired  = "required"
)

// ServerTLSConfig builds the TLS configuration of an SSL or SASL_SSL
// listener from its properties, as Kafka's DefaultSslEngineFactory builds
// its SSLContext. Errors name the property at fault.
func ServerTLSConfig(p Props) (*tls.Config, error) {
	cert, err := loadKeyStore(p)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	switch mode := strings.ToLower(p.str("ssl.client.auth", ClientAuthNone)); mode {
	case ClientAuthNone:
		cfg.ClientAuth = tls.NoClientCert
	case ClientAuthRequested:
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	case ClientAuthRequired:
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return nil, fmt.Errorf("ssl.client.auth: %q is not one of required, requested, none", mode)
	}
	// Without a trust store Java trusts its default CA certificates (the
	// JDK's cacerts); the system's pool is the equivalent here.
	pool, err := loadTrustStore(p)
	if err != nil {
		return nil, err
	}
	cfg.ClientCAs = pool
	if cfg.MinVersion, cfg.MaxVersion, err = tlsVersions(p.list("ssl.enabled.protocols", "TLSv1.2,TLSv1.3")); err != nil {
		return nil, err
	}
	if cfg.CipherSuites, err = cipherSuites(p.list("ssl.cipher.suites", "")); err != nil {
		return nil, err
	}
	return cfg, nil
}

// loadKeyStore reads the listener's certificate chain and private key.
func loadKeyStore(p Props) (tls.Certificate, error) {
	typ := strings.ToUpper(p.str("ssl.keystore.type", "JKS"))
	chain, key := p.secret("ssl.keystore.certificate.chain"), p.secret("ssl.keystore.key")
	if strings.TrimSpace(chain) != "" || strings.TrimSpace(key) != "" {
		// Inline PEM (KIP-651). Kafka asks for ssl.keystore.type=PEM;
		// the properties cannot hold anything else.
		if strings.TrimSpace(chain) == "" || strings.TrimSpace(key) == "" {
			return tls.Certificate{}, errors.New("ssl.keystore.certificate.chain and ssl.keystore.key must be set together")
		}
		if typ != "PEM" && typ != "JKS" {
			return tls.Certificate{}, fmt.Errorf("ssl.keystore.type must be PEM with ssl.keystore.key, not %s", typ)
		}
		return pemKeyPair([]byte(chain), []byte(key), p.secret("ssl.key.password"), "ssl.keystore.key")
	}
	loc := p.str("ssl.keystore.location", "")
	if loc == "" {
		return tls.Certificate{}, errors.New("ssl.keystore.location (or ssl.keystore.certificate.chain and ssl.keystore.key) must be set on an SSL listener")
	}
	data, err := os.ReadFile(loc)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("ssl.keystore.location: %w", err)
	}
	switch typ {
	case "PEM":
		// One file with the private key and the certificate chain, as
		// Kafka's PEM key store file.
		return pemKeyPair(data, data, p.secret("ssl.key.password"), "ssl.keystore.location "+loc)
	case "PKCS12":
		return pkcs12KeyPair(data, p.secret("ssl.keystore.password"), loc)
	case "JKS":
		return tls.Certificate{}, fmt.Errorf("ssl.keystore.type JKS (the default) is not supported: convert %s to PKCS12 (keytool -importkeystore -deststoretype PKCS12) or PEM and set ssl.keystore.type", loc)
	}
	return tls.Certificate{}, fmt.Errorf("ssl.keystore.type %s is not supported (PEM or PKCS12)", typ)
}

// pemKeyPair builds a certificate from the CERTIFICATE blocks of chainPEM
// and the private key block of keyPEM.
func pemKeyPair(chainPEM, keyPEM []byte, keyPassword, what string) (tls.Certificate, error) {
	var cert tls.Certificate
	for rest := chainPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			cert.Certificate = append(cert.Certificate, b.Bytes)
		}
	}
	if len(cert.Certificate) == 0 {
		return cert, fmt.Errorf("%s: no PEM certificate found", what)
	}
	key, err := pemPrivateKey(keyPEM, keyPassword)
	if err != nil {
		return cert, fmt.Errorf("%s: %w", what, err)
	}
	cert.PrivateKey = key
	return finishCert(cert, what)
}

func pemPrivateKey(data []byte, password string) (crypto.PrivateKey, error) {
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("no PEM private key found")
		}
		switch b.Type {
		case "PRIVATE KEY":
			return x509.ParsePKCS8PrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			return x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			return x509.ParseECPrivateKey(b.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			if password == "" {
				return nil, errors.New("the private key is encrypted and ssl.key.password is not set")
			}
			der, err := decryptPKCS8(b.Bytes, []byte(password))
			if err != nil {
				return nil, err
			}
			return x509.ParsePKCS8PrivateKey(der)
		}
	}
}

func pkcs12KeyPair(data []byte, password, loc string) (tls.Certificate, error) {
	blocks, err := pkcs12.ToPEM(data, password)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("ssl.keystore.location %s: reading PKCS12: %w (PKCS12 files with PBES2/AES encryption, openssl 3's default, need `openssl pkcs12 -export -legacy`, or use ssl.keystore.type=PEM)", loc, err)
	}
	var certPEM, keyPEM []byte
	for _, b := range blocks {
		switch b.Type {
		case "CERTIFICATE":
			certPEM = append(certPEM, pem.EncodeToMemory(b)...)
		case "PRIVATE KEY":
			// pkcs12.ToPEM names PKCS#1 and SEC1 keys "PRIVATE KEY".
			keyPEM = pem.EncodeToMemory(&pem.Block{Type: pkcs12KeyType(b.Bytes), Bytes: b.Bytes})
		}
	}
	return pemKeyPair(certPEM, keyPEM, "", "ssl.keystore.location "+loc)
}

func pkcs12KeyType(der []byte) string {
	if _, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return "RSA PRIVATE KEY"
	}
	if _, err := x509.ParseECPrivateKey(der); err == nil {
		return "EC PRIVATE KEY"
	}
	return "PRIVATE KEY"
}

// finishCert checks that the key matches the leaf certificate and puts the
// leaf first, wherever the chain listed it.
func finishCert(cert tls.Certificate, what string) (tls.Certificate, error) {
	pub := publicKey(cert.PrivateKey)
	if pub == nil {
		return cert, fmt.Errorf("%s: unsupported private key type %T", what, cert.PrivateKey)
	}
	for i, der := range cert.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return cert, fmt.Errorf("%s: %w", what, err)
		}
		if pk, ok := c.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); ok && pk.Equal(pub) {
			cert.Certificate[0], cert.Certificate[i] = cert.Certificate[i], cert.Certificate[0]
			cert.Leaf = c
			return cert, nil
		}
	}
	return cert, fmt.Errorf("%s: the private key matches none of the certificates", what)
}

func publicKey(k crypto.PrivateKey) crypto.PublicKey {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return &k.PublicKey
	case *ecdsa.PrivateKey:
		return &k.PublicKey
	case ed25519.PrivateKey:
		return k.Public()
	}
	return nil
}

// loadTrustStore reads the CA certificates client certificates are verified
// against; nil (the system's roots) when none is configured.
func loadTrustStore(p Props) (*x509.CertPool, error) {
	typ := strings.ToUpper(p.str("ssl.truststore.type", "JKS"))
	var pemData []byte
	what := "ssl.truststore.certificates"
	if inline := p.secret("ssl.truststore.certificates"); strings.TrimSpace(inline) != "" {
		pemData = []byte(inline)
	} else if loc := p.str("ssl.truststore.location", ""); loc != "" {
		what = "ssl.truststore.location " + loc
		data, err := os.ReadFile(loc)
		if err != nil {
			return nil, fmt.Errorf("ssl.truststore.location: %w", err)
		}
		switch typ {
		case "PEM":
			pemData = data
		case "PKCS12":
			// A trust store holds certificates only: pkcs12.ToPEM
			// wants a key, so read the bags one by one.
			certs, err := pkcs12Certificates(data, p.secret("ssl.truststore.password"))
			if err != nil {
				return nil, fmt.Errorf("%s: reading PKCS12: %w", what, err)
			}
			pool := x509.NewCertPool()
			for _, c := range certs {
				pool.AddCert(c)
			}
			return pool, nil
		case "JKS":
			return nil, fmt.Errorf("ssl.truststore.type JKS (the default) is not supported: convert %s to PKCS12 or PEM and set ssl.truststore.type", loc)
		default:
			return nil, fmt.Errorf("ssl.truststore.type %s is not supported (PEM or PKCS12)", typ)
		}
	} else {
		return nil, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, fmt.Errorf("%s: no PEM certificate found", what)
	}
	return pool, nil
}

func pkcs12Certificates(data []byte, password string) ([]*x509.Certificate, error) {
	blocks, err := pkcs12.ToPEM(data, password)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for _, b := range blocks {
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no certificate found")
	}
	return out, nil
}

// tlsVersions maps ssl.enabled.protocols (Java's names) to the range Go
// accepts. Go cannot leave a version out of the middle of its range.
func tlsVersions(protocols []string) (min, max uint16, err error) {
	names := map[string]uint16{"TLSV1": tls.VersionTLS10, "TLSV1.1": tls.VersionTLS11, "TLSV1.2": tls.VersionTLS12, "TLSV1.3": tls.VersionTLS13}
	for _, p := range protocols {
		v, ok := names[strings.ToUpper(p)]
		if !ok {
			if strings.HasPrefix(strings.ToUpper(p), "SSL") {
				continue // SSLv2Hello, SSLv3: Java's obsolete names, never negotiated
			}
			return 0, 0, fmt.Errorf("ssl.enabled.protocols: unknown protocol %q (TLSv1.2, TLSv1.3)", p)
		}
		if min == 0 || v < min {
			min = v
		}
		if v > max {
			max = v
		}
	}
	if min == 0 {
		return 0, 0, errors.New("ssl.enabled.protocols names no TLS version")
	}
	return min, max, nil
}

// cipherSuites maps ssl.cipher.suites to Go's suites. Java names them as
// IANA does, as Go does (Java's legacy SSL_ prefix aside). TLS 1.3's suites
// are always enabled in Go and are accepted without effect.
func cipherSuites(names []string) ([]uint16, error) {
	if len(names) == 0 {
		return nil, nil
	}
	known := map[string]uint16{}
	for _, s := range tls.CipherSuites() {
		known[s.Name] = s.ID
	}
	for _, s := range tls.InsecureCipherSuites() {
		known[s.Name] = s.ID
	}
	var out []uint16
	for _, n := range names {
		n = strings.ToUpper(n)
		if strings.HasPrefix(n, "SSL_") {
			n = "TLS_" + n[4:]
		}
		switch n {
		case "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256":
			continue
		case "TLS_EMPTY_RENEGOTIATION_INFO_SCSV":
			continue
		}
		id, ok := known[n]
		if !ok {
			return nil, fmt.Errorf("ssl.cipher.suites: unknown or unsupported cipher suite %s", n)
		}
		out = append(out, id)
	}
	if len(out) == 0 {
		// Only TLS 1.3 suites named: leave TLS 1.2's at Go's defaults
		// would widen the choice; allow none below 1.3 instead.
		return []uint16{}, nil
	}
	return out, nil
}

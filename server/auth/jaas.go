package auth

// JAAS configuration as Kafka reads sasl.jaas.config (JaasConfig): one or
// more login modules, each
//
//	<class> <required|requisite|sufficient|optional> [key=value ...];
//
// with values as words or double-quoted strings (backslash escapes the next
// character). The server reads PlainLoginModule's user_<name>="<password>"
// options (PlainServerCallbackHandler) and the username/password a broker
// would itself log in with.

import (
	"fmt"
	"strings"
)

// Login module classes Kafka ships.
const (
	PlainLoginModule       = "org.apache.kafka.common.security.plain.PlainLoginModule"
	ScramLoginModule       = "org.apache.kafka.common.security.scram.ScramLoginModule"
	OAuthBearerLoginModule = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
)

// LoginModule is one entry of a JAAS configuration.
type LoginModule struct {
	Class   string
	Flag    string
	Options map[string]string
}

// ParseJAAS parses a sasl.jaas.config value.
func ParseJAAS(s string) ([]LoginModule, error) {
	toks, err := jaasTokens(s)
	if err != nil {
		return nil, err
	}
	var out []LoginModule
	for i := 0; i < len(toks); {
		if toks[i].quoted || toks[i].text == ";" || toks[i].text == "=" {
			return nil, fmt.Errorf("sasl.jaas.config: expected a login module class, found %q", toks[i].text)
		}
		m := LoginModule{Class: toks[i].text, Options: map[string]string{}}
		i++
		if i >= len(toks) {
			return nil, fmt.Errorf("sasl.jaas.config: login module %s has no control flag", m.Class)
		}
		switch f := strings.ToLower(toks[i].text); f {
		case "required", "requisite", "sufficient", "optional":
			m.Flag = f
		default:
			return nil, fmt.Errorf("sasl.jaas.config: invalid control flag %q for %s", toks[i].text, m.Class)
		}
		i++
		for {
			if i >= len(toks) {
				return nil, fmt.Errorf("sasl.jaas.config: login module %s is not terminated by ';'", m.Class)
			}
			if !toks[i].quoted && toks[i].text == ";" {
				i++
				break
			}
			if i+2 >= len(toks) || toks[i].quoted || toks[i+1].quoted || toks[i+1].text != "=" {
				return nil, fmt.Errorf("sasl.jaas.config: expected key=value in %s near %q", m.Class, toks[i].text)
			}
			m.Options[toks[i].text] = toks[i+2].text
			i += 3
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("sasl.jaas.config: no login module")
	}
	return out, nil
}

type jaasToken struct {
	text   string
	quoted bool
}

func jaasTokens(s string) ([]jaasToken, error) {
	var out []jaasToken
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case strings.HasPrefix(s[i:], "//"):
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case strings.HasPrefix(s[i:], "/*"):
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("sasl.jaas.config: unterminated comment")
			}
			i += end + 4
		case c == ';' || c == '=':
			out = append(out, jaasToken{text: string(c)})
			i++
		case c == '"':
			var sb strings.Builder
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				sb.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("sasl.jaas.config: unterminated quoted value")
			}
			i++
			out = append(out, jaasToken{text: sb.String(), quoted: true})
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\r\n;=\"", rune(s[j])) {
				j++
			}
			out = append(out, jaasToken{text: s[i:j]})
			i = j
		}
	}
	return out, nil
}

// PlainUsers returns the user_<name>="<password>" options of the
// PlainLoginModule entries: the users SASL/PLAIN accepts.
func PlainUsers(modules []LoginModule) map[string]string {
	users := map[string]string{}
	for _, m := range modules {
		if m.Class != PlainLoginModule {
			continue
		}
		for k, v := range m.Options {
			if name, ok := strings.CutPrefix(k, "user_"); ok {
				users[name] = v
			}
		}
	}
	return users
}

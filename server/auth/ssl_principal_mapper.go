package auth

// ssl.principal.mapping.rules: Kafka's SslPrincipalMapper turns the client
// certificate's distinguished name into the principal's name. Rules are
// tried in order; the first that matches wins.
//
//	RULE:pattern/replacement/[L|U]   the pattern must match the whole DN;
//	                                 the replacement may use $1…; L or U
//	                                 lower- or upper-cases the result
//	DEFAULT                          the DN itself
//
// A DN no rule matches fails the authentication (NoMatchingRule).

import (
	"fmt"
	"regexp"
	"strings"
)

// SSLPrincipalMapper holds parsed ssl.principal.mapping.rules.
type SSLPrincipalMapper struct {
	rules []sslRule
	text  string
}

type sslRule struct {
	isDefault    bool
	full         *regexp.Regexp // anchored: Java's Matcher.matches
	find         *regexp.Regexp // as given: Java's String.replaceAll
	replacement  string
	lower, upper bool
	source       string
}

// Kafka's SslPrincipalMapper.RULE_PATTERN, split and parsed the same way.
var (
	sslRulePattern  = `(DEFAULT)|RULE:((?:\\.|[^\\/])*)/((?:\\.|[^\\/])*)/([LU]?).*?|(.*?)`
	sslRuleSplitter = regexp.MustCompile(`\s*(` + sslRulePattern + `)\s*(?:,\s*|$)`)
	sslRuleParser   = regexp.MustCompile(`^RULE:((?:\\.|[^\\/])*)/((?:\\.|[^\\/])*)/([LU]?).*$`)
)

// NewSSLPrincipalMapper parses ssl.principal.mapping.rules ("DEFAULT" when
// empty).
func NewSSLPrincipalMapper(rules string) (*SSLPrincipalMapper, error) {
	rules = strings.TrimSpace(rules)
	if rules == "" {
		rules = "DEFAULT"
	}
	m := &SSLPrincipalMapper{text: rules}
	for _, loc := range sslRuleSplitter.FindAllStringSubmatchIndex(rules, -1) {
		if loc[2] == loc[3] {
			continue
		}
		ruleText := rules[loc[2]:loc[3]]
		if ruleText == "DEFAULT" {
			m.rules = append(m.rules, sslRule{isDefault: true, source: ruleText})
			continue
		}
		sm := sslRuleParser.FindStringSubmatch(ruleText)
		if sm == nil {
			return nil, fmt.Errorf("ssl.principal.mapping.rules: invalid rule: %s", ruleText)
		}
		full, err := regexp.Compile(`^(?:` + sm[1] + `)$`)
		if err != nil {
			return nil, fmt.Errorf("ssl.principal.mapping.rules: rule %s: %w", ruleText, err)
		}
		find := regexp.MustCompile(sm[1])
		m.rules = append(m.rules, sslRule{
			full: full, find: find, replacement: javaReplacement(sm[2]),
			lower: sm[3] == "L", upper: sm[3] == "U", source: ruleText,
		})
	}
	if len(m.rules) == 0 {
		return nil, fmt.Errorf("ssl.principal.mapping.rules: no rule in %q", rules)
	}
	return m, nil
}

// javaReplacement turns a java.util.regex replacement ($1, \$ for a
// literal) into Go's (${1}, $$).
func javaReplacement(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			if s[i] == '$' {
				sb.WriteString("$$")
			} else {
				sb.WriteByte(s[i])
			}
		case c == '$' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			j := i + 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			sb.WriteString("${" + s[i+1:j] + "}")
			i = j - 1
		case c == '$':
			sb.WriteString("$$")
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

// Name maps a distinguished name (FormatDN) to a principal name.
func (m *SSLPrincipalMapper) Name(dn string) (string, error) {
	for _, r := range m.rules {
		if r.isDefault {
			return dn, nil
		}
		if !r.full.MatchString(dn) {
			continue
		}
		out := r.find.ReplaceAllString(dn, r.replacement)
		switch {
		case r.lower:
			out = strings.ToLower(out)
		case r.upper:
			out = strings.ToUpper(out)
		}
		return out, nil
	}
	return "", fmt.Errorf("No rules apply to %s, rules %s", dn, m.text)
}

package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestReadProperties(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want map[string]string
	}{
		{"equals", "a=b", map[string]string{"a": "b"}},
		{"colon", "a:b", map[string]string{"a": "b"}},
		{"space", "a b", map[string]string{"a": "b"}},
		{"blanks around separator", "  a  =  b", map[string]string{"a": "b"}},
		{"blank then colon", "a \t: b", map[string]string{"a": "b"}},
		{"trailing blanks kept", "a=b  ", map[string]string{"a": "b  "}},
		{"empty value", "a=", map[string]string{"a": ""}},
		{"key only", "a", map[string]string{"a": ""}},
		{"second separator is value", "a==b", map[string]string{"a": "=b"}},
		{"value with colon", "listeners=PLAINTEXT://:9092", map[string]string{"listeners": "PLAINTEXT://:9092"}},
		{"hash comment", "# a=b\nc=d", map[string]string{"c": "d"}},
		{"bang comment", "  ! a=b\nc=d", map[string]string{"c": "d"}},
		{"hash inside value", "a=b#c", map[string]string{"a": "b#c"}},
		{"blank lines", "\n\n a=b \n\n", map[string]string{"a": "b "}},
		{"continuation", "a=one,\\\n    two,\\\n\tthree", map[string]string{"a": "one,two,three"}},
		{"even backslashes do not continue", "a=x\\\\\nb=y", map[string]string{"a": `x\`, "b": "y"}},
		{"comment line does not continue", "# c \\\na=b", map[string]string{"a": "b"}},
		{"continuation at EOF", "a=b\\", map[string]string{"a": "b"}},
		{"escapes", `a=t\tn\nr\rf\f`, map[string]string{"a": "t\tn\nr\rf\f"}},
		{"unicode escape", `a=caf\u00e9`, map[string]string{"a": "café"}},
		{"surrogate pair", `a=\ud83d\ude00`, map[string]string{"a": "😀"}},
		{"escaped separator in key", `a\=b\:c\ d=e`, map[string]string{"a=b:c d": "e"}},
		{"other escapes drop the backslash", `a=\x\#`, map[string]string{"a": "x#"}},
		{"CRLF", "a=b\r\nc=d\r\n", map[string]string{"a": "b", "c": "d"}},
		{"CR only", "a=b\rc=d", map[string]string{"a": "b", "c": "d"}},
		{"last wins", "a=1\na=2", map[string]string{"a": "2"}},
		{"utf8 passthrough", "a=ü", map[string]string{"a": "ü"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadProperties(strings.NewReader(tt.in))
			if err != nil {
				t.Fatalf("ReadProperties(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ReadProperties(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestReadPropertiesErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{`a=\u12`, `a=\uzzzz`, "x=1\nb=\\u00G0"} {
		if _, err := ReadProperties(strings.NewReader(in)); err == nil {
			t.Errorf("ReadProperties(%q): want a malformed \\uxxxx error", in)
		} else if !strings.Contains(err.Error(), "line") {
			t.Errorf("ReadProperties(%q): error %q does not name the line", in, err)
		}
	}
}

// FuzzReadProperties: never panics, and whatever parses re-parses to the
// same map once written back as escaped key=value lines.
func FuzzReadProperties(f *testing.F) {
	for _, s := range []string{"a=b", "a\\\n b", `\u0041=\t`, "#x\n!y\nz:w", "a\\", `\ud83d`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ReadProperties(strings.NewReader(in))
		if err != nil {
			return
		}
		var sb strings.Builder
		for k, v := range got {
			sb.WriteString(escapeForTest(k, true) + "=" + escapeForTest(v, false) + "\n")
		}
		again, err := ReadProperties(strings.NewReader(sb.String()))
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if !reflect.DeepEqual(got, again) {
			t.Fatalf("round trip: %q != %q", got, again)
		}
	})
}

func escapeForTest(s string, key bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\f':
			b.WriteString(`\f`)
		case c == '=' || c == ':' || c == '#' || c == '!':
			b.WriteString(`\` + string(c))
		case c == ' ' && (key || i == 0):
			b.WriteString(`\ `)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

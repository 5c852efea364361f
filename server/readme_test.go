package server

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEListsSupportedAPIs keeps the README's API table generated from
// the table dispatch uses; `make readme` rewrites it.
func TestREADMEListsSupportedAPIs(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- apis:begin -->\n", "<!-- apis:end -->"
	s := string(data)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the %q ... %q markers", strings.TrimSpace(begin), end)
	}
	got := strings.TrimSpace(s[i+len(begin) : j])
	want := strings.TrimSpace(APIMarkdown())
	if got != want {
		t.Fatalf("README.md's API table is stale; run `make readme`.\nwant:\n%s\ngot:\n%s", want, got)
	}
}

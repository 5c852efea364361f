package archtest

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/riffle-io/riffle"

// allowed lists, for each package directory, the import-path prefixes it may
// use beyond the standard library (DESIGN.md, "The shape of the system").
// Test files are held to the same rules, except that they may also import
// client libraries to drive the code under test.
var allowed = map[string][]string{
	"config":           {},
	"protocol":         {"github.com/twmb/franz-go/pkg/kmsg", "github.com/twmb/franz-go/pkg/kerr", "github.com/twmb/franz-go/pkg/kbin"},
	"protocol/records": {"github.com/klauspost/compress", "github.com/pierrec/lz4/v4", "github.com/golang/snappy"},
	"storage":          {module + "/protocol/records"},
	"controller":       {module + "/protocol", "github.com/twmb/franz-go/pkg/kerr", "github.com/twmb/franz-go/pkg/kmsg", "github.com/hashicorp/"},
	"coordinator":      {module + "/protocol", "github.com/twmb/franz-go/pkg/kmsg", "github.com/twmb/franz-go/pkg/kerr"},
	"replica":          {module + "/storage", module + "/controller", module + "/protocol", "github.com/twmb/franz-go/pkg/kerr", "github.com/twmb/franz-go/pkg/kmsg"},
	"server": {module + "/config", module + "/protocol", module + "/storage", module + "/controller",
		module + "/coordinator", module + "/replica", "github.com/twmb/franz-go/pkg/", "github.com/prometheus/",
		"golang.org/x/crypto/"},
	// authz decides by the principal that auth defines, and nothing else.
	"server/authz": {module + "/server/auth"},
	"cmd/riffle":   {module + "/"},
	// bench drives brokers through clients only.
	"bench": {"github.com/twmb/franz-go/"},
}

// testOnly are the extra prefixes test files may import.
var testOnly = []string{"github.com/twmb/franz-go/", "github.com/IBM/sarama", "github.com/segmentio/kafka-go", module + "/"}

func TestImportBoundaries(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			switch d.Name() {
			case ".git", "compat-tests", "testdata", "data":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		dir := filepath.ToSlash(filepath.Dir(rel))
		rules, ok := rulesFor(dir)
		if !ok {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		isTest := strings.HasSuffix(path, "_test.go")
		checked++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if isStdlib(p) || hasPrefix(p, rules) || (isTest && hasPrefix(p, testOnly)) {
				continue
			}
			if strings.HasPrefix(p, module+"/") && strings.HasPrefix(p, module+"/"+dir+"/") {
				continue // a package's own subpackages
			}
			t.Errorf("%s imports %s, which DESIGN.md does not allow for %s", rel, p, dir)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Fatalf("only %d files checked: the walk is broken", checked)
	}
}

// TestOnlyCmdImportsServer: the server package is the top of the broker;
// nothing but the binary builds on it.
func TestOnlyCmdImportsServer(t *testing.T) {
	root, _ := filepath.Abs("../..")
	_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			if d != nil && d.IsDir() && (d.Name() == ".git" || d.Name() == "compat-tests") {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		dir := filepath.ToSlash(filepath.Dir(rel))
		if dir == "cmd/riffle" || dir == "server" {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return nil
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == module+"/server" {
				t.Errorf("%s imports the server package; only cmd/riffle may", rel)
			}
		}
		return nil
	})
}

// rulesFor finds the rules of dir or of its nearest listed parent.
func rulesFor(dir string) ([]string, bool) {
	for d := dir; d != "." && d != ""; d = filepath.ToSlash(filepath.Dir(d)) {
		if r, ok := allowed[d]; ok {
			return r, true
		}
	}
	return nil, false
}

func hasPrefix(p string, prefixes []string) bool {
	for _, pre := range prefixes {
		if p == strings.TrimSuffix(pre, "/") || strings.HasPrefix(p, pre) {
			return true
		}
	}
	return false
}

// isStdlib: standard library paths have no dot in their first element.
func isStdlib(p string) bool {
	first := p
	if i := strings.IndexByte(p, '/'); i >= 0 {
		first = p[:i]
	}
	return !strings.Contains(first, ".")
}

package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The benchmarks measure Riffle from the outside, as any Kafka client would:
// code under bench/ may import the standard library and franz-go's client
// packages (kgo, kadm, kfake and what they need), never Riffle's own.
func TestBenchImportsClientsOnly(t *testing.T) {
	t.Parallel()
	fset := token.NewFileSet()
	var files int
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		files++
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				return err
			}
			first, _, _ := strings.Cut(p, "/")
			stdlib := !strings.Contains(first, ".")
			if !stdlib && !strings.HasPrefix(p, "github.com/twmb/franz-go/") {
				t.Errorf("%s imports %q: bench/ may import only the standard library and franz-go", path, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 3 {
		t.Fatalf("walked only %d Go files under bench/", files)
	}
}

package vfs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	t.Parallel()
	for name, fs := range map[string]FS{"os": Default, "errorfs": NewErrorFS(Default)} {
		dir := t.TempDir()
		path := filepath.Join(dir, "cp")
		for _, content := range []string{"first", "second"} {
			if err := WriteFileAtomic(fs, dir, path, []byte(content)); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			got, err := ReadFile(fs, path)
			if err != nil || string(got) != content {
				t.Fatalf("%s: %q %v", name, got, err)
			}
		}
		if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
			t.Fatalf("%s: temporary file left: %v", name, err)
		}
	}
}

func TestErrorFSFailsChosenOperations(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	efs := NewErrorFS(Default)
	path := filepath.Join(dir, "f")
	if err := WriteFileAtomic(efs, dir, path, []byte("old")); err != nil {
		t.Fatal(err)
	}
	efs.SetFail(func(op Op, name string) bool { return op == OpRename })
	if err := WriteFileAtomic(efs, dir, path, []byte("new")); !errors.Is(err, ErrInjected) {
		t.Fatalf("rename failure: %v", err)
	}
	if got, _ := ReadFile(efs, path); string(got) != "old" {
		t.Fatalf("failed atomic write changed the file: %q", got)
	}
	efs.SetFail(func(op Op, name string) bool { return op == OpWrite })
	f, err := efs.OpenFile(filepath.Join(dir, "g"), os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n, err := f.Write([]byte("abcd")); !errors.Is(err, ErrInjected) || n != 2 {
		t.Fatalf("write: %d %v", n, err)
	}
	efs.SetFail(nil)
	if _, err := f.Write([]byte("ef")); err != nil {
		t.Fatal(err)
	}
}

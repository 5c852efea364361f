package vfs

import (
	"errors"
	"os"
	"sync"
)

// ErrInjected is the error an ErrorFS returns for an injected failure.
var ErrInjected = errors.New("vfs: injected error")

// Op names an operation an ErrorFS can fail.
type Op int

const (
	OpWrite Op = iota
	OpSync
	OpOpen
	OpRename
	OpTruncate
	OpRemove
	// OpRead fails Read and ReadAt, but only once SetReadFaults(true):
	// the crash-point tests enumerate every failable operation and are
	// about writes; reads stay out of their count.
	OpRead
)

// ErrorFS wraps an FS and fails operations chosen by a predicate, so the same
// storage tests can run against a healthy and a faulty disk.
type ErrorFS struct {
	FS FS
	mu struct {
		sync.Mutex
		fail func(op Op, name string) bool
		hook func(op Op, name string)
		err  error
		// reads: OpRead is offered to the predicate (SetReadFaults).
		reads bool
	}
}

// SetReadFaults makes reads (Read, ReadAt) failable as OpRead.
func (e *ErrorFS) SetReadFaults(on bool) {
	e.mu.Lock()
	e.mu.reads = on
	e.mu.Unlock()
}

// SetHook installs a function called before every operation that can be
// failed, outside the ErrorFS's lock: a test may block in it to model a
// slow disk (an fsync that takes seconds). nil removes it.
func (e *ErrorFS) SetHook(hook func(op Op, name string)) {
	e.mu.Lock()
	e.mu.hook = hook
	e.mu.Unlock()
}

// NewErrorFS returns an ErrorFS over fs that fails nothing until SetFail.
func NewErrorFS(fs FS) *ErrorFS { return &ErrorFS{FS: fs} }

// SetFail installs the predicate deciding which operations fail; nil heals.
func (e *ErrorFS) SetFail(fail func(op Op, name string) bool) {
	e.mu.Lock()
	e.mu.fail = fail
	e.mu.Unlock()
}

// SetErr sets the error injected failures return (ErrInjected by default),
// e.g. syscall.ENOSPC for a full disk.
func (e *ErrorFS) SetErr(err error) {
	e.mu.Lock()
	e.mu.err = err
	e.mu.Unlock()
}

func (e *ErrorFS) injected() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mu.err != nil {
		return e.mu.err
	}
	return ErrInjected
}

func (e *ErrorFS) shouldFail(op Op, name string) bool {
	e.mu.Lock()
	f, hook := e.mu.fail, e.mu.hook
	if op == OpRead && !e.mu.reads {
		e.mu.Unlock()
		return false
	}
	e.mu.Unlock()
	if hook != nil {
		hook(op, name)
	}
	return f != nil && f(op, name)
}

func (e *ErrorFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if e.shouldFail(OpOpen, name) {
		return nil, &os.PathError{Op: "open", Path: name, Err: e.injected()}
	}
	f, err := e.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &errorFile{File: f, fs: e}, nil
}
func (e *ErrorFS) Remove(name string) error {
	if e.shouldFail(OpRemove, name) {
		return &os.PathError{Op: "remove", Path: name, Err: e.injected()}
	}
	return e.FS.Remove(name)
}

func (e *ErrorFS) RemoveAll(name string) error {
	if e.shouldFail(OpRemove, name) {
		return &os.PathError{Op: "removeall", Path: name, Err: e.injected()}
	}
	return e.FS.RemoveAll(name)
}
func (e *ErrorFS) Rename(oldpath, newpath string) error {
	if e.shouldFail(OpRename, oldpath) {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: e.injected()}
	}
	return e.FS.Rename(oldpath, newpath)
}
func (e *ErrorFS) MkdirAll(path string, perm os.FileMode) error { return e.FS.MkdirAll(path, perm) }
func (e *ErrorFS) ReadDir(name string) ([]os.DirEntry, error)   { return e.FS.ReadDir(name) }
func (e *ErrorFS) Stat(name string) (os.FileInfo, error)        { return e.FS.Stat(name) }
func (e *ErrorFS) SyncDir(name string) error {
	if e.shouldFail(OpSync, name) {
		return &os.PathError{Op: "sync", Path: name, Err: e.injected()}
	}
	return e.FS.SyncDir(name)
}

type errorFile struct {
	File
	fs *ErrorFS
}

func (f *errorFile) Write(p []byte) (int, error) {
	if f.fs.shouldFail(OpWrite, f.Name()) {
		// A failed write may have written part of p: model the worst case
		// of half the bytes reaching the file.
		n, _ := f.File.Write(p[:len(p)/2])
		return n, &os.PathError{Op: "write", Path: f.Name(), Err: f.fs.injected()}
	}
	return f.File.Write(p)
}

func (f *errorFile) Read(p []byte) (int, error) {
	if f.fs.shouldFail(OpRead, f.Name()) {
		return 0, &os.PathError{Op: "read", Path: f.Name(), Err: f.fs.injected()}
	}
	return f.File.Read(p)
}

func (f *errorFile) ReadAt(p []byte, off int64) (int, error) {
	if f.fs.shouldFail(OpRead, f.Name()) {
		return 0, &os.PathError{Op: "read", Path: f.Name(), Err: f.fs.injected()}
	}
	return f.File.ReadAt(p, off)
}

func (f *errorFile) Sync() error {
	if f.fs.shouldFail(OpSync, f.Name()) {
		return &os.PathError{Op: "sync", Path: f.Name(), Err: f.fs.injected()}
	}
	return f.File.Sync()
}

func (f *errorFile) Truncate(size int64) error {
	if f.fs.shouldFail(OpTruncate, f.Name()) {
		return &os.PathError{Op: "truncate", Path: f.Name(), Err: f.fs.injected()}
	}
	return f.File.Truncate(size)
}

package storage

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCleanShutdownBrokerEpoch: the broker epoch set before Shutdown is
// what the next start reads back (KIP-966's PreviousBrokerEpoch); a
// directory without a marker, markers that disagree, an unreadable one or
// a shutdown without an epoch all read as -1.
func TestCleanShutdownBrokerEpoch(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	open := func() *LogManager {
		t.Helper()
		m, err := NewLogManager(dirs, LogConfig{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	shutdown := func(m *LogManager, epoch int64) {
		t.Helper()
		if epoch != -2 {
			m.SetBrokerEpoch(epoch)
		}
		if err := m.Shutdown(); err != nil {
			t.Fatal(err)
		}
	}
	m := open()
	if got := m.PreviousBrokerEpoch(); got != -1 {
		t.Fatalf("first start: previous epoch %d", got)
	}
	shutdown(m, 42)
	m = open()
	if got := m.PreviousBrokerEpoch(); got != 42 {
		t.Fatalf("after a clean shutdown at epoch 42: %d", got)
	}
	shutdown(m, -2) // never registered: unknown
	m = open()
	if got := m.PreviousBrokerEpoch(); got != -1 {
		t.Fatalf("after a shutdown without an epoch: %d", got)
	}
	shutdown(m, -2)

	for name, damage := range map[string]func(){
		"one marker missing": func() { os.Remove(filepath.Join(dirs[1], CleanShutdownFile)) },
		"markers disagree": func() {
			os.WriteFile(filepath.Join(dirs[1], CleanShutdownFile), cleanShutdownMarker(43), 0o644)
		},
		"garbage": func() { os.WriteFile(filepath.Join(dirs[0], CleanShutdownFile), []byte("{\"version\":"), 0o644) },
		"unknown version": func() {
			os.WriteFile(filepath.Join(dirs[0], CleanShutdownFile), []byte(`{"version":7,"brokerEpoch":42}`), 0o644)
		},
	} {
		m := open()
		shutdown(m, 42)
		damage()
		m = open()
		if got := m.PreviousBrokerEpoch(); got != -1 {
			t.Fatalf("%s: previous epoch %d, want -1", name, got)
		}
		shutdown(m, 42)
	}
}

package controller

import (
	"testing"

	"github.com/hashicorp/raft"
	raftwal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
)

// TestMetadataLogReopensAfterSuffixTruncation guards the metadata log
// against a crash seen under fault injection: a voter that loses an election
// with a longer log deletes its uncommitted tail ("clearing log suffix");
// raft-wal before v0.4.1 recorded the tail segment as sealed without writing
// its index block (hashicorp/raft-wal#31), so the next start failed with
// "sealed segment has no index block" and the node could never come back.
func TestMetadataLogReopensAfterSuffixTruncation(t *testing.T) {
	dir := t.TempDir()
	open := func() (*raftwal.WAL, *metadb.BoltMetaDB) {
		meta := &metadb.BoltMetaDB{}
		w, err := raftwal.Open(dir, raftwal.WithMetaStore(meta), raftwal.WithSegmentSize(walSegmentBytes))
		if err != nil {
			t.Fatalf("open metadata log: %v", err)
		}
		return w, meta
	}
	w, meta := open()
	var logs []*raft.Log
	for i := uint64(1); i <= 10; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: []byte("entry")})
	}
	if err := w.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	if err := w.DeleteRange(10, 10); err != nil { // what raft does when it clears a log suffix
		t.Fatal(err)
	}
	if err := w.StoreLogs([]*raft.Log{{Index: 10, Term: 2, Type: raft.LogCommand, Data: []byte("new leader")}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := meta.Close(); err != nil {
		t.Fatal(err)
	}

	w, meta = open()
	defer func() { _ = w.Close(); _ = meta.Close() }()
	for i := uint64(1); i <= 10; i++ {
		var l raft.Log
		if err := w.GetLog(i, &l); err != nil {
			t.Fatalf("after reopening, entry %d: %v", i, err)
		}
		if wantTerm := map[bool]uint64{true: 2, false: 1}[i == 10]; l.Term != wantTerm {
			t.Fatalf("entry %d has term %d, want %d", i, l.Term, wantTerm)
		}
	}
}

package controller

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }

// newFSMController returns a Controller that is not started, with its
// notifier running, to drive the FSM the way raft does.
func newFSMController(t *testing.T) (*Controller, *fsm) {
	c, err := New(Config{NodeID: 1, ClusterID: "c", Dir: t.TempDir(), ListenAddr: "127.0.0.1:0", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { c.notify.run(stop); close(done) }()
	t.Cleanup(func() { close(stop); <-done })
	return c, &fsm{c: c}
}

func TestFSMApplyRejectAndSnapshot(t *testing.T) {
	c, f := newFSMController(t)
	events := make(chan [2]*Image, 16)
	c.Subscribe(func(prev, next *Image) { events <- [2]*Image{prev, next} })
	next := func() [2]*Image {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no notification")
			return [2]*Image{}
		}
	}
	if ev := next(); ev[1].Offset != 0 {
		t.Fatalf("initial event at offset %d", ev[1].Offset)
	}

	s := newScript(t, 0, 1)
	s.create(false, TopicSpec{Name: "t", NumPartitions: 2, ReplicationFactor: 2})
	data, err := EncodeBatch(s.im.Records())
	if err != nil {
		t.Fatal(err)
	}
	if resp := f.Apply(&raft.Log{Index: 3, Type: raft.LogCommand, Data: data}); resp != nil {
		t.Fatalf("apply: %v", resp)
	}
	if ev := next(); ev[1].Offset != 3 || ev[1].Topics["t"] == nil || ev[0].Topics["t"] != nil {
		t.Fatalf("event after apply: %+v", ev)
	}

	// Garbage and misfitting entries are rejected alike: offset moves on,
	// content stays, subscribers still hear of the offset.
	for i, bad := range [][]byte{[]byte("not json"), data} {
		before := c.Image()
		resp := f.Apply(&raft.Log{Index: uint64(4 + i), Type: raft.LogCommand, Data: bad})
		if err, ok := resp.(error); !ok || err == nil {
			t.Fatalf("bad entry %d accepted", i)
		}
		ev := next()
		if ev[1].Offset != uint64(4+i) || ev[1].Topics["t"] != before.Topics["t"] {
			t.Fatalf("bad entry %d: event %+v", i, ev[1])
		}
	}

	// Snapshot, then restore into a fresh FSM.
	want := c.Image()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil || !sink.closed {
		t.Fatalf("persist: %v (closed %v)", err, sink.closed)
	}
	c2, f2 := newFSMController(t)
	if err := f2.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if err := sameState(c2.Image(), want); err != nil || c2.Image().Offset != want.Offset {
		t.Fatalf("restored image differs (%v), offset %d want %d", err, c2.Image().Offset, want.Offset)
	}
	if err := f2.Restore(io.NopCloser(bytes.NewReader([]byte(`{"offset":1,"records":"x"}`)))); err == nil {
		t.Fatal("corrupt snapshot restored")
	}
	if err := sameState(c2.Image(), want); err != nil {
		t.Fatal("failed restore changed the image")
	}
}

func TestSlogWriter(t *testing.T) {
	var buf bytes.Buffer
	log := newHCLogger(slogToBuffer(&buf), "raft")
	log.Info("quiet")
	log.Warn("loud", "peer", "2")
	log.Error("broken", "error", errors.New("boom"))
	out := buf.String()
	for _, want := range []string{"level=WARN msg=loud", "peer=2", "level=ERROR msg=broken", "error=boom", "module=raft"} {
		if !bytes.Contains([]byte(out), []byte(want)) {
			t.Errorf("missing %q in %q", want, out)
		}
	}
	if bytes.Contains([]byte(out), []byte("quiet")) {
		t.Errorf("info line leaked: %q", out)
	}
}

func slogToBuffer(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

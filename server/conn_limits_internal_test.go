package server

import (
	"context"
	"testing"
	"time"
)

// queued.max.request.bytes: a request that does not fit waits until bytes
// are released; a connection with nothing in flight is admitted anyway.
func TestRequestPool(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := newRequestPool(100)
	if !p.acquire(ctx, 60, false) || !p.acquire(ctx, 40, false) {
		t.Fatal("requests within the pool were not admitted")
	}
	got := make(chan bool, 1)
	go func() { got <- p.acquire(ctx, 30, false) }()
	select {
	case <-got:
		t.Fatal("a request beyond the pool was admitted")
	case <-time.After(50 * time.Millisecond):
	}
	p.release(40)
	if !<-got {
		t.Fatal("the waiting request was not admitted after a release")
	}
	if p.inUse() != 90 {
		t.Fatalf("in use %d, want 90", p.inUse())
	}
	// An idle connection progresses one request at a time regardless.
	if !p.acquire(ctx, 50, true) {
		t.Fatal("an idle connection's request was refused")
	}
	// A waiter gives up when its connection ends.
	cctx, ccancel := context.WithCancel(ctx)
	go func() { got <- p.acquire(cctx, 10, false) }()
	ccancel()
	if <-got {
		t.Fatal("acquire succeeded after its context ended")
	}
	// No limit: everything is admitted.
	if !newRequestPool(-1).acquire(ctx, 1<<40, false) {
		t.Fatal("an unlimited pool refused")
	}
}

// queued.max.requests: past the limit only a connection with nothing
// queued may queue a request.
func TestRequestQueue(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q := newRequestQueue()
	for i := 0; i < 2; i++ {
		if !q.acquire(ctx, 2, 1) {
			t.Fatal("a slot within the limit was refused")
		}
	}
	if !q.acquire(ctx, 2, 0) {
		t.Fatal("a connection with nothing queued was refused")
	}
	got := make(chan bool, 1)
	go func() { got <- q.acquire(ctx, 2, 5) }()
	select {
	case <-got:
		t.Fatal("a request beyond queued.max.requests was queued")
	case <-time.After(50 * time.Millisecond):
	}
	q.release()
	q.release()
	if !<-got {
		t.Fatal("the waiting request was not queued after releases")
	}
}

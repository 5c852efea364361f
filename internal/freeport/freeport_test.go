package freeport

import (
	"net"
	"strconv"
	"testing"
)

// TestPortsAreDistinctListenableAndNotEphemeral: every port can be listened
// on, none repeats, and none is in the kernel's default ephemeral range.
func TestPortsAreDistinctListenableAndNotEphemeral(t *testing.T) {
	seen := map[int]bool{}
	for range 200 {
		p, err := Port()
		if err != nil {
			t.Fatal(err)
		}
		if p < low || p >= high || seen[p] {
			t.Fatalf("port %d: out of range or handed out twice", p)
		}
		seen[p] = true
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("port %d: %v", p, err)
		}
		ln.Close()
	}
}

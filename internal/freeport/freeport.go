// Package freeport hands tests TCP ports on 127.0.0.1 for listeners whose
// address must be known before they start (a quorum's voters name each
// other's ports up front).
//
// Listening on port 0 and closing the listener is not enough: the kernel
// hands the same port out again as the local port of an outgoing
// connection, and a test process that dials thousands of connections then
// finds its "free" port taken ("bind: address already in use"). Ports
// below Linux's ephemeral range (net.ipv4.ip_local_port_range, 32768 and
// up by default) are never chosen that way, so this package takes ports
// from 20000–32767, each process starting at its own offset, and checks
// each one by listening on it.
package freeport

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
)

const (
	low  = 20000
	high = 32768 // exclusive: the default ephemeral range starts here
)

var (
	mu   sync.Mutex
	next int
)

// Port returns a port on 127.0.0.1 that nothing listened on when it was
// checked and that this process has not handed out before.
func Port() (int, error) {
	mu.Lock()
	defer mu.Unlock()
	if next == 0 {
		// Test binaries of different packages run at the same time;
		// starting each at its own place keeps them apart.
		next = low + (os.Getpid()*97)%(high-low)
	}
	for range high - low {
		p := next
		if next++; next >= high {
			next = low
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		if err := ln.Close(); err != nil {
			continue
		}
		return p, nil
	}
	return 0, fmt.Errorf("freeport: no free port in %d-%d", low, high-1)
}

package controller

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Voter is one member of the controller quorum.
type Voter struct {
	ID   int32
	Addr string // host:port of its CONTROLLER listener
}

// ParseVoters parses controller.quorum.voters, Kafka's "id@host:port,..."
// list (KIP-595). An empty string is an empty list: a single-node quorum.
func ParseVoters(s string) ([]Voter, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var voters []Voter
	seen := map[int32]bool{}
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		idStr, addr, ok := strings.Cut(entry, "@")
		if !ok {
			return nil, fmt.Errorf("controller.quorum.voters entry %q is not of the form id@host:port", entry)
		}
		id, err := strconv.ParseInt(idStr, 10, 32)
		if err != nil || id < 0 {
			return nil, fmt.Errorf("controller.quorum.voters entry %q: %q is not a valid node id", entry, idStr)
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host == "" {
			return nil, fmt.Errorf("controller.quorum.voters entry %q: %q is not host:port", entry, addr)
		}
		if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
			return nil, fmt.Errorf("controller.quorum.voters entry %q: invalid port %q", entry, port)
		}
		if seen[int32(id)] {
			return nil, fmt.Errorf("controller.quorum.voters lists node %d twice", id)
		}
		seen[int32(id)] = true
		voters = append(voters, Voter{ID: int32(id), Addr: addr})
	}
	return voters, nil
}

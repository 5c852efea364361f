// Command tcpcheck is the container health check of the Riffle image: the
// image is FROM scratch, so there is no shell or nc to probe the listener
// with. It exits 0 when host:port accepts a TCP connection within 2 s.
package main

import (
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: tcpcheck host:port")
		os.Exit(2)
	}
	c, err := net.DialTimeout("tcp", os.Args[1], 2*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tcpcheck:", err)
		os.Exit(1)
	}
	c.Close()
}

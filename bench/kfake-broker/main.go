// Command kfake-broker runs franz-go's kfake as a one-broker cluster on a
// fixed port, as the peer that bench/run.sh measures Riffle against.
//
// kfake keeps its log in memory unless it is given a data directory; we give
// it one so that both brokers write every batch to segment files, as Kafka
// does (page cache, no fsync per batch: Kafka's default
// log.flush.interval.messages is Long.MAX_VALUE). Broker configs are passed
// through with -c so that limits such as message.max.bytes match Riffle's.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// configFlags collects repeated -c key=value broker configs.
type configFlags map[string]string

func (f configFlags) String() string { return fmt.Sprint(map[string]string(f)) }

func (f configFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	f[k] = v
	return nil
}

func main() {
	os.Exit(run())
}

func run() int {
	var (
		port       = flag.Int("port", 9092, "port to listen on (127.0.0.1 only)")
		dataDir    = flag.String("data-dir", "", "directory for kfake's segment files; empty keeps the log in memory")
		syncWrites = flag.Bool("sync", false, "fsync every batch (Kafka's default is not to)")
		closeWait  = flag.Duration("close-timeout", 10*time.Second, "how long shutdown may take before we exit anyway")
		configs    = configFlags{}
	)
	flag.Var(configs, "c", "broker config key=value (repeatable)")
	flag.Parse()

	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(*port),
	}
	if *dataDir != "" {
		opts = append(opts, kfake.DataDir(*dataDir))
	}
	if *syncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	if len(configs) > 0 {
		opts = append(opts, kfake.BrokerConfigs(configs))
	}

	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kfake-broker: %v\n", err)
		return 1
	}
	for _, addr := range c.ListenAddrs() {
		fmt.Println(addr)
	}
	if want := net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)); len(c.ListenAddrs()) != 1 || c.ListenAddrs()[0] != want {
		fmt.Fprintf(os.Stderr, "kfake-broker: listening on %v, want %s\n", c.ListenAddrs(), want)
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	<-sigs

	// Closing flushes the data directory; a second signal or the deadline
	// ends the process regardless, so the benchmark script never hangs.
	done := make(chan struct{})
	go func() {
		c.Close()
		close(done)
	}()
	select {
	case <-done:
		return 0
	case <-sigs:
		fmt.Fprintln(os.Stderr, "kfake-broker: forced shutdown")
		return 1
	case <-time.After(*closeWait):
		fmt.Fprintln(os.Stderr, "kfake-broker: shutdown timed out")
		return 1
	}
}

// Command kfake-broker runs franz-go's kfake, a fake Kafka broker, as a
// standalone process so the compat matrix can be pointed at something other
// than Riffle and the two can be compared side by side.
//
//	go run ./cmd/kfake-broker -port 9092 -partitions 3
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

// configFlags collects repeated -config key=value broker settings.
type configFlags map[string]string

func (f configFlags) String() string { return fmt.Sprint(map[string]string(f)) }

func (f configFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("expected key=value, got %q", s)
	}
	f[k] = v
	return nil
}

func main() {
	port := flag.Int("port", 9092, "port of the (single) broker; 127.0.0.1 only")
	partitions := flag.Int("partitions", 3, "partitions of auto-created topics")
	dataDir := flag.String("data-dir", "", "persist to this directory (default: memory only)")
	configs := configFlags{}
	flag.Var(configs, "config", "broker config key=value (repeatable)")
	flag.Parse()

	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(*port),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(*partitions),
	}
	if len(configs) > 0 {
		opts = append(opts, kfake.BrokerConfigs(configs))
	}
	if *dataDir != "" {
		opts = append(opts, kfake.DataDir(*dataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfake-broker:", err)
		os.Exit(1)
	}
	fmt.Println("kfake-broker listening on", strings.Join(c.ListenAddrs(), ","))

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	c.Close()
}

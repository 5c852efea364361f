// Command riffle runs a Riffle broker, a Kafka-wire-compatible event
// streaming broker, and its storage tools:
//
//	riffle [server.properties] [--config FILE] [--override key=value]...
//	riffle format --config FILE --cluster-id ID [--ignore-formatted]
//	riffle random-uuid
//	riffle api-versions [--markdown]
//	riffle version
//
// Everything but wiring lives in internal/cli.
package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/riffle-io/riffle/cmd/riffle/internal/cli"
	"github.com/riffle-io/riffle/server"
	"github.com/riffle-io/riffle/storage"
)

func main() {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	os.Exit(cli.Main(os.Args[1:], os.Environ(), os.Stdout, os.Stderr, cli.Deps{
		Run:           server.Run,
		APIs:          apis,
		APIMarkdown:   server.APIMarkdown,
		FormatLogDirs: storage.FormatLogDirs,
		NewClusterID:  storage.NewClusterID,
		Signals:       sigs,
		Exit:          os.Exit,
	}))
}

func apis() []cli.APIInfo {
	var out []cli.APIInfo
	for _, a := range server.APIs() {
		out = append(out, cli.APIInfo{Key: a.Key, Name: a.Name, MinVersion: a.MinVersion, MaxVersion: a.MaxVersion})
	}
	return out
}

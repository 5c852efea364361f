package cli

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/riffle-io/riffle/config"
	"github.com/riffle-io/riffle/controller"
)

// APIInfo is one supported API, as the server's API table lists it.
type APIInfo struct {
	Key        int16
	Name       string
	MinVersion int16
	MaxVersion int16
}

// Deps are the parts of Riffle the command drives.
type Deps struct {
	// Run starts the broker and blocks until ctx is cancelled, then shuts
	// down gracefully.
	Run func(ctx context.Context, cfg *config.Broker, logger *slog.Logger) error
	// APIs lists the supported APIs by key.
	APIs func() []APIInfo
	// APIMarkdown renders the API table as README.md has it; when nil the
	// table is rendered from APIs.
	APIMarkdown func() string
	// FormatLogDirs writes meta.properties into each directory.
	FormatLogDirs func(dirs []string, clusterID string, nodeID int32) error
	// NewClusterID returns a random Kafka UUID.
	NewClusterID func() string
	// Signals delivers SIGINT/SIGTERM; Exit ends the process at once (on a
	// second signal, or when shutdown overruns ShutdownTimeout).
	Signals <-chan os.Signal
	Exit    func(code int)
	// ShutdownTimeout bounds the graceful shutdown after the first signal.
	ShutdownTimeout time.Duration
}

// Version is set at build time: -ldflags "-X .../cli.Version=v1.2.3".
var Version = "dev"

// Main runs the command line and returns the exit code.
func Main(args, environ []string, stdout, stderr io.Writer, deps Deps) int {
	cmd, err := ParseArgs(args)
	if errors.Is(err, ErrHelp) {
		fmt.Fprint(stdout, Usage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "riffle: %v\n\n%s", err, Usage)
		return 2
	}
	switch cmd.Name {
	case CmdVersion:
		fmt.Fprintln(stdout, versionString())
		return 0
	case CmdRandomUUID:
		fmt.Fprintln(stdout, deps.NewClusterID())
		return 0
	case CmdAPIVersions:
		writeAPIs(stdout, cmd.Markdown, deps)
		return 0
	}

	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cmd.LogLevel}))
	cfg, ok := loadConfig(cmd, environ, logger)
	if !ok {
		return 1
	}
	if cmd.Name == CmdFormat {
		if err := format(cmd, cfg, stdout, deps); err != nil {
			fmt.Fprintf(stderr, "riffle format: %v\n", err)
			return 1
		}
		return 0
	}
	return run(cfg, logger, deps)
}

// loadConfig loads and validates the configuration, logging warnings and
// notes; on an error it logs it and reports false.
func loadConfig(cmd *Command, environ []string, logger *slog.Logger) (*config.Broker, bool) {
	cfg, warnings, err := config.Load(cmd.ConfigPath, environ, cmd.Overrides)
	for _, w := range warnings {
		logger.Warn(w)
	}
	if err != nil {
		logger.Error("invalid configuration; not starting", "err", err.Error())
		return nil, false
	}
	// A setting that is accepted but has no effect must not pass silently.
	for _, n := range cfg.Notes {
		logger.Warn(n)
	}
	return cfg, true
}

// run starts the broker. The first SIGINT or SIGTERM cancels its context
// (graceful shutdown); a second one, or a shutdown that overruns
// ShutdownTimeout, exits at once.
func run(cfg *config.Broker, logger *slog.Logger, deps Deps) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	go watchSignals(deps, logger, cancel, done)

	if err := deps.Run(ctx, cfg, logger); err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("riffle stopped", "err", err.Error())
		return 1
	}
	logger.Info("shutdown complete")
	return 0
}

func watchSignals(deps Deps, logger *slog.Logger, cancel context.CancelFunc, done <-chan struct{}) {
	var sig os.Signal
	select {
	case <-done:
		return
	case sig = <-deps.Signals:
	}
	logger.Info("shutting down; signal again to exit at once", "signal", sig.String())
	cancel()
	timeout := deps.ShutdownTimeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-done:
	case sig = <-deps.Signals:
		logger.Warn("exiting at once", "signal", sig.String())
		deps.Exit(1)
	case <-timer.C:
		logger.Error("graceful shutdown overran; exiting", "timeout", timeout.String())
		deps.Exit(1)
	}
}

// format is kafka-storage.sh format: write meta.properties into every log
// directory and the metadata directory.
func format(cmd *Command, cfg *config.Broker, stdout io.Writer, deps Deps) error {
	if err := checkClusterID(cmd.ClusterID); err != nil {
		return err
	}
	var scram []controller.BootstrapScram
	for _, a := range cmd.AddScram {
		c, err := controller.ParseAddScram(a)
		if err != nil {
			return err
		}
		scram = append(scram, c)
	}
	dirs := slices.Clone(cfg.LogDirs)
	if cfg.MetadataLogDir != "" && !slices.Contains(dirs, cfg.MetadataLogDir) {
		dirs = append(dirs, cfg.MetadataLogDir)
	}
	var todo []string
	for _, dir := range dirs {
		_, err := os.Stat(filepath.Join(dir, "meta.properties"))
		switch {
		case err == nil && cmd.IgnoreFormatted:
			fmt.Fprintf(stdout, "%s is already formatted; skipping.\n", dir)
		case err == nil:
			return fmt.Errorf("log directory %s is already formatted; use --ignore-formatted to skip it and format the others", dir)
		case errors.Is(err, os.ErrNotExist):
			todo = append(todo, dir)
		default:
			return fmt.Errorf("log directory %s: %w", dir, err)
		}
	}
	if len(todo) == 0 {
		fmt.Fprintln(stdout, "All of the log directories are already formatted.")
		return nil
	}
	if err := deps.FormatLogDirs(todo, cmd.ClusterID, cfg.NodeID); err != nil {
		return err
	}
	if len(scram) > 0 {
		// The first start writes them into the metadata log
		// (Broker.Start); see controller.BootstrapScramFile.
		if err := controller.WriteBootstrapScram(cfg.MetadataLogDir, scram); err != nil {
			return fmt.Errorf("writing SCRAM credentials: %w", err)
		}
		for _, c := range scram {
			fmt.Fprintf(stdout, "Added %s credential for %s.\n", controller.ScramMechanismName(c.Mechanism), c.Name)
		}
	}
	for _, dir := range todo {
		fmt.Fprintf(stdout, "Formatted %s with cluster.id %s and node.id %d.\n", dir, cmd.ClusterID, cfg.NodeID)
	}
	return nil
}

// checkClusterID accepts what Kafka's Uuid.fromString accepts: 16 bytes in
// URL-safe base64 without padding (22 characters), other than the zero id.
func checkClusterID(id string) error {
	b, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(b) != 16 {
		return fmt.Errorf("cluster id %q is not a Kafka UUID (22 URL-safe base64 characters); generate one with riffle random-uuid", id)
	}
	if slices.Equal(b, make([]byte, 16)) {
		return fmt.Errorf("cluster id %q is the reserved zero UUID", id)
	}
	return nil
}

func writeAPIs(w io.Writer, markdown bool, deps Deps) {
	if markdown {
		if deps.APIMarkdown != nil {
			fmt.Fprint(w, deps.APIMarkdown())
			return
		}
		var sb strings.Builder
		sb.WriteString("| Key | API | Versions |\n|---:|---|---|\n")
		for _, a := range deps.APIs() {
			fmt.Fprintf(&sb, "| %d | %s | %d–%d |\n", a.Key, a.Name, a.MinVersion, a.MaxVersion)
		}
		fmt.Fprint(w, sb.String())
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tAPI\tMIN\tMAX")
	for _, a := range deps.APIs() {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\n", a.Key, a.Name, a.MinVersion, a.MaxVersion)
	}
	tw.Flush()
}

func versionString() string {
	v := Version
	if info, ok := debug.ReadBuildInfo(); ok && v == "dev" {
		if info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
	}
	return fmt.Sprintf("riffle %s %s %s/%s", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

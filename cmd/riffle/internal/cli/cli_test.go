package cli

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/riffle-io/riffle/config"
	"github.com/riffle-io/riffle/controller"
)

func TestParseArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want Command
	}{
		{nil, Command{Name: CmdRun}},
		{[]string{"server.properties"}, Command{Name: CmdRun, ConfigPath: "server.properties"}},
		{[]string{"server.properties", "--override", "a=b", "--override=c=d=e"},
			Command{Name: CmdRun, ConfigPath: "server.properties", Overrides: map[string]string{"a": "b", "c": "d=e"}}},
		{[]string{"--config", "x.properties", "--log-level", "debug"}, Command{Name: CmdRun, ConfigPath: "x.properties", LogLevel: slog.LevelDebug}},
		{[]string{"-c", "x", "--override", "a=1", "--override", "a=2"}, Command{Name: CmdRun, ConfigPath: "x", Overrides: map[string]string{"a": "2"}}},
		{[]string{"run", "--config=x"}, Command{Name: CmdRun, ConfigPath: "x"}},
		{[]string{"start", "x"}, Command{Name: CmdRun, ConfigPath: "x"}},
		{[]string{"--log-level=WARN"}, Command{Name: CmdRun, LogLevel: slog.LevelWarn}},
		{[]string{"--override", "empty="}, Command{Name: CmdRun, Overrides: map[string]string{"empty": ""}}},
		{[]string{"format", "--config", "s.p", "--cluster-id", "abc", "--ignore-formatted"},
			Command{Name: CmdFormat, ConfigPath: "s.p", ClusterID: "abc", IgnoreFormatted: true}},
		{[]string{"format", "-c", "s.p", "-t", "abc", "-g"}, Command{Name: CmdFormat, ConfigPath: "s.p", ClusterID: "abc", IgnoreFormatted: true}},
		{[]string{"random-uuid"}, Command{Name: CmdRandomUUID}},
		{[]string{"api-versions", "--markdown"}, Command{Name: CmdAPIVersions, Markdown: true}},
		{[]string{"version"}, Command{Name: CmdVersion}},
		{[]string{"--", "-odd-name.properties"}, Command{Name: CmdRun, ConfigPath: "-odd-name.properties"}},
	}
	for _, tt := range tests {
		got, err := ParseArgs(tt.args)
		if err != nil {
			t.Errorf("ParseArgs(%q): %v", tt.args, err)
			continue
		}
		if tt.want.Overrides == nil {
			tt.want.Overrides = map[string]string{}
		}
		if !reflect.DeepEqual(*got, tt.want) {
			t.Errorf("ParseArgs(%q) = %+v, want %+v", tt.args, *got, tt.want)
		}
	}
}

func TestParseArgsErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--bogus"}, "unknown flag --bogus"},
		{[]string{"--config"}, "--config needs a value"},
		{[]string{"--config="}, "needs a file name"},
		{[]string{"a.properties", "b.properties"}, "unexpected arguments"},
		{[]string{"a.properties", "--config", "b"}, "given twice"},
		{[]string{"--config", "a", "--config", "b"}, "given twice"},
		{[]string{"--override", "novalue"}, `--override "novalue": want key=value`},
		{[]string{"--override", "=v"}, "want key=value"},
		{[]string{"--log-level", "loud"}, `--log-level "loud"`},
		{[]string{"format", "--cluster-id", "x"}, "format needs --config"},
		{[]string{"format", "--config", "x"}, "format needs --cluster-id"},
		{[]string{"format", "x", "--config", "y", "--cluster-id", "z"}, "unexpected arguments"},
		{[]string{"--cluster-id", "x"}, "run does not take --cluster-id"},
		{[]string{"--markdown"}, "run does not take --markdown"},
		{[]string{"random-uuid", "--config", "x"}, "random-uuid does not take --config"},
		{[]string{"version", "extra"}, "unexpected arguments"},
		{[]string{"api-versions", "--markdown=yes"}, "takes no value"},
	}
	for _, tt := range tests {
		_, err := ParseArgs(tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseArgs(%q) error = %v, want %q", tt.args, err, tt.want)
		}
	}
	for _, help := range [][]string{{"help"}, {"-h"}, {"--help"}, {"format", "--help"}} {
		if _, err := ParseArgs(help); !errors.Is(err, ErrHelp) {
			t.Errorf("ParseArgs(%q) = %v, want ErrHelp", help, err)
		}
	}
}

// fakeDeps records what the command asked of the broker and storage.
type fakeDeps struct {
	ran        *config.Broker
	formatted  []string
	formatID   string
	formatNode int32
}

func (f *fakeDeps) deps() Deps {
	return Deps{
		Run: func(ctx context.Context, cfg *config.Broker, _ *slog.Logger) error {
			f.ran = cfg
			return nil
		},
		APIs: func() []APIInfo {
			return []APIInfo{{0, "Produce", 3, 13}, {18, "ApiVersions", 0, 4}}
		},
		FormatLogDirs: func(dirs []string, id string, node int32) error {
			f.formatted, f.formatID, f.formatNode = dirs, id, node
			for _, d := range dirs {
				if err := os.MkdirAll(d, 0o755); err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(d, "meta.properties"), []byte("cluster.id="+id+"\n"), 0o644); err != nil {
					return err
				}
			}
			return nil
		},
		NewClusterID: func() string { return "MkU3OEVBNTcwNTJENDM2Qk" },
		Signals:      make(chan os.Signal),
		Exit:         func(int) {},
	}
}

func runMain(t *testing.T, args, env []string, d Deps) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(args, env, &stdout, &stderr, d)
	return code, stdout.String(), stderr.String()
}

func TestSimpleCommands(t *testing.T) {
	t.Parallel()
	f := &fakeDeps{}
	if code, out, _ := runMain(t, []string{"version"}, nil, f.deps()); code != 0 || !strings.HasPrefix(out, "riffle ") {
		t.Errorf("version: %d %q", code, out)
	}
	if code, out, _ := runMain(t, []string{"random-uuid"}, nil, f.deps()); code != 0 || out != "MkU3OEVBNTcwNTJENDM2Qk\n" {
		t.Errorf("random-uuid: %d %q", code, out)
	}
	if code, out, _ := runMain(t, []string{"api-versions"}, nil, f.deps()); code != 0 ||
		!strings.Contains(out, "KEY") || !strings.Contains(out, "ApiVersions") {
		t.Errorf("api-versions: %d %q", code, out)
	}
	code, out, _ := runMain(t, []string{"api-versions", "--markdown"}, nil, f.deps())
	want := "| Key | API | Versions |\n|---:|---|---|\n| 0 | Produce | 3–13 |\n| 18 | ApiVersions | 0–4 |\n"
	if code != 0 || out != want {
		t.Errorf("api-versions --markdown: %d\n%s\nwant\n%s", code, out, want)
	}
	if code, out, _ := runMain(t, []string{"help"}, nil, f.deps()); code != 0 || !strings.Contains(out, "Usage:") {
		t.Errorf("help: %d %q", code, out)
	}
	if code, _, errOut := runMain(t, []string{"--nope"}, nil, f.deps()); code != 2 || !strings.Contains(errOut, "unknown flag") {
		t.Errorf("bad flag: %d %q", code, errOut)
	}
}

func writeProps(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunLoadsConfig(t *testing.T) {
	t.Parallel()
	path := writeProps(t, "num.partitions=3\nunknown.thing=1\nnum.io.threads=16\n")
	f := &fakeDeps{}
	code, _, errOut := runMain(t, []string{path, "--override", "log.dirs=/tmp/x", "--log-level", "debug"},
		[]string{"KAFKA_DEFAULT_REPLICATION_FACTOR=1", "KAFKA_HEAP_OPTS=-Xmx1g"}, f.deps())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if f.ran == nil || f.ran.NumPartitions != 3 || f.ran.LogDirs[0] != "/tmp/x" {
		t.Fatalf("Run got %+v", f.ran)
	}
	if !strings.Contains(errOut, "unknown.thing") {
		t.Errorf("warning for unknown key not logged: %s", errOut)
	}
	// An accepted but ignored key is a warning naming it.
	var ignoredLine string
	for _, line := range strings.Split(errOut, "\n") {
		if strings.Contains(line, "num.io.threads=16") {
			ignoredLine = line
		}
	}
	if !strings.Contains(ignoredLine, "level=WARN") || !strings.Contains(ignoredLine, "ignored") {
		t.Errorf("no warning for the ignored key: %s", errOut)
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	t.Parallel()
	path := writeProps(t, "num.partitions=abc\n")
	f := &fakeDeps{}
	code, _, errOut := runMain(t, []string{"--config", path}, nil, f.deps())
	if code != 1 || f.ran != nil {
		t.Fatalf("exit %d, ran %v", code, f.ran != nil)
	}
	if !strings.Contains(errOut, `invalid value \"abc\" for num.partitions: not an integer`) {
		t.Errorf("error not reported: %s", errOut)
	}
	code, _, errOut = runMain(t, []string{filepath.Join(t.TempDir(), "missing.properties")}, nil, f.deps())
	if code != 1 || !strings.Contains(errOut, "missing.properties") {
		t.Errorf("missing file: %d %s", code, errOut)
	}
}

func TestRunError(t *testing.T) {
	t.Parallel()
	d := (&fakeDeps{}).deps()
	d.Run = func(context.Context, *config.Broker, *slog.Logger) error { return errors.New("port in use") }
	code, _, errOut := runMain(t, nil, nil, d)
	if code != 1 || !strings.Contains(errOut, "port in use") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

func TestSignalsShutDownGracefully(t *testing.T) {
	t.Parallel()
	d := (&fakeDeps{}).deps()
	sigs := make(chan os.Signal, 2)
	d.Signals = sigs
	started := make(chan struct{})
	d.Run = func(ctx context.Context, _ *config.Broker, _ *slog.Logger) error {
		close(started)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Second):
			return errors.New("context was not cancelled")
		}
	}
	result := make(chan int, 1)
	go func() { code, _, _ := runMain(t, nil, nil, d); result <- code }()
	waitFor(t, started)
	sigs <- syscall.SIGTERM
	select {
	case code := <-result:
		if code != 0 {
			t.Fatalf("exit %d after SIGTERM", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("broker did not stop after SIGTERM")
	}
}

func TestSecondSignalExits(t *testing.T) {
	t.Parallel()
	d := (&fakeDeps{}).deps()
	sigs := make(chan os.Signal, 2)
	d.Signals = sigs
	started, exited := make(chan struct{}), make(chan int, 1)
	d.Exit = func(code int) { exited <- code }
	d.Run = func(ctx context.Context, _ *config.Broker, _ *slog.Logger) error {
		close(started)
		// A shutdown that hangs until the process is told to exit.
		select {
		case code := <-exited:
			exited <- code
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("Exit was not called")
		}
	}
	result := make(chan int, 1)
	go func() { code, _, _ := runMain(t, nil, nil, d); result <- code }()
	waitFor(t, started)
	sigs <- os.Interrupt
	sigs <- os.Interrupt
	select {
	case <-result:
	case <-time.After(10 * time.Second):
		t.Fatal("second signal did not exit")
	}
	if code := <-exited; code != 1 {
		t.Fatalf("Exit(%d), want 1", code)
	}
}

func TestShutdownTimeoutExits(t *testing.T) {
	t.Parallel()
	d := (&fakeDeps{}).deps()
	sigs := make(chan os.Signal, 1)
	d.Signals = sigs
	d.ShutdownTimeout = 50 * time.Millisecond
	started, exited := make(chan struct{}), make(chan int, 1)
	d.Exit = func(code int) { exited <- code }
	d.Run = func(ctx context.Context, _ *config.Broker, _ *slog.Logger) error {
		close(started)
		select {
		case code := <-exited:
			exited <- code
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("Exit was not called")
		}
	}
	result := make(chan int, 1)
	go func() { code, _, _ := runMain(t, nil, nil, d); result <- code }()
	waitFor(t, started)
	sigs <- syscall.SIGTERM
	select {
	case <-result:
	case <-time.After(10 * time.Second):
		t.Fatal("overrunning shutdown did not exit")
	}
	if code := <-exited; code != 1 {
		t.Fatalf("Exit(%d), want 1", code)
	}
}

func waitFor(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("timed out")
	}
}

const testClusterID = "MkU3OEVBNTcwNTJENDM2Qk"

func TestFormat(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	path := writeProps(t, "node.id=3\nlog.dirs="+a+","+b+"\n")

	f := &fakeDeps{}
	code, out, errOut := runMain(t, []string{"format", "--config", path, "--cluster-id", testClusterID}, nil, f.deps())
	if code != 0 {
		t.Fatalf("format: exit %d: %s", code, errOut)
	}
	if !reflect.DeepEqual(f.formatted, []string{a, b}) || f.formatID != testClusterID || f.formatNode != 3 {
		t.Fatalf("formatted %v %s %d", f.formatted, f.formatID, f.formatNode)
	}
	if !strings.Contains(out, "Formatted "+a) {
		t.Errorf("output %q", out)
	}

	// Formatting again fails without --ignore-formatted, as kafka-storage.sh does.
	f = &fakeDeps{}
	code, _, errOut = runMain(t, []string{"format", "--config", path, "--cluster-id", testClusterID}, nil, f.deps())
	if code != 1 || !strings.Contains(errOut, "already formatted") || f.formatted != nil {
		t.Fatalf("second format: exit %d, formatted %v: %s", code, f.formatted, errOut)
	}

	// With --ignore-formatted, only a new directory is formatted.
	c := filepath.Join(dir, "c")
	path2 := writeProps(t, "node.id=3\nlog.dirs="+a+","+c+"\n")
	f = &fakeDeps{}
	code, out, errOut = runMain(t, []string{"format", "-c", path2, "-t", testClusterID, "-g"}, nil, f.deps())
	if code != 0 || !reflect.DeepEqual(f.formatted, []string{c}) || !strings.Contains(out, "skipping") {
		t.Fatalf("ignore-formatted: exit %d, formatted %v: %s %s", code, f.formatted, out, errOut)
	}
	f = &fakeDeps{}
	code, out, _ = runMain(t, []string{"format", "-c", path2, "-t", testClusterID, "-g"}, nil, f.deps())
	if code != 0 || f.formatted != nil || !strings.Contains(out, "All of the log directories are already formatted") {
		t.Fatalf("all formatted: exit %d, formatted %v: %s", code, f.formatted, out)
	}
}

func TestFormatMetadataDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, m := filepath.Join(dir, "a"), filepath.Join(dir, "meta")
	path := writeProps(t, "log.dirs="+a+"\nmetadata.log.dir="+m+"\n")
	f := &fakeDeps{}
	if code, _, errOut := runMain(t, []string{"format", "-c", path, "-t", testClusterID}, nil, f.deps()); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !reflect.DeepEqual(f.formatted, []string{a, m}) {
		t.Fatalf("formatted %v", f.formatted)
	}
}

func TestFormatRejectsBadClusterID(t *testing.T) {
	t.Parallel()
	path := writeProps(t, "log.dirs="+t.TempDir()+"\n")
	for _, id := range []string{"not-a-uuid", "AAAAAAAAAAAAAAAAAAAAAA", "MkU3OEVBNTcwNTJENDM2Qk=="} {
		f := &fakeDeps{}
		code, _, errOut := runMain(t, []string{"format", "-c", path, "-t", id}, nil, f.deps())
		if code != 1 || f.formatted != nil || !strings.Contains(errOut, "cluster id") {
			t.Errorf("cluster id %q: exit %d, formatted %v: %s", id, code, f.formatted, errOut)
		}
	}
}

// The server.properties shipped in config/ must load cleanly, with no
// warnings, and match Riffle's defaults where it documents them.
func TestShippedServerProperties(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "..", "..", "..", "config", "server.properties")
	cfg, warnings, err := config.Load(path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Fatalf("warnings: %v", warnings)
	}
	if cfg.NodeID != 1 || cfg.LogDirs[0] != "./data" || cfg.Listeners[0].Port != 9092 {
		t.Fatalf("unexpected shipped config: %+v", cfg)
	}
}

// TestFormatAddScram: format --add-scram leaves the credentials, salted,
// in the metadata directory for the first start; a malformed one fails
// format before anything is written.
func TestFormatAddScram(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := filepath.Join(dir, "a")
	path := writeProps(t, "node.id=1\nlog.dirs="+a+"\n")
	f := &fakeDeps{}
	code, out, errOut := runMain(t, []string{"format", "--config", path, "--cluster-id", testClusterID,
		"--add-scram", "SCRAM-SHA-256=[name=alice,password=alice-secret]", "-S", "SCRAM-SHA-512=[name=bob,password=pw,iterations=8192]"}, nil, f.deps())
	if code != 0 {
		t.Fatalf("format: exit %d: %s", code, errOut)
	}
	creds, err := controller.ReadBootstrapScram(a)
	if err != nil || len(creds) != 2 || creds[0].Name != "alice" || creds[1].Iterations != 8192 || len(creds[0].SaltedPassword) != 32 {
		t.Fatalf("credentials %+v %v", creds, err)
	}
	if !strings.Contains(out, "Added SCRAM-SHA-256 credential for alice") {
		t.Errorf("output %q", out)
	}
	b := filepath.Join(dir, "b")
	path = writeProps(t, "node.id=1\nlog.dirs="+b+"\n")
	f = &fakeDeps{}
	code, _, errOut = runMain(t, []string{"format", "--config", path, "--cluster-id", testClusterID, "--add-scram", "SCRAM-SHA-256=[name=x]"}, nil, f.deps())
	if code != 1 || f.formatted != nil || !strings.Contains(errOut, "password") {
		t.Fatalf("bad --add-scram: exit %d formatted %v: %s", code, f.formatted, errOut)
	}
}

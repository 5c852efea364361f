// Package cli is the riffle command line: argument parsing, configuration
// loading, signals and the subcommands. The broker itself, storage
// formatting and the API table are passed in (Deps), so that everything here
// is testable without starting a broker.
package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// Subcommands.
const (
	CmdRun         = "run"
	CmdFormat      = "format"
	CmdRandomUUID  = "random-uuid"
	CmdAPIVersions = "api-versions"
	CmdVersion     = "version"
	CmdHelp        = "help"
)

// Command is a parsed command line.
type Command struct {
	Name            string
	ConfigPath      string
	Overrides       map[string]string // --override key=value, later ones win
	LogLevel        slog.Level
	ClusterID       string   // format --cluster-id
	IgnoreFormatted bool     // format --ignore-formatted
	AddScram        []string // format --add-scram, repeatable
	Markdown        bool     // api-versions --markdown
}

// Usage is printed by help and after argument errors.
const Usage = `Usage:
  riffle [server.properties] [--config FILE] [--override key=value]... [--log-level LEVEL]
      Start the broker. The properties file may be given positionally, as with
      kafka-server-start.sh. KAFKA_* environment variables override the file
      (KAFKA_LOG_DIRS sets log.dirs); --override flags override both.
  riffle format --config FILE --cluster-id ID [--ignore-formatted] [--add-scram CRED]... [--override key=value]...
      Format the log directories for a cluster, as kafka-storage.sh format.
  riffle random-uuid
      Print a new cluster id, as kafka-storage.sh random-uuid.
  riffle api-versions [--markdown]
      Print the supported Kafka APIs and version ranges.
  riffle version
      Print the version.

Flags:
  -c, --config FILE          properties file (Kafka's server.properties syntax)
      --override key=value   set a property; may be repeated
      --log-level LEVEL      debug, info, warn or error (default info)
  -t, --cluster-id ID        cluster id for format (see random-uuid)
  -g, --ignore-formatted     format: skip directories that are already formatted
  -S, --add-scram CRED       format: a SCRAM credential for the new cluster, as
                             'SCRAM-SHA-256=[name=alice,password=alice-secret]' (repeatable)
      --markdown             api-versions: print a Markdown table
`

// ErrHelp is returned when help was asked for.
var ErrHelp = errors.New("help requested")

var subcommands = map[string]bool{
	CmdRun: true, CmdFormat: true, CmdRandomUUID: true, CmdAPIVersions: true, CmdVersion: true, CmdHelp: true,
	"start": true,
}

// ParseArgs parses the arguments after the program name.
func ParseArgs(args []string) (*Command, error) {
	cmd := &Command{Name: CmdRun, Overrides: map[string]string{}, LogLevel: slog.LevelInfo}
	if len(args) > 0 && subcommands[args[0]] {
		cmd.Name = args[0]
		if cmd.Name == "start" {
			cmd.Name = CmdRun
		}
		args = args[1:]
	}
	if cmd.Name == CmdHelp {
		return nil, ErrHelp
	}
	var positional []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(arg, "-") || arg == "-" {
			positional = append(positional, arg)
			continue
		}
		name, value, hasValue := strings.Cut(arg, "=")
		// value returns the flag's argument, from "--flag=value" or the next
		// argument.
		takeValue := func() (string, error) {
			if hasValue {
				return value, nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("flag %s needs a value", name)
			}
			i++
			return args[i], nil
		}
		noValue := func() error {
			if hasValue {
				return fmt.Errorf("flag %s takes no value", name)
			}
			return nil
		}
		var err error
		switch name {
		case "-h", "--help", "-help":
			return nil, ErrHelp
		case "-c", "--config", "-config":
			if cmd.ConfigPath != "" {
				return nil, fmt.Errorf("configuration file given twice")
			}
			cmd.ConfigPath, err = takeValue()
			if err == nil && cmd.ConfigPath == "" {
				err = fmt.Errorf("flag %s needs a file name", name)
			}
		case "--override", "-override":
			var kv string
			if kv, err = takeValue(); err == nil {
				k, v, ok := strings.Cut(kv, "=")
				k = strings.TrimSpace(k)
				if !ok || k == "" {
					err = fmt.Errorf("--override %q: want key=value", kv)
				} else {
					cmd.Overrides[k] = v
				}
			}
		case "--log-level", "-log-level":
			var lv string
			if lv, err = takeValue(); err == nil {
				cmd.LogLevel, err = parseLevel(lv)
			}
		case "-t", "--cluster-id", "-cluster-id":
			cmd.ClusterID, err = takeValue()
		case "-S", "--add-scram", "-add-scram":
			var v string
			if v, err = takeValue(); err == nil {
				cmd.AddScram = append(cmd.AddScram, v)
			}
		case "-g", "--ignore-formatted", "-ignore-formatted":
			err = noValue()
			cmd.IgnoreFormatted = true
		case "--markdown", "-markdown":
			err = noValue()
			cmd.Markdown = true
		default:
			err = fmt.Errorf("unknown flag %s", name)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := cmd.checkFlags(positional); err != nil {
		return nil, err
	}
	return cmd, nil
}

// checkFlags refuses flags and arguments the subcommand does not take.
func (cmd *Command) checkFlags(positional []string) error {
	if cmd.Name == CmdRun && len(positional) > 0 {
		// kafka-server-start.sh server.properties [--override k=v]...
		if len(positional) > 1 {
			return fmt.Errorf("unexpected arguments %q", positional[1:])
		}
		if cmd.ConfigPath != "" {
			return fmt.Errorf("configuration file given twice (%s and %s)", cmd.ConfigPath, positional[0])
		}
		cmd.ConfigPath = positional[0]
		positional = nil
	}
	if len(positional) > 0 {
		return fmt.Errorf("%s: unexpected arguments %q", cmd.Name, positional)
	}
	bad := func(flag string) error { return fmt.Errorf("%s does not take %s", cmd.Name, flag) }
	if cmd.Name != CmdFormat {
		if cmd.ClusterID != "" {
			return bad("--cluster-id")
		}
		if cmd.IgnoreFormatted {
			return bad("--ignore-formatted")
		}
		if len(cmd.AddScram) > 0 {
			return bad("--add-scram")
		}
	}
	if cmd.Name != CmdAPIVersions && cmd.Markdown {
		return bad("--markdown")
	}
	switch cmd.Name {
	case CmdFormat:
		if cmd.ConfigPath == "" {
			return errors.New("format needs --config")
		}
		if cmd.ClusterID == "" {
			return errors.New("format needs --cluster-id (generate one with riffle random-uuid)")
		}
	case CmdRandomUUID, CmdAPIVersions, CmdVersion:
		if cmd.ConfigPath != "" {
			return bad("--config")
		}
		if len(cmd.Overrides) > 0 {
			return bad("--override")
		}
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

package config

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Config types, named as Kafka's ConfigDef.Type (DescribeConfigs v3+ reports
// them as ConfigType).
const (
	TypeBoolean  = "BOOLEAN"
	TypeString   = "STRING"
	TypeInt      = "INT"
	TypeShort    = "SHORT"
	TypeLong     = "LONG"
	TypeDouble   = "DOUBLE"
	TypeList     = "LIST"
	TypeClass    = "CLASS"
	TypePassword = "PASSWORD"
)

// ConfigDef describes one property: Kafka's name, type, default, and
// documentation, and a validator for its value.
type ConfigDef struct {
	Name string
	Type string
	// Default is the default as Kafka would print it. NoDefault marks
	// properties whose Kafka default is null (e.g. log.roll.ms, which falls
	// back to log.roll.hours); Default is then "".
	Default   string
	NoDefault bool
	Doc       string
	// Validate checks the type and range of a value; the error is the reason
	// only (e.g. "not an integer"), callers add the name and value.
	Validate func(string) error
	// BrokerSynonym is, for a topic config, the broker property that supplies
	// its default (segment.bytes → log.segment.bytes).
	BrokerSynonym string
	// Ignored marks properties Riffle accepts for compatibility with Kafka
	// configuration files but does not act on (e.g. num.network.threads).
	// Setting one logs a warning at start (Broker.Notes).
	Ignored bool
	// IgnoredReason says why an ignored property has no effect.
	IgnoredReason string
}

// Sensitive reports whether the value must not be shown (DescribeConfigs
// returns null for it).
func (d ConfigDef) Sensitive() bool { return d.Type == TypePassword }

// check validates v and wraps the reason with the name and value.
func (d ConfigDef) check(v string) error {
	if d.Validate == nil {
		return nil
	}
	if err := d.Validate(v); err != nil {
		if d.Sensitive() {
			return fmt.Errorf("invalid value for %s: %v", d.Name, err)
		}
		return fmt.Errorf("invalid value %q for %s: %v", v, d.Name, err)
	}
	return nil
}

// validator builds Validate functions. Kafka trims values before parsing
// typed configs (ConfigDef.parseType), so do we.
type validator func(string) error

func all(vs ...validator) func(string) error {
	return func(s string) error {
		for _, v := range vs {
			if v == nil {
				continue
			}
			if err := v(s); err != nil {
				return err
			}
		}
		return nil
	}
}

func isInt(bits int, what string) validator {
	return func(s string) error {
		if _, err := strconv.ParseInt(strings.TrimSpace(s), 10, bits); err != nil {
			var ne *strconv.NumError
			if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
				return fmt.Errorf("out of range for %s", what)
			}
			return errors.New("not an integer")
		}
		return nil
	}
}

var (
	isInt32 = isInt(32, "an INT")
	isInt16 = isInt(16, "a SHORT")
	isInt64 = isInt(64, "a LONG")
)

func isBool(s string) error {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "false":
		return nil
	}
	return errors.New("not a boolean (want true or false)")
}

func isDouble(s string) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return errors.New("not a number")
	}
	return nil
}

// atLeast is Kafka's Range.atLeast for integer types.
func atLeast(min int64) validator {
	return func(s string) error {
		v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return errors.New("not an integer")
		}
		if v < min {
			return fmt.Errorf("must be at least %d", min)
		}
		return nil
	}
}

// between is Kafka's Range.between for integer types.
func between(min, max int64) validator {
	return func(s string) error {
		v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return errors.New("not an integer")
		}
		if v < min || v > max {
			return fmt.Errorf("must be between %d and %d", min, max)
		}
		return nil
	}
}

// betweenFloat is Kafka's Range.between for DOUBLE.
func betweenFloat(min, max float64) validator {
	return func(s string) error {
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return errors.New("not a number")
		}
		if v < min || v > max {
			return fmt.Errorf("must be between %g and %g", min, max)
		}
		return nil
	}
}

// oneOf is Kafka's ValidString.in: case-sensitive, as Kafka's is.
func oneOf(values ...string) validator {
	return func(s string) error {
		if !slices.Contains(values, strings.TrimSpace(s)) {
			return fmt.Errorf("must be one of %s", strings.Join(values, ", "))
		}
		return nil
	}
}

// listOf is Kafka's ValidList.in: every item must be allowed. Kafka 4.x
// (KIP-1161) also refuses an empty list and duplicates where noted.
func listOf(allowEmpty bool, values ...string) validator {
	return func(s string) error {
		items := splitCSV(s)
		if len(items) == 0 && !allowEmpty {
			return errors.New("must not be empty")
		}
		seen := make(map[string]bool)
		for _, it := range items {
			if !slices.Contains(values, strings.ToLower(it)) {
				return fmt.Errorf("item %q must be one of %s", it, strings.Join(values, ", "))
			}
			if seen[strings.ToLower(it)] {
				return fmt.Errorf("item %q appears twice", it)
			}
			seen[strings.ToLower(it)] = true
		}
		return nil
	}
}

func nonEmptyList(s string) error {
	if len(splitCSV(s)) == 0 {
		return errors.New("must not be empty")
	}
	return nil
}

func noDuplicates(s string) error {
	seen := make(map[string]bool)
	for _, it := range splitCSV(s) {
		if seen[it] {
			return fmt.Errorf("item %q appears twice", it)
		}
		seen[it] = true
	}
	return nil
}

// Parsers used once a value has been validated. They cannot fail on
// validated input; they still return zero values rather than panic.

func parseInt64(s string) int64 {
	v, _ := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return v
}

func parseBool(s string) bool { return strings.EqualFold(strings.TrimSpace(s), "true") }

func parseFloat(s string) float64 {
	v, _ := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return v
}

// parseList splits a LIST value; an empty string is an empty list.
func parseList(s string) []string { return splitCSV(s) }

// Kafka's own spelling of its sentinels, for defaults.
const (
	maxInt32 = "2147483647"
	maxInt64 = "9223372036854775807"
)

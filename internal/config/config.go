// Package config resolves settings from flags, then WHARF_* environment variables, then an optional
// JSON config file, then built-in defaults: the first that sets a value wins.
package config

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// UsageError is a mistake on the command line (an unknown flag, a malformed value, a missing or stray
// argument) or a request for help (Err is flag.ErrHelp). Flags is the command's flag set, for its usage.
type UsageError struct {
	Flags *flag.FlagSet
	Err   error
}

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// shared are settings a config file may hold that a command does not read: the file is shared by every
// command, and only the server reads most of them.
var shared = map[string]bool{}

// Shared declares settings that a config file may hold although the command parsing it has no such flag.
// A command ignores them; a name no command knows is still an error.
func Shared(names ...string) {
	for _, n := range names {
		shared[n] = true
	}
}

// EnvName is the environment variable for a flag: WHARF_ and the name in upper case, dashes as underscores.
func EnvName(flagName string) string {
	return "WHARF_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse parses args into fs (flags may come before or after positional arguments, which it returns),
// then fills every flag the command line did not set from the environment
// and from the config file named by the flag "config" (if fs has one and it is set). The file is a JSON
// object whose keys are flag names.
//
// Parse prints nothing: a mistake in args, or -h, is returned as a *UsageError for the caller to report.
func Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, &UsageError{Flags: fs, Err: err}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	return positional, resolve(fs)
}

func resolve(fs *flag.FlagSet) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var file map[string]any
	if cf := fs.Lookup("config"); cf != nil {
		path := cf.Value.String()
		if !set["config"] {
			if v, ok := os.LookupEnv(EnvName("config")); ok {
				path = v
			}
		}
		if path != "" {
			data, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("config file: %w", err)
			}
			if err := json.Unmarshal(data, &file); err != nil {
				return fmt.Errorf("config file %s: %w", path, err)
			}
			for k := range file {
				if fs.Lookup(k) == nil && !shared[k] {
					return fmt.Errorf("config file %s: unknown setting %q", path, k)
				}
			}
		}
	}
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		if v, ok := os.LookupEnv(EnvName(f.Name)); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", EnvName(f.Name), v, e)
			}
			return
		}
		if v, ok := file[f.Name]; ok {
			s := fmt.Sprint(v)
			switch v.(type) {
			case map[string]any, []any: // a structured setting (throttle limits) is its JSON
				b, _ := json.Marshal(v)
				s = string(b)
			}
			if e := fs.Set(f.Name, s); e != nil {
				err = fmt.Errorf("config setting %s=%v: %w", f.Name, v, e)
			}
		}
	})
	return err
}

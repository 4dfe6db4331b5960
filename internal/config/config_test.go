package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "wharf.json")
	os.WriteFile(file, []byte(`{"addr": "file:1", "data-dir": "file-dir", "create-on-push": true, "level": "file"}`), 0o644)
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	addr := fs.String("addr", "default:1", "")
	dir := fs.String("data-dir", "default-dir", "")
	cop := fs.Bool("create-on-push", false, "")
	level := fs.String("level", "default", "")
	untouched := fs.String("other", "default", "")
	fs.String("config", "", "")
	t.Setenv("WHARF_DATA_DIR", "env-dir")
	t.Setenv("WHARF_LEVEL", "env")
	pos, err := Parse(fs, []string{"--config", file, "NAME", "--level", "flag"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pos) != 1 || pos[0] != "NAME" {
		t.Fatalf("positional %v", pos)
	}
	// flag > environment > file > default
	if *level != "flag" || *dir != "env-dir" || *addr != "file:1" || !*cop || *untouched != "default" {
		t.Fatalf("level=%s dir=%s addr=%s create-on-push=%v other=%s", *level, *dir, *addr, *cop, *untouched)
	}
}

func TestConfigFileErrors(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"unknown.json": `{"nope": 1}`, "bad.json": `{`} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o644)
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.String("config", "", "")
		if _, err := Parse(fs, []string{"--config", p}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.Int("n", 1, "")
	t.Setenv("WHARF_N", "not a number")
	if _, err := Parse(fs, nil); err == nil {
		t.Error("bad environment value accepted")
	}
}

// TestMistakesAreUsageErrors: Parse prints nothing; a bad flag or -h comes back as a *UsageError.
func TestMistakesAreUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"--nope"}, {"-h"}, {"--n", "x"}} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.Int("n", 1, "")
		var out strings.Builder
		fs.SetOutput(&out)
		_, err := Parse(fs, args)
		var ue *UsageError
		if !errors.As(err, &ue) || ue.Flags != fs || out.Len() != 0 {
			t.Errorf("%v: %v, printed %q", args, err, out.String())
		}
		if (args[0] == "-h") != errors.Is(err, flag.ErrHelp) {
			t.Errorf("%v: %v", args, err)
		}
	}
}

// TestSharedSettings: a config file may hold settings of other commands, which are left alone.
func TestSharedSettings(t *testing.T) {
	p := filepath.Join(t.TempDir(), "wharf.json")
	os.WriteFile(p, []byte(`{"addr": "x", "n": 2}`), 0o644)
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.String("config", "", "")
	n := fs.Int("n", 1, "")
	if _, err := Parse(fs, []string{"--config", p}); err == nil {
		t.Fatal("a setting no command knows accepted")
	}
	Shared("addr")
	if _, err := Parse(fs, []string{"--config", p}); err != nil || *n != 2 {
		t.Fatalf("n=%d: %v", *n, err)
	}
}

// TestStructuredSetting: a setting whose value in the file is an object (throttle limits) reaches its flag
// as JSON.
func TestStructuredSetting(t *testing.T) {
	file := filepath.Join(t.TempDir(), "wharf.json")
	os.WriteFile(file, []byte(`{"throttle": {"default": {"ecr:PutImage": {"rate": 5, "burst": 20}}}}`), 0o644)
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.String("config", "", "")
	limits := fs.String("throttle", "", "")
	if _, err := Parse(fs, []string{"--config", file}); err != nil {
		t.Fatal(err)
	}
	if want := `{"default":{"ecr:PutImage":{"burst":20,"rate":5}}}`; *limits != want {
		t.Fatalf("throttle = %s, want %s", *limits, want)
	}
}

package config

import (
	"flag"
	"os"
	"path/filepath"
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

package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/webhooks"
)

// TestWebhooksSetting: webhook targets come from --webhooks, else WHARF_WEBHOOKS, else the config file's
// "webhooks" array.
func TestWebhooksSetting(t *testing.T) {
	file := filepath.Join(t.TempDir(), "wharf.json")
	os.WriteFile(file, []byte(`{"webhooks": [{"name": "file", "url": "https://hooks.example.com/", "secret": "s", "repositories": ["prod/*"]}]}`), 0o600)
	target := func(args ...string) string {
		t.Helper()
		fs, _, s := serveFlags()
		if _, err := config.Parse(fs, append([]string{"--config", file}, args...)); err != nil {
			t.Fatal(err)
		}
		ts, err := webhooks.ParseTargets(s.webhooks)
		if err != nil || len(ts) != 1 {
			t.Fatalf("targets %+v: %v", ts, err)
		}
		return ts[0].Name
	}
	if got := target(); got != "file" {
		t.Fatalf("from the config file: %s", got)
	}
	t.Setenv("WHARF_WEBHOOKS", `[{"name": "env", "url": "https://hooks.example.com/", "secret": "s"}]`)
	if got := target(); got != "env" {
		t.Fatalf("from the environment: %s", got)
	}
	if got := target("--webhooks", `[{"name": "flag", "url": "https://hooks.example.com/", "secret": "s"}]`); got != "flag" {
		t.Fatalf("from the flag: %s", got)
	}
}

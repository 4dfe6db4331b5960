package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/server"
)

// TestTrustedProxiesSetting: the trusted proxies come from --trusted-proxies, else WHARF_TRUSTED_PROXIES,
// else the config file's "trusted-proxies" (a string or an array); none by default.
func TestTrustedProxiesSetting(t *testing.T) {
	proxies := func(file string, args ...string) string {
		t.Helper()
		fs, _, s := serveFlags()
		if file != "" {
			args = append([]string{"--config", file}, args...)
		}
		if _, err := config.Parse(fs, args); err != nil {
			t.Fatal(err)
		}
		p, err := server.ParseTrustedProxies(s.trustedProxies)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(p)
	}
	if got := proxies(""); got != "[]" {
		t.Fatalf("by default: %s", got)
	}
	dir := t.TempDir()
	list, str := filepath.Join(dir, "list.json"), filepath.Join(dir, "string.json")
	os.WriteFile(list, []byte(`{"trusted-proxies": ["10.0.0.0/8", "fd00::/8"]}`), 0o600)
	os.WriteFile(str, []byte(`{"trusted-proxies": "10.0.0.0/8,192.0.2.1"}`), 0o600)
	if got := proxies(list); got != "[10.0.0.0/8 fd00::/8]" {
		t.Fatalf("from the config file's array: %s", got)
	}
	if got := proxies(str); got != "[10.0.0.0/8 192.0.2.1/32]" {
		t.Fatalf("from the config file's string: %s", got)
	}
	t.Setenv("WHARF_TRUSTED_PROXIES", "172.16.0.0/12")
	if got := proxies(list); got != "[172.16.0.0/12]" {
		t.Fatalf("from the environment: %s", got)
	}
	if got := proxies(list, "--trusted-proxies", "127.0.0.1/32,::1/128"); got != "[127.0.0.1/32 ::1/128]" {
		t.Fatalf("from the flag: %s", got)
	}
	if err := serve([]string{"--data-dir", t.TempDir(), "--trusted-proxies", "proxy.example.com"}); err == nil {
		t.Fatal("serve with a trusted proxy that is no address: started")
	}
}

package inventory_test

import (
	"testing"

	"github.com/wharf-dev/wharf/internal/inventory"
)

func TestEcosystem(t *testing.T) {
	for osRelease, want := range map[string]string{
		"ID=debian\nVERSION_ID=\"12\"\n":                         "Debian:12",
		"ID=debian\nPRETTY_NAME=\"Debian GNU/Linux trixie/sid\"": "Debian",
		"ID=ubuntu\nVERSION_ID=\"22.04\"\n":                      "Ubuntu:22.04:LTS",
		"ID=ubuntu\nVERSION_ID=\"23.10\"\n":                      "Ubuntu:23.10",
		"ID=alpine\nVERSION_ID=3.19.1\n":                         "Alpine:v3.19",
		"ID=\"rhel\"\nVERSION_ID=\"9.3\"\n":                      "Red Hat:enterprise_linux:9",
		"ID=\"rocky\"\nVERSION_ID=\"9.3\"\n":                     "Rocky Linux:9",
		"ID=\"almalinux\"\nVERSION_ID=\"8.9\"\n":                 "AlmaLinux:8",
		"# comment\nID='distroless'\n":                           "",
	} {
		if got := inventory.ParseOSRelease([]byte(osRelease)).Ecosystem(); got != want {
			t.Errorf("%q: %q, want %q", osRelease, got, want)
		}
	}
}

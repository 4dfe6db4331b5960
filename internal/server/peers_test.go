package server_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/server"
)

// TestPlainHTTPPeersAreWarnedOf: a replication peer reached by plain HTTP is named in a warning at start;
// https peers are not.
func TestPlainHTTPPeersAreWarnedOf(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	newApp(t, server.Options{Log: log, Registry: registry.Config{Peers: registry.PeerConfig{Endpoints: map[string]string{
		"us-west-2": "http://10.0.0.5:5000", "eu-west-1": "https://wharf-eu.example.com"}}}})
	warned := ""
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, "plain HTTP") {
			warned = line
		}
	}
	if !strings.Contains(warned, "level=WARN") || !strings.Contains(warned, "us-west-2=http://10.0.0.5:5000") || strings.Contains(warned, "eu-west-1") {
		t.Fatalf("warning: %q\nlog:\n%s", warned, out.String())
	}
}

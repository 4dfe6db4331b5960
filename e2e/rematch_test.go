package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store"
)

// TestContinuousScanRematch: under a registry scanning configuration with a CONTINUOUS_SCAN rule, an image
// scanned on push is matched again, from the inventory its scan stored, when wharf scan-db import adds an
// advisory that applies to it while the server runs: describe-image-scan-findings then shows the new
// finding, and vulnerabilitySourceUpdatedAt moves to the import.
func TestContinuousScanRematch(t *testing.T) {
	crane := tool(t, "crane")
	s := startServer(t, t.TempDir())
	work := t.TempDir()
	s.aws("ecr", "put-registry-scanning-configuration", "--scan-type", "ENHANCED", "--rules",
		`[{"scanFrequency":"CONTINUOUS_SCAN","repositoryFilters":[{"filter":"watch/*","filterType":"WILDCARD"}]}]`)
	s.aws("ecr", "create-repository", "--repository-name", "watch/debian")
	s.login()
	status := "Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\nVersion: 3.0.11-1~deb12u1\n"
	layer := writeLayer(t, work, "base", map[string][]byte{
		"etc/os-release":      []byte("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"),
		"var/lib/dpkg/status": []byte(status),
	})
	run(t, crane, "append", "--insecure", "-f", layer, "-t", s.addr+"/watch/debian:12")
	s.aws("ecr", "wait", "image-scan-complete", "--repository-name", "watch/debian", "--image-id", "imageTag=12")
	findings := func() string {
		out := s.aws("ecr", "describe-image-scan-findings", "--repository-name", "watch/debian", "--image-id", "imageTag=12", "--output", "text",
			"--query", "[imageScanStatus.status, imageScanFindings.vulnerabilitySourceUpdatedAt, imageScanFindings.enhancedFindings[].packageVulnerabilityDetails.vulnerabilityId]")
		return strings.Join(strings.Fields(out), " ")
	}
	before := findings()
	if !strings.HasPrefix(before, "COMPLETE") || strings.Contains(before, "CVE-") {
		t.Fatalf("first scan: %q", before)
	}

	advisory := writeOpensslAdvisory(t, work)
	if got := s.wharf("scan-db", "import", advisory); !strings.HasPrefix(got, "read 1 advisories, 1 new or updated") {
		t.Fatalf("scan-db import: %s", got)
	}
	var after string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(250 * time.Millisecond) {
		if after = findings(); strings.HasSuffix(after, "CVE-2099-4242") || time.Now().After(deadline) {
			break
		}
	}
	fields := strings.Fields(after)
	if len(fields) != 3 || fields[0] != "COMPLETE" || fields[2] != "CVE-2099-4242" || fields[1] == strings.Fields(before)[1] {
		t.Fatalf("after the import: %q (before: %q)", after, before)
	}
	counts := s.aws("ecr", "describe-images", "--repository-name", "watch/debian", "--image-ids", "imageTag=12", "--output", "text",
		"--query", "imageDetails[0].imageScanFindingsSummary.findingSeverityCounts.CRITICAL")
	if strings.TrimSpace(counts) != "1" {
		t.Fatalf("describe-images counts CRITICAL %q", counts)
	}
}

// writeOpensslAdvisory writes an advisory of Debian 12's openssl that libssl3 3.0.11-1~deb12u1 is affected by.
func writeOpensslAdvisory(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "DEBIAN-CVE-2099-4242.json")
	err := os.WriteFile(path, []byte(`{"id": "DEBIAN-CVE-2099-4242", "upstream": ["CVE-2099-4242"], "modified": "2026-11-01T00:00:00Z",
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
  "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.13-1~deb12u1"}]}]}]}`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRematchOnThreeNodes: three nodes on one PostgreSQL database; an import re-matches each image scanned
// continuously once, on one of them: one scan event per image for its scan, one for its re-matching.
func TestRematchOnThreeNodes(t *testing.T) {
	nodes, st, env := startCluster(t, 3)
	nodes[0].aws("ecr", "put-registry-scanning-configuration", "--scan-type", "ENHANCED", "--rules",
		`[{"scanFrequency":"CONTINUOUS_SCAN","repositoryFilters":[{"filter":"watch/*","filterType":"WILDCARD"}]}]`)
	nodes[0].aws("ecr", "create-repository", "--repository-name", "watch/app")
	push := filepath.Join(t.TempDir(), "push.py")
	os.WriteFile(push, []byte(boto3Push), 0o644)
	var tags []string
	for i := range 6 {
		tag := fmt.Sprintf("v%d", i)
		if out, err := runEnv(t, nodes[i%3].awsEnv(), nil, tool(t, "python3"), push, tag, "watch/app", "libssl3"); err != nil {
			t.Fatalf("push %s: %v\n%s", tag, err, out)
		}
		tags = append(tags, tag)
	}
	for i, tag := range tags {
		nodes[(i+1)%3].aws("ecr", "wait", "image-scan-complete", "--repository-name", "watch/app", "--image-id", "imageTag="+tag)
	}
	if got := nodes[1].wharf("scan-db", "import", writeOpensslAdvisory(t, t.TempDir())); !strings.HasPrefix(got, "read 1 advisories, 1 new or updated") {
		t.Fatalf("scan-db import: %s", got)
	}
	for i, tag := range tags {
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(250 * time.Millisecond) {
			got := nodes[i%3].aws("ecr", "describe-images", "--repository-name", "watch/app", "--image-ids", "imageTag="+tag, "--output", "text",
				"--query", "imageDetails[0].imageScanFindingsSummary.findingSeverityCounts.CRITICAL")
			if strings.TrimSpace(got) == "1" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not re-matched: %q", tag, got)
			}
		}
	}
	stores := openShared(t, st, env)
	events := map[string][]string{}
	if err := stores.Meta.View(context.Background(), func(tx store.Tx) error {
		evs, err := tx.EventsAfter(store.EventPosition{}, 10000)
		for _, se := range evs {
			if se.Type != registry.EventImageScanned {
				continue
			}
			ev, err := registry.DecodeEvent(se)
			if err != nil {
				return err
			}
			events[ev.Digest.String()] = append(events[ev.Digest.String()], fmt.Sprintf("%s %v", ev.ScanStatus, ev.SeverityCounts))
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(events) != len(tags) {
		t.Fatalf("scan events for %d images, want %d: %v", len(events), len(tags), events)
	}
	for d, evs := range events {
		if strings.Join(evs, ", ") != "COMPLETE map[], COMPLETE map[CRITICAL:1]" {
			t.Errorf("image %s: events %q", d, evs)
		}
	}
}

package e2e

import (
	"archive/tar"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestScanFindsVulnerabilities pushes with crane a Debian 12 image whose dpkg status is this machine's,
// imports with wharf scan-db an OSV advisory written for the source package and version of its libc6, and
// scans with the aws CLI: the finding names the CVE, its severity comes from the advisory's CVSS vector,
// and DescribeImages counts it. An image whose later layer deletes the dpkg status finds nothing; an image
// with no distribution and an OCI artifact are UNSUPPORTED_IMAGE.
func TestScanFindsVulnerabilities(t *testing.T) {
	status, err := os.ReadFile("/var/lib/dpkg/status")
	if err != nil {
		t.Fatalf("this machine's dpkg status: %v", err)
	}
	out, err := exec.Command("dpkg-query", "-W", "-f", "${source:Package} ${source:Version}", "libc6").Output()
	if err != nil {
		t.Fatalf("dpkg-query: %v", err)
	}
	source, version, _ := strings.Cut(string(out), " ")
	binary, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", "libc6").Output()
	if err != nil {
		t.Fatalf("dpkg-query: %v", err)
	}

	crane, oras := tool(t, "crane"), tool(t, "oras")
	s := startServer(t, t.TempDir())
	work := t.TempDir()
	advisory := filepath.Join(work, "DEBIAN-CVE-2099-31337.json")
	os.WriteFile(advisory, []byte(fmt.Sprintf(`{"id": "DEBIAN-CVE-2099-31337", "upstream": ["CVE-2099-31337"],
  "modified": "2026-11-01T00:00:00Z", "details": "A flaw in %[1]s.",
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
  "affected": [{"package": {"ecosystem": "Debian:12", "name": %[1]q},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": %[2]q}]}]}],
  "references": [{"type": "WEB", "url": "https://security-tracker.debian.org/tracker/CVE-2099-31337"}]}`,
		source, version+"+wharf1")), 0o644)
	if got := s.wharf("scan-db", "import", advisory); !strings.HasPrefix(got, "read 1 advisories, 1 new or updated") {
		t.Fatalf("scan-db import: %s", got)
	}

	s.aws("ecr", "create-repository", "--repository-name", "scan/debian")
	s.login()
	ref := s.addr + "/scan/debian"
	osRelease := []byte("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n")
	base := writeLayer(t, work, "base", map[string][]byte{"etc/os-release": osRelease, "var/lib/dpkg/status": status})
	run(t, crane, "append", "--insecure", "-f", base, "-t", ref+":12")

	// On demand.
	s.aws("ecr", "start-image-scan", "--repository-name", "scan/debian", "--image-id", "imageTag=12")
	s.aws("ecr", "wait", "image-scan-complete", "--repository-name", "scan/debian", "--image-id", "imageTag=12")
	var res struct {
		ImageScanStatus   struct{ Status, Description string }
		ImageScanFindings struct {
			VulnerabilitySourceUpdatedAt any
			FindingSeverityCounts        map[string]int
			Findings                     []struct {
				Name, URI, Severity string
				Attributes          []struct{ Key, Value string }
			}
		}
	}
	jsonOf(t, s.aws("ecr", "describe-image-scan-findings", "--repository-name", "scan/debian", "--image-id", "imageTag=12"), &res)
	findings := res.ImageScanFindings.Findings
	if res.ImageScanStatus.Status != "COMPLETE" || res.ImageScanFindings.VulnerabilitySourceUpdatedAt == nil ||
		len(findings) == 0 || res.ImageScanFindings.FindingSeverityCounts["HIGH"] != len(findings) {
		t.Fatalf("describe-image-scan-findings: %+v", res)
	}
	var packages []string
	for _, f := range findings {
		attrs := map[string]string{}
		for _, a := range f.Attributes {
			attrs[a.Key] = a.Value
		}
		if f.Name != "CVE-2099-31337" || f.Severity != "HIGH" || !strings.Contains(f.URI, "CVE-2099-31337") ||
			attrs["CVSS3_VECTOR"] != "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N" || attrs["CVSS3_SCORE"] != "7.5" {
			t.Errorf("finding: %+v", f)
		}
		packages = append(packages, attrs["package_name"]+" "+attrs["package_version"])
	}
	if !slices.Contains(packages, "libc6 "+string(binary)) {
		t.Fatalf("no finding for libc6 %s: %q", binary, packages)
	}
	var summary struct {
		ImageDetails []struct {
			ImageScanStatus          struct{ Status string }
			ImageScanFindingsSummary struct{ FindingSeverityCounts map[string]int }
		}
	}
	jsonOf(t, s.aws("ecr", "describe-images", "--repository-name", "scan/debian", "--image-ids", "imageTag=12"), &summary)
	if d := summary.ImageDetails; len(d) != 1 || d[0].ImageScanStatus.Status != "COMPLETE" ||
		d[0].ImageScanFindingsSummary.FindingSeverityCounts["HIGH"] != len(findings) {
		t.Fatalf("describe-images: %+v", summary)
	}

	// On push: the same image with its dpkg status deleted by a later layer's whiteout still has a
	// distribution (Debian 12), and no packages: COMPLETE, no findings.
	s.aws("ecr", "put-image-scanning-configuration", "--repository-name", "scan/debian", "--image-scanning-configuration", "scanOnPush=true")
	whiteout := writeLayer(t, work, "whiteout", map[string][]byte{"var/lib/dpkg/.wh.status": nil})
	run(t, crane, "append", "--insecure", "-b", ref+":12", "-f", whiteout, "-t", ref+":slim")
	s.aws("ecr", "wait", "image-scan-complete", "--repository-name", "scan/debian", "--image-id", "imageTag=slim")
	res.ImageScanFindings.Findings = nil
	jsonOf(t, s.aws("ecr", "describe-image-scan-findings", "--repository-name", "scan/debian", "--image-id", "imageTag=slim"), &res)
	if res.ImageScanStatus.Status != "COMPLETE" || len(res.ImageScanFindings.Findings) != 0 {
		t.Fatalf("after the whiteout: %+v", res)
	}

	// No distribution, no package database; an OCI artifact.
	run(t, crane, "append", "--insecure", "-f", writeLayer(t, work, "plain", map[string][]byte{"srv/hello.txt": []byte("hello\n")}), "-t", ref+":plain")
	os.WriteFile(filepath.Join(work, "sbom.json"), []byte(`{"packages":[]}`), 0o644)
	if out, err := runEnv(t, nil, nil, "sh", "-c", "cd "+work+" && "+oras+" push --plain-http --artifact-type application/vnd.example.sbom "+
		ref+":sbom sbom.json:application/json"); err != nil {
		t.Fatalf("oras push: %v\n%s", err, out)
	}
	for tag, want := range map[string]string{
		"plain": "UNSUPPORTED_IMAGE UnsupportedImageError: The operating system and/or package manager are not supported.",
		"sbom":  "UNSUPPORTED_IMAGE UnsupportedImageError: The image type is not supported for scanning.",
	} {
		if got := scanEnded(t, s, "scan/debian", tag); got != want {
			t.Errorf("%s: %q, want %q", tag, got, want)
		}
	}
}

// scanEnded waits for the scan of an image to leave IN_PROGRESS (the aws CLI's waiter waits only for
// COMPLETE or FAILED) and returns its status and description.
func scanEnded(t *testing.T, s *wharfProc, repo, tag string) string {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		got := s.aws("ecr", "describe-image-scan-findings", "--repository-name", repo, "--image-id", "imageTag="+tag,
			"--output", "text", "--query", "[imageScanStatus.status, imageScanStatus.description]")
		got = strings.Join(strings.Fields(got), " ")
		if !strings.HasPrefix(got, "IN_PROGRESS") || time.Now().After(deadline) {
			return got
		}
	}
}

// writeLayer writes an uncompressed layer holding files (parent directories implied) and returns its path.
func writeLayer(t *testing.T, dir, name string, files map[string][]byte) string {
	t.Helper()
	path := filepath.Join(dir, name+".tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(files[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestConformance runs the OCI distribution-spec conformance suite with every API and data set enabled.
func TestConformance(t *testing.T) {
	runConformance(t, startServer(t, t.TempDir()), true)
}

// runConformance runs the conformance suite against a server and requires every check to pass.
// blobDigestHeader adds the optional check that blob GETs carry Docker-Content-Digest: not for servers that
// redirect blob GETs to an object store, whose answer the client ends with.
func runConformance(t *testing.T, s *wharfProc, blobDigestHeader bool) {
	t.Helper()
	bin := tool(t, "oci-conformance.test")
	s.wharf("repo", "create", "conformance/repo1")
	s.wharf("repo", "create", "conformance/repo2")
	results := t.TempDir()
	env := []string{
		"OCI_REGISTRY=" + s.addr, "OCI_TLS=disabled", "OCI_RESULTS_DIR=" + results,
		"OCI_USERNAME=AWS", "OCI_PASSWORD=" + s.password(),
		"OCI_REPO1=conformance/repo1", "OCI_REPO2=conformance/repo2",
		"OCI_API_BLOBS_UPLOAD_CANCEL=true", "OCI_API_MANIFESTS_DIGEST_HEADER=true",
		fmt.Sprintf("OCI_API_BLOBS_DIGEST_HEADER=%v", blobDigestHeader),
	}
	out, err := runEnv(t, env, nil, bin)
	if err != nil {
		t.Fatalf("conformance suite failed: %v\n%s", err, out)
	}
	if bad := regexp.MustCompile(`(?m)^.*: +(Fail|Skip|Error)\b.*$`).FindAllString(out, -1); len(bad) > 0 || !strings.Contains(out, "OCI Conformance Test: Pass") {
		t.Fatalf("conformance: %d failing or skipped checks:\n%s\n\nfull output:\n%s", len(bad), strings.Join(bad, "\n"), out)
	}
	passes := strings.Count(out, ": Pass")
	if passes < 100 {
		t.Fatalf("only %d passing checks; the suite did not run fully:\n%s", passes, out)
	}
	t.Logf("conformance: %d checks passed, none failed", passes)
}

// TestCraneRoundTrip pushes a multi-layer image, a multi-platform index and copies with crane, and checks
// that every pulled byte matches its digest and the pushed content.
func TestCraneRoundTrip(t *testing.T) {
	crane := tool(t, "crane")
	s := startServer(t, t.TempDir())
	s.wharf("repo", "create", "team-a/web-app")
	s.login()
	work := t.TempDir()
	big := make([]byte, 3<<20)
	rand.Read(big)
	l1 := writeTar(t, work, "one.bin", big)
	l2 := writeTar(t, work, "two.txt", []byte("hello from the second layer\n"))
	ref := s.addr + "/team-a/web-app"

	run(t, crane, "append", "--insecure", "--oci-empty-base", "-f", l1, "-f", l2, "-t", ref+":1.0")
	run(t, crane, "mutate", "--insecure", ref+":1.0", "--set-platform", "linux/arm64", "-t", ref+":1.0-arm64")
	run(t, crane, "index", "append", "--insecure", "-m", ref+":1.0", "-m", ref+":1.0-arm64", "-t", ref+":multi")

	var idx struct {
		MediaType string
		Manifests []struct{ Digest string }
	}
	json.Unmarshal([]byte(run(t, crane, "manifest", "--insecure", ref+":multi")), &idx)
	if len(idx.Manifests) != 2 {
		t.Fatalf("index has %d manifests, want 2", len(idx.Manifests))
	}

	// Pull as an OCI layout: every blob must hash to its name; the layer must hold our file.
	layout := filepath.Join(work, "layout")
	run(t, crane, "pull", "--insecure", "--format", "oci", ref+":1.0", layout)
	blobs, _ := filepath.Glob(filepath.Join(layout, "blobs", "sha256", "*"))
	if len(blobs) < 4 { // manifest, config, two layers
		t.Fatalf("pulled %d blobs, want at least 4", len(blobs))
	}
	for _, b := range blobs {
		data, _ := os.ReadFile(b)
		if sha256Hex(data) != filepath.Base(b) {
			t.Fatalf("pulled blob %s does not match its digest", b)
		}
	}
	export := run(t, crane, "export", "--insecure", ref+":1.0", "-")
	if !strings.Contains(export, "hello from the second layer") || !bytes.Contains([]byte(export), big[:4096]) {
		t.Fatal("exported filesystem does not hold the pushed files")
	}

	// Copy to another tag: same digest. Through a tarball and back: same files.
	run(t, crane, "copy", "--insecure", ref+":1.0", ref+":copy")
	d1 := strings.TrimSpace(run(t, crane, "digest", "--insecure", ref+":1.0"))
	d2 := strings.TrimSpace(run(t, crane, "digest", "--insecure", ref+":copy"))
	if d1 != d2 {
		t.Fatalf("digest changed through copy: %s vs %s", d1, d2)
	}
	tarball := filepath.Join(work, "img.tar")
	run(t, crane, "pull", "--insecure", ref+":1.0", tarball)
	run(t, crane, "push", "--insecure", tarball, ref+":from-tar")
	if !strings.Contains(run(t, crane, "export", "--insecure", ref+":from-tar", "-"), "hello from the second layer") {
		t.Fatal("image pushed from a tarball lost its files")
	}
	tags := run(t, crane, "ls", "--insecure", ref)
	for _, want := range []string{"1.0", "1.0-arm64", "copy", "multi"} {
		if !strings.Contains(tags, want+"\n") {
			t.Fatalf("crane ls lacks %s:\n%s", want, tags)
		}
	}
	// Deleting the tag of the index keeps its children pullable.
	run(t, crane, "delete", "--insecure", ref+"@"+strings.TrimSpace(run(t, crane, "digest", "--insecure", ref+":multi")))
	run(t, crane, "manifest", "--insecure", ref+"@"+idx.Manifests[1].Digest)
}

// TestOrasArtifacts pushes an artifact, attaches a referrer to it, discovers and pulls both.
func TestOrasArtifacts(t *testing.T) {
	oras := tool(t, "oras")
	s := startServer(t, t.TempDir())
	s.wharf("repo", "create", "team-a/artifacts")
	s.login()
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "config.yaml"), []byte("key: value\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "sbom.json"), []byte(`{"packages":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := s.addr + "/team-a/artifacts:v1"
	inDir := func(args ...string) string {
		cmd := append([]string{}, args...)
		out, err := runEnv(t, nil, nil, "sh", "-c", "cd "+work+" && "+oras+" "+strings.Join(cmd, " "))
		if err != nil {
			t.Fatalf("oras %v: %v\n%s", args, err, out)
		}
		return out
	}
	inDir("push", "--plain-http", "--artifact-type", "application/vnd.example.config", ref, "config.yaml:application/yaml")
	inDir("attach", "--plain-http", "--artifact-type", "application/vnd.example.sbom", ref, "sbom.json:application/json")
	disc := inDir("discover", "--plain-http", "--format", "json", ref)
	if !strings.Contains(disc, "application/vnd.example.sbom") {
		t.Fatalf("discover did not find the attached SBOM:\n%s", disc)
	}
	out := filepath.Join(work, "out")
	run(t, oras, "pull", "--plain-http", "-o", out, ref)
	got, err := os.ReadFile(filepath.Join(out, "config.yaml"))
	if err != nil || string(got) != "key: value\n" {
		t.Fatalf("pulled artifact: %q, %v", got, err)
	}
	var d struct {
		Manifests []struct{ Digest string } `json:"manifests"`
		Referrers []struct{ Digest string } `json:"referrers"`
	}
	json.Unmarshal([]byte(disc), &d)
	refs := append(d.Manifests, d.Referrers...)
	if len(refs) != 1 {
		t.Fatalf("discover listed %d referrers, want 1:\n%s", len(refs), disc)
	}
	out2 := filepath.Join(work, "out2")
	run(t, oras, "pull", "--plain-http", "-o", out2, s.addr+"/team-a/artifacts@"+refs[0].Digest)
	if got, _ := os.ReadFile(filepath.Join(out2, "sbom.json")); string(got) != `{"packages":[]}` {
		t.Fatalf("pulled referrer: %q", got)
	}
}

// TestSkopeoCopy copies an image out of Wharf into an OCI archive, back in under another tag, and into a
// directory, checking the bytes at each step.
func TestSkopeoCopy(t *testing.T) {
	skopeo := tool(t, "skopeo")
	crane := tool(t, "crane")
	s := startServer(t, t.TempDir())
	s.wharf("repo", "create", "team-a/web-app")
	s.login()
	work := t.TempDir()
	payload := make([]byte, 1<<20)
	rand.Read(payload)
	ref := s.addr + "/team-a/web-app"
	run(t, crane, "append", "--insecure", "-f", writeTar(t, work, "data.bin", payload), "-t", ref+":1.0")

	archive := filepath.Join(work, "img.tar")
	run(t, skopeo, "copy", "--src-tls-verify=false", "docker://"+ref+":1.0", "oci-archive:"+archive)
	run(t, skopeo, "copy", "--dest-tls-verify=false", "oci-archive:"+archive, "docker://"+ref+":1.1")
	dir := filepath.Join(work, "dir")
	run(t, skopeo, "copy", "--src-tls-verify=false", "docker://"+ref+":1.1", "dir:"+dir)
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	checked := 0
	for _, f := range files {
		name := filepath.Base(f)
		if len(name) != 64 {
			continue
		}
		data, _ := os.ReadFile(f)
		if sha256Hex(data) != name {
			t.Fatalf("skopeo pulled %s with other content", name)
		}
		checked++
	}
	if checked < 2 {
		t.Fatalf("checked %d blobs, want config and layer", checked)
	}
	inspect := run(t, skopeo, "inspect", "--tls-verify=false", "docker://"+ref+":1.1")
	if !strings.Contains(inspect, `"1.0"`) || !strings.Contains(inspect, `"1.1"`) {
		t.Fatalf("skopeo inspect does not list both tags:\n%s", inspect)
	}
}

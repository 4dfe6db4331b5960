package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	mtSchema1    = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	mtSchema2    = "application/vnd.docker.distribution.manifest.v2+json"
	mtOCI        = "application/vnd.oci.image.manifest.v1+json"
	acceptAllOld = mtSchema2 + ", " + mtSchema1 + ", " + mtOCI // a client that takes every format
)

// TestSkopeoManifestFormats pushes one image as Docker schema 1 (signed by skopeo), schema 2 and OCI with
// skopeo's --format, and checks what ECR's guide says: each is stored in the format pushed under the
// digest clients compute; skopeo copies each out in every format; and a pull by tag from a client that
// understands one format only gets the guide's conversion, named by the digest of what is served.
func TestSkopeoManifestFormats(t *testing.T) {
	skopeo := tool(t, "skopeo")
	crane := tool(t, "crane")
	s := startServer(t, t.TempDir())
	s.wharf("repo", "create", "legacy/app")
	pw := s.login()
	work := t.TempDir()
	ref := s.addr + "/legacy/app"
	run(t, crane, "append", "--insecure", "-f", writeTar(t, work, "hello.txt", []byte("hello, schema 1")), "-t", ref+":src")

	formats := map[string]string{"v2s1": mtSchema1, "v2s2": mtSchema2, "oci": mtOCI}
	digests := map[string]string{}
	for f, mt := range formats {
		run(t, skopeo, "copy", "--format", f, "--src-tls-verify=false", "--dest-tls-verify=false", "docker://"+ref+":src", "docker://"+ref+":"+f)
		// What ECR reports, what the registry serves, and the digest skopeo computes all agree.
		var out struct {
			ImageDetails []struct {
				ImageDigest            string `json:"imageDigest"`
				ImageManifestMediaType string `json:"imageManifestMediaType"`
			} `json:"imageDetails"`
		}
		json.Unmarshal([]byte(s.aws("ecr", "describe-images", "--repository-name", "legacy/app", "--image-ids", "imageTag="+f)), &out)
		if len(out.ImageDetails) != 1 || out.ImageDetails[0].ImageManifestMediaType != mt {
			t.Fatalf("%s: describe-images %+v, want %s", f, out, mt)
		}
		d := out.ImageDetails[0].ImageDigest
		digests[f] = d
		skopeoDigest := strings.TrimSpace(run(t, skopeo, "inspect", "--tls-verify=false", "--format", "{{.Digest}}", "docker://"+ref+":"+f))
		res, body := send(t, "GET", "http://"+s.addr+"/v2/legacy/app/manifests/"+f, pw, nil, "Accept", acceptAllOld)
		if skopeoDigest != d || res.Header.Get("Docker-Content-Digest") != d || res.Header.Get("Content-Type") != mt {
			t.Fatalf("%s: ECR says %s, skopeo %s, the registry %s %s", f, d, skopeoDigest, res.Header.Get("Content-Type"), res.Header.Get("Docker-Content-Digest"))
		}
		// A signed manifest's digest is its payload's, not its bytes'.
		if signed := f == "v2s1"; signed == ("sha256:"+sha256Hex(body) == d) || signed != strings.Contains(string(body), `"signatures"`) {
			t.Fatalf("%s: digest %s of a manifest of %d bytes (signed: %v)", f, d, len(body), signed)
		}
	}

	// Out again in each format: skopeo converts on its side and gets what it asked for.
	for f := range formats {
		for to, mt := range formats {
			dir := filepath.Join(work, f+"-"+to)
			run(t, skopeo, "copy", "--format", to, "--src-tls-verify=false", "docker://"+ref+":"+f, "dir:"+dir)
			got := strings.TrimSpace(run(t, skopeo, "inspect", "--raw", "dir:"+dir))
			if manifestType(t, []byte(got)) != mt {
				t.Fatalf("copy of %s as %s: got %s", f, to, manifestType(t, []byte(got)))
			}
		}
	}

	// Clients that understand one format, pulling by tag (the guide's table).
	host := "http://" + s.addr
	cases := []struct{ tag, accept, want string }{
		{"v2s1", mtSchema1, mtSchema1},
		{"v2s2", mtSchema1, mtSchema1},
		{"oci", mtSchema1, mtSchema1},
		{"v2s2", "", mtSchema1}, // Docker 1.9 and older send no Accept header
		{"v2s1", mtSchema2, mtSchema1},
		{"v2s2", mtSchema2, mtSchema2},
		{"oci", mtSchema2, mtSchema2},
		{"v2s1", mtOCI, mtSchema1}, // no translation available: the stored manifest
		{"v2s2", mtOCI, mtOCI},
		{"oci", mtOCI, mtOCI},
	}
	for i, c := range cases {
		var hdr []string
		if c.accept != "" {
			hdr = []string{"Accept", c.accept}
		}
		res, body := send(t, "GET", host+"/v2/legacy/app/manifests/"+c.tag, pw, nil, hdr...)
		got, served := res.Header.Get("Content-Type"), res.Header.Get("Docker-Content-Digest")
		if res.StatusCode != 200 || got != c.want || manifestType(t, body) != c.want {
			t.Fatalf("%s for %q: %d %s\n%s", c.tag, c.accept, res.StatusCode, got, body)
		}
		converted := formats[c.tag] != c.want
		if converted == (served == digests[c.tag]) {
			t.Fatalf("%s for %q: Docker-Content-Digest %s (stored %s)", c.tag, c.accept, served, digests[c.tag])
		}
		// skopeo reads the manifest served and computes the digest answered (for a signed manifest,
		// from its JWS payload), and can copy the image it describes back in.
		dir := filepath.Join(work, fmt.Sprintf("served-%d", i))
		writeDir(t, dir, body, filepath.Join(work, c.tag+"-*"))
		if d := strings.TrimSpace(run(t, skopeo, "inspect", "--format", "{{.Digest}}", "dir:"+dir)); d != served {
			t.Fatalf("%s for %q: skopeo computes %s for the manifest served as %s", c.tag, c.accept, d, served)
		}
		// By digest there is no conversion: the stored manifest, whatever the client accepts.
		res, _ = send(t, "GET", host+"/v2/legacy/app/manifests/"+digests[c.tag], pw, nil, hdr...)
		if res.Header.Get("Docker-Content-Digest") != digests[c.tag] || res.Header.Get("Content-Type") != formats[c.tag] {
			t.Fatalf("%s by digest for %q: %s %s", c.tag, c.accept, res.Header.Get("Content-Type"), res.Header.Get("Docker-Content-Digest"))
		}
	}
	// The aws CLI: batch-get-image converts for --accepted-media-types, and put-image retags what it got.
	var got struct {
		Images []struct {
			ImageID                struct{ ImageDigest string } `json:"imageId"`
			ImageManifest          string                       `json:"imageManifest"`
			ImageManifestMediaType string                       `json:"imageManifestMediaType"`
		} `json:"images"`
	}
	json.Unmarshal([]byte(s.aws("ecr", "batch-get-image", "--repository-name", "legacy/app", "--image-ids", "imageTag=oci",
		"--accepted-media-types", "application/vnd.docker.distribution.manifest.v1+json")), &got)
	if len(got.Images) != 1 || got.Images[0].ImageManifestMediaType != mtSchema1 || manifestType(t, []byte(got.Images[0].ImageManifest)) != mtSchema1 {
		t.Fatalf("batch-get-image of the OCI image for schema 1: %+v", got)
	}
	put := s.aws("ecr", "put-image", "--repository-name", "legacy/app", "--image-tag", "retagged",
		"--image-manifest", got.Images[0].ImageManifest, "--image-manifest-media-type", mtSchema1)
	if !strings.Contains(put, got.Images[0].ImageID.ImageDigest) {
		t.Fatalf("put-image of the converted manifest: %s, want digest %s", put, got.Images[0].ImageID.ImageDigest)
	}

	// A schema 1 manifest converted by Wharf, pushed back as an old client would: as is (the same digest),
	// and by skopeo (which renames it for the destination and signs it again).
	served, body := send(t, "GET", host+"/v2/legacy/app/manifests/v2s2", pw, nil)
	res, _ := send(t, "PUT", host+"/v2/legacy/app/manifests/back", pw, body, "Content-Type", mtSchema1)
	if res.StatusCode != 201 || res.Header.Get("Docker-Content-Digest") != served.Header.Get("Docker-Content-Digest") {
		t.Fatalf("converted manifest pushed back: %d %s, served as %s", res.StatusCode, res.Header.Get("Docker-Content-Digest"), served.Header.Get("Docker-Content-Digest"))
	}
	dir := filepath.Join(work, "back")
	writeDir(t, dir, body, filepath.Join(work, "v2s2-*"))
	run(t, skopeo, "copy", "--dest-tls-verify=false", "dir:"+dir, "docker://"+ref+":back2")
	res, _ = send(t, "HEAD", host+"/v2/legacy/app/manifests/back2", pw, nil, "Accept", mtSchema1)
	if d := strings.TrimSpace(run(t, skopeo, "inspect", "--tls-verify=false", "--format", "{{.Digest}}", "docker://"+ref+":back2")); res.Header.Get("Content-Type") != mtSchema1 || d != res.Header.Get("Docker-Content-Digest") {
		t.Fatalf("pushed back by skopeo: %s %s, skopeo computes %s", res.Header.Get("Content-Type"), res.Header.Get("Docker-Content-Digest"), d)
	}
}

// manifestType says a manifest's format from its content.
func manifestType(t *testing.T, body []byte) string {
	t.Helper()
	var m struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     string          `json:"mediaType"`
		Signatures    json.RawMessage `json:"signatures"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("manifest: %v\n%s", err, body)
	}
	if m.SchemaVersion == 1 && m.Signatures != nil {
		return mtSchema1
	}
	return m.MediaType
}

// writeDir makes a skopeo dir: image of a manifest, with the blobs of the dir: images blobsFrom matches.
func writeDir(t *testing.T, dir string, manifest []byte, blobsFrom string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(blobsFrom, "*"))
	if len(files) == 0 {
		t.Fatalf("no blobs in %s", blobsFrom)
	}
	for _, f := range files {
		if name := filepath.Base(f); len(name) == 64 {
			data, _ := os.ReadFile(f)
			os.WriteFile(filepath.Join(dir, name), data, 0o644)
		}
	}
	os.WriteFile(filepath.Join(dir, "version"), []byte("Directory Transport Version: 1.1\n"), 0o644)
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), manifest, 0o644); err != nil {
		t.Fatal(err)
	}
}

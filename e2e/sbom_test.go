package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ecrCall calls an operation of the ECR API with curl's own SigV4 signing, as one calls Wharf's extensions
// (the aws CLI knows only ECR's operations), and returns the answer's status and body.
func (s *wharfProc) ecrCall(keyID, secret, op string, in any) (int, map[string]any) {
	s.t.Helper()
	body, _ := json.Marshal(in)
	out, err := runEnv(s.t, nil, strings.NewReader(string(body)), tool(s.t, "curl"), "-sS", "-w", "\n%{http_code}",
		"--aws-sigv4", "aws:amz:us-east-1:ecr", "--user", keyID+":"+secret,
		"-H", "Content-Type: application/x-amz-json-1.1", "-H", "X-Amz-Target: AmazonEC2ContainerRegistry_V20150921."+op,
		"--data-binary", "@-", "http://"+s.addr+"/")
	if err != nil {
		s.t.Fatalf("curl %s: %v\n%s", op, err, out)
	}
	i := strings.LastIndex(out, "\n")
	var status int
	fmt.Sscan(out[i+1:], &status)
	var m map[string]any
	if err := json.Unmarshal([]byte(out[:i]), &m); err != nil {
		s.t.Fatalf("%s: answer is not JSON: %v\n%s", op, err, out)
	}
	return status, m
}

// keyOf returns an actor's access key.
func (a *actor) key() (string, string) {
	var id, secret string
	for _, e := range a.env {
		if v, ok := strings.CutPrefix(e, "AWS_ACCESS_KEY_ID="); ok {
			id = v
		}
		if v, ok := strings.CutPrefix(e, "AWS_SECRET_ACCESS_KEY="); ok {
			secret = v
		}
	}
	return id, secret
}

// TestImageSBOM pushes with crane a Debian 12 image whose dpkg status is this machine's, scans it with the
// aws CLI, and gets its SBOM in both formats with wharf sbom get and with a signed GetImageSbom call: the
// same bytes, listing this machine's libc6. It attaches the SBOM (AttachImageSbom, and wharf sbom attach:
// the same artifact), finds it with the registry's referrers API and oras discover, and pulls the
// artifact's layer: the document. A user without ecr:DescribeImageScanFindings is denied both operations;
// an image never scanned has no SBOM, and says so.
func TestImageSBOM(t *testing.T) {
	status, err := os.ReadFile("/var/lib/dpkg/status")
	if err != nil {
		t.Fatalf("this machine's dpkg status: %v", err)
	}
	libc, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", "libc6").Output()
	if err != nil {
		t.Fatalf("dpkg-query: %v", err)
	}
	crane, oras := tool(t, "crane"), tool(t, "oras")
	s := startServer(t, t.TempDir())
	work := t.TempDir()
	s.aws("ecr", "create-repository", "--repository-name", "sbom/debian")
	pw := s.login()
	ref := s.addr + "/sbom/debian"
	osRelease := []byte("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n")
	run(t, crane, "append", "--insecure", "-f", writeLayer(t, work, "base", map[string][]byte{"etc/os-release": osRelease, "var/lib/dpkg/status": status}), "-t", ref+":12")
	digest := strings.TrimSpace(run(t, crane, "digest", "--insecure", ref+":12"))
	image := map[string]any{"repositoryName": "sbom/debian", "imageId": map[string]string{"imageTag": "12"}}
	withFormat := func(f string) map[string]any {
		return map[string]any{"repositoryName": "sbom/debian", "imageId": map[string]string{"imageTag": "12"}, "format": f}
	}
	sbomCLI := func(args ...string) (string, error) {
		return runEnv(t, nil, nil, wharfBin, append(append([]string{"sbom"}, args...), "--data-dir", s.dir, "--repository", "sbom/debian")...)
	}

	// Never scanned: no SBOM, and both ways say why.
	code, body := s.ecrCall(adminKeyID, adminSecret, "GetImageSbom", image)
	if code != 400 || body["__type"] != "ScanNotFoundException" || body["message"] !=
		"Image scan does not exist for the image with '{imageDigest:'null', imageTag:'12'}' in the repository with name 'sbom/debian' in the registry with id '000000000000'" {
		t.Fatalf("GetImageSbom before a scan: %d %v", code, body)
	}
	if out, err := sbomCLI("get", "--image-tag", "12"); err == nil || !strings.Contains(out, "wharf: Image scan does not exist for the image 12 in repository sbom/debian") {
		t.Fatalf("wharf sbom get before a scan: %v\n%s", err, out)
	}

	s.aws("ecr", "start-image-scan", "--repository-name", "sbom/debian", "--image-id", "imageTag=12")
	s.aws("ecr", "wait", "image-scan-complete", "--repository-name", "sbom/debian", "--image-id", "imageTag=12")

	docs := map[string]string{}
	for _, f := range []string{"SPDX", "CYCLONEDX"} {
		cli, err := sbomCLI("get", "--image-digest", digest, "--format", strings.ToLower(f))
		if err != nil {
			t.Fatalf("wharf sbom get --format %s: %v\n%s", f, err, cli)
		}
		code, body := s.ecrCall(adminKeyID, adminSecret, "GetImageSbom", withFormat(f))
		if code != 200 || body["format"] != f || body["imageId"].(map[string]any)["imageDigest"] != digest {
			t.Fatalf("GetImageSbom %s: %d %v", f, code, body)
		}
		if body["sbom"] != cli {
			t.Fatalf("%s: the API's document and the command's differ:\n%.500s\n---\n%.500s", f, body["sbom"], cli)
		}
		docs[f] = cli
	}
	// The documents list this machine's libc6 by its package URL, and the distribution.
	var spdx struct {
		SPDXVersion string
		Packages    []struct {
			Name, VersionInfo, PrimaryPackagePurpose string
			ExternalRefs                             []struct{ ReferenceType, ReferenceLocator string }
		}
	}
	jsonOf(t, docs["SPDX"], &spdx)
	found, distro := false, false
	for _, p := range spdx.Packages {
		if p.Name == "libc6" && p.VersionInfo == string(libc) && len(p.ExternalRefs) == 1 &&
			strings.HasPrefix(p.ExternalRefs[0].ReferenceLocator, "pkg:deb/debian/libc6@") {
			found = true
		}
		distro = distro || p.PrimaryPackagePurpose == "OPERATING-SYSTEM" && p.Name == "debian" && p.VersionInfo == "12"
	}
	if spdx.SPDXVersion != "SPDX-2.3" || !found || !distro || len(spdx.Packages) < 20 {
		t.Fatalf("SPDX document: libc6 %s found %v, distribution %v, %d packages", libc, found, distro, len(spdx.Packages))
	}
	var cdx struct {
		BOMFormat, SpecVersion, SerialNumber string
		Components                           []struct{ Type, Name, Version, PURL string }
	}
	jsonOf(t, docs["CYCLONEDX"], &cdx)
	found = false
	for _, c := range cdx.Components {
		found = found || c.Name == "libc6" && c.Version == string(libc) && strings.HasPrefix(c.PURL, "pkg:deb/debian/libc6@")
	}
	if cdx.BOMFormat != "CycloneDX" || cdx.SpecVersion != "1.5" || !strings.HasPrefix(cdx.SerialNumber, "urn:uuid:") || !found {
		t.Fatalf("CycloneDX document: %s %s %s, libc6 found %v", cdx.BOMFormat, cdx.SpecVersion, cdx.SerialNumber, found)
	}

	// Attach: by the API, again (the same artifact), and by the command (the same artifact again).
	code, body = s.ecrCall(adminKeyID, adminSecret, "AttachImageSbom", withFormat("SPDX"))
	if code != 200 || body["artifactType"] != "application/spdx+json" {
		t.Fatalf("AttachImageSbom: %d %v", code, body)
	}
	referrer := body["imageId"].(map[string]any)["imageDigest"].(string)
	if _, again := s.ecrCall(adminKeyID, adminSecret, "AttachImageSbom", withFormat("SPDX")); again["imageId"].(map[string]any)["imageDigest"] != referrer {
		t.Fatalf("attaching again: %v, first %s", again, referrer)
	}
	if out, err := sbomCLI("attach", "--image-tag", "12"); err != nil || strings.TrimSpace(out) != referrer {
		t.Fatalf("wharf sbom attach: %v\n%s (want %s)", err, out, referrer)
	}
	cdxRef, err := sbomCLI("attach", "--image-tag", "12", "--format", "cyclonedx")
	cdxRef = strings.TrimSpace(cdxRef)
	if err != nil || !strings.HasPrefix(cdxRef, "sha256:") || cdxRef == referrer {
		t.Fatalf("wharf sbom attach --format cyclonedx: %v %s", err, cdxRef)
	}

	// The referrers API lists both; by artifact type, the one.
	referrers := func(query string) []map[string]any {
		req, _ := http.NewRequest("GET", "http://"+s.addr+"/v2/sbom/debian/referrers/"+digest+query, nil)
		req.SetBasicAuth("AWS", pw)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		data, _ := io.ReadAll(res.Body)
		var index struct{ Manifests []map[string]any }
		if res.StatusCode != 200 || json.Unmarshal(data, &index) != nil {
			t.Fatalf("referrers: %d %s", res.StatusCode, data)
		}
		return index.Manifests
	}
	if all := referrers(""); len(all) != 2 {
		t.Fatalf("referrers: %v", all)
	}
	if one := referrers("?artifactType=application/spdx%2Bjson"); len(one) != 1 || one[0]["digest"] != referrer ||
		one[0]["artifactType"] != "application/spdx+json" || one[0]["annotations"].(map[string]any)["org.opencontainers.image.created"] == nil {
		t.Fatalf("referrers of type SPDX: %v", one)
	}
	disc := run(t, oras, "discover", "--plain-http", "--format", "json", "--artifact-type", "application/spdx+json", ref+"@"+digest)
	if !strings.Contains(disc, referrer) || strings.Contains(disc, cdxRef) {
		t.Fatalf("oras discover:\n%s", disc)
	}
	// The artifact's layer is the document.
	out := filepath.Join(work, "pulled")
	run(t, oras, "pull", "--plain-http", "-o", out, ref+"@"+referrer)
	if got, err := os.ReadFile(filepath.Join(out, "sbom.spdx.json")); err != nil || string(got) != docs["SPDX"] {
		t.Fatalf("the artifact's layer is not the document (%v)", err)
	}
	if got := run(t, crane, "blob", "--insecure", ref+"@"+layerDigest(t, run(t, crane, "manifest", "--insecure", ref+"@"+cdxRef))); got != docs["CYCLONEDX"] {
		t.Fatal("the CycloneDX artifact's layer is not the document")
	}

	// Both operations are in the audit trail, as any call, the command's too (a read's answer, the
	// document, is not recorded).
	endpoint := "http://" + s.addr
	// The trail is written after the answers: lookup returns once it holds any record, not all of them.
	gets := lookup(t, s.awsEnv(), endpoint, "EventName", "GetImageSbom")
	for deadline := time.Now().Add(10 * time.Second); len(gets) < 6 && time.Now().Before(deadline); {
		time.Sleep(300 * time.Millisecond)
		gets = lookup(t, s.awsEnv(), endpoint, "EventName", "GetImageSbom")
	}
	cliRefused := false
	for _, e := range gets {
		if e.ReadOnly != "true" || e.record["responseElements"] != nil {
			t.Fatalf("GetImageSbom in the audit trail: %s", e.CloudTrailEvent)
		}
		cliRefused = cliRefused || e.record["userAgent"] == "wharf-cli" && e.record["errorCode"] == "ScanNotFoundException"
	}
	if len(gets) < 6 || !cliRefused {
		t.Fatalf("GetImageSbom in the audit trail: %d records, the command's refusal %v", len(gets), cliRefused)
	}
	attaches := lookup(t, s.awsEnv(), endpoint, "EventName", "AttachImageSbom")
	answered := 0
	for _, e := range attaches {
		if e.ReadOnly != "false" || len(e.Resources) != 1 { // the repository, once, though authorized for two actions
			t.Fatalf("AttachImageSbom in the audit trail: %s", e.CloudTrailEvent)
		}
		if member(e.record, "responseElements.imageId.imageDigest") == referrer {
			answered++
		}
	}
	if len(attaches) != 4 || answered != 2 {
		t.Fatalf("AttachImageSbom in the audit trail: %d records, %d with the referrer as their answer", len(attaches), answered)
	}

	// Without ecr:DescribeImageScanFindings, both operations are denied; without ecr:PutImage, attaching.
	reader := newActor(t, s, s.awsEnv(), "reader", `{"Effect":"Allow","Action":["ecr:DescribeImages","ecr:BatchGetImage"],"Resource":"*"}`)
	id, secret := reader.key()
	for _, op := range []string{"GetImageSbom", "AttachImageSbom"} {
		code, body := s.ecrCall(id, secret, op, image)
		if code != 400 || body["__type"] != "AccessDeniedException" || body["message"] !=
			"User: arn:aws:iam::000000000000:user/reader is not authorized to perform: ecr:DescribeImageScanFindings on resource: arn:aws:ecr:us-east-1:000000000000:repository/sbom/debian because no identity-based policy allows the ecr:DescribeImageScanFindings action" {
			t.Fatalf("%s without ecr:DescribeImageScanFindings: %d %v", op, code, body)
		}
	}
	auditor := newActor(t, s, s.awsEnv(), "auditor", `{"Effect":"Allow","Action":"ecr:DescribeImageScanFindings","Resource":"*"}`)
	id, secret = auditor.key()
	if code, body := s.ecrCall(id, secret, "GetImageSbom", image); code != 200 || body["sbom"] != docs["SPDX"] {
		t.Fatalf("GetImageSbom with ecr:DescribeImageScanFindings: %d %v", code, body["message"])
	}
	if code, body := s.ecrCall(id, secret, "AttachImageSbom", image); code != 400 || body["__type"] != "AccessDeniedException" ||
		!strings.Contains(body["message"].(string), "not authorized to perform: ecr:PutImage on resource") {
		t.Fatalf("AttachImageSbom without ecr:PutImage: %d %v", code, body)
	}
}

// layerDigest is the digest of a manifest's one layer.
func layerDigest(t *testing.T, manifest string) string {
	t.Helper()
	var m struct{ Layers []struct{ Digest string } }
	jsonOf(t, manifest, &m)
	if len(m.Layers) != 1 {
		t.Fatalf("manifest has %d layers: %s", len(m.Layers), manifest)
	}
	return m.Layers[0].Digest
}

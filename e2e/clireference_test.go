package e2e

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestCLIReferenceExamples runs the examples of the AWS CLI reference's `aws ecr` pages against wharf serve
// and compares what the aws CLI prints with the reference's output. testdata/clireference holds the
// reference's outputs (<command>.json, <command>-N.json for its N-th example) and the files its examples read
// (<command>.<file>), as the pages give them.
//
// The reference's outputs are abridged (create-repository shows three of the repository's members), so each
// member the reference shows must be in Wharf's output with the same value; members it leaves out may be
// there. What differs by nature is normalised on both sides first: account ids, regions in ARNs, digests
// (Wharf's blobs have the reference's sizes but other bytes), upload ids, tokens, URLs and times.
//
// Operations whose reference page has no example (the registry-level settings, signing, referrers, pull-time
// exclusions, storage classes) are not here; the other e2e tests cover them.
func TestCLIReferenceExamples(t *testing.T) {
	s := startServer(t, t.TempDir())
	x := &refExamples{t: t, s: s, pw: s.password(), dir: t.TempDir()}

	// create-repository: its three examples, each on a fresh project-a/sample-repo.
	x.check("create-repository", "ecr", "create-repository", "--repository-name", "project-a/sample-repo")
	s.aws("ecr", "delete-repository", "--repository-name", "project-a/sample-repo")
	x.check("create-repository-2", "ecr", "create-repository", "--repository-name", "project-a/sample-repo", "--image-tag-mutability", "IMMUTABLE")
	s.aws("ecr", "delete-repository", "--repository-name", "project-a/sample-repo")
	x.check("create-repository-3", "ecr", "create-repository", "--repository-name", "project-a/sample-repo", "--image-scanning-configuration", "scanOnPush=true")
	s.aws("ecr", "delete-repository", "--repository-name", "project-a/sample-repo")

	// describe-repositories lists a registry holding ubuntu and test.
	s.aws("ecr", "create-repository", "--repository-name", "ubuntu")
	s.aws("ecr", "create-repository", "--repository-name", "test")
	// Known difference: Wharf lists repositories by name; the reference shows ubuntu before test (ECR
	// documents no order), so the lists are compared in any order.
	x.checkAnyOrder("describe-repositories", "repositories", "repositoryName", "ecr", "describe-repositories")
	s.aws("ecr", "delete-repository", "--repository-name", "test")

	// cluster-autoscaler:v1.13.6 is the reference's image: its manifest as batch-get-image shows it, over
	// blobs of its sizes.
	s.aws("ecr", "create-repository", "--repository-name", "cluster-autoscaler")
	var got struct {
		Images []struct{ ImageManifest string }
	}
	jsonOf(t, x.reference("batch-get-image"), &got)
	manifest, digests := x.pushBlobsOf("cluster-autoscaler", got.Images[0].ImageManifest)
	x.putImage("cluster-autoscaler", "v1.13.6", manifest)
	x.check("batch-get-image", "ecr", "batch-get-image", "--repository-name", "cluster-autoscaler", "--image-ids", "imageTag=v1.13.6")
	x.check("describe-images", "ecr", "describe-images", "--repository-name", "cluster-autoscaler", "--image-ids", "imageTag=v1.13.6")
	x.check("batch-check-layer-availability", "ecr", "batch-check-layer-availability", "--repository-name", "cluster-autoscaler", "--layer-digests", digests[0])
	x.check("get-download-url-for-layer", "ecr", "get-download-url-for-layer", "--repository-name", "cluster-autoscaler", "--layer-digest", digests[0])
	// list-images shows two more tags, on one image.
	small := x.smallManifest("cluster-autoscaler", "v1.13.7")
	x.putImage("cluster-autoscaler", "v1.13.7", small)
	x.putImage("cluster-autoscaler", "v1.13.8", small)
	// Known difference: the reference lists v1.13.8 before v1.13.7 (put last, on the same image); Wharf
	// lists images by digest and an image's tags by name (ECR documents no order), so the lists are
	// compared in any order.
	x.checkAnyOrder("list-images", "imageIds", "imageTag", "ecr", "list-images", "--repository-name", "cluster-autoscaler")

	// Repository policies on cluster-autoscaler.
	x.check("set-repository-policy", "ecr", "set-repository-policy", "--repository-name", "cluster-autoscaler", "--policy-text", x.file("set-repository-policy.my-policy.json"))
	x.check("get-repository-policy", "ecr", "get-repository-policy", "--repository-name", "cluster-autoscaler")
	x.check("delete-repository-policy", "ecr", "delete-repository-policy", "--repository-name", "cluster-autoscaler")

	// ubuntu:precise, deleted by tag, then the repository with --force.
	x.putImage("ubuntu", "precise", x.smallManifest("ubuntu", "precise"))
	x.putImage("ubuntu", "trusty", x.smallManifest("ubuntu", "trusty"))
	x.check("batch-delete-image", "ecr", "batch-delete-image", "--repository-name", "ubuntu", "--image-ids", "imageTag=precise")
	x.check("delete-repository", "ecr", "delete-repository", "--repository-name", "ubuntu", "--force")

	// MyRepository's prod and team1. ECR's repository names are lower case: like ECR, Wharf refuses to create
	// MyRepository, so the examples run on myrepository. Their manifests are placeholders
	// ("manifestExample1"), left out of the comparison.
	s.awsFails("InvalidParameterException", "ecr", "create-repository", "--repository-name", "MyRepository")
	s.aws("ecr", "create-repository", "--repository-name", "myrepository")
	x.putImage("myrepository", "prod", x.smallManifest("myrepository", "prod"))
	x.putImage("myrepository", "team1", x.smallManifest("myrepository", "team1"))
	var many struct{ Images []map[string]any }
	jsonOf(t, x.reference("batch-get-image-2"), &many)
	for _, img := range many.Images {
		img["repositoryName"] = "myrepository"
		delete(img, "imageManifest")
	}
	x.checkAs("batch-get-image-2", map[string]any{"images": []any{many.Images[0], many.Images[1]}},
		"ecr", "batch-get-image", "--repository-name", "myrepository", "--image-ids", "imageTag=prod", "imageTag=team1")
	x.check("batch-delete-image-2", "ecr", "batch-delete-image", "--repository-name", "myrepository", "--image-ids", "imageTag=prod", "imageTag=team1")

	// A layer of 8,323,315 bytes uploaded to layer-test in one part. The reference passes the part with
	// file://; the aws CLI reads binary parameters with fileb://. Its --layer-digests is not a digest
	// ("6cb64b8a-…:48074e…"); the layer's own digest is given instead.
	s.aws("ecr", "create-repository", "--repository-name", "layer-test")
	upload := x.check("initiate-layer-upload", "ecr", "initiate-layer-upload", "--repository-name", "layer-test")
	uploadID := upload["uploadId"].(string)
	part := filepath.Join(x.dir, "layer.b64")
	blob := x.blob("layer-test", 8323315)
	os.WriteFile(part, blob, 0o644)
	x.check("upload-layer-part", "ecr", "upload-layer-part", "--repository-name", "layer-test", "--upload-id", uploadID,
		"--part-first-byte", "0", "--part-last-byte", "8323314", "--layer-part-blob", "fileb://"+part)
	x.check("complete-layer-upload", "ecr", "complete-layer-upload", "--repository-name", "layer-test", "--upload-id", uploadID,
		"--layer-digests", "sha256:"+sha256Hex(blob))

	// hello-world: put-image of the reference's manifest file, over blobs of its sizes (with their digests in
	// place of the reference's). The page shows the file indented by four; its output shows the manifest as
	// the file held it (by two, with a final newline), which is testdata's file. Likewise the lifecycle
	// policy files below are as start-lifecycle-policy-preview's output shows them.
	s.aws("ecr", "create-repository", "--repository-name", "hello-world")
	manifest, _ = x.pushBlobsOf("hello-world", x.reference("put-image.hello-world.manifest.json"))
	mf := filepath.Join(x.dir, "hello-world.manifest.json")
	os.WriteFile(mf, []byte(manifest), 0o644)
	x.check("put-image", "ecr", "put-image", "--repository-name", "hello-world", "--image-tag", "2019.08", "--image-manifest", "file://"+mf)

	// Tags of hello-world.
	arn := "arn:aws:ecr:us-east-1:000000000000:repository/hello-world"
	x.checkText("tag-resource", "", "ecr", "tag-resource", "--resource-arn", arn, "--tags", "Key=Stage,Value=Integ")
	x.check("list-tags-for-resource", "ecr", "list-tags-for-resource", "--resource-arn", arn)
	x.checkText("untag-resource", "", "ecr", "untag-resource", "--resource-arn", arn, "--tag-keys", "Stage")

	// delete-lifecycle-policy deletes the policy its output shows, never evaluated.
	var deleted struct{ LifecyclePolicyText string }
	jsonOf(t, x.reference("delete-lifecycle-policy"), &deleted)
	s.aws("ecr", "put-lifecycle-policy", "--repository-name", "hello-world", "--lifecycle-policy-text", deleted.LifecyclePolicyText)
	x.check("delete-lifecycle-policy", "ecr", "delete-lifecycle-policy", "--repository-name", "hello-world")

	// Lifecycle policies and their preview on project-a/amazon-ecs-sample.
	s.aws("ecr", "create-repository", "--repository-name", "project-a/amazon-ecs-sample")
	x.check("put-lifecycle-policy", "ecr", "put-lifecycle-policy", "--repository-name", "project-a/amazon-ecs-sample", "--lifecycle-policy-text", x.file("put-lifecycle-policy.policy.json"))
	x.check("get-lifecycle-policy", "ecr", "get-lifecycle-policy", "--repository-name", "project-a/amazon-ecs-sample")
	x.check("start-lifecycle-policy-preview", "ecr", "start-lifecycle-policy-preview", "--repository-name", "project-a/amazon-ecs-sample", "--lifecycle-policy-text", x.file("start-lifecycle-policy-preview.policy.json"))
	x.eventually("get-lifecycle-policy-preview", "ecr", "get-lifecycle-policy-preview", "--repository-name", "project-a/amazon-ecs-sample")

	// put-image-tag-mutability names hello-repository in its command and sample-repo in its output; the
	// output of the command names the repository of the command.
	s.aws("ecr", "create-repository", "--repository-name", "hello-repository")
	x.checkAs("put-image-tag-mutability", map[string]any{"repositoryName": "hello-repository"},
		"ecr", "put-image-tag-mutability", "--repository-name", "hello-repository", "--image-tag-mutability", "IMMUTABLE")

	// Scanning on sample-repo: an image of Ubuntu 18.04 whose dpkg status lists the reference's package, and
	// an advisory of the reference's vulnerability imported into Wharf's vulnerability data.
	s.aws("ecr", "create-repository", "--repository-name", "sample-repo")
	x.check("put-image-scanning-configuration", "ecr", "put-image-scanning-configuration", "--repository-name", "sample-repo", "--image-scanning-configuration", "scanOnPush=true")
	s.aws("ecr", "put-image-scanning-configuration", "--repository-name", "sample-repo", "--image-scanning-configuration", "scanOnPush=false")
	var scan struct {
		ImageScanFindings struct {
			Findings []struct{ Description, URI string }
		}
	}
	jsonOf(t, x.reference("describe-image-scan-findings"), &scan)
	advisory := filepath.Join(x.dir, "UBUNTU-CVE-2019-5188.json")
	os.WriteFile(advisory, fmt.Appendf(nil, `{"id": "UBUNTU-CVE-2019-5188", "upstream": ["CVE-2019-5188"], "modified": "2020-01-23T00:00:00Z",
  "details": %q, "severity": [{"type": "Ubuntu", "score": "medium"}],
  "affected": [{"package": {"ecosystem": "Ubuntu:18.04:LTS", "name": "e2fsprogs"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.44.1-1ubuntu1.2"}]}]}],
  "references": [{"type": "ADVISORY", "url": %q}]}`, scan.ImageScanFindings.Findings[0].Description, scan.ImageScanFindings.Findings[0].URI), 0o644)
	s.wharf("scan-db", "import", advisory)
	ubuntu := x.ubuntuManifest("sample-repo")
	x.putImage("sample-repo", "", ubuntu)
	digest := "sha256:" + sha256Hex([]byte(ubuntu))
	x.check("start-image-scan", "ecr", "start-image-scan", "--repository-name", "sample-repo", "--image-id", "imageDigest="+digest)
	s.aws("ecr", "wait", "image-scan-complete", "--repository-name", "sample-repo", "--image-id", "imageDigest="+digest)
	// Known difference: the reference's finding carries CVSS v2 attributes (CVSS2_VECTOR, CVSS2_SCORE) from
	// the vulnerability data of 2020; Wharf rates by CVSS v3 or v4 vectors or the database's own severity,
	// and reports CVSS attributes of those only.
	var findings map[string]any
	jsonOf(t, x.reference("describe-image-scan-findings"), &findings)
	f := findings["imageScanFindings"].(map[string]any)["findings"].([]any)[0].(map[string]any)
	f["attributes"] = f["attributes"].([]any)[:2]
	x.checkAs("describe-image-scan-findings", map[string]any{"imageScanFindings": findings["imageScanFindings"]},
		"ecr", "describe-image-scan-findings", "--repository-name", "sample-repo", "--image-id", "imageDigest="+digest)

	// Registry authentication.
	x.check("get-authorization-token", "ecr", "get-authorization-token")
	if pw := s.aws("ecr", "get-login-password"); !regexp.MustCompile(`^\S+\n$`).MatchString(pw) {
		t.Errorf("get-login-password: the reference prints %q; got %q", x.reference("get-login-password.txt"), pw)
	}
	login := strings.TrimSpace(s.aws("ecr", "get-login"))
	if want := "docker login -u AWS -p <password> -e none http://" + s.addr; regexp.MustCompile(` -p \S+ `).ReplaceAllString(login, " -p <password> ") != want {
		t.Errorf("get-login: want %q (the reference's %q), got %q", want, strings.TrimSpace(x.reference("get-login.txt")), login)
	}
}

type refExamples struct {
	t   *testing.T
	s   *wharfProc
	pw  string
	dir string
	n   int // blobs made, to make each unique
}

// reference returns a file of testdata/clireference; a name without extension is a .json output.
func (x *refExamples) reference(name string) string {
	x.t.Helper()
	if !strings.HasSuffix(name, ".json") && !strings.HasSuffix(name, ".txt") {
		name += ".json"
	}
	b, err := os.ReadFile(filepath.Join("testdata", "clireference", name))
	if err != nil {
		x.t.Fatal(err)
	}
	return string(b)
}

// file is an example's input file, as the aws CLI reads it: file://path.
func (x *refExamples) file(name string) string {
	p, _ := filepath.Abs(filepath.Join("testdata", "clireference", name))
	return "file://" + p
}

// check runs an example and compares its output with the reference's; it returns Wharf's output.
func (x *refExamples) check(name string, args ...string) map[string]any {
	x.t.Helper()
	return x.checkAs(name, nil, args...)
}

// checkAs is check with members of the reference's output replaced, where the example cannot print what its
// page shows; the caller says why.
func (x *refExamples) checkAs(name string, replace map[string]any, args ...string) map[string]any {
	x.t.Helper()
	out := x.s.aws(args...)
	var got, want map[string]any
	jsonOf(x.t, out, &got)
	jsonOf(x.t, x.reference(name), &want)
	for k, v := range replace {
		want[k] = v
	}
	x.compare(args, got, want)
	return got
}

// compare checks that Wharf's output has what the reference's shows, both normalised.
func (x *refExamples) compare(args []string, got, want map[string]any) {
	x.t.Helper()
	if path, ok := covers(normalise("", got), normalise("", want), ""); !ok {
		g, _ := json.MarshalIndent(normalise("", got), "", "  ")
		w, _ := json.MarshalIndent(normalise("", want), "", "  ")
		x.t.Errorf("aws %s: differs from the reference at %s\nreference (normalised):\n%s\nwharf (normalised):\n%s", strings.Join(args, " "), path, w, g)
	}
}

// checkAnyOrder is check with the output's list member key compared in any order: both lists are sorted by
// their elements' member by.
func (x *refExamples) checkAnyOrder(name, key, by string, args ...string) {
	x.t.Helper()
	var got, want map[string]any
	jsonOf(x.t, x.s.aws(args...), &got)
	jsonOf(x.t, x.reference(name), &want)
	for _, m := range []map[string]any{got, want} {
		list, _ := m[key].([]any)
		sort.SliceStable(list, func(i, j int) bool {
			return fmt.Sprint(list[i].(map[string]any)[by]) < fmt.Sprint(list[j].(map[string]any)[by])
		})
	}
	x.compare(args, got, want)
}

// eventually is check for an output that reaches the reference's state after a while (a preview completes).
func (x *refExamples) eventually(name string, args ...string) {
	x.t.Helper()
	var want map[string]any
	jsonOf(x.t, x.reference(name), &want)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		var got map[string]any
		jsonOf(x.t, x.s.aws(args...), &got)
		if got["status"] == want["status"] {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	x.check(name, args...)
}

// checkText runs an example whose output is text.
func (x *refExamples) checkText(name, want string, args ...string) {
	x.t.Helper()
	if out := x.s.aws(args...); out != want {
		x.t.Errorf("aws %s: the reference prints %q, wharf %q", strings.Join(args, " "), want, out)
	}
}

var (
	digestRE = regexp.MustCompile(`sha256:[0-9a-f]{12,64}`)
	arnRE    = regexp.MustCompile(`arn:aws:ecr:[a-z0-9-]+:([0-9]{12}|<aws_account_id>):`)
)

// normalise replaces what legitimately differs between ECR and Wharf by placeholders.
func normalise(key string, v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range v {
			out[k] = normalise(k, e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = normalise(key, e)
		}
		return out
	}
	switch key {
	case "registryId":
		return "<account>"
	case "uploadId", "authorizationToken", "downloadUrl", "proxyEndpoint", "repositoryUri":
		return "<" + key + ">"
	case "createdAt", "imagePushedAt", "lastEvaluatedAt", "expiresAt", "imageScanCompletedAt", "vulnerabilitySourceUpdatedAt", "lastRecordedPullTime":
		return "<time>"
	}
	if s, ok := v.(string); ok {
		s = digestRE.ReplaceAllString(s, "sha256:<digest>")
		return arnRE.ReplaceAllString(s, "arn:aws:ecr:<region>:<account>:")
	}
	return v
}

// covers reports whether got has every member of want with its value (got may have more members); when not,
// it returns the path of the first difference.
func covers(got, want any, path string) (string, bool) {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return path, false
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				return path + "." + k + " (missing)", false
			}
			if p, ok := covers(gv, wv, path+"."+k); !ok {
				return p, false
			}
		}
		return "", true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return path + " (length)", false
		}
		for i := range w {
			if p, ok := covers(g[i], w[i], fmt.Sprintf("%s[%d]", path, i)); !ok {
				return p, false
			}
		}
		return "", true
	}
	return path, reflect.DeepEqual(got, want)
}

// blob makes n unique bytes.
func (x *refExamples) blob(repo string, n int) []byte {
	x.n++
	b := make([]byte, n)
	copy(b, fmt.Sprintf("%s blob %d\n", repo, x.n))
	return b
}

// config makes a JSON image configuration of exactly n bytes.
func (x *refExamples) config(n int) []byte {
	x.n++
	head := fmt.Sprintf(`{"architecture":"amd64","os":"linux","config":{},"comment":"%d `, x.n)
	pad := n - len(head) - len(`"}`)
	if pad < 0 {
		x.t.Fatalf("a configuration of %d bytes is too small", n)
	}
	return []byte(head + strings.Repeat("x", pad) + `"}`)
}

// pushBlob uploads a blob through the registry API in one request.
func (x *refExamples) pushBlob(repo string, data []byte) string {
	x.t.Helper()
	d := "sha256:" + sha256Hex(data)
	req, _ := http.NewRequest("POST", "http://"+x.s.addr+"/v2/"+repo+"/blobs/uploads/?digest="+d, bytes.NewReader(data))
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("AWS:"+x.pw)))
	req.Header.Set("Content-Type", "application/octet-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		x.t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 201 {
		x.t.Fatalf("pushing a blob to %s: %d %s", repo, res.StatusCode, body)
	}
	return d
}

// pushBlobsOf uploads blobs of the sizes a manifest's descriptors give, and returns the manifest's text with
// their digests in place of its own, and those digests (the configuration's first).
func (x *refExamples) pushBlobsOf(repo, manifest string) (string, []string) {
	x.t.Helper()
	var m struct {
		Config struct {
			Size   int
			Digest string
		}
		Layers []struct {
			Size   int
			Digest string
		}
	}
	jsonOf(x.t, manifest, &m)
	d := x.pushBlob(repo, x.config(m.Config.Size))
	manifest = strings.Replace(manifest, m.Config.Digest, d, 1)
	digests := []string{d}
	for _, l := range m.Layers {
		d := x.pushBlob(repo, x.blob(repo, l.Size))
		manifest = strings.Replace(manifest, l.Digest, d, 1)
		digests = append(digests, d)
	}
	return manifest, digests
}

// smallManifest pushes the blobs of a small image of its own and returns its manifest.
func (x *refExamples) smallManifest(repo, tag string) string {
	x.t.Helper()
	config := x.config(200)
	layer := x.blob(repo+":"+tag, 1000)
	return fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",`+
		`"config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":%d,"digest":"%s"},`+
		`"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":%d,"digest":"%s"}]}`,
		len(config), x.pushBlob(repo, config), len(layer), x.pushBlob(repo, layer))
}

// ubuntuManifest pushes an image of Ubuntu 18.04 with e2fsprogs 1.44.1-1ubuntu1.1 installed and returns its
// manifest.
func (x *refExamples) ubuntuManifest(repo string) string {
	x.t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, content := range map[string]string{
		"etc/os-release": "NAME=\"Ubuntu\"\nID=ubuntu\nVERSION_ID=\"18.04\"\n",
		"var/lib/dpkg/status": "Package: e2fsprogs\nStatus: install ok installed\nPriority: required\nSection: admin\n" +
			"Architecture: amd64\nVersion: 1.44.1-1ubuntu1.1\nDescription: ext2/ext3/ext4 file system utilities\n\n",
	} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content))})
		tw.Write([]byte(content))
	}
	tw.Close()
	config := x.config(200)
	return fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",`+
		`"config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":%d,"digest":"%s"},`+
		`"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar","size":%d,"digest":"%s"}]}`,
		len(config), x.pushBlob(repo, config), buf.Len(), x.pushBlob(repo, buf.Bytes()))
}

// putImage puts a manifest with the aws CLI, tagged when tag is not empty.
func (x *refExamples) putImage(repo, tag, manifest string) {
	x.t.Helper()
	args := []string{"ecr", "put-image", "--repository-name", repo, "--image-manifest", manifest}
	if tag != "" {
		args = append(args, "--image-tag", tag)
	}
	x.s.aws(args...)
}

package ecrapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/server"
)

var admin = identity.Credentials{AccessKeyID: "AKIAUNITADMIN0000001", SecretAccessKey: "unit-secret"}

type api struct {
	t     testing.TB
	url   string
	app   *server.App
	creds identity.Credentials
	clock *clock.Fake // when set, the server's clock; requests are signed at its time
}

func newAPI(t testing.TB, cfg registry.Config) *api { return newAPIAt(t, cfg, nil) }

// newAPIAt serves the API on a server whose clock is clk (the wall clock when nil).
func newAPIAt(t testing.TB, cfg registry.Config, clk *clock.Fake) *api {
	t.Helper()
	dir := t.TempDir()
	st, err := server.OpenStores(dir)
	if err != nil {
		t.Fatal(err)
	}
	opts := server.Options{DataDir: dir, Registry: cfg, Bootstrap: true, AdminCredentials: &admin, PublicURL: "https://registry.example"}
	if clk != nil {
		opts.Clock = clk
	}
	app, err := server.New(opts, st)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler)
	t.Cleanup(func() { srv.Close(); app.Close() })
	return &api{t: t, url: srv.URL, app: app, creds: admin, clock: clk}
}

type result struct {
	status int
	body   map[string]any
	raw    string
}

func (r result) errCode() string { s, _ := r.body["__type"].(string); return s }
func (r result) message() string { s, _ := r.body["message"].(string); return s }

// raw sends a body signed as the AWS SDK signs it; at is the signing time.
func (a *api) raw(op string, body []byte, at time.Time, creds identity.Credentials) result {
	a.t.Helper()
	req, _ := http.NewRequest("POST", a.url+"/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerRegistry_V20150921."+op)
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey},
		req, hex.EncodeToString(sum[:]), "ecr", "us-east-1", at); err != nil {
		a.t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	var m map[string]any
	json.Unmarshal(data, &m)
	if res.Header.Get("x-amzn-RequestId") == "" {
		a.t.Fatalf("%s: no x-amzn-RequestId", op)
	}
	return result{res.StatusCode, m, string(data)}
}

func (a *api) call(op string, in any) result {
	a.t.Helper()
	body, _ := json.Marshal(in)
	return a.raw(op, body, a.now(), a.creds)
}

func (a *api) now() time.Time {
	if a.clock != nil {
		return a.clock.Now()
	}
	return time.Now()
}

func (a *api) ok(op string, in any) map[string]any {
	a.t.Helper()
	r := a.call(op, in)
	if r.status != 200 {
		a.t.Fatalf("%s: %d %s", op, r.status, r.raw)
	}
	return r.body
}

func (a *api) fails(r result, status int, code string) {
	a.t.Helper()
	if r.status != status || r.errCode() != code {
		a.t.Fatalf("got %d %s (%s), want %d %s", r.status, r.errCode(), r.raw, status, code)
	}
}

func TestProtocolErrors(t *testing.T) {
	a := newAPI(t, registry.Config{})
	unknown := a.raw("NoSuchOperation", []byte("{}"), time.Now(), admin)
	a.fails(unknown, 404, "UnknownOperationException")
	if unknown.message() != "The action or operation requested is invalid. Verify that the action is typed correctly." {
		t.Errorf("UnknownOperationException's message: %q", unknown.message())
	}
	a.fails(a.raw("CreateRepository", []byte(`{"repositoryName":`), time.Now(), admin), 400, "SerializationException")
	a.fails(a.raw("CreateRepository", []byte(`{"repositoryName": 12}`), time.Now(), admin), 400, "SerializationException")
	a.fails(a.raw("DescribeRepositories", []byte("{}"), time.Now(), identity.Credentials{AccessKeyID: admin.AccessKeyID, SecretAccessKey: "wrong"}), 400, "InvalidSignatureException")
	a.fails(a.raw("DescribeRepositories", []byte("{}"), time.Now(), identity.Credentials{AccessKeyID: "AKIANOBODY0000000000", SecretAccessKey: "x"}), 400, "UnrecognizedClientException")
	r := a.raw("DescribeRepositories", []byte("{}"), time.Now().Add(-20*time.Minute), admin)
	a.fails(r, 400, "InvalidSignatureException")
	if !strings.HasPrefix(r.message(), "Signature expired") {
		t.Fatalf("clock skew message %q", r.message())
	}
	req, _ := http.NewRequest("POST", a.url+"/", strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories")
	res, _ := http.DefaultClient.Do(req)
	data, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 403 || !strings.Contains(string(data), "MissingAuthenticationTokenException") {
		t.Fatalf("unsigned: %d %s", res.StatusCode, data)
	}
	// Nothing was created by any of these.
	if repos := a.ok("DescribeRepositories", map[string]any{})["repositories"].([]any); len(repos) != 0 {
		t.Fatalf("repositories after refused calls: %v", repos)
	}
}

func TestRepositories(t *testing.T) {
	a := newAPI(t, registry.Config{})
	out := a.ok("CreateRepository", map[string]any{"repositoryName": "team/app", "imageTagMutability": "IMMUTABLE",
		"imageScanningConfiguration": map[string]bool{"scanOnPush": true}, "tags": []map[string]string{{"Key": "team", "Value": "devs"}}})
	repo := out["repository"].(map[string]any)
	if repo["repositoryArn"] != "arn:aws:ecr:us-east-1:000000000000:repository/team/app" || repo["repositoryUri"] != "registry.example/team/app" ||
		repo["imageTagMutability"] != "IMMUTABLE" || repo["encryptionConfiguration"].(map[string]any)["encryptionType"] != "AES256" {
		t.Fatalf("repository %v", repo)
	}
	r := a.call("CreateRepository", map[string]any{"repositoryName": "team/app"})
	a.fails(r, 400, "RepositoryAlreadyExistsException")
	if r.message() != "The repository with name 'team/app' already exists in the registry with id '000000000000'" {
		t.Fatalf("message %q", r.message())
	}
	r = a.call("CreateRepository", map[string]any{"repositoryName": "Bad_Name"})
	a.fails(r, 400, "InvalidParameterException")
	if !strings.HasPrefix(r.message(), "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression") {
		t.Fatalf("message %q", r.message())
	}
	// Tags are all or nothing: a bad tag creates no repository.
	for _, tags := range [][]map[string]string{
		{{"Key": "aws:reserved", "Value": "x"}},
		{{"Key": strings.Repeat("k", 129), "Value": "x"}},
		{{"Key": "k", "Value": strings.Repeat("v", 257)}},
	} {
		a.fails(a.call("CreateRepository", map[string]any{"repositoryName": "tagged", "tags": tags}), 400, "InvalidTagParameterException")
	}
	var many []map[string]string
	for i := 0; i < 51; i++ {
		many = append(many, map[string]string{"Key": fmt.Sprint("k", i), "Value": "v"})
	}
	a.fails(a.call("CreateRepository", map[string]any{"repositoryName": "tagged", "tags": many}), 400, "TooManyTagsException")
	a.fails(a.call("DescribeRepositories", map[string]any{"repositoryNames": []string{"tagged"}}), 400, "RepositoryNotFoundException")

	arn := repo["repositoryArn"].(string)
	a.ok("TagResource", map[string]any{"resourceArn": arn, "tags": []map[string]string{{"Key": "env", "Value": "prod"}}})
	a.ok("UntagResource", map[string]any{"resourceArn": arn, "tagKeys": []string{"team"}})
	tags := a.ok("ListTagsForResource", map[string]any{"resourceArn": arn})["tags"].([]any)
	if len(tags) != 1 || tags[0].(map[string]any)["Key"] != "env" {
		t.Fatalf("tags %v", tags)
	}
	a.fails(a.call("TagResource", map[string]any{"resourceArn": arn, "tags": many}), 400, "TooManyTagsException")
	a.ok("PutImageTagMutability", map[string]any{"repositoryName": "team/app", "imageTagMutability": "MUTABLE"})
	a.ok("PutImageScanningConfiguration", map[string]any{"repositoryName": "team/app", "imageScanningConfiguration": map[string]bool{"scanOnPush": false}})
	got := a.ok("DescribeRepositories", map[string]any{"repositoryNames": []string{"team/app"}})["repositories"].([]any)[0].(map[string]any)
	if got["imageTagMutability"] != "MUTABLE" || got["imageScanningConfiguration"].(map[string]any)["scanOnPush"] != false {
		t.Fatalf("settings not stored: %v", got)
	}
	if reg := a.ok("DescribeRegistry", map[string]any{}); reg["registryId"] != "000000000000" {
		t.Fatalf("DescribeRegistry %v", reg)
	}
	a.fails(a.call("DeleteRepository", map[string]any{"repositoryName": "nope"}), 400, "RepositoryNotFoundException")
}

func TestPaginationTokens(t *testing.T) {
	a := newAPI(t, registry.Config{})
	for i := 0; i < 5; i++ {
		a.ok("CreateRepository", map[string]any{"repositoryName": fmt.Sprintf("repo-%d", i)})
	}
	var names []string
	var token any
	for pages := 0; ; pages++ {
		in := map[string]any{"maxResults": 2}
		if token != nil {
			in["nextToken"] = token
		}
		out := a.ok("DescribeRepositories", in)
		for _, r := range out["repositories"].([]any) {
			names = append(names, r.(map[string]any)["repositoryName"].(string))
		}
		token = out["nextToken"]
		if _, present := out["nextToken"]; present && token == nil {
			t.Fatal(`the last page has "nextToken": null; ECR omits it`)
		}
		if token == nil {
			break
		}
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if len(names) != 5 {
		t.Fatalf("paged through %v", names)
	}
	first := a.ok("DescribeRepositories", map[string]any{"maxResults": 1})["nextToken"].(string)
	// A token of one listing is refused by another; forged and tampered tokens are refused.
	for _, bad := range []string{first + "x", "forged", base64.RawURLEncoding.EncodeToString([]byte(`{"s":"DescribeRepositories/000000000000","a":"repo-3"}`)) + ".AAAA"} {
		a.fails(a.call("DescribeRepositories", map[string]any{"nextToken": bad}), 400, "InvalidParameterException")
	}
	a.fails(a.call("ListImages", map[string]any{"repositoryName": "repo-0", "nextToken": first}), 400, "InvalidParameterException")
	a.fails(a.call("DescribeRepositories", map[string]any{"maxResults": 1001}), 400, "InvalidParameterException")
	a.fails(a.call("DescribeRepositories", map[string]any{"repositoryNames": []string{"repo-0"}, "maxResults": 1}), 400, "InvalidParameterException")
}

const ociManifest = "application/vnd.oci.image.manifest.v1+json"

// pushLayer uploads a layer through the ECR layer operations and returns its digest.
func (a *api) pushLayer(repo string, data []byte) string {
	a.t.Helper()
	id := a.ok("InitiateLayerUpload", map[string]any{"repositoryName": repo})["uploadId"].(string)
	a.ok("UploadLayerPart", map[string]any{"repositoryName": repo, "uploadId": id, "partFirstByte": 0, "partLastByte": len(data) - 1, "layerPartBlob": data})
	d := fmt.Sprintf("sha256:%x", sha256.Sum256(data))
	a.ok("CompleteLayerUpload", map[string]any{"repositoryName": repo, "uploadId": id, "layerDigests": []string{d}})
	return d
}

func TestImagesAndLayers(t *testing.T) {
	a := newAPI(t, registry.Config{})
	a.ok("CreateRepository", map[string]any{"repositoryName": "app"})
	cfg := a.pushLayer("app", []byte(`{"architecture":"amd64","os":"linux"}`))
	layer := a.pushLayer("app", []byte("layer bytes"))
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":37},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":11}]}`, ociManifest, cfg, layer)
	put := a.ok("PutImage", map[string]any{"repositoryName": "app", "imageManifest": manifest, "imageTag": "v1"})
	digest := put["image"].(map[string]any)["imageId"].(map[string]any)["imageDigest"].(string)
	a.fails(a.call("PutImage", map[string]any{"repositoryName": "app", "imageManifest": manifest, "imageTag": "v1"}), 400, "ImageAlreadyExistsException")
	a.ok("PutImage", map[string]any{"repositoryName": "app", "imageManifest": manifest, "imageTag": "latest"}) // retag
	mismatch := a.call("PutImage", map[string]any{"repositoryName": "app", "imageManifest": manifest, "imageTag": "v9", "imageDigest": "sha256:" + strings.Repeat("0", 64)})
	a.fails(mismatch, 400, "ImageDigestDoesNotMatchException")
	if want := "Invalid parameter at 'imageDigest' failed to satisfy constraint: 'The digest of the manifest, " + digest + ", does not match the digest provided, sha256:" + strings.Repeat("0", 64) + "'"; mismatch.message() != want {
		t.Fatalf("message %q", mismatch.message())
	}
	a.fails(a.call("DescribeImages", map[string]any{"repositoryName": "app", "imageIds": []map[string]string{{"imageTag": "v9"}}}), 400, "ImageNotFoundException")
	a.ok("PutImage", map[string]any{"repositoryName": "app", "imageManifest": manifest, "imageTag": "v8", "imageDigest": digest}) // digest and tag agree
	a.ok("BatchDeleteImage", map[string]any{"repositoryName": "app", "imageIds": []map[string]string{{"imageTag": "v8"}}})
	missing := strings.Replace(manifest, layer, "sha256:"+strings.Repeat("1", 64), 1)
	r := a.call("PutImage", map[string]any{"repositoryName": "app", "imageManifest": missing, "imageTag": "v2"})
	a.fails(r, 400, "LayersNotFoundException")
	if want := "Layers with digests '[sha256:" + strings.Repeat("1", 64) + "]' required for pushing image into repository with name 'app' in registry with id '000000000000' do not exist"; r.message() != want {
		t.Errorf("LayersNotFoundException: %q, want %q", r.message(), want)
	}
	index := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"%s","digest":"sha256:%s","size":1}]}`, ociManifest, strings.Repeat("2", 64))
	r = a.call("PutImage", map[string]any{"repositoryName": "app", "imageManifest": index, "imageTag": "multi"})
	a.fails(r, 400, "ReferencedImagesNotFoundException")
	if want := "Images with digests '[sha256:" + strings.Repeat("2", 64) + "]' required for pushing image into repository with name 'app' in registry with id '000000000000' do not exist"; r.message() != want {
		t.Errorf("ReferencedImagesNotFoundException: %q, want %q", r.message(), want)
	}

	details := a.ok("DescribeImages", map[string]any{"repositoryName": "app"})["imageDetails"].([]any)
	d := details[0].(map[string]any)
	if len(details) != 1 || d["imageSizeInBytes"].(float64) != 48 || d["imageManifestMediaType"] != ociManifest || len(d["imageTags"].([]any)) != 2 {
		t.Fatalf("DescribeImages %v", details)
	}
	r = a.call("DescribeImages", map[string]any{"repositoryName": "app", "imageIds": []map[string]string{{"imageTag": "nope"}}})
	a.fails(r, 400, "ImageNotFoundException")
	if r.message() != "The image with imageId {imageDigest:'null', imageTag:'nope'} does not exist within the repository with name 'app' in the registry with id '000000000000'" {
		t.Fatalf("message %q", r.message())
	}
	got := a.ok("BatchGetImage", map[string]any{"repositoryName": "app", "imageIds": []map[string]string{{"imageTag": "v1"}, {"imageTag": "nope"}}})
	if imgs := got["images"].([]any); len(imgs) != 1 || imgs[0].(map[string]any)["imageManifest"] != manifest {
		t.Fatalf("BatchGetImage images %v", imgs)
	}
	if f := got["failures"].([]any); len(f) != 1 || f[0].(map[string]any)["failureCode"] != "ImageNotFound" {
		t.Fatalf("BatchGetImage failures %v", f)
	}
	ids := a.ok("ListImages", map[string]any{"repositoryName": "app", "filter": map[string]string{"tagStatus": "UNTAGGED"}})["imageIds"].([]any)
	if len(ids) != 0 {
		t.Fatalf("untagged images %v", ids)
	}
	avail := a.ok("BatchCheckLayerAvailability", map[string]any{"repositoryName": "app", "layerDigests": []string{layer, "sha256:" + strings.Repeat("3", 64), cfg}})
	if len(avail["layers"].([]any)) != 2 || len(avail["failures"].([]any)) != 1 {
		t.Fatalf("BatchCheckLayerAvailability %v", avail)
	}
	// Each blob has the media type the image gives it: a configuration's is not a layer's.
	if l := avail["layers"].([]any); l[0].(map[string]any)["mediaType"] != "application/vnd.oci.image.layer.v1.tar" ||
		l[1].(map[string]any)["mediaType"] != "application/vnd.oci.image.config.v1+json" {
		t.Fatalf("BatchCheckLayerAvailability media types %v", l)
	}
	url := a.ok("GetDownloadUrlForLayer", map[string]any{"repositoryName": "app", "layerDigest": layer})["downloadUrl"].(string)
	path := url[strings.Index(url, "/v2/"):]
	res, err := http.Get(a.url + path)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "layer bytes" {
		t.Fatalf("download URL: %d %q", res.StatusCode, body)
	}
	// The URL opens that layer only.
	res, _ = http.Get(a.url + strings.Replace(path, layer, cfg, 1))
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Fatalf("presigned URL reused for another blob: %d", res.StatusCode)
	}

	// A pull through the registry API shows as lastRecordedPullTime (written in batches).
	if d["lastRecordedPullTime"] != nil {
		t.Fatalf("never pulled, yet lastRecordedPullTime = %v", d["lastRecordedPullTime"])
	}
	tok := a.ok("GetAuthorizationToken", map[string]any{})["authorizationData"].([]any)[0].(map[string]any)["authorizationToken"].(string)
	req, _ := http.NewRequest("GET", a.url+"/v2/app/manifests/v1", nil)
	req.Header.Set("Authorization", "Basic "+tok)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("pull: %v %v", res, err)
	}
	a.app.Service.FlushPulls()
	d = a.ok("DescribeImages", map[string]any{"repositoryName": "app"})["imageDetails"].([]any)[0].(map[string]any)
	if pulled, ok := d["lastRecordedPullTime"].(float64); !ok || pulled < d["imagePushedAt"].(float64) {
		t.Fatalf("lastRecordedPullTime after a pull: %v", d["lastRecordedPullTime"])
	}

	del := a.ok("BatchDeleteImage", map[string]any{"repositoryName": "app", "imageIds": []map[string]string{{"imageTag": "latest"}, {"imageTag": "nope"}}})
	if len(del["imageIds"].([]any)) != 1 || len(del["failures"].([]any)) != 1 {
		t.Fatalf("BatchDeleteImage by tag %v", del)
	}
	a.ok("DescribeImages", map[string]any{"repositoryName": "app", "imageIds": []map[string]string{{"imageDigest": digest}}})
	del = a.ok("BatchDeleteImage", map[string]any{"repositoryName": "app", "imageIds": []map[string]string{{"imageDigest": digest}}})
	if len(del["imageIds"].([]any)) != 1 {
		t.Fatalf("BatchDeleteImage by digest %v", del)
	}
	a.fails(a.call("DescribeImages", map[string]any{"repositoryName": "app", "imageIds": []map[string]string{{"imageDigest": digest}}}), 400, "ImageNotFoundException")
	a.ok("DeleteRepository", map[string]any{"repositoryName": "app"})
}

func TestLayerPartRules(t *testing.T) {
	a := newAPI(t, registry.Config{})
	a.ok("CreateRepository", map[string]any{"repositoryName": "app"})
	start := func() string {
		return a.ok("InitiateLayerUpload", map[string]any{"repositoryName": "app"})["uploadId"].(string)
	}
	part := func(id string, first int, data []byte) result {
		return a.call("UploadLayerPart", map[string]any{"repositoryName": "app", "uploadId": id, "partFirstByte": first, "partLastByte": first + len(data) - 1, "layerPartBlob": data})
	}
	small := make([]byte, 1<<20)
	id := start()
	a.ok("UploadLayerPart", map[string]any{"repositoryName": "app", "uploadId": id, "partFirstByte": 0, "partLastByte": len(small) - 1, "layerPartBlob": small})
	// A part under 5 MiB is taken; it is refused when it turns out not to be the last, by CompleteLayerUpload,
	// where ECR's model raises LayerPartTooSmallException.
	a.ok("UploadLayerPart", map[string]any{"repositoryName": "app", "uploadId": id, "partFirstByte": len(small), "partLastByte": 2*len(small) - 1, "layerPartBlob": small})
	whole := append(append([]byte{}, small...), small...)
	a.fails(a.call("CompleteLayerUpload", map[string]any{"repositoryName": "app", "uploadId": id, "layerDigests": []string{fmt.Sprintf("sha256:%x", sha256.Sum256(whole))}}), 400, "LayerPartTooSmallException")
	r := part(id, 5, small)
	a.fails(r, 400, "InvalidLayerPartException")
	if r.body["uploadId"] != id || r.body["repositoryName"] != "app" || r.body["registryId"] != "000000000000" || r.body["lastValidByteReceived"] != float64(2*len(small)-1) {
		t.Fatalf("InvalidLayerPartException members: %s", r.raw)
	}
	a.fails(part(start(), 0, make([]byte, 10<<20+1)), 400, "InvalidLayerPartException")
	a.fails(a.call("CompleteLayerUpload", map[string]any{"repositoryName": "app", "uploadId": start(), "layerDigests": []string{"sha256:" + strings.Repeat("4", 64)}}), 400, "EmptyUploadException")
	one := start()
	a.ok("UploadLayerPart", map[string]any{"repositoryName": "app", "uploadId": one, "partFirstByte": 0, "partLastByte": len(small) - 1, "layerPartBlob": small})
	a.fails(a.call("CompleteLayerUpload", map[string]any{"repositoryName": "app", "uploadId": one, "layerDigests": []string{"sha256:" + strings.Repeat("4", 64)}}), 400, "InvalidLayerException")
	r = a.call("CompleteLayerUpload", map[string]any{"repositoryName": "app", "uploadId": "nope", "layerDigests": []string{"sha256:" + strings.Repeat("4", 64)}})
	a.fails(r, 400, "UploadNotFoundException")
	if want := "The upload with id 'nope' does not exist within the repository with name 'app' in the registry with id '000000000000'"; r.message() != want {
		t.Errorf("UploadNotFoundException: %q", r.message())
	}
	d := a.pushLayer("app", []byte("x"))
	id = start()
	part(id, 0, []byte("x"))
	a.fails(a.call("CompleteLayerUpload", map[string]any{"repositoryName": "app", "uploadId": id, "layerDigests": []string{d}}), 400, "LayerAlreadyExistsException")
}

func TestCrossAccountDenied(t *testing.T) {
	a := newAPI(t, registry.Config{})
	a.ok("CreateRepository", map[string]any{"repositoryName": "app"})
	other, err := a.app.Identity.CreateAccount(context.Background(), "111122223333")
	if err != nil {
		t.Fatal(err)
	}
	r := a.raw("DescribeImages", []byte(`{"registryId":"000000000000","repositoryName":"app"}`), time.Now(), *other)
	a.fails(r, 400, "AccessDeniedException")
	if !strings.HasPrefix(r.message(), "User: arn:aws:iam::111122223333:user/admin is not authorized to perform: ecr:DescribeImages on resource: arn:aws:ecr:us-east-1:000000000000:repository/app") {
		t.Fatalf("message %q", r.message())
	}
	// Its own registry is its own: the repository there does not exist.
	a.fails(a.raw("DescribeImages", []byte(`{"repositoryName":"app"}`), time.Now(), *other), 400, "RepositoryNotFoundException")
}

// FuzzRequests sends arbitrary signed bodies to arbitrary operations: every answer must be a well-formed
// AWS JSON answer, never a panic or a 500.
func FuzzRequests(f *testing.F) {
	for _, s := range []struct{ op, body string }{
		{"CreateRepository", `{"repositoryName":"fuzz","tags":[{"Key":"a","Value":"b"}]}`},
		{"DescribeImages", `{"repositoryName":"fuzz","imageIds":[{"imageTag":"x"}],"filter":{"tagStatus":"ANY"}}`},
		{"PutImage", `{"repositoryName":"fuzz","imageManifest":"{\"schemaVersion\":2}","imageTag":"t"}`},
		{"UploadLayerPart", `{"repositoryName":"fuzz","uploadId":"x","partFirstByte":0,"partLastByte":-1,"layerPartBlob":"AAAA"}`},
		{"BatchDeleteImage", `{"repositoryName":"fuzz","imageIds":[{}]}`},
		{"DescribeRepositories", `{"nextToken":"a.b","maxResults":0}`},
		{"PutLifecyclePolicy", `{"repositoryName":"fuzz","lifecyclePolicyText":"{\"rules\":[{\"rulePriority\":1}]}"}`},
		{"GetLifecyclePolicyPreview", `{"repositoryName":"fuzz","maxResults":1000,"filter":{"tagStatus":"NONE"},"imageIds":[{"imageTag":"a"}]}`},
	} {
		f.Add(s.op, []byte(s.body))
	}
	a := newAPI(f, registry.Config{})
	f.Fuzz(func(t *testing.T, op string, body []byte) {
		a.t = t
		for _, c := range op {
			if c <= ' ' || c >= 0x7f {
				return // not a header value a client can send
			}
		}
		if len(body) > 1<<16 {
			return
		}
		r := a.raw(op, body, time.Now(), admin)
		if r.status >= 500 || (r.status != 200 && r.errCode() == "") {
			t.Fatalf("%s %q: %d %s", op, body, r.status, r.raw)
		}
	})
}

func TestLimits(t *testing.T) {
	a := newAPI(t, registry.Config{Limits: registry.Limits{RepositoriesPerRegistry: 1, ImagesPerRepository: 1}})
	a.ok("CreateRepository", map[string]any{"repositoryName": "one"})
	a.fails(a.call("CreateRepository", map[string]any{"repositoryName": "two"}), 400, "LimitExceededException")
	cfg := a.pushLayer("one", []byte(`{}`))
	image := func(n int) string {
		return fmt.Sprintf(`{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},"layers":[],"annotations":{"n":"%d"}}`, ociManifest, cfg, n)
	}
	a.ok("PutImage", map[string]any{"repositoryName": "one", "imageManifest": image(1), "imageTag": "a"})
	a.fails(a.call("PutImage", map[string]any{"repositoryName": "one", "imageManifest": image(2), "imageTag": "b"}), 400, "LimitExceededException")
}

// user creates an IAM user in the default account and returns its key.
func (a *api) user(name string) identity.Credentials {
	a.t.Helper()
	ctx := context.Background()
	if _, err := a.app.Identity.CreateUser(ctx, "000000000000", name); err != nil {
		a.t.Fatal(err)
	}
	c, err := a.app.Identity.CreateAccessKey(ctx, "000000000000", name)
	if err != nil {
		a.t.Fatal(err)
	}
	return *c
}

func (a *api) as(creds identity.Credentials, op string, in any) result {
	a.t.Helper()
	body, _ := json.Marshal(in)
	return a.raw(op, body, a.now(), creds)
}

func TestPolicies(t *testing.T) {
	a := newAPIAt(t, registry.Config{}, clock.NewFake(time.Now()))
	ctx := context.Background()
	a.ok("CreateRepository", map[string]any{"repositoryName": "team/app", "tags": []map[string]string{{"Key": "env", "Value": "dev"}}})
	bob := a.user("bob")

	r := a.as(bob, "DescribeImages", map[string]any{"repositoryName": "team/app"})
	a.fails(r, 400, "AccessDeniedException")
	if r.message() != "User: arn:aws:iam::000000000000:user/bob is not authorized to perform: ecr:DescribeImages on resource: arn:aws:ecr:us-east-1:000000000000:repository/team/app because no identity-based policy allows the ecr:DescribeImages action" {
		t.Fatalf("message %q", r.message())
	}
	r = a.as(bob, "GetAuthorizationToken", map[string]any{})
	if !strings.Contains(r.message(), "on resource: * because no identity-based policy allows the ecr:GetAuthorizationToken action") {
		t.Fatalf("GetAuthorizationToken: %s", r.raw)
	}

	// A managed policy.
	if err := a.app.Identity.AttachUserPolicy(ctx, "000000000000", "bob", "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(1100 * time.Millisecond) // changed outside the API: cached for up to a second
	if r := a.as(bob, "DescribeImages", map[string]any{"repositoryName": "team/app"}); r.status != 200 {
		t.Fatalf("ReadOnly DescribeImages: %s", r.raw)
	}
	a.fails(a.as(bob, "InitiateLayerUpload", map[string]any{"repositoryName": "team/app"}), 400, "AccessDeniedException")

	// A repository policy naming bob grants on its own (same account); a Deny wins over everything.
	a.ok("SetRepositoryPolicy", map[string]any{"repositoryName": "team/app", "policyText": `{"Version":"2012-10-17","Statement":[
		{"Sid":"bob pushes","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/bob"},"Action":["ecr:InitiateLayerUpload"]}]}`})
	if r := a.as(bob, "InitiateLayerUpload", map[string]any{"repositoryName": "team/app"}); r.status != 200 {
		t.Fatalf("repository policy grant: %s", r.raw)
	}
	a.ok("SetRepositoryPolicy", map[string]any{"repositoryName": "team/app", "policyText": `{"Version":"2012-10-17","Statement":[
		{"Effect":"Deny","Principal":"*","Action":"ecr:DescribeImages","Condition":{"StringEquals":{"aws:username":"bob"}}}]}`})
	r = a.as(bob, "DescribeImages", map[string]any{"repositoryName": "team/app"})
	if !strings.HasSuffix(r.message(), "with an explicit deny in a resource-based policy") {
		t.Fatalf("explicit deny: %s", r.raw)
	}
	text := a.ok("GetRepositoryPolicy", map[string]any{"repositoryName": "team/app"})["policyText"].(string)
	if !strings.Contains(text, `"Deny"`) {
		t.Fatalf("GetRepositoryPolicy: %s", text)
	}
	a.ok("DeleteRepositoryPolicy", map[string]any{"repositoryName": "team/app"})
	r = a.call("GetRepositoryPolicy", map[string]any{"repositoryName": "team/app"})
	a.fails(r, 400, "RepositoryPolicyNotFoundException")
	if r.message() != "Repository policy does not exist for the repository with name 'team/app' in the registry with id '000000000000'" {
		t.Fatalf("message %q", r.message())
	}
	for _, bad := range []string{`{"Statement":{"Effect":"Allow","Action":"ecr:*"}}`, `not json`, `{"Version":"2012-10-17","Statement":[]}`, `{"Statement":{"Effect":"Allow","Principal":"*","Action":"ecr:*","Padding":"` + strings.Repeat("x", 10240) + `"}}`} {
		r = a.call("SetRepositoryPolicy", map[string]any{"repositoryName": "team/app", "policyText": bad})
		a.fails(r, 400, "InvalidParameterException")
		if !strings.HasPrefix(r.message(), "Invalid parameter at 'PolicyText' failed to satisfy constraint:") {
			t.Fatalf("message %q", r.message())
		}
	}

	// Tag-based access control: bob may create repositories only tagged team=devs, and touch only dev ones.
	if err := a.app.Identity.PutUserPolicy(ctx, "000000000000", "bob", "tags", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["ecr:CreateRepository","ecr:TagResource"],"Resource":"*","Condition":{"StringEquals":{"aws:RequestTag/team":"devs"}}},
		{"Effect":"Allow","Action":"ecr:*","Resource":"*","Condition":{"StringEquals":{"ecr:ResourceTag/env":"dev"}}}]}`); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(1100 * time.Millisecond)
	a.fails(a.as(bob, "CreateRepository", map[string]any{"repositoryName": "untagged"}), 400, "AccessDeniedException")
	if r := a.as(bob, "CreateRepository", map[string]any{"repositoryName": "tagged", "tags": []map[string]string{{"Key": "team", "Value": "devs"}}}); r.status != 200 {
		t.Fatalf("tagged create: %s", r.raw)
	}
	if r := a.as(bob, "PutImageTagMutability", map[string]any{"repositoryName": "team/app", "imageTagMutability": "IMMUTABLE"}); r.status != 200 {
		t.Fatalf("dev repository: %s", r.raw)
	}
	a.fails(a.as(bob, "PutImageTagMutability", map[string]any{"repositoryName": "tagged", "imageTagMutability": "IMMUTABLE"}), 400, "AccessDeniedException")

	// A policy naming principals Wharf does not know is refused; so is one that would lock its setter out.
	r = a.call("SetRepositoryPolicy", map[string]any{"repositoryName": "team/app", "policyText": `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/nobody"},"Action":"ecr:*"}}`})
	if r.errCode() != "InvalidParameterException" || !strings.Contains(r.message(), "'Principal not found'") {
		t.Fatalf("unknown principal: %s", r.raw)
	}
	bobAdmin := a.user("bob-admin")
	if err := a.app.Identity.PutUserPolicy(ctx, "000000000000", "bob-admin", "repo", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecr:*Policy","Resource":"*"}}`); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(1100 * time.Millisecond)
	lockout := `{"Version":"2012-10-17","Statement":{"Effect":"Deny","Principal":"*","Action":"ecr:SetRepositoryPolicy"}}`
	r = a.as(bobAdmin, "SetRepositoryPolicy", map[string]any{"repositoryName": "team/app", "policyText": lockout})
	if r.errCode() != "InvalidParameterException" || !strings.Contains(r.message(), "force") {
		t.Fatalf("lock-out without force: %s", r.raw)
	}
	if r := a.as(bobAdmin, "SetRepositoryPolicy", map[string]any{"repositoryName": "team/app", "policyText": lockout, "force": true}); r.status != 200 {
		t.Fatalf("lock-out with force: %s", r.raw)
	}
	a.fails(a.as(bobAdmin, "SetRepositoryPolicy", map[string]any{"repositoryName": "team/app", "policyText": lockout, "force": true}), 400, "AccessDeniedException")
	a.ok("DeleteRepositoryPolicy", map[string]any{"repositoryName": "team/app"})

	// Registry policies of scope V1 accept replication and pull-through-cache grants only; of scope V2
	// (the default) any ECR action.
	pulls := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Resource":"*"}]}`
	a.ok("PutAccountSetting", map[string]any{"name": "REGISTRY_POLICY_SCOPE", "value": "V1"})
	a.ok("PutRegistryPolicy", map[string]any{"policyText": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":["ecr:ReplicateImage","ecr:CreateRepository"],"Resource":"*"}]}`})
	a.fails(a.call("PutRegistryPolicy", map[string]any{"policyText": pulls}), 400, "InvalidParameterException")
	a.ok("PutAccountSetting", map[string]any{"name": "REGISTRY_POLICY_SCOPE", "value": "V2"})
	a.ok("PutRegistryPolicy", map[string]any{"policyText": pulls})
	a.fails(a.call("PutRegistryPolicy", map[string]any{"policyText": strings.Replace(pulls, "ecr:BatchGetImage", "s3:GetObject", 1)}), 400, "InvalidParameterException")
	a.ok("GetRegistryPolicy", map[string]any{})
	a.ok("DeleteRegistryPolicy", map[string]any{})
	a.fails(a.call("GetRegistryPolicy", map[string]any{}), 400, "RegistryPolicyNotFoundException")
}

func TestCrossAccountByPolicy(t *testing.T) {
	a := newAPI(t, registry.Config{})
	a.ok("CreateRepository", map[string]any{"repositoryName": "shared"})
	other, err := a.app.Identity.CreateAccount(context.Background(), "444455556666")
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]any{"registryId": "000000000000", "repositoryName": "shared"}
	r := a.as(*other, "InitiateLayerUpload", in)
	if !strings.HasSuffix(r.message(), "because no resource-based policy allows the ecr:InitiateLayerUpload action") {
		t.Fatalf("cross-account without a repository policy: %s", r.raw)
	}
	a.ok("SetRepositoryPolicy", map[string]any{"repositoryName": "shared", "policyText": `{"Version":"2012-10-17","Statement":[
		{"Sid":"AllowCrossAccountPush","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},
		 "Action":["ecr:BatchCheckLayerAvailability","ecr:CompleteLayerUpload","ecr:InitiateLayerUpload","ecr:PutImage","ecr:UploadLayerPart","ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`})
	if r := a.as(*other, "InitiateLayerUpload", in); r.status != 200 {
		t.Fatalf("cross-account push allowed by the repository policy: %s", r.raw)
	}
	a.fails(a.as(*other, "DeleteRepository", in), 400, "AccessDeniedException")
	// Its own token opens the other registry's repository on the registry API too.
	tok := a.as(*other, "GetAuthorizationToken", map[string]any{}).body["authorizationData"].([]any)[0].(map[string]any)["authorizationToken"].(string)
	req, _ := http.NewRequest("GET", a.url+"/v2/shared/tags/list", nil)
	req.Header.Set("Authorization", "Basic "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 403 { // ListImages is not granted
		t.Fatalf("tags/list without ecr:ListImages: %d", res.StatusCode)
	}
	req, _ = http.NewRequest("POST", a.url+"/v2/shared/blobs/uploads/", nil)
	req.Header.Set("Authorization", "Basic "+tok)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 202 {
		t.Fatalf("cross-account upload start: %d", res.StatusCode)
	}
}

func TestCatalogShowsWhatCallerMaySee(t *testing.T) {
	a := newAPIAt(t, registry.Config{}, clock.NewFake(time.Now()))
	for _, n := range []string{"a/one", "a/two", "b/three"} {
		a.ok("CreateRepository", map[string]any{"repositoryName": n})
	}
	carol := a.user("carol")
	if err := a.app.Identity.PutUserPolicy(context.Background(), "000000000000", "carol", "a-only", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"ecr:GetAuthorizationToken","Resource":"*"},
		{"Effect":"Allow","Action":"ecr:DescribeRepositories","Resource":"arn:aws:ecr:us-east-1:000000000000:repository/a/*"}]}`); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(1100 * time.Millisecond)
	r := a.as(carol, "GetAuthorizationToken", map[string]any{})
	tok := r.body["authorizationData"].([]any)[0].(map[string]any)["authorizationToken"].(string)
	get := func(path string) (int, string) {
		req, _ := http.NewRequest("GET", a.url+path, nil)
		req.Header.Set("Authorization", "Basic "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body) + " " + res.Header.Get("Link")
	}
	if code, body := get("/v2/_catalog"); code != 200 || !strings.HasPrefix(body, `{"repositories":["a/one","a/two"]}`) {
		t.Fatalf("catalog: %d %s", code, body)
	}
	// Pages and their Link headers name only what carol may see: walking the catalog one name at a time
	// never reveals b/three, and no Link says that more names follow the last she may see.
	if code, body := get("/v2/_catalog?n=1"); code != 200 || !strings.Contains(body, `["a/one"]`) || !strings.Contains(body, "last=a%2Fone") {
		t.Fatalf("catalog first page: %d %s", code, body)
	}
	if code, body := get("/v2/_catalog?n=1&last=a%2Fone"); code != 200 || !strings.HasSuffix(body, `{"repositories":["a/two"]} `) {
		t.Fatalf("catalog second page: %d %s", code, body)
	}
	if code, body := get("/v2/_catalog?n=2"); code != 200 || !strings.HasSuffix(body, `{"repositories":["a/one","a/two"]} `) {
		t.Fatalf("catalog page: %d %s", code, body)
	}
	if code, body := get("/v2/_catalog?n=2&last=a/two"); code != 200 || !strings.HasPrefix(body, `{"repositories":[]}`) {
		t.Fatalf("catalog last page: %d %s", code, body)
	}
	if code, _ := get("/v2/b/three/tags/list"); code != 403 {
		t.Fatalf("tags/list of a repository carol may not list: %d", code)
	}
}

// TestListLengths holds lists to the bounds of ECR's model, with its message.
func TestListLengths(t *testing.T) {
	a := newAPI(t, registry.Config{})
	a.ok("CreateRepository", map[string]any{"repositoryName": "app"})
	ids := make([]map[string]string, 101)
	digests := make([]string, 101)
	for i := range ids {
		ids[i] = map[string]string{"imageTag": fmt.Sprintf("t%d", i)}
		digests[i] = "sha256:" + strings.Repeat("a", 64)
	}
	tooMany := func(member string, max int) string {
		return fmt.Sprintf("Invalid parameter at '%s' failed to satisfy constraint: 'Member must have length less than or equal to %d'", member, max)
	}
	for _, tc := range []struct {
		op   string
		in   map[string]any
		want string
	}{
		{"BatchGetImage", map[string]any{"repositoryName": "app", "imageIds": ids}, tooMany("imageIds", 100)},
		{"BatchDeleteImage", map[string]any{"repositoryName": "app", "imageIds": ids}, tooMany("imageIds", 100)},
		{"BatchGetImage", map[string]any{"repositoryName": "app", "imageIds": []any{}}, "Invalid parameter at 'imageIds' failed to satisfy constraint: 'Member must have length greater than or equal to 1'"},
		{"BatchGetImage", map[string]any{"repositoryName": "app", "imageIds": ids[:1], "acceptedMediaTypes": digests}, tooMany("acceptedMediaTypes", 100)},
		{"DescribeImages", map[string]any{"repositoryName": "app", "imageIds": ids}, tooMany("imageIds", 100)},
		{"BatchCheckLayerAvailability", map[string]any{"repositoryName": "app", "layerDigests": digests}, tooMany("layerDigests", 100)},
		{"GetAuthorizationToken", map[string]any{"registryIds": digests[:11]}, tooMany("registryIds", 10)},
		{"GetAuthorizationToken", map[string]any{"registryIds": []string{"123"}}, "Invalid parameter at 'registryIds' failed to satisfy constraint: 'must satisfy regular expression '[0-9]{12}''"},
	} {
		r := a.call(tc.op, tc.in)
		a.fails(r, 400, "InvalidParameterException")
		if r.message() != tc.want {
			t.Errorf("%s: %q, want %q", tc.op, r.message(), tc.want)
		}
	}
	// At the bound, the call is served.
	if out := a.ok("BatchGetImage", map[string]any{"repositoryName": "app", "imageIds": ids[:100]}); len(out["failures"].([]any)) != 100 {
		t.Errorf("BatchGetImage of 100 missing images: %v", out)
	}
}

// TestMalformedRegistryID: ECR checks registryId's pattern before it authorizes anything.
func TestMalformedRegistryID(t *testing.T) {
	a := newAPI(t, registry.Config{})
	want := "Invalid parameter at 'registryId' failed to satisfy constraint: 'must satisfy regular expression '[0-9]{12}''"
	for _, op := range []string{"CreateRepository", "DescribeRepositories", "DescribeImages", "StartImageScan", "SetRepositoryPolicy"} {
		r := a.call(op, map[string]any{"registryId": "123", "repositoryName": "app"})
		if r.errCode() != "InvalidParameterException" || r.message() != want {
			t.Errorf("%s with registryId 123: %d %s", op, r.status, r.raw)
		}
	}
}

// TestUploadIDIsUUID: ECR's model gives uploadId the pattern of a UUID.
func TestUploadIDIsUUID(t *testing.T) {
	a := newAPI(t, registry.Config{})
	a.ok("CreateRepository", map[string]any{"repositoryName": "app"})
	id := a.ok("InitiateLayerUpload", map[string]any{"repositoryName": "app"})["uploadId"].(string)
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(id) {
		t.Fatalf("uploadId %q is not a UUID", id)
	}
}

// TestPutImageJSONSyntax: a manifest that is not JSON, or that says no mediaType when PutImage gives none
// (the well-known retag failure), is refused with ECR's text.
func TestPutImageJSONSyntax(t *testing.T) {
	a := newAPI(t, registry.Config{})
	a.ok("CreateRepository", map[string]any{"repositoryName": "app"})
	untyped := `{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + strings.Repeat("a", 64) + `","size":2},"layers":[]}`
	for _, body := range []string{"not json", `{"schemaVersion":2`, untyped} {
		r := a.call("PutImage", map[string]any{"repositoryName": "app", "imageTag": "v1", "imageManifest": body})
		a.fails(r, 400, "InvalidParameterException")
		if want := "Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'"; r.message() != want {
			t.Errorf("PutImage of %q: %q, want %q", body, r.message(), want)
		}
	}
	// Given its type, the same manifest is checked further (its config is not in the repository).
	r := a.call("PutImage", map[string]any{"repositoryName": "app", "imageTag": "v1", "imageManifest": untyped,
		"imageManifestMediaType": "application/vnd.oci.image.manifest.v1+json"})
	if r.errCode() != "LayersNotFoundException" {
		t.Errorf("PutImage of a typed manifest with a missing config: %s", r.raw)
	}
}

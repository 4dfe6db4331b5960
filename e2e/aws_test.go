package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"
)

// awsFails runs an aws CLI command that must fail with an AWS error code.
func (s *wharfProc) awsFails(code string, args ...string) string {
	s.t.Helper()
	out, err := runEnv(s.t, s.awsEnv(), nil, tool(s.t, "aws"), args...)
	if err == nil || !strings.Contains(out, "("+code+")") {
		s.t.Fatalf("aws %s: want %s, got %v\n%s", strings.Join(args, " "), code, err, out)
	}
	return out
}

func jsonOf(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
}

// TestAWSCLIWalkthrough runs the user guide's CLI walkthroughs with the real aws CLI, a registry client in
// docker's place.
func TestAWSCLIWalkthrough(t *testing.T) {
	crane := tool(t, "crane")
	s := startServer(t, t.TempDir())
	var created struct{ Repository map[string]any }
	jsonOf(t, s.aws("ecr", "create-repository", "--repository-name", "my-awesome-app", "--image-tag-mutability", "IMMUTABLE",
		"--image-scanning-configuration", "scanOnPush=true", "--tags", "Key=team,Value=devs"), &created)
	r := created.Repository
	if r["repositoryUri"] != s.addr+"/my-awesome-app" || r["imageTagMutability"] != "IMMUTABLE" ||
		r["imageScanningConfiguration"].(map[string]any)["scanOnPush"] != true || r["registryId"] != "000000000000" {
		t.Fatalf("create-repository: %v", r)
	}
	s.login() // aws ecr get-login-password | crane/oras/skopeo login --password-stdin
	work := t.TempDir()
	ref := s.addr + "/my-awesome-app"
	for i := 1; i <= 5; i++ {
		run(t, crane, "append", "--insecure", "-f", writeTar(t, work, fmt.Sprintf("f%d", i), []byte(fmt.Sprint("file ", i))), "-t", fmt.Sprintf("%s:v%d", ref, i))
	}

	var images struct{ ImageDetails []map[string]any }
	jsonOf(t, s.aws("ecr", "describe-images", "--repository-name", "my-awesome-app", "--page-size", "2"), &images)
	if len(images.ImageDetails) != 5 {
		t.Fatalf("describe-images --page-size 2 returned %d of 5 images", len(images.ImageDetails))
	}
	for _, d := range images.ImageDetails {
		if d["imageSizeInBytes"].(float64) <= 0 || d["imagePushedAt"] == nil || d["imageManifestMediaType"] == "" || len(d["imageTags"].([]any)) != 1 {
			t.Fatalf("image detail %v", d)
		}
	}
	if ids := s.aws("ecr", "list-images", "--repository-name", "my-awesome-app", "--filter", "tagStatus=TAGGED", "--query", "length(imageIds)"); strings.TrimSpace(ids) != "5" {
		t.Fatalf("list-images: %s", ids)
	}

	// Retag without pulling or pushing: batch-get-image, then put-image with the manifest.
	manifest := strings.TrimSpace(s.aws("ecr", "batch-get-image", "--repository-name", "my-awesome-app", "--image-ids", "imageTag=v1",
		"--output", "text", "--query", "images[].imageManifest"))
	s.aws("ecr", "put-image", "--repository-name", "my-awesome-app", "--image-tag", "release", "--image-manifest", manifest)
	if d1, d2 := run(t, crane, "digest", "--insecure", ref+":v1"), run(t, crane, "digest", "--insecure", ref+":release"); d1 != d2 {
		t.Fatalf("retagged image has another digest: %s %s", d1, d2)
	}
	// The repository is immutable: v1 cannot point at another image, by put-image or by a push.
	other := strings.TrimSpace(s.aws("ecr", "batch-get-image", "--repository-name", "my-awesome-app", "--image-ids", "imageTag=v2",
		"--output", "text", "--query", "images[].imageManifest"))
	out := s.awsFails("ImageTagAlreadyExistsException", "ecr", "put-image", "--repository-name", "my-awesome-app", "--image-tag", "v1", "--image-manifest", other)
	if !strings.Contains(out, "The image tag 'v1' already exists in the 'my-awesome-app' repository and cannot be overwritten because the repository is immutable.") {
		t.Fatalf("message: %s", out)
	}
	if out, err := runEnv(t, nil, nil, crane, "copy", "--insecure", ref+":v2", ref+":v1"); err == nil || !strings.Contains(out, "cannot be overwritten because the repository is immutable") {
		t.Fatalf("pushing over an immutable tag: %v\n%s", err, out)
	}
	s.awsFails("ImageAlreadyExistsException", "ecr", "put-image", "--repository-name", "my-awesome-app", "--image-tag", "release", "--image-manifest", manifest)

	// Delete by tag (the image stays while it has tags) and by digest (the image and all its tags).
	var del struct {
		ImageIds []map[string]string
		Failures []map[string]any
	}
	jsonOf(t, s.aws("ecr", "batch-delete-image", "--repository-name", "my-awesome-app", "--image-ids", "imageTag=release", "imageTag=nope"), &del)
	if len(del.ImageIds) != 1 || len(del.Failures) != 1 || del.Failures[0]["failureCode"] != "ImageNotFound" {
		t.Fatalf("batch-delete-image by tag: %+v", del)
	}
	run(t, crane, "digest", "--insecure", ref+":v1")
	d2 := strings.TrimSpace(run(t, crane, "digest", "--insecure", ref+":v2"))
	jsonOf(t, s.aws("ecr", "batch-delete-image", "--repository-name", "my-awesome-app", "--image-ids", "imageDigest="+d2), &del)
	if len(del.ImageIds) != 1 || len(del.Failures) != 0 {
		t.Fatalf("batch-delete-image by digest: %+v", del)
	}
	s.awsFails("ImageNotFoundException", "ecr", "describe-images", "--repository-name", "my-awesome-app", "--image-ids", "imageDigest="+d2)

	// The seed's curl example with the authorization token.
	token := strings.TrimSpace(s.aws("ecr", "get-authorization-token", "--output", "text", "--query", "authorizationData[].authorizationToken"))
	req, _ := http.NewRequest("GET", "http://"+s.addr+"/v2/my-awesome-app/tags/list", nil)
	req.Header.Set("Authorization", "Basic "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `"v1"`) || strings.Contains(string(body), `"v2"`) {
		t.Fatalf("curl tags/list: %d %s", res.StatusCode, body)
	}

	s.aws("ecr", "tag-resource", "--resource-arn", "arn:aws:ecr:us-east-1:000000000000:repository/my-awesome-app", "--tags", "Key=env,Value=prod")
	if tags := s.aws("ecr", "list-tags-for-resource", "--resource-arn", "arn:aws:ecr:us-east-1:000000000000:repository/my-awesome-app", "--query", "length(tags)"); strings.TrimSpace(tags) != "2" {
		t.Fatalf("tags: %s", tags)
	}
	s.aws("ecr", "put-image-tag-mutability", "--repository-name", "my-awesome-app", "--image-tag-mutability", "MUTABLE")
	s.aws("ecr", "put-image-scanning-configuration", "--repository-name", "my-awesome-app", "--image-scanning-configuration", "scanOnPush=false")
	s.aws("ecr", "describe-registry")

	s.awsFails("RepositoryNotEmptyException", "ecr", "delete-repository", "--repository-name", "my-awesome-app")
	s.aws("ecr", "delete-repository", "--repository-name", "my-awesome-app", "--force")
	s.awsFails("RepositoryNotFoundException", "ecr", "describe-repositories", "--repository-names", "my-awesome-app")

	// Wrong credentials are refused with AWS's errors.
	env := append(s.awsEnv(), "AWS_SECRET_ACCESS_KEY=wrong")
	if out, err := runEnv(t, env, nil, tool(t, "aws"), "ecr", "describe-repositories"); err == nil || !strings.Contains(out, "InvalidSignatureException") {
		t.Fatalf("wrong secret: %v %s", err, out)
	}
}

// TestBoto3 runs the same flows through boto3, including the layer upload operations and a paginator.
func TestBoto3(t *testing.T) {
	python := tool(t, "python3")
	s := startServer(t, t.TempDir())
	script := filepath.Join(t.TempDir(), "flow.py")
	os.WriteFile(script, []byte(boto3Flow), 0o644)
	out, err := runEnv(t, append(s.awsEnv(), "WHARF_ADDR="+s.addr), nil, python, script)
	if err != nil || !strings.Contains(out, "boto3 flow ok") {
		t.Fatalf("boto3: %v\n%s", err, out)
	}
}

const boto3Flow = `
import base64, hashlib, json, os, urllib.request
import boto3
from botocore.exceptions import ClientError

ecr = boto3.client("ecr")  # endpoint from AWS_ENDPOINT_URL_ECR
repo = ecr.create_repository(repositoryName="team/boto", tags=[{"Key": "team", "Value": "devs"}])["repository"]
assert repo["repositoryArn"] == "arn:aws:ecr:us-east-1:000000000000:repository/team/boto", repo
assert repo["createdAt"].year >= 2024, repo["createdAt"]

def push_layer(data):
    up = ecr.initiate_layer_upload(repositoryName="team/boto")
    part = 5 * 1024 * 1024
    for first in range(0, len(data), part):
        chunk = data[first:first + part]
        r = ecr.upload_layer_part(repositoryName="team/boto", uploadId=up["uploadId"], partFirstByte=first,
                                  partLastByte=first + len(chunk) - 1, layerPartBlob=chunk)
        assert r["lastByteReceived"] == first + len(chunk) - 1, r
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    done = ecr.complete_layer_upload(repositoryName="team/boto", uploadId=up["uploadId"], layerDigests=[digest])
    assert done["layerDigest"] == digest, done
    return digest

config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
layer = os.urandom(6 * 1024 * 1024 + 123)
cd, ld = push_layer(config), push_layer(layer)
for i in range(5):
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": len(layer)}],
        "annotations": {"n": str(i)}})
    ecr.put_image(repositoryName="team/boto", imageManifest=manifest, imageTag="t%d" % i)

pages = ecr.get_paginator("describe_images").paginate(repositoryName="team/boto", PaginationConfig={"PageSize": 2})
details = [d for p in pages for d in p["imageDetails"]]
assert len(details) == 5, len(details)
assert all(d["imageSizeInBytes"] == len(config) + len(layer) for d in details), details

avail = ecr.batch_check_layer_availability(repositoryName="team/boto", layerDigests=[ld])
assert avail["layers"][0]["layerAvailability"] == "AVAILABLE", avail
url = ecr.get_download_url_for_layer(repositoryName="team/boto", layerDigest=ld)["downloadUrl"]
assert urllib.request.urlopen(url).read() == layer

try:
    ecr.describe_repositories(repositoryNames=["nope"])
    raise SystemExit("describe of a missing repository succeeded")
except ClientError as e:
    assert e.response["Error"]["Code"] == "RepositoryNotFoundException", e.response
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400

token = ecr.get_authorization_token()["authorizationData"][0]
user, password = base64.b64decode(token["authorizationToken"]).decode().split(":", 1)
assert user == "AWS"
req = urllib.request.Request("http://%s/v2/team/boto/tags/list" % os.environ["WHARF_ADDR"], headers={"Authorization": "Basic " + token["authorizationToken"]})
assert json.load(urllib.request.urlopen(req))["tags"] == ["t0", "t1", "t2", "t3", "t4"]
ecr.delete_repository(repositoryName="team/boto", force=True)
print("boto3 flow ok")
`

// TestGoSDK drives the API with the AWS SDK for Go v2 ECR client.
func TestGoSDK(t *testing.T) {
	s := startServer(t, t.TempDir())
	ctx := context.Background()
	client := ecr.New(ecr.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://" + s.addr),
		Credentials:  credentials.NewStaticCredentialsProvider(adminKeyID, adminSecret, ""),
	})
	for i := 0; i < 3; i++ {
		if _, err := client.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(fmt.Sprintf("go/sdk-%d", i)),
			ImageTagMutability: types.ImageTagMutabilityImmutable}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	p := ecr.NewDescribeRepositoriesPaginator(client, &ecr.DescribeRepositoriesInput{MaxResults: aws.Int32(1)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Repositories {
			names = append(names, *r.RepositoryName)
			if r.ImageTagMutability != types.ImageTagMutabilityImmutable || r.CreatedAt == nil {
				t.Fatalf("repository %+v", r)
			}
		}
	}
	if len(names) != 3 {
		t.Fatalf("paginated %v", names)
	}
	_, err := client.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("go/sdk-0")})
	var exists *types.RepositoryAlreadyExistsException
	if !errors.As(err, &exists) {
		t.Fatalf("duplicate: %v", err)
	}
	var apiErr smithy.APIError
	_, err = client.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("go/none")})
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "RepositoryNotFoundException" {
		t.Fatalf("missing repository: %v", err)
	}
	tok, err := client.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		t.Fatal(err)
	}
	d := tok.AuthorizationData[0]
	raw, _ := base64.StdEncoding.DecodeString(*d.AuthorizationToken)
	if !strings.HasPrefix(string(raw), "AWS:") || d.ExpiresAt == nil || *d.ProxyEndpoint != "http://"+s.addr {
		t.Fatalf("authorization data %+v", d)
	}
	req, _ := http.NewRequest("GET", "http://"+s.addr+"/v2/_catalog", nil)
	req.SetBasicAuth("AWS", strings.TrimPrefix(string(raw), "AWS:"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "go/sdk-2") {
		t.Fatalf("catalog with the SDK's token: %d %s", res.StatusCode, body)
	}
	// A different layer each run keeps the uploads honest.
	data := make([]byte, 1000)
	rand.Read(data)
	up, err := client.InitiateLayerUpload(ctx, &ecr.InitiateLayerUploadInput{RepositoryName: aws.String("go/sdk-0")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.UploadLayerPart(ctx, &ecr.UploadLayerPartInput{RepositoryName: aws.String("go/sdk-0"), UploadId: up.UploadId,
		PartFirstByte: aws.Int64(0), PartLastByte: aws.Int64(999), LayerPartBlob: data}); err != nil {
		t.Fatal(err)
	}
	_, err = client.CompleteLayerUpload(ctx, &ecr.CompleteLayerUploadInput{RepositoryName: aws.String("go/sdk-0"), UploadId: up.UploadId,
		LayerDigests: []string{"sha256:" + strings.Repeat("0", 64)}})
	var invalid *types.InvalidLayerException
	if !errors.As(err, &invalid) {
		t.Fatalf("wrong digest: %v", err)
	}

	// An image written only through the ECR API pulls with a registry client, byte for byte.
	layerTar := writeTar(t, t.TempDir(), "sdk.txt", []byte("written through the ECR API\n"))
	layer, _ := os.ReadFile(layerTar)
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:` + sha256Hex(layer) + `"]}}`)
	for _, blob := range [][]byte{layer, config} {
		up, err := client.InitiateLayerUpload(ctx, &ecr.InitiateLayerUploadInput{RepositoryName: aws.String("go/sdk-1")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.UploadLayerPart(ctx, &ecr.UploadLayerPartInput{RepositoryName: aws.String("go/sdk-1"), UploadId: up.UploadId,
			PartFirstByte: aws.Int64(0), PartLastByte: aws.Int64(int64(len(blob) - 1)), LayerPartBlob: blob}); err != nil {
			t.Fatal(err)
		}
		if _, err := client.CompleteLayerUpload(ctx, &ecr.CompleteLayerUploadInput{RepositoryName: aws.String("go/sdk-1"), UploadId: up.UploadId,
			LayerDigests: []string{"sha256:" + sha256Hex(blob)}}); err != nil {
			t.Fatal(err)
		}
	}
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%d}]}`,
		sha256Hex(config), len(config), sha256Hex(layer), len(layer))
	if _, err := client.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("go/sdk-1"), ImageManifest: aws.String(manifest), ImageTag: aws.String("v1")}); err != nil {
		t.Fatal(err)
	}
	s.login()
	if out := run(t, tool(t, "crane"), "export", "--insecure", s.addr+"/go/sdk-1:v1", "-"); !strings.Contains(out, "written through the ECR API") {
		t.Fatal("crane cannot read an image written through the ECR API")
	}
	if got := run(t, tool(t, "crane"), "manifest", "--insecure", s.addr+"/go/sdk-1:v1"); got != manifest {
		t.Fatalf("manifest bytes changed:\n%s\n%s", got, manifest)
	}
}

// shortCaches are flags of servers whose tests change keys and policies with `wharf admin`, another
// process: the server sees the changes once its cached keys and policies expire, after shortCacheTTL.
var shortCaches = []string{"--key-cache-ttl", "200ms", "--policy-cache-ttl", "200ms"}

const shortCacheTTL = 300 * time.Millisecond

// TestFirstStartAndAdmin starts Wharf with no credentials given: it writes the admin's key to
// <data-dir>/admin-credentials, which the aws CLI reads as it is; `wharf admin` then creates another
// account whose key works on that account's own registry, chosen by an ECR-style host name.
func TestFirstStartAndAdmin(t *testing.T) {
	dir := t.TempDir()
	// Changes made by `wharf admin` (another process) apply within the caches' lifetimes, set short.
	s := &wharfProc{t: t, dir: dir, addr: freeAddr(t), args: shortCaches}
	s.log = nil
	s.startWithEnv(nil)
	t.Cleanup(s.stop)
	creds := filepath.Join(dir, "admin-credentials")
	fi, err := os.Stat(creds)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin-credentials: %v %v", fi, err)
	}
	if !strings.Contains(s.log.String(), "AWS_ACCESS_KEY_ID=AKIA") {
		t.Fatalf("first start did not print the admin key:\n%s", s.log)
	}
	env := []string{"AWS_SHARED_CREDENTIALS_FILE=" + creds, "AWS_CONFIG_FILE=/dev/null", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_ENDPOINT_URL_ECR=http://" + s.addr, "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY="}
	if out, err := runEnv(t, env, nil, tool(t, "aws"), "ecr", "create-repository", "--repository-name", "first"); err != nil {
		t.Fatalf("aws with admin-credentials: %v\n%s", err, out)
	}
	// A restart keeps the key and prints nothing new.
	s.stop()
	s.startWithEnv(nil)
	if strings.Contains(s.log.String(), "AWS_ACCESS_KEY_ID=") {
		t.Fatal("a restart created another admin key")
	}

	var key struct{ AccessKeyId, SecretAccessKey string }
	jsonOf(t, s.wharf("admin", "create-account", "--account-id", "111122223333"), &key)
	if !strings.HasPrefix(key.AccessKeyId, "AKIA") || key.SecretAccessKey == "" {
		t.Fatalf("create-account printed %+v", key)
	}
	other := []string{"AWS_ACCESS_KEY_ID=" + key.AccessKeyId, "AWS_SECRET_ACCESS_KEY=" + key.SecretAccessKey, "AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_DEFAULT_REGION=us-east-1", "AWS_ENDPOINT_URL_ECR=http://" + s.addr}
	out, err := runEnv(t, other, nil, tool(t, "aws"), "ecr", "create-repository", "--repository-name", "theirs", "--query", "repository.repositoryArn", "--output", "text")
	if err != nil || strings.TrimSpace(out) != "arn:aws:ecr:us-east-1:111122223333:repository/theirs" {
		t.Fatalf("the new account's repository: %v %s", err, out)
	}
	out, err = runEnv(t, other, nil, tool(t, "aws"), "ecr", "describe-repositories", "--registry-id", "000000000000")
	if err == nil || !strings.Contains(out, "AccessDeniedException") {
		t.Fatalf("another account's registry: %v %s", err, out)
	}
	pw, err := runEnv(t, other, nil, tool(t, "aws"), "ecr", "get-login-password")
	if err != nil {
		t.Fatal(err)
	}
	// The registry of account 111122223333, addressed by its ECR host name.
	req, _ := http.NewRequest("GET", "http://"+s.addr+"/v2/_catalog", nil)
	req.Host = "111122223333.dkr.ecr.us-east-1.example.com"
	req.Header.Set("Authorization", basicAuth(strings.TrimSpace(pw)))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != `{"repositories":["theirs"]}` {
		t.Fatalf("catalog by ECR host: %d %s", res.StatusCode, body)
	}
	// Users and keys made while the server runs work at once; a deleted key stops.
	s.wharf("admin", "create-user", "--account-id", "111122223333", "bob")
	jsonOf(t, s.wharf("admin", "create-access-key", "--account-id", "111122223333", "bob"), &key)
	if out, err := runEnv(t, []string{"AWS_ACCESS_KEY_ID=" + key.AccessKeyId, "AWS_SECRET_ACCESS_KEY=" + key.SecretAccessKey, "AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_DEFAULT_REGION=us-east-1", "AWS_ENDPOINT_URL_ECR=http://" + s.addr}, nil, tool(t, "aws"), "ecr", "describe-repositories"); err == nil ||
		!strings.Contains(out, "User: arn:aws:iam::111122223333:user/bob is not authorized to perform: ecr:DescribeRepositories on resource: arn:aws:ecr:us-east-1:111122223333:repository/* because no identity-based policy allows the ecr:DescribeRepositories action") {
		t.Fatalf("a user without policies: %v %s", err, out)
	}
	s.wharf("admin", "attach-user-policy", "--account-id", "111122223333", "--policy-arn", "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly", "bob")
	time.Sleep(shortCacheTTL) // policies another process changed show within --policy-cache-ttl
	bob := []string{"AWS_ACCESS_KEY_ID=" + key.AccessKeyId, "AWS_SECRET_ACCESS_KEY=" + key.SecretAccessKey, "AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_DEFAULT_REGION=us-east-1", "AWS_ENDPOINT_URL_ECR=http://" + s.addr}
	if out, err := runEnv(t, bob, nil, tool(t, "aws"), "ecr", "describe-repositories"); err != nil || !strings.Contains(out, "theirs") {
		t.Fatalf("bob: %v %s", err, out)
	}
	s.wharf("admin", "delete-access-key", key.AccessKeyId)
	deadline := time.Now().Add(15 * time.Second) // key lookups are cached for --key-cache-ttl
	for {
		out, err := runEnv(t, bob, nil, tool(t, "aws"), "ecr", "describe-repositories")
		if err != nil && strings.Contains(out, "UnrecognizedClientException") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a deleted key still works: %v %s", err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestGuideGettingStarted follows the user guide's "Using the AWS CLI with Amazon ECR" chapter step by
// step: get-login, create-repository, push, pull, batch-delete-image by tag, delete-repository --force.
func TestGuideGettingStarted(t *testing.T) {
	crane := tool(t, "crane")
	s := startServer(t, t.TempDir())
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	// Step 1: the docker login command that get-login prints, run with crane.
	login := strings.Fields(s.aws("ecr", "get-login", "--region", "us-east-1", "--no-include-email"))
	if len(login) != 7 || strings.Join(login[:5], " ") != "docker login -u AWS -p" || login[6] != "http://"+s.addr {
		t.Fatalf("get-login printed %q", login)
	}
	run(t, crane, "auth", "login", s.addr, "-u", "AWS", "-p", login[5])
	// Step 3: create a repository.
	var created struct{ Repository map[string]any }
	jsonOf(t, s.aws("ecr", "create-repository", "--repository-name", "ubuntu"), &created)
	if created.Repository["repositoryArn"] != "arn:aws:ecr:us-east-1:000000000000:repository/ubuntu" {
		t.Fatalf("create-repository: %v", created)
	}
	// Steps 4 and 5: push and pull.
	ref := s.addr + "/ubuntu:trusty"
	run(t, crane, "append", "--insecure", "-f", writeTar(t, t.TempDir(), "etc-os-release", []byte("NAME=Ubuntu\n")), "-t", ref)
	if !strings.Contains(run(t, crane, "export", "--insecure", ref, "-"), "NAME=Ubuntu") {
		t.Fatal("pull returned other content")
	}
	// Step 6: delete the image by tag.
	var del struct {
		ImageIds []map[string]string
		Failures []any
	}
	jsonOf(t, s.aws("ecr", "batch-delete-image", "--repository-name", "ubuntu", "--image-ids", "imageTag=trusty"), &del)
	if len(del.ImageIds) != 1 || del.ImageIds[0]["imageTag"] != "trusty" || len(del.Failures) != 0 {
		t.Fatalf("batch-delete-image: %+v", del)
	}
	// Step 7: delete the repository.
	s.aws("ecr", "delete-repository", "--repository-name", "ubuntu", "--force")
	s.awsFails("RepositoryNotFoundException", "ecr", "describe-repositories", "--repository-names", "ubuntu")
}

// TestIAMWithAWSCLI manages a user with `aws iam` and `aws sts`, then uses the user's key with the policies
// given to it: the notes' minimal push policy lets it push to one repository and nothing else.
func TestIAMWithAWSCLI(t *testing.T) {
	s := startServer(t, t.TempDir())
	iamArgs := func(args ...string) []string { return append(args, "--endpoint-url", "http://"+s.addr) }
	var who struct{ Arn, Account string }
	jsonOf(t, s.aws(iamArgs("sts", "get-caller-identity")...), &who)
	if who.Arn != "arn:aws:iam::000000000000:user/admin" || who.Account != "000000000000" {
		t.Fatalf("get-caller-identity: %+v", who)
	}
	// Without --user-name, GetUser and ListAccessKeys answer for the caller itself.
	if out := s.aws(iamArgs("iam", "get-user", "--query", "User.UserName", "--output", "text")...); strings.TrimSpace(out) != "admin" {
		t.Fatalf("get-user of the caller: %s", out)
	}
	if out := s.aws(iamArgs("iam", "list-access-keys", "--query", "AccessKeyMetadata[0].UserName", "--output", "text")...); strings.TrimSpace(out) != "admin" {
		t.Fatalf("list-access-keys of the caller: %s", out)
	}
	s.aws(iamArgs("iam", "create-user", "--user-name", "ci")...)
	s.awsFails("EntityAlreadyExists", iamArgs("iam", "create-user", "--user-name", "ci")...)
	var key struct {
		AccessKey struct{ AccessKeyId, SecretAccessKey string }
	}
	jsonOf(t, s.aws(iamArgs("iam", "create-access-key", "--user-name", "ci")...), &key)
	ci := []string{"AWS_ACCESS_KEY_ID=" + key.AccessKey.AccessKeyId, "AWS_SECRET_ACCESS_KEY=" + key.AccessKey.SecretAccessKey,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_DEFAULT_REGION=us-east-1", "AWS_ENDPOINT_URL_ECR=http://" + s.addr}
	asCI := func(args ...string) (string, error) { return runEnv(t, ci, nil, tool(t, "aws"), args...) }

	s.aws("ecr", "create-repository", "--repository-name", "my-awesome-app")
	s.aws("ecr", "create-repository", "--repository-name", "other-app")
	if out, err := asCI("ecr", "describe-repositories"); err == nil || !strings.Contains(out, "AccessDeniedException") {
		t.Fatalf("a user without policies: %v %s", err, out)
	}
	// The practitioner's notes' minimal push policy.
	policy := `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["ecr:GetDownloadUrlForLayer","ecr:BatchGetImage","ecr:BatchCheckLayerAvailability","ecr:PutImage",
		 "ecr:InitiateLayerUpload","ecr:UploadLayerPart","ecr:CompleteLayerUpload"],
		 "Resource":"arn:aws:ecr:us-east-1:000000000000:repository/my-awesome-app"},
		{"Effect":"Allow","Action":"ecr:GetAuthorizationToken","Resource":"*"}]}`
	s.aws(iamArgs("iam", "put-user-policy", "--user-name", "ci", "--policy-name", "push", "--policy-document", policy)...)
	var got struct{ PolicyDocument map[string]any }
	jsonOf(t, s.aws(iamArgs("iam", "get-user-policy", "--user-name", "ci", "--policy-name", "push")...), &got)
	if got.PolicyDocument["Version"] != "2012-10-17" {
		t.Fatalf("get-user-policy: %+v", got)
	}
	s.awsFails("MalformedPolicyDocument", iamArgs("iam", "put-user-policy", "--user-name", "ci", "--policy-name", "bad", "--policy-document", `{"Statement":{"Effect":"Allow"}}`)...)
	out, err := asCI(iamArgs("sts", "get-caller-identity", "--query", "Arn", "--output", "text")...)
	if err != nil || strings.TrimSpace(out) != "arn:aws:iam::000000000000:user/ci" {
		t.Fatalf("ci's identity: %v %s", err, out)
	}
	pw, err := asCI("ecr", "get-login-password")
	if err != nil {
		t.Fatalf("get-login-password: %v %s", err, pw)
	}
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	crane := tool(t, "crane")
	if out, err := runEnv(t, nil, strings.NewReader(strings.TrimSpace(pw)), crane, "auth", "login", s.addr, "-u", "AWS", "--password-stdin"); err != nil {
		t.Fatalf("crane login: %v %s", err, out)
	}
	work := t.TempDir()
	run(t, crane, "append", "--insecure", "-f", writeTar(t, work, "app", []byte("app\n")), "-t", s.addr+"/my-awesome-app:v1")
	out, err = runEnv(t, nil, nil, crane, "append", "--insecure", "-f", writeTar(t, work, "other", []byte("other\n")), "-t", s.addr+"/other-app:v1")
	if err == nil || !strings.Contains(out, "403 Forbidden") && !strings.Contains(out, "is not authorized to perform: ecr:") {
		t.Fatalf("push to a repository the policy does not name: %v\n%s", err, out)
	}
	if out, err := asCI(iamArgs("iam", "create-user", "--user-name", "eve")...); err == nil || !strings.Contains(out, "AccessDenied") {
		t.Fatalf("ci creating users: %v %s", err, out)
	}
	// Listing, disabling and re-enabling the key, and the other user-policy calls.
	if out := s.aws(iamArgs("iam", "list-users", "--query", "Users[].UserName", "--output", "text")...); strings.Fields(out)[0] != "admin" || !strings.Contains(out, "ci") {
		t.Fatalf("list-users: %s", out)
	}
	if out := s.aws(iamArgs("iam", "list-access-keys", "--user-name", "ci", "--query", "AccessKeyMetadata[0].Status", "--output", "text")...); strings.TrimSpace(out) != "Active" {
		t.Fatalf("list-access-keys: %s", out)
	}
	s.aws(iamArgs("iam", "update-access-key", "--user-name", "ci", "--access-key-id", key.AccessKey.AccessKeyId, "--status", "Inactive")...)
	if out, err := asCI("ecr", "describe-repositories"); err == nil || !strings.Contains(out, "UnrecognizedClientException") {
		t.Fatalf("an inactive key: %v %s", err, out)
	}
	s.aws(iamArgs("iam", "update-access-key", "--user-name", "ci", "--access-key-id", key.AccessKey.AccessKeyId, "--status", "Active")...)
	s.aws(iamArgs("iam", "put-user-policy", "--user-name", "ci", "--policy-name", "extra", "--policy-document", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecr:ListImages","Resource":"*"}}`)...)
	if out := s.aws(iamArgs("iam", "list-user-policies", "--user-name", "ci", "--query", "PolicyNames", "--output", "text")...); strings.Join(strings.Fields(out), ",") != "extra,push" {
		t.Fatalf("list-user-policies: %s", out)
	}
	s.aws(iamArgs("iam", "delete-user-policy", "--user-name", "ci", "--policy-name", "extra")...)
	s.awsFails("NoSuchEntity", iamArgs("iam", "get-user-policy", "--user-name", "ci", "--policy-name", "extra")...)
	s.aws(iamArgs("iam", "attach-user-policy", "--user-name", "ci", "--policy-arn", "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryFullAccess")...)
	s.aws(iamArgs("iam", "detach-user-policy", "--user-name", "ci", "--policy-arn", "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryFullAccess")...)
	if out, err := asCI("ecr", "delete-repository", "--repository-name", "other-app"); err == nil {
		t.Fatalf("a detached policy still grants: %s", out)
	}

	// Managed policies, then deleting the key.
	s.aws(iamArgs("iam", "attach-user-policy", "--user-name", "ci", "--policy-arn", "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly")...)
	if out := s.aws(iamArgs("iam", "list-attached-user-policies", "--user-name", "ci", "--query", "AttachedPolicies[].PolicyName", "--output", "text")...); strings.TrimSpace(out) != "AmazonEC2ContainerRegistryReadOnly" {
		t.Fatalf("attached: %s", out)
	}
	if out, err := asCI("ecr", "describe-repositories", "--query", "length(repositories)"); err != nil || strings.TrimSpace(out) != "2" {
		t.Fatalf("ReadOnly describe-repositories: %v %s", err, out)
	}
	s.aws(iamArgs("iam", "delete-access-key", "--user-name", "ci", "--access-key-id", key.AccessKey.AccessKeyId)...)
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, err := asCI("ecr", "describe-repositories")
		if err != nil && strings.Contains(out, "UnrecognizedClientException") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a deleted key still works: %v %s", err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// IAM refuses to delete a user that still has policies, and tells what to remove first.
	if out := s.awsFails("DeleteConflict", iamArgs("iam", "delete-user", "--user-name", "ci")...); !strings.Contains(out, "must delete policies first") {
		t.Fatalf("delete-user with policies: %s", out)
	}
	s.aws(iamArgs("iam", "delete-user-policy", "--user-name", "ci", "--policy-name", "push")...)
	s.awsFails("DeleteConflict", iamArgs("iam", "delete-user", "--user-name", "ci")...)
	s.aws(iamArgs("iam", "detach-user-policy", "--user-name", "ci", "--policy-arn", "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly")...)
	s.aws(iamArgs("iam", "delete-user", "--user-name", "ci")...)
	s.awsFails("NoSuchEntity", iamArgs("iam", "get-user", "--user-name", "ci")...)
}

// TestIAMGroupsAndRoles: a group's policies apply to its members; roles are created with trust policies.
func TestIAMGroupsAndRoles(t *testing.T) {
	s := startServer(t, t.TempDir())
	e := func(args ...string) []string { return append(args, "--endpoint-url", "http://"+s.addr) }
	s.aws("ecr", "create-repository", "--repository-name", "grouped")
	s.aws(e("iam", "create-user", "--user-name", "dan")...)
	var key struct {
		AccessKey struct{ AccessKeyId, SecretAccessKey string }
	}
	jsonOf(t, s.aws(e("iam", "create-access-key", "--user-name", "dan")...), &key)
	dan := []string{"AWS_ACCESS_KEY_ID=" + key.AccessKey.AccessKeyId, "AWS_SECRET_ACCESS_KEY=" + key.AccessKey.SecretAccessKey,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_DEFAULT_REGION=us-east-1", "AWS_ENDPOINT_URL_ECR=http://" + s.addr}
	if out, err := runEnv(t, dan, nil, tool(t, "aws"), "ecr", "describe-repositories"); err == nil {
		t.Fatalf("dan before joining a group: %s", out)
	}
	var g struct{ Group map[string]string }
	jsonOf(t, s.aws(e("iam", "create-group", "--group-name", "devs")...), &g)
	if g.Group["Arn"] != "arn:aws:iam::000000000000:group/devs" {
		t.Fatalf("create-group: %v", g)
	}
	s.aws(e("iam", "attach-group-policy", "--group-name", "devs", "--policy-arn", "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly")...)
	s.aws(e("iam", "add-user-to-group", "--group-name", "devs", "--user-name", "dan")...)
	if out, err := runEnv(t, dan, nil, tool(t, "aws"), "ecr", "describe-repositories", "--query", "repositories[].repositoryName", "--output", "text"); err != nil || strings.TrimSpace(out) != "grouped" {
		t.Fatalf("dan as a member of devs: %v %s", err, out)
	}
	s.aws(e("iam", "put-group-policy", "--group-name", "devs", "--policy-name", "no-delete", "--policy-document",
		`{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"ecr:Describe*","Resource":"*"}}`)...)
	if out, err := runEnv(t, dan, nil, tool(t, "aws"), "ecr", "describe-repositories"); err == nil || !strings.Contains(out, "with an explicit deny in an identity-based policy") {
		t.Fatalf("a group's deny: %v %s", err, out)
	}
	var r struct{ Role map[string]any }
	jsonOf(t, s.aws(e("iam", "create-role", "--role-name", "ci", "--assume-role-policy-document",
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/dan"},"Action":"sts:AssumeRole"}}`)...), &r)
	if r.Role["Arn"] != "arn:aws:iam::000000000000:role/ci" || r.Role["MaxSessionDuration"].(float64) != 3600 {
		t.Fatalf("create-role: %v", r)
	}
	s.awsFails("MalformedPolicyDocument", e("iam", "create-role", "--role-name", "bad", "--assume-role-policy-document", `{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole"}}`)...)
	s.aws(e("iam", "attach-role-policy", "--role-name", "ci", "--policy-arn", "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPowerUser")...)
	s.aws(e("iam", "put-role-policy", "--role-name", "ci", "--policy-name", "p", "--policy-document", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecr:Describe*","Resource":"*"}}`)...)

	// dan assumes ci: the session acts with the role's policies, and its registry token ends with it.
	var sess struct {
		Credentials     struct{ AccessKeyId, SecretAccessKey, SessionToken, Expiration string }
		AssumedRoleUser struct{ Arn string }
	}
	out, err := runEnv(t, dan, nil, tool(t, "aws"), e("sts", "assume-role", "--role-arn", "arn:aws:iam::000000000000:role/ci", "--role-session-name", "build-42", "--duration-seconds", "900")...)
	if err != nil {
		t.Fatalf("assume-role: %v %s", err, out)
	}
	jsonOf(t, out, &sess)
	if sess.AssumedRoleUser.Arn != "arn:aws:sts::000000000000:assumed-role/ci/build-42" || !strings.HasPrefix(sess.Credentials.AccessKeyId, "ASIA") {
		t.Fatalf("assume-role: %+v", sess)
	}
	session := []string{"AWS_ACCESS_KEY_ID=" + sess.Credentials.AccessKeyId, "AWS_SECRET_ACCESS_KEY=" + sess.Credentials.SecretAccessKey,
		"AWS_SESSION_TOKEN=" + sess.Credentials.SessionToken, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_DEFAULT_REGION=us-east-1", "AWS_ENDPOINT_URL_ECR=http://" + s.addr}
	if out, err := runEnv(t, session, nil, tool(t, "aws"), e("sts", "get-caller-identity", "--query", "Arn", "--output", "text")...); err != nil || strings.TrimSpace(out) != sess.AssumedRoleUser.Arn {
		t.Fatalf("session identity: %v %s", err, out)
	}
	if out, err := runEnv(t, session, nil, tool(t, "aws"), "ecr", "describe-repositories", "--query", "repositories[].repositoryName", "--output", "text"); err != nil || strings.TrimSpace(out) != "grouped" {
		t.Fatalf("session describe: %v %s", err, out)
	}
	if out, err := runEnv(t, session, nil, tool(t, "aws"), "ecr", "delete-repository", "--repository-name", "grouped"); err == nil ||
		!strings.Contains(out, "User: arn:aws:sts::000000000000:assumed-role/ci/build-42 is not authorized to perform: ecr:DeleteRepository") {
		t.Fatalf("session delete: %v %s", err, out)
	}
	var tok struct{ AuthorizationData []struct{ ExpiresAt float64 } }
	out, err = runEnv(t, session, nil, tool(t, "aws"), "ecr", "get-authorization-token")
	if err != nil {
		t.Fatalf("session token: %v %s", err, out)
	}
	jsonOf(t, out, &tok)
	if left := time.Until(time.Unix(int64(tok.AuthorizationData[0].ExpiresAt), 0)); left > 16*time.Minute || left < 10*time.Minute {
		t.Fatalf("a session's registry token lasts %v; it should end with the 15-minute session", left)
	}
	bad := append([]string{}, session...)
	bad[2] = "AWS_SESSION_TOKEN=" + sess.Credentials.SessionToken + "x"
	if out, err := runEnv(t, bad, nil, tool(t, "aws"), "ecr", "describe-repositories"); err == nil || !strings.Contains(out, "UnrecognizedClientException") {
		t.Fatalf("tampered session token: %v %s", err, out)
	}
	// The admin may do everything, but ci's trust policy names dan only.
	s.awsFails("AccessDenied", e("sts", "assume-role", "--role-arn", "arn:aws:iam::000000000000:role/ci", "--role-session-name", "x1")...)
}

// TestAdminGroupsAndRoles: `wharf admin` manages groups and roles for people without the aws CLI.
func TestAdminGroupsAndRoles(t *testing.T) {
	s := startServer(t, t.TempDir(), shortCaches...)
	s.aws("ecr", "create-repository", "--repository-name", "seen")
	s.wharf("admin", "create-user", "--account-id", "000000000000", "erin")
	var key struct{ AccessKeyId, SecretAccessKey string }
	jsonOf(t, s.wharf("admin", "create-access-key", "--account-id", "000000000000", "erin"), &key)
	s.wharf("admin", "create-group", "--account-id", "000000000000", "readers")
	s.wharf("admin", "add-user-to-group", "--account-id", "000000000000", "--group", "readers", "erin")
	s.wharf("admin", "attach-group-policy", "--account-id", "000000000000", "--policy-arn", "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly", "readers")
	var role struct{ Arn string }
	jsonOf(t, s.wharf("admin", "create-role", "--account-id", "000000000000", "--policy-document",
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/erin"},"Action":"sts:AssumeRole"}}`, "deployer"), &role)
	s.wharf("admin", "attach-role-policy", "--account-id", "000000000000", "--policy-arn", "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryFullAccess", "deployer")
	s.wharf("admin", "put-role-policy", "--account-id", "000000000000", "--policy-name", "tags", "--policy-document",
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecr:TagResource","Resource":"*"}}`, "deployer")
	s.wharf("admin", "put-group-policy", "--account-id", "000000000000", "--policy-name", "list", "--policy-document",
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecr:ListImages","Resource":"*"}}`, "readers")
	time.Sleep(shortCacheTTL) // changes by another process show within --policy-cache-ttl
	erin := []string{"AWS_ACCESS_KEY_ID=" + key.AccessKeyId, "AWS_SECRET_ACCESS_KEY=" + key.SecretAccessKey, "AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_DEFAULT_REGION=us-east-1", "AWS_ENDPOINT_URL_ECR=http://" + s.addr}
	if out, err := runEnv(t, erin, nil, tool(t, "aws"), "ecr", "describe-repositories", "--query", "repositories[].repositoryName", "--output", "text"); err != nil || strings.TrimSpace(out) != "seen" {
		t.Fatalf("erin through the readers group: %v %s", err, out)
	}
	if out, err := runEnv(t, erin, nil, tool(t, "aws"), "ecr", "delete-repository", "--repository-name", "seen"); err == nil {
		t.Fatalf("erin deleted a repository: %s", out)
	}
	out, err := runEnv(t, erin, nil, tool(t, "aws"), "sts", "assume-role", "--role-arn", role.Arn, "--role-session-name", "deploy", "--endpoint-url", "http://"+s.addr)
	if err != nil {
		t.Fatalf("assume deployer: %v %s", err, out)
	}
	var sess struct {
		Credentials struct{ AccessKeyId, SecretAccessKey, SessionToken string }
	}
	jsonOf(t, out, &sess)
	deployer := []string{"AWS_ACCESS_KEY_ID=" + sess.Credentials.AccessKeyId, "AWS_SECRET_ACCESS_KEY=" + sess.Credentials.SecretAccessKey,
		"AWS_SESSION_TOKEN=" + sess.Credentials.SessionToken, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_DEFAULT_REGION=us-east-1", "AWS_ENDPOINT_URL_ECR=http://" + s.addr}
	if out, err := runEnv(t, deployer, nil, tool(t, "aws"), "ecr", "delete-repository", "--repository-name", "seen"); err != nil {
		t.Fatalf("the deployer session deletes: %v %s", err, out)
	}
	// A user with a key and a group is not deleted until both are gone.
	if out, err := runEnv(t, s.env, nil, wharfBin, "admin", "delete-user", "--account-id", "000000000000", "--data-dir", s.dir, "erin"); err == nil || !strings.Contains(out, "must delete access keys first") {
		t.Fatalf("delete-user erin with a key: %v %s", err, out)
	}
	s.wharf("admin", "delete-access-key", key.AccessKeyId)
	s.wharf("admin", "remove-user-from-group", "--account-id", "000000000000", "--group", "readers", "erin")
	s.wharf("admin", "delete-user", "--account-id", "000000000000", "erin")
	time.Sleep(shortCacheTTL) // key lookups are cached for --key-cache-ttl
	if out, err := runEnv(t, erin, nil, tool(t, "aws"), "ecr", "describe-repositories"); err == nil || !strings.Contains(out, "UnrecognizedClientException") {
		t.Fatalf("a deleted user's key: %v %s", err, out)
	}
}

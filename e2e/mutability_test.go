package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTagMutabilityExclusionsWithAWSCLI is the flow of a Terraform configuration (provider v6) with the
// real aws CLI and crane: a repository created IMMUTABLE_WITH_EXCLUSION with filters and KMS encryption,
// tags matching and not matching a filter pushed and overwritten by crane and by put-image, the setting
// changed with put-image-tag-mutability, and ECR's messages for bad settings.
func TestTagMutabilityExclusionsWithAWSCLI(t *testing.T) {
	crane := tool(t, "crane")
	s := startServer(t, t.TempDir())
	var created struct{ Repository map[string]any }
	jsonOf(t, s.aws("ecr", "create-repository", "--repository-name", "tf-app", "--image-tag-mutability", "IMMUTABLE_WITH_EXCLUSION",
		"--image-tag-mutability-exclusion-filters", "filterType=WILDCARD,filter=latest", "filterType=WILDCARD,filter=dev-*",
		"--encryption-configuration", "encryptionType=KMS"), &created)
	r := created.Repository
	filters, _ := json.Marshal(r["imageTagMutabilityExclusionFilters"])
	if r["imageTagMutability"] != "IMMUTABLE_WITH_EXCLUSION" || string(filters) != `[{"filter":"latest","filterType":"WILDCARD"},{"filter":"dev-*","filterType":"WILDCARD"}]` {
		t.Fatalf("create-repository: %v", r)
	}
	enc := r["encryptionConfiguration"].(map[string]any)
	managed, _ := enc["kmsKey"].(string)
	if enc["encryptionType"] != "KMS" || !strings.HasPrefix(managed, "arn:aws:kms:us-east-1:000000000000:key/") {
		t.Fatalf("KMS without a key reports the AWS managed key: %v", enc)
	}
	var described struct{ Repositories []map[string]any }
	jsonOf(t, s.aws("ecr", "describe-repositories", "--repository-names", "tf-app"), &described)
	again, _ := json.Marshal(described.Repositories[0]["imageTagMutabilityExclusionFilters"])
	if string(again) != string(filters) || described.Repositories[0]["encryptionConfiguration"].(map[string]any)["kmsKey"] != managed {
		t.Fatalf("describe-repositories: %v", described.Repositories[0])
	}

	// The same setting from the command line.
	s.wharf("repo", "create", "--image-tag-mutability", "immutable_with_exclusion", "--image-tag-mutability-exclusion-filters", "latest,dev-*", "cli-made")
	jsonOf(t, s.aws("ecr", "describe-repositories", "--repository-names", "cli-made"), &described)
	if f, _ := json.Marshal(described.Repositories[0]["imageTagMutabilityExclusionFilters"]); string(f) != string(filters) {
		t.Fatalf("wharf repo create: %v", described.Repositories[0])
	}

	s.login()
	work := t.TempDir()
	ref := s.addr + "/tf-app"
	push := func(tag, content string) (string, error) {
		return runEnv(t, nil, nil, crane, "append", "--insecure", "-f", writeTar(t, work, tag+content, []byte(content)), "-t", ref+":"+tag)
	}
	for _, tag := range []string{"v1", "latest", "dev-1"} {
		if out, err := push(tag, "first"); err != nil {
			t.Fatalf("pushing %s: %v\n%s", tag, err, out)
		}
	}
	// Tags matching a filter stay mutable; the others are immutable.
	for _, tag := range []string{"latest", "dev-1"} {
		if out, err := push(tag, "second"); err != nil {
			t.Fatalf("overwriting %s, which a filter excludes: %v\n%s", tag, err, out)
		}
	}
	const immutable = "The image tag 'v1' already exists in the 'tf-app' repository and cannot be overwritten because the repository is immutable."
	if out, err := push("v1", "second"); err == nil || !strings.Contains(out, immutable) {
		t.Fatalf("overwriting v1 by a push: %v\n%s", err, out)
	}
	latest := strings.TrimSpace(s.aws("ecr", "batch-get-image", "--repository-name", "tf-app", "--image-ids", "imageTag=latest",
		"--output", "text", "--query", "images[].imageManifest"))
	out := s.awsFails("ImageTagAlreadyExistsException", "ecr", "put-image", "--repository-name", "tf-app", "--image-tag", "v1", "--image-manifest", latest)
	if !strings.Contains(out, immutable) {
		t.Fatalf("put-image over v1: %s", out)
	}
	s.aws("ecr", "put-image", "--repository-name", "tf-app", "--image-tag", "dev-1", "--image-manifest",
		strings.TrimSpace(s.aws("ecr", "batch-get-image", "--repository-name", "tf-app", "--image-ids", "imageTag=v1", "--output", "text", "--query", "images[].imageManifest")))

	// MUTABLE_WITH_EXCLUSION: the tags matching a filter are the immutable ones.
	var put map[string]any
	jsonOf(t, s.aws("ecr", "put-image-tag-mutability", "--repository-name", "tf-app", "--image-tag-mutability", "MUTABLE_WITH_EXCLUSION",
		"--image-tag-mutability-exclusion-filters", "filterType=WILDCARD,filter=v*"), &put)
	if f, _ := json.Marshal(put["imageTagMutabilityExclusionFilters"]); put["imageTagMutability"] != "MUTABLE_WITH_EXCLUSION" || string(f) != `[{"filter":"v*","filterType":"WILDCARD"}]` {
		t.Fatalf("put-image-tag-mutability: %v", put)
	}
	if out, err := push("latest", "third"); err != nil {
		t.Fatalf("overwriting latest: %v\n%s", err, out)
	}
	if out, err := push("v1", "third"); err == nil || !strings.Contains(out, immutable) {
		t.Fatalf("overwriting v1 (matches v*): %v\n%s", err, out)
	}

	// ECR's messages for settings it refuses.
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"put-image-tag-mutability", "--repository-name", "tf-app", "--image-tag-mutability", "SOMETIMES"},
			"Invalid parameter at 'imageTagMutability' failed to satisfy constraint: 'Member must satisfy enum value set: [MUTABLE, IMMUTABLE, IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION]'"},
		{[]string{"put-image-tag-mutability", "--repository-name", "tf-app", "--image-tag-mutability", "IMMUTABLE_WITH_EXCLUSION"},
			"Invalid parameter at 'imageTagMutabilityExclusionFilters' failed to satisfy constraint: 'ImageTagMutabilityExclusionFilters can't be null when imageTagMutability is set as IMMUTABLE_WITH_EXCLUSION'"},
		{[]string{"create-repository", "--repository-name", "aes", "--encryption-configuration", "encryptionType=AES256,kmsKey=arn:aws:kms:us-east-1:000000000000:key/k"},
			"Invalid parameter at 'encryptionConfiguration.kmsKey' failed to satisfy constraint: 'kmsKey can only be specified when encryptionType is KMS or KMS_DSSE'"},
		{[]string{"put-image", "--repository-name", "tf-app", "--image-tag", strings.Repeat("t", 301), "--image-manifest", latest},
			"Invalid parameter at 'imageTag' failed to satisfy constraint: 'Member must have length less than or equal to 300'"},
	} {
		if out := s.awsFails("InvalidParameterException", append([]string{"ecr"}, c.args...)...); !strings.Contains(out, c.msg) {
			t.Errorf("aws ecr %s: %s\nwant %s", c.args[0], out, c.msg)
		}
	}
	jsonOf(t, s.aws("ecr", "create-repository", "--repository-name", "dsse", "--encryption-configuration", "encryptionType=KMS_DSSE"), &created)
	if enc := created.Repository["encryptionConfiguration"].(map[string]any); enc["encryptionType"] != "KMS_DSSE" || enc["kmsKey"] != managed {
		t.Fatalf("KMS_DSSE: %v", enc)
	}
	jsonOf(t, s.aws("ecr", "create-repository", "--repository-name", "plain"), &created)
	if enc := created.Repository["encryptionConfiguration"].(map[string]any); enc["encryptionType"] != "AES256" || enc["kmsKey"] != nil {
		t.Fatalf("default encryption: %v", enc)
	}

	// Tags of up to 300 characters through the ECR API; an image's tags in the order they were put on it
	// (the user guide's retag example: latest, then 2017.03); imagePushedAt in whole seconds.
	long := strings.Repeat("t", 300)
	latest = strings.TrimSpace(s.aws("ecr", "batch-get-image", "--repository-name", "tf-app", "--image-ids", "imageTag=latest",
		"--output", "text", "--query", "images[].imageManifest"))
	s.aws("ecr", "put-image", "--repository-name", "tf-app", "--image-tag", "2017.03", "--image-manifest", latest)
	s.aws("ecr", "put-image", "--repository-name", "tf-app", "--image-tag", long, "--image-manifest", latest)
	var images struct{ ImageDetails []map[string]any }
	jsonOf(t, s.aws("ecr", "describe-images", "--repository-name", "tf-app", "--image-ids", "imageTag=latest"), &images)
	if tags, _ := json.Marshal(images.ImageDetails[0]["imageTags"]); string(tags) != `["latest","2017.03","`+long+`"]` {
		t.Fatalf("imageTags: %s", tags)
	}
	raw := s.aws("ecr", "describe-images", "--repository-name", "tf-app", "--query", "imageDetails[].imagePushedAt", "--output", "text")
	for _, at := range strings.Fields(raw) {
		if !strings.HasSuffix(at, ".0") {
			t.Fatalf("imagePushedAt %s is not in whole seconds (%s)", at, raw)
		}
	}
	var got struct{ Images []map[string]any }
	jsonOf(t, s.aws("ecr", "batch-get-image", "--repository-name", "tf-app", "--image-ids", "imageTag="+long), &got)
	if len(got.Images) != 1 || got.Images[0]["imageId"].(map[string]any)["imageTag"] != long {
		t.Fatalf("batch-get-image by the long tag: %v", got)
	}
	// The registry API keeps the distribution spec's 128 characters.
	var mt struct{ MediaType string }
	jsonOf(t, latest, &mt)
	authHeader = basicAuth(s.password())
	for n, want := range map[int]int{128: 201, 129: 400} {
		res := do(t, "PUT", "http://"+s.addr+"/v2/tf-app/manifests/"+strings.Repeat("x", n), []byte(latest), "Content-Type", mt.MediaType)
		if res.StatusCode != want {
			t.Errorf("a %d-character tag by the registry API: %d, want %d", n, res.StatusCode, want)
		}
	}
	s.aws("ecr", "batch-delete-image", "--repository-name", "tf-app", "--image-ids", "imageTag="+long)
}

// TestWireOfMutabilityAndTimesWithBoto3: the raw bodies boto3 receives hold ECR's shapes: the filters
// member only when there are filters, imagePushedAt an integral number of seconds.
func TestWireOfMutabilityAndTimesWithBoto3(t *testing.T) {
	python := tool(t, "python3")
	s := startServer(t, t.TempDir())
	script := filepath.Join(t.TempDir(), "mutability.py")
	os.WriteFile(script, []byte(boto3Mutability), 0o644)
	out, err := runEnv(t, s.awsEnv(), nil, python, script)
	if err != nil || !strings.Contains(out, "mutability ok") {
		t.Fatalf("boto3: %v\n%s", err, out)
	}
}

const boto3Mutability = `
import hashlib, json
import boto3
from botocore.exceptions import ClientError

ecr = boto3.client("ecr")
bodies = []
ecr.meta.events.register("after-call.ecr.*", lambda http_response, **kw: bodies.append(json.loads(http_response.content or b"{}")))

repo = ecr.create_repository(repositoryName="plain")["repository"]
assert "imageTagMutabilityExclusionFilters" not in bodies[-1]["repository"], bodies[-1]
assert repo["encryptionConfiguration"] == {"encryptionType": "AES256"}, repo
repo = ecr.create_repository(repositoryName="tf", imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
    imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "latest"}])["repository"]
assert repo["imageTagMutabilityExclusionFilters"] == [{"filterType": "WILDCARD", "filter": "latest"}], repo
out = ecr.put_image_tag_mutability(repositoryName="tf", imageTagMutability="IMMUTABLE")
assert "imageTagMutabilityExclusionFilters" not in bodies[-1], bodies[-1]
try:
    ecr.put_image_tag_mutability(repositoryName="tf", imageTagMutability="MUTABLE",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "x"}])
    raise SystemExit("filters with MUTABLE were accepted")
except ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidParameterException", e.response

def layer(data):
    up = ecr.initiate_layer_upload(repositoryName="tf")["uploadId"]
    ecr.upload_layer_part(repositoryName="tf", uploadId=up, partFirstByte=0, partLastByte=len(data) - 1, layerPartBlob=data)
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    ecr.complete_layer_upload(repositoryName="tf", uploadId=up, layerDigests=[d])
    return d, len(data)

cfg, n = layer(b'{"architecture":"amd64","os":"linux"}')
lay, m = layer(b"layer")
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg, "size": n},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": lay, "size": m}]})
ecr.put_image(repositoryName="tf", imageManifest=manifest, imageTag="latest")
ecr.put_image(repositoryName="tf", imageManifest=manifest, imageTag="2017.03")
detail = ecr.describe_images(repositoryName="tf")["imageDetails"][0]
raw = bodies[-1]["imageDetails"][0]
assert raw["imageTags"] == ["latest", "2017.03"], raw
assert raw["imagePushedAt"] == int(raw["imagePushedAt"]), raw
print("mutability ok")
`

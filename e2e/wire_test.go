package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWireDetailsWithBoto3 holds the details of ECR's wire that SDKs and Terraform trip over to ECR's,
// through boto3 and the raw bodies it receives.
func TestWireDetailsWithBoto3(t *testing.T) {
	python := tool(t, "python3")
	s := startServer(t, t.TempDir())
	script := filepath.Join(t.TempDir(), "wire.py")
	os.WriteFile(script, []byte(boto3Wire), 0o644)
	out, err := runEnv(t, s.awsEnv(), nil, python, script)
	if err != nil || !strings.Contains(out, "wire ok") {
		t.Fatalf("boto3: %v\n%s", err, out)
	}
}

const boto3Wire = `
import json, re
import boto3, botocore.auth, botocore.awsrequest
from botocore.exceptions import ClientError

ecr = boto3.client("ecr")
bodies = []
ecr.meta.events.register("after-call.ecr.*", lambda http_response, **kw: bodies.append(http_response.content))

def fails(code, message, fn, **kw):
    try:
        fn(**kw)
    except ClientError as e:
        err = e.response["Error"]
        assert err["Code"] == code, (code, e.response)
        assert message is None or err["Message"] == message, (message, err["Message"])
        return e.response
    raise SystemExit("%s succeeded" % fn.__name__)

# Repository names: the model's pattern allows __ and runs of -.
for name in ["a__b", "a--b", "team/a---b_c"]:
    ecr.create_repository(repositoryName=name)
fails("InvalidParameterException", "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*''",
      ecr.create_repository, repositoryName="a___b")

# The last page has no nextToken member at all, not null.
bodies.clear()
page = ecr.describe_repositories(maxResults=5)
assert "nextToken" not in json.loads(bodies[-1]), bodies[-1]
ecr.list_images(repositoryName="a__b")
assert "nextToken" not in json.loads(bodies[-1]), bodies[-1]

# uploadId is a UUID.
up = ecr.initiate_layer_upload(repositoryName="a__b")["uploadId"]
assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", up), up

# Lists beyond the model's maximum.
ids = [{"imageTag": "t%d" % i} for i in range(101)]
fails("InvalidParameterException", "Invalid parameter at 'imageIds' failed to satisfy constraint: 'Member must have length less than or equal to 100'",
      ecr.batch_get_image, repositoryName="a__b", imageIds=ids)
fails("InvalidParameterException", "Invalid parameter at 'layerDigests' failed to satisfy constraint: 'Member must have length less than or equal to 100'",
      ecr.batch_check_layer_availability, repositoryName="a__b", layerDigests=["sha256:" + "a" * 64] * 101)

# A malformed registryId is refused for its pattern, before anything is authorized.
fails("InvalidParameterException", "Invalid parameter at 'registryId' failed to satisfy constraint: 'must satisfy regular expression '[0-9]{12}''",
      ecr.create_repository, registryId="123", repositoryName="x1")

# PutImage of a manifest that says no mediaType, given none: ECR's retag failure.
manifest = json.dumps({"schemaVersion": 2, "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + "a" * 64, "size": 2}, "layers": []})
for m in [manifest, "not json"]:
    fails("InvalidParameterException", "Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'",
          ecr.put_image, repositoryName="a__b", imageManifest=m, imageTag="v1")

# lastEvaluatedAt is answered before the lifecycle policy's first pass.
policy = json.dumps({"rules": [{"rulePriority": 1, "description": "Expire images older than 14 days", "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14}, "action": {"type": "expire"}}]})
ecr.put_lifecycle_policy(repositoryName="a__b", lifecyclePolicyText=policy)
got = ecr.get_lifecycle_policy(repositoryName="a__b")
assert got["lastEvaluatedAt"].timestamp() == 0, got
deleted = ecr.delete_lifecycle_policy(repositoryName="a__b")
assert deleted["lastEvaluatedAt"].timestamp() == 0, deleted

# An operation ECR does not have: UnknownOperationException with AWS's text.
creds = boto3.Session().get_credentials()
req = botocore.awsrequest.AWSRequest(method="POST", url=ecr.meta.endpoint_url + "/", data=b"{}",
    headers={"X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.NoSuchOperation", "Content-Type": "application/x-amz-json-1.1"})
botocore.auth.SigV4Auth(creds, "ecr", "us-east-1").add_auth(req)
import urllib.request, urllib.error
try:
    urllib.request.urlopen(urllib.request.Request(req.url, data=req.body, headers=dict(req.headers), method="POST"))
    raise SystemExit("an unknown operation succeeded")
except urllib.error.HTTPError as e:
    body = json.loads(e.read())
    assert e.code == 404 and body["__type"] == "UnknownOperationException", (e.code, body)
    assert body["message"] == "The action or operation requested is invalid. Verify that the action is typed correctly.", body
# Missing layers and uploads, in ECR's words.
typed = json.loads(manifest)
typed["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
fails("LayersNotFoundException", "Layers with digests '[sha256:" + "a" * 64 + "]' required for pushing image into repository with name 'a__b' in registry with id '000000000000' do not exist",
      ecr.put_image, repositoryName="a__b", imageManifest=json.dumps(typed), imageTag="v1")
missing = "00000000-0000-4000-8000-000000000000"
fails("UploadNotFoundException", "The upload with id '%s' does not exist within the repository with name 'a__b' in the registry with id '000000000000'" % missing,
      ecr.upload_layer_part, repositoryName="a__b", uploadId=missing, partFirstByte=0, partLastByte=0, layerPartBlob=b"x")

# A part under 5 MiB is refused when it turns out not to be the last: by CompleteLayerUpload, where the model lists it.
up = ecr.initiate_layer_upload(repositoryName="a__b")["uploadId"]
ecr.upload_layer_part(repositoryName="a__b", uploadId=up, partFirstByte=0, partLastByte=1023, layerPartBlob=b"x" * 1024)
ecr.upload_layer_part(repositoryName="a__b", uploadId=up, partFirstByte=1024, partLastByte=2047, layerPartBlob=b"y" * 1024)
import hashlib
whole = "sha256:" + hashlib.sha256(b"x" * 1024 + b"y" * 1024).hexdigest()
fails("LayerPartTooSmallException", None, ecr.complete_layer_upload, repositoryName="a__b", uploadId=up, layerDigests=[whole])
# A part that does not follow on: InvalidLayerPartException with the model's members.
err = fails("InvalidLayerPartException", None, ecr.upload_layer_part, repositoryName="a__b", uploadId=up, partFirstByte=5, partLastByte=5, layerPartBlob=b"z")
assert (err.get("registryId"), err.get("repositoryName"), err.get("uploadId"), err.get("lastValidByteReceived")) == ("000000000000", "a__b", up, 2047), err
print("wire ok")
`

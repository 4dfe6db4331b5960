package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store"
)

// TestImageScanningWithAWSCLI scans images with the aws CLI and its waiter, the Go SDK's waiter and paginator,
// and boto3's paginator, against wharf serve, on images of a Debian release without packages (no findings).
func TestImageScanningWithAWSCLI(t *testing.T) {
	s := startServer(t, t.TempDir())
	s.aws("ecr", "create-repository", "--repository-name", "scan/app")
	push := filepath.Join(t.TempDir(), "push.py")
	os.WriteFile(push, []byte(boto3Push), 0o644)
	pushImage := func(tag string) {
		t.Helper()
		if out, err := runEnv(t, s.awsEnv(), nil, tool(t, "python3"), push, tag); err != nil {
			t.Fatalf("push %s: %v\n%s", tag, err, out)
		}
	}
	pushImage("v1")
	pushImage("v2")
	s.awsFails("ScanNotFoundException", "ecr", "describe-image-scan-findings", "--repository-name", "scan/app", "--image-id", "imageTag=v1")
	s.awsFails("ImageNotFoundException", "ecr", "start-image-scan", "--repository-name", "scan/app", "--image-id", "imageTag=nope")

	var started struct {
		ImageID         map[string]string
		ImageScanStatus map[string]string
	}
	jsonOf(t, s.aws("ecr", "start-image-scan", "--repository-name", "scan/app", "--image-id", "imageTag=v1"), &started)
	if started.ImageScanStatus["status"] != "IN_PROGRESS" || !strings.HasPrefix(started.ImageID["imageDigest"], "sha256:") {
		t.Fatalf("start-image-scan: %+v", started)
	}
	s.aws("ecr", "wait", "image-scan-complete", "--repository-name", "scan/app", "--image-id", "imageTag=v1")
	var findings struct {
		ImageScanStatus   map[string]string
		ImageScanFindings struct {
			ImageScanCompletedAt  any
			FindingSeverityCounts map[string]int
			Findings              []any
		}
	}
	jsonOf(t, s.aws("ecr", "describe-image-scan-findings", "--repository-name", "scan/app", "--image-id", "imageTag=v1"), &findings)
	if findings.ImageScanStatus["status"] != "COMPLETE" || findings.ImageScanFindings.ImageScanCompletedAt == nil ||
		len(findings.ImageScanFindings.Findings) != 0 || len(findings.ImageScanFindings.FindingSeverityCounts) != 0 {
		t.Fatalf("describe-image-scan-findings: %+v", findings)
	}
	out := s.awsFails("LimitExceededException", "ecr", "start-image-scan", "--repository-name", "scan/app", "--image-id", "imageTag=v1")
	if !strings.Contains(out, "The scan quota per image has been exceeded. Wait and try again.") {
		t.Fatalf("message: %s", out)
	}
	if st := s.aws("ecr", "describe-images", "--repository-name", "scan/app", "--image-ids", "imageTag=v1", "--output", "text",
		"--query", "imageDetails[0].imageScanStatus.status"); strings.TrimSpace(st) != "COMPLETE" {
		t.Fatalf("describe-images scan status: %s", st)
	}

	// The registry's configuration supersedes the repository's: ENHANCED scans on push for scan/*.
	s.aws("ecr", "put-registry-scanning-configuration", "--scan-type", "ENHANCED", "--rules",
		`[{"scanFrequency":"SCAN_ON_PUSH","repositoryFilters":[{"filter":"scan/*","filterType":"WILDCARD"}]}]`)
	if got := s.aws("ecr", "get-registry-scanning-configuration", "--output", "text", "--query", "scanningConfiguration.scanType"); strings.TrimSpace(got) != "ENHANCED" {
		t.Fatalf("get-registry-scanning-configuration: %s", got)
	}
	if got := s.aws("ecr", "batch-get-repository-scanning-configuration", "--repository-names", "scan/app", "--output", "text",
		"--query", "scanningConfigurations[0].scanFrequency"); strings.TrimSpace(got) != "SCAN_ON_PUSH" {
		t.Fatalf("batch-get-repository-scanning-configuration: %s", got)
	}
	pushImage("v3")
	s.aws("ecr", "wait", "image-scan-complete", "--repository-name", "scan/app", "--image-id", "imageTag=v3")

	// The Go SDK: its waiter and paginator, on v2 (pushed before the registry configuration, so not scanned).
	ctx := context.Background()
	client := ecr.New(ecr.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + s.addr),
		Credentials: credentials.NewStaticCredentialsProvider(adminKeyID, adminSecret, "")})
	v2 := &types.ImageIdentifier{ImageTag: aws.String("v2")}
	if _, err := client.StartImageScan(ctx, &ecr.StartImageScanInput{RepositoryName: aws.String("scan/app"), ImageId: v2}); err != nil {
		t.Fatal(err)
	}
	waiter := ecr.NewImageScanCompleteWaiter(client, func(o *ecr.ImageScanCompleteWaiterOptions) { o.MinDelay = 100 * time.Millisecond })
	if err := waiter.Wait(ctx, &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String("scan/app"), ImageId: v2}, time.Minute); err != nil {
		t.Fatalf("ImageScanComplete waiter: %v", err)
	}
	pages := ecr.NewDescribeImageScanFindingsPaginator(client, &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String("scan/app"), ImageId: v2, MaxResults: aws.Int32(5)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if page.ImageScanStatus.Status != types.ScanStatusComplete || page.ImageScanFindings.ImageScanCompletedAt == nil || len(page.ImageScanFindings.Findings) != 0 {
			t.Fatalf("Go SDK page: %+v", page)
		}
	}
	imgs, err := client.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("scan/app"), ImageIds: []types.ImageIdentifier{*v2}})
	if err != nil || imgs.ImageDetails[0].ImageScanStatus.Status != types.ScanStatusComplete || imgs.ImageDetails[0].ImageScanFindingsSummary.ImageScanCompletedAt == nil {
		t.Fatalf("Go SDK DescribeImages: %+v, %v", imgs, err)
	}

	script := filepath.Join(t.TempDir(), "scan.py")
	os.WriteFile(script, []byte(boto3ScanFlow), 0o644)
	if out, err := runEnv(t, s.awsEnv(), nil, tool(t, "python3"), script); err != nil || !strings.Contains(out, "boto3 scan ok") {
		t.Fatalf("boto3: %v\n%s", err, out)
	}
}

// boto3Push pushes, with the ECR API's layer operations, a small Debian 12 image of its own under the tag
// it is given (argv 1), to scan/app or the repository argv 2 names; with argv 3 "libssl3" the image has
// libssl3 3.0.11-1~deb12u1 installed, else no package (its scan completes with no findings).
const boto3Push = `
import hashlib, io, json, sys, tarfile
import boto3
ecr = boto3.client("ecr")
tag = sys.argv[1]
repo = sys.argv[2] if len(sys.argv) > 2 else "scan/app"

def push_blob(data):
    up = ecr.initiate_layer_upload(repositoryName=repo)
    ecr.upload_layer_part(repositoryName=repo, uploadId=up["uploadId"], partFirstByte=0, partLastByte=len(data) - 1, layerPartBlob=data)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    ecr.complete_layer_upload(repositoryName=repo, uploadId=up["uploadId"], layerDigests=[digest])
    return digest

def tar_of(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()

config = json.dumps({"architecture": "amd64", "os": "linux", "variant": tag}).encode()
files = {"etc/os-release": b'ID=debian\nVERSION_ID="12"\n', "srv/tag": tag.encode()}
if sys.argv[3:] == ["libssl3"]:
    files["var/lib/dpkg/status"] = b"Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\nVersion: 3.0.11-1~deb12u1\n"
layer = tar_of(files)
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": push_blob(config), "size": len(config)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": push_blob(layer), "size": len(layer)}]})
ecr.put_image(repositoryName=repo, imageManifest=manifest, imageTag=tag)
`

const boto3ScanFlow = `
import boto3
ecr = boto3.client("ecr")
pages = list(ecr.get_paginator("describe_image_scan_findings").paginate(
    repositoryName="scan/app", imageId={"imageTag": "v1"}, PaginationConfig={"PageSize": 10}))
assert pages and pages[0]["imageScanStatus"]["status"] == "COMPLETE", pages
assert sum(len(p["imageScanFindings"].get("findings", [])) for p in pages) == 0, pages
ecr.get_waiter("image_scan_complete").wait(repositoryName="scan/app", imageId={"imageTag": "v3"})
v3 = ecr.describe_image_scan_findings(repositoryName="scan/app", imageId={"imageTag": "v3"})
assert v3["imageScanStatus"]["status"] == "COMPLETE", v3
assert v3["imageScanFindings"]["findingSeverityCounts"] == {}, v3
print("boto3 scan ok")
`

// TestScansOnThreeNodes: images pushed to three nodes on shared storage are each scanned once, by whichever
// node's job runner claims the scan, and the outbox holds one scan event per image.
func TestScansOnThreeNodes(t *testing.T) {
	nodes, st, env := startCluster(t, 3)
	nodes[0].aws("ecr", "create-repository", "--repository-name", "scan/app", "--image-scanning-configuration", "scanOnPush=true")
	push := filepath.Join(t.TempDir(), "push.py")
	os.WriteFile(push, []byte(boto3Push), 0o644)
	var tags []string
	for i := range 6 {
		tag := fmt.Sprintf("v%d", i)
		if out, err := runEnv(t, nodes[i%3].awsEnv(), nil, tool(t, "python3"), push, tag); err != nil {
			t.Fatalf("push %s: %v\n%s", tag, err, out)
		}
		tags = append(tags, tag)
	}
	for i, tag := range tags {
		nodes[(i+1)%3].aws("ecr", "wait", "image-scan-complete", "--repository-name", "scan/app", "--image-id", "imageTag="+tag)
	}
	stores := openShared(t, st, env)
	scans := map[string]int{}
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
			scans[ev.Digest.String()]++
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(scans) != len(tags) {
		t.Fatalf("scan events for %d images, want %d: %v", len(scans), len(tags), scans)
	}
	for d, n := range scans {
		if n != 1 {
			t.Fatalf("image %s scanned %d times", d, n)
		}
	}
}

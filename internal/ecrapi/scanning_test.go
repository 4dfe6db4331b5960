package ecrapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/inventory"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/vulndb"
)

// scanner finds the same five vulnerabilities in every image.
type scanner struct{}

func (scanner) Scan(context.Context, registry.ScanImage) (inventory.Inventory, []vulndb.Finding, time.Time, error) {
	var out []vulndb.Finding
	for i, sev := range []string{"CRITICAL", "HIGH", "HIGH", "MEDIUM", "LOW"} {
		out = append(out, vulndb.Finding{Name: fmt.Sprintf("CVE-2026-%04d", i), AdvisoryID: fmt.Sprintf("DSA-%d-1", 5000+i), Summary: "openssl: a flaw",
			URI: fmt.Sprintf("https://security-tracker.debian.org/tracker/CVE-2026-%04d", i), Severity: sev,
			CVSSVector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", CVSSScore: 9.8, CVSSVersion: "3.1",
			Package:       inventory.Package{Name: "libssl3", Version: "3.0.11-1~deb12u1", SourceName: "openssl", Ecosystem: "Debian:12"},
			FixedVersions: []string{"3.0.11-1~deb12u2"}})
	}
	return inventory.Inventory{OS: inventory.OS{ID: "debian", VersionID: "12"}}, out, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), nil
}

// pushImage pushes a small image under tag and returns its digest.
func (a *api) pushImage(repo, tag, seed string) string {
	a.t.Helper()
	cfgBody := `{"architecture":"amd64","os":"linux","variant":"` + seed + `"}`
	cfg := a.pushLayer(repo, []byte(cfgBody))
	layer := a.pushLayer(repo, []byte("layer "+seed))
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`,
		ociManifest, cfg, len(cfgBody), layer, len("layer "+seed))
	put := a.ok("PutImage", map[string]any{"repositoryName": repo, "imageManifest": manifest, "imageTag": tag})
	return put["image"].(map[string]any)["imageId"].(map[string]any)["imageDigest"].(string)
}

// scanDone waits for an image's scan to end and returns DescribeImageScanFindings' answer.
func (a *api) scanDone(in map[string]any) map[string]any {
	a.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := a.ok("DescribeImageScanFindings", in)
		if out["imageScanFindings"] == nil {
			a.t.Fatalf("no imageScanFindings: %v", out)
		}
		if out["imageScanStatus"].(map[string]any)["status"] != "IN_PROGRESS" {
			return out
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("scan still in progress: %v", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestImageScanning(t *testing.T) {
	a := newAPI(t, registry.Config{Scanner: scanner{}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.app.Jobs.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	a.ok("CreateRepository", map[string]any{"repositoryName": "app"})
	d := a.pushImage("app", "v1", "one")
	byTag := map[string]any{"repositoryName": "app", "imageId": map[string]string{"imageTag": "v1"}}

	r := a.call("DescribeImageScanFindings", byTag)
	a.fails(r, 400, "ScanNotFoundException")
	if want := "Image scan does not exist for the image with '{imageDigest:'null', imageTag:'v1'}' in the repository with name 'app' in the registry with id '000000000000'"; r.message() != want {
		t.Fatalf("message %q", r.message())
	}
	r = a.call("StartImageScan", map[string]any{"repositoryName": "app", "imageId": map[string]string{"imageTag": "nope"}})
	a.fails(r, 400, "ImageNotFoundException")
	if want := "The image with imageId {imageDigest:'null', imageTag:'nope'} does not exist within the repository with name 'app' in the registry with id '000000000000'"; r.message() != want {
		t.Fatalf("message %q", r.message())
	}
	started := a.ok("StartImageScan", byTag)
	if started["imageScanStatus"].(map[string]any)["status"] != "IN_PROGRESS" || started["imageId"].(map[string]any)["imageDigest"] != d {
		t.Fatalf("StartImageScan %v", started)
	}
	out := a.scanDone(map[string]any{"repositoryName": "app", "imageId": map[string]string{"imageDigest": d}, "maxResults": 2})
	status := out["imageScanStatus"].(map[string]any)
	findings := out["imageScanFindings"].(map[string]any)
	if status["status"] != "COMPLETE" || status["description"] != "The scan was completed successfully." ||
		findings["vulnerabilitySourceUpdatedAt"].(float64) != float64(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC).Unix()) ||
		findings["imageScanCompletedAt"] == nil || fmt.Sprint(findings["findingSeverityCounts"]) != "map[CRITICAL:1 HIGH:2 LOW:1 MEDIUM:1]" {
		t.Fatalf("DescribeImageScanFindings %v", out)
	}
	first := findings["findings"].([]any)[0].(map[string]any)
	if first["name"] != "CVE-2026-0000" || first["severity"] != "CRITICAL" || first["uri"] != "https://security-tracker.debian.org/tracker/CVE-2026-0000" ||
		first["description"] != "openssl: a flaw" ||
		fmt.Sprint(first["attributes"]) != "[map[key:package_version value:3.0.11-1~deb12u1] map[key:package_name value:libssl3] map[key:CVSS3_VECTOR value:CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H] map[key:CVSS3_SCORE value:9.8]]" {
		t.Fatalf("finding %v", first)
	}
	// Paging: every finding once.
	var names []string
	for page := out; ; {
		for _, f := range page["imageScanFindings"].(map[string]any)["findings"].([]any) {
			names = append(names, f.(map[string]any)["name"].(string))
		}
		next, _ := page["nextToken"].(string)
		if next == "" {
			break
		}
		page = a.ok("DescribeImageScanFindings", map[string]any{"repositoryName": "app", "imageId": map[string]string{"imageTag": "v1"}, "maxResults": 2, "nextToken": next})
	}
	if fmt.Sprint(names) != "[CVE-2026-0000 CVE-2026-0001 CVE-2026-0002 CVE-2026-0003 CVE-2026-0004]" {
		t.Fatalf("paged findings %v", names)
	}
	a.fails(a.call("DescribeImageScanFindings", map[string]any{"repositoryName": "app", "imageId": map[string]string{"imageTag": "v1"}, "nextToken": "forged"}), 400, "InvalidParameterException")

	r = a.call("StartImageScan", byTag)
	a.fails(r, 400, "LimitExceededException")
	if r.message() != "The scan quota per image has been exceeded. Wait and try again." {
		t.Fatalf("message %q", r.message())
	}

	detail := a.ok("DescribeImages", map[string]any{"repositoryName": "app"})["imageDetails"].([]any)[0].(map[string]any)
	if detail["imageScanStatus"].(map[string]any)["status"] != "COMPLETE" ||
		fmt.Sprint(detail["imageScanFindingsSummary"].(map[string]any)["findingSeverityCounts"]) != "map[CRITICAL:1 HIGH:2 LOW:1 MEDIUM:1]" {
		t.Fatalf("DescribeImages %v", detail)
	}

	// An index cannot be scanned.
	index := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"%s","digest":"%s","size":%d}]}`, ociManifest, d, manifestSize(a, d))
	a.ok("PutImage", map[string]any{"repositoryName": "app", "imageManifest": index, "imageTag": "multi"})
	r = a.call("StartImageScan", map[string]any{"repositoryName": "app", "imageId": map[string]string{"imageTag": "multi"}})
	a.fails(r, 400, "UnsupportedImageTypeException")

	// The registry's configuration: ENHANCED on push for app*, which supersedes scanOnPush.
	got := a.ok("GetRegistryScanningConfiguration", map[string]any{})
	if fmt.Sprint(got["scanningConfiguration"]) != "map[rules:[] scanType:BASIC]" || got["registryId"] != "000000000000" {
		t.Fatalf("default configuration %v", got)
	}
	a.fails(a.call("PutRegistryScanningConfiguration", map[string]any{"scanType": "BASIC", "rules": []map[string]any{
		{"scanFrequency": "CONTINUOUS_SCAN", "repositoryFilters": []map[string]string{{"filter": "*", "filterType": "WILDCARD"}}}}}), 400, "InvalidParameterException")
	rule := []map[string]any{{"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": []map[string]string{{"filter": "app*", "filterType": "WILDCARD"}}}}
	put := a.ok("PutRegistryScanningConfiguration", map[string]any{"scanType": "ENHANCED", "rules": rule})
	if fmt.Sprint(put["registryScanningConfiguration"]) != "map[rules:[map[repositoryFilters:[map[filter:app* filterType:WILDCARD]] scanFrequency:SCAN_ON_PUSH]] scanType:ENHANCED]" {
		t.Fatalf("PutRegistryScanningConfiguration %v", put)
	}
	a.ok("CreateRepository", map[string]any{"repositoryName": "other", "imageScanningConfiguration": map[string]bool{"scanOnPush": true}})
	batch := a.ok("BatchGetRepositoryScanningConfiguration", map[string]any{"repositoryNames": []string{"app", "other", "gone"}})
	if fmt.Sprint(batch["scanningConfigurations"]) != "[map[appliedScanFilters:[map[filter:app* filterType:WILDCARD]] repositoryArn:arn:aws:ecr:us-east-1:000000000000:repository/app repositoryName:app scanFrequency:SCAN_ON_PUSH scanOnPush:true] "+
		"map[appliedScanFilters:[] repositoryArn:arn:aws:ecr:us-east-1:000000000000:repository/other repositoryName:other scanFrequency:MANUAL scanOnPush:false]]" ||
		len(batch["failures"].([]any)) != 1 || batch["failures"].([]any)[0].(map[string]any)["failureCode"] != "REPOSITORY_NOT_FOUND" {
		t.Fatalf("BatchGetRepositoryScanningConfiguration %v", batch)
	}

	d2 := a.pushImage("app", "v2", "two")
	out = a.scanDone(map[string]any{"repositoryName": "app", "imageId": map[string]string{"imageDigest": d2}})
	enhanced := out["imageScanFindings"].(map[string]any)["enhancedFindings"].([]any)
	e := enhanced[0].(map[string]any)
	details := e["packageVulnerabilityDetails"].(map[string]any)
	pkg := details["vulnerablePackages"].([]any)[0].(map[string]any)
	if len(enhanced) != 5 || e["type"] != "PACKAGE_VULNERABILITY" || e["status"] != "ACTIVE" || e["fixAvailable"] != "YES" ||
		details["vulnerabilityId"] != "CVE-2026-0000" || pkg["fixedInVersion"] != "3.0.11-1~deb12u2" || pkg["packageManager"] != "OS" ||
		details["cvss"].([]any)[0].(map[string]any)["baseScore"] != 9.8 || !strings.HasPrefix(e["findingArn"].(string), "arn:aws:ecr:us-east-1:000000000000:finding/") {
		t.Fatalf("enhanced finding %v", e)
	}
	if _, ok := out["imageScanFindings"].(map[string]any)["findings"]; ok {
		t.Fatalf("an enhanced scan has basic findings: %v", out)
	}

	// The Go SDK reads both kinds of findings with the types of ECR's model.
	client := ecr.New(ecr.Options{Region: "us-east-1", BaseEndpoint: aws.String(a.url),
		Credentials: credentials.NewStaticCredentialsProvider(admin.AccessKeyID, admin.SecretAccessKey, "")})
	basic, err := client.DescribeImageScanFindings(ctx, &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String("app"), ImageId: &types.ImageIdentifier{ImageTag: aws.String("v1")}})
	if err != nil || len(basic.ImageScanFindings.Findings) != 5 || basic.ImageScanFindings.Findings[0].Severity != types.FindingSeverityCritical ||
		basic.ImageScanFindings.FindingSeverityCounts["HIGH"] != 2 || basic.ImageScanFindings.VulnerabilitySourceUpdatedAt == nil {
		t.Fatalf("Go SDK, basic: %+v, %v", basic, err)
	}
	enh, err := client.DescribeImageScanFindings(ctx, &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String("app"), ImageId: &types.ImageIdentifier{ImageTag: aws.String("v2")}})
	if err != nil || len(enh.ImageScanFindings.EnhancedFindings) != 5 {
		t.Fatalf("Go SDK, enhanced: %+v, %v", enh, err)
	}
	ef := enh.ImageScanFindings.EnhancedFindings[0]
	if *ef.PackageVulnerabilityDetails.VulnerablePackages[0].FixedInVersion != "3.0.11-1~deb12u2" || ef.ScoreDetails.Cvss.Score != 9.8 ||
		*ef.Resources[0].Details.AwsEcrContainerImage.ImageHash != d2 || ef.FirstObservedAt == nil {
		t.Fatalf("Go SDK, enhanced finding: %+v", ef)
	}
}

func manifestSize(a *api, d string) int {
	got := a.ok("BatchGetImage", map[string]any{"repositoryName": "app", "imageIds": []map[string]string{{"imageDigest": d}}})
	return len(got["images"].([]any)[0].(map[string]any)["imageManifest"].(string))
}

// TestScanningPermissions: the scanning actions are authorized as AWS names them; the managed ReadOnly and
// PowerUser policies read findings but start no scan, FullAccess does everything.
func TestScanningPermissions(t *testing.T) {
	a := newAPIAt(t, registry.Config{}, clock.NewFake(time.Now()))
	ctx := context.Background()
	a.ok("CreateRepository", map[string]any{"repositoryName": "app"})
	a.pushImage("app", "v1", "one")
	img := map[string]any{"repositoryName": "app", "imageId": map[string]string{"imageTag": "v1"}}
	bob := a.user("bob")

	r := a.as(bob, "StartImageScan", img)
	a.fails(r, 400, "AccessDeniedException")
	if !strings.Contains(r.message(), "ecr:StartImageScan on resource: arn:aws:ecr:us-east-1:000000000000:repository/app") {
		t.Fatalf("message %q", r.message())
	}
	r = a.as(bob, "GetRegistryScanningConfiguration", map[string]any{})
	a.fails(r, 400, "AccessDeniedException")
	if !strings.Contains(r.message(), "ecr:GetRegistryScanningConfiguration on resource: * because") { // a registry action, on "*" as AWS has it
		t.Fatalf("message %q", r.message())
	}

	if err := a.app.Identity.AttachUserPolicy(ctx, "000000000000", "bob", "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPowerUser"); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(1100 * time.Millisecond)
	a.fails(a.as(bob, "StartImageScan", img), 400, "AccessDeniedException")
	a.fails(a.as(bob, "DescribeImageScanFindings", img), 400, "ScanNotFoundException") // allowed: the image has no scan
	a.fails(a.as(bob, "PutRegistryScanningConfiguration", map[string]any{"scanType": "BASIC"}), 400, "AccessDeniedException")

	if err := a.app.Identity.AttachUserPolicy(ctx, "000000000000", "bob", "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryFullAccess"); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(1100 * time.Millisecond)
	for _, op := range []struct {
		name string
		in   any
	}{
		{"StartImageScan", img},
		{"DescribeImageScanFindings", img},
		{"PutRegistryScanningConfiguration", map[string]any{"scanType": "BASIC"}},
		{"GetRegistryScanningConfiguration", map[string]any{}},
		{"BatchGetRepositoryScanningConfiguration", map[string]any{"repositoryNames": []string{"app"}}},
	} {
		if r := a.as(bob, op.name, op.in); r.status != 200 {
			t.Fatalf("FullAccess %s: %s", op.name, r.raw)
		}
	}
}

package ecrapi_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/registry"
)

// TestUpdateImageStorageClass archives and restores an image through the ECR API, with ECR's shapes and
// errors: the archived image is described and listed by status but neither BatchGetImage nor a registry
// pull gets it; the restore is ACTIVATING for the restore time (ECR's 20 minutes), then ACTIVE.
func TestUpdateImageStorageClass(t *testing.T) {
	clk := clock.NewFake(time.Now())
	a := newAPIAt(t, registry.Config{}, clk)
	a.ok("CreateRepository", map[string]any{"repositoryName": "app"})
	old := a.pushImage("app", "v1", "old")
	cur := a.pushImage("app", "v2", "cur")
	pull := func(ref string) int {
		t.Helper()
		r := a.call("GetAuthorizationToken", map[string]any{})
		tok := r.body["authorizationData"].([]any)[0].(map[string]any)["authorizationToken"].(string)
		req, _ := http.NewRequest("GET", a.url+"/v2/app/manifests/"+ref, nil)
		req.Header.Set("Authorization", "Basic "+tok)
		req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	detail := func(ref map[string]any) map[string]any {
		t.Helper()
		out := a.ok("DescribeImages", map[string]any{"repositoryName": "app", "imageIds": []any{ref}})
		return out["imageDetails"].([]any)[0].(map[string]any)
	}
	digests := func(op string, filter map[string]any) []string {
		t.Helper()
		in := map[string]any{"repositoryName": "app"}
		if filter != nil {
			in["filter"] = filter
		}
		var ds []string
		if op == "ListImages" {
			for _, id := range a.ok(op, in)["imageIds"].([]any) {
				ds = append(ds, id.(map[string]any)["imageDigest"].(string))
			}
			return ds
		}
		for _, d := range a.ok(op, in)["imageDetails"].([]any) {
			ds = append(ds, d.(map[string]any)["imageDigest"].(string))
		}
		return ds
	}

	if d := detail(map[string]any{"imageTag": "v1"}); d["imageStatus"] != "ACTIVE" || d["lastArchivedAt"] != nil || d["lastActivatedAt"] != nil {
		t.Fatalf("a pushed image: %v", d)
	}
	if pull("v1") != 200 {
		t.Fatal("v1 not pullable")
	}

	// Errors as the model lists them.
	a.fails(a.call("UpdateImageStorageClass", map[string]any{"repositoryName": "app", "imageId": map[string]any{"imageTag": "v1"}, "targetStorageClass": "STANDARD"}),
		400, "ImageStorageClassUpdateNotSupportedException")
	a.fails(a.call("UpdateImageStorageClass", map[string]any{"repositoryName": "app", "imageId": map[string]any{"imageTag": "v1"}, "targetStorageClass": "GLACIER"}),
		400, "InvalidParameterException")
	a.fails(a.call("UpdateImageStorageClass", map[string]any{"repositoryName": "app", "imageId": map[string]any{"imageTag": "v1"}}),
		400, "InvalidParameterException")
	a.fails(a.call("UpdateImageStorageClass", map[string]any{"repositoryName": "app", "targetStorageClass": "ARCHIVE"}),
		400, "InvalidParameterException")
	r := a.call("UpdateImageStorageClass", map[string]any{"repositoryName": "app", "imageId": map[string]any{"imageTag": "nope"}, "targetStorageClass": "ARCHIVE"})
	a.fails(r, 400, "ImageNotFoundException")
	if want := "The image with imageId {imageDigest:'null', imageTag:'nope'} does not exist within the repository with name 'app' in the registry with id '000000000000'"; r.body["message"] != want {
		t.Fatalf("message %q", r.body["message"])
	}
	a.fails(a.call("UpdateImageStorageClass", map[string]any{"repositoryName": "nope", "imageId": map[string]any{"imageTag": "v1"}, "targetStorageClass": "ARCHIVE"}),
		400, "RepositoryNotFoundException")

	// Archive by tag.
	out := a.ok("UpdateImageStorageClass", map[string]any{"repositoryName": "app", "imageId": map[string]any{"imageTag": "v1"}, "targetStorageClass": "ARCHIVE"})
	if out["imageStatus"] != "ARCHIVED" || out["registryId"] != "000000000000" || out["repositoryName"] != "app" ||
		out["imageId"].(map[string]any)["imageDigest"] != old || out["imageId"].(map[string]any)["imageTag"] != "v1" {
		t.Fatalf("archive: %v", out)
	}
	d := detail(map[string]any{"imageDigest": old})
	if d["imageStatus"] != "ARCHIVED" || d["lastArchivedAt"] == nil || d["lastActivatedAt"] != nil ||
		d["imageScanStatus"].(map[string]any)["status"] != "IMAGE_ARCHIVED" {
		t.Fatalf("archived: %v", d)
	}
	if code := pull("v1"); code != 404 {
		t.Fatalf("pull of an archived image: %d", code)
	}
	if code := pull(old); code != 404 {
		t.Fatalf("pull of an archived image by digest: %d", code)
	}
	got := a.ok("BatchGetImage", map[string]any{"repositoryName": "app", "imageIds": []any{map[string]any{"imageTag": "v1"}, map[string]any{"imageTag": "v2"}}})
	if imgs, fs := got["images"].([]any), got["failures"].([]any); len(imgs) != 1 || len(fs) != 1 ||
		fs[0].(map[string]any)["failureCode"] != "ImageNotFound" {
		t.Fatalf("BatchGetImage: %v", got)
	}
	for _, op := range []string{"DescribeImages", "ListImages"} {
		if ds := digests(op, nil); len(ds) != 1 || ds[0] != cur {
			t.Fatalf("%s by default: %v, want only the active image", op, ds)
		}
		if ds := digests(op, map[string]any{"imageStatus": "ARCHIVED"}); len(ds) != 1 || ds[0] != old {
			t.Fatalf("%s of ARCHIVED: %v", op, ds)
		}
		if ds := digests(op, map[string]any{"imageStatus": "ANY", "tagStatus": "TAGGED"}); len(ds) != 2 {
			t.Fatalf("%s of ANY: %v", op, ds)
		}
		a.fails(a.call(op, map[string]any{"repositoryName": "app", "filter": map[string]any{"imageStatus": "FROZEN"}}), 400, "InvalidParameterException")
	}
	a.fails(a.call("StartImageScan", map[string]any{"repositoryName": "app", "imageId": map[string]any{"imageTag": "v1"}}), 400, "ImageArchivedException")
	a.fails(a.call("UpdateImageStorageClass", map[string]any{"repositoryName": "app", "imageId": map[string]any{"imageDigest": old}, "targetStorageClass": "ARCHIVE"}),
		400, "ImageStorageClassUpdateNotSupportedException")

	// Restore by digest: ACTIVATING for ECR's 20 minutes.
	out = a.ok("UpdateImageStorageClass", map[string]any{"repositoryName": "app", "imageId": map[string]any{"imageDigest": old}, "targetStorageClass": "STANDARD"})
	if out["imageStatus"] != "ACTIVATING" || out["imageId"].(map[string]any)["imageTag"] != nil {
		t.Fatalf("restore: %v", out)
	}
	if ds := digests("DescribeImages", map[string]any{"imageStatus": "ACTIVATING"}); len(ds) != 1 || ds[0] != old {
		t.Fatalf("ACTIVATING: %v", ds)
	}
	if code := pull("v1"); code != 404 {
		t.Fatalf("pull of an image being restored: %d", code)
	}
	clk.Advance(registry.DefaultRestoreTime)
	d = detail(map[string]any{"imageTag": "v1"})
	if d["imageStatus"] != "ACTIVE" || d["lastArchivedAt"] == nil || d["lastActivatedAt"].(float64) <= d["lastArchivedAt"].(float64) {
		t.Fatalf("restored: %v", d)
	}
	if code := pull("v1"); code != 200 {
		t.Fatalf("pull of a restored image: %d", code)
	}

	// ecr:UpdateImageStorageClass is its own action: a read-only user may not.
	reader := a.user("reader")
	if err := a.app.Identity.AttachUserPolicy(t.Context(), "000000000000", "reader", "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"); err != nil {
		t.Fatal(err)
	}
	r = a.as(reader, "UpdateImageStorageClass", map[string]any{"repositoryName": "app", "imageId": map[string]any{"imageTag": "v1"}, "targetStorageClass": "ARCHIVE"})
	a.fails(r, 400, "AccessDeniedException")
}

// TestReferrersArtifactStatus: ListImageReferrers shows each referrer's status and filters by it,
// ACTIVE by default.
func TestReferrersArtifactStatus(t *testing.T) {
	a := newAPI(t, registry.Config{})
	a.ok("CreateRepository", map[string]any{"repositoryName": "app"})
	subject := a.pushImage("app", "v1", "subject")
	empty := a.pushLayer("app", []byte("{}"))
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"%s","artifactType":"application/vnd.example.sig","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[],"subject":{"mediaType":"%s","digest":"%s","size":%d}}`,
		ociManifest, empty, ociManifest, subject, manifestSize(a, subject))
	put := a.ok("PutImage", map[string]any{"repositoryName": "app", "imageManifest": m})
	sig := put["image"].(map[string]any)["imageId"].(map[string]any)["imageDigest"].(string)
	a.ok("UpdateImageStorageClass", map[string]any{"repositoryName": "app", "imageId": map[string]any{"imageDigest": sig}, "targetStorageClass": "ARCHIVE"})
	list := func(status string) []any {
		in := map[string]any{"repositoryName": "app", "subjectId": map[string]any{"imageDigest": subject}}
		if status != "" {
			in["filter"] = map[string]any{"artifactStatus": status}
		}
		return a.ok("ListImageReferrers", in)["referrers"].([]any)
	}
	if l := list(""); len(l) != 0 {
		t.Fatalf("default (ACTIVE): %v", l)
	}
	if l := list("ARCHIVED"); len(l) != 1 || l[0].(map[string]any)["artifactStatus"] != "ARCHIVED" || l[0].(map[string]any)["digest"] != sig {
		t.Fatalf("ARCHIVED: %v", l)
	}
	if l := list("ANY"); len(l) != 1 {
		t.Fatalf("ANY: %v", l)
	}
}

// TestLifecyclePreviewTransitions: the preview of a transition rule shows ECR's TRANSITION action, the
// storage class of each image and the transitioning summary.
func TestLifecyclePreviewTransitions(t *testing.T) {
	clk := clock.NewFake(time.Now())
	a := newAPIAt(t, registry.Config{}, clk)
	a.ok("CreateRepository", map[string]any{"repositoryName": "app"})
	d := a.pushImage("app", "v1", "old")
	clk.Advance(2 * 24 * time.Hour)
	const text = `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"transition","targetStorageClass":"archive"}}]}`
	a.ok("StartLifecyclePolicyPreview", map[string]any{"repositoryName": "app", "lifecyclePolicyText": text})
	var out map[string]any
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if out = a.ok("GetLifecyclePolicyPreview", map[string]any{"repositoryName": "app"}); out["status"] != "IN_PROGRESS" || time.Now().After(deadline) {
			break
		}
	}
	rs := out["previewResults"].([]any)
	if out["status"] != "COMPLETE" || len(rs) != 1 {
		t.Fatalf("preview: %v", out)
	}
	r := rs[0].(map[string]any)
	action := r["action"].(map[string]any)
	if r["imageDigest"] != d || action["type"] != "TRANSITION" || action["targetStorageClass"] != "ARCHIVE" || r["storageClass"] != "STANDARD" {
		t.Fatalf("result: %v", r)
	}
	sum := out["summary"].(map[string]any)
	counts, _ := sum["transitioningImageTotalCounts"].([]any)
	if sum["expiringImageTotalCount"].(float64) != 0 || len(counts) != 1 ||
		counts[0].(map[string]any)["targetStorageClass"] != "ARCHIVE" || counts[0].(map[string]any)["imageTotalCount"].(float64) != 1 {
		t.Fatalf("summary: %v", sum)
	}
}

package ecrapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/registry"
)

func TestImageSBOM(t *testing.T) {
	a := newAPIAt(t, registry.Config{Scanner: scanner{}}, clock.NewFake(time.Now()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.app.Jobs.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	a.ok("CreateRepository", map[string]any{"repositoryName": "app"})
	d := a.pushImage("app", "v1", "one")
	byTag := map[string]any{"repositoryName": "app", "imageId": map[string]string{"imageTag": "v1"}}

	// Never scanned: ScanNotFoundException, for both operations.
	for _, op := range []string{"GetImageSbom", "AttachImageSbom"} {
		r := a.call(op, byTag)
		a.fails(r, 400, "ScanNotFoundException")
		if want := "Image scan does not exist for the image with '{imageDigest:'null', imageTag:'v1'}' in the repository with name 'app' in the registry with id '000000000000'"; r.message() != want {
			t.Fatalf("%s: message %q", op, r.message())
		}
	}
	// Strict input: a member of the wrong type or given twice, a format not in the enum, a missing image.
	a.fails(a.call("GetImageSbom", map[string]any{"repositoryName": "app", "imageId": map[string]string{"imageTag": "v1"}, "format": 1}), 400, "SerializationException")
	a.fails(a.raw("GetImageSbom", []byte(`{"repositoryName":"app","imageId":{"imageTag":"v1"},"format":"SPDX","format":"CYCLONEDX"}`), a.now(), admin), 400, "SerializationException")
	r := a.call("GetImageSbom", map[string]any{"repositoryName": "app", "imageId": map[string]string{"imageTag": "v1"}, "format": "spdx"})
	a.fails(r, 400, "InvalidParameterException")
	if r.message() != "Invalid parameter at 'format' failed to satisfy constraint: 'Member must satisfy enum value set: [SPDX, CYCLONEDX]'" {
		t.Fatalf("message %q", r.message())
	}
	a.fails(a.call("GetImageSbom", map[string]any{"repositoryName": "app", "imageId": map[string]string{"imageTag": "nope"}}), 400, "ImageNotFoundException")
	a.fails(a.call("GetImageSbom", map[string]any{"repositoryName": "nope", "imageId": map[string]string{"imageTag": "v1"}}), 400, "RepositoryNotFoundException")

	a.ok("StartImageScan", byTag)
	a.scanDone(byTag)

	docs := map[string]string{}
	for _, format := range []string{"SPDX", "CYCLONEDX"} {
		out := a.ok("GetImageSbom", map[string]any{"repositoryName": "app", "imageId": map[string]string{"imageTag": "v1"}, "format": format})
		id := out["imageId"].(map[string]any)
		if out["format"] != format || id["imageDigest"] != d || id["imageTag"] != "v1" || out["registryId"] != "000000000000" {
			t.Fatalf("GetImageSbom %s: %v", format, out)
		}
		doc, _ := out["sbom"].(string)
		var m map[string]any
		if err := json.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("%s: sbom is not a JSON document: %v", format, err)
		}
		if format == "SPDX" && (m["spdxVersion"] != "SPDX-2.3" || out["mediaType"] != "application/spdx+json") ||
			format == "CYCLONEDX" && (m["bomFormat"] != "CycloneDX" || out["mediaType"] != "application/vnd.cyclonedx+json") {
			t.Fatalf("%s document: %.200s", format, doc)
		}
		if !strings.Contains(doc, d) || !strings.Contains(doc, `"debian"`) {
			t.Fatalf("%s document does not describe the image: %.300s", format, doc)
		}
		docs[format] = doc
	}
	// SPDX is the default.
	if out := a.ok("GetImageSbom", byTag); out["sbom"] != docs["SPDX"] {
		t.Fatal("the default format is not SPDX, or the document changed")
	}

	att := a.ok("AttachImageSbom", map[string]any{"repositoryName": "app", "imageId": map[string]string{"imageDigest": d}, "format": "CYCLONEDX"})
	ref := att["imageId"].(map[string]any)["imageDigest"].(string)
	if att["artifactType"] != "application/vnd.cyclonedx+json" || att["subject"].(map[string]any)["imageDigest"] != d || !strings.HasPrefix(ref, "sha256:") {
		t.Fatalf("AttachImageSbom %v", att)
	}
	if again := a.ok("AttachImageSbom", map[string]any{"repositoryName": "app", "imageId": map[string]string{"imageTag": "v1"}, "format": "CYCLONEDX"}); again["imageId"].(map[string]any)["imageDigest"] != ref {
		t.Fatalf("attach again: %v, first %s", again, ref)
	}
	// The artifact is an image of the repository, whose manifest names the image as its subject.
	imgs := a.ok("BatchGetImage", map[string]any{"repositoryName": "app", "imageIds": []map[string]string{{"imageDigest": ref}},
		"acceptedMediaTypes": []string{"application/vnd.oci.image.manifest.v1+json"}})["images"].([]any)
	if len(imgs) != 1 || !strings.Contains(imgs[0].(map[string]any)["imageManifest"].(string), `"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"`+d) {
		t.Fatalf("BatchGetImage of the artifact: %v", imgs)
	}
}

// TestImageSBOMAuthorization: reading an SBOM is ecr:DescribeImageScanFindings on the repository; attaching
// needs ecr:PutImage there too.
func TestImageSBOMAuthorization(t *testing.T) {
	a := newAPIAt(t, registry.Config{Scanner: scanner{}}, clock.NewFake(time.Now()))
	ctx := context.Background()
	a.ok("CreateRepository", map[string]any{"repositoryName": "app"})
	a.pushImage("app", "v1", "one")
	in := map[string]any{"repositoryName": "app", "imageId": map[string]string{"imageTag": "v1"}}

	bob := a.user("bob")
	for _, op := range []string{"GetImageSbom", "AttachImageSbom"} {
		r := a.as(bob, op, in)
		a.fails(r, 400, "AccessDeniedException")
		if want := "User: arn:aws:iam::000000000000:user/bob is not authorized to perform: ecr:DescribeImageScanFindings on resource: arn:aws:ecr:us-east-1:000000000000:repository/app because no identity-based policy allows the ecr:DescribeImageScanFindings action"; r.message() != want {
			t.Fatalf("%s: message %q", op, r.message())
		}
	}
	if err := a.app.Identity.PutUserPolicy(ctx, "000000000000", "bob", "findings", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"ecr:DescribeImageScanFindings","Resource":"arn:aws:ecr:us-east-1:000000000000:repository/app"}]}`); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(1100 * time.Millisecond)
	// Allowed now: the answer is the image's (no scan yet), not a denial.
	a.fails(a.as(bob, "GetImageSbom", in), 400, "ScanNotFoundException")
	r := a.as(bob, "AttachImageSbom", in)
	a.fails(r, 400, "AccessDeniedException")
	if !strings.Contains(r.message(), "not authorized to perform: ecr:PutImage on resource: arn:aws:ecr:us-east-1:000000000000:repository/app") {
		t.Fatalf("attach without ecr:PutImage: %q", r.message())
	}
	if err := a.app.Identity.PutUserPolicy(ctx, "000000000000", "bob", "push", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"ecr:PutImage","Resource":"*"}]}`); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(1100 * time.Millisecond)
	a.fails(a.as(bob, "AttachImageSbom", in), 400, "ScanNotFoundException")
}

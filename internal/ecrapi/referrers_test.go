package ecrapi_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/registry"
)

// TestListImageReferrers lists the artifacts whose subject is an image, with filters and pages, as
// ecr:BatchGetImage allows.
func TestListImageReferrers(t *testing.T) {
	a := newAPIAt(t, registry.Config{}, clock.NewFake(time.Now()))
	a.ok("CreateRepository", map[string]any{"repositoryName": "app"})
	subject := a.pushImage("app", "v1", "subject")
	empty := a.pushLayer("app", []byte("{}"))
	refer := func(artifactType, n string) string {
		m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"%s","artifactType":"%s","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[],"subject":{"mediaType":"%s","digest":"%s","size":%d},"annotations":{"n":"%s"}}`,
			ociManifest, artifactType, empty, ociManifest, subject, manifestSize(a, subject), n)
		put := a.ok("PutImage", map[string]any{"repositoryName": "app", "imageManifest": m})
		return put["image"].(map[string]any)["imageId"].(map[string]any)["imageDigest"].(string)
	}
	sig := map[string]bool{}
	for i := range 3 {
		sig[refer("application/vnd.dev.cosign.artifact.sig.v1+json", fmt.Sprint(i))] = true
	}
	sbom := refer("application/spdx+json", "sbom")

	list := func(in map[string]any) map[string]any {
		in["repositoryName"], in["subjectId"] = "app", map[string]string{"imageDigest": subject}
		return a.ok("ListImageReferrers", in)
	}
	seen := map[string]bool{}
	var token any
	for pages := 0; ; pages++ {
		in := map[string]any{"maxResults": 2}
		if token != nil {
			in["nextToken"] = token
		}
		out := list(in)
		for _, r := range out["referrers"].([]any) {
			r := r.(map[string]any)
			if seen[r["digest"].(string)] || r["artifactStatus"] != "ACTIVE" || r["mediaType"] != ociManifest || r["size"].(float64) <= 0 || r["annotations"] == nil {
				t.Fatalf("referrer %v (seen before: %v)", r, seen[r["digest"].(string)])
			}
			seen[r["digest"].(string)] = true
		}
		if token = out["nextToken"]; token == nil {
			break
		}
		if pages > 3 {
			t.Fatal("paging does not end")
		}
	}
	if len(seen) != 4 || !seen[sbom] {
		t.Fatalf("listed %v", seen)
	}
	out := list(map[string]any{"filter": map[string]any{"artifactTypes": []string{"application/spdx+json"}}})
	if r := out["referrers"].([]any); len(r) != 1 || r[0].(map[string]any)["digest"] != sbom || r[0].(map[string]any)["artifactType"] != "application/spdx+json" {
		t.Fatalf("filtered by artifact type: %v", out)
	}
	if r := list(map[string]any{"filter": map[string]any{"artifactStatus": "ARCHIVED"}})["referrers"].([]any); len(r) != 0 {
		t.Fatalf("archived referrers: %v", r)
	}
	if r := list(map[string]any{"filter": map[string]any{"artifactStatus": "ANY"}})["referrers"].([]any); len(r) != 4 {
		t.Fatalf("referrers of any status: %v", r)
	}

	// A token of another subject's listing is refused; bounds are the model's.
	first := list(map[string]any{"maxResults": 1})["nextToken"].(string)
	a.fails(a.call("ListImageReferrers", map[string]any{"repositoryName": "app", "subjectId": map[string]string{"imageDigest": sbom}, "nextToken": first}), 400, "InvalidParameterException")
	a.fails(a.call("ListImageReferrers", map[string]any{"repositoryName": "app", "subjectId": map[string]string{"imageDigest": subject}, "maxResults": 51}), 400, "InvalidParameterException")
	a.fails(a.call("ListImageReferrers", map[string]any{"repositoryName": "app"}), 400, "InvalidParameterException")
	a.fails(a.call("ListImageReferrers", map[string]any{"repositoryName": "nope", "subjectId": map[string]string{"imageDigest": subject}}), 400, "RepositoryNotFoundException")

	// Authorized as ecr:BatchGetImage, which the managed pull policy gives.
	bob := a.user("bob")
	in := map[string]any{"repositoryName": "app", "subjectId": map[string]string{"imageDigest": subject}}
	r := a.as(bob, "ListImageReferrers", in)
	a.fails(r, 400, "AccessDeniedException")
	if want := "User: arn:aws:iam::000000000000:user/bob is not authorized to perform: ecr:BatchGetImage on resource: arn:aws:ecr:us-east-1:000000000000:repository/app because no identity-based policy allows the ecr:BatchGetImage action"; r.message() != want {
		t.Errorf("denial: %q", r.message())
	}
	if err := a.app.Identity.AttachUserPolicy(t.Context(), "000000000000", "bob", "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly"); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(1100 * time.Millisecond) // changed outside the API: cached for up to a second
	if r := a.as(bob, "ListImageReferrers", in); r.status != 200 {
		t.Fatalf("with ecr:BatchGetImage: %s", r.raw)
	}
}

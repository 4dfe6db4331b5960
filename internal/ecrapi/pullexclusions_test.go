package ecrapi_test

import (
	"net/http"
	"testing"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/registry"
)

// TestPullTimeUpdateExclusions registers, lists and deregisters exclusions with ECR's shapes and errors.
func TestPullTimeUpdateExclusions(t *testing.T) {
	a := newAPI(t, registry.Config{})
	const robot = "arn:aws:iam::000000000000:user/robot"
	out := a.ok("RegisterPullTimeUpdateExclusion", map[string]any{"principalArn": robot})
	if out["principalArn"] != robot || out["createdAt"].(float64) <= 0 {
		t.Fatalf("register: %v", out)
	}
	a.fails(a.call("RegisterPullTimeUpdateExclusion", map[string]any{"principalArn": robot}), 400, "ExclusionAlreadyExistsException")
	a.fails(a.call("RegisterPullTimeUpdateExclusion", map[string]any{"principalArn": "arn:aws:iam::000000000000:root"}), 400, "InvalidParameterException")
	a.ok("RegisterPullTimeUpdateExclusion", map[string]any{"principalArn": "arn:aws:iam::000000000000:role/ci"})
	page := a.ok("ListPullTimeUpdateExclusions", map[string]any{"maxResults": 1})
	if l := page["pullTimeUpdateExclusions"].([]any); len(l) != 1 || l[0] != "arn:aws:iam::000000000000:role/ci" || page["nextToken"] == nil {
		t.Fatalf("first page: %v", page)
	}
	page = a.ok("ListPullTimeUpdateExclusions", map[string]any{"maxResults": 1, "nextToken": page["nextToken"]})
	if l := page["pullTimeUpdateExclusions"].([]any); len(l) != 1 || l[0] != robot {
		t.Fatalf("second page: %v", page)
	}
	if _, more := page["nextToken"]; more {
		t.Fatalf("the last page has a nextToken: %v", page)
	}
	if out := a.ok("DeregisterPullTimeUpdateExclusion", map[string]any{"principalArn": robot}); out["principalArn"] != robot {
		t.Fatalf("deregister: %v", out)
	}
	a.fails(a.call("DeregisterPullTimeUpdateExclusion", map[string]any{"principalArn": robot}), 400, "ExclusionNotFoundException")

	// A pull by the excluded user leaves lastRecordedPullTime alone; the admin's pull sets it.
	a.ok("CreateRepository", map[string]any{"repositoryName": "app"})
	a.pushImage("app", "v1", "pulled")
	puller := a.user("puller")
	if err := a.app.Identity.AttachUserPolicy(t.Context(), "000000000000", "puller", "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"); err != nil {
		t.Fatal(err)
	}
	a.ok("RegisterPullTimeUpdateExclusion", map[string]any{"principalArn": "arn:aws:iam::000000000000:user/puller"})
	pullAs := func(creds identity.Credentials) {
		t.Helper()
		r := a.as(creds, "GetAuthorizationToken", map[string]any{})
		if r.status != 200 {
			t.Fatalf("GetAuthorizationToken: %s", r.raw)
		}
		tok := r.body["authorizationData"].([]any)[0].(map[string]any)["authorizationToken"].(string)
		req, _ := http.NewRequest("GET", a.url+"/v2/app/manifests/v1", nil)
		req.Header.Set("Authorization", "Basic "+tok)
		req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("pull: %v %v", res, err)
		}
		res.Body.Close()
	}
	lastPulled := func() any {
		a.app.Service.FlushPulls()
		return a.ok("DescribeImages", map[string]any{"repositoryName": "app"})["imageDetails"].([]any)[0].(map[string]any)["lastRecordedPullTime"]
	}
	pullAs(puller)
	if at := lastPulled(); at != nil {
		t.Fatalf("the excluded user's pull set lastRecordedPullTime %v", at)
	}
	pullAs(admin)
	if at := lastPulled(); at == nil {
		t.Fatal("the admin's pull did not set lastRecordedPullTime")
	}

	// Registry-level actions: a user without them is denied.
	bob := a.user("bob")
	r := a.as(bob, "RegisterPullTimeUpdateExclusion", map[string]any{"principalArn": robot})
	a.fails(r, 400, "AccessDeniedException")
}

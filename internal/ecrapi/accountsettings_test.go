package ecrapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/registry"
)

// TestAccountSettings reads ECR's defaults and changes them, with ECR's errors.
func TestAccountSettings(t *testing.T) {
	a := newAPI(t, registry.Config{})
	for name, want := range map[string]string{"BASIC_SCAN_TYPE_VERSION": "AWS_NATIVE", "REGISTRY_POLICY_SCOPE": "V2", "BLOB_MOUNTING": "ENABLED"} {
		if out := a.ok("GetAccountSetting", map[string]any{"name": name}); out["name"] != name || out["value"] != want {
			t.Errorf("%s: %v, want %s", name, out, want)
		}
	}
	if out := a.ok("PutAccountSetting", map[string]any{"name": "BLOB_MOUNTING", "value": "DISABLED"}); out["value"] != "DISABLED" {
		t.Fatalf("put: %v", out)
	}
	if out := a.ok("GetAccountSetting", map[string]any{"name": "BLOB_MOUNTING"}); out["value"] != "DISABLED" {
		t.Fatalf("after put: %v", out)
	}
	a.fails(a.call("GetAccountSetting", map[string]any{"name": "NOPE"}), 400, "InvalidParameterException")
	a.fails(a.call("PutAccountSetting", map[string]any{"name": "REGISTRY_POLICY_SCOPE", "value": "V3"}), 400, "InvalidParameterException")
	a.fails(a.call("PutAccountSetting", map[string]any{"name": "BASIC_SCAN_TYPE_VERSION", "value": "CLAIR"}), 400, "InvalidParameterException")
	a.fails(a.call("PutAccountSetting", map[string]any{"name": "BLOB_MOUNTING"}), 400, "InvalidParameterException")
	bob := a.user("bob")
	r := a.as(bob, "PutAccountSetting", map[string]any{"name": "BLOB_MOUNTING", "value": "ENABLED"})
	a.fails(r, 400, "AccessDeniedException")
	if !strings.Contains(r.message(), "ecr:PutAccountSetting on resource: * ") {
		t.Errorf("denial: %s", r.message())
	}
}

// TestRegistryPolicy: a registry policy governs every ECR action on the registry's repositories under
// scope V2, and only replication and pull through cache under V1.
func TestRegistryPolicy(t *testing.T) {
	a := newAPIAt(t, registry.Config{}, clock.NewFake(time.Now()))
	a.ok("CreateRepository", map[string]any{"repositoryName": "shared"})
	other, err := a.app.Identity.CreateAccount(context.Background(), "444455556666")
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]any{"registryId": "000000000000", "repositoryName": "shared"}
	a.fails(a.as(*other, "DescribeImages", in), 400, "AccessDeniedException")
	a.ok("PutRegistryPolicy", map[string]any{"policyText": `{"Version":"2012-10-17","Statement":[
		{"Sid":"ReadAll","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":["ecr:DescribeImages","ecr:CreateRepository"],
		 "Resource":"arn:aws:ecr:us-east-1:000000000000:repository/*"}]}`})
	if r := a.as(*other, "DescribeImages", in); r.status != 200 {
		t.Fatalf("cross-account read granted by the registry policy: %s", r.raw)
	}
	a.fails(a.as(*other, "ListImages", in), 400, "AccessDeniedException")
	if r := a.as(*other, "CreateRepository", map[string]any{"registryId": "000000000000", "repositoryName": "made-by-other"}); r.status != 200 {
		t.Fatalf("cross-account CreateRepository granted by the registry policy: %s", r.raw)
	}

	// Under V1 the registry policy governs CreateRepository still, DescribeImages no more.
	a.ok("PutAccountSetting", map[string]any{"name": "REGISTRY_POLICY_SCOPE", "value": "V1"})
	a.clock.Advance(1100 * time.Millisecond)
	a.fails(a.as(*other, "DescribeImages", in), 400, "AccessDeniedException")
	if r := a.as(*other, "CreateRepository", map[string]any{"registryId": "000000000000", "repositoryName": "made-under-v1"}); r.status != 200 {
		t.Fatalf("cross-account CreateRepository under V1: %s", r.raw)
	}
	a.ok("PutAccountSetting", map[string]any{"name": "REGISTRY_POLICY_SCOPE", "value": "V2"})

	// A Deny in the registry policy binds the registry's own users.
	bob := a.user("bob")
	if err := a.app.Identity.AttachUserPolicy(t.Context(), "000000000000", "bob", "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"); err != nil {
		t.Fatal(err)
	}
	a.ok("PutRegistryPolicy", map[string]any{"policyText": `{"Version":"2012-10-17","Statement":[
		{"Effect":"Deny","Principal":"*","Action":"ecr:DescribeImages","Resource":"arn:aws:ecr:us-east-1:000000000000:repository/shared"}]}`})
	r := a.as(bob, "DescribeImages", map[string]any{"repositoryName": "shared"})
	if !strings.HasSuffix(r.message(), "with an explicit deny in a resource-based policy") {
		t.Fatalf("registry policy deny: %s", r.raw)
	}
	if r := a.as(bob, "ListImages", map[string]any{"repositoryName": "shared"}); r.status != 200 {
		t.Fatalf("an action the deny does not name: %s", r.raw)
	}
	// CreateRepository is checked on the repository it creates.
	r = a.as(bob, "CreateRepository", map[string]any{"repositoryName": "bobs"})
	if !strings.Contains(r.message(), "ecr:CreateRepository on resource: arn:aws:ecr:us-east-1:000000000000:repository/bobs ") {
		t.Fatalf("CreateRepository denial: %s", r.raw)
	}
}

// TestBlobMountingSetting: with BLOB_MOUNTING disabled, a cross-repository mount is answered with an
// upload session (the client uploads the blob), as the distribution spec allows.
func TestBlobMountingSetting(t *testing.T) {
	a := newAPI(t, registry.Config{})
	a.ok("CreateRepository", map[string]any{"repositoryName": "src"})
	a.ok("CreateRepository", map[string]any{"repositoryName": "dst"})
	d := a.pushLayer("src", []byte("shared layer"))
	tok := a.ok("GetAuthorizationToken", map[string]any{})["authorizationData"].([]any)[0].(map[string]any)["authorizationToken"].(string)
	mount := func() int {
		req, _ := http.NewRequest("POST", a.url+"/v2/dst/blobs/uploads/?mount="+d+"&from=src", nil)
		req.Header.Set("Authorization", "Basic "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	a.ok("PutAccountSetting", map[string]any{"name": "BLOB_MOUNTING", "value": "DISABLED"})
	if code := mount(); code != 202 {
		t.Fatalf("mount with blob mounting disabled: %d", code)
	}
	a.ok("PutAccountSetting", map[string]any{"name": "BLOB_MOUNTING", "value": "ENABLED"})
	if code := mount(); code != 201 {
		t.Fatalf("mount with blob mounting enabled: %d", code)
	}
}

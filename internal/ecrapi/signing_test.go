package ecrapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/registry"
)

const signingProfile = "arn:aws:signer:us-east-1:000000000000:/signing-profiles/wharf_profile"

// TestSigningConfiguration puts, gets and deletes a signing configuration with ECR's shapes and errors.
func TestSigningConfiguration(t *testing.T) {
	a := newAPI(t, registry.Config{})
	a.fails(a.call("GetSigningConfiguration", map[string]any{}), 400, "SigningConfigurationNotFoundException")
	a.fails(a.call("DeleteSigningConfiguration", map[string]any{}), 400, "SigningConfigurationNotFoundException")
	a.fails(a.call("PutSigningConfiguration", map[string]any{}), 400, "InvalidParameterException")
	a.fails(a.call("PutSigningConfiguration", map[string]any{"signingConfiguration": map[string]any{"rules": "all"}}), 400, "SerializationException")
	bad := a.call("PutSigningConfiguration", map[string]any{"signingConfiguration": map[string]any{"rules": []any{
		map[string]any{"signingProfileArn": signingProfile, "repositoryFilters": []any{map[string]any{"filter": "prod/*", "filterType": "PREFIX_MATCH"}}}}}})
	a.fails(bad, 400, "InvalidParameterException")
	if !strings.Contains(bad.message(), "'signingConfiguration.rules.1.repositoryFilters.1.filterType'") {
		t.Errorf("message: %s", bad.message())
	}

	cfg := map[string]any{"rules": []any{
		map[string]any{"signingProfileArn": signingProfile, "repositoryFilters": []any{map[string]any{"filter": "prod/*", "filterType": "WILDCARD_MATCH"}}},
		map[string]any{"signingProfileArn": signingProfile},
	}}
	put := a.ok("PutSigningConfiguration", map[string]any{"signingConfiguration": cfg})
	rules := put["signingConfiguration"].(map[string]any)["rules"].([]any)
	if len(rules) != 2 || rules[0].(map[string]any)["repositoryFilters"].([]any)[0].(map[string]any)["filter"] != "prod/*" {
		t.Fatalf("put: %v", put)
	}
	if _, ok := rules[1].(map[string]any)["repositoryFilters"]; ok {
		t.Errorf("a rule without filters answers filters: %v", rules[1])
	}
	got := a.ok("GetSigningConfiguration", map[string]any{})
	if got["registryId"] != "000000000000" || len(got["signingConfiguration"].(map[string]any)["rules"].([]any)) != 2 {
		t.Fatalf("get: %v", got)
	}
	del := a.ok("DeleteSigningConfiguration", map[string]any{})
	if del["registryId"] != "000000000000" || len(del["signingConfiguration"].(map[string]any)["rules"].([]any)) != 2 {
		t.Fatalf("delete: %v", del)
	}
	a.fails(a.call("GetSigningConfiguration", map[string]any{}), 400, "SigningConfigurationNotFoundException")
}

// TestImageSigningStatus pushes an image to a repository a rule matches and one it does not, and
// describes their signing.
func TestImageSigningStatus(t *testing.T) {
	a := newAPI(t, registry.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.app.Jobs.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	a.ok("PutSigningConfiguration", map[string]any{"signingConfiguration": map[string]any{"rules": []any{
		map[string]any{"signingProfileArn": signingProfile, "repositoryFilters": []any{map[string]any{"filter": "prod*", "filterType": "WILDCARD_MATCH"}}}}}})
	a.ok("CreateRepository", map[string]any{"repositoryName": "prod"})
	a.ok("CreateRepository", map[string]any{"repositoryName": "dev"})
	prod := a.pushImage("prod", "v1", "prod")
	a.pushImage("dev", "v1", "dev")

	deadline := time.Now().Add(30 * time.Second)
	var out map[string]any
	for {
		out = a.ok("DescribeImageSigningStatus", map[string]any{"repositoryName": "prod", "imageId": map[string]any{"imageTag": "v1"}})
		st := out["signingStatuses"].([]any)
		if len(st) != 1 {
			t.Fatalf("statuses: %v", out)
		}
		if st[0].(map[string]any)["status"] != "IN_PROGRESS" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still signing: %v", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	st := out["signingStatuses"].([]any)[0].(map[string]any)
	if st["status"] != "COMPLETE" || st["signingProfileArn"] != signingProfile || st["failureCode"] != nil ||
		out["imageId"].(map[string]any)["imageDigest"] != prod || out["imageId"].(map[string]any)["imageTag"] != "v1" || out["repositoryName"] != "prod" {
		t.Fatalf("signed: %v", out)
	}
	dev := a.ok("DescribeImageSigningStatus", map[string]any{"repositoryName": "dev", "imageId": map[string]any{"imageTag": "v1"}})
	if st := dev["signingStatuses"].([]any); len(st) != 0 {
		t.Errorf("dev: %v", dev)
	}
	// The signature is an image of the repository, as ECR counts it.
	images := a.ok("DescribeImages", map[string]any{"repositoryName": "prod"})["imageDetails"].([]any)
	if len(images) != 2 {
		t.Errorf("images of prod: %v", images)
	}
	a.fails(a.call("DescribeImageSigningStatus", map[string]any{"repositoryName": "prod", "imageId": map[string]any{"imageTag": "nope"}}), 400, "ImageNotFoundException")
	a.fails(a.call("DescribeImageSigningStatus", map[string]any{"repositoryName": "nope", "imageId": map[string]any{"imageTag": "v1"}}), 400, "RepositoryNotFoundException")
	a.fails(a.call("DescribeImageSigningStatus", map[string]any{"repositoryName": "prod"}), 400, "InvalidParameterException")
}

// TestSigningAuthorization: the configuration's actions are allowed on "*" only, as ECR's have no
// resource; DescribeImageSigningStatus on the repository.
func TestSigningAuthorization(t *testing.T) {
	a := newAPI(t, registry.Config{})
	a.ok("CreateRepository", map[string]any{"repositoryName": "app"})
	a.pushImage("app", "v1", "one")
	bob := a.user("bob")
	if err := a.app.Identity.PutUserPolicy(context.Background(), "000000000000", "bob", "signing", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["ecr:PutSigningConfiguration","ecr:DescribeImageSigningStatus"],"Resource":"arn:aws:ecr:us-east-1:000000000000:repository/app"},
		{"Effect":"Allow","Action":"ecr:GetSigningConfiguration","Resource":"*"}]}`); err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{"signingConfiguration": map[string]any{"rules": []any{map[string]any{"signingProfileArn": signingProfile}}}}
	a.fails(a.as(bob, "PutSigningConfiguration", cfg), 400, "AccessDeniedException")
	a.fails(a.as(bob, "GetSigningConfiguration", map[string]any{}), 400, "SigningConfigurationNotFoundException")
	a.fails(a.as(bob, "DeleteSigningConfiguration", map[string]any{}), 400, "AccessDeniedException")
	if r := a.as(bob, "DescribeImageSigningStatus", map[string]any{"repositoryName": "app", "imageId": map[string]any{"imageTag": "v1"}}); r.status != 200 {
		t.Fatalf("DescribeImageSigningStatus on an allowed repository: %s", r.raw)
	}
}

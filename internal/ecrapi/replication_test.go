package ecrapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/registry"
)

// TestReplicationConfiguration puts and describes a replication configuration with ECR's shapes and errors.
func TestReplicationConfiguration(t *testing.T) {
	a := newAPI(t, registry.Config{})
	empty := a.ok("DescribeRegistry", map[string]any{})
	if empty["registryId"] != "000000000000" || len(empty["replicationConfiguration"].(map[string]any)["rules"].([]any)) != 0 {
		t.Fatalf("before any configuration: %v", empty)
	}
	a.fails(a.call("PutReplicationConfiguration", map[string]any{}), 400, "ValidationException")
	a.fails(a.call("PutReplicationConfiguration", map[string]any{"replicationConfiguration": map[string]any{}}), 400, "ValidationException")
	a.fails(a.call("PutReplicationConfiguration", map[string]any{"replicationConfiguration": map[string]any{"rules": "all"}}), 400, "SerializationException")
	dest := map[string]any{"region": "us-east-1", "registryId": "111111111111"}
	bad := a.call("PutReplicationConfiguration", map[string]any{"replicationConfiguration": map[string]any{"rules": []any{
		map[string]any{"destinations": []any{dest}, "repositoryFilters": []any{map[string]any{"filter": "prod", "filterType": "WILDCARD_MATCH"}}}}}})
	a.fails(bad, 400, "ValidationException")
	if !strings.Contains(bad.message(), "'replicationConfiguration.rules.1.member.repositoryFilters.1.member.filterType'") {
		t.Errorf("message: %s", bad.message())
	}
	self := a.call("PutReplicationConfiguration", map[string]any{"replicationConfiguration": map[string]any{"rules": []any{
		map[string]any{"destinations": []any{map[string]any{"region": "us-east-1", "registryId": "000000000000"}}}}}})
	a.fails(self, 400, "InvalidParameterException")
	rules := []any{}
	for range 11 {
		rules = append(rules, map[string]any{"destinations": []any{dest}})
	}
	a.fails(a.call("PutReplicationConfiguration", map[string]any{"replicationConfiguration": map[string]any{"rules": rules}}), 400, "ValidationException")

	cfg := map[string]any{"rules": []any{
		map[string]any{"destinations": []any{dest, map[string]any{"region": "eu-west-1", "registryId": "000000000000"}},
			"repositoryFilters": []any{map[string]any{"filter": "prod", "filterType": "PREFIX_MATCH"}}},
		map[string]any{"destinations": []any{dest}},
	}}
	put := a.ok("PutReplicationConfiguration", map[string]any{"replicationConfiguration": cfg})
	if got := put["replicationConfiguration"].(map[string]any)["rules"].([]any); len(got) != 2 {
		t.Fatalf("put: %v", put)
	}
	got := a.ok("DescribeRegistry", map[string]any{})["replicationConfiguration"].(map[string]any)["rules"].([]any)
	first, second := got[0].(map[string]any), got[1].(map[string]any)
	if len(first["destinations"].([]any)) != 2 || first["repositoryFilters"].([]any)[0].(map[string]any)["filterType"] != "PREFIX_MATCH" ||
		first["destinations"].([]any)[1].(map[string]any)["region"] != "eu-west-1" {
		t.Fatalf("described: %v", got)
	}
	if _, ok := second["repositoryFilters"]; ok {
		t.Errorf("a rule without filters answers filters: %v", second)
	}
	a.ok("PutReplicationConfiguration", map[string]any{"replicationConfiguration": map[string]any{"rules": []any{}}})
	if got := a.ok("DescribeRegistry", map[string]any{})["replicationConfiguration"].(map[string]any)["rules"].([]any); len(got) != 0 {
		t.Fatalf("after no rules: %v", got)
	}
	// The operation has no resource: only a policy on "*" allows it.
	bob := a.user("bob")
	if err := a.app.Identity.PutUserPolicy(context.Background(), "000000000000", "bob", "replication", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"ecr:PutReplicationConfiguration","Resource":"arn:aws:ecr:us-east-1:000000000000:repository/*"}]}`); err != nil {
		t.Fatal(err)
	}
	a.fails(a.as(bob, "PutReplicationConfiguration", map[string]any{"replicationConfiguration": cfg}), 400, "AccessDeniedException")
}

// TestImageReplicationStatus replicates a push into another account of this Wharf, whose registry policy
// allows it, and describes the replication.
func TestImageReplicationStatus(t *testing.T) {
	a := newAPI(t, registry.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.app.Jobs.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	other, err := a.app.Identity.CreateAccount(context.Background(), "444455556666")
	if err != nil {
		t.Fatal(err)
	}
	if r := a.as(*other, "PutRegistryPolicy", map[string]any{"policyText": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
		"Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":["ecr:ReplicateImage","ecr:CreateRepository"],"Resource":"arn:aws:ecr:us-east-1:444455556666:repository/*"}]}`}); r.status != 200 {
		t.Fatalf("PutRegistryPolicy: %s", r.raw)
	}
	a.ok("PutReplicationConfiguration", map[string]any{"replicationConfiguration": map[string]any{"rules": []any{
		map[string]any{"destinations": []any{map[string]any{"region": "us-east-1", "registryId": "444455556666"}, map[string]any{"region": "eu-west-1", "registryId": "444455556666"}}}}}})
	a.ok("CreateRepository", map[string]any{"repositoryName": "app"})
	d := a.pushImage("app", "v1", "one")

	deadline := time.Now().Add(30 * time.Second)
	var out map[string]any
	for {
		out = a.ok("DescribeImageReplicationStatus", map[string]any{"repositoryName": "app", "imageId": map[string]any{"imageTag": "v1"}})
		st := out["replicationStatuses"].([]any)
		if len(st) != 2 {
			t.Fatalf("statuses: %v", out)
		}
		if st[1].(map[string]any)["status"] != "IN_PROGRESS" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still replicating: %v", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	st := out["replicationStatuses"].([]any)
	far, here := st[0].(map[string]any), st[1].(map[string]any)
	if far["region"] != "eu-west-1" || far["status"] != "FAILED" || far["failureCode"] != "CrossRegionReplicationNotConfigured" ||
		here["region"] != "us-east-1" || here["registryId"] != "444455556666" || here["status"] != "COMPLETE" || here["failureCode"] != nil ||
		out["imageId"].(map[string]any)["imageDigest"] != d || out["repositoryName"] != "app" {
		t.Fatalf("replicated: %v", out)
	}
	if _, ok := out["registryId"]; ok {
		t.Errorf("the output has no registryId in ECR's model: %v", out)
	}
	images := a.as(*other, "DescribeImages", map[string]any{"repositoryName": "app"})
	if images.status != 200 || !strings.Contains(string(images.raw), d) || !strings.Contains(string(images.raw), `"v1"`) {
		t.Fatalf("the replica: %s", images.raw)
	}
	a.fails(a.call("DescribeImageReplicationStatus", map[string]any{"repositoryName": "app", "imageId": map[string]any{"imageTag": "nope"}}), 400, "ImageNotFoundException")
	a.fails(a.call("DescribeImageReplicationStatus", map[string]any{"repositoryName": "nope", "imageId": map[string]any{"imageTag": "v1"}}), 400, "RepositoryNotFoundException")
	a.fails(a.call("DescribeImageReplicationStatus", map[string]any{"repositoryName": "app"}), 400, "ValidationException")
}

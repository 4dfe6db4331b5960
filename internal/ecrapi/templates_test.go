package ecrapi_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/registry"
)

const templateLifecycle = `{"rules":[{"rulePriority":1,"description":"keep ten","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":10},"action":{"type":"expire"}}]}`

// TestCreationTemplates: the four operations with botocore's shapes and error codes.
func TestCreationTemplates(t *testing.T) {
	a := newAPI(t, registry.Config{})
	out := a.ok("CreateRepositoryCreationTemplate", map[string]any{
		"prefix": "team-a", "description": "team A", "appliedFor": []string{"CREATE_ON_PUSH"},
		"imageTagMutability": "IMMUTABLE_WITH_EXCLUSION", "imageTagMutabilityExclusionFilters": []map[string]string{{"filterType": "WILDCARD", "filter": "latest"}},
		"encryptionConfiguration": map[string]string{"encryptionType": "KMS"},
		"resourceTags":            []map[string]string{{"Key": "team", "Value": "a"}},
		"lifecyclePolicy":         templateLifecycle,
	})
	tpl := out["repositoryCreationTemplate"].(map[string]any)
	if out["registryId"] != "000000000000" || tpl["prefix"] != "team-a" || tpl["description"] != "team A" ||
		tpl["imageTagMutability"] != "IMMUTABLE_WITH_EXCLUSION" || tpl["lifecyclePolicy"] != templateLifecycle ||
		!reflect.DeepEqual(tpl["appliedFor"], []any{"CREATE_ON_PUSH"}) ||
		!reflect.DeepEqual(tpl["encryptionConfiguration"], map[string]any{"encryptionType": "KMS"}) ||
		!reflect.DeepEqual(tpl["resourceTags"], []any{map[string]any{"Key": "team", "Value": "a"}}) ||
		!reflect.DeepEqual(tpl["imageTagMutabilityExclusionFilters"], []any{map[string]any{"filterType": "WILDCARD", "filter": "latest"}}) ||
		tpl["createdAt"] == nil || tpl["updatedAt"] == nil || tpl["repositoryPolicy"] != nil {
		t.Fatalf("created %v", out)
	}

	for _, c := range []struct {
		op, code string
		in       map[string]any
		msg      string
	}{
		{"CreateRepositoryCreationTemplate", "TemplateAlreadyExistsException", map[string]any{"prefix": "team-a", "appliedFor": []string{"REPLICATION"}}, ""},
		{"CreateRepositoryCreationTemplate", "ValidationException", map[string]any{"appliedFor": []string{"REPLICATION"}},
			"1 validation error detected: Value null at 'prefix' failed to satisfy constraint: Member must not be null"},
		{"CreateRepositoryCreationTemplate", "ValidationException", map[string]any{"prefix": "team-b"},
			"1 validation error detected: Value null at 'appliedFor' failed to satisfy constraint: Member must not be null"},
		{"CreateRepositoryCreationTemplate", "ValidationException", map[string]any{"prefix": "Team-B", "appliedFor": []string{"REPLICATION"}}, ""},
		{"CreateRepositoryCreationTemplate", "ValidationException", map[string]any{"prefix": "team-b", "appliedFor": []string{"PUSH"}}, ""},
		{"CreateRepositoryCreationTemplate", "InvalidParameterException", map[string]any{"prefix": "team-b", "appliedFor": []string{"REPLICATION"},
			"resourceTags": []map[string]string{{"Key": "aws:x", "Value": "y"}}}, "The tag key 'aws:x' uses the reserved prefix 'aws:'"},
		{"CreateRepositoryCreationTemplate", "InvalidParameterException", map[string]any{"prefix": "team-b", "appliedFor": []string{"REPLICATION"},
			"repositoryPolicy": "{}"}, "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided'"},
		{"CreateRepositoryCreationTemplate", "InvalidParameterException", map[string]any{"prefix": "team-b", "appliedFor": []string{"REPLICATION"},
			"imageTagMutabilityExclusionFilters": []map[string]string{{"filterType": "REGEX", "filter": "x"}}}, ""},
		{"UpdateRepositoryCreationTemplate", "TemplateNotFoundException", map[string]any{"prefix": "team-b"}, ""},
		{"UpdateRepositoryCreationTemplate", "ValidationException", map[string]any{"prefix": "team-a", "description": strings.Repeat("d", 257)}, ""},
		{"DeleteRepositoryCreationTemplate", "TemplateNotFoundException", map[string]any{"prefix": "team-b"}, ""},
		{"DeleteRepositoryCreationTemplate", "ValidationException", map[string]any{"prefix": "no way"}, ""},
		{"DescribeRepositoryCreationTemplates", "InvalidParameterException", map[string]any{"prefixes": []string{"team-a"}, "maxResults": 1}, ""},
		{"DescribeRepositoryCreationTemplates", "InvalidParameterException", map[string]any{"maxResults": 1001}, ""},
	} {
		r := a.call(c.op, c.in)
		if r.status != 400 || r.errCode() != c.code || c.msg != "" && r.message() != c.msg {
			t.Errorf("%s %v: %d %s, want %s %q", c.op, c.in, r.status, r.raw, c.code, c.msg)
		}
	}

	// An update with a bad member changes nothing; a good one changes the members it is given.
	a.fails(a.call("UpdateRepositoryCreationTemplate", map[string]any{"prefix": "team-a", "description": "half",
		"encryptionConfiguration": map[string]string{"kmsKey": "arn:aws:kms:us-east-1:000000000000:key/k"}}), 400, "ValidationException")
	if got := a.ok("DescribeRepositoryCreationTemplates", map[string]any{"prefixes": []string{"team-a"}})["repositoryCreationTemplates"].([]any)[0].(map[string]any); got["description"] != "team A" {
		t.Fatalf("a refused update changed the template: %v", got)
	}
	out = a.ok("UpdateRepositoryCreationTemplate", map[string]any{"prefix": "team-a", "appliedFor": []string{"CREATE_ON_PUSH", "REPLICATION"}, "description": "changed"})
	tpl = out["repositoryCreationTemplate"].(map[string]any)
	if tpl["description"] != "changed" || !reflect.DeepEqual(tpl["appliedFor"], []any{"CREATE_ON_PUSH", "REPLICATION"}) ||
		tpl["imageTagMutability"] != "IMMUTABLE_WITH_EXCLUSION" || tpl["lifecyclePolicy"] != templateLifecycle {
		t.Fatalf("updated %v", out)
	}

	a.ok("CreateRepositoryCreationTemplate", map[string]any{"prefix": "ROOT", "appliedFor": []string{"REPLICATION"}})
	a.ok("CreateRepositoryCreationTemplate", map[string]any{"prefix": "team-b/", "appliedFor": []string{"PULL_THROUGH_CACHE"}})
	page := a.ok("DescribeRepositoryCreationTemplates", map[string]any{"maxResults": 2})
	ts := page["repositoryCreationTemplates"].([]any)
	if len(ts) != 2 || ts[0].(map[string]any)["prefix"] != "ROOT" || ts[1].(map[string]any)["prefix"] != "team-a" || page["nextToken"] == nil {
		t.Fatalf("first page %v", page)
	}
	root := ts[0].(map[string]any)
	if root["imageTagMutability"] != "MUTABLE" || !reflect.DeepEqual(root["encryptionConfiguration"], map[string]any{"encryptionType": "AES256"}) ||
		!reflect.DeepEqual(root["resourceTags"], []any{}) {
		t.Fatalf("defaults %v", root)
	}
	page = a.ok("DescribeRepositoryCreationTemplates", map[string]any{"maxResults": 2, "nextToken": page["nextToken"]})
	if ts := page["repositoryCreationTemplates"].([]any); len(ts) != 1 || ts[0].(map[string]any)["prefix"] != "team-b" || page["nextToken"] != nil {
		t.Fatalf("second page %v", page)
	}
	named := a.ok("DescribeRepositoryCreationTemplates", map[string]any{"prefixes": []string{"team-b", "nope"}})
	if ts := named["repositoryCreationTemplates"].([]any); len(ts) != 1 || named["registryId"] != "000000000000" {
		t.Fatalf("by prefix %v", named)
	}

	out = a.ok("DeleteRepositoryCreationTemplate", map[string]any{"prefix": "team-b"})
	if out["repositoryCreationTemplate"].(map[string]any)["prefix"] != "team-b" {
		t.Fatalf("deleted %v", out)
	}
	if ts := a.ok("DescribeRepositoryCreationTemplates", map[string]any{})["repositoryCreationTemplates"].([]any); len(ts) != 2 {
		t.Fatalf("after a delete %v", ts)
	}
}

// TestCreationTemplatePermissions: the template operations are registry actions, allowed on "*"; a push
// that creates its repository from a template needs ecr:CreateRepository on it.
func TestCreationTemplatePermissions(t *testing.T) {
	a := newAPIAt(t, registry.Config{}, clock.NewFake(time.Now()))
	ctx := context.Background()
	bob := a.user("bob")
	tpl := map[string]any{"prefix": "team-a", "appliedFor": []string{"CREATE_ON_PUSH"}, "imageTagMutability": "IMMUTABLE"}
	r := a.as(bob, "CreateRepositoryCreationTemplate", tpl)
	a.fails(r, 400, "AccessDeniedException")
	if !strings.Contains(r.message(), "ecr:CreateRepositoryCreationTemplate on resource: * because") {
		t.Fatalf("message %q", r.message())
	}
	a.ok("CreateRepositoryCreationTemplate", tpl)
	a.fails(a.as(bob, "DescribeRepositoryCreationTemplates", map[string]any{}), 400, "AccessDeniedException")

	pusher := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecr:InitiateLayerUpload","ecr:UploadLayerPart","ecr:CompleteLayerUpload","ecr:PutImage","ecr:BatchCheckLayerAvailability","ecr:DescribeRepositoryCreationTemplates"],"Resource":"*"}]}`
	if err := a.app.Identity.PutUserPolicy(ctx, "000000000000", "bob", "push", pusher); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(1100 * time.Millisecond)
	if r := a.as(bob, "DescribeRepositoryCreationTemplates", map[string]any{}); r.status != 200 {
		t.Fatalf("describe: %s", r.raw)
	}
	r = a.as(bob, "InitiateLayerUpload", map[string]any{"repositoryName": "team-a/app"})
	a.fails(r, 400, "AccessDeniedException")
	if !strings.Contains(r.message(), "ecr:CreateRepository on resource: arn:aws:ecr:us-east-1:000000000000:repository/team-a/app") {
		t.Fatalf("message %q", r.message())
	}
	a.fails(a.call("DescribeRepositories", map[string]any{"repositoryNames": []string{"team-a/app"}}), 400, "RepositoryNotFoundException")
	// A name no template applies to is not found, whatever the caller may do.
	a.fails(a.as(bob, "InitiateLayerUpload", map[string]any{"repositoryName": "team-b/app"}), 400, "RepositoryNotFoundException")

	creator := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:CreateRepository","Resource":"arn:aws:ecr:us-east-1:000000000000:repository/team-a/*"}]}`
	if err := a.app.Identity.PutUserPolicy(ctx, "000000000000", "bob", "create", creator); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(1100 * time.Millisecond)
	if r := a.as(bob, "InitiateLayerUpload", map[string]any{"repositoryName": "team-a/app"}); r.status != 200 {
		t.Fatalf("a push that may create: %s", r.raw)
	}
	repo := a.ok("DescribeRepositories", map[string]any{"repositoryNames": []string{"team-a/app"}})["repositories"].([]any)[0].(map[string]any)
	if repo["imageTagMutability"] != "IMMUTABLE" {
		t.Fatalf("created %v", repo)
	}
}

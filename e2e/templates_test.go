package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestRepositoryCreationTemplatesWithAWSCLI: the template operations with the real aws CLI, then crane
// pushes: a push under a CREATE_ON_PUSH template's prefix creates the repository with the template's
// settings, lifecycle policy and tags; a push no template applies to is refused (no --create-on-push).
func TestRepositoryCreationTemplatesWithAWSCLI(t *testing.T) {
	crane := tool(t, "crane")
	s := startServer(t, t.TempDir())
	work := t.TempDir()
	lifecycle := `{"rules":[{"rulePriority":1,"description":"keep five","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":5},"action":{"type":"expire"}}]}`
	policyFile := filepath.Join(work, "lifecycle.json")
	if err := os.WriteFile(policyFile, []byte(lifecycle), 0o644); err != nil {
		t.Fatal(err)
	}

	var out struct {
		RegistryID                 string         `json:"registryId"`
		RepositoryCreationTemplate map[string]any `json:"repositoryCreationTemplate"`
	}
	jsonOf(t, s.aws("ecr", "create-repository-creation-template", "--prefix", "team-a", "--applied-for", "CREATE_ON_PUSH",
		"--description", "team A's repositories", "--image-tag-mutability", "IMMUTABLE", "--lifecycle-policy", "file://"+policyFile,
		"--resource-tags", "Key=team,Value=a", "Key=cost-center,Value=42"), &out)
	tpl := out.RepositoryCreationTemplate
	tags, _ := json.Marshal(tpl["resourceTags"])
	if out.RegistryID != "000000000000" || tpl["prefix"] != "team-a" || tpl["imageTagMutability"] != "IMMUTABLE" ||
		tpl["lifecyclePolicy"] != lifecycle || string(tags) != `[{"Key":"team","Value":"a"},{"Key":"cost-center","Value":"42"}]` ||
		!reflect.DeepEqual(tpl["appliedFor"], []any{"CREATE_ON_PUSH"}) ||
		!reflect.DeepEqual(tpl["encryptionConfiguration"], map[string]any{"encryptionType": "AES256"}) {
		t.Fatalf("create-repository-creation-template: %v", out)
	}

	// ECR's errors.
	s.awsFails("TemplateAlreadyExistsException", "ecr", "create-repository-creation-template", "--prefix", "team-a", "--applied-for", "REPLICATION")
	s.awsFails("ValidationException", "ecr", "create-repository-creation-template", "--prefix", "Team-B", "--applied-for", "REPLICATION")
	if msg := s.awsFails("InvalidParameterException", "ecr", "create-repository-creation-template", "--prefix", "team-b", "--applied-for", "REPLICATION",
		"--lifecycle-policy", `{"rules":[]}`); !strings.Contains(msg, "Invalid parameter at 'LifecyclePolicyText'") {
		t.Fatalf("a bad lifecycle policy: %s", msg)
	}
	s.awsFails("InvalidParameterException", "ecr", "create-repository-creation-template", "--prefix", "team-b", "--applied-for", "REPLICATION",
		"--repository-policy", `{"Version":"2012-10-17"}`)
	s.awsFails("TemplateNotFoundException", "ecr", "update-repository-creation-template", "--prefix", "team-b", "--description", "x")
	s.awsFails("TemplateNotFoundException", "ecr", "delete-repository-creation-template", "--prefix", "team-b")

	// Update, describe, delete.
	jsonOf(t, s.aws("ecr", "update-repository-creation-template", "--prefix", "team-a", "--description", "team A"), &out)
	if out.RepositoryCreationTemplate["description"] != "team A" || out.RepositoryCreationTemplate["imageTagMutability"] != "IMMUTABLE" {
		t.Fatalf("update-repository-creation-template: %v", out)
	}
	s.aws("ecr", "create-repository-creation-template", "--prefix", "scratch", "--applied-for", "REPLICATION", "PULL_THROUGH_CACHE")
	var described struct {
		RepositoryCreationTemplates []map[string]any `json:"repositoryCreationTemplates"`
	}
	jsonOf(t, s.aws("ecr", "describe-repository-creation-templates"), &described)
	if len(described.RepositoryCreationTemplates) != 2 || described.RepositoryCreationTemplates[0]["prefix"] != "scratch" ||
		described.RepositoryCreationTemplates[1]["description"] != "team A" {
		t.Fatalf("describe-repository-creation-templates: %v", described)
	}
	jsonOf(t, s.aws("ecr", "describe-repository-creation-templates", "--prefixes", "team-a"), &described)
	if len(described.RepositoryCreationTemplates) != 1 || described.RepositoryCreationTemplates[0]["prefix"] != "team-a" {
		t.Fatalf("describe by prefix: %v", described)
	}
	// The CLI pages through with a page size of one.
	jsonOf(t, s.aws("ecr", "describe-repository-creation-templates", "--page-size", "1"), &described)
	if len(described.RepositoryCreationTemplates) != 2 {
		t.Fatalf("paged: %v", described)
	}
	jsonOf(t, s.aws("ecr", "delete-repository-creation-template", "--prefix", "scratch"), &out)
	if out.RepositoryCreationTemplate["prefix"] != "scratch" {
		t.Fatalf("delete-repository-creation-template: %v", out)
	}

	// A push under team-a/ creates the repository from the template.
	s.login()
	push := func(repo, tag, content string) (string, error) {
		return runEnv(t, nil, nil, crane, "append", "--insecure", "-f", writeTar(t, work, repo[strings.LastIndex(repo, "/")+1:]+tag+content, []byte(content)),
			"-t", s.addr+"/"+repo+":"+tag)
	}
	if o, err := push("team-a/app", "v1", "one"); err != nil {
		t.Fatalf("push to team-a/app: %v\n%s", err, o)
	}
	var repos struct{ Repositories []map[string]any }
	jsonOf(t, s.aws("ecr", "describe-repositories", "--repository-names", "team-a/app"), &repos)
	if r := repos.Repositories[0]; r["imageTagMutability"] != "IMMUTABLE" || r["encryptionConfiguration"].(map[string]any)["encryptionType"] != "AES256" {
		t.Fatalf("created: %v", r)
	}
	if got := strings.TrimSpace(s.aws("ecr", "get-lifecycle-policy", "--repository-name", "team-a/app", "--output", "text", "--query", "lifecyclePolicyText")); got != lifecycle {
		t.Fatalf("lifecycle policy %q", got)
	}
	var listed struct{ Tags []map[string]string }
	jsonOf(t, s.aws("ecr", "list-tags-for-resource", "--resource-arn", "arn:aws:ecr:us-east-1:000000000000:repository/team-a/app"), &listed)
	if !reflect.DeepEqual(listed.Tags, []map[string]string{{"Key": "cost-center", "Value": "42"}, {"Key": "team", "Value": "a"}}) {
		t.Fatalf("tags %v", listed.Tags)
	}
	// The template's IMMUTABLE holds.
	if o, err := push("team-a/app", "v1", "two"); err == nil || !strings.Contains(o, "cannot be overwritten because the repository is immutable") {
		t.Fatalf("overwriting v1: %v\n%s", err, o)
	}

	// No template applies to other/app, nor to team-a itself (a prefix is a namespace): refused as before.
	for _, repo := range []string{"other/app", "team-a"} {
		if o, err := push(repo, "v1", "one"); err == nil || !strings.Contains(o, "NAME_UNKNOWN") {
			t.Fatalf("push to %s: %v\n%s", repo, err, o)
		}
		s.awsFails("RepositoryNotFoundException", "ecr", "describe-repositories", "--repository-names", repo)
	}

	// Deleted, the template creates nothing more.
	s.aws("ecr", "delete-repository-creation-template", "--prefix", "team-a")
	if o, err := push("team-a/web", "v1", "one"); err == nil || !strings.Contains(o, "NAME_UNKNOWN") {
		t.Fatalf("push after the template's delete: %v\n%s", err, o)
	}
}

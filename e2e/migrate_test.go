package e2e

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/registry"
)

// TestMigrateStorage grows a single-node installation (SQLite and files) into PostgreSQL and S3 with
// `wharf migrate-storage`: afterwards every image pulls byte-identically from a node on the new storage,
// and users, their keys, policies, lifecycle policies and the audit trail are all there.
func TestMigrateStorage(t *testing.T) {
	crane := tool(t, "crane")
	dir := t.TempDir()
	old := startServer(t, dir)
	old.aws("ecr", "create-repository", "--repository-name", "team/app")
	old.aws("ecr", "create-repository", "--repository-name", "team/tools", "--image-tag-mutability", "IMMUTABLE_WITH_EXCLUSION",
		"--image-tag-mutability-exclusion-filters", "filterType=WILDCARD,filter=latest", "--encryption-configuration", "encryptionType=KMS")
	old.login()
	work := t.TempDir()
	refs := []string{"team/app:1.0", "team/app:2.0", "team/tools:latest"}
	for i, ref := range refs {
		run(t, crane, "append", "--insecure", "-f", writeTar(t, work, fmt.Sprintf("a%d", i), bytes.Repeat([]byte(fmt.Sprint(i)), 3<<20)),
			"-f", writeTar(t, work, fmt.Sprintf("b%d", i), []byte(ref)), "-t", old.addr+"/"+ref)
	}
	run(t, crane, "index", "append", "--insecure", "-m", old.addr+"/team/app:1.0", "-m", old.addr+"/team/app:2.0", "-t", old.addr+"/team/app:multi")
	refs = append(refs, "team/app:multi")
	os.WriteFile(filepath.Join(work, "policy.json"), []byte(lifecyclePolicy), 0o644)
	old.aws("ecr", "put-lifecycle-policy", "--repository-name", "team/app", "--lifecycle-policy-text", "file://"+filepath.Join(work, "policy.json"))
	old.wharf("admin", "create-user", "--account-id", "000000000000", "ci")
	old.wharf("admin", "attach-user-policy", "--account-id", "000000000000", "--policy-arn", "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly", "ci")
	var key struct{ AccessKeyID, SecretAccessKey string }
	jsonOf(t, old.wharf("admin", "create-access-key", "--account-id", "000000000000", "ci"), &key)
	before := map[string]string{}
	for _, ref := range refs {
		layout := filepath.Join(t.TempDir(), "before")
		run(t, crane, "pull", "--insecure", "--format", "oci", old.addr+"/"+ref, layout)
		before[ref] = layout
	}
	old.stop()

	args, env, _ := sharedStorage(t)
	secret, err := os.ReadFile(filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range args {
		if args[i] == "--server-secret" {
			args[i+1] = strings.TrimSpace(string(secret))
		}
	}
	out, err := runEnv(t, env, nil, wharfBin, append([]string{"migrate-storage", "--from-data-dir", dir, "--log-level", "warn"}, args...)...)
	if err != nil || !strings.Contains(out, "every digest verified") {
		t.Fatalf("migrate-storage: %v\n%s", err, out)
	}
	t.Log(strings.TrimSpace(out))
	// A second run refuses: the destination is not empty any more.
	if out, err := runEnv(t, env, nil, wharfBin, append([]string{"migrate-storage", "--from-data-dir", dir}, args...)...); err == nil || !strings.Contains(out, "empty") {
		t.Fatalf("second migrate-storage: %v\n%s", err, out)
	}

	grown := &wharfProc{t: t, dir: t.TempDir(), addr: freeAddr(t), args: args, env: env}
	grown.start()
	t.Cleanup(grown.stop)
	if out := grown.wharf("migrate"); !strings.Contains(out, "metadata schema is at version") {
		t.Fatalf("wharf migrate: %s", out)
	}
	grown.login() // the admin's key works: access keys moved sealed, and the secret with them
	for _, ref := range refs {
		layout := filepath.Join(t.TempDir(), "after")
		run(t, crane, "pull", "--insecure", "--format", "oci", grown.addr+"/"+ref, layout)
		sameTree(t, before[ref], layout)
	}
	if got, want := grown.aws("ecr", "describe-repositories", "--repository-names", "team/tools", "--query", "repositories[0].[imageTagMutability, imageTagMutabilityExclusionFilters[0].filter, encryptionConfiguration.encryptionType]", "--output", "text"),
		"IMMUTABLE_WITH_EXCLUSION\tlatest\tKMS"; strings.TrimSpace(got) != want {
		t.Fatalf("team/tools's settings after the move: %q, want %q", got, want)
	}
	var policy struct{ LifecyclePolicyText string }
	jsonOf(t, grown.aws("ecr", "get-lifecycle-policy", "--repository-name", "team/app"), &policy)
	if policy.LifecyclePolicyText != registry.CompactLifecycleText(lifecyclePolicy) {
		t.Fatalf("lifecycle policy after the move: %q", policy.LifecyclePolicyText)
	}
	ci := append(grown.awsEnv(), "AWS_ACCESS_KEY_ID="+key.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+key.SecretAccessKey)
	if out, err := runEnv(t, ci, nil, tool(t, "aws"), "ecr", "describe-images", "--repository-name", "team/tools"); err != nil || !strings.Contains(out, `"latest"`) {
		t.Fatalf("the ci user after the move: %v\n%s", err, out)
	}
	if out, err := runEnv(t, ci, nil, tool(t, "aws"), "ecr", "delete-repository", "--repository-name", "team/tools"); err == nil || !strings.Contains(out, "AccessDeniedException") {
		t.Fatalf("the ci user's policy did not move with it: %v\n%s", err, out)
	}
	// The audit trail moved too.
	created := map[string]bool{}
	for _, ev := range lookup(t, grown.awsEnv(), "http://"+grown.addr, "EventName", "CreateRepository") {
		created[ev.Resources[0].ResourceName] = true
	}
	if !created["team/app"] || !created["team/tools"] {
		t.Fatalf("the audit trail after the move holds the creation of %v", created)
	}
	// New repositories number on after the copied ones.
	grown.aws("ecr", "create-repository", "--repository-name", "team/new")
}

// sameTree fails unless two directories hold the same files with the same bytes.
func sameTree(t *testing.T, a, b string) {
	t.Helper()
	files := 0
	filepath.WalkDir(a, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(a, path)
		want, _ := os.ReadFile(path)
		got, err := os.ReadFile(filepath.Join(b, rel))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s differs after the move (%v)", rel, err)
		}
		files++
		return nil
	})
	if files < 3 {
		t.Fatalf("only %d files pulled", files)
	}
}

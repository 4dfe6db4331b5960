package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// actor is an IAM user with its own aws CLI environment and its own registry login.
type actor struct {
	t      *testing.T
	s      *wharfProc
	name   string
	env    []string
	docker []string // the environment for crane: its own DOCKER_CONFIG
}

const tokenPolicy = `{"Effect":"Allow","Action":"ecr:GetAuthorizationToken","Resource":"*"}`

// newActor creates user name in account acct (000000000000 through the admin, others through their admin
// environment), gives it the inline policy statements, and logs crane in with its token.
func newActor(t *testing.T, s *wharfProc, admin []string, name string, statements ...string) *actor {
	t.Helper()
	a := newUser(t, s, admin, name, statements...)
	a.docker = []string{"DOCKER_CONFIG=" + t.TempDir()}
	pw, err := runEnv(t, a.env, nil, tool(t, "aws"), "ecr", "get-login-password")
	if err != nil {
		t.Fatalf("%s get-login-password: %v %s", name, err, pw)
	}
	if out, err := runEnv(t, a.docker, strings.NewReader(strings.TrimSpace(pw)), tool(t, "crane"), "auth", "login", s.addr, "-u", "AWS", "--password-stdin"); err != nil {
		t.Fatalf("%s login: %v %s", name, err, out)
	}
	return a
}

// newUser creates user name as newActor does, for the aws CLI only: crane is not logged in.
func newUser(t *testing.T, s *wharfProc, admin []string, name string, statements ...string) *actor {
	t.Helper()
	aws := func(env []string, args ...string) string {
		out, err := runEnv(t, env, nil, tool(t, "aws"), append(args, "--endpoint-url", "http://"+s.addr)...)
		if err != nil {
			t.Fatalf("aws %v: %v\n%s", args, err, out)
		}
		return out
	}
	aws(admin, "iam", "create-user", "--user-name", name)
	var key struct {
		AccessKey struct{ AccessKeyId, SecretAccessKey string }
	}
	jsonOf(t, aws(admin, "iam", "create-access-key", "--user-name", name), &key)
	doc := `{"Version":"2012-10-17","Statement":[` + strings.Join(append([]string{tokenPolicy}, statements...), ",") + `]}`
	aws(admin, "iam", "put-user-policy", "--user-name", name, "--policy-name", "p", "--policy-document", doc)
	a := &actor{t: t, s: s, name: name, env: []string{"AWS_ACCESS_KEY_ID=" + key.AccessKey.AccessKeyId, "AWS_SECRET_ACCESS_KEY=" + key.AccessKey.SecretAccessKey,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_DEFAULT_REGION=us-east-1", "AWS_ENDPOINT_URL_ECR=http://" + s.addr}}
	return a
}

// push tries to push a one-file image as ref (repository:tag) and reports whether it worked.
func (a *actor) push(ref string) bool {
	a.t.Helper()
	dir := a.t.TempDir()
	tarball := writeTar(a.t, dir, "f", []byte(a.name+" "+ref))
	_, err := runEnv(a.t, a.docker, nil, tool(a.t, "crane"), "append", "--insecure", "-f", tarball, "-t", a.s.addr+"/"+ref)
	return err == nil
}

// pull tries to export ref and reports whether it worked.
func (a *actor) pull(ref string) bool {
	a.t.Helper()
	_, err := runEnv(a.t, a.docker, nil, tool(a.t, "crane"), "export", "--insecure", a.s.addr+"/"+ref, os.DevNull)
	return err == nil
}

func (a *actor) aws(args ...string) (string, error) {
	return runEnv(a.t, a.env, nil, tool(a.t, "aws"), args...)
}

func expect(t *testing.T, what string, got, want bool) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

// setPolicy sets a repository policy from the user guide's examples (their account id placeholder filled in).
func setPolicy(s *wharfProc, repo, policy string) {
	s.t.Helper()
	file := filepath.Join(s.t.TempDir(), "policy.json")
	os.WriteFile(file, []byte(strings.ReplaceAll(policy, "aws_account_id", "000000000000")), 0o644)
	s.aws("ecr", "set-repository-policy", "--repository-name", repo, "--policy-text", "file://"+file)
}

// TestGuidePolicyExamples runs every repository-policy and IAM-policy example of the user guide and the
// practitioner's notes with real clients: who may push, who may pull.
func TestGuidePolicyExamples(t *testing.T) {
	s := startServer(t, t.TempDir())
	admin := s.awsEnv()
	for _, r := range []string{"app", "shared", "public", "locked", "mixed"} {
		s.aws("ecr", "create-repository", "--repository-name", r)
	}
	s.login()
	for _, r := range []string{"app", "shared", "public", "locked", "mixed"} {
		if out, err := runEnv(t, nil, nil, tool(t, "crane"), "append", "--insecure", "-f", writeTar(t, t.TempDir(), "seed", []byte(r)), "-t", s.addr+"/"+r+":seed"); err != nil {
			t.Fatalf("seeding %s: %v %s", r, err, out)
		}
	}
	// The guide's policies name users that must exist ('Principal not found' otherwise).
	for _, u := range []string{"push-pull-user-2", "pull-user-2"} {
		if out, err := runEnv(t, admin, nil, tool(t, "aws"), "iam", "create-user", "--user-name", u, "--endpoint-url", "http://"+s.addr); err != nil {
			t.Fatalf("%v %s", err, out)
		}
	}
	pp1 := newActor(t, s, admin, "push-pull-user-1")
	other := newActor(t, s, admin, "someone-else")
	pull1 := newActor(t, s, admin, "pull-user-1")
	adminUser := newActor(t, s, admin, "admin-user")

	// Allow IAM users within your account.
	setPolicy(s, "app", `{"Version":"2008-10-17","Statement":[{"Sid":"AllowPushPull","Effect":"Allow",
		"Principal":{"AWS":["arn:aws:iam::aws_account_id:user/push-pull-user-1","arn:aws:iam::aws_account_id:user/push-pull-user-2"]},
		"Action":["ecr:GetDownloadUrlForLayer","ecr:BatchGetImage","ecr:BatchCheckLayerAvailability","ecr:PutImage",
		"ecr:InitiateLayerUpload","ecr:UploadLayerPart","ecr:CompleteLayerUpload"]}]}`)
	expect(t, "push-pull-user-1 pushes to app", pp1.push("app:v1"), true)
	expect(t, "push-pull-user-1 pulls from app", pp1.pull("app:seed"), true)
	expect(t, "someone-else pulls from app", other.pull("app:seed"), false)
	expect(t, "someone-else pushes to app", other.push("app:v2"), false)

	// Allow everyone to pull.
	setPolicy(s, "public", `{"Version":"2008-10-17","Statement":[{"Sid":"AllowPull","Effect":"Allow","Principal":"*",
		"Action":["ecr:GetDownloadUrlForLayer","ecr:BatchGetImage","ecr:BatchCheckLayerAvailability"]}]}`)
	expect(t, "someone-else pulls from public", other.pull("public:seed"), true)
	expect(t, "someone-else pushes to public", other.push("public:v2"), false)

	// Pull users plus an admin user.
	setPolicy(s, "mixed", `{"Version":"2008-10-17","Statement":[
		{"Sid":"AllowPull","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::aws_account_id:user/pull-user-1","arn:aws:iam::aws_account_id:user/pull-user-2"]},
		 "Action":["ecr:GetDownloadUrlForLayer","ecr:BatchGetImage","ecr:BatchCheckLayerAvailability"]},
		{"Sid":"AllowAll","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::aws_account_id:user/admin-user"},"Action":["ecr:*"]}]}`)
	expect(t, "pull-user-1 pulls from mixed", pull1.pull("mixed:seed"), true)
	expect(t, "pull-user-1 pushes to mixed", pull1.push("mixed:v2"), false)
	expect(t, "admin-user pushes to mixed", adminUser.push("mixed:v3"), true)
	_, err := adminUser.aws("ecr", "batch-delete-image", "--repository-name", "mixed", "--image-ids", "imageTag=v3")
	expect(t, "admin-user deletes in mixed", err == nil, true)
	expect(t, "someone-else pulls from mixed", other.pull("mixed:seed"), false)

	// Deny all pulls: even the account's administrator.
	setPolicy(s, "locked", `{"Version":"2008-10-17","Statement":[{"Sid":"DenyPull","Effect":"Deny","Principal":"*",
		"Action":["ecr:GetDownloadUrlForLayer","ecr:BatchGetImage","ecr:BatchCheckLayerAvailability"]}]}`)
	_, err = runEnv(t, nil, nil, tool(t, "crane"), "export", "--insecure", s.addr+"/locked:seed", os.DevNull)
	expect(t, "the administrator pulls from locked", err == nil, false)

	// Allow another account to push: account 444455556666 pushes with its own token.
	var key struct{ AccessKeyId, SecretAccessKey string }
	jsonOf(t, s.wharf("admin", "create-account", "--account-id", "444455556666"), &key)
	otherAdmin := []string{"AWS_ACCESS_KEY_ID=" + key.AccessKeyId, "AWS_SECRET_ACCESS_KEY=" + key.SecretAccessKey,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_DEFAULT_REGION=us-east-1", "AWS_ENDPOINT_URL_ECR=http://" + s.addr}
	pusher := newActor(t, s, otherAdmin, "ci", `{"Effect":"Allow","Action":"ecr:*","Resource":"*"}`)
	expect(t, "the other account pushes before the grant", pusher.push("shared:v1"), false)
	setPolicy(s, "shared", `{"Version":"2008-10-17","Statement":[{"Sid":"AllowCrossAccountPush","Effect":"Allow",
		"Principal":{"AWS":"arn:aws:iam::444455556666:root"},
		"Action":["ecr:GetDownloadUrlForLayer","ecr:BatchCheckLayerAvailability","ecr:PutImage","ecr:InitiateLayerUpload",
		"ecr:UploadLayerPart","ecr:CompleteLayerUpload","ecr:BatchGetImage"]}]}`)
	expect(t, "the other account pushes after the grant", pusher.push("shared:v1"), true)
	expect(t, "the other account pulls", pusher.pull("shared:v1"), true)

	// The managed policies.
	for _, c := range []struct {
		policy     string
		push, pull bool
	}{
		{"AmazonEC2ContainerRegistryReadOnly", false, true},
		{"AmazonEC2ContainerRegistryPowerUser", true, true},
		{"AmazonEC2ContainerRegistryFullAccess", true, true},
	} {
		name := strings.ToLower(strings.TrimPrefix(c.policy, "AmazonEC2ContainerRegistry"))
		u := newActor(t, s, admin, name)
		if out, err := runEnv(t, admin, nil, tool(t, "aws"), "iam", "attach-user-policy", "--user-name", name, "--policy-arn", "arn:aws:iam::aws:policy/"+c.policy, "--endpoint-url", "http://"+s.addr); err != nil {
			t.Fatal(out)
		}
		expect(t, c.policy+" pulls", u.pull("public:seed"), c.pull)
		expect(t, c.policy+" pushes", u.push("public:"+name), c.push)
		_, err := u.aws("ecr", "delete-repository", "--repository-name", "public", "--force")
		expect(t, c.policy+" deletes a repository", err == nil, c.policy == "AmazonEC2ContainerRegistryFullAccess")
		if c.policy == "AmazonEC2ContainerRegistryFullAccess" {
			s.aws("ecr", "create-repository", "--repository-name", "public")
		}
	}

	// Tag-based access control: create or tag only as environment=dev; everything unless tagged prod.
	dev := newActor(t, s, admin, "dev-only",
		`{"Sid":"AllowCreateTaggedRepository","Effect":"Allow","Action":["ecr:CreateRepository"],"Resource":"*","Condition":{"StringEquals":{"aws:RequestTag/environment":"dev"}}}`,
		`{"Sid":"AllowTagRepository","Effect":"Allow","Action":["ecr:TagResource"],"Resource":"*","Condition":{"StringEquals":{"aws:RequestTag/environment":"dev"}}}`)
	_, err = dev.aws("ecr", "create-repository", "--repository-name", "dev-repo", "--tags", "Key=environment,Value=dev")
	expect(t, "create tagged environment=dev", err == nil, true)
	_, err = dev.aws("ecr", "create-repository", "--repository-name", "prod-repo", "--tags", "Key=environment,Value=prod")
	expect(t, "create tagged environment=prod", err == nil, false)
	_, err = dev.aws("ecr", "create-repository", "--repository-name", "untagged-repo")
	expect(t, "create untagged", err == nil, false)
	_, err = dev.aws("ecr", "tag-resource", "--resource-arn", "arn:aws:ecr:us-east-1:000000000000:repository/app", "--tags", "Key=environment,Value=dev")
	expect(t, "tag environment=dev", err == nil, true)

	s.aws("ecr", "create-repository", "--repository-name", "prod-only", "--tags", "Key=environment,Value=prod")
	notProd := newActor(t, s, admin, "not-prod", `{"Effect":"Allow","Action":"ecr:*","Resource":"*"}`,
		`{"Effect":"Deny","Action":"ecr:*","Resource":"*","Condition":{"StringEquals":{"ecr:ResourceTag/environment":"prod"}}}`)
	expect(t, "push to an untagged repository", notProd.push("public:np"), true)
	expect(t, "push to a prod repository", notProd.push("prod-only:np"), false)
	_, err = notProd.aws("ecr", "describe-images", "--repository-name", "prod-only")
	expect(t, "describe a prod repository", err == nil, false)
}

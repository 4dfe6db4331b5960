package e2e

import (
	"strings"
	"testing"
)

// TestPullThroughCacheRulesWithAWSCLI: the pull through cache rule operations with the real aws CLI,
// credentials in a secret made by `aws secretsmanager create-secret`, and validation against a second
// Wharf started here as the upstream (plain HTTP, which --pull-through-allow-http allows).
func TestPullThroughCacheRulesWithAWSCLI(t *testing.T) {
	upstream := startServer(t, t.TempDir())
	s := startServer(t, t.TempDir(), "--pull-through-allow-http")
	sm := func(args ...string) []string {
		return append(append([]string{"secretsmanager"}, args...), "--endpoint-url", "http://"+s.addr)
	}
	var secret struct{ ARN string }
	jsonOf(t, s.aws(sm("create-secret", "--name", "ecr-pullthroughcache/hub", "--secret-string", `{"username":"me","accessToken":"t0ken"}`)...), &secret)

	type rule struct {
		EcrRepositoryPrefix, UpstreamRegistryUrl, RegistryId, UpstreamRegistry, CredentialArn, UpstreamRepositoryPrefix, Failure string
		CreatedAt, UpdatedAt                                                                                                     float64
		IsValid                                                                                                                  *bool
	}
	ecr := func(args ...string) (r rule) {
		t.Helper()
		jsonOf(t, s.aws(append([]string{"ecr"}, args...)...), &r)
		return r
	}
	r := ecr("create-pull-through-cache-rule", "--ecr-repository-prefix", "hub", "--upstream-registry-url", "registry-1.docker.io",
		"--credential-arn", secret.ARN)
	if r.EcrRepositoryPrefix != "hub" || r.UpstreamRegistryUrl != "registry-1.docker.io" || r.UpstreamRegistry != "docker-hub" ||
		r.CredentialArn != secret.ARN || r.RegistryId != "000000000000" || r.CreatedAt == 0 {
		t.Fatalf("create-pull-through-cache-rule: %+v", r)
	}
	r = ecr("create-pull-through-cache-rule", "--ecr-repository-prefix", "k8s", "--upstream-registry-url", "registry.k8s.io")
	if r.UpstreamRegistry != "k8s" || r.CredentialArn != "" {
		t.Fatalf("k8s: %+v", r)
	}

	// ECR's errors.
	s.awsFails("PullThroughCacheRuleAlreadyExistsException", "ecr", "create-pull-through-cache-rule", "--ecr-repository-prefix", "hub", "--upstream-registry-url", "quay.io")
	if out := s.awsFails("UnsupportedUpstreamRegistryException", "ecr", "create-pull-through-cache-rule", "--ecr-repository-prefix", "gh",
		"--upstream-registry-url", "ghcr.io"); !strings.Contains(out, "requires authentication") {
		t.Fatalf("ghcr.io without credentials: %s", out)
	}
	s.awsFails("SecretNotFoundException", "ecr", "create-pull-through-cache-rule", "--ecr-repository-prefix", "gh", "--upstream-registry-url", "ghcr.io",
		"--credential-arn", "arn:aws:secretsmanager:us-east-1:000000000000:secret:ecr-pullthroughcache/nope")
	s.awsFails("UnableToAccessSecretException", "ecr", "create-pull-through-cache-rule", "--ecr-repository-prefix", "gh", "--upstream-registry-url", "ghcr.io",
		"--credential-arn", "arn:aws:secretsmanager:us-east-1:111111111111:secret:ecr-pullthroughcache/hub")
	s.awsFails("ValidationException", "ecr", "create-pull-through-cache-rule", "--ecr-repository-prefix", "Hub", "--upstream-registry-url", "quay.io")
	s.awsFails("UnsupportedUpstreamRegistryException", "ecr", "create-pull-through-cache-rule", "--ecr-repository-prefix", "q1",
		"--upstream-registry-url", "registry.k8s.io", "--upstream-registry", "quay")
	s.awsFails("PullThroughCacheRuleNotFoundException", "ecr", "update-pull-through-cache-rule", "--ecr-repository-prefix", "quay", "--credential-arn", secret.ARN)
	s.awsFails("PullThroughCacheRuleNotFoundException", "ecr", "delete-pull-through-cache-rule", "--ecr-repository-prefix", "quay")
	s.awsFails("PullThroughCacheRuleNotFoundException", "ecr", "validate-pull-through-cache-rule", "--ecr-repository-prefix", "quay")
	s.awsFails("PullThroughCacheRuleNotFoundException", "ecr", "describe-pull-through-cache-rules", "--ecr-repository-prefixes", "quay")
	// Without --pull-through-allow-http, an http:// upstream is refused.
	// (aws CLI v1 fetches parameter values that start with http:// unless cli_follow_urlparam is false:
	// such URLs go in --cli-input-json.)
	upstream.awsFails("UnsupportedUpstreamRegistryException", "ecr", "create-pull-through-cache-rule",
		"--cli-input-json", `{"ecrRepositoryPrefix":"local","upstreamRegistryUrl":"http://`+s.addr+`"}`)

	// The upstream: another Wharf, whose registry password goes in a secret.
	jsonOf(t, s.aws(sm("create-secret", "--name", "ecr-pullthroughcache/upstream",
		"--secret-string", `{"username":"AWS","accessToken":"`+upstream.password()+`"}`)...), &secret)
	r = ecr("create-pull-through-cache-rule", "--cli-input-json",
		`{"ecrRepositoryPrefix":"up","upstreamRegistryUrl":"http://`+upstream.addr+`","credentialArn":"`+secret.ARN+`"}`)
	if r.UpstreamRegistry != "" || r.UpstreamRegistryUrl != "http://"+upstream.addr {
		t.Fatalf("another OCI registry: %+v", r)
	}
	r = ecr("validate-pull-through-cache-rule", "--ecr-repository-prefix", "up")
	if r.IsValid == nil || !*r.IsValid || r.Failure != "" || r.CredentialArn != secret.ARN {
		t.Fatalf("validate: %+v", r)
	}

	// A wrong password: the rule is not valid, and says why; a right one again makes it valid.
	var wrong struct{ ARN string }
	jsonOf(t, s.aws(sm("create-secret", "--name", "ecr-pullthroughcache/wrong", "--secret-string", `{"username":"AWS","accessToken":"nope"}`)...), &wrong)
	r = ecr("update-pull-through-cache-rule", "--ecr-repository-prefix", "up", "--credential-arn", wrong.ARN)
	if r.CredentialArn != wrong.ARN || r.UpdatedAt == 0 {
		t.Fatalf("update-pull-through-cache-rule: %+v", r)
	}
	r = ecr("validate-pull-through-cache-rule", "--ecr-repository-prefix", "up")
	if r.IsValid == nil || *r.IsValid || !strings.Contains(r.Failure, "authentication to the upstream registry failed") {
		t.Fatalf("validate with a wrong password: %+v", r)
	}
	r = ecr("update-pull-through-cache-rule", "--ecr-repository-prefix", "up", "--credential-arn", secret.ARN)
	upstream.stop()
	r = ecr("validate-pull-through-cache-rule", "--ecr-repository-prefix", "up")
	if r.IsValid == nil || *r.IsValid || !strings.Contains(r.Failure, "could not be reached") {
		t.Fatalf("validate with the upstream down: %+v", r)
	}

	// Describe and delete.
	var described struct {
		PullThroughCacheRules []rule `json:"pullThroughCacheRules"`
	}
	jsonOf(t, s.aws("ecr", "describe-pull-through-cache-rules"), &described)
	var prefixes []string
	for _, r := range described.PullThroughCacheRules {
		prefixes = append(prefixes, r.EcrRepositoryPrefix)
	}
	if strings.Join(prefixes, ",") != "hub,k8s,up" {
		t.Fatalf("describe-pull-through-cache-rules: %+v", described)
	}
	described.PullThroughCacheRules = nil
	jsonOf(t, s.aws("ecr", "describe-pull-through-cache-rules", "--ecr-repository-prefixes", "up"), &described)
	if len(described.PullThroughCacheRules) != 1 || described.PullThroughCacheRules[0].CredentialArn != secret.ARN {
		t.Fatalf("describe one: %+v", described)
	}
	r = ecr("delete-pull-through-cache-rule", "--ecr-repository-prefix", "hub")
	if r.EcrRepositoryPrefix != "hub" || r.UpstreamRegistryUrl != "registry-1.docker.io" {
		t.Fatalf("delete-pull-through-cache-rule: %+v", r)
	}
	described.PullThroughCacheRules = nil
	jsonOf(t, s.aws("ecr", "describe-pull-through-cache-rules"), &described)
	if len(described.PullThroughCacheRules) != 2 {
		t.Fatalf("after the delete: %+v", described)
	}
}

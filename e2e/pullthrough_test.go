package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// TestPullThroughCacheWithCrane: crane pulls through the cache from a second Wharf started here as the
// upstream: the first pull of a tag creates the repository and fetches the image (and the images of a
// multi-arch index), verified, recorded in the audit trail and counted in the metrics; later pulls are
// served from the cache; a tag moved upstream is picked up after the refresh interval, not before; once
// the upstream is down the cache still serves.
func TestPullThroughCacheWithCrane(t *testing.T) {
	crane := tool(t, "crane")
	upstream := startServer(t, t.TempDir())
	const refresh = 8 * time.Second
	metrics := freeAddr(t)
	s := startServer(t, t.TempDir(), "--pull-through-allow-http", "--pull-through-refresh", refresh.String(), "--metrics-addr", metrics)
	cfg := t.TempDir()
	t.Setenv("DOCKER_CONFIG", cfg)
	for _, srv := range []*wharfProc{upstream, s} {
		if out, err := runEnv(t, nil, strings.NewReader(srv.password()), crane, "auth", "login", srv.addr, "-u", "AWS", "--password-stdin"); err != nil {
			t.Fatalf("crane auth login: %v\n%s", err, out)
		}
	}

	// The upstream's images: two tags and an index of both.
	upstream.aws("ecr", "create-repository", "--repository-name", "team/app")
	up := upstream.addr + "/team/app"
	work := t.TempDir()
	for _, tag := range []string{"v1", "v2"} {
		run(t, crane, "append", "--insecure", "-f", writeTar(t, work, tag, []byte("layer of "+tag)), "-t", up+":"+tag)
	}
	run(t, crane, "index", "append", "--insecure", "-m", up+":v1", "-m", up+":v2", "-t", up+":multi")
	digestOf := func(ref string) string { return strings.TrimSpace(run(t, crane, "digest", "--insecure", ref)) }
	want := map[string]string{}
	for _, tag := range []string{"v1", "v2", "multi"} {
		want[tag] = digestOf(up + ":" + tag)
	}

	var secret struct{ ARN string }
	jsonOf(t, s.aws("secretsmanager", "create-secret", "--name", "ecr-pullthroughcache/upstream", "--endpoint-url", "http://"+s.addr,
		"--secret-string", `{"username":"AWS","accessToken":"`+upstream.password()+`"}`), &secret)
	s.aws("ecr", "create-pull-through-cache-rule", "--cli-input-json",
		`{"ecrRepositoryPrefix":"up","upstreamRegistryUrl":"http://`+upstream.addr+`","credentialArn":"`+secret.ARN+`"}`)

	cached := s.addr + "/up/team/app"
	if got := digestOf(cached + ":v1"); got != want["v1"] {
		t.Fatalf("first pull of v1: digest %s, want %s", got, want["v1"])
	}
	run(t, crane, "pull", "--insecure", cached+":v1", filepath.Join(work, "v1.tar")) // every blob, verified by crane
	if got := digestOf(cached + ":multi"); got != want["multi"] {
		t.Fatalf("first pull of the index: digest %s, want %s", got, want["multi"])
	}
	if got := digestOf(cached + "@" + want["v2"]); got != want["v2"] {
		t.Fatalf("an image of the index by digest: %s", got)
	}

	// The repository is like any other: described, with its images once their blobs have arrived (the
	// manifests were answered before).
	var images struct {
		ImageDetails []struct {
			ImageDigest string   `json:"imageDigest"`
			ImageTags   []string `json:"imageTags"`
		} `json:"imageDetails"`
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		images.ImageDetails = nil
		jsonOf(t, s.aws("ecr", "describe-images", "--repository-name", "up/team/app"), &images)
		if len(images.ImageDetails) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("describe-images: %+v", images)
		}
	}

	// The imports in the audit trail, as the caller's BatchImportUpstreamImage; the fetches in the metrics.
	events := lookup(t, s.awsEnv(), "http://"+s.addr, "EventName", "BatchImportUpstreamImage")
	if len(events) < 2 {
		t.Fatalf("BatchImportUpstreamImage events: %+v", events)
	}
	for _, e := range events {
		checkRecord(t, e, map[string]any{"eventSource": "ecr.amazonaws.com", "requestParameters.repositoryName": "up/team/app",
			"requestParameters.upstreamRepositoryName": "team/app", "requestParameters.upstreamRegistryUrl": "http://" + upstream.addr,
			"userIdentity.userName": "admin", "readOnly": false})
	}
	if m := get(t, "http://"+metrics+"/metrics"); !strings.Contains(m, `wharf_pull_through_fetches_total{result="fetched"}`) ||
		!strings.Contains(m, "wharf_pull_through_fetched_bytes_total") {
		t.Fatalf("metrics:\n%s", m)
	}

	// A tag moved upstream: the cache has the image it had until the tag is due for a check, then the new.
	time.Sleep(refresh)
	digestOf(cached + ":v1") // checked upstream: unchanged
	checked := time.Now()
	run(t, crane, "append", "--insecure", "-f", writeTar(t, work, "v1b", []byte("another layer of v1")), "-t", up+":v1")
	moved := digestOf(up + ":v1")
	if got := digestOf(cached + ":v1"); time.Since(checked) < refresh && got != want["v1"] {
		t.Fatalf("v1 before the refresh interval: %s, want %s", got, want["v1"])
	}
	time.Sleep(refresh - time.Since(checked))
	if got := digestOf(cached + ":v1"); got != moved {
		t.Fatalf("v1 after the refresh interval: %s, want %s", got, moved)
	}
	run(t, crane, "pull", "--insecure", cached+":v1", filepath.Join(work, "v1-moved.tar"))
	if m := get(t, "http://"+metrics+"/metrics"); !strings.Contains(m, `wharf_pull_through_fetches_total{result="refreshed"} 1`) ||
		!strings.Contains(m, `wharf_pull_through_fetches_total{result="unchanged"}`) {
		t.Fatalf("metrics after the refresh:\n%s", m)
	}
	want["v1"] = moved

	// A tag the upstream does not have; then, with the upstream down, the cache still serves, a tag due
	// for a check too.
	if out, err := runEnv(t, nil, nil, crane, "digest", "--insecure", cached+":v9"); err == nil || !strings.Contains(out, "MANIFEST_UNKNOWN") {
		t.Fatalf("a tag missing upstream: %v\n%s", err, out)
	}
	upstream.stop()
	time.Sleep(refresh)
	run(t, crane, "pull", "--insecure", cached+":v1", filepath.Join(work, "v1-again.tar"))
	if got := digestOf(cached + ":v1"); got != want["v1"] {
		t.Fatalf("v1 with the upstream down: %s", got)
	}
	if got := digestOf(cached + ":multi"); got != want["multi"] {
		t.Fatalf("the index with the upstream down: %s", got)
	}
	if out, err := runEnv(t, nil, nil, crane, "digest", "--insecure", cached+":v8"); err == nil || !strings.Contains(out, "could not be reached") {
		t.Fatalf("a new tag with the upstream down: %v\n%s", err, out)
	}
}

package ecrapi_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/secrets"
)

func (a *api) secret(name, value string) string {
	a.t.Helper()
	s := a.app.Secrets
	sec, _, err := s.Create(context.Background(), "000000000000", secrets.CreateInput{ARN: s.NewARN("000000000000", name), Name: name, Value: secrets.Value{String: &value}})
	if err != nil {
		a.t.Fatal(err)
	}
	return sec.ARN
}

// TestPullThroughCacheRules: the five operations with botocore's shapes (each output its own members)
// and error codes.
func TestPullThroughCacheRules(t *testing.T) {
	a := newAPI(t, registry.Config{Upstreams: registry.UpstreamConfig{AllowHTTP: true}})
	hub := a.secret("ecr-pullthroughcache/hub", `{"username":"u","accessToken":"t"}`)

	out := a.ok("CreatePullThroughCacheRule", map[string]any{"ecrRepositoryPrefix": "hub", "upstreamRegistryUrl": "registry-1.docker.io",
		"credentialArn": hub, "upstreamRegistry": "docker-hub"})
	if out["ecrRepositoryPrefix"] != "hub" || out["upstreamRegistryUrl"] != "registry-1.docker.io" || out["registryId"] != "000000000000" ||
		out["upstreamRegistry"] != "docker-hub" || out["credentialArn"] != hub || out["createdAt"] == nil || out["updatedAt"] != nil ||
		out["customRoleArn"] != nil || out["upstreamRepositoryPrefix"] != nil {
		t.Fatalf("created: %v", out)
	}

	for _, c := range []struct {
		op, code string
		in       map[string]any
		msg      string
	}{
		{"CreatePullThroughCacheRule", "PullThroughCacheRuleAlreadyExistsException", map[string]any{"ecrRepositoryPrefix": "hub", "upstreamRegistryUrl": "quay.io"}, ""},
		{"CreatePullThroughCacheRule", "ValidationException", map[string]any{"upstreamRegistryUrl": "quay.io"},
			"1 validation error detected: Value null at 'ecrRepositoryPrefix' failed to satisfy constraint: Member must not be null"},
		{"CreatePullThroughCacheRule", "ValidationException", map[string]any{"ecrRepositoryPrefix": "quay"},
			"1 validation error detected: Value null at 'upstreamRegistryUrl' failed to satisfy constraint: Member must not be null"},
		{"CreatePullThroughCacheRule", "UnsupportedUpstreamRegistryException", map[string]any{"ecrRepositoryPrefix": "gh", "upstreamRegistryUrl": "ghcr.io"},
			"The specified upstream registry requires authentication. Specify a valid Secrets Manager ARN"},
		{"CreatePullThroughCacheRule", "SecretNotFoundException", map[string]any{"ecrRepositoryPrefix": "gh", "upstreamRegistryUrl": "ghcr.io",
			"credentialArn": "arn:aws:secretsmanager:us-east-1:000000000000:secret:ecr-pullthroughcache/none"}, ""},
		{"CreatePullThroughCacheRule", "UnableToAccessSecretException", map[string]any{"ecrRepositoryPrefix": "gh", "upstreamRegistryUrl": "ghcr.io",
			"credentialArn": "arn:aws:secretsmanager:us-east-1:111111111111:secret:ecr-pullthroughcache/hub"}, ""},
		{"CreatePullThroughCacheRule", "ValidationException", map[string]any{"ecrRepositoryPrefix": "gh", "upstreamRegistryUrl": "ghcr.io",
			"credentialArn": "arn:aws:secretsmanager:us-east-1:000000000000:secret:hub"}, ""},
		{"CreatePullThroughCacheRule", "ValidationException", map[string]any{"ecrRepositoryPrefix": "Hub", "upstreamRegistryUrl": "quay.io"}, ""},
		{"CreatePullThroughCacheRule", "InvalidParameterException", map[string]any{"ecrRepositoryPrefix": "k8s", "upstreamRegistryUrl": "registry.k8s.io", "credentialArn": hub}, ""},
		{"CreatePullThroughCacheRule", "InvalidParameterException", map[string]any{"registryId": "12", "ecrRepositoryPrefix": "k8s", "upstreamRegistryUrl": "registry.k8s.io"}, ""},
		{"UpdatePullThroughCacheRule", "PullThroughCacheRuleNotFoundException", map[string]any{"ecrRepositoryPrefix": "quay", "credentialArn": hub}, ""},
		{"UpdatePullThroughCacheRule", "SecretNotFoundException", map[string]any{"ecrRepositoryPrefix": "hub",
			"credentialArn": "arn:aws:secretsmanager:us-east-1:000000000000:secret:ecr-pullthroughcache/none"}, ""},
		{"DeletePullThroughCacheRule", "PullThroughCacheRuleNotFoundException", map[string]any{"ecrRepositoryPrefix": "quay"}, ""},
		{"ValidatePullThroughCacheRule", "PullThroughCacheRuleNotFoundException", map[string]any{"ecrRepositoryPrefix": "quay"}, ""},
		{"DescribePullThroughCacheRules", "PullThroughCacheRuleNotFoundException", map[string]any{"ecrRepositoryPrefixes": []string{"quay"}}, ""},
		{"DescribePullThroughCacheRules", "InvalidParameterException", map[string]any{"ecrRepositoryPrefixes": []string{"hub"}, "maxResults": 1}, ""},
		{"DescribePullThroughCacheRules", "InvalidParameterException", map[string]any{"ecrRepositoryPrefixes": []string{}}, ""},
	} {
		r := a.call(c.op, c.in)
		if r.status != 400 || r.errCode() != c.code || c.msg != "" && r.message() != c.msg {
			t.Errorf("%s %v: %d %s; want %s %q", c.op, c.in, r.status, r.raw, c.code, c.msg)
		}
	}

	// Update: its output's members.
	hub2 := a.secret("ecr-pullthroughcache/hub2", `{"username":"u","accessToken":"t2"}`)
	out = a.ok("UpdatePullThroughCacheRule", map[string]any{"ecrRepositoryPrefix": "hub", "credentialArn": hub2})
	if out["ecrRepositoryPrefix"] != "hub" || out["registryId"] != "000000000000" || out["credentialArn"] != hub2 || out["updatedAt"] == nil ||
		out["createdAt"] != nil || out["upstreamRegistryUrl"] != nil {
		t.Fatalf("updated: %v", out)
	}

	// Validate against an upstream started here, which takes Basic auth.
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "AWS" || p != "pw" {
			w.Header().Set("WWW-Authenticate", `Basic realm="upstream"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, "{}")
	}))
	defer upstream.Close()
	local := a.secret("ecr-pullthroughcache/local", `{"username":"AWS","accessToken":"pw"}`)
	a.ok("CreatePullThroughCacheRule", map[string]any{"ecrRepositoryPrefix": "local", "upstreamRegistryUrl": upstream.URL, "credentialArn": local})
	out = a.ok("ValidatePullThroughCacheRule", map[string]any{"ecrRepositoryPrefix": "local"})
	if out["isValid"] != true || out["failure"] != nil || out["upstreamRegistryUrl"] != upstream.URL || out["credentialArn"] != local {
		t.Fatalf("validate: %v", out)
	}
	upstream.Close()
	out = a.ok("ValidatePullThroughCacheRule", map[string]any{"ecrRepositoryPrefix": "local"})
	if out["isValid"] != false || !strings.Contains(fmt.Sprint(out["failure"]), "could not be reached") {
		t.Fatalf("validate an upstream that is down: %v", out)
	}

	// Describe: by page and by prefix.
	out = a.ok("DescribePullThroughCacheRules", map[string]any{"maxResults": 1})
	rules := out["pullThroughCacheRules"].([]any)
	if len(rules) != 1 || rules[0].(map[string]any)["ecrRepositoryPrefix"] != "hub" || out["nextToken"] == nil {
		t.Fatalf("first page: %v", out)
	}
	out = a.ok("DescribePullThroughCacheRules", map[string]any{"nextToken": out["nextToken"]})
	rules = out["pullThroughCacheRules"].([]any)
	if len(rules) != 1 || rules[0].(map[string]any)["ecrRepositoryPrefix"] != "local" || out["nextToken"] != nil {
		t.Fatalf("second page: %v", out)
	}
	out = a.ok("DescribePullThroughCacheRules", map[string]any{"ecrRepositoryPrefixes": []string{"hub"}})
	rule := out["pullThroughCacheRules"].([]any)[0].(map[string]any)
	if rule["credentialArn"] != hub2 || rule["upstreamRegistry"] != "docker-hub" || rule["createdAt"] == nil || rule["updatedAt"] == nil {
		t.Fatalf("by prefix: %v", out)
	}

	out = a.ok("DeletePullThroughCacheRule", map[string]any{"ecrRepositoryPrefix": "hub"})
	if out["ecrRepositoryPrefix"] != "hub" || out["upstreamRegistryUrl"] != "registry-1.docker.io" || out["credentialArn"] != hub2 ||
		out["createdAt"] == nil || out["updatedAt"] != nil || out["upstreamRegistry"] != nil {
		t.Fatalf("deleted: %v", out)
	}
	if rules := a.ok("DescribePullThroughCacheRules", map[string]any{})["pullThroughCacheRules"].([]any); len(rules) != 1 {
		t.Fatalf("after the delete: %v", rules)
	}
}

// TestBatchGetImageThroughCache: BatchGetImage of a repository under a pull through cache rule gets what
// it lacks from the upstream (another Wharf here), with IAM's dependent actions; what the upstream lacks
// is ImageNotFound, an upstream that is down UpstreamUnavailable, and the cache serves what it holds.
func TestBatchGetImageThroughCache(t *testing.T) {
	up := newAPI(t, registry.Config{})
	up.ok("CreateRepository", map[string]any{"repositoryName": "team/app"})
	want := up.pushImage("team/app", "v1", "a")
	tok := up.ok("GetAuthorizationToken", map[string]any{})["authorizationData"].([]any)[0].(map[string]any)["authorizationToken"].(string)
	basic, _ := base64.StdEncoding.DecodeString(tok)
	password := strings.TrimPrefix(string(basic), "AWS:")

	a := newAPI(t, registry.Config{Upstreams: registry.UpstreamConfig{AllowHTTP: true}})
	cred := a.secret("ecr-pullthroughcache/up", `{"username":"AWS","accessToken":"`+password+`"}`)
	a.ok("CreatePullThroughCacheRule", map[string]any{"ecrRepositoryPrefix": "up", "upstreamRegistryUrl": up.url, "credentialArn": cred})

	users := map[string]identity.Credentials{}
	for name, actions := range map[string]string{"bob": `"ecr:BatchGetImage"`,
		"carol": `["ecr:BatchGetImage","ecr:BatchImportUpstreamImage","ecr:CreateRepository"]`} {
		users[name] = a.user(name)
		if err := a.app.Identity.PutUserPolicy(context.Background(), "000000000000", name, "pull",
			`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":`+actions+`,"Resource":"*"}}`); err != nil {
			t.Fatal(err)
		}
	}
	get := func(user, tag string) result {
		return a.as(users[user], "BatchGetImage", map[string]any{"repositoryName": "up/team/app", "imageIds": []map[string]string{{"imageTag": tag}}})
	}
	if r := get("bob", "v1"); r.errCode() != "AccessDeniedException" || !strings.Contains(r.message(), "ecr:BatchImportUpstreamImage") {
		t.Fatalf("without ecr:BatchImportUpstreamImage: %s", r.raw)
	}
	r := get("carol", "v1")
	images, _ := r.body["images"].([]any)
	if r.status != 200 || len(images) != 1 || images[0].(map[string]any)["imageId"].(map[string]any)["imageDigest"] != want {
		t.Fatalf("first pull: %s", r.raw)
	}
	if r := get("bob", "v1"); r.status != 200 || len(r.body["images"].([]any)) != 1 {
		t.Fatalf("cached, for a caller who may only pull: %s", r.raw)
	}
	repos := a.ok("DescribeRepositories", map[string]any{"repositoryNames": []string{"up/team/app"}})["repositories"].([]any)
	if repo := repos[0].(map[string]any); repo["imageTagMutability"] != "MUTABLE" {
		t.Fatalf("the repository created: %v", repo)
	}

	r = get("carol", "v9")
	if f, _ := r.body["failures"].([]any); r.status != 200 || len(f) != 1 || f[0].(map[string]any)["failureCode"] != "ImageNotFound" {
		t.Fatalf("a tag the upstream lacks: %s", r.raw)
	}
	// An upstream that is down (the cache's own serving while it is down: the e2e test).
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	a.ok("CreatePullThroughCacheRule", map[string]any{"ecrRepositoryPrefix": "gone", "upstreamRegistryUrl": down.URL, "credentialArn": cred})
	r = a.as(users["carol"], "BatchGetImage", map[string]any{"repositoryName": "gone/team/app", "imageIds": []map[string]string{{"imageTag": "v1"}}})
	a.fails(r, 400, "UnableToGetUpstreamImageException")
	// A repository of the cache that exists answers a failure for each image it cannot get.
	a.ok("CreateRepository", map[string]any{"repositoryName": "gone/team/app"})
	r = a.as(users["carol"], "BatchGetImage", map[string]any{"repositoryName": "gone/team/app", "imageIds": []map[string]string{{"imageTag": "v1"}}})
	if f, _ := r.body["failures"].([]any); r.status != 200 || len(f) != 1 || f[0].(map[string]any)["failureCode"] != "UpstreamUnavailable" {
		t.Fatalf("with the upstream down: %s", r.raw)
	}
}

package registry_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/secrets"
)

// lateSecrets is the core's secrets service, made once the env's store is open.
type lateSecrets struct{ s *secrets.Service }

func (l *lateSecrets) Value(ctx context.Context, accountID, arn string) ([]byte, error) {
	return l.s.Value(ctx, accountID, arn)
}

// ptcEnv is a core with a Secrets Manager service over its store.
func ptcEnv(t *testing.T, cfg registry.Config) (*env, *secrets.Service) {
	t.Helper()
	late := &lateSecrets{}
	cfg.Secrets = late
	e := newEnv(t, cfg)
	keys, err := identity.NewKeyring(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	late.s = secrets.New(e.meta, keys, e.clock, "us-east-1")
	return e, late.s
}

// secret creates a secret of the registry's account and returns its ARN.
func secret(t *testing.T, s *secrets.Service, name, value string) string {
	t.Helper()
	sec, _, err := s.Create(ctx, reg, secrets.CreateInput{ARN: s.NewARN(reg, name), Name: name, Value: secrets.Value{String: &value}})
	if err != nil {
		t.Fatal(err)
	}
	return sec.ARN
}

func wantPTCKind(t *testing.T, what string, err error, kind registry.Kind) {
	t.Helper()
	if registry.KindOf(err) != kind {
		t.Errorf("%s: %v (%v); want %v", what, err, registry.KindOf(err), kind)
	}
}

// TestPullThroughCacheRules: ECR's rules of the rules — its named upstreams and which need credentials,
// the secret they name, prefixes and the limit — and Wharf's other OCI registries.
func TestPullThroughCacheRules(t *testing.T) {
	e, sm := ptcEnv(t, registry.Config{Limits: registry.Limits{PullThroughCacheRulesPerRegistry: 4}})
	hubSecret := secret(t, sm, "ecr-pullthroughcache/hub", `{"username":"u","accessToken":"t"}`)
	rule := func(prefix, url, cred string) registry.PullThroughCacheRule {
		return registry.PullThroughCacheRule{RegistryID: reg, Prefix: prefix, UpstreamURL: url, CredentialARN: cred}
	}

	hub, err := e.svc.CreatePullThroughCacheRule(ctx, rule("hub/", "registry-1.docker.io", hubSecret), "")
	if err != nil || hub.Prefix != "hub" || hub.UpstreamRegistry != registry.UpstreamDockerHub || !hub.CreatedAt.Equal(e.clock.Now()) {
		t.Fatalf("docker hub rule: %+v, %v", hub, err)
	}
	_, err = e.svc.CreatePullThroughCacheRule(ctx, rule("hub", "quay.io", ""), "")
	wantPTCKind(t, "a prefix taken", err, registry.KindPullThroughCacheRuleExists)

	for _, c := range []struct {
		name string
		r    registry.PullThroughCacheRule
		up   string
		kind registry.Kind
	}{
		{"docker hub without credentials", rule("hub2", "registry-1.docker.io", ""), "", registry.KindUnsupportedUpstream},
		{"ghcr without credentials", rule("gh", "ghcr.io", ""), "", registry.KindUnsupportedUpstream},
		{"k8s with credentials", rule("k8s", "registry.k8s.io", hubSecret), "", registry.KindInvalidParameter},
		{"a URL not of the upstream named", rule("qq", "registry.k8s.io", ""), "quay", registry.KindUnsupportedUpstream},
		{"an upstream ECR does not know", rule("qq", "quay.io", ""), "harbor", registry.KindValidation},
		{"plain HTTP, not allowed", rule("local", "http://127.0.0.1:5000", ""), "", registry.KindUnsupportedUpstream},
		{"a URL with a query", rule("local", "https://example.com/?x=1", ""), "", registry.KindUnsupportedUpstream},
		{"a one-letter prefix", rule("a", "quay.io", ""), "", registry.KindValidation},
		{"an upper-case prefix", rule("Quay", "quay.io", ""), "", registry.KindValidation},
		{"a prefix of 31 characters", rule(strings.Repeat("a", 31), "quay.io", ""), "", registry.KindValidation},
		{"a missing secret", rule("gh", "ghcr.io", strings.Replace(hubSecret, "/hub", "/nope", 1)), "", registry.KindSecretNotFound},
		{"another account's secret", rule("gh", "ghcr.io", strings.Replace(hubSecret, ":"+reg+":", ":111111111111:", 1)), "", registry.KindSecretInaccessible},
		{"not a secret of the pull through cache", rule("gh", "ghcr.io", "arn:aws:secretsmanager:us-east-1:000000000000:secret:other/hub-abcdef"), "", registry.KindValidation},
		{"ROOT for Docker Hub", rule("ROOT", "registry-1.docker.io", hubSecret), "", registry.KindInvalidParameter},
		{"an upstream prefix for Quay", registry.PullThroughCacheRule{RegistryID: reg, Prefix: "qq", UpstreamURL: "quay.io", UpstreamRepositoryPrefix: "team"}, "", registry.KindInvalidParameter},
		{"another account's ECR without a role", rule("ecr", "111111111111.dkr.ecr.us-west-2.amazonaws.com", ""), "", registry.KindInvalidParameter},
		{"ECR with a secret", rule("ecr", "000000000000.dkr.ecr.us-west-2.amazonaws.com", hubSecret), "", registry.KindInvalidParameter},
	} {
		_, err := e.svc.CreatePullThroughCacheRule(ctx, c.r, c.up)
		wantPTCKind(t, c.name, err, c.kind)
	}

	// Quay with and without credentials, another ECR, and any OCI registry (Wharf's own).
	if r, err := e.svc.CreatePullThroughCacheRule(ctx, rule("quay", "quay.io", ""), "quay"); err != nil || r.UpstreamRegistry != "quay" {
		t.Fatalf("quay: %+v, %v", r, err)
	}
	ecr := registry.PullThroughCacheRule{RegistryID: reg, Prefix: "ROOT", UpstreamURL: "111111111111.dkr.ecr.us-west-2.amazonaws.com",
		UpstreamRepositoryPrefix: "ROOT", CustomRoleARN: "arn:aws:iam::000000000000:role/ptc"}
	if r, err := e.svc.CreatePullThroughCacheRule(ctx, ecr, ""); err != nil || r.UpstreamRegistry != registry.UpstreamECR {
		t.Fatalf("ECR: %+v, %v", r, err)
	}
	if r, err := e.svc.CreatePullThroughCacheRule(ctx, rule("mirror", "https://registry.example.com:5443/mirror", hubSecret), ""); err != nil || r.UpstreamRegistry != "" {
		t.Fatalf("another OCI registry: %+v, %v", r, err)
	}
	_, err = e.svc.CreatePullThroughCacheRule(ctx, rule("more", "quay.io", ""), "")
	wantPTCKind(t, "past the limit", err, registry.KindLimitExceeded)

	// Update: a new secret; a missing one changes nothing.
	newSecret := secret(t, sm, "ecr-pullthroughcache/hub-2", `{"username":"u","accessToken":"t2"}`)
	e.clock.Advance(60e9)
	if r, err := e.svc.UpdatePullThroughCacheRule(ctx, reg, "hub", newSecret, ""); err != nil || r.CredentialARN != newSecret ||
		!r.UpdatedAt.Equal(e.clock.Now()) || r.CreatedAt.Equal(r.UpdatedAt) {
		t.Fatalf("update: %+v, %v", r, err)
	}
	_, err = e.svc.UpdatePullThroughCacheRule(ctx, reg, "hub", strings.Replace(newSecret, "hub-2", "gone", 1), "")
	wantPTCKind(t, "update to a missing secret", err, registry.KindSecretNotFound)
	_, err = e.svc.UpdatePullThroughCacheRule(ctx, reg, "nope", newSecret, "")
	wantPTCKind(t, "update of a missing rule", err, registry.KindPullThroughCacheRuleNotFound)
	if r, _ := e.svc.PullThroughCacheRule(ctx, reg, "hub"); r.CredentialARN != newSecret {
		t.Fatalf("after a refused update: %+v", r)
	}

	// Listing, by page and by prefixes.
	rs, more, err := e.svc.PullThroughCacheRules(ctx, reg, nil, "", 2)
	if err != nil || !more || len(rs) != 2 || rs[0].Prefix != "ROOT" || rs[1].Prefix != "hub" {
		t.Fatalf("first page: %+v, %v, %v", rs, more, err)
	}
	rs, more, err = e.svc.PullThroughCacheRules(ctx, reg, nil, "hub", 2)
	if err != nil || more || len(rs) != 2 || rs[0].Prefix != "mirror" || rs[1].Prefix != "quay" {
		t.Fatalf("second page: %+v, %v, %v", rs, more, err)
	}
	if rs, _, err = e.svc.PullThroughCacheRules(ctx, reg, []string{"quay", "hub/"}, "", 0); err != nil || len(rs) != 2 || rs[0].Prefix != "hub" {
		t.Fatalf("by prefixes: %+v, %v", rs, err)
	}
	_, _, err = e.svc.PullThroughCacheRules(ctx, reg, []string{"quay", "nope"}, "", 0)
	wantPTCKind(t, "a missing prefix listed", err, registry.KindPullThroughCacheRuleNotFound)

	if r, err := e.svc.DeletePullThroughCacheRule(ctx, reg, "quay"); err != nil || r.UpstreamURL != "quay.io" {
		t.Fatalf("delete: %+v, %v", r, err)
	}
	_, err = e.svc.DeletePullThroughCacheRule(ctx, reg, "quay")
	wantPTCKind(t, "delete twice", err, registry.KindPullThroughCacheRuleNotFound)
}

// tokenUpstream is an upstream registry that asks for a bearer token from its realm, which hands one out
// to the user and password given (Docker Hub's and most registries' way).
func tokenUpstream(t *testing.T, user, pass string) *httptest.Server {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/token":
			u, p, ok := r.BasicAuth()
			if !ok || u != user || p != pass || r.URL.Query().Get("service") != "upstream.test" {
				http.Error(w, `{"details":"incorrect username or password"}`, http.StatusUnauthorized)
				return
			}
			fmt.Fprint(w, `{"token":"tok-`+user+`"}`)
		case "/v2/":
			if r.Header.Get("Authorization") != "Bearer tok-"+user {
				w.Header().Set("WWW-Authenticate", `Bearer realm="`+srv.URL+`/token",service="upstream.test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
				return
			}
			fmt.Fprint(w, "{}")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestValidatePullThroughCacheRule: validation really logs in to the upstream with the rule's secret,
// through a token challenge or Basic auth, and answers why it could not.
func TestValidatePullThroughCacheRule(t *testing.T) {
	e, sm := ptcEnv(t, registry.Config{Upstreams: registry.UpstreamConfig{AllowHTTP: true}})
	token := tokenUpstream(t, "alice", "s3cret")
	basic := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "AWS" || p != "pw" {
			w.Header().Set("WWW-Authenticate", `Basic realm="upstream"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, "{}")
	}))
	defer basic.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()

	good := secret(t, sm, "ecr-pullthroughcache/good", `{"username":"alice","accessToken":"s3cret"}`)
	bad := secret(t, sm, "ecr-pullthroughcache/bad", `{"username":"alice","accessToken":"wrong"}`)
	aws := secret(t, sm, "ecr-pullthroughcache/aws", `{"username":"AWS","accessToken":"pw"}`)
	notJSON := secret(t, sm, "ecr-pullthroughcache/text", `alice:s3cret`)
	for _, r := range []registry.PullThroughCacheRule{
		{Prefix: "good", UpstreamURL: token.URL, CredentialARN: good},
		{Prefix: "bad", UpstreamURL: token.URL, CredentialARN: bad},
		{Prefix: "anonymous", UpstreamURL: token.URL},
		{Prefix: "basic", UpstreamURL: basic.URL + "/", CredentialARN: aws},
		{Prefix: "text", UpstreamURL: token.URL, CredentialARN: notJSON},
		{Prefix: "down", UpstreamURL: down.URL},
	} {
		r.RegistryID = reg
		if _, err := e.svc.CreatePullThroughCacheRule(ctx, r, ""); err != nil {
			t.Fatalf("rule %s: %v", r.Prefix, err)
		}
	}
	for _, c := range []struct {
		prefix  string
		valid   bool
		failure string
	}{
		{"good", true, ""},
		{"basic", true, ""},
		{"bad", false, "authentication to the upstream registry failed"},
		{"anonymous", false, "authentication to the upstream registry failed"},
		{"text", false, "must hold a JSON object with a username and an accessToken"},
		{"down", false, "could not be reached"},
	} {
		r, valid, failure, err := e.svc.ValidatePullThroughCacheRule(ctx, reg, c.prefix)
		if err != nil || r.Prefix != c.prefix || valid != c.valid || !strings.Contains(failure, c.failure) || c.valid && failure != "" {
			t.Errorf("validate %s: %v, %q, %v; want %v, %q", c.prefix, valid, failure, err, c.valid, c.failure)
		}
	}
	_, _, _, err := e.svc.ValidatePullThroughCacheRule(ctx, reg, "nope")
	wantPTCKind(t, "validate a missing rule", err, registry.KindPullThroughCacheRuleNotFound)

	// A secret deleted since: validation says so; the rule stays.
	if _, _, err := sm.Delete(ctx, reg, good, 0, true); err != nil {
		t.Fatal(err)
	}
	if _, valid, failure, err := e.svc.ValidatePullThroughCacheRule(ctx, reg, "good"); err != nil || valid || !strings.Contains(failure, "was not found") {
		t.Errorf("validate with the secret gone: %v, %q, %v", valid, failure, err)
	}
}

package registry_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/secrets"
	"github.com/wharf-dev/wharf/internal/store"
	"github.com/wharf-dev/wharf/internal/upstream"
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

// upstreamManifest is the OCI image manifest an upstream serves for an image of config and one layer.
func upstreamManifest(config, layer []byte) string {
	return fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`,
		digest.FromBytes(config), len(config), digest.FromBytes(layer), len(layer))
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
	e, sm := ptcEnv(t, registry.Config{Upstreams: registry.UpstreamConfig{AllowHTTP: true, Dial: upstream.Dial(0)}})
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

// TestUpstreamNames: a repository's name upstream, by the rule with the longest prefix it is under (ROOT
// last): the rest of its name, after the rule's upstream repository prefix or the URL's path, and for
// Docker Hub's official images after library/.
func TestUpstreamNames(t *testing.T) {
	e, sm := ptcEnv(t, registry.Config{})
	cred := secret(t, sm, "ecr-pullthroughcache/hub", `{"username":"u","accessToken":"t"}`)
	for _, r := range []registry.PullThroughCacheRule{
		{Prefix: "hub", UpstreamURL: "registry-1.docker.io", CredentialARN: cred},
		{Prefix: "hub/special", UpstreamURL: "quay.io"},
		{Prefix: "mirror", UpstreamURL: "registry.example.com/base/path"},
		{Prefix: "ROOT", UpstreamURL: "000000000000.dkr.ecr.us-west-2.amazonaws.com"},
		{Prefix: "ecr", UpstreamURL: "000000000000.dkr.ecr.us-west-2.amazonaws.com", UpstreamRepositoryPrefix: "team"},
	} {
		r.RegistryID = reg
		if _, err := e.svc.CreatePullThroughCacheRule(ctx, r, ""); err != nil {
			t.Fatalf("rule %s: %v", r.Prefix, err)
		}
	}
	for name, want := range map[string]string{
		"hub/nginx":          "library/nginx",
		"hub/bitnami/redis":  "bitnami/redis",
		"hub/special/thing":  "thing",
		"mirror/app":         "base/path/app",
		"other/app":          "other/app",
		"app":                "app",
		"hubble/app":         "hubble/app",
		"ecr/web/app":        "team/web/app",
		"hub/special/x/y/zz": "x/y/zz",
	} {
		if got, err := registry.UpstreamName(e.svc, reg, name); err != nil || got != want {
			t.Errorf("%s upstream: %q, %v; want %q", name, got, err, want)
		}
	}
}

// staticUpstream serves one image and counts the requests for each path; corrupt blobs answer other
// bytes than their digest's.
func staticUpstream(t *testing.T, corrupt bool) (srv *httptest.Server, ref string, count func(path string) int64) {
	layer, config := []byte("the layer's bytes"), []byte(`{"architecture":"amd64","os":"linux"}`)
	m := upstreamManifest(config, layer)
	index := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d,"platform":{"architecture":"amd64","os":"linux"}}]}`,
		digest.FromString(m), len(m))
	files := map[string][]byte{
		"/v2/lib/app/manifests/v1":                               []byte(m),
		"/v2/lib/app/manifests/" + digest.FromString(m).String(): []byte(m),
		"/v2/lib/app/manifests/multi":                            []byte(index),
		"/v2/lib/app/blobs/" + digest.FromBytes(config).String(): config,
		"/v2/lib/app/blobs/" + digest.FromBytes(layer).String():  layer,
	}
	var mu sync.Mutex
	counts := map[string]int64{}
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		counts[r.URL.Path]++
		mu.Unlock()
		time.Sleep(20 * time.Millisecond) // concurrent pulls overlap
		body, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if strings.Contains(r.URL.Path, "/manifests/") {
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			if strings.HasSuffix(r.URL.Path, "/multi") {
				w.Header().Set("Content-Type", "application/vnd.oci.image.index.v1+json")
			}
			w.Header().Set("Docker-Content-Digest", digest.FromBytes(body).String())
		} else if corrupt {
			body = bytes.ToUpper(body)
		}
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, digest.FromString(m).String(), func(path string) int64 {
		mu.Lock()
		defer mu.Unlock()
		return counts[path]
	}
}

// TestFirstPullsFetchOnce: concurrent first pulls of a tag fetch the image from the upstream once, and
// every one of them gets it.
func TestFirstPullsFetchOnce(t *testing.T) {
	e, _ := ptcEnv(t, registry.Config{Upstreams: registry.UpstreamConfig{AllowHTTP: true, Dial: upstream.Dial(0)}})
	srv, want, count := staticUpstream(t, false)
	if _, err := e.svc.CreatePullThroughCacheRule(ctx, registry.PullThroughCacheRule{RegistryID: reg, Prefix: "up", UpstreamURL: srv.URL}, ""); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			info, err := e.svc.GetManifestAs(ctx, reg, "up/lib/app", "v1", nil, []string{"arn:aws:iam::000000000000:user/u"})
			if err == nil && info.Digest.String() != want {
				err = fmt.Errorf("digest %s, want %s", info.Digest, want)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a first pull: %v", err)
		}
	}
	if err := e.svc.PullThrough(ctx, reg, "up/lib/app", "v1"); err != nil { // waits for the blobs to be stored
		t.Fatal(err)
	}
	if n := count("/v2/lib/app/manifests/v1"); n != 1 {
		t.Fatalf("the manifest was fetched %d times", n)
	}
	img, err := e.svc.FindImage(ctx, reg, "up/lib/app", registry.ImageRef{Tag: "v1"})
	if err != nil || img.Digest.String() != want {
		t.Fatalf("the image stored: %+v, %v", img, err)
	}
	if r, err := e.svc.Repository(ctx, reg, "up/lib/app"); err != nil || r.TagMutability != registry.Mutable || r.EncryptionType != registry.AES256 {
		t.Fatalf("the repository, with ECR's defaults: %+v, %v", r, err)
	}

	// With a PULL_THROUGH_CACHE template, a new repository gets its settings.
	if _, err := e.svc.CreateCreationTemplate(ctx, registry.CreationTemplate{RegistryID: reg, Prefix: "up/lib", AppliedFor: []string{registry.ForPullThroughCache},
		TagMutability: registry.Immutable, ResourceTags: []store.ResourceTag{{Key: "cache", Value: "yes"}}}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.PullThrough(ctx, reg, "up/lib/app2", "v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Repository(ctx, reg, "up/lib/app2"); registry.KindOf(err) != registry.KindRepositoryNotFound {
		t.Fatalf("a repository the upstream lacks was made: %v", err)
	}
	e.svc.DeleteRepository(ctx, reg, "up/lib/app", true)
	if err := e.svc.PullThrough(ctx, reg, "up/lib/app", "v1"); err != nil {
		t.Fatal(err)
	}
	r, err := e.svc.Repository(ctx, reg, "up/lib/app")
	if err != nil || r.TagMutability != registry.Immutable {
		t.Fatalf("the repository, from the template: %+v, %v", r, err)
	}
	if tags, err := e.svc.RepositoryTags(ctx, reg, "up/lib/app"); err != nil || len(tags) != 1 || tags[0].Key != "cache" {
		t.Fatalf("the template's tags: %+v, %v", tags, err)
	}
}

// TestPullThroughVerifiesDigests: blobs whose bytes are not their digest's are refused, and the pull
// fails without storing the image.
func TestPullThroughVerifiesDigests(t *testing.T) {
	e, _ := ptcEnv(t, registry.Config{Upstreams: registry.UpstreamConfig{AllowHTTP: true, Dial: upstream.Dial(0)}})
	srv, _, _ := staticUpstream(t, true)
	if _, err := e.svc.CreatePullThroughCacheRule(ctx, registry.PullThroughCacheRule{RegistryID: reg, Prefix: "up", UpstreamURL: srv.URL}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GetManifestAs(ctx, reg, "up/lib/app", "v1", nil, nil); err != nil {
		t.Fatal(err) // the manifest is good; the blobs are checked as they arrive
	}
	err := e.svc.PullThrough(ctx, reg, "up/lib/app", "v1")
	if registry.KindOf(err) != registry.KindUpstreamFailed || !strings.Contains(err.Error(), "does not match its digest") {
		t.Fatalf("a corrupt blob: %v", err)
	}
	if _, err := e.svc.FindImage(ctx, reg, "up/lib/app", registry.ImageRef{Tag: "v1"}); registry.KindOf(err) != registry.KindManifestUnknown {
		t.Fatalf("the image after a failed pull: %v", err)
	}
	if _, err := e.svc.GetManifestAs(ctx, reg, "up/lib/nope", "v1", nil, nil); registry.KindOf(err) != registry.KindManifestUnknown {
		t.Fatalf("an image the upstream lacks: %v", err)
	}
}

// TestFirstPullStreams: the first pull answers the manifest before the blobs have arrived, and a reader
// of a blob gets its bytes as they arrive; once all are there the image is stored.
func TestFirstPullStreams(t *testing.T) {
	e, _ := ptcEnv(t, registry.Config{Upstreams: registry.UpstreamConfig{AllowHTTP: true, Dial: upstream.Dial(0)}})
	first, rest := bytes.Repeat([]byte("a"), 100<<10), bytes.Repeat([]byte("b"), 50<<10)
	layer := append(append([]byte{}, first...), rest...)
	config := []byte(`{"architecture":"amd64","os":"linux"}`)
	m := upstreamManifest(config, layer)
	gate := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v2/lib/app/manifests/v1":
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			fmt.Fprint(w, m)
		case "/v2/lib/app/blobs/" + digest.FromBytes(config).String():
			w.Write(config)
		case "/v2/lib/app/blobs/" + digest.FromBytes(layer).String():
			w.Header().Set("Content-Length", fmt.Sprint(len(layer)))
			w.Write(first)
			w.(http.Flusher).Flush()
			<-gate // the rest only once the test has read the first part
			w.Write(rest)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	if _, err := e.svc.CreatePullThroughCacheRule(ctx, registry.PullThroughCacheRule{RegistryID: reg, Prefix: "up", UpstreamURL: srv.URL}, ""); err != nil {
		t.Fatal(err)
	}
	info, err := e.svc.GetManifestAs(ctx, reg, "up/lib/app", "v1", []string{"application/vnd.oci.image.manifest.v1+json"}, nil)
	if err != nil || string(info.Content) != m {
		t.Fatalf("the manifest, before its blobs: %v", err)
	}
	if st, err := e.svc.StatBlob(ctx, reg, "up/lib/app", digest.FromBytes(layer)); err != nil || st.Size != int64(len(layer)) {
		t.Fatalf("a blob on its way: %+v, %v", st, err)
	}
	_, rc, err := e.svc.OpenBlob(ctx, reg, "up/lib/app", digest.FromBytes(layer))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got := make([]byte, len(first))
	if _, err := io.ReadFull(rc, got); err != nil || !bytes.Equal(got, first) {
		t.Fatalf("the first bytes, while the rest is on its way: %v", err)
	}
	close(gate)
	tail, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(tail, rest) {
		t.Fatalf("the rest: %d bytes, %v", len(tail), err)
	}
	if err := e.svc.PullThrough(ctx, reg, "up/lib/app", "v1"); err != nil {
		t.Fatal(err)
	}
	if img, err := e.svc.FindImage(ctx, reg, "up/lib/app", registry.ImageRef{Tag: "v1"}); err != nil || img.Digest != digest.FromString(m) {
		t.Fatalf("the image stored: %+v, %v", img, err)
	}
	_, rc2, err := e.svc.OpenBlob(ctx, reg, "up/lib/app", digest.FromBytes(layer))
	if err != nil {
		t.Fatal(err)
	}
	defer rc2.Close()
	if all, err := io.ReadAll(rc2); err != nil || !bytes.Equal(all, layer) {
		t.Fatalf("the blob from the store: %v", err)
	}
}

// TestFirstPullsOfSharedImages: first pulls of a tag and of an index that holds its image, at once, both
// end stored, though each fetches the blobs they share.
func TestFirstPullsOfSharedImages(t *testing.T) {
	e, _ := ptcEnv(t, registry.Config{Upstreams: registry.UpstreamConfig{AllowHTTP: true, Dial: upstream.Dial(0)}})
	srv, _, _ := staticUpstream(t, false)
	if _, err := e.svc.CreatePullThroughCacheRule(ctx, registry.PullThroughCacheRule{RegistryID: reg, Prefix: "up", UpstreamURL: srv.URL}, ""); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, tag := range []string{"v1", "multi", "v1", "multi"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.svc.GetManifestAs(ctx, reg, "up/lib/app", tag, nil, nil); err != nil {
				t.Errorf("pull %s: %v", tag, err)
			}
		}()
	}
	wg.Wait()
	for _, tag := range []string{"v1", "multi"} {
		if err := e.svc.PullThrough(ctx, reg, "up/lib/app", tag); err != nil {
			t.Fatalf("%s: %v", tag, err)
		}
		if _, err := e.svc.FindImage(ctx, reg, "up/lib/app", registry.ImageRef{Tag: tag}); err != nil {
			t.Fatalf("%s stored: %v", tag, err)
		}
	}
}

// TestFirstPullStreamNeverGivesAWrongBlob: a reader following a blob on its way gets every byte but the
// last before the blob is verified; an upstream's bytes of the right size that do not match the digest
// end the reader with the fetch's error, never a whole blob.
func TestFirstPullStreamNeverGivesAWrongBlob(t *testing.T) {
	e, _ := ptcEnv(t, registry.Config{Upstreams: registry.UpstreamConfig{AllowHTTP: true, Dial: upstream.Dial(0)}})
	layer := bytes.Repeat([]byte("a"), 64<<10)
	wrong := bytes.Repeat([]byte("b"), len(layer))
	config := []byte(`{"architecture":"amd64","os":"linux"}`)
	m := upstreamManifest(config, layer)
	gate := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v2/lib/app/manifests/v1":
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			fmt.Fprint(w, m)
		case "/v2/lib/app/blobs/" + digest.FromBytes(config).String():
			w.Write(config)
		case "/v2/lib/app/blobs/" + digest.FromBytes(layer).String():
			w.Write(wrong) // every byte, chunked: the end of the body only once the gate opens
			w.(http.Flusher).Flush()
			<-gate
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	defer close(gate)
	if _, err := e.svc.CreatePullThroughCacheRule(ctx, registry.PullThroughCacheRule{RegistryID: reg, Prefix: "up", UpstreamURL: srv.URL}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GetManifestAs(ctx, reg, "up/lib/app", "v1", nil, nil); err != nil {
		t.Fatal(err)
	}
	_, rc, err := e.svc.OpenBlob(ctx, reg, "up/lib/app", digest.FromBytes(layer))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	head := make([]byte, len(layer)-1)
	if _, err := io.ReadFull(rc, head); err != nil {
		t.Fatalf("the bytes before the last: %v", err)
	}
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(rc)
		done <- result{len(b), err}
	}()
	select {
	case r := <-done:
		if r.err == nil {
			t.Fatalf("the last byte of a blob not verified yet: %d bytes, no error", r.n)
		}
	case <-time.After(200 * time.Millisecond): // waiting for the fetch to end, as it should
		gate <- struct{}{}
		if r := <-done; r.err == nil || r.n != 0 {
			t.Fatalf("the end of a blob that does not match its digest: %d bytes, %v", r.n, r.err)
		}
	}
}

// TestPullThroughAfterDeleteRepository: a repository deleted while its first pull's blobs are on their
// way stays deleted, even with create-on-push: the fetch fails rather than creating it again.
func TestPullThroughAfterDeleteRepository(t *testing.T) {
	fetched := make(chan registry.UpstreamFetch, 4)
	e, _ := ptcEnv(t, registry.Config{CreateOnPush: true, Upstreams: registry.UpstreamConfig{AllowHTTP: true, Dial: upstream.Dial(0),
		Observe: func(ev registry.UpstreamFetch) { fetched <- ev }}})
	layer := []byte("the layer's bytes")
	config := []byte(`{"architecture":"amd64","os":"linux"}`)
	m := upstreamManifest(config, layer)
	gate := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v2/lib/app/manifests/v1":
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			fmt.Fprint(w, m)
		case "/v2/lib/app/blobs/" + digest.FromBytes(config).String(), "/v2/lib/app/blobs/" + digest.FromBytes(layer).String():
			<-gate
			if strings.HasSuffix(r.URL.Path, digest.FromBytes(config).String()) {
				w.Write(config)
			} else {
				w.Write(layer)
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	if _, err := e.svc.CreatePullThroughCacheRule(ctx, registry.PullThroughCacheRule{RegistryID: reg, Prefix: "up", UpstreamURL: srv.URL}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GetManifestAs(ctx, reg, "up/lib/app", "v1", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DeleteRepository(ctx, reg, "up/lib/app", true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Repository(ctx, reg, "up/lib/app"); registry.KindOf(err) != registry.KindRepositoryNotFound {
		t.Fatalf("the repository just deleted: %v", err)
	}
	close(gate)
	if ev := <-fetched; ev.Err == nil {
		t.Errorf("the fetch into a repository deleted meanwhile: %+v", ev)
	}
	if r, err := e.svc.Repository(ctx, reg, "up/lib/app"); registry.KindOf(err) != registry.KindRepositoryNotFound {
		t.Fatalf("the repository deleted during the pull: %+v, %v", r, err)
	}
}

// TestPullThroughRefusesTooManyLayers: a manifest upstream with more layers than an image may have is
// refused as it arrives, before any of its blobs is fetched or its repository made, rather than once its
// blobs are all fetched.
func TestPullThroughRefusesTooManyLayers(t *testing.T) {
	e, _ := ptcEnv(t, registry.Config{Limits: registry.Limits{LayersPerImage: 2},
		Upstreams: registry.UpstreamConfig{AllowHTTP: true, Dial: upstream.Dial(0)}})
	config := []byte(`{"architecture":"amd64","os":"linux"}`)
	var layers []string
	for i := range 3 {
		l := fmt.Sprintf("layer %d", i)
		layers = append(layers, fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}`, digest.FromString(l), len(l)))
	}
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[%s]}`,
		digest.FromBytes(config), len(config), strings.Join(layers, ","))
	var blobs atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/lib/app/manifests/v1" {
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			fmt.Fprint(w, m)
			return
		}
		blobs.Add(1)
		http.NotFound(w, r)
	}))
	defer srv.Close()
	if _, err := e.svc.CreatePullThroughCacheRule(ctx, registry.PullThroughCacheRule{RegistryID: reg, Prefix: "up", UpstreamURL: srv.URL}, ""); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.GetManifestAs(ctx, reg, "up/lib/app", "v1", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "layers") {
		t.Fatalf("a manifest of too many layers: %v", err)
	}
	if n := blobs.Load(); n != 0 {
		t.Errorf("%d blobs asked of the upstream", n)
	}
	if _, err := e.svc.Repository(ctx, reg, "up/lib/app"); registry.KindOf(err) != registry.KindRepositoryNotFound {
		t.Errorf("the repository after a refused manifest: %v", err)
	}
}

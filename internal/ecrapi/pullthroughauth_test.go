package ecrapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/registry"
)

// TestPullThroughAuthorization: a caller the import is not for, because it may not import, may not create
// the repository, is denied explicitly or is another account's, is denied before anything is asked of
// the upstream; another account's pull of a cached image needs no more than the repository's policy
// allowing it, and imports nothing.
func TestPullThroughAuthorization(t *testing.T) {
	config := []byte(`{"architecture":"amd64","os":"linux"}`)
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[]}`,
		digest.FromBytes(config), len(config))
	var asked atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		switch {
		case strings.HasPrefix(r.URL.Path, "/v2/lib/app/manifests/"):
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			fmt.Fprint(w, m)
		case r.URL.Path == "/v2/lib/app/blobs/"+digest.FromBytes(config).String():
			w.Write(config)
		default:
			http.NotFound(w, r)
		}
	}))
	defer up.Close()
	a := newAPI(t, registry.Config{Upstreams: registry.UpstreamConfig{AllowHTTP: true}})
	a.ok("CreatePullThroughCacheRule", map[string]any{"ecrRepositoryPrefix": "up", "upstreamRegistryUrl": up.URL})
	ctx := context.Background()
	policies := map[string]string{
		"dave": `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["ecr:BatchGetImage","ecr:BatchImportUpstreamImage"],"Resource":"*"}}`,
		"erin": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"},{"Effect":"Deny","Action":"ecr:BatchImportUpstreamImage","Resource":"*"}]}`,
	}
	get := func(r result) []any {
		images, _ := r.body["images"].([]any)
		return images
	}
	for name, policy := range policies {
		creds := a.user(name)
		if err := a.app.Identity.PutUserPolicy(ctx, "000000000000", name, "p", policy); err != nil {
			t.Fatal(err)
		}
		r := a.as(creds, "BatchGetImage", map[string]any{"repositoryName": "up/lib/app", "imageIds": []map[string]string{{"imageTag": "v1"}}})
		a.fails(r, 400, "AccessDeniedException")
		if n := asked.Load(); n != 0 {
			t.Fatalf("%s: %d requests upstream", name, n)
		}
	}
	other, err := a.app.Identity.CreateAccount(ctx, "111122223333")
	if err != nil {
		t.Fatal(err)
	}
	pull := func(tag string) result {
		return a.raw("BatchGetImage", fmt.Appendf(nil, `{"registryId":"000000000000","repositoryName":"up/lib/app","imageIds":[{"imageTag":%q}]}`, tag), time.Now(), *other)
	}
	a.fails(pull("v1"), 400, "AccessDeniedException")
	if n := asked.Load(); n != 0 {
		t.Fatalf("another account: %d requests upstream", n)
	}
	if images := get(a.call("BatchGetImage", map[string]any{"repositoryName": "up/lib/app", "imageIds": []map[string]string{{"imageTag": "v1"}}})); len(images) != 1 {
		t.Fatalf("the owner's first pull: %v", images)
	}
	a.ok("SetRepositoryPolicy", map[string]any{"repositoryName": "up/lib/app", "policyText": `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"ecr:BatchGetImage"}}`})
	if images := get(pull("v1")); len(images) != 1 {
		t.Fatal("another account's pull of a cached image its policy allows")
	}
	before := asked.Load()
	a.fails(pull("v2"), 400, "AccessDeniedException")
	if n := asked.Load(); n != before {
		t.Fatalf("another account's pull of an image not cached: %d requests upstream", n-before)
	}
}

package ecrapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/registry"
)

// TestDownloadURLOpensItsOwnRegistryOnly: a layer's download URL opens that layer in the registry it was
// issued for, and not the blob of the same digest in the repository of the same name of another
// registry, however the request's host names that registry (an account host name opens an account's
// registry whatever the public URL is).
func TestDownloadURLOpensItsOwnRegistryOnly(t *testing.T) {
	a := newAPI(t, registry.Config{})
	a.ok("CreateRepository", map[string]any{"repositoryName": "app"})
	layer := a.pushLayer("app", []byte("layer bytes"))
	other, err := a.app.Identity.CreateAccount(context.Background(), "444455556666")
	if err != nil {
		t.Fatal(err)
	}
	a.ok("SetRepositoryPolicy", map[string]any{"repositoryName": "app", "policyText": `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":["ecr:GetDownloadUrlForLayer"]}]}`})
	// The other account has a repository app too, with the same layer.
	mine := *other
	if r := a.as(mine, "CreateRepository", map[string]any{"repositoryName": "app"}); r.status != 200 {
		t.Fatal(r.raw)
	}
	own := &api{t: t, url: a.url, app: a.app, creds: mine}
	if d := own.pushLayer("app", []byte("layer bytes")); d != layer {
		t.Fatalf("digest %s, want %s", d, layer)
	}

	r := a.as(mine, "GetDownloadUrlForLayer", map[string]any{"registryId": "000000000000", "repositoryName": "app", "layerDigest": layer})
	if r.status != 200 {
		t.Fatal(r.raw)
	}
	u := r.body["downloadUrl"].(string)
	path := u[strings.Index(u, "/v2/"):]
	get := func(host string) int {
		req, _ := http.NewRequest("GET", a.url+path, nil)
		req.Host = host
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if s := get("registry.example"); s != 200 {
		t.Fatalf("download URL where it was issued for: %d", s)
	}
	for _, host := range []string{"444455556666.registry.example", "444455556666.dkr.ecr.us-east-1.registry.example"} {
		if s := get(host); s != 401 {
			t.Errorf("download URL of 000000000000/app replayed on %s (444455556666/app): %d, want 401", host, s)
		}
	}
}

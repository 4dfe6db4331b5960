package ecrapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/manifest"
	"github.com/wharf-dev/wharf/internal/registry"
)

func TestSchema1AndAcceptedMediaTypes(t *testing.T) {
	a := newAPI(t, registry.Config{})
	a.ok("CreateRepository", map[string]any{"repositoryName": "app"})
	config := `{"architecture":"amd64","os":"linux","history":[{"created_by":"ADD x /"}]}`
	cfg := a.pushLayer("app", []byte(config))
	layer := a.pushLayer("app", []byte("layer bytes"))
	s2 := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"%s","size":11}]}`,
		manifest.DockerManifest, cfg, len(config), layer)
	a.ok("PutImage", map[string]any{"repositoryName": "app", "imageManifest": s2, "imageTag": "s2"})
	s2Digest := digest.FromString(s2).String()

	// Schema 1, signed and not, as old clients pushed them.
	m, _ := manifest.Parse(manifest.DockerManifest, []byte(s2))
	payload, err := manifest.ToSchema1(m, []byte(config), "app", "s1")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signed, _ := manifest.Sign(payload, key, time.Now())
	s1Digest := digest.FromBytes(payload).String()
	put := a.ok("PutImage", map[string]any{"repositoryName": "app", "imageManifest": string(signed), "imageTag": "s1",
		"imageManifestMediaType": manifest.DockerSchema1JWS, "imageDigest": s1Digest})["image"].(map[string]any)
	if put["imageId"].(map[string]any)["imageDigest"] != s1Digest || put["imageManifestMediaType"] != manifest.DockerSchema1JWS || put["imageManifest"] != string(signed) {
		t.Fatalf("PutImage of signed schema 1: %v", put)
	}
	// Unsigned, the same manifest is the same image: its digest is the payload's, signatures aside.
	a.fails(a.call("PutImage", map[string]any{"repositoryName": "app", "imageManifest": string(payload), "imageTag": "s1"}), 400, "ImageAlreadyExistsException")
	a.fails(a.call("PutImage", map[string]any{"repositoryName": "app", "imageManifest": string(signed), "imageTag": "x", "imageDigest": digest.FromBytes(signed).String()}), 400, "ImageDigestDoesNotMatchException")
	details := a.ok("DescribeImages", map[string]any{"repositoryName": "app", "imageIds": []map[string]string{{"imageTag": "s1"}}})["imageDetails"].([]any)
	if d := details[0].(map[string]any); d["imageManifestMediaType"] != manifest.DockerSchema1JWS || d["imageSizeInBytes"].(float64) != 11 {
		t.Fatalf("DescribeImages of schema 1: %v", d)
	}

	get := func(tag, dg string, accepted ...string) (map[string]any, map[string]any) {
		t.Helper()
		in := map[string]any{"repositoryName": "app", "imageIds": []map[string]string{{"imageTag": tag, "imageDigest": dg}}}
		if accepted != nil {
			in["acceptedMediaTypes"] = accepted
		}
		out := a.ok("BatchGetImage", in)
		var img, fail map[string]any
		if imgs := out["images"].([]any); len(imgs) == 1 {
			img = imgs[0].(map[string]any)
		}
		if fs := out["failures"].([]any); len(fs) == 1 {
			fail = fs[0].(map[string]any)
		}
		return img, fail
	}
	check := func(name string, img map[string]any, wantType, wantDigest string) {
		t.Helper()
		if img == nil {
			t.Fatalf("%s: no image", name)
		}
		body := []byte(img["imageManifest"].(string))
		got := img["imageId"].(map[string]any)["imageDigest"]
		if img["imageManifestMediaType"] != wantType || got != manifest.Digest(digest.SHA256, body).String() || wantDigest != "" && got != wantDigest {
			t.Fatalf("%s: %s %s, want %s %s", name, img["imageManifestMediaType"], got, wantType, wantDigest)
		}
		if _, err := manifest.Parse(wantType, body); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	img, _ := get("s2", "")
	check("schema 2, any type", img, manifest.DockerManifest, s2Digest)
	img, _ = get("s2", "", manifest.DockerSchema1)
	check("schema 2 for schema 1", img, manifest.DockerSchema1JWS, "")
	img, _ = get("s2", "", manifest.OCIManifest)
	check("schema 2 for OCI", img, manifest.OCIManifest, "")
	img, _ = get("s1", "", manifest.DockerManifest)
	check("schema 1 for schema 2 (falls back)", img, manifest.DockerSchema1JWS, s1Digest)
	img, _ = get("s1", "", manifest.DockerSchema1)
	check("schema 1 for schema 1", img, manifest.DockerSchema1JWS, s1Digest)

	// No translation: schema 1 to OCI, and anything by digest.
	for name, c := range map[string][3]string{
		"schema 1 for OCI":           {"s1", "", manifest.OCIManifest},
		"schema 2 by digest for s1":  {"", s2Digest, manifest.DockerSchema1},
		"schema 1 by digest for OCI": {"", s1Digest, manifest.OCIManifest},
	} {
		img, fail := get(c[0], c[1], c[2])
		if img != nil || fail == nil || fail["failureCode"] != "ImageNotFound" {
			t.Errorf("%s: image %v, failure %v", name, img, fail)
		}
	}
	img, _ = get("", s2Digest, manifest.DockerManifest)
	check("schema 2 by digest", img, manifest.DockerManifest, s2Digest)
}

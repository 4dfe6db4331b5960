package oci_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/manifest"
	"github.com/wharf-dev/wharf/internal/registry"
)

const imageConfig = `{"architecture":"amd64","os":"linux","config":{"Cmd":["/app"]},
	"rootfs":{"type":"layers","diff_ids":["sha256:aaaa"]},"history":[{"created_by":"ADD app /app"},{"created_by":"CMD /app","empty_layer":true}]}`

// schema1For signs a schema 1 manifest of an image given as schema 2, as an old client would push it.
func schema1For(t *testing.T, s2 []byte) (signed []byte, d digest.Digest) {
	t.Helper()
	m, err := manifest.Parse(manifest.DockerManifest, s2)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := manifest.ToSchema1(m, []byte(imageConfig), "app", "s1")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if signed, err = manifest.Sign(payload, key, time.Now()); err != nil {
		t.Fatal(err)
	}
	return signed, digest.FromBytes(payload)
}

func TestManifestFormats(t *testing.T) {
	c := newServer(t, registry.Config{})
	c.repo("app", "")
	cfg := c.pushBlob("app", []byte(imageConfig))
	layer := c.pushBlob("app", []byte("layer"))
	s2 := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"%s","size":5}]}`,
		manifest.DockerManifest, cfg, len(imageConfig), layer))
	c.expect(c.do("PUT", "/v2/app/manifests/s2", s2, "Content-Type", manifest.DockerManifest), 201, "")
	s2Digest := digest.FromBytes(s2)

	// An old client pushes a signed schema 1 manifest: stored as sent, named by its payload's digest.
	s1, s1Digest := schema1For(t, s2)
	r := c.do("PUT", "/v2/app/manifests/s1", s1, "Content-Type", manifest.DockerSchema1JWS)
	c.expect(r, 201, "")
	if r.header.Get("Docker-Content-Digest") != s1Digest.String() {
		t.Fatalf("schema 1 pushed as %s, want %s", r.header.Get("Docker-Content-Digest"), s1Digest)
	}
	// By digest too (the payload's digest, not the bytes').
	c.expect(c.do("PUT", "/v2/app/manifests/"+s1Digest.String(), s1, "Content-Type", manifest.DockerSchema1JWS), 201, "")
	c.expect(c.do("PUT", "/v2/app/manifests/"+digest.FromBytes(s1).String(), s1, "Content-Type", manifest.DockerSchema1JWS), 400, "DIGEST_INVALID")

	const docker110 = manifest.DockerManifest + ", " + manifest.DockerSchema1JWS + ", application/vnd.docker.distribution.manifest.list.v2+json"
	cases := []struct {
		name, ref, accept string // accept "-": no Accept header (Docker 1.9 and older)
		wantType          string
		wantDigest        digest.Digest // "" for a conversion: the digest of what is served
		wantBody          []byte
	}{
		{"schema 1 to Docker 1.9", "s1", "-", manifest.DockerSchema1JWS, s1Digest, s1},
		{"schema 1 to Docker 1.10", "s1", docker110, manifest.DockerSchema1JWS, s1Digest, s1},
		{"schema 1 by digest", s1Digest.String(), manifest.OCIManifest, manifest.DockerSchema1JWS, s1Digest, s1},
		{"schema 2 to Docker 1.10", "s2", docker110, manifest.DockerManifest, s2Digest, s2},
		{"schema 2 to anything", "s2", "*/*", manifest.DockerManifest, s2Digest, s2},
		{"schema 2 to Docker 1.9", "s2", "-", manifest.DockerSchema1JWS, "", nil},
		{"schema 2 to a schema 1 client", "s2", manifest.DockerSchema1, manifest.DockerSchema1JWS, "", nil},
		{"schema 2 to an OCI client", "s2", manifest.OCIManifest + ";q=1", manifest.OCIManifest, "", nil},
		{"schema 2 refused with q=0", "s2", manifest.DockerManifest + ";q=0, " + manifest.OCIManifest, manifest.OCIManifest, "", nil},
		{"schema 2 by digest to Docker 1.9", s2Digest.String(), "-", manifest.DockerManifest, s2Digest, s2},
	}
	for _, tc := range cases {
		for _, method := range []string{"GET", "HEAD"} {
			var hdr []string
			if tc.accept != "-" {
				hdr = []string{"Accept", tc.accept}
			}
			r := c.do(method, "/v2/app/manifests/"+tc.ref, nil, hdr...)
			c.expect(r, 200, "")
			got := digest.Digest(r.header.Get("Docker-Content-Digest"))
			if ct := r.header.Get("Content-Type"); ct != tc.wantType {
				t.Errorf("%s %s: Content-Type %s, want %s", method, tc.name, ct, tc.wantType)
			}
			if tc.wantDigest != "" && got != tc.wantDigest {
				t.Errorf("%s %s: Docker-Content-Digest %s, want %s", method, tc.name, got, tc.wantDigest)
			}
			if method == "HEAD" {
				continue
			}
			if tc.wantBody != nil && string(r.body) != string(tc.wantBody) {
				t.Errorf("%s: body differs from what was pushed", tc.name)
			}
			// What a client verifies: the digest answered is the served manifest's.
			if manifest.Digest(digest.SHA256, r.body) != got || r.header.Get("Content-Length") != strconv.Itoa(len(r.body)) {
				t.Errorf("%s: Docker-Content-Digest %s does not name the manifest served", tc.name, got)
			}
			if _, err := manifest.Parse(tc.wantType, r.body); err != nil {
				t.Errorf("%s: served manifest invalid: %v", tc.name, err)
			}
		}
	}
	// HEAD answers the digest GET serves, converted or not.
	h := c.do("HEAD", "/v2/app/manifests/s2", nil)
	g := c.do("GET", "/v2/app/manifests/s2", nil)
	if h.header.Get("Docker-Content-Digest") != g.header.Get("Docker-Content-Digest") || g.header.Get("Docker-Content-Digest") == s2Digest.String() {
		t.Errorf("HEAD %s, GET %s", h.header.Get("Docker-Content-Digest"), g.header.Get("Docker-Content-Digest"))
	}
	// A schema 1 manifest whose layer the repository lacks is refused, as for schema 2.
	c.repo("other", "")
	c.expect(c.do("PUT", "/v2/other/manifests/s1", s1, "Content-Type", manifest.DockerSchema1JWS), 400, "MANIFEST_BLOB_UNKNOWN")
}

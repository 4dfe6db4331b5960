package registry_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/manifest"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store"
)

const formatsConfig = `{"architecture":"amd64","os":"linux","config":{"Cmd":["/app"]},
	"rootfs":{"type":"layers","diff_ids":["sha256:aaaa","sha256:bbbb"]},
	"history":[{"created_by":"ADD rootfs.tar /"},{"created_by":"ENV A=1","empty_layer":true},{"created_by":"COPY app /app"}]}`

// pushFormats pushes one image (a config and two layers) as Docker schema 2 (tag s2), OCI (tag oci) and
// signed schema 1 (tag s1), and returns the digests of the three manifests.
func pushFormats(t *testing.T, e *env) (s2, oci, s1 digest.Digest, layers []digest.Digest) {
	t.Helper()
	ctx := context.Background()
	cfg := e.blob(t, "app", formatsConfig)
	layers = []digest.Digest{e.blob(t, "app", "layer one"), e.blob(t, "app", "layer two")}
	body := func(mt, cfgType, layerType string) []byte {
		return []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":"%s","size":%d},"layers":[{"mediaType":%q,"digest":"%s","size":%d},{"mediaType":%q,"digest":"%s","size":%d}]}`,
			mt, cfgType, cfg, len(formatsConfig), layerType, layers[0], sizeOf(layers[0]), layerType, layers[1], sizeOf(layers[1])))
	}
	put := func(tag, ct string, b []byte) digest.Digest {
		res, err := e.svc.PutManifest(ctx, reg, "app", tag, ct, b)
		if err != nil {
			t.Fatalf("push %s: %v", tag, err)
		}
		return res.Digest
	}
	docker := body(manifest.DockerManifest, "application/vnd.docker.container.image.v1+json", "application/vnd.docker.image.rootfs.diff.tar.gzip")
	s2 = put("s2", manifest.DockerManifest, docker)
	oci = put("oci", manifest.OCIManifest, body(manifest.OCIManifest, "application/vnd.oci.image.config.v1+json", "application/vnd.oci.image.layer.v1.tar+gzip"))
	m, _ := manifest.Parse(manifest.DockerManifest, docker)
	payload, err := manifest.ToSchema1(m, []byte(formatsConfig), "old/name", "old")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signed, err := manifest.Sign(payload, key, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s1 = put("s1", manifest.DockerSchema1JWS, signed)
	if s1 != digest.FromBytes(payload) {
		t.Fatalf("schema 1 pushed as %s, want the payload's digest %s", s1, digest.FromBytes(payload))
	}
	return s2, oci, s1, layers
}

// The guide's table, through the core: a pull by tag from a client that understands one format.
func TestPullByTagConverts(t *testing.T) {
	e := newEnv(t, registry.Config{})
	e.repo(t, "app", "MUTABLE")
	ctx := context.Background()
	s2, oci, s1, _ := pushFormats(t, e)
	stored := map[string]digest.Digest{"s1": s1, "s2": s2, "oci": oci}
	storedType := map[string]string{"s1": manifest.DockerSchema1JWS, "s2": manifest.DockerManifest, "oci": manifest.OCIManifest}

	cases := []struct {
		accept, tag, want string // want: the media type served; "" for the stored manifest
	}{
		{manifest.DockerSchema1, "s1", ""},
		{manifest.DockerSchema1, "s2", manifest.DockerSchema1JWS},
		{manifest.DockerSchema1, "oci", manifest.DockerSchema1JWS},
		{manifest.DockerManifest, "s1", ""}, // no translation: the client falls back to schema 1
		{manifest.DockerManifest, "s2", ""},
		{manifest.DockerManifest, "oci", manifest.DockerManifest},
		{manifest.OCIManifest, "s1", ""}, // no translation available
		{manifest.OCIManifest, "s2", manifest.OCIManifest},
		{manifest.OCIManifest, "oci", ""},
	}
	for _, c := range cases {
		name := c.accept + " of " + c.tag
		got, err := e.svc.GetManifestAs(ctx, reg, "app", c.tag, []string{c.accept}, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.want == "" {
			if got.Digest != stored[c.tag] || got.MediaType != storedType[c.tag] || got.Image != "" {
				t.Errorf("%s: got %s %s, want the stored manifest", name, got.MediaType, got.Digest)
			}
			if got.Unacceptable != (c.accept == manifest.OCIManifest && c.tag == "s1") {
				t.Errorf("%s: Unacceptable = %v", name, got.Unacceptable)
			}
			continue
		}
		// Converted: the digest answered is the served manifest's (its payload's when signed).
		if got.MediaType != c.want || got.Image != stored[c.tag] || got.Digest != manifest.Digest(digest.SHA256, got.Content) {
			t.Errorf("%s: got %s %s (image %s)", name, got.MediaType, got.Digest, got.Image)
		}
		if _, err := manifest.Parse(got.MediaType, got.Content); err != nil {
			t.Errorf("%s: the converted manifest is not valid: %v\n%s", name, err, got.Content)
		}
		// There is no conversion by digest: the converted digest names nothing stored.
		if _, err := e.svc.GetManifestAs(ctx, reg, "app", got.Digest.String(), []string{c.accept}, nil); registry.KindOf(err) != registry.KindManifestUnknown {
			t.Errorf("%s: pull of the converted digest: %v", name, err)
		}
	}

	// A conversion is deterministic: signed again, the payload and so the digest stay the same.
	conv, _ := e.svc.GetManifestAs(ctx, reg, "app", "s2", []string{manifest.DockerSchema1}, nil)
	again, _ := e.svc.GetManifestAs(ctx, reg, "app", "s2", []string{manifest.DockerSchema1}, nil)
	if conv.Digest != again.Digest {
		t.Error("two conversions of one image have different digests")
	}
	m, _ := manifest.Parse(conv.MediaType, conv.Content)
	if len(m.Layers) != 2 {
		t.Errorf("schema 1 conversion has %d layers", len(m.Layers))
	}

	// By digest, whatever the client accepts, the stored manifest.
	for tag, d := range stored {
		got, err := e.svc.GetManifestAs(ctx, reg, "app", d.String(), []string{manifest.DockerSchema1}, nil)
		if err != nil || got.Digest != d {
			t.Errorf("by digest %s: %v %v", tag, got, err)
		}
	}
	// A client that accepts anything gets what is stored.
	for tag, d := range stored {
		if got, _ := e.svc.GetManifestAs(ctx, reg, "app", tag, nil, nil); got.Digest != d {
			t.Errorf("%s for any format: %s", tag, got.Digest)
		}
	}
}

func TestSchema1Push(t *testing.T) {
	e := newEnv(t, registry.Config{})
	e.repo(t, "app", "MUTABLE")
	ctx := context.Background()
	_, _, s1, layers := pushFormats(t, e)
	img, err := e.svc.FindImage(ctx, reg, "app", registry.ImageRef{Tag: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	// The size is the layers', as stored: a schema 1 manifest does not give it.
	if want := int64(sizeOf(layers[0]) + sizeOf(layers[1])); img.Digest != s1 || img.MediaType != manifest.DockerSchema1JWS || img.Size != want {
		t.Fatalf("image %s %s size %d, want size %d", img.Digest, img.MediaType, img.Size, want)
	}
	info, _ := e.svc.GetManifest(ctx, reg, "app", "s1", nil)
	// PutImage names the image by the payload's digest too; the digest of the whole bytes is refused.
	_, err = e.svc.PutImage(ctx, reg, "app", registry.ImageRef{Tag: "copy", Digest: digest.FromBytes(info.Content)}, manifest.DockerSchema1JWS, info.Content)
	wantKind(t, err, registry.KindManifestDigestMismatch)
	if _, err := e.svc.PutImage(ctx, reg, "app", registry.ImageRef{Tag: "copy", Digest: s1}, "", info.Content); err != nil {
		t.Fatalf("PutImage by the payload's digest, without a media type: %v", err)
	}
	// Its layers must be in the repository, as for schema 2.
	e.repo(t, "other", "MUTABLE")
	_, err = e.svc.PutManifest(ctx, reg, "other", "v1", manifest.DockerSchema1JWS, info.Content)
	wantKind(t, err, registry.KindManifestBlobUnknown)
}

// Scanning reads images by their config and layers; a schema 1 image has no config and gives no layer
// sizes, so it is UNSUPPORTED_IMAGE, as an index is.
func TestSchema1IsNotScanned(t *testing.T) {
	e, sc := newScanEnv(t)
	if _, err := e.svc.CreateRepository(ctx, store.Repository{RegistryID: reg, Name: "app", ScanOnPush: true}); err != nil {
		t.Fatal(err)
	}
	_, _, s1, _ := pushFormats(t, e)
	if got := e.scanStatus(t, "app", s1); got != registry.ScanUnsupportedImage {
		t.Fatalf("schema 1 pushed: %s", got)
	}
	_, _, err := e.svc.StartImageScan(ctx, reg, "app", registry.ImageRef{Tag: "s1"})
	wantKind(t, err, registry.KindUnsupported)
	e.runScans(t)
	if got := e.scanStatus(t, "app", s1); got != registry.ScanUnsupportedImage {
		t.Fatalf("schema 1 after the scans ran: %s", got)
	}
	// The schema 2 and OCI images pushed with it were scanned.
	if sc.count() != 2 {
		t.Fatalf("%d scans, want the schema 2 and OCI images'", sc.count())
	}
}

// An index pulled by tag by a client that understands no index stands for its linux/amd64 image, as
// Distribution serves Docker 1.9; a client of either kind of index gets the index.
func TestPullIndexByTagForImageClients(t *testing.T) {
	e := newEnv(t, registry.Config{})
	e.repo(t, "app", "MUTABLE")
	s2, oci, _, _ := pushFormats(t, e)
	ctx := context.Background()
	s2Info, _ := e.svc.GetManifest(ctx, reg, "app", s2.String(), nil)
	ociInfo, _ := e.svc.GetManifest(ctx, reg, "app", oci.String(), nil)
	list := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"manifests":[
		{"mediaType":%q,"digest":"%s","size":%d,"platform":{"architecture":"arm64","os":"linux"}},
		{"mediaType":%q,"digest":"%s","size":%d,"platform":{"architecture":"amd64","os":"linux"}}]}`,
		manifest.OCIIndex, manifest.OCIManifest, oci, len(ociInfo.Content), manifest.DockerManifest, s2, len(s2Info.Content))
	res, err := e.svc.PutManifest(ctx, reg, "app", "multi", manifest.OCIIndex, []byte(list))
	if err != nil {
		t.Fatal(err)
	}
	for accept, want := range map[string]string{
		manifest.DockerList:     manifest.OCIIndex, // the index as stored
		manifest.OCIIndex:       manifest.OCIIndex,
		manifest.DockerManifest: manifest.DockerManifest, // the amd64 image as stored
		manifest.OCIManifest:    manifest.OCIManifest,    // the amd64 image, converted
		manifest.DockerSchema1:  manifest.DockerSchema1JWS,
	} {
		got, err := e.svc.GetManifestAs(ctx, reg, "app", "multi", []string{accept}, nil)
		if err != nil || got.MediaType != want || got.Unacceptable {
			t.Fatalf("%s: %+v %v", accept, got, err)
		}
		switch {
		case want == manifest.OCIIndex && got.Digest != res.Digest,
			want == manifest.DockerManifest && got.Digest != s2,
			want != manifest.OCIIndex && want != manifest.DockerManifest && got.Image != s2:
			t.Errorf("%s: served %s (image %s)", accept, got.Digest, got.Image)
		}
	}
}

package manifest

import (
	"errors"
	"strings"
	"testing"
)

const (
	cfgDigest   = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
	layerDigest = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b"
)

func TestParseImage(t *testing.T) {
	body := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
		"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + cfgDigest + `","size":2},
		"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"` + layerDigest + `","size":10},
		          {"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip","digest":"` + layerDigest + `","size":5,"urls":["https://example.com/l"]}],
		"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + cfgDigest + `","size":3},
		"x-custom":{"kept":true}}`
	m, err := Parse(OCIManifest, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != Image || m.ArtifactType != "application/vnd.oci.image.config.v1+json" || m.Subject == nil {
		t.Fatalf("parsed %+v", m)
	}
	if b := m.Blobs(); len(b) != 2 || b[0].Digest != cfgDigest || b[1].Digest != layerDigest {
		t.Fatalf("Blobs = %v; the non-distributable layer must not be required", b)
	}
	if m.Size(len(body)) != 17 {
		t.Fatalf("Size = %d, want config+layers = 17", m.Size(len(body)))
	}
}

func TestParseIndexAndDetection(t *testing.T) {
	body := `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + cfgDigest + `","size":7,"platform":{"architecture":"amd64","os":"linux"}}]}`
	for _, ct := range []string{OCIIndex, "application/json"} {
		m, err := Parse(ct, []byte(body))
		if err != nil || m.Kind != Index || m.MediaType != OCIIndex || len(m.Manifests) != 1 {
			t.Fatalf("Content-Type %q: %+v, %v", ct, m, err)
		}
	}
	// With no type from the request nor in the manifest, nothing is guessed (as ECR's PutImage).
	if _, err := Parse("", []byte(body)); !errors.Is(err, ErrSyntax) {
		t.Fatalf("a manifest of no type given none: %v", err)
	}
	if _, err := Parse("", []byte(`{"schemaVersion":2,"mediaType":"`+OCIIndex+`","manifests":[]}`)); err != nil {
		t.Fatalf("a manifest that says its type, given none: %v", err)
	}
}

func TestParseDataField(t *testing.T) {
	// "{}" is e30= in base64; its sha256 is cfgDigest.
	good := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"` + cfgDigest + `","size":2,"data":"e30="},"layers":[]}`
	if _, err := Parse(OCIManifest, []byte(good)); err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(good, `"data":"e30="`, `"data":"e3x="`, 1)
	if _, err := Parse(OCIManifest, []byte(bad)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("mismatched data accepted: %v", err)
	}
}

func TestParseRejects(t *testing.T) {
	cases := map[string]struct{ ct, body string }{
		"not json":              {OCIManifest, `not json`},
		"array":                 {OCIManifest, `[1,2]`},
		"trailing":              {OCIManifest, `{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"` + cfgDigest + `","size":1}} {}`},
		"no schemaVersion":      {OCIManifest, `{"mediaType":"application/vnd.oci.image.manifest.v1+json"}`},
		"schemaVersion 3":       {OCIManifest, `{"schemaVersion":3}`},
		"no config":             {OCIManifest, `{"schemaVersion":2,"layers":[]}`},
		"type mismatch":         {OCIIndex, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"a/b","digest":"` + cfgDigest + `","size":1}}`},
		"bad digest":            {OCIManifest, `{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"sha256:xyz","size":1}}`},
		"traversal digest":      {OCIManifest, `{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"sha256:../../../etc/passwd","size":1}}`},
		"negative size":         {OCIManifest, `{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"` + cfgDigest + `","size":-1}}`},
		"layer without type":    {OCIManifest, `{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"` + cfgDigest + `","size":1},"layers":[{"digest":"` + cfgDigest + `","size":1}]}`},
		"index with layers":     {OCIIndex, `{"schemaVersion":2,"manifests":[],"layers":[]}`},
		"wrong field type":      {OCIManifest, `{"schemaVersion":"2"}`},
		"bad artifactType":      {OCIManifest, `{"schemaVersion":2,"artifactType":"not a type","config":{"mediaType":"a/b","digest":"` + cfgDigest + `","size":1}}`},
		"unknown manifest type": {"", `{"schemaVersion":2,"mediaType":"application/vnd.example+json"}`},
	}
	for name, c := range cases {
		if _, err := Parse(c.ct, []byte(c.body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := Parse(DockerSchema1JWS, []byte(`{"schemaVersion":1}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty schema 1: %v, want ErrInvalid", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(OCIManifest, []byte(`{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"`+cfgDigest+`","size":1},"layers":[{"mediaType":"a/b","digest":"`+layerDigest+`","size":3,"urls":["x"]}]}`))
	f.Add(OCIIndex, []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"a/b","digest":"`+cfgDigest+`","size":1}],"subject":{"mediaType":"a/b","digest":"`+cfgDigest+`","size":1}}`))
	f.Add(DockerManifest, []byte(`{"schemaVersion":2,"mediaType":"`+DockerManifest+`","config":{"mediaType":"a/b","digest":"`+cfgDigest+`","size":2,"data":"e30="}}`))
	f.Add("", []byte(`{"schemaVersion":1}`))
	f.Add(DockerSchema1, []byte(`{"schemaVersion":1,"name":"a","fsLayers":[{"blobSum":"`+layerDigest+`"}],"history":[{"v1Compatibility":"{\"id\":\"`+strings.Repeat("a", 64)+`\"}"}]}`))
	f.Add(DockerSchema1JWS, []byte(`{"schemaVersion":1,"name":"a","signatures":[{"header":{"jwk":{"kty":"EC","crv":"P-256","x":"AA","y":"AA"},"alg":"ES256"},"signature":"AA","protected":"eyJmb3JtYXRMZW5ndGgiOjE0LCJmb3JtYXRUYWlsIjoiZlEifQ"}]}`))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		Payload(body) // never panics, whatever the body
		m, err := Parse(ct, body)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error of unknown kind: %v", err)
			}
			return
		}
		if !IsManifestType(m.MediaType) {
			t.Fatalf("accepted media type %q", m.MediaType)
		}
		schema1 := IsSchema1(m.MediaType) // gives no sizes and no config
		for _, d := range append(m.Blobs(), m.Manifests...) {
			if d.Digest.Validate() != nil || d.Size < 0 && !schema1 {
				t.Fatalf("accepted invalid descriptor %+v", d)
			}
		}
		if m.Kind == Image && m.Config == nil && !schema1 {
			t.Fatal("image without config accepted")
		}
	})
}

// TestParseRejectsAmbiguousManifests: the bytes are stored as sent and read by every client; a manifest
// a case-sensitive or first-wins parser reads otherwise than Wharf is refused. Before, an index with
// "manifests" and "Manifests" was checked on one list and served with the other.
func TestParseRejectsAmbiguousManifests(t *testing.T) {
	child := `{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"` + cfgDigest + `","size":99999}`
	layer := `{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` + layerDigest + `","size":1}`
	config := `"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + cfgDigest + `","size":2}`
	for _, body := range []string{
		`{"schemaVersion":2,"mediaType":"` + OCIIndex + `","manifests":[` + child + `],"Manifests":[]}`,
		`{"schemaVersion":2,"mediaType":"` + OCIIndex + `","manifests":[` + child + `],"manifests":[]}`,
		`{"schemaVersion":2,"mediaType":"` + OCIIndex + `","manifests":[` + child + `],"manifeſts":[]}`,
		`{"schemaVersion":2,"mediaType":"` + OCIManifest + `",` + config + `,"layers":[` + layer + `],"Layers":[]}`,
		`{"schemaVersion":2,"mediaType":"` + OCIManifest + `",` + config + `,"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` + layerDigest + `","size":1,"Size":5}]}`,
		`{"schemaVersion":2,"mediaType":"` + OCIManifest + `",` + config + `,"layers":[],"annotations":{"a":"1","a":"2"}}`,
	} {
		if _, err := Parse("", []byte(body)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", body, err)
		}
	}
}

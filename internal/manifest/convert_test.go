package manifest

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The guide's conversion table: for each format a client asks for and each stored format, what it gets.
func TestConversionTable(t *testing.T) {
	const (
		stored = "as stored"
		none   = "none"
	)
	// What a client that understands only `requested` gets for an image stored as each format.
	table := map[string]map[string]string{
		DockerSchema1:  {DockerSchema1JWS: stored, DockerManifest: DockerSchema1JWS, OCIManifest: DockerSchema1JWS},
		DockerManifest: {DockerSchema1JWS: none, DockerManifest: stored, OCIManifest: DockerManifest},
		OCIManifest:    {DockerSchema1JWS: none, DockerManifest: OCIManifest, OCIManifest: stored},
	}
	for requested, row := range table {
		for from, want := range row {
			got := none
			if Accepts([]string{requested}, from) {
				got = stored
			} else {
				for _, to := range Targets(from) {
					if Accepts([]string{requested}, to) {
						got = to
						break
					}
				}
			}
			if got != want {
				t.Errorf("client of %s, image stored as %s: got %s, want %s", requested, from, got, want)
			}
		}
	}
	// A client that takes both keeps the closer format: OCI ↔ schema 2 before schema 1.
	if got := Targets(OCIManifest)[0]; got != DockerManifest {
		t.Errorf("OCI converts to %s first", got)
	}
	if !Accepts([]string{"*/*"}, OCIManifest) || !Accepts([]string{"application/*"}, DockerSchema1JWS) || Accepts([]string{"text/*"}, OCIManifest) {
		t.Error("wildcards")
	}
}

const (
	golden2 = `{
   "schemaVersion": 2,
   "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
   "config": {
      "mediaType": "application/vnd.docker.container.image.v1+json",
      "size": 321,
      "digest": "` + config + `"
   },
   "layers": [
      {
         "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
         "size": 100,
         "digest": "` + layer1 + `"
      },
      {
         "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
         "size": 200,
         "digest": "` + layer2 + `"
      }
   ]
}`
	goldenOCI = `{
   "schemaVersion": 2,
   "mediaType": "application/vnd.oci.image.manifest.v1+json",
   "config": {
      "mediaType": "application/vnd.oci.image.config.v1+json",
      "size": 321,
      "digest": "` + config + `"
   },
   "layers": [
      {
         "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
         "size": 100,
         "digest": "` + layer1 + `"
      },
      {
         "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
         "size": 200,
         "digest": "` + layer2 + `"
      }
   ]
}`
)

func TestConvertSchema2AndOCI(t *testing.T) {
	oci, err := ConvertSchema2(schema2(DockerManifest, dockerConfig, dockerLayer), OCIManifest)
	if err != nil || string(oci) != goldenOCI {
		t.Fatalf("schema 2 → OCI (%v):\n%s", err, oci)
	}
	docker, err := ConvertSchema2(schema2(OCIManifest, ociConfig, ociLayerGzip), DockerManifest)
	if err != nil || string(docker) != golden2 {
		t.Fatalf("OCI → schema 2 (%v):\n%s", err, docker)
	}
	// Both ways: the converted manifests are valid and convert back to the same bytes.
	m, err := Parse(OCIManifest, oci)
	if err != nil {
		t.Fatal(err)
	}
	if back, _ := ConvertSchema2(m, DockerManifest); string(back) != golden2 {
		t.Fatalf("round trip:\n%s", back)
	}

	noConv := map[string]*Manifest{
		"zstd layer":             schema2(OCIManifest, ociConfig, "application/vnd.oci.image.layer.v1.tar+zstd"),
		"artifact config":        schema2(OCIManifest, "application/vnd.cncf.helm.config.v1+json", ociLayerGzip),
		"uncompressed to docker": schema2(OCIManifest, ociConfig, ociLayerTar),
	}
	withSubject := schema2(OCIManifest, ociConfig, ociLayerGzip)
	withSubject.Subject = withSubject.Config
	noConv["referrer"] = withSubject
	for name, m := range noConv {
		if _, err := ConvertSchema2(m, DockerManifest); !errors.Is(err, ErrNoConversion) {
			t.Errorf("%s: %v, want ErrNoConversion", name, err)
		}
	}
}

func TestToSchema1(t *testing.T) {
	for _, m := range []*Manifest{schema2(DockerManifest, dockerConfig, dockerLayer), schema2(OCIManifest, ociConfig, ociLayerGzip)} {
		payload, err := ToSchema1(m, []byte(imageConfigJSON), "team/app", "v1")
		if err != nil {
			t.Fatal(err)
		}
		s1, err := Parse(DockerSchema1, payload) // checks the v1 id chain too
		if err != nil {
			t.Fatalf("%s → schema 1 is not valid: %v\n%s", m.MediaType, err, payload)
		}
		if !slices.Equal(digests(s1.Layers), digests(m.Layers)) {
			t.Fatalf("layers %v, want %v", digests(s1.Layers), digests(m.Layers))
		}
		var doc schema1
		json.Unmarshal(payload, &doc)
		if doc.Name != "team/app" || doc.Tag != "v1" || doc.Architecture != "arm64" {
			t.Fatalf("%+v", doc)
		}
		// The newest layer carries the image's configuration; the others their history entry.
		var top, base map[string]any
		json.Unmarshal([]byte(doc.History[0].V1Compatibility), &top)
		json.Unmarshal([]byte(doc.History[1].V1Compatibility), &base)
		if top["os"] != "linux" || top["config"] == nil || top["history"] != nil || top["rootfs"] != nil {
			t.Errorf("top v1Compatibility %v", top)
		}
		if cc, _ := base["container_config"].(map[string]any); cc == nil || cc["Cmd"].([]any)[0] != "ADD rootfs.tar /" {
			t.Errorf("base v1Compatibility %v", base)
		}
		// The same image converts to the same bytes: its digest is stable.
		again, _ := ToSchema1(m, []byte(imageConfigJSON), "team/app", "v1")
		if string(again) != string(payload) {
			t.Error("conversion is not deterministic")
		}
	}
	m := schema2(DockerManifest, dockerConfig, dockerLayer)
	// Without history (some builders write none), each layer gets a bare entry.
	if _, err := ToSchema1(m, []byte(`{"architecture":"amd64","os":"linux"}`), "a", "b"); err != nil {
		t.Errorf("config without history: %v", err)
	}
	bad := map[string]string{
		"history of other layers": strings.Replace(imageConfigJSON, `,"empty_layer":true}]}`, `}]}`, 1),
		"config not JSON":         "{",
	}
	for name, cfg := range bad {
		if _, err := ToSchema1(m, []byte(cfg), "a", "b"); !errors.Is(err, ErrNoConversion) {
			t.Errorf("%s: %v, want ErrNoConversion", name, err)
		}
	}
	if _, err := ToSchema1(schema2(OCIManifest, "application/vnd.cncf.helm.config.v1+json", ociLayerGzip), []byte("{}"), "a", "b"); !errors.Is(err, ErrNoConversion) {
		t.Errorf("artifact to schema 1: %v", err)
	}
}

func digests(ds []ocispec.Descriptor) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Digest.String())
	}
	return out
}

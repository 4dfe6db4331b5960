package manifest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

const (
	layer1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	layer2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	config = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
)

// An image configuration as Docker writes it: two layers, and two history entries that made none.
const imageConfigJSON = `{"architecture":"arm64","os":"linux","created":"2026-01-02T03:04:05Z",
	"config":{"Env":["PATH=/bin"],"Cmd":["/app"]},
	"rootfs":{"type":"layers","diff_ids":["sha256:aaaa","sha256:bbbb"]},
	"history":[{"created":"2026-01-01T00:00:00Z","created_by":"ADD rootfs.tar /"},
	           {"created":"2026-01-01T00:00:01Z","created_by":"ENV PATH=/bin","empty_layer":true},
	           {"created":"2026-01-02T03:04:05Z","created_by":"COPY app /app","comment":"buildkit"},
	           {"created":"2026-01-02T03:04:05Z","created_by":"CMD [\"/app\"]","empty_layer":true}]}`

func schema2(mt, cfgType, layerType string) *Manifest {
	body := `{"schemaVersion":2,"mediaType":"` + mt + `",
		"config":{"mediaType":"` + cfgType + `","digest":"` + config + `","size":321},
		"layers":[{"mediaType":"` + layerType + `","digest":"` + layer1 + `","size":100},
		          {"mediaType":"` + layerType + `","digest":"` + layer2 + `","size":200}]}`
	m, err := Parse(mt, []byte(body))
	if err != nil {
		panic(err)
	}
	return m
}

func testKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// signedSchema1 converts the test image to schema 1 and signs it.
func signedSchema1(t *testing.T) (payload, signed []byte) {
	t.Helper()
	payload, err := ToSchema1(schema2(DockerManifest, dockerConfig, dockerLayer), []byte(imageConfigJSON), "team/app", "v1")
	if err != nil {
		t.Fatal(err)
	}
	signed, err = Sign(payload, testKey(t), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return payload, signed
}

func TestSchema1SignedRoundTrip(t *testing.T) {
	payload, signed := signedSchema1(t)
	t.Logf("%s", signed)
	for _, ct := range []string{DockerSchema1JWS, DockerSchema1, "application/json", ""} {
		m, err := Parse(ct, signed)
		if err != nil {
			t.Fatalf("Content-Type %q: %v\n%s", ct, err, signed)
		}
		if m.MediaType != DockerSchema1JWS || m.Kind != Image || m.Config != nil {
			t.Fatalf("Content-Type %q: parsed %+v", ct, m)
		}
		// Oldest first, as schema 2 lists them; sizes are unknown.
		if len(m.Layers) != 2 || m.Layers[0].Digest != layer1 || m.Layers[1].Digest != layer2 || m.Layers[0].Size != -1 {
			t.Fatalf("layers %+v", m.Layers)
		}
		if b := m.Blobs(); len(b) != 2 {
			t.Fatalf("Blobs = %v", b)
		}
	}
	// The digest is the payload's, which signing again with another key does not change.
	if !bytes.Equal(Payload(signed), payload) {
		t.Fatalf("Payload differs from what was signed:\n%s\n---\n%s", Payload(signed), payload)
	}
	if Digest(digest.SHA256, signed) != digest.FromBytes(payload) {
		t.Fatal("the digest of a signed manifest is not its payload's")
	}
	again, _ := Sign(payload, testKey(t), time.Now())
	if bytes.Equal(again, signed) || Digest(digest.SHA256, again) != Digest(digest.SHA256, signed) {
		t.Fatal("signing again must change the bytes, not the digest")
	}
	// Unsigned, the manifest is its own payload.
	m, err := Parse(DockerSchema1, payload)
	if err != nil || m.MediaType != DockerSchema1 {
		t.Fatalf("unsigned: %+v, %v", m, err)
	}
	if Digest(digest.SHA256, payload) != digest.FromBytes(payload) {
		t.Fatal("unsigned digest")
	}
	if _, err := Parse(DockerSchema1JWS, payload); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an unsigned manifest sent as signed: %v", err)
	}
}

func TestSchema1SignatureTampering(t *testing.T) {
	_, signed := signedSchema1(t)
	var doc map[string]json.RawMessage
	json.Unmarshal(signed, &doc)
	sigs := string(doc["signatures"])
	cases := map[string][]byte{
		// A signed byte changed: another architecture.
		"payload changed":   bytes.Replace(signed, []byte(`"architecture": "arm64"`), []byte(`"architecture": "amd64"`), 1),
		"signature changed": bytes.Replace(signed, []byte(`"signature": "`), []byte(`"signature": "AAAA`), 1),
		"no signatures":     bytes.Replace(signed, []byte(sigs), []byte("[]"), 1),
	}
	// A member outside the signed bytes, which parsers would read: between the signatures and the tail.
	i := bytes.LastIndex(signed, []byte("\n}"))
	cases["member after signatures"] = append(append(append([]byte{}, signed[:i]...), []byte(`, "tag": "evil"`)...), signed[i:]...)
	for name, body := range cases {
		if bytes.Equal(body, signed) {
			t.Fatalf("%s: the test changed nothing", name)
		}
		if _, err := Parse(DockerSchema1JWS, body); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want refused", name, err)
		}
	}
}

func TestSchema1Checks(t *testing.T) {
	const id1 = "1111111111111111111111111111111111111111111111111111111111111111"
	const id2 = "2222222222222222222222222222222222222222222222222222222222222222"
	manifest := func(fs []string, ids [][2]string) string {
		var f, h []string
		for _, d := range fs {
			f = append(f, `{"blobSum":"`+d+`"}`)
		}
		for _, p := range ids {
			c, _ := json.Marshal(map[string]string{"id": p[0], "parent": p[1]})
			q, _ := json.Marshal(string(c))
			h = append(h, `{"v1Compatibility":`+string(q)+`}`)
		}
		return `{"schemaVersion":1,"name":"app","tag":"v1","architecture":"amd64","fsLayers":[` + strings.Join(f, ",") + `],"history":[` + strings.Join(h, ",") + `]}`
	}
	good := manifest([]string{layer2, layer1}, [][2]string{{id2, id1}, {id1, ""}})
	if _, err := Parse(DockerSchema1, []byte(good)); err != nil {
		t.Fatalf("good: %v", err)
	}
	// Docker 1.x pushed the same layer twice in a row for empty layers; that stays valid.
	if _, err := Parse(DockerSchema1, []byte(manifest([]string{layer2, layer2, layer1}, [][2]string{{id2, id1}, {id2, id1}, {id1, ""}}))); err != nil {
		t.Fatalf("repeated layer: %v", err)
	}
	bad := map[string]string{
		"history shorter":   manifest([]string{layer2, layer1}, [][2]string{{id2, id1}}),
		"no layers":         manifest(nil, nil),
		"broken chain":      manifest([]string{layer2, layer1}, [][2]string{{id2, id2}, {id1, ""}}),
		"base with parent":  manifest([]string{layer1}, [][2]string{{id1, id2}}),
		"bad id":            manifest([]string{layer1}, [][2]string{{"xyz", ""}}),
		"bad blobSum":       manifest([]string{"sha256:short"}, [][2]string{{id1, ""}}),
		"no name":           strings.Replace(good, `"name":"app",`, "", 1),
		"member twice":      strings.Replace(good, `"name":"app",`, `"name":"app","name":"other",`, 1),
		"v1Compat not json": strings.Replace(good, `{\"id\"`, `{id`, 1),
	}
	for name, body := range bad {
		if _, err := Parse(DockerSchema1, []byte(body)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	// A schema 1 manifest under a schema 2 type, or a schema 2 manifest under a schema 1 type.
	if _, err := Parse(DockerManifest, []byte(good)); !errors.Is(err, ErrInvalid) {
		t.Errorf("schema 1 as schema 2: %v", err)
	}
	if _, err := Parse(DockerSchema1, []byte(`{"schemaVersion":2,"mediaType":"`+DockerManifest+`"}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("schema 2 as schema 1: %v", err)
	}
	if _, err := Parse("", []byte(`{"schemaVersion":2,"mediaType":"`+DockerSchema1JWS+`"}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("schema 2 saying it is schema 1: %v", err)
	}
}

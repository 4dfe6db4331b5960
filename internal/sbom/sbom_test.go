package sbom

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/inventory"
)

var testImage = Image{Repository: "team/app", Digest: digest.FromString("manifest"), Created: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}

func testInventory() inventory.Inventory {
	return inventory.Inventory{
		OS: inventory.OS{ID: "debian", VersionID: "12", PrettyName: "Debian GNU/Linux 12 (bookworm)"},
		Packages: []inventory.Package{
			{Name: "libssl3", Version: "3.0.11-1~deb12u2", SourceName: "openssl", Ecosystem: "Debian:12", Arch: "amd64",
				PURL: "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12", Path: "var/lib/dpkg/status"},
			{Name: "bash", Version: "5.2.15-2+b2", Ecosystem: "Debian:12", PURL: "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12"},
			{Name: "bash", Version: "5.2.15-2+b2", Ecosystem: "Debian:12", PURL: "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12"},
			{Name: "golang.org/x/net", Version: "v0.17.0", Ecosystem: "Go", PURL: "pkg:golang/golang.org/x/net@v0.17.0", Path: "usr/bin/app"},
			{Name: "golang.org/x/net", Version: "v0.17.0", Ecosystem: "Go", PURL: "pkg:golang/golang.org/x/net@v0.17.0", Path: "usr/bin/other"},
			{Version: "1.0"}, // nameless: left out
		},
	}
}

// decode reads a document into generic JSON, as a consumer of it would.
func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("document is not JSON: %v\n%s", err, b)
	}
	return m
}

func str(t *testing.T, m map[string]any, key string) string {
	t.Helper()
	s, ok := m[key].(string)
	if !ok || s == "" {
		t.Fatalf("required member %q missing or empty in %v", key, m)
	}
	return s
}

func list(t *testing.T, m map[string]any, key string) []map[string]any {
	t.Helper()
	raw, ok := m[key].([]any)
	if !ok {
		t.Fatalf("member %q is not an array in %v", key, m)
	}
	out := make([]map[string]any, len(raw))
	for i, v := range raw {
		if out[i], ok = v.(map[string]any); !ok {
			t.Fatalf("%s[%d] is not an object", key, i)
		}
	}
	return out
}

var (
	spdxIDPattern   = regexp.MustCompile(`^SPDXRef-[A-Za-z0-9.\-]+$`)
	serialPattern   = regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	dateTimePattern = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`) // SPDX's created: no fraction, UTC
)

// TestSPDXRequired checks a document against SPDX 2.3's required fields and rules: the document's
// identity and creation info, each package's name, SPDXID (unique, of SPDX's characters),
// downloadLocation and filesAnalyzed false (else a verification code would be required), and relationships
// between elements the document holds.
func TestSPDXRequired(t *testing.T) {
	b, err := Encode(SPDX, testImage, testInventory())
	if err != nil {
		t.Fatal(err)
	}
	doc := decode(t, b)
	for key, want := range map[string]string{"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT", "name": "team/app@" + testImage.Digest.String()} {
		if got := str(t, doc, key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	ns := str(t, doc, "documentNamespace")
	if !strings.HasPrefix(ns, "https://") || strings.Contains(ns, "#") {
		t.Errorf("documentNamespace %q is not an absolute URI without a fragment", ns)
	}
	ci, _ := doc["creationInfo"].(map[string]any)
	if ci == nil {
		t.Fatal("creationInfo missing")
	}
	if c := str(t, ci, "created"); !dateTimePattern.MatchString(c) || c != "2026-11-29T10:00:00Z" {
		t.Errorf("created = %q", c)
	}
	if cs, _ := ci["creators"].([]any); len(cs) != 1 || cs[0] != "Tool: wharf" {
		t.Errorf("creators = %v", ci["creators"])
	}

	ids := map[string]map[string]any{"SPDXRef-DOCUMENT": doc}
	purls := map[string]bool{}
	for _, p := range list(t, doc, "packages") {
		id := str(t, p, "SPDXID")
		if !spdxIDPattern.MatchString(id) {
			t.Errorf("SPDXID %q has characters SPDX does not allow", id)
		}
		if ids[id] != nil {
			t.Errorf("SPDXID %q is not unique", id)
		}
		ids[id] = p
		str(t, p, "name")
		str(t, p, "downloadLocation")
		if fa, ok := p["filesAnalyzed"].(bool); !ok || fa {
			t.Errorf("package %s: filesAnalyzed = %v, want false", id, p["filesAnalyzed"])
		}
		if refs, ok := p["externalRefs"]; ok {
			for _, r := range list(t, map[string]any{"r": refs}, "r") {
				if str(t, r, "referenceCategory") == "PACKAGE-MANAGER" && str(t, r, "referenceType") == "purl" {
					purls[str(t, r, "referenceLocator")] = true
				}
			}
		}
	}
	img := ids["SPDXRef-Image"]
	if img == nil || img["primaryPackagePurpose"] != "CONTAINER" || img["versionInfo"] != testImage.Digest.String() {
		t.Errorf("image package = %v", img)
	}
	if os := ids["SPDXRef-OperatingSystem"]; os == nil || os["name"] != "debian" || os["versionInfo"] != "12" || os["primaryPackagePurpose"] != "OPERATING-SYSTEM" {
		t.Errorf("operating system package = %v", os)
	}
	// The image, the OS, and 4 packages: the exact duplicate of bash is one package; the module found in two
	// binaries is two.
	if len(ids) != 1+1+1+4 {
		t.Errorf("%d elements, want 7: %v", len(ids), ids)
	}
	for _, want := range []string{"pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12", "pkg:golang/golang.org/x/net@v0.17.0",
		"pkg:oci/app@sha256%3A" + testImage.Digest.Encoded()} {
		if !purls[want] {
			t.Errorf("no package has purl %s: %v", want, purls)
		}
	}
	if !bytes.Contains(b, []byte("&distro=")) {
		t.Error("a purl's & is escaped")
	}

	rels := list(t, doc, "relationships")
	describes, contains := 0, map[string]bool{}
	for _, r := range rels {
		from, typ, to := str(t, r, "spdxElementId"), str(t, r, "relationshipType"), str(t, r, "relatedSpdxElement")
		if ids[from] == nil || ids[to] == nil {
			t.Errorf("relationship %s %s %s names an element the document does not hold", from, typ, to)
		}
		switch {
		case typ == "DESCRIBES" && from == "SPDXRef-DOCUMENT" && to == "SPDXRef-Image":
			describes++
		case typ == "CONTAINS" && from == "SPDXRef-Image":
			contains[to] = true
		default:
			t.Errorf("unexpected relationship %s %s %s", from, typ, to)
		}
	}
	if describes != 1 || len(contains) != len(ids)-2 {
		t.Errorf("DESCRIBES %d, CONTAINS %d: want 1 and every package but the image", describes, len(contains))
	}
}

// TestCycloneDXRequired checks a document against CycloneDX 1.5's required members and rules: bomFormat,
// specVersion, a serialNumber of its pattern, each component's type and name, unique bom-refs, and
// dependencies that name components the document holds.
func TestCycloneDXRequired(t *testing.T) {
	b, err := Encode(CycloneDX, testImage, testInventory())
	if err != nil {
		t.Fatal(err)
	}
	doc := decode(t, b)
	if str(t, doc, "bomFormat") != "CycloneDX" || str(t, doc, "specVersion") != "1.5" {
		t.Errorf("bomFormat %v, specVersion %v", doc["bomFormat"], doc["specVersion"])
	}
	if s := str(t, doc, "serialNumber"); !serialPattern.MatchString(s) {
		t.Errorf("serialNumber %q is not a version 5 urn:uuid", s)
	}
	if v, _ := doc["version"].(json.Number); v.String() != "1" {
		t.Errorf("version = %v", doc["version"])
	}
	md, _ := doc["metadata"].(map[string]any)
	if md == nil || md["timestamp"] != "2026-11-29T10:00:00Z" {
		t.Fatalf("metadata = %v", md)
	}
	image, _ := md["component"].(map[string]any)
	if image == nil || image["type"] != "container" || image["name"] != "team/app" || image["purl"] != "pkg:oci/app@sha256%3A"+testImage.Digest.Encoded() {
		t.Errorf("metadata.component = %v", image)
	}
	refs := map[string]map[string]any{str(t, image, "bom-ref"): image}
	types := map[string]int{}
	for _, c := range list(t, doc, "components") {
		typ, name, ref := str(t, c, "type"), str(t, c, "name"), str(t, c, "bom-ref")
		if refs[ref] != nil {
			t.Errorf("bom-ref %q is not unique", ref)
		}
		refs[ref] = c
		types[typ]++
		if typ == "library" && str(t, c, "purl") == "" {
			t.Errorf("component %s has no purl", name)
		}
		if typ == "operating-system" && (name != "debian" || c["version"] != "12") {
			t.Errorf("operating system = %v", c)
		}
	}
	if types["operating-system"] != 1 || types["library"] != 4 {
		t.Errorf("components by type %v, want 1 operating-system and 4 libraries", types)
	}
	deps := list(t, doc, "dependencies")
	if len(deps) != 1 || deps[0]["ref"] != "image" {
		t.Fatalf("dependencies = %v", deps)
	}
	on, _ := deps[0]["dependsOn"].([]any)
	seen := map[any]bool{}
	for _, r := range on {
		if refs[r.(string)] == nil || seen[r] {
			t.Errorf("dependsOn %v: unknown or repeated", r)
		}
		seen[r] = true
	}
	if len(on) != len(refs)-1 {
		t.Errorf("the image depends on %d components, want %d", len(on), len(refs)-1)
	}
}

// TestReproducible: the same image and inventory give the same bytes whatever the packages' order; another
// inventory or image gives another namespace and serial number.
func TestReproducible(t *testing.T) {
	for _, f := range []Format{SPDX, CycloneDX} {
		a, err := Encode(f, testImage, testInventory())
		if err != nil {
			t.Fatal(err)
		}
		inv := testInventory()
		for i, j := 0, len(inv.Packages)-1; i < j; i, j = i+1, j-1 {
			inv.Packages[i], inv.Packages[j] = inv.Packages[j], inv.Packages[i]
		}
		b, _ := Encode(f, testImage, inv)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: the same inventory in another order gives other bytes", f)
		}
		inv.Packages = inv.Packages[:len(inv.Packages)-1] // libssl3
		c, _ := Encode(f, testImage, inv)
		other := testImage
		other.Digest = digest.FromString("other")
		d, _ := Encode(f, other, testInventory())
		id := func(b []byte) string {
			m := decode(t, b)
			if f == SPDX {
				return m["documentNamespace"].(string)
			}
			return m["serialNumber"].(string)
		}
		if id(a) == id(c) || id(a) == id(d) || id(c) == id(d) {
			t.Errorf("%s: different documents share an identifier: %s %s %s", f, id(a), id(c), id(d))
		}
	}
}

// TestNoOperatingSystem: an image of a Go binary alone has no operating-system element.
func TestNoOperatingSystem(t *testing.T) {
	inv := inventory.Inventory{Packages: []inventory.Package{{Name: "example.com/app", Version: "v1.0.0", Ecosystem: "Go", PURL: "pkg:golang/example.com/app@v1.0.0"}}}
	for _, f := range []Format{SPDX, CycloneDX} {
		b, err := Encode(f, testImage, inv)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("OPERATING-SYSTEM")) || bytes.Contains(b, []byte(`"operating-system"`)) {
			t.Errorf("%s: operating system in\n%s", f, b)
		}
	}
	b, _ := Encode(CycloneDX, testImage, inventory.Inventory{})
	if doc := decode(t, b); doc["components"] == nil {
		t.Error("an empty inventory has no components array")
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"": SPDX, "spdx": SPDX, "SPDX": SPDX, "cyclonedx": CycloneDX, "CycloneDX": CycloneDX} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseFormat("swid"); err == nil {
		t.Error("ParseFormat(swid) succeeded")
	}
	if SPDX.MediaType() != "application/spdx+json" || CycloneDX.MediaType() != "application/vnd.cyclonedx+json" {
		t.Error("media types")
	}
}

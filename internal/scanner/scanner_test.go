package scanner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	blobfs "github.com/wharf-dev/wharf/internal/blob/fs"
	lt "github.com/wharf-dev/wharf/internal/inventory/imagefs/layertest"
	"github.com/wharf-dev/wharf/internal/manifest"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/scanner"
	"github.com/wharf-dev/wharf/internal/store/sqlite"
	"github.com/wharf-dev/wharf/internal/vulndb"
)

var ctx = context.Background()

const debian12 = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n"

// env is a blob fs store and a vulnerability database on SQLite, and the scanner over them.
type env struct {
	blobs   *blobfs.Store
	db      *vulndb.DB
	scanner *scanner.Scanner
	now     time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	blobs, err := blobfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{blobs: blobs, now: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	e.db = vulndb.New(st, func() time.Time { return e.now })
	e.scanner = scanner.New(blobs.Open, e.db)
	return e
}

// put stores a blob and returns its descriptor.
func (e *env) put(t *testing.T, mediaType string, b []byte) ocispec.Descriptor {
	t.Helper()
	d := digest.FromBytes(b)
	id := fmt.Sprintf("upload-%s", d.Encoded()[:16])
	if _, err := e.blobs.Append(ctx, id, 0, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	if err := e.blobs.Commit(ctx, id, d, int64(len(b))); err != nil {
		t.Fatal(err)
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

// image stores the layers of im and an image config, and returns the image to scan.
func (e *env) image(t *testing.T, im *lt.Image, configType, scanType string) registry.ScanImage {
	t.Helper()
	var layers []ocispec.Descriptor
	for _, l := range im.Layers {
		rc, err := im.Open(ctx, l.Digest)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, e.put(t, l.MediaType, b))
	}
	config := e.put(t, configType, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	m, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": manifest.OCIManifest, "config": config, "layers": layers})
	if err != nil {
		t.Fatal(err)
	}
	return registry.ScanImage{RegistryID: "000000000000", Repository: "app", Digest: digest.FromBytes(m),
		MediaType: manifest.OCIManifest, Manifest: m, ScanType: scanType}
}

// advisories writes OSV advisories to a directory and imports them.
func (e *env) advisories(t *testing.T, advisories ...string) {
	t.Helper()
	dir := t.TempDir()
	for i, a := range advisories {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.json", i)), []byte(a), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := e.db.Import(ctx, dir); err != nil || st.Changed != len(advisories) {
		t.Fatalf("import: %+v, %v", st, err)
	}
}

// libc is the source package and version of this machine's libc6, which its dpkg status names.
func libc(t *testing.T) (source, version string) {
	t.Helper()
	out, err := exec.Command("dpkg-query", "-W", "-f", "${source:Package} ${source:Version}", "libc6").Output()
	if err != nil {
		t.Skipf("dpkg-query: %v (the test reads this machine's Debian package database)", err)
	}
	source, version, _ = strings.Cut(string(out), " ")
	return source, version
}

// debianAdvisory is an OSV advisory of Debian 12's source package name, fixed in fixed.
func debianAdvisory(cve, name, fixed, vector string) string {
	return fmt.Sprintf(`{"id": "DEBIAN-%s", "upstream": [%q], "modified": "2026-11-01T00:00:00Z",
  "details": "A flaw in %s.",
  "severity": [{"type": "CVSS_V3", "score": %q}],
  "affected": [{"package": {"ecosystem": "Debian:12", "name": %q},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": %q}]}]}],
  "references": [{"type": "WEB", "url": "https://security-tracker.debian.org/tracker/%s"}]}`, cve, cve, name, vector, name, fixed, cve)
}

// TestDebianImage scans a Debian 12 image whose dpkg status is this machine's: an advisory of libc6's
// source package fixed in a later version finds every binary package built from it; one fixed in an
// earlier version finds nothing.
func TestDebianImage(t *testing.T) {
	status, err := os.ReadFile("/var/lib/dpkg/status")
	if err != nil {
		t.Skipf("this machine has no dpkg status: %v", err)
	}
	source, version := libc(t)
	e := newEnv(t)
	e.advisories(t,
		debianAdvisory("CVE-2099-1001", source, version+"+wharf1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"),
		debianAdvisory("CVE-2099-1002", source, "2.0-1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"))
	updated := e.now
	e.now = e.now.Add(time.Hour)

	im := lt.New(t)
	im.Add(t, lt.Gzip, lt.File("etc/os-release", []byte(debian12)))
	im.Add(t, lt.Gzip, lt.File("var/lib/dpkg/status", status))
	inv, findings, at, err := e.scanner.Scan(ctx, e.image(t, im, ocispec.MediaTypeImageConfig, registry.ScanTypeBasic))
	if err != nil {
		t.Fatal(err)
	}
	if !at.Equal(updated) {
		t.Errorf("database updated at %v, want %v", at, updated)
	}
	if inv.OS.ID != "debian" || inv.OS.VersionID != "12" || len(inv.Packages) < 10 {
		t.Fatalf("inventory: %+v with %d packages", inv.OS, len(inv.Packages))
	}
	libc6 := false
	for _, f := range findings {
		if f.Name != "CVE-2099-1001" || f.Severity != vulndb.SeverityHigh || f.CVSSScore != 7.5 ||
			f.Package.AdvisoryName() != source || f.Package.AdvisoryVersion() != version {
			t.Errorf("finding %s %s %v of %s %s", f.Name, f.Severity, f.CVSSScore, f.Package.Name, f.Package.Version)
		}
		libc6 = libc6 || f.Package.Name == "libc6"
	}
	if !libc6 {
		t.Fatalf("no finding for libc6 in %d findings", len(findings))
	}
}

// TestDeletedPackageDatabase: a later layer deletes the dpkg status with a whiteout. The distribution is
// still known, so the scan completes, with no packages and no findings.
func TestDeletedPackageDatabase(t *testing.T) {
	e := newEnv(t)
	e.advisories(t, debianAdvisory("CVE-2099-1003", "openssl", "3.0.13-1~deb12u1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"))
	im := lt.New(t)
	im.Add(t, lt.Gzip, lt.File("etc/os-release", []byte(debian12)),
		lt.File("var/lib/dpkg/status", []byte("Package: libssl3\nStatus: install ok installed\nVersion: 3.0.11-1~deb12u2\nArchitecture: amd64\nSource: openssl\n")))
	img := e.image(t, im, ocispec.MediaTypeImageConfig, registry.ScanTypeBasic)
	if _, findings, _, err := e.scanner.Scan(ctx, img); err != nil || len(findings) != 1 {
		t.Fatalf("before the whiteout: %d findings, %v", len(findings), err)
	}
	im.Add(t, lt.None, lt.Whiteout("var/lib/dpkg/status"))
	inv, findings, _, err := e.scanner.Scan(ctx, e.image(t, im, ocispec.MediaTypeImageConfig, registry.ScanTypeBasic))
	if err != nil || len(findings) != 0 || len(inv.Packages) != 0 || inv.OS.ID != "debian" {
		t.Fatalf("after the whiteout: %+v, %d findings, %v", inv, len(findings), err)
	}
}

// TestUpgradedPackage: a later layer's dpkg status has the fixed version; the lower layer's is hidden.
func TestUpgradedPackage(t *testing.T) {
	e := newEnv(t)
	e.advisories(t, debianAdvisory("CVE-2099-1006", "openssl", "3.0.13-1~deb12u1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"))
	libssl := func(version string) []byte {
		return []byte("Package: libssl3\nStatus: install ok installed\nVersion: " + version + "\nArchitecture: amd64\nSource: openssl\n")
	}
	im := lt.New(t)
	im.Add(t, lt.Gzip, lt.File("etc/os-release", []byte(debian12)), lt.File("var/lib/dpkg/status", libssl("3.0.11-1~deb12u2")))
	if _, findings, _, err := e.scanner.Scan(ctx, e.image(t, im, ocispec.MediaTypeImageConfig, registry.ScanTypeBasic)); err != nil || len(findings) != 1 {
		t.Fatalf("before the upgrade: %d findings, %v", len(findings), err)
	}
	im.Add(t, lt.Gzip, lt.File("var/lib/dpkg/status", libssl("3.0.13-1~deb12u1")))
	inv, findings, _, err := e.scanner.Scan(ctx, e.image(t, im, ocispec.MediaTypeImageConfig, registry.ScanTypeBasic))
	if err != nil || len(findings) != 0 || len(inv.Packages) != 1 || inv.Packages[0].Version != "3.0.13-1~deb12u1" {
		t.Fatalf("after the upgrade: %+v, %d findings, %v", inv.Packages, len(findings), err)
	}
}

// TestScanTypes: BASIC finds the operating system's packages only, ENHANCED language packages too.
func TestScanTypes(t *testing.T) {
	e := newEnv(t)
	e.advisories(t,
		debianAdvisory("CVE-2099-1004", "zlib", "1:1.3.dfsg-1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"),
		`{"id": "GHSA-wxyz-0001-0001", "aliases": ["CVE-2099-1005"], "modified": "2026-11-01T00:00:00Z",
  "affected": [{"package": {"ecosystem": "npm", "name": "left-pad"},
    "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.3.1"}]}]}]}`)
	im := lt.New(t)
	im.Add(t, lt.Zstd, lt.File("etc/os-release", []byte(debian12)),
		lt.File("var/lib/dpkg/status", []byte("Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13.dfsg-1\nArchitecture: amd64\nSource: zlib\n")),
		lt.File("app/node_modules/left-pad/package.json", []byte(`{"name": "left-pad", "version": "1.3.0"}`)))
	for scanType, want := range map[string]string{registry.ScanTypeBasic: "CVE-2099-1004 zlib1g", registry.ScanTypeEnhanced: "CVE-2099-1004 zlib1g, CVE-2099-1005 left-pad"} {
		inv, findings, _, err := e.scanner.Scan(ctx, e.image(t, im, ocispec.MediaTypeImageConfig, scanType))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range findings {
			got = append(got, f.Name+" "+f.Package.Name)
		}
		if strings.Join(got, ", ") != want {
			t.Errorf("%s: findings %q, want %q", scanType, got, want)
		}
		if len(inv.Packages) != 2 {
			t.Errorf("%s: the inventory stored is the whole image's, not %+v", scanType, inv.Packages)
		}
		// Matching the stored inventory again finds what the scan found, for the scan's type.
		again, updated, err := e.scanner.Match(ctx, inv, scanType)
		if err != nil || updated.IsZero() || len(again) != len(findings) {
			t.Errorf("%s: matched again: %d findings (database of %v), %v; want %d", scanType, len(again), updated, err, len(findings))
		}
	}
}

// TestUnsupported: indexes, artifacts, layers that are not file systems and images with nothing the
// database knows are unsupported images.
func TestUnsupported(t *testing.T) {
	e := newEnv(t)
	osImage := lt.New(t)
	osImage.Add(t, lt.Gzip, lt.File("etc/os-release", []byte(debian12)))
	nothing := lt.New(t)
	nothing.Add(t, lt.Gzip, lt.File("hello.txt", []byte("hello")))
	unknown := lt.New(t) // a distribution without advisories, no package database
	unknown.Add(t, lt.Gzip, lt.File("etc/os-release", []byte("ID=plan9\nVERSION_ID=4\n")))

	index, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": manifest.OCIIndex, "manifests": []ocispec.Descriptor{}})
	notALayer := e.image(t, osImage, ocispec.MediaTypeImageConfig, registry.ScanTypeBasic)
	notALayer.Manifest = bytes.Replace(notALayer.Manifest, []byte(ocispec.MediaTypeImageLayerGzip), []byte("application/octet-stream"), 1)
	for name, img := range map[string]registry.ScanImage{
		"index":                {Digest: digest.FromBytes(index), MediaType: manifest.OCIIndex, Manifest: index, ScanType: registry.ScanTypeBasic},
		"artifact":             e.image(t, osImage, "application/vnd.example.sbom.config+json", registry.ScanTypeBasic),
		"not a layer":          notALayer,
		"nothing":              e.image(t, nothing, ocispec.MediaTypeImageConfig, registry.ScanTypeEnhanced),
		"unknown distribution": e.image(t, unknown, ocispec.MediaTypeImageConfig, registry.ScanTypeBasic),
	} {
		if _, _, _, err := e.scanner.Scan(ctx, img); !errors.Is(err, registry.ErrUnsupportedImage) {
			t.Errorf("%s: %v, want an unsupported image", name, err)
		}
	}
	// A Docker image is an image.
	if _, _, _, err := e.scanner.Scan(ctx, e.image(t, osImage, "application/vnd.docker.container.image.v1+json", registry.ScanTypeBasic)); err != nil {
		t.Errorf("Docker image config: %v", err)
	}
}

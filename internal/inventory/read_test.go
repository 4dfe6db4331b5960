package inventory_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/blob"
	"github.com/wharf-dev/wharf/internal/inventory"
	lt "github.com/wharf-dev/wharf/internal/inventory/imagefs/layertest"
)

// The blob store's Open is what the scanner hands Read.
var _ = func(ctx context.Context, s blob.Store, layers []ocispec.Descriptor) {
	inventory.Read(ctx, s.Open, layers)
}

func read(t *testing.T, im *lt.Image) *inventory.Inventory {
	t.Helper()
	inv, err := inventory.Read(context.Background(), im.Open, im.Layers)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func find(inv *inventory.Inventory, name string) (inventory.Package, bool) {
	for _, p := range inv.Packages {
		if p.Name == name {
			return p, true
		}
	}
	return inventory.Package{}, false
}

func mustFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const debian12 = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
ID=debian
`

// TestDebianFromThisMachine reads an image whose dpkg database is this machine's own, and compares it
// with what dpkg-query says is installed here.
func TestDebianFromThisMachine(t *testing.T) {
	status, err := os.ReadFile("/var/lib/dpkg/status")
	if err != nil {
		t.Skip("no dpkg database on this machine:", err)
	}
	out, err := exec.Command("dpkg-query", "-W", "-f", "${db:Status-Status} ${Package} ${Version} ${source:Package} ${source:Version}\n").Output()
	if err != nil {
		t.Fatal(err)
	}
	type pkg struct{ version, source, sourceVersion string }
	want := map[string]pkg{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 5 && f[0] == "installed" {
			want[f[1]] = pkg{f[2], f[3], f[4]}
		}
	}
	im := lt.New(t)
	im.Add(t, lt.Gzip, lt.Dir("usr/lib"), lt.File("usr/lib/os-release", []byte(debian12)),
		lt.Symlink("etc/os-release", "../usr/lib/os-release"))
	im.Add(t, lt.Zstd, lt.File("var/lib/dpkg/status", status))
	inv := read(t, im)

	if inv.OS.ID != "debian" || inv.OS.VersionID != "12" || inv.OS.Ecosystem() != "Debian:12" {
		t.Errorf("OS = %+v", inv.OS)
	}
	if len(inv.Packages) != len(want) {
		t.Errorf("%d packages, dpkg-query says %d", len(inv.Packages), len(want))
	}
	for _, p := range inv.Packages {
		w, ok := want[p.Name]
		if !ok {
			t.Errorf("%s is not installed here", p.Name)
			continue
		}
		if p.Version != w.version || p.AdvisoryName() != w.source || p.AdvisoryVersion() != w.sourceVersion {
			t.Errorf("%s: %s (source %s %s), dpkg-query says %s (source %s %s)", p.Name, p.Version,
				p.AdvisoryName(), p.AdvisoryVersion(), w.version, w.source, w.sourceVersion)
		}
		if p.Ecosystem != "Debian:12" || p.Path != "var/lib/dpkg/status" ||
			!strings.HasPrefix(p.PURL, "pkg:deb/debian/"+p.Name+"@") || !strings.Contains(p.PURL, "distro=debian-12") {
			t.Errorf("%s: %+v", p.Name, p)
		}
	}
	if p, ok := find(inv, "libssl3"); ok && p.SourceName != "openssl" {
		t.Errorf("libssl3's source is %q, want openssl", p.SourceName)
	}
	if p, ok := find(inv, "libc6"); ok && p.AdvisoryName() != "glibc" {
		t.Errorf("libc6's source is %q, want glibc", p.AdvisoryName())
	}
}

func TestDistrolessStatusD(t *testing.T) {
	im := lt.New(t)
	im.Add(t, lt.Gzip, lt.File("etc/os-release", []byte(debian12)),
		lt.File("var/lib/dpkg/status.d/libssl3", []byte("Package: libssl3\nVersion: 3.0.11-1~deb12u2\nArchitecture: amd64\nSource: openssl (3.0.11-1~deb12u1)\n")),
		lt.File("var/lib/dpkg/status.d/libssl3.md5sums", []byte("d41d8cd98f00b204e9800998ecf8427e  usr/lib/libssl.so.3\n")),
		lt.File("var/lib/dpkg/status.d/base-files", []byte("Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n")))
	inv := read(t, im)
	if len(inv.Packages) != 2 {
		t.Fatalf("packages: %+v", inv.Packages)
	}
	p, _ := find(inv, "libssl3")
	if p.SourceName != "openssl" || p.SourceVersion != "3.0.11-1~deb12u1" || p.Arch != "amd64" ||
		p.PURL != "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12" {
		t.Errorf("libssl3: %+v", p)
	}
}

func TestAlpine(t *testing.T) {
	im := lt.New(t)
	im.Add(t, lt.Gzip,
		lt.File("etc/os-release", []byte("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME=\"Alpine Linux v3.19\"\n")),
		lt.File("lib/apk/db/installed", mustFile(t, "testdata/apk-installed")))
	inv := read(t, im)
	if inv.OS.PrettyName != "Alpine Linux v3.19" {
		t.Errorf("OS: %+v", inv.OS)
	}
	var got []string
	for _, p := range inv.Packages {
		got = append(got, fmt.Sprintf("%s %s %s %s %s", p.Ecosystem, p.Name, p.Version, p.AdvisoryName(), p.PURL))
	}
	want := []string{
		"Alpine:v3.19 busybox 1.36.1-r15 busybox pkg:apk/alpine/busybox@1.36.1-r15?arch=x86_64&distro=3.19.1",
		"Alpine:v3.19 libcrypto3 3.1.4-r5 openssl pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=3.19.1",
		"Alpine:v3.19 libssl3 3.1.4-r5 openssl pkg:apk/alpine/libssl3@3.1.4-r5?arch=x86_64&distro=3.19.1",
		"Alpine:v3.19 musl 1.2.4_git20230717-r4 musl pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=3.19.1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("packages:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func dpkgEntry(name, version, source string) string {
	s := "Package: " + name + "\nStatus: install ok installed\nVersion: " + version + "\n"
	if source != "" {
		s += "Source: " + source + "\n"
	}
	return s + "Description: d\n more\n\n"
}

func TestUpgradeInLaterLayer(t *testing.T) {
	im := lt.New(t)
	im.Add(t, lt.Gzip, lt.File("etc/os-release", []byte(debian12)),
		lt.File("var/lib/dpkg/status", []byte(dpkgEntry("libssl3", "3.0.9-1", "openssl")+dpkgEntry("zlib1g", "1:1.2.13.dfsg-1", "zlib"))))
	im.Add(t, lt.Gzip,
		lt.File("var/lib/dpkg/status", []byte(dpkgEntry("libssl3", "3.0.11-1~deb12u2", "openssl")+dpkgEntry("zlib1g", "1:1.2.13.dfsg-1", "zlib"))))
	inv := read(t, im)
	if len(inv.Packages) != 2 {
		t.Fatalf("packages: %+v", inv.Packages)
	}
	if p, _ := find(inv, "libssl3"); p.Version != "3.0.11-1~deb12u2" || p.SourceName != "openssl" {
		t.Errorf("libssl3: %+v", p)
	}
}

func TestDeletedDatabase(t *testing.T) {
	im := lt.New(t)
	im.Add(t, lt.Gzip, lt.File("etc/os-release", []byte(debian12)),
		lt.File("var/lib/dpkg/status", []byte(dpkgEntry("libssl3", "3.0.9-1", "openssl"))))
	im.Add(t, lt.Gzip, lt.Whiteout("var/lib/dpkg"))
	inv := read(t, im)
	if len(inv.Packages) != 0 || inv.OS.ID != "debian" {
		t.Errorf("inventory: %+v", inv)
	}
}

func TestOpaqueDirectory(t *testing.T) {
	im := lt.New(t)
	im.Add(t, lt.Gzip, lt.File("etc/os-release", []byte(debian12)),
		lt.File("var/lib/dpkg/status.d/libssl3", []byte(dpkgEntry("libssl3", "3.0.9-1", "openssl"))),
		lt.File("var/lib/dpkg/status.d/tzdata", []byte(dpkgEntry("tzdata", "2024a-0+deb12u1", ""))))
	im.Add(t, lt.Gzip, lt.Opaque("var/lib/dpkg/status.d"),
		lt.File("var/lib/dpkg/status.d/tzdata", []byte(dpkgEntry("tzdata", "2024a-0+deb12u1", ""))))
	inv := read(t, im)
	if len(inv.Packages) != 1 || inv.Packages[0].Name != "tzdata" {
		t.Errorf("packages: %+v", inv.Packages)
	}
}

// TestGoBinary builds a program with a module of Wharf's own go.mod, from the module cache, and reads
// its build information out of the image.
func TestGoBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	dir := t.TempDir()
	var sum bytes.Buffer
	for _, line := range strings.Split(string(mustFile(t, "../../go.sum")), "\n") {
		if strings.HasPrefix(line, "github.com/opencontainers/go-digest v1.0.0") {
			sum.WriteString(line + "\n")
		}
	}
	files := map[string]string{
		"go.mod":  "module example.com/hello\n\ngo 1.22\n\nrequire github.com/opencontainers/go-digest v1.0.0\n",
		"go.sum":  sum.String(),
		"main.go": "package main\n\nimport \"github.com/opencontainers/go-digest\"\n\nfunc main() { println(digest.FromString(\"hello\")) }\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "build", "-o", "hello", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	hello := mustFile(t, filepath.Join(dir, "hello"))
	im := lt.New(t)
	im.Add(t, lt.Zstd, lt.Executable("usr/bin/hello2", hello))
	im.Add(t, lt.Gzip, lt.Executable("usr/local/bin/hello", hello),
		lt.Executable("usr/local/bin/script", []byte("#!/bin/sh\necho not a Go binary, but long enough to be looked at by the reader\n")))
	inv := read(t, im)
	goVersion := strings.TrimPrefix(strings.Fields(runtime.Version())[0], "go")
	var got []string
	for _, p := range inv.Packages {
		got = append(got, fmt.Sprintf("%s %s %s %s %s", p.Ecosystem, p.Name, p.Version, p.PURL, p.Path))
	}
	want := []string{
		"Go github.com/opencontainers/go-digest v1.0.0 pkg:golang/github.com/opencontainers/go-digest@v1.0.0 usr/bin/hello2",
		"Go github.com/opencontainers/go-digest v1.0.0 pkg:golang/github.com/opencontainers/go-digest@v1.0.0 usr/local/bin/hello",
		"Go stdlib " + goVersion + " pkg:golang/stdlib@" + goVersion + " usr/bin/hello2",
		"Go stdlib " + goVersion + " pkg:golang/stdlib@" + goVersion + " usr/local/bin/hello",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("packages:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLanguagePackages(t *testing.T) {
	var jar bytes.Buffer
	zw := zip.NewWriter(&jar)
	w, _ := zw.Create("META-INF/MANIFEST.MF")
	w.Write([]byte("Manifest-Version: 1.0\n"))
	w, _ = zw.Create("META-INF/maven/com.fasterxml.jackson.core/jackson-databind/pom.properties")
	w.Write([]byte("#Generated by Maven\nartifactId=jackson-databind\ngroupId=com.fasterxml.jackson.core\nversion=2.15.2\n"))
	zw.Close()
	var fat bytes.Buffer
	zw = zip.NewWriter(&fat)
	w, _ = zw.Create("BOOT-INF/lib/jackson-databind-2.15.2.jar")
	w.Write(jar.Bytes())
	zw.Close()

	var plain bytes.Buffer // a jar built without Maven: its manifest names it
	zw = zip.NewWriter(&plain)
	w, _ = zw.Create("META-INF/MANIFEST.MF")
	w.Write([]byte("Manifest-Version: 1.0\r\nImplementation-Title: commons-text\r\nImplementation-Version: 1.9\r\nImplementation-Vendor-Id: org.apache.commons\r\n"))
	zw.Close()

	im := lt.New(t)
	im.Add(t, lt.Gzip,
		lt.File("opt/lib/commons-text.jar", plain.Bytes()),
		lt.File("app/node_modules/lodash/package.json", []byte(`{"name":"lodash","version":"4.17.20","main":"lodash.js"}`)),
		lt.File("app/node_modules/@babel/core/package.json", []byte(`{"name":"@babel/core","version":"7.22.0"}`)),
		lt.File("app/node_modules/lodash/fp/package.json", []byte(`{"name":"not-a-package"}`)),
		lt.File("app/package.json", []byte(`{"name":"the-app","version":"1.0.0"}`)),
		lt.File("usr/lib/python3/dist-packages/PyYAML-5.3.1.dist-info/METADATA", []byte("Metadata-Version: 2.1\nName: PyYAML\nVersion: 5.3.1\n\nName: not this\n")),
		lt.File("opt/app.jar", fat.Bytes()))
	inv := read(t, im)
	var got []string
	for _, p := range inv.Packages {
		got = append(got, fmt.Sprintf("%s %s %s %s", p.Ecosystem, p.Name, p.Version, p.PURL))
	}
	want := []string{
		"Maven com.fasterxml.jackson.core:jackson-databind 2.15.2 pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.15.2",
		"Maven org.apache.commons:commons-text 1.9 pkg:maven/org.apache.commons/commons-text@1.9",
		"PyPI PyYAML 5.3.1 pkg:pypi/pyyaml@5.3.1",
		"npm @babel/core 7.22.0 pkg:npm/%40babel/core@7.22.0",
		"npm lodash 4.17.20 pkg:npm/lodash@4.17.20",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("packages:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Package databases naming more packages than the bound (tiny records compress to little) fail the read
// rather than fill the memory.
func TestTooManyPackages(t *testing.T) {
	inventory.SetMaxPackages(t.Cleanup, 1000)
	status := func(from, to int) []byte {
		var b bytes.Buffer
		for i := from; i < to; i++ {
			fmt.Fprintf(&b, "Package: p%d\nStatus: install ok installed\nVersion: 1.%d\n\n", i, i)
		}
		return b.Bytes()
	}
	im := lt.New(t)
	im.Add(t, lt.Gzip, lt.File("etc/os-release", []byte("ID=debian\nVERSION_ID=\"12\"\n")),
		lt.File("var/lib/dpkg/status.d/a", status(0, 600)), lt.File("var/lib/dpkg/status.d/b", status(600, 1200)))
	if _, err := inventory.Read(context.Background(), im.Open, im.Layers); !errors.Is(err, inventory.ErrTooManyPackages) {
		t.Fatalf("Read = %v, want ErrTooManyPackages", err)
	}
	within := lt.New(t)
	within.Add(t, lt.Gzip, lt.File("etc/os-release", []byte("ID=debian\nVERSION_ID=\"12\"\n")),
		lt.File("var/lib/dpkg/status.d/a", status(0, 600)))
	if n := len(read(t, within).Packages); n != 600 {
		t.Errorf("%d packages, want 600", n)
	}
}

// A package database of tiny records is parsed no further than the bound: the memory a scan takes is
// that of the bound's packages, not of the millions the file names.
func TestTooManyPackagesMemory(t *testing.T) {
	inventory.SetMaxPackages(t.Cleanup, 1000)
	for _, f := range []struct{ name, record string }{
		{"lib/apk/db/installed", "P:a\nV:1\n\n"},
		{"var/lib/dpkg/status", "Package:a\nVersion:1\n\n"},
	} {
		im := lt.New(t)
		im.Add(t, lt.Gzip, lt.File(f.name, bytes.Repeat([]byte(f.record), (8<<20)/len(f.record))))
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, err := inventory.Read(context.Background(), im.Open, im.Layers); !errors.Is(err, inventory.ErrTooManyPackages) {
			t.Fatalf("%s: Read = %v, want ErrTooManyPackages", f.name, err)
		}
		runtime.ReadMemStats(&after)
		// The file itself (8 MiB, read whole) and the layer's reading; a package is over 100 bytes.
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
			t.Errorf("%s: %d MiB allocated", f.name, alloc>>20)
		}
	}
}

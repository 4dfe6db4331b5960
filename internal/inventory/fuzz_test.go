package inventory

import (
	"archive/zip"
	"bytes"
	"os"
	"testing"
)

// FuzzDatabases feeds the package database, metadata and Java archive parsers untrusted bytes: they must not panic,
// and every package they return has a name and a version.
func FuzzDatabases(f *testing.F) {
	f.Add([]byte("Package: libssl3\nStatus: install ok installed\nVersion: 3.0.11-1\nSource: openssl (3.0.11-1)\n\n"))
	f.Add([]byte("P:musl\nV:1.2.4-r4\nA:x86_64\no:musl\n\nP:x\nV:\n"))
	f.Add([]byte("ID=\"alpine\"\nVERSION_ID=3.19.1\nPRETTY_NAME='x\n"))
	f.Add([]byte("Source: (\nPackage:\tp\nVersion: 1\n\n\n\nPackage: q\nVersion: 2\nStatus: deinstall ok config-files\n"))
	if b, err := os.ReadFile("testdata/apk-installed"); err == nil {
		f.Add(b)
	}
	var jar bytes.Buffer
	zw := zip.NewWriter(&jar)
	w, _ := zw.Create("META-INF/maven/g/a/pom.properties")
	w.Write([]byte("groupId=g\nartifactId=a\nversion=1\n"))
	w, _ = zw.Create("META-INF/MANIFEST.MF")
	w.Write([]byte("Implementation-Vendor-Id: g\n"))
	zw.Close()
	f.Add(jar.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		var pkgs []Package
		pkgs = append(pkgs, ParseDpkgStatus(b)...)
		pkgs = append(pkgs, ParseApkInstalled(b)...)
		pkgs = append(pkgs, readPython(bytes.NewReader(b))...)
		pkgs = append(pkgs, readNPM(bytes.NewReader(b))...)
		budget := int64(maxInflated)
		jar, _ := javaArchive(b, 1, &budget)
		pkgs = append(pkgs, jar...)
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" || p.SourceName == p.Name && p.SourceName != "" {
				t.Errorf("package %+v", p)
			}
		}
		_ = ParseOSRelease(b).Ecosystem()
	})
}

// FuzzBuildInfo feeds the Go build information reader executables' bytes: it must not panic, nor read
// past the data it is given.
func FuzzBuildInfo(f *testing.F) {
	header := append([]byte("\xff Go buildinf:\x08\x02"), make([]byte, 16)...)
	f.Add(append(append([]byte("\x7fELF"), make([]byte, 12)...), append(header, "\x08go1.22.1\x00"...)...))
	f.Add(append(append([]byte("\x7fELF"), make([]byte, 12)...), append(header, "\x02go\xff\xff\xff\xff\x0f"...)...))
	window := newWindow()
	f.Fuzz(func(t *testing.T, b []byte) {
		pkgs, err := readGoBinary(bytes.NewReader(b), window)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pkgs {
			if p.Ecosystem != "Go" || p.Name == "" || p.Version == "" {
				t.Errorf("package %+v", p)
			}
		}
	})
}

package main

import (
	"archive/zip"
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestScanDB imports the vulnerability database's OSV fixtures while the server runs, twice (the second
// import changes nothing), and reads its status.
func TestScanDB(t *testing.T) {
	s := startServe(t)
	fixtures, env := "../../internal/vulndb/testdata/osv", []string{"WHARF_DATA_DIR=" + s.dir}
	if r := wharf(t, "", env, "scan-db", "status"); r.code != 0 || r.stdout != "no advisories imported\n" {
		t.Fatalf("status of an empty database:\n%s", r)
	}
	dir := t.TempDir()
	abs := func(p string) string { return mustAbs(t, p) }
	if r := wharf(t, dir, env, "scan-db", "import", abs(fixtures)); r.code != 0 || !strings.HasPrefix(r.stdout, "read 9 advisories, 9 new or updated") {
		t.Fatalf("import:\n%s", r)
	}
	if r := wharf(t, dir, env, "scan-db", "import", abs(fixtures+"/debian")); r.code != 0 || !strings.HasPrefix(r.stdout, "read 2 advisories, 0 new or updated") {
		t.Fatalf("import again:\n%s", r)
	}
	r := wharf(t, dir, env, "scan-db", "status")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "updated at 20") || !strings.Contains(r.stdout, "\nDebian:12\t2 advisories\n") ||
		!strings.Contains(r.stdout, "\nnpm\t2 advisories\n") {
		t.Fatalf("status:\n%s", r)
	}
	if r := wharf(t, dir, env, "scan-db", "import", abs(fixtures+"/missing")); r.code != 1 || !strings.Contains(r.stderr, "no such file") {
		t.Fatalf("import of a missing path:\n%s", r)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// TestScanDBSync downloads advisories from a server laid out as osv.dev's bucket: serve with
// --scan-db-sync-url fills an empty database at once, and scan-db sync downloads on request.
func TestScanDBSync(t *testing.T) {
	fixtures := "../../internal/vulndb/testdata/osv"
	zips := map[string][]byte{"/osv/Debian/all.zip": zipDir(t, fixtures+"/debian"), "/osv/Alpine/all.zip": zipDir(t, fixtures+"/alpine")}
	osv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if data, ok := zips[r.URL.Path]; ok {
			w.Write(data)
			return
		}
		http.NotFound(w, r)
	}))
	defer osv.Close()

	s := startServe(t, "--scan-db-sync-url", osv.URL+"/osv", "--scan-db-sync-ecosystems", "Debian")
	env := []string{"WHARF_DATA_DIR=" + s.dir}
	var r result
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if r = wharf(t, "", env, "scan-db", "status"); strings.Contains(r.stdout, "Debian:12\t2 advisories") {
			break
		}
	}
	if r.code != 0 || !strings.Contains(r.stdout, "\nDebian:12\t2 advisories\n") || strings.Contains(r.stdout, "Alpine") {
		t.Fatalf("status after serve's first sync:\n%s\nserver log:\n%s", r, s.stderr)
	}
	r = wharf(t, "", env, "scan-db", "sync", "--from", osv.URL+"/osv", "--ecosystems", "Debian, Alpine,npm")
	if r.code != 1 || !strings.Contains(r.stdout, "Debian: ") || !strings.Contains(r.stdout, "Alpine: ") ||
		!strings.Contains(r.stderr, "npm: GET "+osv.URL+"/osv/npm/all.zip: 404 Not Found") {
		t.Fatalf("sync with an ecosystem the server lacks:\n%s", r)
	}
	if r := wharf(t, "", env, "scan-db", "status"); !strings.Contains(r.stdout, "\nAlpine:v3.19\t1 advisories\n") {
		t.Fatalf("status after scan-db sync:\n%s", r)
	}
}

// zipDir returns a zip of the files of dir, flat, as osv.dev serves an ecosystem's advisories.
func zipDir(t *testing.T, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		w, err := zw.Create(e.Name())
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

package main

import (
	"path/filepath"
	"strings"
	"testing"
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

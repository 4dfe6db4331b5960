package vulndb_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/wharf-dev/wharf/internal/vulndb/osvtest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/inventory"
	"github.com/wharf-dev/wharf/internal/store"
	"github.com/wharf-dev/wharf/internal/store/postgres"
	"github.com/wharf-dev/wharf/internal/store/sqlite"
	"github.com/wharf-dev/wharf/internal/vulndb"
)

var ctx = context.Background()

// fixtures is the directory of the OSV advisories written for the tests' package versions.
const fixtures = "testdata/osv"

// open returns an empty database on SQLite, or on PostgreSQL when the test's name ends in OnPostgres.
func open(t *testing.T) (*vulndb.DB, *time.Time) {
	t.Helper()
	var st store.Store
	var err error
	if strings.HasSuffix(strings.Split(t.Name(), "/")[0], "OnPostgres") {
		st, err = postgres.Open(freshPostgres(t))
	} else {
		st, err = sqlite.Open(filepath.Join(t.TempDir(), "wharf.db"))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	return vulndb.New(st, func() time.Time { return now }), &now
}

var databases atomic.Int64

// freshPostgres creates an empty database on the server scripts/test.sh starts (WHARF_TEST_POSTGRES) and
// returns its URL; the test is skipped without one, unless the end-to-end suite runs.
func freshPostgres(t *testing.T) string {
	t.Helper()
	base := os.Getenv("WHARF_TEST_POSTGRES")
	if base == "" {
		if os.Getenv("WHARF_E2E") == "1" {
			t.Fatal("WHARF_TEST_POSTGRES is not set; scripts/test.sh starts a PostgreSQL server and sets it")
		}
		t.Skip("WHARF_TEST_POSTGRES is not set (scripts/test.sh starts a PostgreSQL server)")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("wharf_vulndb_test_%d_%d", os.Getpid(), databases.Add(1))
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec("DROP DATABASE " + name + " WITH (FORCE)")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func mustImport(t *testing.T, db *vulndb.DB, path string) vulndb.ImportStats {
	t.Helper()
	st, err := db.Import(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func counts(t *testing.T, db *vulndb.DB) (string, time.Time) {
	t.Helper()
	s, err := db.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range s.Ecosystems {
		out = append(out, fmt.Sprintf("%s=%d", c.Ecosystem, c.Advisories))
	}
	return strings.Join(out, " "), s.UpdatedAt
}

const allCounts = "Alpine:v3.19=1 Debian:11=1 Debian:12=2 Go=2 PyPI=1 Ubuntu:22.04=1 npm=2"

func TestImportFileDirectoryZip(t *testing.T) {
	for _, tc := range []struct {
		name, path string
		want       string
	}{
		{"file", fixtures + "/debian/DSA-5532-1.json", "Debian:11=1 Debian:12=1"},
		{"directory", fixtures, allCounts},
		{"zip", "", allCounts},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, now := open(t)
			if got, at := counts(t, db); got != "" || !at.IsZero() {
				t.Fatalf("a new database holds %q, updated at %v", got, at)
			}
			path := tc.path
			if path == "" {
				path = osvtest.ZipFile(t, fixtures)
			}
			st := mustImport(t, db, path)
			if st.Read != st.Changed || st.Read == 0 {
				t.Errorf("first import: %+v", st)
			}
			if got, at := counts(t, db); got != tc.want || !at.Equal(*now) {
				t.Errorf("status = %q at %v, want %q at %v", got, at, tc.want, *now)
			}
		})
	}
}

func TestImportIsIdempotentOnPostgres(t *testing.T) { TestImportIsIdempotent(t) }

func TestImportIsIdempotent(t *testing.T) {
	db, now := open(t)
	dir := t.TempDir()
	write := func(name, modified, fixed string) {
		t.Helper()
		doc := `{"id":"DSA-1","modified":"` + modified + `","affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},` +
			`"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"` + fixed + `"}]}]}]}`
		if err := os.WriteFile(filepath.Join(dir, name), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fixed := func() []string {
		t.Helper()
		fs, err := db.Match(ctx, inventory.Inventory{Packages: []inventory.Package{{Name: "openssl", Version: "3.0.0-1", Ecosystem: "Debian:12"}}})
		if err != nil || len(fs) != 1 {
			t.Fatalf("findings %v, %v", fs, err)
		}
		return fs[0].FixedVersions
	}
	write("a.json", "2024-01-01T00:00:00Z", "3.0.1-1")
	first := *now
	if st := mustImport(t, db, dir); st.Read != 1 || st.Changed != 1 {
		t.Errorf("first import: %+v", st)
	}
	*now = now.Add(time.Hour)
	if st := mustImport(t, db, dir); st.Read != 1 || st.Changed != 0 {
		t.Errorf("same import again: %+v", st)
	}
	if _, at := counts(t, db); !at.Equal(first) {
		t.Errorf("an import that changed nothing moved the update time to %v", at)
	}
	write("a.json", "2023-01-01T00:00:00Z", "3.0.9-1") // older
	mustImport(t, db, dir)
	if got := fixed(); !reflect.DeepEqual(got, []string{"3.0.1-1"}) {
		t.Errorf("an older advisory replaced a newer one: fixed %v", got)
	}
	write("a.json", "2025-01-01T00:00:00Z", "3.0.2-1") // newer
	if st := mustImport(t, db, dir); st.Changed != 1 {
		t.Errorf("newer import: %+v", st)
	}
	if got := fixed(); !reflect.DeepEqual(got, []string{"3.0.2-1"}) {
		t.Errorf("after a newer advisory: fixed %v", got)
	}
	if _, at := counts(t, db); !at.Equal(*now) {
		t.Errorf("update time %v, want %v", at, *now)
	}
	// A change at the same time (a clock that did not move) is seen too: the update time moves on.
	write("a.json", "2025-06-01T00:00:00Z", "3.0.3-1")
	mustImport(t, db, dir)
	if got := fixed(); !reflect.DeepEqual(got, []string{"3.0.3-1"}) {
		t.Errorf("after a second change at the same time: fixed %v", got)
	}
	if _, at := counts(t, db); !at.After(*now) {
		t.Errorf("update time %v did not move past %v", at, *now)
	}
}

func TestImportSkipsBrokenAdvisories(t *testing.T) {
	db, _ := open(t)
	dir := t.TempDir()
	docs := []string{`{`, `{"id":"X-1"}`, `{"id":"","modified":"2024-01-01T00:00:00Z"}`, `[]`,
		`{"id":"X-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"name":"a"}}]}`,
		`{"id":"X-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"1","fixed":"2"}]}]}]}`,
		`{"id":"X-2","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"a"},"versions":["1.0.0"]}]}`,
	}
	for i, doc := range docs {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.json", i)), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st := mustImport(t, db, dir)
	if st.Read != 1 || st.Changed != 1 || st.Invalid != len(docs)-1 || len(st.Problems) != len(docs)-1 ||
		!strings.HasPrefix(st.Problems[0], filepath.Join(dir, "0.json")+": not an OSV advisory") {
		t.Errorf("import: %+v", st)
	}
	if got, _ := counts(t, db); got != "npm=1" {
		t.Errorf("stored: %s", got)
	}
	if _, err := db.Import(ctx, filepath.Join(dir, "missing")); err == nil {
		t.Error("imported a missing path")
	}
	damaged := filepath.Join(dir, "damaged.zip")
	data, err := os.ReadFile(osvtest.ZipFile(t, fixtures))
	if err == nil {
		err = os.WriteFile(damaged, data[:len(data)/2], 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Import(ctx, damaged); err == nil || !strings.Contains(err.Error(), "damaged.zip") {
		t.Errorf("import of a damaged zip: %v", err)
	}
}

// finding is what the matching tests compare: "package version advisory name severity fixed".
func finding(f vulndb.Finding) string {
	return fmt.Sprintf("%s %s %s %s %s %s", f.Package.Name, f.Package.Version, f.AdvisoryID, f.Name, f.Severity, strings.Join(f.FixedVersions, ","))
}

func TestMatchOnPostgres(t *testing.T) { TestMatch(t) }

func TestMatch(t *testing.T) {
	db, _ := open(t)
	mustImport(t, db, osvtest.ZipFile(t, fixtures))
	deb := func(name, version, source, sourceVersion string) inventory.Package {
		return inventory.Package{Name: name, Version: version, SourceName: source, SourceVersion: sourceVersion, Ecosystem: "Debian:12"}
	}
	pkg := func(eco, name, version string) inventory.Package {
		return inventory.Package{Name: name, Version: version, Ecosystem: eco}
	}
	for _, tc := range []struct {
		name string
		pkgs []inventory.Package
		want []string
	}{
		{"a binary package matches its source's advisories", []inventory.Package{
			deb("libssl3", "3.0.11-1~deb12u1", "openssl", ""), deb("openssl", "3.0.11-1~deb12u1", "", ""),
		}, []string{
			"libssl3 3.0.11-1~deb12u1 DEBIAN-CVE-2023-5678 CVE-2023-5678 MEDIUM 3.0.13-1~deb12u1",
			"libssl3 3.0.11-1~deb12u1 DSA-5532-1 CVE-2023-5363 UNDEFINED 3.0.11-1~deb12u2",
			"openssl 3.0.11-1~deb12u1 DEBIAN-CVE-2023-5678 CVE-2023-5678 MEDIUM 3.0.13-1~deb12u1",
			"openssl 3.0.11-1~deb12u1 DSA-5532-1 CVE-2023-5363 UNDEFINED 3.0.11-1~deb12u2",
		}},
		{"the source version is the one compared", []inventory.Package{
			deb("libssl3", "3.0.11-1~deb12u2+b1", "openssl", "3.0.11-1~deb12u2"),
		}, []string{"libssl3 3.0.11-1~deb12u2+b1 DEBIAN-CVE-2023-5678 CVE-2023-5678 MEDIUM 3.0.13-1~deb12u1"}},
		{"a fixed version is not affected", []inventory.Package{deb("libssl3", "3.0.13-1~deb12u1", "openssl", "")}, nil},
		{"Debian's tilde sorts before the release", []inventory.Package{deb("openssl", "3.0.13-1~deb12u0", "", "")},
			[]string{"openssl 3.0.13-1~deb12u0 DEBIAN-CVE-2023-5678 CVE-2023-5678 MEDIUM 3.0.13-1~deb12u1"}},
		{"another release's advisories do not apply", []inventory.Package{pkg("Debian:11", "openssl", "3.0.0-1")}, nil},
		{"Alpine", []inventory.Package{pkg("Alpine:v3.19", "openssl", "3.1.4-r4"), pkg("Alpine:v3.19", "openssl", "3.1.4-r5"),
			pkg("Alpine:v3.19", "openssl", "3.1.4-r10"), pkg("Alpine:v3.18", "openssl", "3.1.4-r4")},
			[]string{"openssl 3.1.4-r4 ALPINE-CVE-2024-0727 CVE-2024-0727 MEDIUM 3.1.4-r5"}},
		{"Go modules, one finding for an advisory's several ids", []inventory.Package{pkg("Go", "golang.org/x/net", "v0.16.0"),
			pkg("Go", "golang.org/x/net", "v0.17.0")},
			[]string{"golang.org/x/net v0.16.0 GHSA-4374-p667-p6c8 CVE-2023-39325 HIGH 0.17.0"}},
		{"a range introduced again", []inventory.Package{pkg("Go", "stdlib", "v1.20.9"), pkg("Go", "stdlib", "v1.20.10"),
			pkg("Go", "stdlib", "go1.21.0"), pkg("Go", "stdlib", "v1.21.3")},
			[]string{"stdlib v1.20.9 GO-2023-2102 CVE-2023-39325 UNDEFINED 1.20.10,1.21.3",
				"stdlib go1.21.0 GO-2023-2102 CVE-2023-39325 UNDEFINED 1.20.10,1.21.3"}},
		{"last_affected and versions lists, PyPI names normalised", []inventory.Package{
			pkg("PyPI", "jinja2", "1.0"), pkg("PyPI", "Jinja2", "1.2"), pkg("PyPI", "jinja2", "1.9"), pkg("PyPI", "jinja2", "2.4.1"),
			pkg("PyPI", "jinja2", "2.5"), pkg("PyPI", "jinja2", "2.10"), pkg("PyPI", "jinja2", "3.1.2"), pkg("PyPI", "jinja2", "3.1.3"),
		}, []string{"jinja2 1.0 PYSEC-2099-1 PYSEC-2099-1 MEDIUM 2.5", "jinja2 2.4.1 PYSEC-2099-1 PYSEC-2099-1 MEDIUM 2.5",
			"jinja2 3.1.2 PYSEC-2099-1 PYSEC-2099-1 MEDIUM 2.5"}},
		{"Ubuntu's LTS ecosystem and severity", []inventory.Package{pkg("Ubuntu:22.04", "curl", "7.81.0-1ubuntu1.15"),
			pkg("Ubuntu:22.04", "curl", "7.81.0-1ubuntu1.16")},
			[]string{"curl 7.81.0-1ubuntu1.15 UBUNTU-CVE-2099-2 CVE-2099-2 MEDIUM 7.81.0-1ubuntu1.16"}},
		{"limits, CVSS v4, withdrawn advisories", []inventory.Package{pkg("npm", "left-pad", "0.9.0"), pkg("npm", "left-pad", "1.3.0"),
			pkg("npm", "left-pad", "2.0.0")},
			[]string{"left-pad 1.3.0 GHSA-wxyz-wxyz-wxyz CVE-2099-3 CRITICAL "}},
		{"packages without an ecosystem or advisories", []inventory.Package{{Name: "busybox", Version: "1"}, pkg("npm", "nothing", "1.0.0")}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := db.Match(ctx, inventory.Inventory{Packages: tc.pkgs})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range fs {
				got = append(got, finding(f))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestFindingDetails(t *testing.T) {
	db, _ := open(t)
	mustImport(t, db, fixtures)
	fs, err := db.Match(ctx, inventory.Inventory{Packages: []inventory.Package{
		{Name: "libssl3", Version: "3.0.11-1~deb12u1", SourceName: "openssl", Ecosystem: "Debian:12"},
	}})
	if err != nil || len(fs) != 2 {
		t.Fatalf("findings %v, %v", fs, err)
	}
	f := fs[0]
	if f.CVSSVector != "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L" || f.CVSSScore != 5.3 || f.CVSSVersion != "3.1" {
		t.Errorf("CVSS %q %v %q", f.CVSSVector, f.CVSSScore, f.CVSSVersion)
	}
	if f.URI != "https://osv.dev/vulnerability/DEBIAN-CVE-2023-5678" || !strings.HasPrefix(f.Description, "Generating excessively long") ||
		!f.Published.Equal(time.Date(2023, 11, 6, 16, 15, 42, 0, time.UTC)) {
		t.Errorf("finding %+v", f)
	}
	if dsa := fs[1]; dsa.URI != "https://www.debian.org/security/2023/dsa-5532" || dsa.Description != "openssl - security update" {
		t.Errorf("DSA finding %+v", dsa)
	}
}

// Copies of a package many advisories name multiply into findings: past the bound, the match fails rather
// than hold them all.
func TestTooManyFindings(t *testing.T) {
	db, _ := open(t)
	mustImport(t, db, osvtest.ZipFile(t, fixtures))
	vulndb.SetMaxFindings(t.Cleanup, 10)
	var pkgs []inventory.Package
	for i := range 6 {
		pkgs = append(pkgs, inventory.Package{Name: "libssl3", Version: "3.0.11-1~deb12u1", SourceName: "openssl",
			Ecosystem: "Debian:12", Path: fmt.Sprintf("var/lib/dpkg/status.d/libssl3-%d", i)})
	}
	if _, err := db.Match(ctx, inventory.Inventory{Packages: pkgs}); !errors.Is(err, vulndb.ErrTooManyFindings) {
		t.Fatalf("Match = %v, want ErrTooManyFindings", err)
	}
	if fs, err := db.Match(ctx, inventory.Inventory{Packages: pkgs[:5]}); err != nil || len(fs) != 10 {
		t.Fatalf("Match = %d findings, %v; want 10", len(fs), err)
	}
}

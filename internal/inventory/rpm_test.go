package inventory_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	lt "github.com/wharf-dev/wharf/internal/inventory/imagefs/layertest"
)

// rpmTestdata is the rpm library's test data in the module cache: databases of real images.
func rpmTestdata(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/knqyf263/go-rpmdb").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "pkg", "testdata")
}

// TestRPM reads real rpm databases of the three formats, as the rpm library's own test data has them
// (a UBI 8 image's Berkeley DB, a SUSE image's ndb, a Fedora 35 image's SQLite).
func TestRPM(t *testing.T) {
	testdata := rpmTestdata(t)
	for _, c := range []struct {
		db, at, osRelease, ecosystem, name, version, purl string
	}{
		{"ubi8-s390x/Packages", "var/lib/rpm/Packages", "ID=\"rhel\"\nVERSION_ID=\"8.5\"\n", "Red Hat:enterprise_linux:8",
			"openssl-libs", "1:1.1.1k-6.el8_5", "pkg:rpm/redhat/openssl-libs@1.1.1k-6.el8_5?arch=s390x&distro=rhel-8.5&epoch=1"},
		{"sle15-bci/Packages.db", "usr/lib/sysimage/rpm/Packages.db", "ID=\"sles\"\nVERSION_ID=\"15.3\"\n", "",
			"glibc", "2.31-9.3.2", "pkg:rpm/sles/glibc@2.31-9.3.2?arch=x86_64&distro=sles-15.3"},
		{"fedora35/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite", "ID=fedora\nVERSION_ID=35\n", "",
			"glibc", "2.34-8.fc35", "pkg:rpm/fedora/glibc@2.34-8.fc35?arch=x86_64&distro=fedora-35"},
	} {
		t.Run(c.db, func(t *testing.T) {
			im := lt.New(t)
			im.Add(t, lt.Gzip, lt.File("etc/os-release", []byte(c.osRelease)))
			im.Add(t, lt.Zstd, lt.File(c.at, mustFile(t, filepath.Join(testdata, c.db))))
			inv := read(t, im)
			if len(inv.Packages) < 30 {
				t.Errorf("%d packages", len(inv.Packages))
			}
			p, ok := find(inv, c.name)
			if !ok || p.Version != c.version || p.Ecosystem != c.ecosystem || p.PURL != c.purl || p.Path != c.at {
				t.Errorf("%s: %+v", c.name, p)
			}
			if _, ok := find(inv, "gpg-pubkey"); ok {
				t.Error("gpg-pubkey is a key, not a package")
			}
		})
	}
}

// TestRockySourcePackages: Rocky Linux's advisories name source rpms, so the binary openssl-libs is
// matched as openssl; Red Hat's name binary rpms.
func TestRockySourcePackages(t *testing.T) {
	db := mustFile(t, filepath.Join(rpmTestdata(t), "ubi8-s390x", "Packages"))
	for osRelease, want := range map[string]string{
		"ID=\"rocky\"\nVERSION_ID=\"8.5\"\n": "Rocky Linux:8 openssl",
		"ID=\"rhel\"\nVERSION_ID=\"8.5\"\n":  "Red Hat:enterprise_linux:8 openssl-libs",
	} {
		im := lt.New(t)
		im.Add(t, lt.Gzip, lt.File("etc/os-release", []byte(osRelease)), lt.File("var/lib/rpm/Packages", db))
		p, _ := find(read(t, im), "openssl-libs")
		if got := p.Ecosystem + " " + p.AdvisoryName(); got != want {
			t.Errorf("%q: %s, want %s", osRelease, got, want)
		}
	}
}

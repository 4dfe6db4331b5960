package inventory

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/inventory/imagefs"
)

// Bounds on what is read into memory from one file of an image. Larger files are skipped (executables
// are streamed whatever their size, up to maxExecutable).
const (
	maxDatabase   = 64 << 20  // dpkg status, apk installed
	maxRPM        = 512 << 20 // an rpm database, copied to a temporary file for the rpm library
	maxManifest   = 1 << 20   // package.json, METADATA, os-release
	maxArchive    = 64 << 20  // a Java archive
	maxExecutable = 1 << 30   // an executable scanned for Go build information
)

// ErrTooManyPackages is returned for an image whose files name more packages than a scan keeps in memory
// (a package database of millions of tiny records compresses to little).
var ErrTooManyPackages = errors.New("inventory: the image has too many packages to scan")

// maxPackages bounds the packages gathered from one image (a variable for the tests): the largest real
// images have tens of thousands.
var maxPackages = 500_000

// Read returns the inventory of the image whose layers are given in the manifest's order, reading each
// layer blob once through open (a blob store's Open). It returns imagefs.ErrUnsupported when a layer is
// not a file system layer.
func Read[R io.ReadCloser](ctx context.Context, open func(context.Context, digest.Digest) (R, error), layers []ocispec.Descriptor) (*Inventory, error) {
	var c collector
	err := imagefs.Walk(ctx, open, layers, c.want, c.read)
	if err != nil {
		return nil, err
	}
	for _, e := range c.errs {
		slog.WarnContext(ctx, "inventory: a file of the image could not be read", "error", e)
	}
	return c.inventory(), nil
}

// collector gathers what the files of an image say. Operating-system packages wait for the OS (its
// os-release may be in a lower layer than the package database) to get their ecosystem.
type collector struct {
	osRelease map[string]OS // by path: etc/os-release wins over usr/lib/os-release
	debs      []Package
	apks      []Package
	rpms      map[string][]Package // by database file name, the newest format wins
	langs     []Package
	errs      []string
	window    *bufio.Reader // readGoBinary's, kept from one executable to the next
}

func (c *collector) want(name string, mode fs.FileMode, size int64) bool {
	switch kindOf(name) {
	case kindOSRelease, kindNPM, kindPython:
		return size <= maxManifest
	case kindDpkg, kindApk:
		return size <= maxDatabase
	case kindRPM:
		return size <= maxRPM
	case kindJava:
		return size <= maxArchive
	}
	return mode&0o111 != 0 && size >= 64 && size <= maxExecutable
}

type fileKind int

const (
	kindNone fileKind = iota
	kindOSRelease
	kindDpkg
	kindApk
	kindRPM
	kindNPM
	kindPython
	kindJava
)

func kindOf(name string) fileKind {
	dir, base := path.Split(name)
	switch {
	case name == "etc/os-release" || name == "usr/lib/os-release":
		return kindOSRelease
	case name == "var/lib/dpkg/status" ||
		dir == "var/lib/dpkg/status.d/" && !strings.HasSuffix(base, ".md5sums"):
		return kindDpkg
	case name == "lib/apk/db/installed" || name == "usr/lib/apk/db/installed":
		return kindApk
	case (dir == "var/lib/rpm/" || dir == "usr/lib/sysimage/rpm/") &&
		(base == "Packages" || base == "Packages.db" || base == "rpmdb.sqlite"):
		return kindRPM
	case base == "package.json" && isNodeModule(dir):
		return kindNPM
	case base == "METADATA" && strings.HasSuffix(dir, ".dist-info/"),
		base == "PKG-INFO" && strings.HasSuffix(dir, ".egg-info/"):
		return kindPython
	case strings.HasSuffix(base, ".jar") || strings.HasSuffix(base, ".war") || strings.HasSuffix(base, ".ear"):
		return kindJava
	}
	return kindNone
}

// isNodeModule says whether dir is a package's directory right under node_modules:
// ".../node_modules/name/" or ".../node_modules/@scope/name/".
func isNodeModule(dir string) bool {
	dir = strings.TrimSuffix(dir, "/")
	parent, name := path.Split(dir)
	if name == "" || name[0] == '.' {
		return false
	}
	if p, scope := path.Split(strings.TrimSuffix(parent, "/")); strings.HasPrefix(scope, "@") {
		parent = p
	}
	return parent == "node_modules/" || strings.HasSuffix(parent, "/node_modules/")
}

func (c *collector) read(f imagefs.File, r io.Reader) error {
	var err error
	switch kindOf(f.Name) {
	case kindOSRelease:
		var b []byte
		if b, err = io.ReadAll(r); err == nil {
			if c.osRelease == nil {
				c.osRelease = make(map[string]OS)
			}
			c.osRelease[f.Name] = ParseOSRelease(b)
		}
	case kindDpkg:
		var b []byte
		if b, err = io.ReadAll(r); err == nil {
			for _, p := range parseDpkgStatus(b, maxPackages-c.count()) {
				p.Path = f.Name
				c.debs = append(c.debs, p)
			}
		}
	case kindApk:
		var b []byte
		if b, err = io.ReadAll(r); err == nil {
			for _, p := range parseApkInstalled(b, maxPackages-c.count()) {
				p.Path = f.Name
				c.apks = append(c.apks, p)
			}
		}
	case kindRPM:
		var pkgs []Package
		if pkgs, err = readRPM(r); err == nil {
			if c.rpms == nil {
				c.rpms = make(map[string][]Package)
			}
			for i := range pkgs {
				pkgs[i].Path = f.Name
			}
			c.rpms[path.Base(f.Name)] = pkgs
		}
	case kindNPM:
		c.addLang(f.Name, readNPM(r)...)
	case kindPython:
		c.addLang(f.Name, readPython(r)...)
	case kindJava:
		var pkgs []Package
		if pkgs, err = readJava(r); err == nil {
			c.addLang(f.Name, pkgs...)
		}
	default:
		var pkgs []Package
		if c.window == nil {
			c.window = newWindow()
		}
		if pkgs, err = readGoBinary(r, c.window); err == nil {
			c.addLang(f.Name, pkgs...)
		}
	}
	if c.count() > maxPackages {
		return fmt.Errorf("%w: more than %d", ErrTooManyPackages, maxPackages)
	}
	if err != nil {
		// A file that cannot be parsed does not fail the scan: what the others say is still true.
		c.errs = append(c.errs, fmt.Sprintf("%s: %v", f.Name, err))
	}
	return nil
}

// count is how many packages the collector holds.
func (c *collector) count() int {
	n := len(c.debs) + len(c.apks) + len(c.langs)
	for _, pkgs := range c.rpms {
		n += len(pkgs)
	}
	return n
}

func (c *collector) addLang(name string, pkgs ...Package) {
	for _, p := range pkgs {
		p.Path = name
		c.langs = append(c.langs, p)
	}
}

func (c *collector) inventory() *Inventory {
	inv := &Inventory{}
	if os, ok := c.osRelease["etc/os-release"]; ok {
		inv.OS = os
	} else {
		inv.OS = c.osRelease["usr/lib/os-release"]
	}
	ecosystem := inv.OS.Ecosystem()
	var distro string // the purl qualifier: debian-12
	if inv.OS.ID != "" {
		distro = inv.OS.ID + "-" + inv.OS.VersionID
	}
	for _, p := range c.debs {
		p.Ecosystem = ecosystem
		p.PURL = purl("deb", inv.OS.ID, p.Name, p.Version, "arch", p.Arch, "distro", distro)
		inv.Packages = append(inv.Packages, p)
	}
	for _, p := range c.apks {
		p.Ecosystem = ecosystem
		p.PURL = purl("apk", inv.OS.ID, p.Name, p.Version, "arch", p.Arch, "distro", inv.OS.VersionID)
		inv.Packages = append(inv.Packages, p)
	}
	for _, db := range []string{"rpmdb.sqlite", "Packages.db", "Packages"} {
		if pkgs, ok := c.rpms[db]; ok {
			for _, p := range pkgs {
				p.Ecosystem = ecosystem
				if inv.OS.ID == "rhel" {
					// Red Hat's advisories name binary rpms (openssl-libs), Rocky's and Alma's
					// source rpms (openssl), as Debian's and Alpine's do.
					p.SourceName = ""
				}
				epoch, version, ok := strings.Cut(p.Version, ":") // the purl has the epoch as a qualifier
				if !ok {
					epoch, version = "", p.Version
				}
				p.PURL = purl("rpm", rpmNamespace(inv.OS.ID), p.Name, version, "arch", p.Arch, "epoch", epoch, "distro", distro)
				inv.Packages = append(inv.Packages, p)
			}
			break
		}
	}
	inv.Packages = append(inv.Packages, c.langs...)
	// In a stable order, so that the same image always gives the same bill of materials; a package
	// database a layer repeats (tar allows it) gives its packages once.
	slices.SortFunc(inv.Packages, func(a, b Package) int {
		return cmp.Or(cmp.Compare(a.Ecosystem, b.Ecosystem), cmp.Compare(a.Name, b.Name),
			cmp.Compare(a.Version, b.Version), cmp.Compare(a.Path, b.Path), cmp.Compare(a.Arch, b.Arch))
	})
	inv.Packages = slices.Compact(inv.Packages)
	return inv
}

func rpmNamespace(id string) string {
	if id == "rhel" {
		return "redhat"
	}
	return id
}

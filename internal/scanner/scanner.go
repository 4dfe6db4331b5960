// Package scanner is Wharf's image scanner: it reads an image's inventory from its layer blobs and matches
// it against the vulnerability database.
package scanner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/inventory"
	"github.com/wharf-dev/wharf/internal/inventory/imagefs"
	"github.com/wharf-dev/wharf/internal/manifest"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/vulndb"
)

// Open opens a blob by digest: a blob store's Open.
type Open func(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, error)

// Scanner scans images whose blobs open opens against db. It implements registry.Scanner.
type Scanner struct {
	open Open
	db   *vulndb.DB
}

// New returns a scanner reading blobs with open and matching against db.
func New(open Open, db *vulndb.DB) *Scanner {
	return &Scanner{open: open, db: db}
}

// Image configurations: what an image (not an artifact) has as its config.
const (
	ociImageConfig    = "application/vnd.oci.image.config.v1+json"
	dockerImageConfig = "application/vnd.docker.container.image.v1+json"
)

// Scan reads the image's final file system and returns its whole inventory, its findings and when the
// database was last updated. BASIC scans match the operating system's packages only; ENHANCED scans
// language packages too. An index, an artifact, a layer that is not a file system layer (or not distributable), and
// an image with neither a distribution nor packages the database knows are unsupported.
func (s *Scanner) Scan(ctx context.Context, img registry.ScanImage) (inventory.Inventory, []vulndb.Finding, time.Time, error) {
	unsupported := func(format string, args ...any) (inventory.Inventory, []vulndb.Finding, time.Time, error) {
		return inventory.Inventory{}, nil, time.Time{}, fmt.Errorf("%w: %s", registry.ErrUnsupportedImage, fmt.Sprintf(format, args...))
	}
	m, err := manifest.Parse(img.MediaType, img.Manifest)
	if err != nil {
		return inventory.Inventory{}, nil, time.Time{}, fmt.Errorf("parsing the manifest of %s: %w", img.Digest, err)
	}
	if m.Kind != manifest.Image {
		return unsupported("%s is an index", img.Digest)
	}
	if m.ArtifactType != ociImageConfig && m.ArtifactType != dockerImageConfig {
		return unsupported("%s is an artifact of type %s", img.Digest, m.ArtifactType)
	}
	for _, l := range m.Layers {
		if manifest.NonDistributable(l) {
			return unsupported("%s has a non-distributable layer %s", img.Digest, l.Digest)
		}
	}
	// Read before matching: the time reported is never newer than the advisories matched.
	updated, err := s.db.UpdatedAt(ctx)
	if err != nil {
		return inventory.Inventory{}, nil, time.Time{}, err
	}
	inv, err := inventory.Read(ctx, s.open, m.Layers)
	if errors.Is(err, imagefs.ErrUnsupported) {
		return unsupported("%v", err)
	}
	if err != nil {
		return inventory.Inventory{}, nil, time.Time{}, err
	}
	scanned := ofScanType(*inv, img.ScanType)
	if !supported(&scanned) {
		return unsupported("%s has no distribution or packages known to the vulnerability database", img.Digest)
	}
	findings, err := s.db.Match(ctx, scanned)
	if err != nil {
		return inventory.Inventory{}, nil, time.Time{}, err
	}
	return *inv, findings, updated, nil
}

// Match matches a stored inventory against the database as a scan of scanType would, without reading
// the image again, and returns its findings and when the database was last updated. It implements
// registry.Matcher.
func (s *Scanner) Match(ctx context.Context, inv inventory.Inventory, scanType string) ([]vulndb.Finding, time.Time, error) {
	updated, err := s.db.UpdatedAt(ctx) // read first: never newer than the advisories matched
	if err != nil {
		return nil, time.Time{}, err
	}
	findings, err := s.db.Match(ctx, ofScanType(inv, scanType))
	if err != nil {
		return nil, time.Time{}, err
	}
	return findings, updated, nil
}

// ofScanType is the part of an inventory a scan of scanType matches: BASIC scans the operating system's
// packages only, ENHANCED language packages too. The whole inventory is what is stored.
func ofScanType(inv inventory.Inventory, scanType string) inventory.Inventory {
	if scanType != registry.ScanTypeEnhanced {
		inv.Packages = osPackages(inv.Packages)
	}
	return inv
}

// osPackages keeps the packages of the operating system's package databases (dpkg, apk, rpm).
func osPackages(pkgs []inventory.Package) []inventory.Package {
	var out []inventory.Package
	for _, p := range pkgs {
		if isOSPackage(p) {
			out = append(out, p)
		}
	}
	return out
}

func isOSPackage(p inventory.Package) bool {
	for _, typ := range []string{"pkg:deb/", "pkg:apk/", "pkg:rpm/"} {
		if strings.HasPrefix(p.PURL, typ) {
			return true
		}
	}
	return false
}

// supported says whether the database can say anything of the image: its distribution is one advisories
// are published for, or it has packages of such an ecosystem.
func supported(inv *inventory.Inventory) bool {
	if inv.OS.Ecosystem() != "" {
		return true
	}
	for _, p := range inv.Packages {
		if p.Ecosystem != "" {
			return true
		}
	}
	return false
}

// Package sbom writes an image's inventory as a software bill of materials: SPDX 2.3 JSON or CycloneDX 1.5
// JSON. The documents are reproducible: the same image and inventory give the same bytes, their unique
// identifiers (SPDX's document namespace, CycloneDX's serial number) derived from what they hold.
package sbom

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/inventory"
)

// Format is a kind of SBOM document, as the API names it.
type Format string

const (
	SPDX      Format = "SPDX"
	CycloneDX Format = "CYCLONEDX"
)

// ParseFormat reads a format's name in any case ("spdx", "CycloneDX"); "" is SPDX.
func ParseFormat(s string) (Format, error) {
	switch strings.ToUpper(s) {
	case "", string(SPDX):
		return SPDX, nil
	case string(CycloneDX):
		return CycloneDX, nil
	}
	return "", fmt.Errorf("unknown SBOM format %q: SPDX or CYCLONEDX", s)
}

// MediaType is the media type of the format's documents, also the artifact type of an SBOM attached to an
// image.
func (f Format) MediaType() string {
	if f == CycloneDX {
		return "application/vnd.cyclonedx+json"
	}
	return "application/spdx+json"
}

// FileName is the conventional name of a document of the format.
func (f Format) FileName() string {
	if f == CycloneDX {
		return "sbom.cdx.json"
	}
	return "sbom.spdx.json"
}

// Image is the image an SBOM describes.
type Image struct {
	Repository string        // "team/app"
	Digest     digest.Digest // of its manifest
	// Created is the document's creation time. The caller chooses a time that does not change for the same
	// image (its push time, say), so that the document does not either.
	Created time.Time
}

// Encode writes the inventory of an image as a document of format f.
func Encode(f Format, img Image, inv inventory.Inventory) ([]byte, error) {
	switch f {
	case SPDX:
		return encodeSPDX(img, inv)
	case CycloneDX:
		return encodeCycloneDX(img, inv)
	}
	return nil, fmt.Errorf("unknown SBOM format %q", f)
}

// Tool names what writes the documents.
const Tool = "wharf"

// packages returns the inventory's packages in a stable order, without exact duplicates or nameless ones
// (both formats require a name), each with a reference unique in the document and stable for the package:
// a hash of what identifies it.
func packages(inv inventory.Inventory) []pkg {
	seen := map[string]bool{}
	var out []pkg
	for _, p := range inv.Packages {
		if p.Name == "" {
			continue
		}
		key := strings.Join([]string{p.Name, p.Version, p.SourceName, p.SourceVersion, p.Ecosystem, p.PURL, p.Arch, p.Path}, "\x00")
		if seen[key] {
			continue
		}
		seen[key] = true
		sum := sha256.Sum256([]byte(key))
		out = append(out, pkg{Package: p, ref: hex.EncodeToString(sum[:8])})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.ref < b.ref
	})
	return out
}

type pkg struct {
	inventory.Package
	ref string
}

// imagePURL is the image's package URL, pkg:oci/NAME@DIGEST, NAME the last part of the repository's.
// It names no registry host: the same image reached at another address has the same document.
func imagePURL(img Image) string {
	name := img.Repository[strings.LastIndex(img.Repository, "/")+1:]
	return "pkg:oci/" + url.PathEscape(strings.ToLower(name)) + "@" + url.QueryEscape(img.Digest.String())
}

// documentName names the document by its image: "team/app@sha256:…".
func documentName(img Image) string { return img.Repository + "@" + img.Digest.String() }

// urlNamespace is RFC 9562's name space of URLs, in which the documents' UUIDs are named.
var urlNamespace = [16]byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}

// contentUUID is a name-based (version 5) UUID of a document's content: the same content, the same UUID;
// other content, another.
func contentUUID(content []byte) string {
	sum := sha256.Sum256(content)
	h := sha1.New()
	h.Write(urlNamespace[:])
	h.Write([]byte("https://github.com/wharf-dev/wharf/sbom/" + hex.EncodeToString(sum[:])))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	s := hex.EncodeToString(u[:])
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

func timestamp(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

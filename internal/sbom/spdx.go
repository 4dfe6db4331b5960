package sbom

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/wharf-dev/wharf/internal/inventory"
)

// SPDX 2.3 JSON, the members this package writes.
type spdxDocument struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreationInfo   `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	Name                  string            `json:"name"`
	SPDXID                string            `json:"SPDXID"`
	VersionInfo           string            `json:"versionInfo,omitempty"`
	DownloadLocation      string            `json:"downloadLocation"`
	FilesAnalyzed         bool              `json:"filesAnalyzed"`
	SourceInfo            string            `json:"sourceInfo,omitempty"`
	Description           string            `json:"description,omitempty"`
	PrimaryPackagePurpose string            `json:"primaryPackagePurpose,omitempty"`
	Checksums             []spdxChecksum    `json:"checksums,omitempty"`
	ExternalRefs          []spdxExternalRef `json:"externalRefs,omitempty"`
}

type spdxChecksum struct {
	Algorithm     string `json:"algorithm"`
	ChecksumValue string `json:"checksumValue"`
}

type spdxExternalRef struct {
	ReferenceCategory string `json:"referenceCategory"`
	ReferenceType     string `json:"referenceType"`
	ReferenceLocator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	SPDXElementID      string `json:"spdxElementId"`
	RelationshipType   string `json:"relationshipType"`
	RelatedSPDXElement string `json:"relatedSpdxElement"`
}

const (
	spdxDocumentID = "SPDXRef-DOCUMENT"
	spdxImageID    = "SPDXRef-Image"
	spdxOSID       = "SPDXRef-OperatingSystem"
	noAssertion    = "NOASSERTION"
)

// encodeSPDX writes an SPDX 2.3 document: the document DESCRIBES the image, which CONTAINS its operating
// system and each of its packages.
func encodeSPDX(img Image, inv inventory.Inventory) ([]byte, error) {
	doc := spdxDocument{
		SPDXVersion:  "SPDX-2.3",
		DataLicense:  "CC0-1.0",
		SPDXID:       spdxDocumentID,
		Name:         documentName(img),
		CreationInfo: spdxCreationInfo{Created: timestamp(img.Created), Creators: []string{"Tool: " + Tool}},
		Packages: []spdxPackage{{
			Name: img.Repository, SPDXID: spdxImageID, VersionInfo: img.Digest.String(), DownloadLocation: noAssertion,
			PrimaryPackagePurpose: "CONTAINER",
			Checksums:             []spdxChecksum{{Algorithm: strings.ToUpper(img.Digest.Algorithm().String()), ChecksumValue: img.Digest.Encoded()}},
			ExternalRefs:          []spdxExternalRef{purlRef(imagePURL(img))},
		}},
		Relationships: []spdxRelationship{{spdxDocumentID, "DESCRIBES", spdxImageID}},
	}
	if inv.OS.ID != "" {
		doc.Packages = append(doc.Packages, spdxPackage{
			Name: inv.OS.ID, SPDXID: spdxOSID, VersionInfo: inv.OS.VersionID, DownloadLocation: noAssertion,
			Description: inv.OS.PrettyName, PrimaryPackagePurpose: "OPERATING-SYSTEM",
		})
		doc.Relationships = append(doc.Relationships, spdxRelationship{spdxImageID, "CONTAINS", spdxOSID})
	}
	for _, p := range packages(inv) {
		sp := spdxPackage{Name: p.Name, SPDXID: "SPDXRef-Package-" + p.ref, VersionInfo: p.Version, DownloadLocation: noAssertion,
			PrimaryPackagePurpose: "LIBRARY"}
		if p.SourceName != "" || p.SourceVersion != "" {
			sp.SourceInfo = "built from source package " + strings.TrimSuffix(p.AdvisoryName()+" "+p.AdvisoryVersion(), " ")
		}
		if p.PURL != "" {
			sp.ExternalRefs = []spdxExternalRef{purlRef(p.PURL)}
		}
		doc.Packages = append(doc.Packages, sp)
		doc.Relationships = append(doc.Relationships, spdxRelationship{spdxImageID, "CONTAINS", sp.SPDXID})
	}
	// The namespace is unique to the document: a UUID of all else it holds.
	content, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	doc.DocumentNamespace = "https://spdx.org/spdxdocs/" + strings.ReplaceAll(img.Repository, "/", "-") + "-" + contentUUID(content)
	return marshal(doc)
}

func purlRef(purl string) spdxExternalRef {
	return spdxExternalRef{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl", ReferenceLocator: purl}
}

// marshal writes a document indented (people read SBOMs too), with a final newline, and package URLs'
// '&' as is.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	e.SetIndent("", "  ")
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

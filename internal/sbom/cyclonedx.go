package sbom

import (
	"encoding/json"

	"github.com/wharf-dev/wharf/internal/inventory"
)

// CycloneDX 1.5 JSON, the members this package writes.
type cdxBOM struct {
	BOMFormat    string          `json:"bomFormat"`
	SpecVersion  string          `json:"specVersion"`
	SerialNumber string          `json:"serialNumber,omitempty"`
	Version      int             `json:"version"`
	Metadata     cdxMetadata     `json:"metadata"`
	Components   []cdxComponent  `json:"components"`
	Dependencies []cdxDependency `json:"dependencies"`
}

type cdxMetadata struct {
	Timestamp string       `json:"timestamp"`
	Tools     cdxTools     `json:"tools"`
	Component cdxComponent `json:"component"`
}

type cdxTools struct {
	Components []cdxComponent `json:"components"`
}

type cdxComponent struct {
	BOMRef      string        `json:"bom-ref,omitempty"`
	Type        string        `json:"type"`
	Name        string        `json:"name"`
	Version     string        `json:"version,omitempty"`
	Description string        `json:"description,omitempty"`
	Hashes      []cdxHash     `json:"hashes,omitempty"`
	PURL        string        `json:"purl,omitempty"`
	Properties  []cdxProperty `json:"properties,omitempty"`
}

type cdxHash struct {
	Alg     string `json:"alg"`
	Content string `json:"content"`
}

type cdxProperty struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type cdxDependency struct {
	Ref       string   `json:"ref"`
	DependsOn []string `json:"dependsOn,omitempty"`
}

const (
	cdxImageRef = "image"
	cdxOSRef    = "operating-system"
)

// encodeCycloneDX writes a CycloneDX 1.5 document: its metadata's component is the image, its components
// the operating system and the packages, which the image's one dependency entry lists (CycloneDX's way of
// saying what an image is made of).
func encodeCycloneDX(img Image, inv inventory.Inventory) ([]byte, error) {
	image := cdxComponent{BOMRef: cdxImageRef, Type: "container", Name: img.Repository, Version: img.Digest.String(), PURL: imagePURL(img)}
	if img.Digest.Algorithm().String() == "sha256" {
		image.Hashes = []cdxHash{{Alg: "SHA-256", Content: img.Digest.Encoded()}}
	}
	bom := cdxBOM{
		BOMFormat:   "CycloneDX",
		SpecVersion: "1.5",
		Version:     1,
		Metadata: cdxMetadata{Timestamp: timestamp(img.Created), Component: image,
			Tools: cdxTools{Components: []cdxComponent{{Type: "application", Name: Tool}}}},
		Components: []cdxComponent{},
	}
	contains := []string{}
	if inv.OS.ID != "" {
		bom.Components = append(bom.Components, cdxComponent{BOMRef: cdxOSRef, Type: "operating-system", Name: inv.OS.ID,
			Version: inv.OS.VersionID, Description: inv.OS.PrettyName})
		contains = append(contains, cdxOSRef)
	}
	for _, p := range packages(inv) {
		c := cdxComponent{BOMRef: "pkg-" + p.ref, Type: "library", Name: p.Name, Version: p.Version, PURL: p.PURL}
		if p.SourceName != "" {
			c.Properties = append(c.Properties, cdxProperty{"wharf:package:sourceName", p.SourceName})
		}
		if p.SourceVersion != "" {
			c.Properties = append(c.Properties, cdxProperty{"wharf:package:sourceVersion", p.SourceVersion})
		}
		if p.Path != "" {
			c.Properties = append(c.Properties, cdxProperty{"wharf:package:path", p.Path})
		}
		bom.Components = append(bom.Components, c)
		contains = append(contains, c.BOMRef)
	}
	bom.Dependencies = []cdxDependency{{Ref: cdxImageRef, DependsOn: contains}}
	// The serial number is unique to the document: a UUID of all else it holds.
	content, err := json.Marshal(bom)
	if err != nil {
		return nil, err
	}
	bom.SerialNumber = "urn:uuid:" + contentUUID(content)
	return marshal(bom)
}

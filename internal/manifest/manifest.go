// Package manifest parses and checks image manifests and indexes: Docker schema 1 manifests (signed or
// not), Docker schema 2 manifests and manifest lists, OCI image manifests and indexes, including
// artifacts, subjects, non-distributable layers and descriptors with embedded data. It never changes the
// bytes it is given: the registry stores them as sent. It also converts images between formats for
// clients that do not understand the stored one (convert.go).
package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/strictjson"
)

// Media types of the manifests Wharf accepts.
const (
	OCIManifest       = ocispec.MediaTypeImageManifest
	OCIIndex          = ocispec.MediaTypeImageIndex
	DockerManifest    = "application/vnd.docker.distribution.manifest.v2+json"
	DockerList        = "application/vnd.docker.distribution.manifest.list.v2+json"
	DockerSchema1     = "application/vnd.docker.distribution.manifest.v1+json"
	DockerSchema1JWS  = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	EmptyJSON         = ocispec.MediaTypeEmptyJSON
	dockerForeignType = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// Kind tells manifests that reference blobs from indexes that reference manifests.
type Kind int

const (
	Image Kind = iota
	Index
)

// Manifest is what the registry needs to know of a manifest.
type Manifest struct {
	Kind         Kind
	MediaType    string
	ArtifactType string // the manifest's artifactType, or for an image without one its config's media type
	Config       *ocispec.Descriptor
	Layers       []ocispec.Descriptor
	Manifests    []ocispec.Descriptor
	Subject      *ocispec.Descriptor
	Annotations  map[string]string
}

// ErrInvalid wraps every reason a manifest is refused.
var ErrInvalid = errors.New("manifest invalid")

// ErrUnsupported is returned for manifest formats Wharf does not store.
var ErrUnsupported = errors.New("manifest media type unsupported")

// ErrSyntax is wrapped by the errors of a manifest that is not JSON or does not say what it is.
var ErrSyntax = fmt.Errorf("%w: syntax", ErrInvalid)

func syntax(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrSyntax, fmt.Sprintf(format, args...))
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

type wire struct {
	SchemaVersion *int                 `json:"schemaVersion"`
	MediaType     string               `json:"mediaType"`
	ArtifactType  string               `json:"artifactType"`
	Config        *ocispec.Descriptor  `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
	Manifests     []ocispec.Descriptor `json:"manifests"`
	Subject       *ocispec.Descriptor  `json:"subject"`
	Annotations   map[string]string    `json:"annotations"`
}

// IsManifestType reports whether mediaType is one of the manifest types Wharf stores.
func IsManifestType(mediaType string) bool {
	switch mediaType {
	case OCIManifest, OCIIndex, DockerManifest, DockerList, DockerSchema1, DockerSchema1JWS:
		return true
	}
	return false
}

// IsSchema1 reports whether mediaType is Docker's schema 1, signed or not.
func IsSchema1(mediaType string) bool {
	return mediaType == DockerSchema1 || mediaType == DockerSchema1JWS
}

// Parse checks body, sent with the Content-Type contentType (may be empty), and returns what it references.
func Parse(contentType string, body []byte) (*Manifest, error) {
	ct := contentType
	if ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err == nil {
			ct = mt
		}
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, syntax("manifest is not a JSON object")
	}
	if IsSchema1(ct) || (ct == "" || ct == "application/json") && isSchema1(body) {
		m, err := parseSchema1(body)
		if err == nil && ct == DockerSchema1JWS && m.MediaType != DockerSchema1JWS {
			return nil, invalid("a signed manifest (%s) without signatures", ct)
		}
		return m, err
	}
	// Strictly: the bytes are stored as sent and read by every client, so what Wharf checks must be what
	// any parser reads — no member twice, none in other letter case, nothing after the object.
	var w wire
	if err := strictjson.Decode(body, &w); err != nil {
		return nil, syntax("malformed JSON: %v", err)
	}
	if w.SchemaVersion == nil {
		return nil, invalid("schemaVersion is missing")
	}
	if *w.SchemaVersion == 1 {
		return nil, invalid("a schema 1 manifest sent as %s", ct)
	}
	if *w.SchemaVersion != 2 {
		return nil, invalid("schemaVersion %d is not 2", *w.SchemaVersion)
	}

	mt := w.MediaType
	switch {
	case mt != "" && IsManifestType(ct) && mt != ct:
		return nil, invalid("mediaType %q does not match Content-Type %q", mt, ct)
	case mt == "" && IsManifestType(ct):
		mt = ct
	case mt == "" && ct == "":
		// Neither the request nor the manifest says what it is (a manifest fetched and put back without
		// its type): not guessed, as ECR does not.
		return nil, syntax("the manifest has no mediaType and none was given with it")
	case mt == "":
		if w.Manifests != nil {
			mt = OCIIndex
		} else {
			mt = OCIManifest
		}
	}
	if IsSchema1(mt) {
		return nil, invalid("a schema 2 manifest says it is %s", mt)
	}
	if !IsManifestType(mt) {
		return nil, fmt.Errorf("%w: %s", ErrUnsupported, mt)
	}

	m := &Manifest{MediaType: mt, ArtifactType: w.ArtifactType, Annotations: w.Annotations}
	if w.Subject != nil {
		if err := checkDescriptor("subject", w.Subject); err != nil {
			return nil, err
		}
		m.Subject = w.Subject
	}
	if w.ArtifactType != "" {
		if err := checkMediaType("artifactType", w.ArtifactType); err != nil {
			return nil, err
		}
	}
	switch mt {
	case OCIManifest, DockerManifest:
		m.Kind = Image
		if w.Manifests != nil {
			return nil, invalid("an image manifest has no manifests field")
		}
		if w.Config == nil {
			return nil, invalid("config is missing")
		}
		if err := checkDescriptor("config", w.Config); err != nil {
			return nil, err
		}
		m.Config = w.Config
		for i := range w.Layers {
			if err := checkDescriptor(fmt.Sprintf("layers[%d]", i), &w.Layers[i]); err != nil {
				return nil, err
			}
		}
		m.Layers = w.Layers
		if m.ArtifactType == "" {
			m.ArtifactType = w.Config.MediaType
		}
	case OCIIndex, DockerList:
		m.Kind = Index
		if w.Config != nil || w.Layers != nil {
			return nil, invalid("an index has no config or layers")
		}
		if w.Manifests == nil && mt == DockerList {
			return nil, invalid("manifests is missing")
		}
		for i := range w.Manifests {
			if err := checkDescriptor(fmt.Sprintf("manifests[%d]", i), &w.Manifests[i]); err != nil {
				return nil, err
			}
		}
		m.Manifests = w.Manifests
	}
	return m, nil
}

func checkMediaType(field, mt string) error {
	if _, _, err := mime.ParseMediaType(mt); err != nil || strings.ContainsAny(mt, " \t") {
		return invalid("%s: media type %q is malformed", field, mt)
	}
	return nil
}

func checkDescriptor(field string, d *ocispec.Descriptor) error {
	if d.MediaType == "" {
		return invalid("%s: mediaType is missing", field)
	}
	if err := checkMediaType(field, d.MediaType); err != nil {
		return err
	}
	if err := d.Digest.Validate(); err != nil {
		return invalid("%s: digest %q: %v", field, d.Digest, err)
	}
	if d.Size < 0 {
		return invalid("%s: size %d is negative", field, d.Size)
	}
	if d.Data != nil {
		if int64(len(d.Data)) != d.Size {
			return invalid("%s: data holds %d bytes, size says %d", field, len(d.Data), d.Size)
		}
		if d.Digest.Algorithm().FromBytes(d.Data) != d.Digest {
			return invalid("%s: data does not match digest %s", field, d.Digest)
		}
	}
	return nil
}

// NonDistributable reports whether a layer is kept outside the registry: it carries urls, or has a
// non-distributable media type. Such layers need not be pushed before the manifest.
func NonDistributable(d ocispec.Descriptor) bool {
	return len(d.URLs) > 0 || d.MediaType == dockerForeignType ||
		strings.HasPrefix(d.MediaType, "application/vnd.oci.image.layer.nondistributable.")
}

// Blobs returns the blobs the repository must hold for this manifest, as the manifest describes them
// (digest and size): the config and the distributable layers.
func (m *Manifest) Blobs() []ocispec.Descriptor {
	if m.Kind != Image {
		return nil
	}
	out := make([]ocispec.Descriptor, 0, 1+len(m.Layers))
	if m.Config != nil {
		out = append(out, *m.Config)
	}
	for _, l := range m.Layers {
		if !NonDistributable(l) {
			out = append(out, l)
		}
	}
	return out
}

// Size is ECR's imageSizeInBytes: for an image the sizes of its config and layers as stored (compressed),
// for an index the size of the index itself. Sizes a schema 1 manifest does not give count as 0.
func (m *Manifest) Size(manifestLen int) int64 {
	if m.Kind != Image {
		return int64(manifestLen)
	}
	var n int64
	if m.Config != nil {
		n = m.Config.Size
	}
	for _, l := range m.Layers {
		n += max(l.Size, 0)
	}
	return n
}

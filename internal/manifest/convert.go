package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Conversions for clients that do not understand the stored format, as ECR's "Image Manifest Conversion"
// table lists them for pulls by tag:
//
//	requested \ stored   schema 1          schema 2          OCI
//	schema 1             as stored         → schema 1        → schema 1
//	schema 2             as stored (*)     as stored         → schema 2
//	OCI                  none              → OCI             as stored
//
// (*) no translation: the client falls back to schema 1. Conversions never change the blobs, only the
// manifest; a converted manifest has its own digest, the digest of its bytes (of its payload when signed).

// ErrNoConversion is returned when an image cannot be expressed in the requested format.
var ErrNoConversion = errors.New("no conversion to the requested manifest format")

func noConversion(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNoConversion, fmt.Sprintf(format, args...))
}

// Docker schema 2 media types of configs and layers, and their OCI counterparts.
const (
	dockerConfig     = "application/vnd.docker.container.image.v1+json"
	ociConfig        = ocispec.MediaTypeImageConfig
	ociLayerGzip     = ocispec.MediaTypeImageLayerGzip
	ociLayerTar      = ocispec.MediaTypeImageLayer
	ociForeignLayer  = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
	dockerForeignOut = dockerForeignType
)

var toOCI = map[string]string{dockerConfig: ociConfig, dockerLayer: ociLayerGzip, dockerForeignOut: ociForeignLayer}
var toDocker = map[string]string{ociConfig: dockerConfig, ociLayerGzip: dockerLayer, ociForeignLayer: dockerForeignOut}

// Accepts reports whether a client that accepts the media types in accepted (without parameters; "*/*"
// and "type/*" match as in HTTP) understands mediaType. Schema 1 is one format, signed or not.
func Accepts(accepted []string, mediaType string) bool {
	for _, a := range accepted {
		switch {
		case a == mediaType, a == "*/*", IsSchema1(a) && IsSchema1(mediaType):
			return true
		case strings.HasSuffix(a, "/*") && strings.HasPrefix(mediaType, a[:len(a)-1]):
			return true
		}
	}
	return false
}

// DefaultPlatform returns the image an index (or manifest list) lists for linux/amd64, which Distribution
// serves to clients that understand no index; ok is false when there is none.
func DefaultPlatform(m *Manifest) (d ocispec.Descriptor, ok bool) {
	for _, c := range m.Manifests {
		if p := c.Platform; p != nil && p.OS == "linux" && p.Architecture == "amd64" && (c.MediaType == DockerManifest || c.MediaType == OCIManifest || IsSchema1(c.MediaType)) {
			return c, true
		}
	}
	return ocispec.Descriptor{}, false
}

// Targets lists the formats an image stored as mediaType can be converted to, most faithful first.
func Targets(mediaType string) []string {
	switch mediaType {
	case DockerManifest:
		return []string{OCIManifest, DockerSchema1JWS}
	case OCIManifest:
		return []string{DockerManifest, DockerSchema1JWS}
	}
	return nil
}

type descriptorOut struct {
	MediaType string        `json:"mediaType"`
	Size      int64         `json:"size"`
	Digest    digest.Digest `json:"digest"`
	URLs      []string      `json:"urls,omitempty"`
}

type schema2Out struct {
	SchemaVersion int             `json:"schemaVersion"`
	MediaType     string          `json:"mediaType"`
	Config        descriptorOut   `json:"config"`
	Layers        []descriptorOut `json:"layers"`
}

// ConvertSchema2 rewrites an image manifest between Docker schema 2 and OCI (to is DockerManifest or
// OCIManifest): the same config and layers under the other format's media types. Annotations and
// embedded data are dropped; an artifact, a referrer (subject) or a blob with no counterpart type (zstd,
// uncompressed layers to Docker) has no conversion.
func ConvertSchema2(m *Manifest, to string) ([]byte, error) {
	table := toDocker
	if to == OCIManifest {
		table = toOCI
	} else if to != DockerManifest {
		return nil, noConversion("to %s", to)
	}
	if m.Kind != Image || m.Config == nil || m.MediaType == to || m.Subject != nil {
		return nil, noConversion("%s to %s", m.MediaType, to)
	}
	conv := func(d ocispec.Descriptor) (descriptorOut, error) {
		mt, ok := table[d.MediaType]
		if !ok {
			return descriptorOut{}, noConversion("%s has no counterpart in %s", d.MediaType, to)
		}
		return descriptorOut{MediaType: mt, Size: d.Size, Digest: d.Digest, URLs: d.URLs}, nil
	}
	out := schema2Out{SchemaVersion: 2, MediaType: to, Layers: []descriptorOut{}}
	var err error
	if out.Config, err = conv(*m.Config); err != nil {
		return nil, err
	}
	for _, l := range m.Layers {
		d, err := conv(l)
		if err != nil {
			return nil, err
		}
		out.Layers = append(out.Layers, d)
	}
	return json.MarshalIndent(out, "", "   ")
}

// imageConfig is what a schema 1 conversion reads of an image's configuration.
type imageConfig struct {
	Architecture string `json:"architecture"`
	History      []struct {
		Created    string `json:"created,omitempty"`
		CreatedBy  string `json:"created_by,omitempty"`
		Author     string `json:"author,omitempty"`
		Comment    string `json:"comment,omitempty"`
		EmptyLayer bool   `json:"empty_layer,omitempty"`
	} `json:"history"`
}

type v1Layer struct {
	ID              string `json:"id"`
	Parent          string `json:"parent,omitempty"`
	Created         string `json:"created,omitempty"`
	ContainerConfig struct {
		Cmd []string `json:"Cmd"`
	} `json:"container_config"`
	Author  string `json:"author,omitempty"`
	Comment string `json:"comment,omitempty"`
}

// ToSchema1 converts an image (Docker schema 2 or OCI) to an unsigned schema 1 manifest for repository
// name and tag, from its configuration (config, the config blob's bytes). Each layer gets a v1
// configuration: its history entry, and for the top layer the whole image configuration. History entries
// that made no layer (ENV, CMD…) are left out rather than given the empty layer blob, which the
// repository may not hold. Sign the result to serve it as Docker ≤ 1.9 expects.
func ToSchema1(m *Manifest, config []byte, name, tag string) ([]byte, error) {
	if m.Kind != Image || m.Config == nil || m.Subject != nil || len(m.Layers) == 0 {
		return nil, noConversion("%s to schema 1", m.MediaType)
	}
	if m.Config.MediaType != dockerConfig && m.Config.MediaType != ociConfig {
		return nil, noConversion("config %s is not an image configuration", m.Config.MediaType)
	}
	for _, l := range m.Layers {
		switch l.MediaType {
		case dockerLayer, ociLayerGzip, ociLayerTar:
		default:
			return nil, noConversion("layer %s of type %s", l.Digest, l.MediaType)
		}
	}
	var cfg imageConfig
	if err := json.Unmarshal(config, &cfg); err != nil {
		return nil, noConversion("config: %v", err)
	}
	var full map[string]json.RawMessage
	if err := json.Unmarshal(config, &full); err != nil {
		return nil, noConversion("config: %v", err)
	}
	delete(full, "history")
	delete(full, "rootfs")

	layers := make([]v1Layer, len(m.Layers))
	i := 0
	for _, h := range cfg.History {
		if h.EmptyLayer {
			continue
		}
		if i == len(layers) {
			return nil, noConversion("config history names more layers than the manifest has")
		}
		layers[i] = v1Layer{Created: h.Created, Author: h.Author, Comment: h.Comment}
		if h.CreatedBy != "" {
			layers[i].ContainerConfig.Cmd = []string{h.CreatedBy}
		}
		i++
	}
	if len(cfg.History) > 0 && i != len(layers) {
		return nil, noConversion("config history names %d layers, the manifest %d", i, len(layers))
	}

	out := schema1{SchemaVersion: 1, Name: name, Tag: tag, Architecture: cfg.Architecture}
	compat := make([]string, len(layers))
	parent := ""
	for i := range layers {
		l := &layers[i]
		l.Parent = parent
		desc, _ := json.Marshal(l)
		seed := parent + " " + m.Layers[i].Digest.String() + " " + string(desc)
		if i == len(layers)-1 {
			seed += " " + m.Config.Digest.String()
		}
		sum := sha256.Sum256([]byte(seed))
		l.ID = hex.EncodeToString(sum[:])
		var b []byte
		if i == len(layers)-1 {
			full["id"], _ = json.Marshal(l.ID)
			if parent != "" {
				full["parent"], _ = json.Marshal(parent)
			}
			b, _ = json.Marshal(full)
		} else {
			b, _ = json.Marshal(l)
		}
		compat[i] = string(b)
		parent = l.ID
	}
	for i := len(layers) - 1; i >= 0; i-- {
		out.FSLayers = append(out.FSLayers, struct {
			BlobSum digest.Digest `json:"blobSum"`
		}{m.Layers[i].Digest})
		out.History = append(out.History, struct {
			V1Compatibility string `json:"v1Compatibility"`
		}{compat[i]})
	}
	return json.MarshalIndent(out, "", "   ")
}

package manifest

import (
	"bytes"
	"encoding/json"
	"regexp"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/strictjson"
)

// Docker Image Manifest V2, Schema 1: what Docker 1.9 and older push and pull. Its layers are listed newest
// first with a v1 image configuration each (history[i].v1Compatibility describes fsLayers[i]). A signed
// manifest (…v1+prettyjws) carries JWS signatures whose protected header says which bytes were signed:
// the manifest without its "signatures" member. Docker defines the manifest's digest as the digest of
// those bytes, the payload, so that signing again does not change it.

// dockerLayer is the media type the layers of a schema 1 image have in schema 2.
const dockerLayer = "application/vnd.docker.image.rootfs.diff.tar.gzip"

type schema1 struct {
	SchemaVersion int    `json:"schemaVersion"`
	Name          string `json:"name"`
	Tag           string `json:"tag"`
	Architecture  string `json:"architecture"`
	FSLayers      []struct {
		BlobSum digest.Digest `json:"blobSum"`
	} `json:"fsLayers"`
	History []struct {
		V1Compatibility string `json:"v1Compatibility"`
	} `json:"history"`
	Signatures json.RawMessage `json:"signatures,omitempty"`
}

// v1Image is what Wharf reads of a layer's v1 configuration.
type v1Image struct {
	ID     string `json:"id"`
	Parent string `json:"parent"`
}

var v1ID = regexp.MustCompile(`^[a-f0-9]{64}$`)

// parseSchema1 checks a schema 1 manifest, signed or not. Its layers are given oldest first, as in
// schema 2, with unknown sizes (-1): a schema 1 manifest does not say them.
func parseSchema1(body []byte) (*Manifest, error) {
	var s schema1
	if err := strictjson.Decode(body, &s); err != nil {
		return nil, syntax("malformed JSON: %v", err)
	}
	mt := DockerSchema1
	if s.Signatures != nil {
		payload, err := verifyJWS(body)
		if err != nil {
			return nil, err
		}
		// The signed bytes must say what the whole manifest says: they are what the digest covers.
		var p schema1
		if err := strictjson.Decode(payload, &p); err != nil {
			return nil, invalid("signed payload: malformed JSON: %v", err)
		}
		if p.Signatures != nil {
			return nil, invalid("signed payload holds signatures")
		}
		mt = DockerSchema1JWS
	}
	if s.SchemaVersion != 1 {
		return nil, invalid("schemaVersion %d is not 1", s.SchemaVersion)
	}
	if s.Name == "" {
		return nil, invalid("name is missing")
	}
	if len(s.FSLayers) == 0 {
		return nil, invalid("fsLayers is empty")
	}
	if len(s.History) != len(s.FSLayers) {
		return nil, invalid("%d history entries for %d fsLayers", len(s.History), len(s.FSLayers))
	}
	imgs := make([]v1Image, len(s.History))
	for i, h := range s.History {
		if err := json.Unmarshal([]byte(h.V1Compatibility), &imgs[i]); err != nil {
			return nil, invalid("history[%d].v1Compatibility is not a JSON object: %v", i, err)
		}
		if !v1ID.MatchString(imgs[i].ID) {
			return nil, invalid("history[%d].v1Compatibility: id %q is not 64 hexadecimal digits", i, imgs[i].ID)
		}
	}
	// Each layer's parent is the next (older) layer; the oldest has none. Docker refuses other chains,
	// apart from a layer given twice in a row, which it drops.
	for i := range imgs {
		switch {
		case i == len(imgs)-1:
			if imgs[i].Parent != "" {
				return nil, invalid("history[%d]: the base layer has parent %q", i, imgs[i].Parent)
			}
		case imgs[i].ID == imgs[i+1].ID:
		case imgs[i].Parent != imgs[i+1].ID:
			return nil, invalid("history[%d]: parent %q is not the next layer's id %q", i, imgs[i].Parent, imgs[i+1].ID)
		}
	}
	m := &Manifest{Kind: Image, MediaType: mt}
	for i := len(s.FSLayers) - 1; i >= 0; i-- {
		d := s.FSLayers[i].BlobSum
		if err := d.Validate(); err != nil {
			return nil, invalid("fsLayers[%d]: blobSum %q: %v", i, d, err)
		}
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: dockerLayer, Digest: d, Size: -1})
	}
	return m, nil
}

// isSchema1 reports whether a manifest of no known Content-Type says it is schema 1.
func isSchema1(body []byte) bool {
	var v struct {
		SchemaVersion json.RawMessage `json:"schemaVersion"`
	}
	return json.Unmarshal(body, &v) == nil && string(v.SchemaVersion) == "1"
}

// Payload returns the bytes a manifest's digest is computed over: for a signed schema 1 manifest the JWS
// payload (the manifest without its signatures, as its protected header gives it), for any other
// manifest body itself. A malformed signed manifest yields body; Parse refuses it.
func Payload(body []byte) []byte {
	if !bytes.Contains(body, []byte(`"signatures"`)) {
		return body
	}
	var v struct {
		SchemaVersion int            `json:"schemaVersion"`
		Signatures    []jwsSignature `json:"signatures"`
	}
	if json.Unmarshal(body, &v) != nil || v.SchemaVersion != 1 || len(v.Signatures) == 0 {
		return body
	}
	p, err := v.Signatures[0].payload(body)
	if err != nil {
		return body
	}
	return p
}

// Digest is the digest of a manifest as stored in a repository and named by pulls: of its Payload.
func Digest(alg digest.Algorithm, body []byte) digest.Digest {
	return alg.FromBytes(Payload(body))
}

// checkSignaturesMember checks that what follows the payload's prefix in a signed manifest is a
// "signatures" member and the payload's tail: nothing else may be outside what was signed.
func checkSignaturesMember(rest, tail []byte) error {
	if !bytes.HasSuffix(rest, tail) {
		return invalid("the manifest does not end with its signed tail")
	}
	mid := bytes.TrimSpace(rest[:len(rest)-len(tail)])
	if len(mid) == 0 || mid[0] != ',' {
		return invalid("unsigned data around the signatures")
	}
	obj := append(append([]byte("{"), mid[1:]...), '}')
	var members map[string]json.RawMessage
	if err := strictjson.Decode(obj, &members); err != nil {
		return invalid("unsigned data around the signatures: %v", err)
	}
	if _, ok := members["signatures"]; !ok || len(members) != 1 {
		return invalid("unsigned data around the signatures")
	}
	return nil
}

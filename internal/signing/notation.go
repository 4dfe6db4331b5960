package signing

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The Notary Project's names: a signature is an OCI artifact of ArtifactType whose one layer is the
// envelope (EnvelopeMediaType), annotated with the thumbprints of its certificate chain.
const (
	ArtifactType         = "application/vnd.cncf.notary.signature"
	EnvelopeMediaType    = "application/jose+json"
	ThumbprintAnnotation = "io.cncf.notary.x509chain.thumbprint#S256"
	payloadType          = "application/vnd.cncf.notary.payload.v1+json"
	signingSchemeHeader  = "io.cncf.notary.signingScheme"
	signingTimeHeader    = "io.cncf.notary.signingTime"
	signingScheme        = "notary.x509"
	signingAgent         = "Wharf"
)

// protected is the JWS protected header of a Notary Project signature: the signed attributes.
type protected struct {
	Algorithm     string    `json:"alg"`
	Critical      []string  `json:"crit"`
	ContentType   string    `json:"cty"`
	SigningScheme string    `json:"io.cncf.notary.signingScheme"`
	SigningTime   time.Time `json:"io.cncf.notary.signingTime"`
}

// payload is what is signed: the descriptor of the signed manifest.
type payload struct {
	TargetArtifact ocispec.Descriptor `json:"targetArtifact"`
}

// envelope is the JWS JSON serialization (flattened) of a Notary Project signature.
type envelope struct {
	Payload   string `json:"payload"`
	Protected string `json:"protected"`
	Header    struct {
		CertChain    [][]byte `json:"x5c"`
		SigningAgent string   `json:"io.cncf.notary.signingAgent,omitempty"`
	} `json:"header"`
	Signature string `json:"signature"`
}

var b64 = base64.RawURLEncoding

// Envelope signs target with key at signing time at: the JWS envelope of a Notary Project signature
// (scheme notary.x509, algorithm ES256).
func Envelope(key *Key, target ocispec.Descriptor, at time.Time) ([]byte, error) {
	target = ocispec.Descriptor{MediaType: target.MediaType, Digest: target.Digest, Size: target.Size}
	p, err := json.Marshal(payload{target})
	if err != nil {
		return nil, err
	}
	h, err := json.Marshal(protected{Algorithm: "ES256", Critical: []string{signingSchemeHeader}, ContentType: payloadType,
		SigningScheme: signingScheme, SigningTime: at.UTC().Truncate(time.Second)})
	if err != nil {
		return nil, err
	}
	var e envelope
	e.Payload, e.Protected = b64.EncodeToString(p), b64.EncodeToString(h)
	sum := sha256.Sum256([]byte(e.Protected + "." + e.Payload))
	r, s, err := ecdsa.Sign(rand.Reader, key.Private, sum[:])
	if err != nil {
		return nil, err
	}
	sig := make([]byte, 64) // JWS's ES256: r and s, 32 bytes each
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	e.Signature = b64.EncodeToString(sig)
	for _, c := range key.Chain {
		e.Header.CertChain = append(e.Header.CertChain, c.Raw)
	}
	e.Header.SigningAgent = signingAgent
	return json.Marshal(e)
}

// Thumbprints is the value of the thumbprint annotation: the SHA-256 of each certificate, in hex, as JSON.
func Thumbprints(chain []*x509.Certificate) string {
	out := make([]string, len(chain))
	for i, c := range chain {
		sum := sha256.Sum256(c.Raw)
		out[i] = hex.EncodeToString(sum[:])
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// Verified is what a valid envelope says.
type Verified struct {
	Target      ocispec.Descriptor
	SigningTime time.Time
	Chain       []*x509.Certificate
}

// Verify checks an envelope as a verifier does: a Notary Project JWS signature by a code signing
// certificate that chains to one of roots, valid at its signing time, over a payload it returns.
func Verify(data []byte, roots *x509.CertPool) (*Verified, error) {
	var e envelope
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	hb, err := b64.DecodeString(e.Protected)
	if err != nil {
		return nil, fmt.Errorf("protected header: %w", err)
	}
	var h protected
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, fmt.Errorf("protected header: %w", err)
	}
	if h.Algorithm != "ES256" || h.ContentType != payloadType || h.SigningScheme != signingScheme ||
		!slices.Contains(h.Critical, signingSchemeHeader) || h.SigningTime.IsZero() {
		return nil, errors.New("protected header: not a Notary Project notary.x509 ES256 signature")
	}
	if len(e.Header.CertChain) == 0 {
		return nil, errors.New("no certificate chain")
	}
	v := &Verified{SigningTime: h.SigningTime}
	for _, der := range e.Header.CertChain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("certificate chain: %w", err)
		}
		v.Chain = append(v.Chain, c)
	}
	intermediates := x509.NewCertPool()
	for _, c := range v.Chain[1:] {
		intermediates.AddCert(c)
	}
	if _, err := v.Chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates, CurrentTime: h.SigningTime,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}); err != nil {
		return nil, fmt.Errorf("certificate chain: %w", err)
	}
	pub, ok := v.Chain[0].PublicKey.(*ecdsa.PublicKey)
	sig, err := b64.DecodeString(e.Signature)
	if !ok || err != nil || len(sig) != 64 {
		return nil, errors.New("signature: not an ES256 signature")
	}
	sum := sha256.Sum256([]byte(e.Protected + "." + e.Payload))
	if !ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return nil, errors.New("signature: does not verify")
	}
	pb, err := b64.DecodeString(e.Payload)
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	var p payload
	if err := json.Unmarshal(pb, &p); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	v.Target = p.TargetArtifact
	return v, nil
}

// Signature is a signature of an image, ready to be stored as its referrer.
type Signature struct {
	ArtifactType string            // the signature manifest's artifactType
	MediaType    string            // the envelope's
	Envelope     []byte            // the one layer
	Annotations  map[string]string // the signature manifest's
}

// Signer signs images with their registry's key.
type Signer struct {
	Keys *Keys
	Now  func() time.Time
}

// Sign signs target with the registry's key, now.
func (s *Signer) Sign(ctx context.Context, registryID string, target ocispec.Descriptor) (Signature, error) {
	key, err := s.Keys.Get(ctx, registryID)
	if err != nil {
		return Signature{}, err
	}
	at := s.Now()
	env, err := Envelope(key, target, at)
	if err != nil {
		return Signature{}, err
	}
	return Signature{ArtifactType: ArtifactType, MediaType: EnvelopeMediaType, Envelope: env, Annotations: map[string]string{
		ThumbprintAnnotation:      Thumbprints(key.Chain),
		ocispec.AnnotationCreated: at.UTC().Truncate(time.Second).Format(time.RFC3339),
	}}, nil
}

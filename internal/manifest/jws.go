package manifest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// The JWS of signed schema 1 manifests, as Docker's libtrust writes it: each signature's protected header
// gives formatLength and formatTail, and the payload is the manifest's first formatLength bytes followed
// by the tail (the manifest without its "signatures" member). The key is in the header (a JWK, or an
// x5c certificate chain); a signature proves the manifest is whole, not who signed it.

type jwsSignature struct {
	Header struct {
		JWK json.RawMessage `json:"jwk,omitempty"`
		Alg string          `json:"alg"`
		X5C []string        `json:"x5c,omitempty"`
	} `json:"header"`
	Signature string `json:"signature"`
	Protected string `json:"protected"`
}

type jwsProtected struct {
	FormatLength int    `json:"formatLength"`
	FormatTail   string `json:"formatTail"`
	Time         string `json:"time"`
}

func b64decode(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

var b64 = base64.RawURLEncoding.EncodeToString

func (s *jwsSignature) protected() (jwsProtected, []byte, error) {
	var p jwsProtected
	raw, err := b64decode(s.Protected)
	if err != nil {
		return p, nil, invalid("signature: protected header: %v", err)
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return p, nil, invalid("signature: protected header: %v", err)
	}
	tail, err := b64decode(p.FormatTail)
	if err != nil {
		return p, nil, invalid("signature: formatTail: %v", err)
	}
	return p, tail, nil
}

// payload returns the bytes the signature covers.
func (s *jwsSignature) payload(body []byte) ([]byte, error) {
	p, tail, err := s.protected()
	if err != nil {
		return nil, err
	}
	if p.FormatLength <= 0 || p.FormatLength > len(body) {
		return nil, invalid("signature: formatLength %d is out of the manifest's %d bytes", p.FormatLength, len(body))
	}
	out := make([]byte, 0, p.FormatLength+len(tail))
	return append(append(out, body[:p.FormatLength]...), tail...), nil
}

// verifyJWS checks every signature of a signed manifest and returns the payload they sign.
func verifyJWS(body []byte) ([]byte, error) {
	var v struct {
		Signatures []jwsSignature `json:"signatures"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, invalid("signatures: %v", err)
	}
	if len(v.Signatures) == 0 {
		return nil, invalid("signatures is empty")
	}
	payload, err := v.Signatures[0].payload(body)
	if err != nil {
		return nil, err
	}
	for i := range v.Signatures {
		s := &v.Signatures[i]
		p, err := s.payload(body)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(p, payload) {
			return nil, invalid("signatures[%d] signs other bytes than signatures[0]", i)
		}
		if err := s.verify(payload); err != nil {
			return nil, fmt.Errorf("signatures[%d]: %w", i, err)
		}
	}
	prot, tail, _ := v.Signatures[0].protected()
	if err := checkSignaturesMember(body[prot.FormatLength:], tail); err != nil {
		return nil, err
	}
	return payload, nil
}

func (s *jwsSignature) verify(payload []byte) error {
	key, err := s.key()
	if err != nil {
		return err
	}
	sig, err := b64decode(s.Signature)
	if err != nil {
		return invalid("signature: %v", err)
	}
	var h crypto.Hash
	switch s.Header.Alg {
	case "ES256", "RS256":
		h = crypto.SHA256
	case "ES384", "RS384":
		h = crypto.SHA384
	case "ES512", "RS512":
		h = crypto.SHA512
	default:
		return invalid("signature: algorithm %q is not supported", s.Header.Alg)
	}
	hw := h.New()
	hw.Write([]byte(s.Protected + "." + b64(payload)))
	sum := hw.Sum(nil)
	ok := false
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		n := (k.Curve.Params().BitSize + 7) / 8
		if s.Header.Alg[0] == 'E' && len(sig) == 2*n {
			r, ss := new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
			ok = ecdsa.Verify(k, sum, r, ss)
		}
	case *rsa.PublicKey:
		ok = s.Header.Alg[0] == 'R' && rsa.VerifyPKCS1v15(k, h, sum, sig) == nil
	}
	if !ok {
		return invalid("signature does not verify")
	}
	return nil
}

type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

// key returns the public key of a signature's header.
func (s *jwsSignature) key() (crypto.PublicKey, error) {
	if len(s.Header.X5C) > 0 {
		der, err := base64.StdEncoding.DecodeString(s.Header.X5C[0])
		if err != nil {
			return nil, invalid("signature: x5c: %v", err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, invalid("signature: x5c: %v", err)
		}
		return cert.PublicKey, nil
	}
	var k jwk
	if err := json.Unmarshal(s.Header.JWK, &k); err != nil {
		return nil, invalid("signature: jwk: %v", err)
	}
	num := func(v string) (*big.Int, error) {
		b, err := b64decode(v)
		if err != nil || len(b) == 0 {
			return nil, invalid("signature: jwk: malformed number %q", v)
		}
		return new(big.Int).SetBytes(b), nil
	}
	switch k.Kty {
	case "EC":
		curves := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}
		c, ok := curves[k.Crv]
		if !ok {
			return nil, invalid("signature: jwk: curve %q is not supported", k.Crv)
		}
		x, err := num(k.X)
		if err != nil {
			return nil, err
		}
		y, err := num(k.Y)
		if err != nil {
			return nil, err
		}
		return &ecdsa.PublicKey{Curve: c, X: x, Y: y}, nil
	case "RSA":
		n, err := num(k.N)
		if err != nil {
			return nil, err
		}
		e, err := num(k.E)
		if err != nil || !e.IsInt64() || e.Int64() > 1<<31-1 || e.Int64() < 3 {
			return nil, invalid("signature: jwk: bad RSA exponent")
		}
		return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
	}
	return nil, invalid("signature: jwk: key type %q is not supported", k.Kty)
}

// Sign signs a schema 1 manifest (payload, a JSON object) with an ECDSA P-256 key, as libtrust does, and
// returns the signed manifest. Its digest (Digest) is the payload's: the key and the time do not change it.
func Sign(payload []byte, key *ecdsa.PrivateKey, now time.Time) ([]byte, error) {
	end := bytes.LastIndexByte(payload, '}')
	if end < 0 {
		return nil, invalid("payload is not a JSON object")
	}
	n := end
	for n > 0 && strings.ContainsRune(" \t\r\n", rune(payload[n-1])) {
		n--
	}
	tail := payload[n:]
	prot, _ := json.Marshal(jwsProtected{FormatLength: n, FormatTail: b64(tail), Time: now.UTC().Format(time.RFC3339)})
	var s jwsSignature
	s.Protected = b64(prot)
	s.Header.Alg = "ES256"
	size := 32
	s.Header.JWK, _ = json.Marshal(jwk{Kty: "EC", Crv: "P-256",
		X: b64(key.X.FillBytes(make([]byte, size))), Y: b64(key.Y.FillBytes(make([]byte, size)))})
	sum := crypto.SHA256.New()
	sum.Write([]byte(s.Protected + "." + b64(payload)))
	r, ss, err := ecdsa.Sign(rand.Reader, key, sum.Sum(nil))
	if err != nil {
		return nil, err
	}
	s.Signature = b64(append(r.FillBytes(make([]byte, size)), ss.FillBytes(make([]byte, size))...))
	sigs, err := json.MarshalIndent([]jwsSignature{s}, "   ", "   ")
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Write(payload[:n])
	out.WriteString(",\n   \"signatures\": ")
	out.Write(sigs)
	out.Write(tail)
	return out.Bytes(), nil
}

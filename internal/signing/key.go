// Package signing signs images as the Notary Project specifies (Notation's format, the one ECR's managed
// signing produces): a JWS envelope over the image's descriptor, signed with a key each registry holds,
// whose certificate is issued by a CA certificate the operator gives to verifiers (notation's trust store).
package signing

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

// Sealer seals private keys at rest with the server secret (identity.Keyring).
type Sealer interface {
	Seal(plaintext []byte, context string) []byte
	Open(sealed []byte, context string) ([]byte, error)
}

// Key is a registry's signing key and its certificate chain: the signing certificate first, the CA's last.
type Key struct {
	Private *ecdsa.PrivateKey
	Chain   []*x509.Certificate
}

// CA is the key's CA certificate, the one verifiers trust.
func (k *Key) CA() *x509.Certificate { return k.Chain[len(k.Chain)-1] }

// validity is how long the certificates are valid: a signature verifies only while its chain is.
const validity = 20 * 365 * 24 * time.Hour

// NewKey makes a registry's signing key: an ECDSA P-256 key with a code signing certificate, issued by a CA
// made for it whose key is discarded once the certificate is issued (nothing else is ever issued by it).
func NewKey(registryID string, now time.Time) (*Key, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	name := func(cn string) pkix.Name {
		return pkix.Name{CommonName: cn, Organization: []string{"Wharf"}, OrganizationalUnit: []string{registryID}}
	}
	notBefore := now.Add(-time.Hour).UTC().Truncate(time.Second)
	ca := &x509.Certificate{
		SerialNumber: serial(), Subject: name("Wharf signing CA " + registryID),
		NotBefore: notBefore, NotAfter: notBefore.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		return nil, err
	}
	leaf := &x509.Certificate{
		SerialNumber: serial(), Subject: name("Wharf image signing " + registryID),
		NotBefore: notBefore, NotAfter: notBefore.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	if leaf, err = x509.ParseCertificate(leafDER); err != nil {
		return nil, err
	}
	return &Key{Private: leafKey, Chain: []*x509.Certificate{leaf, ca}}, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n.Add(n, big.NewInt(1))
}

// Keys keeps each registry's signing key in the metadata store, sealed: made on first use, the same on
// every node.
type Keys struct {
	meta   store.Store
	sealer Sealer
	now    func() time.Time
	mu     sync.Mutex
	keys   map[string]*Key
}

// NewKeys returns the keys kept in meta, sealed with sealer.
func NewKeys(meta store.Store, sealer Sealer, now func() time.Time) *Keys {
	return &Keys{meta: meta, sealer: sealer, now: now, keys: map[string]*Key{}}
}

func sealContext(registryID string) string { return "wharf signing key " + registryID }

// Get returns a registry's signing key, made and stored on first use.
func (k *Keys) Get(ctx context.Context, registryID string) (*Key, error) {
	k.mu.Lock()
	key := k.keys[registryID]
	k.mu.Unlock()
	if key != nil {
		return key, nil
	}
	key, err := k.load(ctx, registryID)
	if errors.Is(err, store.ErrNotFound) {
		if key, err = k.create(ctx, registryID); errors.Is(err, store.ErrConflict) { // another node made it first
			key, err = k.load(ctx, registryID)
		}
	}
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	k.keys[registryID] = key
	k.mu.Unlock()
	return key, nil
}

func (k *Keys) create(ctx context.Context, registryID string) (*Key, error) {
	key, err := NewKey(registryID, k.now())
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key.Private)
	if err != nil {
		return nil, err
	}
	row := store.SigningKey{RegistryID: registryID, SealedKey: k.sealer.Seal(der, sealContext(registryID)),
		Certificates: string(EncodeCertificates(key.Chain)), CreatedAt: k.now()}
	return key, k.meta.Update(ctx, func(tx store.Tx) error { return tx.PutSigningKey(row) })
}

func (k *Keys) load(ctx context.Context, registryID string) (*Key, error) {
	var row *store.SigningKey
	if err := k.meta.View(ctx, func(tx store.Tx) (err error) {
		row, err = tx.SigningKey(registryID)
		return err
	}); err != nil {
		return nil, err
	}
	der, err := k.sealer.Open(row.SealedKey, sealContext(registryID))
	if err != nil {
		return nil, fmt.Errorf("signing key of registry %s: %w", registryID, err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	ec, ok := priv.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing key of registry %s is not an ECDSA key", registryID)
	}
	chain, err := ParseCertificates([]byte(row.Certificates))
	if err != nil || len(chain) < 2 {
		return nil, fmt.Errorf("certificates of the signing key of registry %s: %v", registryID, err)
	}
	return &Key{Private: ec, Chain: chain}, nil
}

// EncodeCertificates returns certificates as PEM.
func EncodeCertificates(certs []*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// ParseCertificates reads PEM certificates.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return out, nil
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
}

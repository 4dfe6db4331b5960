package signing_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/signing"
	"github.com/wharf-dev/wharf/internal/store/sqlite"
)

var now = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func target() ocispec.Descriptor {
	body := []byte(`{"schemaVersion":2}`)
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(body), Size: int64(len(body))}
}

func pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

func TestEnvelopeVerifies(t *testing.T) {
	key, err := signing.NewKey("123456789012", now)
	if err != nil {
		t.Fatal(err)
	}
	env, err := signing.Envelope(key, target(), now)
	if err != nil {
		t.Fatal(err)
	}
	v, err := signing.Verify(env, pool(key.CA()))
	if err != nil {
		t.Fatal(err)
	}
	if v.Target.Digest != target().Digest || v.Target.Size != target().Size || v.Target.MediaType != target().MediaType || !v.SigningTime.Equal(now) {
		t.Errorf("verified %+v", v)
	}
	if leaf := key.Chain[0]; leaf.IsCA || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageCodeSigning || leaf.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("signing certificate: CA %v, usages %v %v", leaf.IsCA, leaf.ExtKeyUsage, leaf.KeyUsage)
	}
	if ca := key.CA(); !ca.IsCA || ca.KeyUsage != x509.KeyUsageCertSign {
		t.Errorf("CA certificate: CA %v, usage %v", ca.IsCA, ca.KeyUsage)
	}

	// Another registry's CA does not vouch for this key.
	other, _ := signing.NewKey("210987654321", now)
	if _, err := signing.Verify(env, pool(other.CA())); err == nil {
		t.Error("verified with another CA")
	}
	// A payload that names another image does not verify under the signature.
	var e map[string]any
	json.Unmarshal(env, &e)
	p, _ := base64.RawURLEncoding.DecodeString(e["payload"].(string))
	e["payload"] = base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(p), target().Digest.Encoded()[:8], "00000000", 1)))
	tampered, _ := json.Marshal(e)
	if _, err := signing.Verify(tampered, pool(key.CA())); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("tampered payload: %v", err)
	}
}

func TestKeysAreSealedAndShared(t *testing.T) {
	dir := t.TempDir()
	meta, err := sqlite.Open(filepath.Join(dir, "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	ring, err := identity.NewKeyring([]byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	nowf := func() time.Time { return now }
	a, err := signing.NewKeys(meta, ring, nowf).Get(ctx, "123456789012")
	if err != nil {
		t.Fatal(err)
	}
	// Another node (another Keys over the same store) signs with the same key.
	b, err := signing.NewKeys(meta, ring, nowf).Get(ctx, "123456789012")
	if err != nil {
		t.Fatal(err)
	}
	if !a.Private.Equal(b.Private) || !a.CA().Equal(b.CA()) {
		t.Error("a second node made another key")
	}
	// Nodes that make the key of another registry at once end up with one key.
	keys := make([]*signing.Key, 4)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := signing.NewKeys(meta, ring, nowf).Get(ctx, "210987654321")
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if k == nil || keys[0] == nil || !k.Private.Equal(keys[0].Private) {
			t.Fatal("nodes that made a key at once use different keys")
		}
	}
	// A node with another server secret cannot open it.
	wrong, _ := identity.NewKeyring([]byte(strings.Repeat("x", 32)))
	if _, err := signing.NewKeys(meta, wrong, nowf).Get(ctx, "123456789012"); err == nil {
		t.Error("opened the key with another server secret")
	}
	sig, err := (&signing.Signer{Keys: signing.NewKeys(meta, ring, nowf), Now: nowf}).Sign(ctx, "123456789012", target())
	if err != nil {
		t.Fatal(err)
	}
	if sig.ArtifactType != signing.ArtifactType || sig.MediaType != "application/jose+json" || !strings.Contains(sig.Annotations[signing.ThumbprintAnnotation], `["`) {
		t.Errorf("signature: %+v", sig)
	}
	if _, err := signing.Verify(sig.Envelope, pool(a.CA())); err != nil {
		t.Error(err)
	}
}

package identity_test

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/store"
	"github.com/wharf-dev/wharf/internal/store/sqlite"
)

// countingStore counts the read transactions key lookups make.
type countingStore struct {
	store.Store
	views atomic.Int64
}

func (c *countingStore) View(ctx context.Context, fn func(store.Tx) error) error {
	c.views.Add(1)
	return c.Store.View(ctx, fn)
}

// counted returns two identity services (two nodes) on one store, the first one's reads counted.
func counted(t *testing.T) (*identity.Service, *identity.Service, *countingStore, *clock.Fake) {
	t.Helper()
	dir := t.TempDir()
	meta, err := sqlite.Open(filepath.Join(dir, "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	secret, _ := identity.LoadOrCreateSecret(dir, "")
	keys, _ := identity.NewKeyring(secret)
	clk := clock.NewFake(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	cs := &countingStore{Store: meta}
	return identity.New(cs, keys, clk, "us-east-1"), identity.New(meta, keys, clk, "us-east-1"), cs, clk
}

// randomKeyID returns an id of an access key's form that names no key.
func randomKeyID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 16)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "AKIA" + string(b)
}

// TestUnknownKeysCostBoundedMemory: lookups of ids that name no key, which anyone can send before any
// signature is checked, keep the caches within their bounds, and a known key is still answered from the
// cache afterwards.
func TestUnknownKeysCostBoundedMemory(t *testing.T) {
	s, _, cs, _ := counted(t)
	creds, err := s.Bootstrap(ctx, "000000000000", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LookupKey(ctx, creds.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	for range 50000 {
		if _, _, err := s.LookupKey(ctx, randomKeyID()); !errors.Is(err, identity.ErrUnknownKey) {
			t.Fatalf("unknown key: %v", err)
		}
	}
	known, unknown := s.CachedKeys()
	if known > identity.MaxCachedKeys || unknown > identity.MaxCachedUnknown {
		t.Fatalf("after 50,000 unknown ids the caches hold %d known and %d unknown entries (bounds %d and %d)",
			known, unknown, identity.MaxCachedKeys, identity.MaxCachedUnknown)
	}
	before := cs.views.Load()
	if secret, _, err := s.LookupKey(ctx, creds.AccessKeyID); err != nil || secret != creds.SecretAccessKey {
		t.Fatalf("known key after the flood: %v", err)
	}
	if cs.views.Load() != before {
		t.Fatal("the known key was evicted by unknown ids: its lookup queried the store")
	}
}

// TestMalformedKeyIDsNeverReachTheStore: an id that cannot be an access key (too short, too long, not
// upper-case letters and digits) is unknown without a query and without a cache entry.
func TestMalformedKeyIDsNeverReachTheStore(t *testing.T) {
	s, _, cs, _ := counted(t)
	for _, id := range []string{
		strings.Repeat("A", 8000),
		strings.Repeat("A", 129),
		"akiaiosfodnn7example",
		"AKIAIOSFODNN7EXAMPLe",
		"AKIA_OSFODNN7EXAMPLE",
		"AKIA-OSFODNN7EXAMPLE",
		"AKIA/OSFODNN7EXAMPLE",
		"AKIAIOSFODNN7EXAMPL\u00c9",
		"AKIAIOSFODNN7EXAMPLE\x00",
		"AKIASHORT",
		"",
	} {
		if _, _, err := s.LookupKey(ctx, id); !errors.Is(err, identity.ErrUnknownKey) {
			t.Fatalf("LookupKey(%.20q…) = %v", id, err)
		}
		if n := cs.views.Load(); n != 0 {
			t.Fatalf("LookupKey(%.20q…) queried the store", id)
		}
	}
	if known, unknown := s.CachedKeys(); known+unknown != 0 {
		t.Fatalf("malformed ids were cached: %d known, %d unknown", known, unknown)
	}
	if _, err := s.Bootstrap(ctx, "000000000000", &identity.Credentials{AccessKeyID: "akia-lower-case-key", SecretAccessKey: "x"}); !errors.Is(err, identity.ErrInvalid) {
		t.Fatalf("Bootstrap with a malformed key id: %v", err)
	}
}

// TestKeyCacheLifetimes: a key deleted or disabled elsewhere (another node, the CLI) stops working within
// five seconds; an id that was unknown is looked up again after a second.
func TestKeyCacheLifetimes(t *testing.T) {
	s, other, cs, clk := counted(t)
	creds, _ := s.Bootstrap(ctx, "000000000000", nil)
	if _, _, err := s.LookupKey(ctx, creds.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if err := other.SetAccessKeyStatus(ctx, creds.AccessKeyID, "Inactive"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(4 * time.Second)
	if _, _, err := s.LookupKey(ctx, creds.AccessKeyID); err != nil {
		t.Fatalf("within the cache's lifetime: %v", err)
	}
	clk.Advance(time.Second)
	if _, _, err := s.LookupKey(ctx, creds.AccessKeyID); !errors.Is(err, identity.ErrInactiveKey) {
		t.Fatalf("a key disabled elsewhere five seconds ago: %v", err)
	}
	if err := other.DeleteAccessKey(ctx, creds.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	clk.Advance(5 * time.Second)
	if _, _, err := s.LookupKey(ctx, creds.AccessKeyID); !errors.Is(err, identity.ErrUnknownKey) {
		t.Fatalf("a key deleted elsewhere five seconds ago: %v", err)
	}

	given := &identity.Credentials{AccessKeyID: "AKIAGIVENLATER000001", SecretAccessKey: "later"}
	if _, _, err := s.LookupKey(ctx, given.AccessKeyID); !errors.Is(err, identity.ErrUnknownKey) {
		t.Fatalf("not yet created: %v", err)
	}
	before := cs.views.Load()
	if _, _, err := s.LookupKey(ctx, given.AccessKeyID); !errors.Is(err, identity.ErrUnknownKey) || cs.views.Load() != before {
		t.Fatalf("an unknown id asked again at once: %v, %d queries", err, cs.views.Load()-before)
	}
	if _, err := other.Bootstrap(ctx, "000000000000", given); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if secret, _, err := s.LookupKey(ctx, given.AccessKeyID); err != nil || secret != "later" {
		t.Fatalf("a key created elsewhere a second after its id was unknown: %v", err)
	}
}

// TestLookupHitAllocatesNothing: the lookup every signed request makes costs no allocation when cached.
func TestLookupHitAllocatesNothing(t *testing.T) {
	s, _, _, _ := counted(t)
	creds, _ := s.Bootstrap(ctx, "000000000000", nil)
	s.LookupKey(ctx, creds.AccessKeyID)
	if n := testing.AllocsPerRun(100, func() { s.LookupKey(ctx, creds.AccessKeyID) }); n != 0 {
		t.Fatalf("a cached lookup allocates %v times", n)
	}
}

func BenchmarkLookupKeyHit(b *testing.B) {
	dir := b.TempDir()
	meta, err := sqlite.Open(filepath.Join(dir, "wharf.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer meta.Close()
	secret, _ := identity.LoadOrCreateSecret(dir, "")
	keys, _ := identity.NewKeyring(secret)
	s := identity.New(meta, keys, nil, "us-east-1")
	creds, _ := s.Bootstrap(context.Background(), "000000000000", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.LookupKey(context.Background(), creds.AccessKeyID)
		}
	})
}

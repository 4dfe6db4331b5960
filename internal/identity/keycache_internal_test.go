package identity

import (
	"fmt"
	"testing"
	"time"
)

// TestKeyCacheKeepsHotEntries: a full cache replaces entries nobody uses, not the ones in use, and never
// holds more than its bound.
func TestKeyCacheKeepsHotEntries(t *testing.T) {
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	c := newKeyCache(100, time.Minute)
	c.put("HOT", cachedKey{secret: "hot", at: now})
	for i := range 10000 {
		c.put(fmt.Sprintf("COLD%06d", i), cachedKey{at: now})
		if i%50 == 0 { // used more often than the hand comes round
			if k, ok := c.get("HOT", now); !ok || k.secret != "hot" {
				t.Fatalf("after %d cold entries the hot entry is gone", i)
			}
		}
		if n := c.len(); n > 100 {
			t.Fatalf("%d entries in a cache of 100", n)
		}
	}
	if _, ok := c.get("COLD000000", now); ok {
		t.Fatal("the first cold entry is still cached")
	}
	if _, ok := c.get("COLD009999", now); !ok {
		t.Fatal("the latest entry is not cached")
	}
	if _, ok := c.get("HOT", now.Add(time.Minute)); ok {
		t.Fatal("an entry outlived its ttl")
	}
	c.forget("COLD009999")
	if _, ok := c.get("COLD009999", now); ok {
		t.Fatal("a forgotten entry answered")
	}
}

func TestValidKeyID(t *testing.T) {
	for id, want := range map[string]bool{
		"AKIAIOSFODNN7EXAMPLE":            true,
		"ASIA0123456789ABCDEF":            true,
		"AKIA012345678901":                true,  // 16
		"AKIA01234567890":                 false, // 15
		string(make([]byte, 129)):         false,
		"AKIA" + fmt.Sprintf("%0124d", 0): true, // 128
		"AKIA" + fmt.Sprintf("%0125d", 0): false,
		"akiaiosfodnn7example":            false,
		"AKIA_OSFODNN7EXAMPLE":            false,
		"AKIA-OSFODNN7EXAMPLE":            false,
		"AKIAIOSFODNN7EXAMPL\u00c9":       false,
		"":                                false,
	} {
		if got := validKeyID(id); got != want {
			t.Errorf("validKeyID(%q) = %v, want %v", id, got, want)
		}
	}
}

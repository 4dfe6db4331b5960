package vulndb

import (
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

func TestCacheKeepsTheRecentlyUsedOfOneVersion(t *testing.T) {
	c := cache{limit: 10}
	v1, v2 := time.Unix(1, 0), time.Unix(2, 0)
	pkg := func(name string) store.AdvisoryPackage {
		return store.AdvisoryPackage{Ecosystem: "Debian:12", Name: name}
	}
	has := func(v time.Time, name string) bool {
		_, ok := c.get(v, pkg(name))
		return ok
	}
	c.put(v1, pkg("a"), []*Advisory{{ID: "A"}}, 4)
	c.put(v1, pkg("b"), nil, 4)
	has(v1, "a") // a is used after b
	c.put(v1, pkg("c"), nil, 4)
	if !has(v1, "a") || has(v1, "b") || !has(v1, "c") {
		t.Errorf("after c: a %v b %v c %v, want the least recently used (b) dropped", has(v1, "a"), has(v1, "b"), has(v1, "c"))
	}
	c.put(v1, pkg("big"), nil, 11)
	if has(v1, "big") || !has(v1, "a") {
		t.Error("an entry larger than the cache displaced others")
	}
	if has(v2, "a") {
		t.Error("an entry of another version of the database was returned")
	}
	c.put(v2, pkg("d"), nil, 1)
	if has(v2, "a") || !has(v2, "d") || c.size != 1 {
		t.Errorf("a new version kept old entries (size %d)", c.size)
	}
}

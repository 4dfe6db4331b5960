package registry

import (
	"sync"
	"sync/atomic"
	"time"
)

// manifestCache keeps recently pulled manifests and tag lists in memory, so a pull by tag or digest
// costs no query.
// Any manifest, tag or repository change made through this process empties it at once (a generation
// counter); changes made by another process sharing the store (the wharf CLI, other nodes) are seen
// after at most ttl.
type manifestCache struct {
	ttl      time.Duration
	maxBytes int
	gen      atomic.Uint64

	mu      sync.Mutex
	entries map[cacheKey]cacheEntry
	bytes   int
}

type cacheKey struct {
	registryID, name, ref string
}

type cacheEntry struct {
	info   *ManifestInfo // or nil for a tag list
	tags   *tagPage
	repoID int64
	size   int
	gen    uint64
	at     time.Time
}

type tagPage struct {
	tags []string
	more bool
}

func newManifestCache(ttl time.Duration, maxBytes int) *manifestCache {
	return &manifestCache{ttl: ttl, maxBytes: maxBytes, entries: map[cacheKey]cacheEntry{}}
}

func (c *manifestCache) get(k cacheKey, now time.Time) (cacheEntry, bool) {
	if c.ttl <= 0 {
		return cacheEntry{}, false
	}
	c.mu.Lock()
	e, ok := c.entries[k]
	c.mu.Unlock()
	if !ok || e.gen != c.gen.Load() || now.Sub(e.at) > c.ttl || now.Before(e.at) {
		return cacheEntry{}, false
	}
	return e, true
}

// put stores an entry read under generation gen (taken before the read, so a change that raced the read
// leaves the entry stale).
func (c *manifestCache) put(k cacheKey, e cacheEntry, gen uint64, now time.Time) {
	if c.ttl <= 0 || e.size > c.maxBytes/16 {
		return
	}
	e.gen, e.at = gen, now
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen.Load() {
		return
	}
	if c.bytes+e.size > c.maxBytes {
		c.entries = map[cacheKey]cacheEntry{}
		c.bytes = 0
	}
	if old, ok := c.entries[k]; ok {
		c.bytes -= old.size
	}
	c.entries[k] = e
	c.bytes += e.size
}

// invalidate forgets everything; called after every change to manifests, tags or repositories.
func (c *manifestCache) invalidate() {
	c.gen.Add(1)
	c.mu.Lock()
	if len(c.entries) > 0 {
		c.entries = map[cacheKey]cacheEntry{}
		c.bytes = 0
	}
	c.mu.Unlock()
}

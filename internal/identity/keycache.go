package identity

import (
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of the access key caches. Positive answers (keys that exist, active or not) are as many as the
// keys in use; negative answers (ids that are no key) come from anyone who sends a request, signed or not,
// so they are few and short-lived, and kept apart: a flood of made-up ids cannot push real keys out.
const (
	maxCachedKeys    = 10000
	keyTTL           = 5 * time.Second // a deleted or disabled key stops working within this time (SetKeyCacheTTL)
	maxCachedUnknown = 1024
	unknownKeyTTL    = time.Second
)

// validKeyID tells whether id has the form of an AWS access key id: 16 to 128 upper-case letters and
// digits (the IAM model allows [\w]; AWS issues only upper-case alphanumerics, and so does Wharf). An id
// of any other form cannot name a key: it is refused before it costs a query or a cache entry.
func validKeyID(id string) bool {
	if len(id) < 16 || len(id) > 128 { // the IAM model's accessKeyIdType
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// keyCache remembers access key lookups for ttl, in at most max entries. It evicts with the CLOCK
// (second-chance) algorithm: a hit only sets the entry's used flag, so it takes the read lock and
// allocates nothing; an insert into a full cache walks a hand over the entries, clearing used flags, and
// replaces the first entry not used since the hand last passed it. Keys in use stay; one-off ids replace
// each other.
type keyCache struct {
	max int
	ttl time.Duration

	mu    sync.RWMutex
	index map[string]*keySlot
	ring  []*keySlot // up to max slots; hand walks them when the cache is full
	hand  int
}

type keySlot struct {
	id   string
	key  cachedKey
	used atomic.Bool
}

func newKeyCache(max int, ttl time.Duration) *keyCache {
	return &keyCache{max: max, ttl: ttl, index: make(map[string]*keySlot)}
}

// get returns the cached answer for id when it is younger than the cache's ttl.
func (c *keyCache) get(id string, now time.Time) (cachedKey, bool) {
	c.mu.RLock()
	s, ok := c.index[id]
	var k cachedKey
	if ok {
		k = s.key
		if !s.used.Load() { // a shared cache line is written only when the flag changes
			s.used.Store(true)
		}
	}
	c.mu.RUnlock()
	if !ok || now.Sub(k.at) >= c.ttl || now.Before(k.at) {
		return cachedKey{}, false
	}
	return k, true
}

// put stores the answer for id, replacing an entry when the cache is full.
func (c *keyCache) put(id string, k cachedKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.index[id]; ok {
		s.key = k
		return
	}
	if len(c.ring) < c.max {
		s := &keySlot{id: id, key: k}
		c.ring = append(c.ring, s)
		c.index[id] = s
		return
	}
	for {
		s := c.ring[c.hand]
		c.hand = (c.hand + 1) % len(c.ring)
		if s.used.Swap(false) {
			continue // used since the hand last came by: a second chance
		}
		delete(c.index, s.id)
		s.id, s.key = id, k
		c.index[id] = s
		return
	}
}

// forget makes the entry of id stale, so the next lookup asks the store; an unused entry is the first
// the hand replaces.
func (c *keyCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.index[id]; ok {
		s.key = cachedKey{} // at the zero time: older than any ttl
		s.used.Store(false)
	}
}

// len is the number of entries.
func (c *keyCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.index)
}

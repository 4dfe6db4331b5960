package identity

// Bounds of the key caches, for tests.
const (
	MaxCachedKeys    = maxCachedKeys
	MaxCachedUnknown = maxCachedUnknown
)

// CachedKeys reports how many key lookups are cached: of stored keys, and of ids that are no key.
func (s *Service) CachedKeys() (known, unknown int) { return s.known.len(), s.unknown.len() }

// HoldHashing takes every password hashing slot until release is called.
func HoldHashing() (release func()) {
	for range cap(hashing) {
		hashing <- struct{}{}
	}
	return func() {
		for range cap(hashing) {
			<-hashing
		}
	}
}

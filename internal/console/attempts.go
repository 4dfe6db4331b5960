package console

import (
	"net/netip"
	"sync"
	"time"
)

// Failed sign-in attempts are limited per source address and per user: after maxFailures within window,
// more attempts wait until the oldest failure leaves the window. An attempt counts as failed from when
// it begins until it is known to have succeeded, so attempts made at once are limited as attempts made
// one after another are. The counts are each node's own.
const (
	maxFailures = 5
	window      = 5 * time.Minute
	maxTracked  = 100000 // bounds the memory anyone may make the counts take (some tens of MB)
)

type attempts struct {
	mu       sync.Mutex
	failures map[string][]time.Time
}

func newAttempts() *attempts { return &attempts{failures: map[string][]time.Time{}} }

func keys(ip, account, user string) [2]string {
	return [2]string{"ip " + addressKey(ip), "user " + account + "/" + user}
}

// addressKey is what attempts from an address are counted by: the address, or an IPv6 address's /64,
// which one host may hold whole.
func addressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Is4() || a.Is4In6() {
		return ip
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// begin starts an attempt from ip for the user at now, counted as failed until succeeded says otherwise.
// It returns how long attempts from ip, or for the user, must wait instead; 0 when this one may go on.
func (a *attempts) begin(ip, account, user string, now time.Time) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	var wait time.Duration
	for _, k := range keys(ip, account, user) {
		f := a.recent(k, now)
		if len(f) >= maxFailures {
			wait = max(wait, f[len(f)-maxFailures].Add(window).Sub(now))
		}
	}
	if wait > 0 {
		return wait
	}
	if len(a.failures) >= maxTracked {
		a.evict(now)
	}
	for _, k := range keys(ip, account, user) {
		a.failures[k] = append(a.recent(k, now), now)
	}
	return 0
}

// succeeded forgets the attempt begun at start: it did not fail.
func (a *attempts) succeeded(ip, account, user string, start time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, k := range keys(ip, account, user) {
		f := a.failures[k]
		for i := len(f) - 1; i >= 0; i-- {
			if f[i].Equal(start) {
				f = append(f[:i:i], f[i+1:]...)
				break
			}
		}
		if len(f) == 0 {
			delete(a.failures, k) // nothing to remember: a key costs memory only while it counts failures
		} else {
			a.failures[k] = f
		}
	}
}

// evict makes room: it drops what has expired, then what does not hold attempts back; if nothing of
// that is left to drop, it starts over.
func (a *attempts) evict(now time.Time) {
	for k := range a.failures {
		if len(a.recent(k, now)) < maxFailures {
			delete(a.failures, k)
		}
	}
	if len(a.failures) >= maxTracked {
		clear(a.failures)
	}
}

// recent is a key's failures within the window, the others forgotten.
func (a *attempts) recent(k string, now time.Time) []time.Time {
	f := a.failures[k]
	i := 0
	for i < len(f) && !f[i].Add(window).After(now) {
		i++
	}
	f = f[i:]
	if len(f) == 0 {
		delete(a.failures, k)
		return nil
	}
	if len(f) > maxFailures {
		f = f[len(f)-maxFailures:]
	}
	a.failures[k] = f
	return f
}

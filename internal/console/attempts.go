package console

import (
	"sync"
	"time"
)

// Failed sign-in attempts are limited per source address and per user: after maxFailures within window,
// more attempts wait until the oldest failure leaves the window. The counts are each node's own.
const (
	maxFailures = 5
	window      = 5 * time.Minute
	maxTracked  = 10000 // bounds the memory anyone may make the counts take
)

type attempts struct {
	mu       sync.Mutex
	failures map[string][]time.Time
}

func newAttempts() *attempts { return &attempts{failures: map[string][]time.Time{}} }

func keys(ip, account, user string) [2]string {
	return [2]string{"ip " + ip, "user " + account + "/" + user}
}

// blocked tells how long attempts from ip, or for the user, must wait; 0 when they may go on.
func (a *attempts) blocked(ip, account, user string, now time.Time) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	var wait time.Duration
	for _, k := range keys(ip, account, user) {
		f := a.recent(k, now)
		if len(f) >= maxFailures {
			wait = max(wait, f[len(f)-maxFailures].Add(window).Sub(now))
		}
	}
	return wait
}

func (a *attempts) failed(ip, account, user string, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.failures) >= maxTracked {
		for k := range a.failures { // drop what has expired; if nothing has, start over
			if len(a.recent(k, now)) == 0 {
				delete(a.failures, k)
			}
		}
		if len(a.failures) >= maxTracked {
			clear(a.failures)
		}
	}
	for _, k := range keys(ip, account, user) {
		a.failures[k] = append(a.recent(k, now), now)
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

// Package clock gives the rest of Wharf its notion of time, so tests can move it.
package clock

import (
	"context"
	"sync"
	"time"
)

// Clock tells the current time and waits for it to pass.
type Clock interface {
	Now() time.Time
	// After sends the time on the returned channel once d has passed.
	After(d time.Duration) <-chan time.Time
}

// Sleep waits until d has passed on c, or ctx ends (its error then).
func Sleep(ctx context.Context, c Clock, d time.Duration) error {
	select {
	case <-c.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Real is the wall clock.
type Real struct{}

// Now returns the current UTC time.
func (Real) Now() time.Time { return time.Now().UTC() }

// After is time.After.
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Fake is a settable clock for tests: its timers fire when Set or Advance moves it past them.
type Fake struct {
	mu      sync.Mutex
	changed *sync.Cond // broadcast when a timer is added
	t       time.Time
	timers  []fakeTimer
}

type fakeTimer struct {
	at time.Time
	c  chan time.Time
}

// NewFake returns a fake clock standing at t.
func NewFake(t time.Time) *Fake {
	f := &Fake{t: t.UTC()}
	f.changed = sync.NewCond(&f.mu)
	return f
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

// After returns a channel that receives the fake time once the clock has been moved d past now.
func (f *Fake) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := make(chan time.Time, 1)
	if d <= 0 {
		c <- f.t
		return c
	}
	f.timers = append(f.timers, fakeTimer{f.t.Add(d), c})
	f.changed.Broadcast()
	return c
}

// Set moves the clock to t, firing the timers it passes.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = t.UTC()
	f.fire()
}

// Advance moves the clock forward by d, firing the timers it passes.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
	f.fire()
}

func (f *Fake) fire() {
	kept := f.timers[:0]
	for _, tm := range f.timers {
		if tm.at.After(f.t) {
			kept = append(kept, tm)
			continue
		}
		tm.c <- f.t
	}
	clear(f.timers[len(kept):])
	f.timers = kept
}

// Waiters tells how many timers are waiting for the clock to move.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}

// WaitForWaiters blocks until at least n timers wait for the clock to move (background work has gone to
// sleep), or ctx ends.
func (f *Fake) WaitForWaiters(ctx context.Context, n int) error {
	stop := context.AfterFunc(ctx, func() { f.mu.Lock(); f.changed.Broadcast(); f.mu.Unlock() })
	defer stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.timers) < n {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		f.changed.Wait()
	}
	return nil
}

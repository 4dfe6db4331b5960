package console

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

// TestAttemptsKeepBlocksWhenFull: filling the counts with attempts for other users from other addresses
// (an attacker's many addresses) does not forget the failures that hold a user's attempts back.
func TestAttemptsKeepBlocksWhenFull(t *testing.T) {
	a := newAttempts()
	now := time.Unix(1_700_000_000, 0)
	for i := range maxFailures {
		if wait := a.begin("198.51.100."+strconv.Itoa(i), "000000000000", "victim", now); wait != 0 {
			t.Fatalf("attempt %d waits %v", i, wait)
		}
	}
	for i := range maxTracked {
		now = now.Add(time.Millisecond)
		if wait := a.begin(fmt.Sprintf("2001:db8:%x:%x::1", i>>16, i&0xffff), "000000000000", "u"+strconv.Itoa(i), now); wait != 0 {
			t.Fatalf("attempt %d waits %v", i, wait)
		}
	}
	if wait := a.begin("203.0.113.1", "000000000000", "victim", now); wait == 0 {
		t.Error("the victim's failures were forgotten when the counts filled up")
	}
	if n := len(a.failures); n > maxTracked {
		t.Errorf("%d keys tracked, more than %d", n, maxTracked)
	}
}

// TestAttemptsSucceeded: an attempt that succeeds does not count.
func TestAttemptsSucceeded(t *testing.T) {
	a := newAttempts()
	now := time.Unix(1_700_000_000, 0)
	for range 2 * maxFailures {
		if wait := a.begin("192.0.2.1", "000000000000", "alice", now); wait != 0 {
			t.Fatalf("a successful attempt counted: wait %v", wait)
		}
		a.succeeded("192.0.2.1", "000000000000", "alice", now)
	}
	// Attempts that did not fail (a request gone before its password was checked) leave nothing behind.
	for i := range 100 {
		a.begin("192.0.2.2", "000000000000", "u"+strconv.Itoa(i), now)
		a.succeeded("192.0.2.2", "000000000000", "u"+strconv.Itoa(i), now)
	}
	if len(a.failures) != 0 {
		t.Errorf("%d keys kept after attempts that did not fail", len(a.failures))
	}
}

// TestAttemptsIPv6Prefix: a host holds a whole /64 of IPv6 addresses; its attempts count together.
func TestAttemptsIPv6Prefix(t *testing.T) {
	a := newAttempts()
	now := time.Unix(1_700_000_000, 0)
	for i := range maxFailures {
		a.begin("2001:db8:1:2::"+strconv.Itoa(i+1), "000000000000", "user"+strconv.Itoa(i), now)
	}
	if wait := a.begin("2001:db8:1:2:ffff::1", "000000000000", "another", now); wait == 0 {
		t.Error("another address of the same /64 is not held back")
	}
	if wait := a.begin("2001:db8:1:3::1", "000000000000", "another", now); wait != 0 {
		t.Errorf("an address of another /64 waits %v", wait)
	}
}

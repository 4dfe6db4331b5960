package clock

import (
	"context"
	"testing"
	"time"
)

func TestFakeTimersFireWhenAdvancedPast(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f := NewFake(t0)
	soon, later := f.After(time.Second), f.After(time.Minute)
	if n := f.Waiters(); n != 2 {
		t.Fatalf("waiters %d, want 2", n)
	}
	f.Advance(999 * time.Millisecond)
	select {
	case <-soon:
		t.Fatal("fired before its time")
	default:
	}
	f.Advance(time.Millisecond)
	if got := <-soon; !got.Equal(t0.Add(time.Second)) {
		t.Fatalf("fired at %v", got)
	}
	select {
	case <-later:
		t.Fatal("the later timer fired")
	default:
	}
	f.Set(t0.Add(time.Hour))
	<-later
	if n := f.Waiters(); n != 0 {
		t.Fatalf("waiters %d after firing", n)
	}
	select {
	case <-f.After(0):
	default:
		t.Fatal("After(0) did not fire at once")
	}
}

func TestSleepWakesOnAdvance(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	done := make(chan error, 1)
	go func() { done <- Sleep(context.Background(), f, time.Minute) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.WaitForWaiters(ctx, 1); err != nil {
		t.Fatal(err)
	}
	f.Advance(time.Minute)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if err := Sleep(cctx, f, time.Minute); err != context.Canceled {
		t.Fatalf("Sleep on an ended context: %v", err)
	}
	if err := Sleep(context.Background(), Real{}, time.Millisecond); err != nil {
		t.Fatal(err)
	}
}

func TestWaitForWaitersEndsWithItsContext(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := f.WaitForWaiters(ctx, 1); err != context.DeadlineExceeded {
		t.Fatalf("got %v", err)
	}
}

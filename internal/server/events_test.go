package server_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/server"
	"github.com/wharf-dev/wharf/internal/store"
)

// TestOutboxIsPruned: the events-prune job deletes events older than the retention, with no consumer
// configured, as the injected clock moves.
func TestOutboxIsPruned(t *testing.T) {
	dir := t.TempDir()
	st, err := server.OpenStores(dir)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	app, err := server.New(server.Options{DataDir: dir, Clock: clk, EventRetention: time.Hour,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, st)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { app.Jobs.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	count := func() int {
		var evs []store.Event
		if err := st.Meta.View(ctx, func(tx store.Tx) (err error) { evs, err = tx.EventsAfter(store.EventPosition{}, 10); return err }); err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	if err := st.Meta.Update(ctx, func(tx store.Tx) error {
		return tx.AddEvent(&store.Event{Type: "ImagePushed", At: t0, RegistryID: "000000000000", Repository: "app", Data: []byte(`{}`)})
	}); err != nil {
		t.Fatal(err)
	}
	for step := 1; count() > 0; step++ {
		if step > 12 { // the event is 1 hour too old after 2 hours, when the hourly job has run twice
			t.Fatalf("event still kept at %s", clk.Now())
		}
		if err := clk.WaitForWaiters(ctx, 1); err != nil {
			t.Fatal(err)
		}
		clk.Advance(30 * time.Minute)
		for i := 0; i < 20 && count() > 0; i++ { // the job runs in the background
			time.Sleep(10 * time.Millisecond)
		}
	}
	if got := clk.Now().Sub(t0); got < time.Hour {
		t.Fatalf("pruned %s after it happened, before the retention", got)
	}
}

package registry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/blob"
	"github.com/wharf-dev/wharf/internal/registry"
)

// TestPauseGC: while a pause holds, collections in any process are refused and delete nothing; a pause
// taken while a collection runs waits for it; after resume the garbage goes.
func TestPauseGC(t *testing.T) {
	e := newEnv(t, registry.Config{GCGrace: time.Hour})
	e.repo(t, "app", "")
	gone := e.push(t, "app", "gone", "gone")
	if _, err := e.svc.DeleteManifest(ctx, reg, "app", gone); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Hour)
	layer := digest.FromString("layer gone")

	resume, err := e.svc.PauseGC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other := registry.New(e.meta, e.blobs, e.clock, e.cfg, nil) // another process on the same metadata
	defer other.Close()
	for _, svc := range []*registry.Service{e.svc, other} {
		if _, err := svc.CollectGarbage(ctx); !errors.Is(err, registry.ErrGCBusy) {
			t.Fatalf("collection during a pause: %v", err)
		}
	}
	if _, err := e.blobs.Stat(ctx, layer); err != nil {
		t.Fatalf("blob deleted during a pause: %v", err)
	}
	// A second pause waits for the first: it finds the lease taken and waits for a second of the test's
	// clock, which does not move, until its context ends.
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := other.PauseGC(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second pause: %v", err)
	}
	resume()

	st, err := other.CollectGarbage(ctx)
	if err != nil || st.BlobsDeleted != 2 {
		t.Fatalf("collection after resume: %+v, %v", st, err)
	}
	if _, err := e.blobs.Stat(ctx, layer); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("blob after collection: %v", err)
	}
}

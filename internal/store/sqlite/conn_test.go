package sqlite

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

// TestFirstQueriesWithEveryReaderBusy: read transactions holding every connection of the readers' pool
// each run a query for the first time. Preparing it must not wait for another connection of the pool:
// none would come free.
func TestFirstQueriesWithEveryReaderBusy(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := s.r.Stats().MaxOpenConnections
	var inside sync.WaitGroup
	inside.Add(n)
	errs := make(chan error, n)
	for range n {
		go func() {
			errs <- s.View(t.Context(), func(tx store.Tx) error {
				inside.Done()
				inside.Wait() // every connection is taken
				_, err := tx.GetRepository("000000000000", "app")
				if errors.Is(err, store.ErrNotFound) {
					err = nil
				}
				return err
			})
		}()
	}
	for range n {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("read transactions still waiting after 20s: preparing their first query waits for a connection")
		}
	}
}

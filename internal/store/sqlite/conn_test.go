package sqlite

import (
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

// TestConnectionSettings: every connection of both pools runs with the settings the store relies on, and
// only the committer's may write.
func TestConnectionSettings(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, pool := range []struct {
		name      string
		db        *sql.DB
		conns     int
		queryOnly int
	}{{"writer", s.w, 1, 0}, {"reader", s.r, 3, 1}} {
		var held []*sql.Conn // distinct connections: each is set up on its own
		for range pool.conns {
			c, err := pool.db.Conn(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
			for pragma, want := range map[string]string{"journal_mode": "wal", "foreign_keys": "1",
				"synchronous": "2", "busy_timeout": "10000", "query_only": string(rune('0' + pool.queryOnly))} {
				var got string
				if err := c.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil || got != want {
					t.Errorf("%s: PRAGMA %s = %q, %v; want %q", pool.name, pragma, got, err, want)
				}
			}
		}
		for _, c := range held {
			c.Close()
		}
	}
}

// TestWritesTakeTheLockAtBegin: the committer's transactions begin IMMEDIATE, so a write never fails
// half-way for want of the lock another process holds (it waits at BEGIN under the busy timeout), while
// a read transaction leaves the write lock free.
func TestWritesTakeTheLockAtBegin(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wharf.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	other, err := sql.Open(driverName, "file:"+path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.SetMaxOpenConns(1)
	tryWrite := func() error {
		tx, err := other.Begin()
		if err != nil {
			return err
		}
		defer tx.Rollback()
		_, err = tx.Exec(`CREATE TABLE IF NOT EXISTS probe (x)`)
		return err
	}

	tx, err := s.w.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tryWrite(); err == nil {
		t.Error("another connection wrote while a write transaction that has run no statement was open")
	}
	tx.Rollback()

	err = s.View(t.Context(), func(store.Tx) error { return tryWrite() })
	if err != nil {
		t.Errorf("a read transaction blocked a writer: %v", err)
	}
}

// TestFullIsErrFull: a write refused for want of space (here the page limit SQLite enforces) is
// store.ErrFull.
func TestFullIsErrFull(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := &store.Repository{RegistryID: "000000000000", Name: "app", TagMutability: "MUTABLE"}
	if err := s.Update(t.Context(), func(tx store.Tx) error { return tx.CreateRepository(r) }); err != nil {
		t.Fatal(err)
	}
	// No page beyond those in use; set on the committer's only connection.
	if _, err := s.w.Exec(`PRAGMA max_page_count = 1`); err != nil {
		t.Fatal(err)
	}
	err = s.Update(t.Context(), func(tx store.Tx) error {
		return tx.CreateUpload(&store.Upload{ID: "u", RepositoryID: r.ID, Algorithm: "sha256", HashState: make([]byte, 1<<16)})
	})
	if !errors.Is(err, store.ErrFull) {
		t.Fatalf("Update on a full database: %v", err)
	}
}

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

package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/wharf-dev/wharf/internal/store"
	"github.com/wharf-dev/wharf/internal/store/sqlite"
	"github.com/wharf-dev/wharf/internal/store/sqlstore"
	"github.com/wharf-dev/wharf/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(filepath.Join(t.TempDir(), "wharf.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestReopenKeepsDataAndSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wharf.db")
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(t.Context(), func(tx store.Tx) error {
		return tx.CreateRepository(&store.Repository{RegistryID: "000000000000", Name: "kept", TagMutability: "MUTABLE"})
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlite.Open(path) // migrations must not run twice
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.View(t.Context(), func(tx store.Tx) error {
		_, err := tx.GetRepository("000000000000", "kept")
		return err
	})
	if err != nil {
		t.Fatalf("after reopen: %v", err)
	}
}

// TestCopyCoversEveryTable: the table list that storage migration copies names every table of the schema.
func TestCopyCoversEveryTable(t *testing.T) {
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, err := s.SQL().Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('schema_version', 'leases', 'uploads')`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		rows.Scan(&name)
		if !slices.Contains(sqlstore.Tables, name) {
			t.Errorf("table %s is not in sqlstore.Tables: storage migration would not copy it", name)
		}
	}
}

// TestFilesArePrivate: the database and its -wal and -shm files are readable by their owner only, also
// when an older version left them readable by all.
func TestFilesArePrivate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "wharf.db")
	files := []string{path, path + "-wal", path + "-shm"}
	check := func(when string) {
		t.Helper()
		for _, f := range files {
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatalf("%s: %v", when, err)
			}
			if m := fi.Mode().Perm(); m != 0o600 {
				t.Errorf("%s: %s has mode %v", when, filepath.Base(f), m)
			}
		}
	}
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(t.Context(), func(tx store.Tx) error {
		return tx.CreateAccount(store.Account{ID: "000000000000"})
	})
	if err != nil {
		t.Fatal(err)
	}
	check("new database")
	s.Close()

	for _, f := range files { // as an older version left them: the -wal and -shm of a crash, say
		fh, err := os.OpenFile(f, os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		fh.Close()
		if err := os.Chmod(f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err = sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check("reopened database")
	err = s.View(t.Context(), func(tx store.Tx) error {
		_, err := tx.GetAccount("000000000000")
		return err
	})
	if err != nil {
		t.Fatalf("after reopening: %v", err)
	}
}

// TestUpdateLazy: a lazy update commits without waiting for the disk, an update after it waits again,
// and both are kept.
func TestUpdateLazy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wharf.db")
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	synchronous := func() int {
		var n int
		if err := s.SQL().QueryRow(`PRAGMA synchronous`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	create := func(update func(context.Context, func(store.Tx) error) error, name string) {
		err := update(t.Context(), func(tx store.Tx) error {
			return tx.CreateRepository(&store.Repository{RegistryID: "000000000000", Name: name, TagMutability: "MUTABLE"})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	create(s.UpdateLazy, "lazy")
	if n := synchronous(); n != 1 {
		t.Errorf("synchronous after a lazy update = %d, want 1 (NORMAL)", n)
	}
	create(s.Update, "durable")
	if n := synchronous(); n != 2 {
		t.Errorf("synchronous after an update = %d, want 2 (FULL)", n)
	}
	create(s.UpdateLazy, "lazy again")
	s.Close()
	if s, err = sqlite.Open(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.View(t.Context(), func(tx store.Tx) error {
		for _, name := range []string{"lazy", "durable", "lazy again"} {
			if _, err := tx.GetRepository("000000000000", name); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

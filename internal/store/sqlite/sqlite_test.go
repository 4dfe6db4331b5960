package sqlite_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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

// TestCopyCoversEveryTable: the table list that storage migration copies names every table of the schema
// (but the audit trail's, which CopyAuditTrail copies).
func TestCopyCoversEveryTable(t *testing.T) {
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, err := s.SQL().Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('schema_version', 'leases', 'nodes', 'uploads', 'sqlite_sequence', 'audit_chunks')`)
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

// TestOpensOldDriverDatabase: a database written by the build that used the cgo driver (mattn/go-sqlite3
// v1.14.53) opens unchanged: its main file holds a first batch of rows, its WAL a second, committed
// one that was never checkpointed, as a crash leaves them. testdata/mattn.db and mattn.db-wal were
// copied while that build's store was open.
func TestOpensOldDriverDatabase(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "wharf.db")
	for _, f := range []string{"mattn.db", "mattn.db-wal"} {
		gunzip(t, filepath.Join("testdata", f+".gz"), filepath.Join(dir, strings.Replace(f, "mattn.db", "wharf.db", 1)))
	}
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	check := func() {
		t.Helper()
		err := s.View(t.Context(), func(tx store.Tx) error {
			k, err := tx.GetAccessKey("AKIAOLDDRIVER0000001")
			if err != nil || !bytes.Equal(k.Secret, []byte{0, 1, 2, 0xfe, 0xff}) || k.UserName != "ci" {
				t.Errorf("access key = %+v, %v", k, err)
			}
			r, err := tx.GetRepository("123456789012", "team/app")
			if err != nil {
				return err
			}
			if !r.ScanOnPush || r.TagMutability != "IMMUTABLE" || !r.CreatedAt.Equal(time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)) {
				t.Errorf("repository = %+v", r)
			}
			if tags, err := tx.RepositoryTags(r.ID); err != nil || len(tags) != 1 || tags[0].Value != "ünïcode" {
				t.Errorf("resource tags = %+v, %v", tags, err)
			}
			for name, content := range map[string]string{"v1": `{"schemaVersion":2}`, "v2": `{"schemaVersion":2,"v":2}`} {
				tag, err := tx.GetTag(r.ID, name)
				if err != nil {
					return fmt.Errorf("tag %s: %w", name, err)
				}
				img, err := tx.GetImage(r.ID, tag.Digest)
				if err != nil || string(img.Content) != content {
					t.Errorf("image of %s = %+v, %v", name, img, err)
				}
			}
			if n, err := tx.CountImages(r.ID); err != nil || n != 2 {
				t.Errorf("CountImages = %d, %v", n, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var ok string
		if err := s.SQL().QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
			t.Fatalf("integrity_check = %q, %v", ok, err)
		}
	}
	check()
	err = s.Update(t.Context(), func(tx store.Tx) error { // and takes writes
		r, err := tx.GetRepository("123456789012", "team/app")
		if err != nil {
			return err
		}
		return tx.DeleteTag(r.ID, "v2")
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = sqlite.Open(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.View(t.Context(), func(tx store.Tx) error {
		r, err := tx.GetRepository("123456789012", "team/app")
		if err != nil {
			return err
		}
		if _, err := tx.GetTag(r.ID, "v2"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted tag: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func gunzip(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
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

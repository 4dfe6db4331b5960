package postgres_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"sync/atomic"
	"testing"

	"github.com/wharf-dev/wharf/internal/store"
	"github.com/wharf-dev/wharf/internal/store/postgres"
	"github.com/wharf-dev/wharf/internal/store/storetest"
)

// server returns the URL of the PostgreSQL server scripts/test.sh starts (WHARF_TEST_POSTGRES). Without
// one the test is skipped in a plain `go test`, and fails when the end-to-end suite runs (WHARF_E2E=1).
func server(t *testing.T) string {
	u := os.Getenv("WHARF_TEST_POSTGRES")
	if u == "" {
		if os.Getenv("WHARF_E2E") == "1" {
			t.Fatal("WHARF_TEST_POSTGRES is not set; scripts/test.sh starts a PostgreSQL server and sets it")
		}
		t.Skip("WHARF_TEST_POSTGRES is not set (scripts/test.sh starts a PostgreSQL server)")
	}
	return u
}

var databases atomic.Int64

// freshDatabase creates an empty database on the server and returns its URL; it is dropped afterwards.
func freshDatabase(t *testing.T, base string) string {
	t.Helper()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name := fmt.Sprintf("wharf_test_%d_%d", os.Getpid(), databases.Add(1))
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err == nil {
			admin.Exec("DROP DATABASE " + name + " WITH (FORCE)")
			admin.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func TestConformance(t *testing.T) {
	base := server(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := postgres.Open(freshDatabase(t, base))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestMigrationsOnceAcrossNodes opens one database from several stores at once, as nodes starting together
// do: the schema is migrated exactly once and every store works.
func TestMigrationsOnceAcrossNodes(t *testing.T) {
	dsn := freshDatabase(t, server(t))
	stores := make([]*postgres.Store, 4)
	errs := make(chan error, len(stores))
	for i := range stores {
		go func() {
			var err error
			stores[i], err = postgres.Open(dsn)
			errs <- err
		}()
	}
	for range stores {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range stores {
		defer s.Close()
	}
	db, _ := sql.Open("pgx", dsn)
	defer db.Close()
	var versions, max int
	if err := db.QueryRow(`SELECT COUNT(*), MAX(version) FROM schema_version`).Scan(&versions, &max); err != nil || versions != max {
		t.Fatalf("schema_version has %d rows up to %d (%v)", versions, max, err)
	}
	ctx := context.Background()
	if err := stores[0].Update(ctx, func(tx store.Tx) error {
		return tx.CreateRepository(&store.Repository{RegistryID: "000000000000", Name: "shared", TagMutability: "MUTABLE"})
	}); err != nil {
		t.Fatal(err)
	}
	if err := stores[3].View(ctx, func(tx store.Tx) error { _, err := tx.GetRepository("000000000000", "shared"); return err }); err != nil {
		t.Fatalf("another node does not see the repository: %v", err)
	}
}

func TestPoolSizeInURL(t *testing.T) {
	dsn := freshDatabase(t, server(t))
	s, err := postgres.Open(dsn + "&pool_max_conns=3")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.SQL().Stats().MaxOpenConnections; got != 3 {
		t.Fatalf("MaxOpenConnections = %d, want 3", got)
	}
	if _, err := postgres.Open(dsn + "&pool_max_conns=lots"); err == nil {
		t.Fatal("a bad pool_max_conns was accepted")
	}
}

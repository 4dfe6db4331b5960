package sqlstore

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/wharf-dev/wharf/internal/store"
)

// TestOutboxMigration upgrades a database of schema 9 holding events: migration 11 keeps them, in order,
// drops the index by time and rebuilds the table without AUTOINCREMENT.
func TestOutboxMigration(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "old.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d := &Dialect{}
	all := migrations
	migrations = all[:9]
	err = Migrate(db, d)
	migrations = all
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO events (tx, type, at, registry_id, repository, data) VALUES
		(0, 'a', 1, 'r', 'x', '{}'), (0, 'b', 2, 'r', 'x', '{}')`); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(db, d); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE name = 'events_at' OR sql LIKE '%AUTOINCREMENT%'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d of events_at and AUTOINCREMENT tables, %v", n, err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	st := NewTx(context.Background(), tx, nil, d)
	if err := st.AddEvent(&store.Event{Type: "c", At: time.Unix(3, 0), Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	evs, err := st.EventsAfter(store.EventPosition{}, 10)
	if err != nil || len(evs) != 3 || evs[0].Type != "a" || evs[1].Type != "b" || evs[2].Type != "c" {
		t.Fatalf("events %+v, %v", evs, err)
	}
}

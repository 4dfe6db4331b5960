package sqlstore

import (
	"database/sql"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"
)

// TestImageCountBackfill upgrades a database of schema 6 holding images: migration 7 counts them.
func TestImageCountBackfill(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "old.db")+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d := &Dialect{}
	all := migrations
	migrations = all[:6]
	err = Migrate(db, d)
	migrations = all
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO repositories (id, registry_id, name, created_at, tag_mutability, scan_on_push, encryption_type) VALUES (1, 'r', 'a', 0, 'MUTABLE', 0, 'AES256'), (2, 'r', 'b', 0, 'MUTABLE', 0, 'AES256')`,
		`INSERT INTO images (repository_id, digest, media_type, artifact_type, subject, size, pushed_at, annotations, content) VALUES
			(1, 'sha256:1', 'm', '', '', 1, 1, '', x''), (1, 'sha256:2', 'm', '', '', 1, 1, '', x''), (2, 'sha256:3', 'm', '', '', 1, 1, '', x'')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if err := Migrate(db, d); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[int]int{1: 2, 2: 1} {
		var n int
		if err := db.QueryRow(`SELECT image_count FROM repositories WHERE id = ?`, id).Scan(&n); err != nil || n != want {
			t.Fatalf("repository %d counts %d images (%v), want %d", id, n, err, want)
		}
	}
}

// Package backup copies an installation whose metadata is in SQLite to a backup, a directory or an S3
// prefix, while it runs; and restores a backup into an empty installation.
//
// A backup is consistent. Its metadata is one snapshot of the SQLite database (VACUUM INTO: one read
// transaction, taken while pushes go on), and it holds every blob that snapshot uses. Blobs are
// content-addressed and never rewritten, so the blobs copied after the snapshot are the bytes it names, as
// long as none is deleted in between; only garbage collection deletes blobs, and it is paused (its lease
// held, in every process) from before the snapshot until the last blob is copied. Should a blob the
// snapshot links to a repository be gone all the same (a collection that outlived its lease), the backup
// fails and says so; a blob the snapshot does not link (a push between storing a blob and linking it, or
// garbage) is left out, and so is its row.
//
// A backup looks the same in a directory and under an S3 prefix:
//
//	backup.json                        what the backup holds (Manifest), written last
//	server.key                         the installation's secret, when its data directory held it
//	blobs/<algorithm>/<two hex>/<hex>  the blobs; the snapshots of the metadata and of the audit trail
//	                                   (audit.db) are among them, named in backup.json
//
// Backing up to the same place again copies only the blobs it lacks and replaces backup.json at the end;
// nothing is ever deleted from a backup, so backup.json always describes a complete one.
package backup

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/blob"
	blobfs "github.com/wharf-dev/wharf/internal/blob/fs"
	"github.com/wharf-dev/wharf/internal/store/sqlite"
	"github.com/wharf-dev/wharf/internal/store/sqlstore"
)

// Names of the files beside a backup's blobs.
const (
	ManifestFile  = "backup.json"
	ServerKeyFile = "server.key"
)

// Format is the version of the backup layout this package writes and reads.
const Format = 1

// workers is how many blobs are copied at once.
const workers = 4

// errNoBackup says that a place holds no complete backup.
var errNoBackup = fmt.Errorf("no backup here: %s is missing (a backup writes it last, so an interrupted one has none)", ManifestFile)

// errDamaged is wrapped in the error of bytes that are not the blob they should be.
var errDamaged = errors.New("damaged")

// Manifest describes a complete backup.
type Manifest struct {
	Format        int       `json:"format"`
	Created       time.Time `json:"created"`
	SchemaVersion int       `json:"schemaVersion"` // of the metadata snapshot
	// Metadata is the digest of the SQLite snapshot, stored among the blobs.
	Metadata     digest.Digest `json:"metadata"`
	MetadataSize int64         `json:"metadataSize"`
	Blobs        int           `json:"blobs"` // the blobs the snapshot records, every one in the backup
	Bytes        int64         `json:"bytes"`
	ServerKey    bool          `json:"serverKey"` // server.key is in the backup
	// Audit is the digest of the audit trail's SQLite snapshot (audit.db), stored among the blobs; ""
	// in a backup of an installation that kept none.
	Audit     digest.Digest `json:"audit,omitempty"`
	AuditSize int64         `json:"auditSize,omitempty"`
}

// Files are the named files beside a backup's blobs.
type Files interface {
	// ReadFile returns a file's content; a missing file is an error matching fs.ErrNotExist.
	ReadFile(ctx context.Context, name string) ([]byte, error)
	// WriteFile replaces a file whole.
	WriteFile(ctx context.Context, name string, data []byte) error
}

// Location is where a backup is: its blobs, and the files beside them.
type Location struct {
	Blobs blob.Store
	Files Files
}

// Source is the installation to back up.
type Source struct {
	DB *sql.DB // its SQLite database (the metadata store's SQL())
	// AuditDB is the audit trail's SQLite database (audit.db), nil when it has none.
	AuditDB *sql.DB
	Blobs   blob.Store
	// DataDir holds the snapshot while the backup runs (and server.key).
	DataDir string
	// ServerKey takes <DataDir>/server.key into the backup: the secret access keys are sealed with, unless
	// the installation is given its secret otherwise (--server-secret).
	ServerKey bool
	// PauseGC keeps garbage collection from deleting blobs until resume is called; nil when nothing
	// else collects.
	PauseGC func(ctx context.Context) (resume func(), err error)
	Log     *slog.Logger
}

// Report says what Backup or Restore did.
type Report struct {
	Manifest
	Copied      int   // blobs copied (the others were in the destination already)
	CopiedBytes int64 // their size
	Dropped     int   // rows of blobs left out of the snapshot: being stored when it was taken, or being deleted
}

type blobRow struct {
	d    digest.Digest
	size int64
}

// Backup writes a consistent backup of src to dst.
func Backup(ctx context.Context, src Source, dst Location) (Report, error) {
	var rep Report
	log := logger(src.Log)
	if src.PauseGC != nil {
		resume, err := src.PauseGC(ctx)
		if err != nil {
			return rep, fmt.Errorf("pausing garbage collection: %w", err)
		}
		defer resume()
	}
	snap, err := tempFile(src.DataDir, ".backup-")
	if err != nil {
		return rep, err
	}
	defer removeDB(snap)
	if _, err := src.DB.ExecContext(ctx, "VACUUM INTO ?", snap); err != nil {
		return rep, fmt.Errorf("snapshot of the metadata: %w", err)
	}
	rep.Created = time.Now().UTC()
	db, err := sqlite.Open(snap)
	if err != nil {
		return rep, fmt.Errorf("snapshot of the metadata: %w", err)
	}
	defer db.Close()
	active, deleting, linked, err := snapshotBlobs(ctx, db.SQL())
	if err != nil {
		return rep, err
	}
	log.Info("metadata snapshot taken", "blobs", len(active))

	var mu sync.Mutex
	dropped := deleting
	var done atomic.Int64
	err = each(ctx, active, func(ctx context.Context, b blobRow) error {
		created, err := copyBlob(ctx, src.Blobs, dst.Blobs, b, false)
		switch {
		case errors.Is(err, blob.ErrNotFound) && !linked[b.d]:
			mu.Lock()
			dropped = append(dropped, b.d)
			mu.Unlock()
			return nil
		case errors.Is(err, blob.ErrNotFound):
			return fmt.Errorf("blob %s, which the snapshot uses, is not in the installation's blob store: deleted while the backup ran (by a garbage collection that outlived its lease), or the blob store is not the server's (--blobs); back up again", b.d)
		case errors.Is(err, errDamaged):
			return fmt.Errorf("blob %s in the installation is %w", b.d, err)
		case err != nil:
			return fmt.Errorf("blob %s: %w", b.d, err)
		}
		mu.Lock()
		rep.Blobs++
		rep.Bytes += b.size
		if created {
			rep.Copied++
			rep.CopiedBytes += b.size
		}
		mu.Unlock()
		if n := done.Add(1); n%1000 == 0 {
			log.Info("blobs backed up", "count", n, "of", len(active))
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	rep.Dropped = len(dropped)
	if err := prune(ctx, db.SQL(), dropped); err != nil {
		return rep, fmt.Errorf("snapshot of the metadata: %w", err)
	}
	if err := db.SQL().QueryRowContext(ctx, `SELECT MAX(version) FROM schema_version`).Scan(&rep.SchemaVersion); err != nil {
		return rep, fmt.Errorf("snapshot of the metadata: %w", err)
	}
	if err := db.Close(); err != nil {
		return rep, err
	}
	if rep.Metadata, rep.MetadataSize, err = putFile(ctx, dst.Blobs, snap); err != nil {
		return rep, fmt.Errorf("storing the metadata snapshot: %w", err)
	}
	if src.AuditDB != nil {
		if rep.Audit, rep.AuditSize, err = snapshotAudit(ctx, src.AuditDB, src.DataDir, dst.Blobs); err != nil {
			return rep, fmt.Errorf("snapshot of the audit trail: %w", err)
		}
	}
	if src.ServerKey {
		key, err := os.ReadFile(filepath.Join(src.DataDir, ServerKeyFile))
		if err != nil {
			return rep, fmt.Errorf("server key: %w", err)
		}
		if err := dst.Files.WriteFile(ctx, ServerKeyFile, key); err != nil {
			return rep, fmt.Errorf("server key: %w", err)
		}
		rep.ServerKey = true
	}
	rep.Format = Format
	m, _ := json.MarshalIndent(rep.Manifest, "", "  ")
	if err := dst.Files.WriteFile(ctx, ManifestFile, append(m, '\n')); err != nil {
		return rep, fmt.Errorf("writing %s: %w", ManifestFile, err)
	}
	log.Info("backup complete", "blobs", rep.Blobs, "bytes", rep.Bytes, "copied", rep.Copied, "dropped_rows", rep.Dropped)
	return rep, nil
}

// snapshotAudit stores a snapshot of the audit trail's database among the backup's blobs. The trail keeps
// going meanwhile: the records written after the snapshot are not in the backup.
func snapshotAudit(ctx context.Context, db *sql.DB, dir string, to blob.Store) (digest.Digest, int64, error) {
	snap, err := tempFile(dir, ".backup-audit-")
	if err != nil {
		return "", 0, err
	}
	defer removeDB(snap)
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", snap); err != nil {
		return "", 0, err
	}
	return putFile(ctx, to, snap)
}

// snapshotBlobs lists the snapshot's Active blobs, its Deleting ones, and which are linked to a repository.
func snapshotBlobs(ctx context.Context, db *sql.DB) (active []blobRow, deleting []digest.Digest, linked map[digest.Digest]bool, err error) {
	rows, err := db.QueryContext(ctx, `SELECT digest, size, status FROM blobs ORDER BY digest`)
	if err != nil {
		return nil, nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var b blobRow
		var status int
		if err := rows.Scan(&b.d, &b.size, &status); err != nil {
			return nil, nil, nil, err
		}
		if status == 0 {
			active = append(active, b)
		} else { // a collection had begun deleting it: no repository links it, and its bytes may be gone
			deleting = append(deleting, b.d)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, nil, err
	}
	linked = map[digest.Digest]bool{}
	rows, err = db.QueryContext(ctx, `SELECT DISTINCT digest FROM repository_blobs`)
	if err != nil {
		return nil, nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var d digest.Digest
		if err := rows.Scan(&d); err != nil {
			return nil, nil, nil, err
		}
		linked[d] = true
	}
	return active, deleting, linked, rows.Err()
}

// prune removes from the snapshot what belongs to the running installation only: leases its processes
// hold, upload sessions (their bytes are not in the backup; clients start again), and the rows of the
// blobs left out.
func prune(ctx context.Context, db *sql.DB, dropped []digest.Digest) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, stmt := range []string{`DELETE FROM leases`, `DELETE FROM uploads`} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	for _, d := range dropped {
		if _, err := tx.ExecContext(ctx, `DELETE FROM blobs WHERE digest = ?`, d.String()); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Read returns the manifest of the backup at from.
func Read(ctx context.Context, from Location) (*Manifest, error) {
	data, err := from.Files.ReadFile(ctx, ManifestFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNoBackup
	}
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s is damaged: %w", ManifestFile, err)
	}
	if m.Format != Format {
		return nil, fmt.Errorf("%s: backup format %d; this wharf reads format %d", ManifestFile, m.Format, Format)
	}
	if err := m.Metadata.Validate(); err != nil {
		return nil, fmt.Errorf("%s is damaged: metadata %q: %w", ManifestFile, m.Metadata, err)
	}
	return &m, nil
}

// Target is the installation a backup is restored into.
type Target struct {
	// DataDir must be missing or empty (a lost+found directory is allowed); it receives wharf.db, and
	// audit.db and server.key when the backup holds them.
	DataDir string
	// Blobs is the installation's blob store; nil is files in DataDir.
	Blobs blob.Store
	Log   *slog.Logger
}

// Restore restores the backup at from into to. It verifies every digest as it copies; when anything is
// missing or damaged it fails and removes what it wrote, so the target is as it was. The metadata file
// appears last: a target without wharf.db was not restored.
func Restore(ctx context.Context, from Location, to Target) (rep Report, err error) {
	log := logger(to.Log)
	m, err := Read(ctx, from)
	if err != nil {
		return rep, err
	}
	rep.Manifest = *m
	if m.SchemaVersion > sqlstore.SchemaVersion() {
		return rep, fmt.Errorf("the backup's metadata schema is version %d, newer than this wharf's (%d): restore it with the release that made it", m.SchemaVersion, sqlstore.SchemaVersion())
	}
	if err := checkEmpty(to.DataDir); err != nil {
		return rep, err
	}
	_, statErr := os.Stat(to.DataDir)
	createdDir := errors.Is(statErr, fs.ErrNotExist)
	if err := os.MkdirAll(to.DataDir, 0o700); err != nil {
		return rep, err
	}
	var created []digest.Digest // blobs this restore added to to.Blobs
	var mu sync.Mutex
	blobs := to.Blobs
	defer func() {
		if err == nil {
			return
		}
		ctx := context.WithoutCancel(ctx)
		for _, d := range created {
			blobs.Delete(ctx, d)
		}
		undoDir(to.DataDir, createdDir)
	}()

	tmp := filepath.Join(to.DataDir, ".restore-wharf.db")
	if err := fetchFile(ctx, from.Blobs, m.Metadata, m.MetadataSize, tmp); err != nil {
		return rep, fmt.Errorf("the backup's metadata: %w", err)
	}
	db, err := sqlite.Open(tmp) // brings an older schema up to date
	if err != nil {
		return rep, fmt.Errorf("the backup's metadata: %w", err)
	}
	var list []blobRow
	list, _, _, err = snapshotBlobs(ctx, db.SQL())
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return rep, fmt.Errorf("the backup's metadata: %w", err)
	}
	if len(list) != m.Blobs {
		return rep, fmt.Errorf("the backup's metadata records %d blobs, %s says %d", len(list), ManifestFile, m.Blobs)
	}

	if blobs == nil {
		if blobs, err = blobfs.New(to.DataDir); err != nil {
			return rep, err
		}
	}
	var done atomic.Int64
	err = each(ctx, list, func(ctx context.Context, b blobRow) error {
		added, err := copyBlob(ctx, from.Blobs, blobs, b, true)
		if errors.Is(err, blob.ErrNotFound) {
			return fmt.Errorf("blob %s is missing from the backup", b.d)
		}
		if errors.Is(err, errDamaged) {
			return fmt.Errorf("blob %s in the backup is %w", b.d, err)
		}
		if err != nil {
			return fmt.Errorf("blob %s: %w", b.d, err)
		}
		mu.Lock()
		if added {
			created = append(created, b.d)
			rep.Copied++
			rep.CopiedBytes += b.size
		}
		mu.Unlock()
		if n := done.Add(1); n%1000 == 0 {
			log.Info("blobs restored", "count", n, "of", len(list))
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	if m.ServerKey {
		key, err := from.Files.ReadFile(ctx, ServerKeyFile)
		if err != nil {
			return rep, fmt.Errorf("the backup's server key: %w", err)
		}
		if len(key) == 0 {
			return rep, fmt.Errorf("the backup's server key is empty")
		}
		if err := writeFile(filepath.Join(to.DataDir, ServerKeyFile), key); err != nil {
			return rep, err
		}
	}
	if m.Audit != "" {
		if err := restoreAudit(ctx, from.Blobs, m, to.DataDir); err != nil {
			return rep, fmt.Errorf("the backup's audit trail: %w", err)
		}
	}
	if err := os.Rename(tmp, filepath.Join(to.DataDir, "wharf.db")); err != nil {
		return rep, err
	}
	if err := syncDir(to.DataDir); err != nil {
		return rep, err
	}
	log.Info("restore complete", "blobs", len(list), "bytes", m.Bytes)
	return rep, nil
}

// restoreAudit puts the backup's audit trail in the data directory as audit.db, its schema brought up
// to date.
func restoreAudit(ctx context.Context, from blob.Store, m *Manifest, dir string) error {
	tmp := filepath.Join(dir, ".restore-audit.db")
	if err := fetchFile(ctx, from, m.Audit, m.AuditSize, tmp); err != nil {
		return err
	}
	db, err := sqlite.Open(tmp)
	if err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "audit.db"))
}

// checkEmpty refuses a data directory that holds anything (but lost+found, as a fresh file system has).
func checkEmpty(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() != "lost+found" {
			return fmt.Errorf("the data directory %s is not empty (it holds %s): restore only into an empty one; move the old one aside first", dir, e.Name())
		}
	}
	return nil
}

// undoDir removes what a failed restore wrote into the data directory, which was missing or empty.
func undoDir(dir string, created bool) {
	if created {
		os.RemoveAll(dir)
		return
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "lost+found" {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// each runs fn on every item, a few at a time, and returns the first error, after which it starts no more.
func each[T any](ctx context.Context, items []T, fn func(context.Context, T) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan T)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for it := range work {
				if err := fn(ctx, it); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for _, it := range items {
		select {
		case work <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	return context.Cause(ctx)
}

// copyBlob copies blob b from one store into another unless the destination holds it already (verified
// by reading it back when verifyExisting, else trusted by its size), and reports whether it copied. The
// bytes are hashed on the way: damaged ones are refused and never become the destination's blob. A blob
// missing from the source is blob.ErrNotFound.
func copyBlob(ctx context.Context, from, to blob.Store, b blobRow, verifyExisting bool) (bool, error) {
	size, err := to.Stat(ctx, b.d)
	switch {
	case err == nil && size == b.size && !verifyExisting:
		return false, nil
	case err == nil && size == b.size:
		if err := verify(ctx, to, b); err == nil {
			return false, nil
		}
		fallthrough
	case err == nil: // damaged; a commit never replaces a blob, so remove it first
		if err := to.Delete(ctx, b.d); err != nil {
			return false, err
		}
	case !errors.Is(err, blob.ErrNotFound):
		return false, err
	}
	rc, err := from.Open(ctx, b.d)
	if err != nil {
		return false, err
	}
	defer rc.Close()
	return true, put(ctx, to, b, rc)
}

// put stores the bytes of r as blob b, refusing them unless they are b's.
func put(ctx context.Context, to blob.Store, b blobRow, r io.Reader) error {
	var id [12]byte
	rand.Read(id[:])
	upload := "backup" + hex.EncodeToString(id[:])
	v := b.d.Algorithm().Digester()
	n, err := to.Append(ctx, upload, 0, io.TeeReader(r, v.Hash()))
	if err == nil && (n != b.size || v.Digest() != b.d) {
		err = fmt.Errorf("%w: %d bytes hashing to %s, want %d bytes", errDamaged, n, v.Digest(), b.size)
	}
	if err == nil {
		err = to.Commit(ctx, upload, b.d, n)
	}
	if err != nil {
		to.Cancel(context.WithoutCancel(ctx), upload)
	}
	return err
}

// verify reads a stored blob back and checks its digest.
func verify(ctx context.Context, s blob.Store, b blobRow) error {
	rc, err := s.Open(ctx, b.d)
	if err != nil {
		return err
	}
	defer rc.Close()
	v := b.d.Algorithm().Digester()
	n, err := io.Copy(v.Hash(), rc)
	if err == nil && (n != b.size || v.Digest() != b.d) {
		err = fmt.Errorf("%w: %d bytes hashing to %s, want %d bytes", errDamaged, n, v.Digest(), b.size)
	}
	return err
}

// putFile stores a local file as a blob and returns its digest and size.
func putFile(ctx context.Context, to blob.Store, path string) (digest.Digest, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	d, err := digest.Canonical.FromReader(f)
	if err != nil {
		return "", 0, err
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return "", 0, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", 0, err
	}
	b := blobRow{d, size}
	if _, err := to.Stat(ctx, d); err == nil {
		if err := verify(ctx, to, b); err == nil {
			return d, size, nil // the same metadata as a backup before
		}
		if err := to.Delete(ctx, d); err != nil {
			return "", 0, err
		}
	}
	return d, size, put(ctx, to, b, f)
}

// fetchFile copies blob d into a new local file at path, readable by its owner only, and verifies it.
func fetchFile(ctx context.Context, from blob.Store, d digest.Digest, size int64, path string) error {
	rc, err := from.Open(ctx, d)
	if errors.Is(err, blob.ErrNotFound) {
		return fmt.Errorf("%s is missing from the backup", d)
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	v := d.Algorithm().Digester()
	n, err := io.Copy(f, io.TeeReader(rc, v.Hash()))
	if err == nil && (n != size || v.Digest() != d) {
		err = fmt.Errorf("%s in the backup is damaged: %d bytes hashing to %s, want %d bytes", d, n, v.Digest(), size)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// tempFile creates an empty file of a random name in dir, readable by its owner only, and returns its path.
func tempFile(dir, prefix string) (string, error) {
	var id [8]byte
	rand.Read(id[:])
	path := filepath.Join(dir, prefix+hex.EncodeToString(id[:])+".db")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	return path, f.Close()
}

// removeDB removes a SQLite database file and the files SQLite keeps beside it.
func removeDB(path string) {
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		os.Remove(p)
	}
}

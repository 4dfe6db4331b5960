package server

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/store/sqlstore"
)

// sqlStore is a metadata store on a SQL database of the shared schema, which can be copied whole.
type sqlStore interface {
	SQL() *sql.DB
	Dialect() *sqlstore.Dialect
}

// MigrationReport says what MigrateStorage copied.
type MigrationReport struct {
	Blobs int
	Bytes int64
	Rows  map[string]int
}

// MigrateStorage copies one installation's storage into another (typically the embedded SQLite and files
// into PostgreSQL and S3), so a team grows without pushing again. Blobs go first, each hashed as it is
// written and again as it is read back from the destination, so every digest is verified; then every
// metadata row, in one transaction, and the audit trail's. The destination's metadata must be empty. Access keys stay sealed
// under the source's server secret, which the destination's nodes must then use.
func MigrateStorage(ctx context.Context, from, to *Stores, log *slog.Logger) (MigrationReport, error) {
	var rep MigrationReport
	src, ok1 := from.Meta.(sqlStore)
	dst, ok2 := to.Meta.(sqlStore)
	if !ok1 || !ok2 {
		return rep, errors.New("both metadata stores must be SQL databases")
	}
	rows, err := src.SQL().QueryContext(ctx, `SELECT digest, size FROM blobs WHERE status = 0 ORDER BY digest`)
	if err != nil {
		return rep, err
	}
	type blobRow struct {
		d    digest.Digest
		size int64
	}
	var blobs []blobRow
	for rows.Next() {
		var b blobRow
		if err := rows.Scan(&b.d, &b.size); err != nil {
			rows.Close()
			return rep, err
		}
		blobs = append(blobs, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return rep, err
	}

	work := make(chan blobRow)
	errs := make(chan error, 4)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				if err := copyBlob(ctx, from, to, b.d, b.size); err != nil {
					errs <- fmt.Errorf("blob %s: %w", b.d, err)
					return
				}
				mu.Lock()
				rep.Blobs++
				rep.Bytes += b.size
				if rep.Blobs%100 == 0 {
					log.Info("blobs copied", "count", rep.Blobs, "of", len(blobs), "bytes", rep.Bytes)
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, b := range blobs {
		select {
		case work <- b:
		case err = <-errs:
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	if err != nil {
		return rep, err
	}
	log.Info("blobs copied and verified", "count", rep.Blobs, "bytes", rep.Bytes)
	if rep.Rows, err = sqlstore.CopyTables(ctx, src.SQL(), src.Dialect(), dst.SQL(), dst.Dialect()); err != nil {
		return rep, err
	}
	// The audit trail: with SQLite a database of its own (audit.db), with PostgreSQL the metadata's.
	srcTrail, ok1 := from.trail().(sqlStore)
	dstTrail, ok2 := to.trail().(sqlStore)
	if !ok1 || !ok2 {
		return rep, errors.New("both audit trails must be SQL databases")
	}
	rep.Rows["audit_chunks"], err = sqlstore.CopyAuditTrail(ctx, srcTrail.SQL(), dstTrail.SQL(), dstTrail.Dialect())
	return rep, err
}

// copyBlob copies one blob unless the destination holds it already, and verifies the destination's bytes
// against the digest either way.
func copyBlob(ctx context.Context, from, to *Stores, d digest.Digest, size int64) error {
	if got, err := to.Blobs.Stat(ctx, d); err != nil || got != size {
		if err == nil { // damaged, and unused (the destination has no metadata yet); a commit never replaces it
			if err := to.Blobs.Delete(ctx, d); err != nil {
				return err
			}
		}
		rc, err := from.Blobs.Open(ctx, d)
		if err != nil {
			return err
		}
		var id [12]byte
		rand.Read(id[:])
		upload := "migrate" + hex.EncodeToString(id[:])
		v := d.Algorithm().Digester()
		n, err := to.Blobs.Append(ctx, upload, 0, io.TeeReader(rc, v.Hash()))
		rc.Close()
		if err == nil && (n != size || v.Digest() != d) {
			err = fmt.Errorf("the source holds %d bytes hashing to %s, not %d bytes", n, v.Digest(), size)
		}
		if err == nil {
			err = to.Blobs.Commit(ctx, upload, d, n)
		}
		if err != nil {
			to.Blobs.Cancel(ctx, upload)
			return err
		}
	}
	rc, err := to.Blobs.Open(ctx, d)
	if err != nil {
		return err
	}
	defer rc.Close()
	v := d.Algorithm().Digester()
	n, err := io.Copy(v.Hash(), rc)
	if err != nil {
		return err
	}
	if n != size || v.Digest() != d {
		return fmt.Errorf("read back from the destination: %d bytes hashing to %s", n, v.Digest())
	}
	return nil
}

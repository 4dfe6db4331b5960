package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/wharf-dev/wharf/internal/backup"
	"github.com/wharf-dev/wharf/internal/blob"
	blobs3 "github.com/wharf-dev/wharf/internal/blob/s3"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/server"
)

const postgresBackup = "with the metadata in PostgreSQL, back it up with pg_dump and restore it with pg_restore, and keep the blob bucket's versioning on (README: Backup and restore)"

// backupCmd copies the installation, while it runs, to a directory or an S3 prefix.
func backupCmd(args []string) error {
	fs, c := commonFlags("backup")
	to := fs.String("to", "", "where to write the backup: a directory, or s3://bucket/prefix (reached like --blobs, with the --s3-… flags)")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if err := required(fs, "to", *to); err != nil {
		return err
	}
	if c.storage.Metadata != "" {
		return errors.New("wharf backup copies the embedded SQLite metadata; " + postgresBackup)
	}
	if err := c.notItsOwnStorage(*to); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log, err := c.logger()
	if err != nil {
		return err
	}
	st, err := c.stores(true)
	if err != nil {
		return err
	}
	app, err := server.New(c.options(log), st)
	if err != nil {
		st.Close()
		return err
	}
	defer app.Close()
	db, ok := st.Meta.(interface{ SQL() *sql.DB })
	if !ok {
		return errors.New("the metadata store is not SQLite")
	}
	dst, err := c.backupLocation(ctx, *to, true)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	src := backup.Source{DB: db.SQL(), Blobs: st.Blobs, DataDir: c.dataDir, ServerKey: c.serverSecret == "",
		PauseGC: app.Service.PauseGC, Log: log}
	if trail, ok := st.Audit.(interface{ SQL() *sql.DB }); ok {
		src.AuditDB = trail.SQL()
	}
	var rep backup.Report
	err = app.Do(ctx, c.accountID, pipeline.Op{Action: "wharf:Backup",
		Resolve: func(*pipeline.Call) ([]pipeline.Target, error) { return nil, nil },
		Run: func(ctx context.Context, _ *pipeline.Call) (err error) {
			rep, err = backup.Backup(ctx, src, dst)
			return err
		}})
	if err != nil {
		return err
	}
	fmt.Printf("backed up the metadata (schema version %d) and %d blobs (%d bytes; %d blobs, %d bytes copied now) to %s\n",
		rep.SchemaVersion, rep.Blobs, rep.Bytes, rep.Copied, rep.CopiedBytes, *to)
	if !rep.ServerKey {
		fmt.Println("the server secret is not in the backup (--server-secret is set): keep it; the restored installation needs it")
	}
	return nil
}

// restoreCmd restores a backup into an empty data directory (and, with --blobs, a blob bucket).
func restoreCmd(args []string) error {
	fs, c := commonFlags("restore")
	from := fs.String("from", "", "the backup: a directory, or s3://bucket/prefix (reached like --blobs, with the --s3-… flags)")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if err := required(fs, "from", *from); err != nil {
		return err
	}
	if c.storage.Metadata != "" {
		return errors.New("wharf restore restores the embedded SQLite metadata; " + postgresBackup)
	}
	if err := c.notItsOwnStorage(*from); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log, err := c.logger()
	if err != nil {
		return err
	}
	loc, err := c.backupLocation(ctx, *from, false)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	var blobs blob.Store // nil: files in the data directory
	if c.storage.Blobs != "" {
		if blobs, err = c.bucket(ctx, c.storage.Blobs); err != nil {
			return fmt.Errorf("--blobs: %w", err)
		}
	}
	rep, err := backup.Restore(ctx, loc, backup.Target{DataDir: c.dataDir, Blobs: blobs, Log: log})
	if err != nil {
		return err
	}
	fmt.Printf("restored the backup of %s: the metadata (schema version %d) and %d blobs (%d bytes) into %s\n",
		rep.Created.Format(time.RFC3339), rep.SchemaVersion, rep.Blobs, rep.Bytes, c.dataDir)
	if !rep.ServerKey {
		fmt.Println("the backup holds no server secret: start wharf with the --server-secret the backed-up installation had")
	}
	return nil
}

// backupLocation opens a backup in a directory (created when create is set) or under an S3 prefix.
func (c *common) backupLocation(ctx context.Context, where string, create bool) (backup.Location, error) {
	if strings.HasPrefix(where, "s3://") {
		s, err := c.bucket(ctx, where)
		return backup.Location{Blobs: s, Files: s}, err
	}
	if create {
		return backup.CreateDir(where)
	}
	return backup.OpenDir(where)
}

// bucket opens a blob store on s3://bucket/prefix with the --s3-… flags.
func (c *common) bucket(ctx context.Context, url string) (*blobs3.Store, error) {
	bucket, prefix, _ := strings.Cut(strings.TrimPrefix(url, "s3://"), "/")
	if bucket == "" {
		return nil, fmt.Errorf("%q: want s3://bucket/prefix", url)
	}
	return blobs3.New(ctx, blobs3.Config{Bucket: bucket, Prefix: prefix, Endpoint: c.storage.S3Endpoint,
		Region: c.storage.S3Region, ForcePathStyle: c.storage.S3ForcePathStyle, UploadGrace: time.Hour})
}

// notItsOwnStorage refuses a backup location that is the installation's own data directory or blob prefix.
func (c *common) notItsOwnStorage(where string) error {
	if strings.HasPrefix(where, "s3://") {
		if c.storage.Blobs != "" && strings.TrimSuffix(where, "/") == strings.TrimSuffix(c.storage.Blobs, "/") {
			return fmt.Errorf("%s is where the installation keeps its blobs; a backup goes elsewhere", where)
		}
		return nil
	}
	a, err1 := filepath.Abs(where)
	b, err2 := filepath.Abs(c.dataDir)
	if err1 == nil && err2 == nil && a == b {
		return fmt.Errorf("%s is the data directory; a backup goes elsewhere", where)
	}
	return nil
}

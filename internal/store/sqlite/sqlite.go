// Package sqlite keeps Wharf's metadata in one SQLite file (WAL mode, fsync on commit), through
// modernc.org/sqlite: SQLite's C source translated to Go, so Wharf builds without cgo.
//
// Writes go through a single committer goroutine that runs every transaction queued meanwhile inside one
// SQLite transaction, each in a savepoint of its own, and commits them together: one fsync for a group of
// concurrent pushes, while each caller still sees its own transaction succeed or fail alone.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/wharf-dev/wharf/internal/store"
	"github.com/wharf-dev/wharf/internal/store/sqlstore"
)

// driverName is the database/sql name of the SQLite driver.
const driverName = "sqlite"

var errClosed = errors.New("sqlite: store closed")

// maxGroup bounds how many transactions share one commit.
const maxGroup = 256

// Store is a store.Store on a SQLite file.
type Store struct {
	w    *sql.DB // one connection: the committer's
	r    *sql.DB // readers
	jobs chan *job
	done chan struct{}

	mu     sync.RWMutex // guards closed against Update racing Close
	closed bool

	stmts  *sqlstore.StmtCache // prepared statements of the readers
	wstmts *sqlstore.StmtCache // and of the committer: a statement parsed once, not in every transaction

	lazy bool // the writer's connection commits without waiting for the disk (synchronous=NORMAL)
}

// dialect is SQLite's: ? placeholders, and its constraint error codes.
var dialect = &sqlstore.Dialect{Constraint: func(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return store.ErrExists
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return store.ErrNotFound
		}
	}
	return nil
}}

type job struct {
	ctx  context.Context
	fn   func(store.Tx) error
	errc chan error
	lazy bool // need not be on disk when it returns
}

// Open opens (creating if needed) the database at path and brings its schema up to date.
func Open(path string) (*Store, error) {
	if err := private(path); err != nil {
		return nil, err
	}
	// Every connection waits up to 10s for a lock, enforces foreign keys and syncs the WAL on each commit.
	// The committer's transactions begin IMMEDIATE: they take the write lock at BEGIN, where waiting for
	// another process's is safe, rather than fail with SQLITE_BUSY half-way. Readers may not write.
	dsn := "file:" + url.PathEscape(path) + "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)" +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"
	w, err := sql.Open(driverName, dsn+"&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if err := sqlstore.Migrate(w, dialect); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: migrate %s: %w", path, err)
	}
	r, err := sql.Open(driverName, dsn+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(16)
	r.SetMaxIdleConns(16)
	r.SetConnMaxLifetime(0)
	s := &Store{w: w, r: r, jobs: make(chan *job, maxGroup), done: make(chan struct{}),
		stmts: sqlstore.NewStmtCache(r), wstmts: sqlstore.NewStmtCache(w)}
	go s.commitLoop()
	return s, nil
}

// private creates the database file at path readable by its owner only (mode 0600, like server.key: it
// holds users, policies and sealed keys), and restricts an existing one and its -wal and -shm files to
// that mode. SQLite creates the -wal and -shm files with the database file's mode.
func private(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("sqlite: restrict %s to its owner: %w", p, err)
		}
	}
	return nil
}

// SQL returns the database, for copying it whole (storage migration).
func (s *Store) SQL() *sql.DB { return s.w }

// Dialect returns the store's SQL dialect.
func (s *Store) Dialect() *sqlstore.Dialect { return dialect }

// Close stops the committer and closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.jobs)
	s.mu.Unlock()
	<-s.done
	s.stmts.Close()
	s.wstmts.Close()
	return errors.Join(s.r.Close(), s.w.Close())
}

// View runs fn in a read transaction (a consistent snapshot).
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(sqlstore.NewTx(ctx, tx, s.stmts, dialect))
}

// Update queues fn for the committer and waits until its group is durable.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	return s.update(ctx, &job{ctx: ctx, fn: fn, errc: make(chan error, 1)})
}

// UpdateLazy is Update for writes that may be lost on a power loss or an operating system crash (not on
// the process's): its group is committed without waiting for the disk (synchronous=NORMAL in WAL mode),
// unless an Update shares it. The next durable commit makes it durable too.
func (s *Store) UpdateLazy(ctx context.Context, fn func(store.Tx) error) error {
	return s.update(ctx, &job{ctx: ctx, fn: fn, errc: make(chan error, 1), lazy: true})
}

func (s *Store) update(ctx context.Context, j *job) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return errClosed
	}
	select {
	case s.jobs <- j:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	// Once queued, the job runs to its end: its result says whether it was committed.
	return full(<-j.errc)
}

// full marks a failure for want of disk space as store.ErrFull: SQLite reports a write that failed with
// ENOSPC as SQLITE_FULL.
func full(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL {
		return errors.Join(store.ErrFull, err)
	}
	return err
}

func (s *Store) commitLoop() {
	defer close(s.done)
	batch := make([]*job, 0, maxGroup)
	errs := make([]error, 0, maxGroup)
	for j := range s.jobs {
		batch = append(batch[:0], j)
	fill:
		for len(batch) < maxGroup {
			select {
			case j, ok := <-s.jobs:
				if !ok {
					break fill
				}
				batch = append(batch, j)
			default:
				break fill
			}
		}
		errs = s.runGroup(batch, errs[:0])
		for i, j := range batch {
			j.errc <- errs[i]
		}
	}
}

// runGroup runs the jobs in one transaction, each in its own savepoint.
func (s *Store) runGroup(batch []*job, errs []error) []error {
	ctx := context.Background()
	lazy := true
	for _, j := range batch {
		lazy = lazy && j.lazy
	}
	if lazy != s.lazy {
		mode := "FULL"
		if lazy {
			mode = "NORMAL"
		}
		if _, err := s.w.ExecContext(ctx, "PRAGMA synchronous = "+mode); err != nil {
			for range batch {
				errs = append(errs, err)
			}
			return errs
		}
		s.lazy = lazy
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		for range batch {
			errs = append(errs, err)
		}
		return errs
	}
	ok := false
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT job"); err != nil {
			errs = append(errs, err)
			continue
		}
		err := runJob(j, tx, s.wstmts)
		if err != nil {
			if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO job"); rerr != nil {
				err = errors.Join(err, rerr)
			}
		} else {
			ok = true
		}
		if _, rerr := tx.ExecContext(ctx, "RELEASE job"); rerr != nil && err == nil {
			err = rerr
		}
		errs = append(errs, err)
	}
	if !ok {
		tx.Rollback()
		return errs
	}
	if err := tx.Commit(); err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = fmt.Errorf("sqlite: commit: %w", err)
			}
		}
	}
	return errs
}

func runJob(j *job, tx *sql.Tx, stmts *sqlstore.StmtCache) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sqlite: transaction panicked: %v", r)
		}
	}()
	return j.fn(sqlstore.NewTx(j.ctx, tx, stmts, dialect))
}

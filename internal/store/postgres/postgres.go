// Package postgres keeps Wharf's metadata in PostgreSQL, for several stateless nodes sharing one database.
// It runs the same SQL and the same schema migrations as the embedded SQLite store (package sqlstore).
//
// Writes run in SERIALIZABLE transactions, retried when PostgreSQL reports a serialization failure, so every
// Update behaves as if it ran alone, as on SQLite, whatever the other nodes do meanwhile.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/wharf-dev/wharf/internal/store"
	"github.com/wharf-dev/wharf/internal/store/sqlstore"
)

// dialect is PostgreSQL's: $n placeholders, and its SQLSTATE codes for constraint violations.
var dialect = &sqlstore.Dialect{Postgres: true, Constraint: func(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return store.ErrExists
		case "23503": // foreign_key_violation
			return store.ErrNotFound
		}
	}
	return nil
}}

// maxAttempts bounds the retries of an Update that keeps meeting concurrent changes; after optimistic
// attempts, an Update runs holding writeLock, so updates that keep conflicting take turns and all finish.
const (
	maxAttempts        = 30
	optimisticAttempts = 3
	writeLock          = 0x77686172660002 // advisory lock key
)

// Store is a store.Store on a PostgreSQL database.
type Store struct {
	db *sql.DB
}

// DefaultMaxConns is how many connections a node opens at most, unless the URL says pool_max_conns=N: with
// PostgreSQL's default of 100 connections, a few nodes fit.
const DefaultMaxConns = 16

// Open connects to the database at dsn (postgres://user:password@host:port/database?…, with an optional
// pool_max_conns) and brings its schema up to date.
func Open(dsn string) (*Store, error) {
	db, err := connect(dsn)
	if err != nil {
		return nil, err
	}
	if err := sqlstore.Migrate(db, dialect); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	return &Store{db: db}, nil
}

// connect opens the database at dsn and checks that it answers.
func connect(dsn string) (*sql.DB, error) {
	maxConns := DefaultMaxConns
	if u, err := url.Parse(dsn); err == nil && u.Query().Has("pool_max_conns") {
		q := u.Query()
		if maxConns, err = strconv.Atoi(q.Get("pool_max_conns")); err != nil || maxConns < 1 {
			return nil, fmt.Errorf("postgres: pool_max_conns %q is not a positive number", q.Get("pool_max_conns"))
		}
		q.Del("pool_max_conns")
		u.RawQuery = q.Encode()
		dsn = u.String()
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return db, nil
}

// HasSchema tells whether the database at dsn holds Wharf's schema (Open, on a first start, creates it).
func HasSchema(dsn string) (bool, error) {
	db, err := connect(dsn)
	if err != nil {
		return false, err
	}
	defer db.Close()
	var ok bool
	if err := db.QueryRow(`SELECT to_regclass('schema_version') IS NOT NULL`).Scan(&ok); err != nil {
		return false, fmt.Errorf("postgres: %w", err)
	}
	return ok, nil
}

// SQL returns the database, for copying it whole (storage migration).
func (s *Store) SQL() *sql.DB { return s.db }

// Dialect returns the store's SQL dialect.
func (s *Store) Dialect() *sqlstore.Dialect { return dialect }

// Close closes the connections.
func (s *Store) Close() error { return s.db.Close() }

// View runs fn in a read-only transaction on one snapshot.
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(sqlstore.NewTx(ctx, tx, nil, dialect))
}

// Update runs fn in a serializable transaction and commits it, running it again (up to maxAttempts times)
// when PostgreSQL aborts it for a concurrent change. fn must not have effects outside the transaction.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		if err = s.update(ctx, fn, attempt > optimisticAttempts); !retryable(err) {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "53100" { // disk_full
				err = errors.Join(store.ErrFull, err)
			}
			return err
		}
		select { // back off a little, at random, so contenders spread out
		case <-time.After(time.Duration(rand.Int64N(int64(min(attempt, 10)) * int64(time.Millisecond)))):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return fmt.Errorf("%w: %v", store.ErrConflict, err)
}

// update runs fn once. In turns, it first takes writeLock on its connection, so that the updates that
// failed their optimistic attempts run one after the other.
func (s *Store) update(ctx context.Context, fn func(store.Tx) error, inTurns bool) (err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if inTurns {
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, writeLock); err != nil {
			return err
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, writeLock)
	}
	tx, err := conn.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable})
	if err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			tx.Rollback()
			err = fmt.Errorf("postgres: transaction panicked: %v", r)
		}
	}()
	if err := fn(sqlstore.NewTx(ctx, tx, nil, dialect)); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// retryable tells a serialization failure or a deadlock, which running the transaction again resolves.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

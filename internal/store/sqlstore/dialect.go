// Package sqlstore implements store.Tx once, in SQL that SQLite and PostgreSQL both run, and holds the
// schema migrations both databases share. The packages store/sqlite and store/postgres own connections and
// transactions; a Dialect adapts the few places where the two databases differ.
package sqlstore

import (
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

// Dialect is what differs between the databases.
type Dialect struct {
	// Postgres selects numbered placeholders ($1), GREATEST and PostgreSQL's column types; otherwise
	// SQLite's ?, MAX and types.
	Postgres bool
	// Constraint classifies a driver error: store.ErrExists for a unique or primary key violation,
	// store.ErrNotFound for a foreign key violation, nil for anything else.
	Constraint func(error) error

	queries sync.Map // query text as written -> as this database runs it
}

// rewrite turns a query as written here (SQLite's placeholders, GREATEST) into this database's.
func (d *Dialect) rewrite(q string) string {
	if v, ok := d.queries.Load(q); ok {
		return v.(string)
	}
	out := q
	if d.Postgres {
		var b strings.Builder
		n := 0
		for _, c := range q {
			if c == '?' {
				n++
				b.WriteString("$" + strconv.Itoa(n))
				continue
			}
			b.WriteRune(c)
		}
		out = b.String()
	} else {
		out = strings.ReplaceAll(q, "GREATEST(", "MAX(")
	}
	d.queries.Store(q, out)
	return out
}

// mapErr turns driver errors into the store's.
func (d *Dialect) mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	if d.Constraint != nil {
		if kind := d.Constraint(err); kind != nil {
			return errors.Join(kind, err)
		}
	}
	return err
}

// mapErr maps what a scan can return: no rows.
func mapErr(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

// StmtCache prepares each query once per database; database/sql then keeps it prepared per connection.
type StmtCache struct {
	db *sql.DB
	m  sync.Map // query -> *sql.Stmt
}

// NewStmtCache returns a statement cache over db.
func NewStmtCache(db *sql.DB) *StmtCache { return &StmtCache{db: db} }

func (c *StmtCache) get(query string) (*sql.Stmt, error) {
	if st, ok := c.m.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := c.db.Prepare(query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := c.m.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// Close closes the prepared statements.
func (c *StmtCache) Close() {
	c.m.Range(func(_, v any) bool { v.(*sql.Stmt).Close(); return true })
}

// Times are stored as Unix nanoseconds, 0 for the zero time.
func ts(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func tm(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

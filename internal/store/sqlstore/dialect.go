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
// A query is prepared in the background on its first use, which runs it unprepared on its transaction's
// connection: preparing takes a connection of the pool, and transactions that held every connection
// while each waited for one more would wait forever.
type StmtCache struct {
	db      *sql.DB
	m       sync.Map // query -> *sql.Stmt, nil while it is being prepared
	mu      sync.Mutex
	closed  bool
	pending sync.WaitGroup
}

// NewStmtCache returns a statement cache over db.
func NewStmtCache(db *sql.DB) *StmtCache { return &StmtCache{db: db} }

// get returns the prepared statement of query, or nil (and starts preparing it) when there is none yet.
func (c *StmtCache) get(query string) *sql.Stmt {
	v, loaded := c.m.LoadOrStore(query, (*sql.Stmt)(nil))
	if loaded {
		return v.(*sql.Stmt)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.pending.Go(func() {
		st, err := c.db.Prepare(query)
		if err != nil {
			c.m.Delete(query) // prepared again on a later use
			return
		}
		c.m.Store(query, st)
	})
	return nil
}

// Close closes the prepared statements, once those being prepared are.
func (c *StmtCache) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.pending.Wait()
	c.m.Range(func(_, v any) bool {
		if st := v.(*sql.Stmt); st != nil {
			st.Close()
		}
		return true
	})
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

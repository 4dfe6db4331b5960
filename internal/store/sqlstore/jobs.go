package sqlstore

import (
	"errors"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

const jobCols = `id, kind, unique_key, payload, state, attempts, max_attempts, run_at, holder, lease_until, last_error, created_at`

func scanJob(sc interface{ Scan(...any) error }) (*store.Job, error) {
	var j store.Job
	var runAt, lease, created int64
	if err := sc.Scan(&j.ID, &j.Kind, &j.UniqueKey, &j.Payload, &j.State, &j.Attempts, &j.MaxAttempts, &runAt, &j.Holder,
		&lease, &j.LastError, &created); err != nil {
		return nil, mapErr(err)
	}
	j.RunAt, j.LeaseUntil, j.CreatedAt = tm(runAt), tm(lease), tm(created)
	return &j, nil
}

func (t *txn) EnqueueJob(j *store.Job) (bool, error) {
	if j.Payload == nil {
		j.Payload = []byte{}
	}
	// ON CONFLICT … DO NOTHING rather than a caught unique violation, which would abort a PostgreSQL
	// transaction that the caller goes on using.
	err := t.queryRow(`INSERT INTO jobs (kind, unique_key, payload, state, attempts, max_attempts, run_at, holder, lease_until, last_error, created_at)
		VALUES (?, ?, ?, 0, 0, ?, ?, '', 0, '', ?)
		ON CONFLICT (unique_key) WHERE unique_key <> '' AND state = 0 DO NOTHING RETURNING id`,
		j.Kind, j.UniqueKey, j.Payload, max(j.MaxAttempts, 1), ts(j.RunAt), ts(j.CreatedAt)).Scan(&j.ID)
	if err == nil {
		return true, nil
	}
	if err = mapErr(err); err == store.ErrNotFound {
		return false, nil
	}
	return false, err
}

func (t *txn) ClaimJobs(kind, holder string, now, leaseUntil time.Time, limit int) ([]store.Job, error) {
	q := `SELECT id, attempts, max_attempts, lease_until FROM jobs WHERE kind = ? AND state = 0 AND run_at <= ? AND lease_until <= ?
		ORDER BY run_at, id LIMIT ?`
	if t.d.Postgres {
		q += ` FOR UPDATE SKIP LOCKED` // claimers on other nodes pass over the rows this one takes
	}
	type due struct {
		id              int64
		attempts, limit int
		lease           int64
	}
	rows, err := collect(t, func(sc interface{ Scan(...any) error }) (*due, error) {
		var d due
		return &d, sc.Scan(&d.id, &d.attempts, &d.limit, &d.lease)
	}, q, kind, ts(now), ts(now), limit)
	if err != nil {
		return nil, err
	}
	var out []store.Job
	for _, d := range rows {
		if d.lease != 0 && d.attempts >= d.limit { // its holder died on its last attempt
			if _, err := t.exec(`UPDATE jobs SET state = 1, holder = '', lease_until = 0, last_error = ? WHERE id = ?`,
				"its lease lapsed on the last attempt (the node running it stopped)", d.id); err != nil {
				return nil, err
			}
			continue
		}
		j, err := scanJob(t.queryRow(`UPDATE jobs SET holder = ?, lease_until = ?, attempts = attempts + 1 WHERE id = ? RETURNING `+jobCols,
			holder, ts(leaseUntil), d.id))
		if err != nil {
			return nil, err
		}
		out = append(out, *j)
	}
	return out, nil
}

func (t *txn) RenewJobs(holder string, ids []int64, leaseUntil time.Time) ([]int64, error) {
	var held []int64
	for _, id := range ids {
		res, err := t.exec(`UPDATE jobs SET lease_until = ? WHERE id = ? AND holder = ? AND state = 0`, ts(leaseUntil), id, holder)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			held = append(held, id)
		}
	}
	return held, nil
}

func (t *txn) CompleteJob(id int64, holder string) error {
	return t.affected(`DELETE FROM jobs WHERE id = ? AND holder = ? AND state = 0`, id, holder)
}

func (t *txn) FailJob(id int64, holder, message string, retryAt time.Time) (bool, error) {
	var state int
	err := t.queryRow(`UPDATE jobs SET state = CASE WHEN attempts >= max_attempts THEN 1 ELSE 0 END,
			run_at = ?, holder = '', lease_until = 0, last_error = ?
		WHERE id = ? AND holder = ? AND state = 0 RETURNING state`, ts(retryAt), message, id, holder).Scan(&state)
	return state == int(store.JobDead), mapErr(err)
}

func (t *txn) GetJob(id int64) (*store.Job, error) {
	return scanJob(t.queryRow(`SELECT `+jobCols+` FROM jobs WHERE id = ?`, id))
}

func (t *txn) JobByKey(uniqueKey string) (*store.Job, error) {
	return scanJob(t.queryRow(`SELECT `+jobCols+` FROM jobs WHERE unique_key = ? ORDER BY state, id DESC LIMIT 1`, uniqueKey))
}

func (t *txn) DeadJobs(afterID int64, limit int) ([]store.Job, error) {
	return collect(t, scanJob, `SELECT `+jobCols+` FROM jobs WHERE state = 1 AND id > ? ORDER BY id LIMIT ?`, afterID, limit)
}

func (t *txn) RetryJob(id int64, runAt time.Time) error {
	return t.affected(`UPDATE jobs SET state = 0, attempts = 0, run_at = ? WHERE id = ? AND state = 1`, ts(runAt), id)
}

func (t *txn) CountJobs(now time.Time) ([]store.JobCount, error) {
	return collect(t, func(sc interface{ Scan(...any) error }) (*store.JobCount, error) {
		var c store.JobCount
		return &c, sc.Scan(&c.Kind, &c.Queued, &c.Running, &c.Dead)
	}, `SELECT kind, COUNT(*) FILTER (WHERE state = 0 AND lease_until <= ?), COUNT(*) FILTER (WHERE state = 0 AND lease_until > ?),
		COUNT(*) FILTER (WHERE state = 1) FROM jobs GROUP BY kind ORDER BY kind`, ts(now), ts(now))
}

func (t *txn) DueSchedule(name string, now, first, next time.Time) (bool, error) {
	if _, err := t.exec(`INSERT INTO job_schedules (name, next_run) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, ts(first)); err != nil {
		return false, err
	}
	res, err := t.exec(`UPDATE job_schedules SET next_run = ? WHERE name = ? AND next_run <= ?`, ts(next), name, ts(now))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// txOrder is the first part of an event's position. On PostgreSQL, the writing transaction's id: ids are
// drawn before commits happen, in any order. On SQLite, whose single writer commits events in id order, the
// highest yet (0 at first, higher in a database copied from PostgreSQL), so new events follow the others:
// pruning keeps the newest event unless it empties the outbox, and then, as ids start again, new events
// follow every consumer's cursor.
func (t *txn) txOrder() string {
	if t.d.Postgres {
		return `pg_current_xact_id()::text::bigint`
	}
	return `COALESCE((SELECT MAX(tx) FROM events), (SELECT MAX(tx) + 1 FROM event_cursors), 0)`
}

func (t *txn) AddEvent(e *store.Event) error {
	return t.queryRow(`INSERT INTO events (tx, type, at, registry_id, repository, data) VALUES (`+t.txOrder()+`, ?, ?, ?, ?, ?) RETURNING id`,
		e.Type, ts(e.At), e.RegistryID, e.Repository, string(e.Data)).Scan(&e.ID)
}

func (t *txn) EventsAfter(after store.EventPosition, limit int) ([]store.Event, error) {
	q := `SELECT id, tx, type, at, registry_id, repository, data FROM events WHERE (tx, id) > (?, ?)`
	if t.d.Postgres {
		// Only events of transactions older than every running one: no event can commit before them later.
		q += ` AND tx < pg_snapshot_xmin(pg_current_snapshot())::text::bigint`
	}
	return collect(t, func(sc interface{ Scan(...any) error }) (*store.Event, error) {
		var e store.Event
		var at int64
		var data string
		if err := sc.Scan(&e.ID, &e.Position.Tx, &e.Type, &at, &e.RegistryID, &e.Repository, &data); err != nil {
			return nil, mapErr(err)
		}
		e.Position.ID, e.At, e.Data = e.ID, tm(at), []byte(data)
		return &e, nil
	}, q+` ORDER BY tx, id LIMIT ?`, after.Tx, after.ID, limit)
}

func (t *txn) EventCursor(consumer string) (store.EventPosition, error) {
	var p store.EventPosition
	err := t.queryRow(`SELECT tx, id FROM event_cursors WHERE consumer = ?`, consumer).Scan(&p.Tx, &p.ID)
	if err = mapErr(err); err == store.ErrNotFound {
		return p, nil
	}
	return p, err
}

func (t *txn) SetEventCursor(consumer string, p store.EventPosition) error {
	_, err := t.exec(`INSERT INTO event_cursors (consumer, tx, id) VALUES (?, ?, ?)
		ON CONFLICT (consumer) DO UPDATE SET tx = excluded.tx, id = excluded.id`, consumer, p.Tx, p.ID)
	return err
}

// PruneEvents deletes the events before, in order, the first one at or after cutoff, along the index of
// positions: the outbox needs no index by time.
func (t *txn) PruneEvents(cutoff time.Time) (int, error) {
	var p store.EventPosition
	err := t.queryRow(`SELECT tx, id FROM events WHERE at >= ? ORDER BY tx, id LIMIT 1`, ts(cutoff)).Scan(&p.Tx, &p.ID)
	q, args := `DELETE FROM events WHERE (tx, id) < (?, ?)`, []any{p.Tx, p.ID}
	if err = mapErr(err); errors.Is(err, store.ErrNotFound) { // every event is old
		q, args = `DELETE FROM events WHERE at < ?`, []any{ts(cutoff)}
	} else if err != nil {
		return 0, err
	}
	res, err := t.exec(q, args...)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

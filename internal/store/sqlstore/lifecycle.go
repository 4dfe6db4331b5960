package sqlstore

import (
	"encoding/json"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/store"
)

func (t *txn) SetLifecyclePolicy(p store.LifecyclePolicy) error {
	_, err := t.exec(`INSERT INTO lifecycle_policies (repository_id, document, updated_at, last_evaluated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (repository_id) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at,
			last_evaluated_at = excluded.last_evaluated_at`,
		p.RepositoryID, p.Text, ts(p.UpdatedAt), ts(p.LastEvaluatedAt))
	return err
}

const lifecycleCols = `repository_id, document, updated_at, last_evaluated_at`

func scanLifecyclePolicy(sc interface{ Scan(...any) error }) (*store.LifecyclePolicy, error) {
	var p store.LifecyclePolicy
	var updated, evaluated int64
	if err := sc.Scan(&p.RepositoryID, &p.Text, &updated, &evaluated); err != nil {
		return nil, mapErr(err)
	}
	p.UpdatedAt, p.LastEvaluatedAt = tm(updated), tm(evaluated)
	return &p, nil
}

func (t *txn) LifecyclePolicy(repoID int64) (*store.LifecyclePolicy, error) {
	return scanLifecyclePolicy(t.queryRow(`SELECT `+lifecycleCols+` FROM lifecycle_policies WHERE repository_id = ?`, repoID))
}

func (t *txn) DeleteLifecyclePolicy(repoID int64) error {
	return t.affected(`DELETE FROM lifecycle_policies WHERE repository_id = ?`, repoID)
}

func (t *txn) LifecyclePolicies(afterRepoID int64, limit int) ([]store.LifecyclePolicy, error) {
	return collect(t, scanLifecyclePolicy, `SELECT `+lifecycleCols+` FROM lifecycle_policies WHERE repository_id > ? ORDER BY repository_id LIMIT ?`, afterRepoID, limit)
}

func (t *txn) SetLifecycleEvaluated(repoID int64, at time.Time) error {
	return t.affected(`UPDATE lifecycle_policies SET last_evaluated_at = ? WHERE repository_id = ?`, ts(at), repoID)
}

func (t *txn) AddLifecycleEvents(repoID int64, events []store.LifecycleEvent) error {
	for _, e := range events {
		tags, _ := json.Marshal(e.Tags)
		if _, err := t.exec(`INSERT INTO lifecycle_events (repository_id, at, digest, tags, pushed_at, rule_priority) VALUES (?, ?, ?, ?, ?, ?)`,
			repoID, ts(e.At), e.Digest.String(), string(tags), ts(e.PushedAt), e.Rule); err != nil {
			return err
		}
	}
	return nil
}

func (t *txn) LifecycleEvents(repoID int64, limit int) ([]store.LifecycleEvent, error) {
	return collect(t, func(sc interface{ Scan(...any) error }) (*store.LifecycleEvent, error) {
		var e store.LifecycleEvent
		var at, pushed int64
		var d, tags string
		if err := sc.Scan(&at, &d, &tags, &pushed, &e.Rule); err != nil {
			return nil, mapErr(err)
		}
		e.At, e.PushedAt, e.Digest = tm(at), tm(pushed), digest.Digest(d)
		return &e, json.Unmarshal([]byte(tags), &e.Tags)
	}, `SELECT at, digest, tags, pushed_at, rule_priority FROM lifecycle_events WHERE repository_id = ? ORDER BY at DESC, id DESC LIMIT ?`, repoID, limit)
}

func (t *txn) PruneLifecycleEvents(cutoff time.Time) (int, error) {
	res, err := t.exec(`DELETE FROM lifecycle_events WHERE at < ?`, ts(cutoff))
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

func (t *txn) PutLifecyclePreview(p store.LifecyclePreview) error {
	results, err := json.Marshal(p.Results)
	if err != nil {
		return err
	}
	_, err = t.exec(`INSERT INTO lifecycle_previews (repository_id, document, status, started_at, results) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (repository_id) DO UPDATE SET document = excluded.document, status = excluded.status,
			started_at = excluded.started_at, results = excluded.results`,
		p.RepositoryID, p.Text, p.Status, ts(p.StartedAt), string(results))
	return err
}

func (t *txn) LifecyclePreview(repoID int64) (*store.LifecyclePreview, error) {
	p := store.LifecyclePreview{RepositoryID: repoID}
	var started int64
	var results string
	if err := t.queryRow(`SELECT document, status, started_at, results FROM lifecycle_previews WHERE repository_id = ?`, repoID).
		Scan(&p.Text, &p.Status, &started, &results); err != nil {
		return nil, mapErr(err)
	}
	p.StartedAt = tm(started)
	return &p, json.Unmarshal([]byte(results), &p.Results)
}

func (t *txn) AcquireLease(name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	res, err := t.exec(`INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at <= ?`, name, holder, ts(now.Add(ttl)), ts(now))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

func (t *txn) LeaseHeld(name string, now time.Time) (bool, error) {
	var n int
	err := t.queryRow(`SELECT COUNT(*) FROM leases WHERE name = ? AND expires_at > ?`, name, ts(now)).Scan(&n)
	return n > 0, err
}

func (t *txn) ReleaseLease(name, holder string) error {
	_, err := t.exec(`DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder)
	return err
}

func (t *txn) Heartbeat(node string, at time.Time) error {
	_, err := t.exec(`INSERT INTO nodes (id, seen_at) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at`, node, ts(at))
	return err
}

func (t *txn) LiveNodes(since time.Time) (int, error) {
	var n int
	return n, t.queryRow(`SELECT COUNT(*) FROM nodes WHERE seen_at >= ?`, ts(since)).Scan(&n)
}

func (t *txn) DeleteNode(node string) error {
	_, err := t.exec(`DELETE FROM nodes WHERE id = ?`, node)
	return err
}

func (t *txn) PruneNodes(before time.Time) error {
	_, err := t.exec(`DELETE FROM nodes WHERE seen_at < ?`, ts(before))
	return err
}

package sqlstore

import (
	"bytes"
	"database/sql"
	"errors"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

func (t *txn) PutAdvisory(a store.Advisory) (bool, error) {
	var modified int64
	var data []byte
	err := t.queryRow(`SELECT modified, data FROM advisories WHERE id = ?`, a.ID).Scan(&modified, &data)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return false, err
	case modified > ts(a.Modified) || modified == ts(a.Modified) && bytes.Equal(data, a.Data):
		return false, nil
	}
	if _, err := t.exec(`INSERT INTO advisories (id, modified, data) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET modified = excluded.modified, data = excluded.data`,
		a.ID, ts(a.Modified), nonNil(a.Data)); err != nil {
		return false, err
	}
	if _, err := t.exec(`DELETE FROM advisory_packages WHERE advisory_id = ?`, a.ID); err != nil {
		return false, err
	}
	seen := make(map[store.AdvisoryPackage]bool, len(a.Packages))
	for _, p := range a.Packages {
		if seen[p] {
			continue
		}
		seen[p] = true
		if _, err := t.exec(`INSERT INTO advisory_packages (ecosystem, name, advisory_id) VALUES (?, ?, ?)`,
			p.Ecosystem, p.Name, a.ID); err != nil {
			return false, err
		}
	}
	return true, nil
}

func scanAdvisory(sc interface{ Scan(...any) error }) (*store.Advisory, error) {
	var a store.Advisory
	var modified int64
	if err := sc.Scan(&a.ID, &modified, &a.Data); err != nil {
		return nil, mapErr(err)
	}
	a.Modified = tm(modified)
	return &a, nil
}

func (t *txn) AdvisoriesFor(ecosystem, name string) ([]store.Advisory, error) {
	return collect(t, scanAdvisory, `SELECT a.id, a.modified, a.data FROM advisory_packages p
		JOIN advisories a ON a.id = p.advisory_id WHERE p.ecosystem = ? AND p.name = ? ORDER BY a.id`, ecosystem, name)
}

func (t *txn) CountAdvisories() ([]store.AdvisoryCount, error) {
	return collect(t, func(sc interface{ Scan(...any) error }) (*store.AdvisoryCount, error) {
		var c store.AdvisoryCount
		return &c, sc.Scan(&c.Ecosystem, &c.Advisories)
	}, `SELECT ecosystem, COUNT(DISTINCT advisory_id) FROM advisory_packages GROUP BY ecosystem ORDER BY ecosystem`)
}

func (t *txn) SetAdvisoriesUpdated(at time.Time) error {
	_, err := t.exec(`INSERT INTO advisories_updated (name, at) VALUES ('advisories', ?)
		ON CONFLICT (name) DO UPDATE SET at = excluded.at`, ts(at))
	return err
}

func (t *txn) AdvisoriesUpdated() (time.Time, error) {
	var at int64
	err := t.queryRow(`SELECT at FROM advisories_updated WHERE name = 'advisories'`).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	return tm(at), err
}

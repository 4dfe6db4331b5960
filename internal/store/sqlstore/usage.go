package sqlstore

import (
	"fmt"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

// The storage of a page of repositories: the distinct blobs each one's images reference, with their sizes,
// and how many of the registry's repositories hold each of those blobs; and each one's manifests. A blob's
// holders are found among the repositories that link it (repository_blobs' index on digest: an image's
// blobs are always linked to its repository) by an image of theirs referencing it (image_refs' own index),
// so no index is added to the tables every push writes; the two are joined here, by digest. Manifests are
// stored with each repository's images: each is its repository's own. CROSS JOIN keeps SQLite's planner,
// which has no statistics, from walking every repository of the registry for each digest instead.
type storageQueries struct{ repos, heldBlobs, blobCounts, manifests string }

// storageFor writes the queries of a page of repositories that where selects (the registry's first).
func storageFor(where string) storageQueries {
	page := `WITH page AS (SELECT id FROM repositories WHERE registry_id = ? AND ` + where + `) `
	return storageQueries{
		repos: `SELECT id, name, image_count, (SELECT COUNT(*) FROM tags t WHERE t.repository_id = r.id)
			FROM repositories r WHERE registry_id = ? AND ` + where + ` ORDER BY name`,
		heldBlobs: page + `SELECT DISTINCT x.repository_id, x.digest, b.size FROM page p
			JOIN image_refs x ON x.repository_id = p.id AND x.kind = 0 JOIN blobs b ON b.digest = x.digest`,
		blobCounts: page + `SELECT d.digest, (SELECT COUNT(*) FROM repository_blobs l CROSS JOIN repositories r
			WHERE r.id = l.repository_id AND l.digest = d.digest AND r.registry_id = ?
			AND EXISTS (SELECT 1 FROM image_refs y WHERE y.repository_id = l.repository_id AND y.digest = d.digest AND y.kind = 0))
			FROM (SELECT DISTINCT x.digest FROM page p JOIN image_refs x ON x.repository_id = p.id AND x.kind = 0) d`,
		manifests: page + `SELECT i.repository_id, COALESCE(SUM(length(i.content)), 0) FROM page p
			JOIN images i ON i.repository_id = p.id GROUP BY i.repository_id`,
	}
}

var (
	storageRange = storageFor(`name >= ? AND name <= ?`)
	// storageNamed takes store.MaxNamedRepositories names, "" for none: one statement for any number.
	storageNamed = storageFor(`name IN (?` + strings.Repeat(`, ?`, store.MaxNamedRepositories-1) + `)`)
)

func (t *txn) RepositoryStorage(registryID, first, last string) ([]store.RepositoryStorage, error) {
	return t.storage(storageRange, registryID, first, last)
}

func (t *txn) NamedRepositoryStorage(registryID string, names []string) ([]store.RepositoryStorage, error) {
	if len(names) > store.MaxNamedRepositories {
		return nil, fmt.Errorf("%d repositories named; at most %d", len(names), store.MaxNamedRepositories)
	}
	args := make([]any, store.MaxNamedRepositories)
	for i := range args {
		args[i] = ""
		if i < len(names) {
			args[i] = names[i]
		}
	}
	return t.storage(storageNamed, registryID, args...)
}

// storage runs a page's queries; sel are the arguments of its selection.
func (t *txn) storage(q storageQueries, registryID string, sel ...any) ([]store.RepositoryStorage, error) {
	page := append([]any{registryID}, sel...)
	out, err := collect(t, func(sc interface{ Scan(...any) error }) (*store.RepositoryStorage, error) {
		r := store.RepositoryStorage{Holders: map[int]int64{}}
		return &r, sc.Scan(&r.RepositoryID, &r.Name, &r.Images, &r.Tags)
	}, q.repos, page...)
	if err != nil || len(out) == 0 {
		return out, err
	}
	byID := make(map[int64]*store.RepositoryStorage, len(out))
	for i := range out {
		byID[out[i].RepositoryID] = &out[i]
	}
	holders := map[string]int{}
	err = t.each(q.blobCounts, func(sc interface{ Scan(...any) error }) error {
		var d string
		var n int
		err := sc.Scan(&d, &n)
		holders[d] = n
		return err
	}, append(page, registryID)...)
	if err != nil {
		return nil, err
	}
	err = t.each(q.heldBlobs, func(sc interface{ Scan(...any) error }) error {
		var id, size int64
		var d string
		if err := sc.Scan(&id, &d, &size); err != nil {
			return err
		}
		if r := byID[id]; r != nil {
			r.Bytes += size
			r.Holders[max(holders[d], 1)] += size
		}
		return nil
	}, page...)
	if err != nil {
		return nil, err
	}
	err = t.each(q.manifests, func(sc interface{ Scan(...any) error }) error {
		var id, size int64
		if err := sc.Scan(&id, &size); err != nil {
			return err
		}
		if r := byID[id]; r != nil {
			r.Bytes += size
			r.Holders[1] += size
		}
		return nil
	}, page...)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// each runs a query and calls fn for each row.
func (t *txn) each(query string, fn func(interface{ Scan(...any) error }) error, args ...any) error {
	rows, err := t.query(query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (t *txn) RegistryStorage(registryID string) (int64, error) {
	var blobs, manifests int64
	err := t.queryRow(`SELECT COALESCE(SUM(b.size), 0) FROM blobs b WHERE b.digest IN
		(SELECT x.digest FROM repositories r JOIN image_refs x ON x.repository_id = r.id AND x.kind = 0 WHERE r.registry_id = ?)`,
		registryID).Scan(&blobs)
	if err != nil {
		return 0, err
	}
	err = t.queryRow(`SELECT COALESCE(SUM(length(i.content)), 0) FROM repositories r JOIN images i ON i.repository_id = r.id
		WHERE r.registry_id = ?`, registryID).Scan(&manifests)
	return blobs + manifests, err
}

func (t *txn) UsageRegistries() ([]string, error) {
	return collect(t, func(sc interface{ Scan(...any) error }) (*string, error) {
		var id string
		return &id, sc.Scan(&id)
	}, `SELECT DISTINCT registry_id FROM repositories ORDER BY registry_id`)
}

func (t *txn) AddPulls(counts []store.PullCount) error {
	for _, c := range counts {
		if _, err := t.exec(`INSERT INTO usage_daily (registry_id, repository, day, pulls, bytes) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (registry_id, repository, day) DO UPDATE SET pulls = usage_daily.pulls + excluded.pulls,
			bytes = usage_daily.bytes + excluded.bytes`,
			c.RegistryID, c.Repository, ts(c.Day), c.Pulls, c.Bytes); err != nil {
			return err
		}
	}
	return nil
}

func (t *txn) PullCounts(registryID, first, last string, since time.Time) ([]store.PullCount, error) {
	return collect(t, func(sc interface{ Scan(...any) error }) (*store.PullCount, error) {
		var c store.PullCount
		var day int64
		if err := sc.Scan(&c.RegistryID, &c.Repository, &day, &c.Pulls, &c.Bytes); err != nil {
			return nil, err
		}
		c.Day = tm(day)
		return &c, nil
	}, `SELECT registry_id, repository, day, pulls, bytes FROM usage_daily
		WHERE registry_id = ? AND repository >= ? AND repository <= ? AND day >= ? ORDER BY repository, day`,
		registryID, first, last, ts(since))
}

func (t *txn) PrunePullCounts(before time.Time) (int, error) {
	res, err := t.exec(`DELETE FROM usage_daily WHERE day < ?`, ts(before))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

package sqlstore

import (
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

// The storage of a page of repositories: what each holds (its distinct referenced blobs, its manifests),
// and how many of the registry's repositories hold each digest. The number of holders is counted once per
// digest of the page (image_refs_digest, images_digest), so a base layer shared by every repository costs
// one index range per page, not one per repository.
const (
	storagePage = `SELECT id, name, image_count, (SELECT COUNT(*) FROM tags t WHERE t.repository_id = r.id)
		FROM repositories r WHERE registry_id = ? AND name >= ? AND name <= ? ORDER BY name`
	blobHolders = `WITH page AS (SELECT id FROM repositories WHERE registry_id = ? AND name >= ? AND name <= ?),
	held AS (SELECT DISTINCT x.repository_id AS rid, x.digest AS digest FROM page p JOIN image_refs x ON x.repository_id = p.id AND x.kind = 0),
	holders AS (SELECT d.digest AS digest, (SELECT COUNT(*) FROM repositories r WHERE r.registry_id = ? AND r.id IN
		(SELECT y.repository_id FROM image_refs y WHERE y.digest = d.digest AND y.kind = 0)) AS n
		FROM (SELECT DISTINCT digest FROM held) d)
	SELECT h.rid, k.n, SUM(b.size) FROM held h JOIN holders k ON k.digest = h.digest JOIN blobs b ON b.digest = h.digest
	GROUP BY h.rid, k.n`
	manifestHolders = `WITH page AS (SELECT id FROM repositories WHERE registry_id = ? AND name >= ? AND name <= ?),
	held AS (SELECT i.repository_id AS rid, i.digest AS digest, length(i.content) AS size FROM page p JOIN images i ON i.repository_id = p.id),
	holders AS (SELECT d.digest AS digest, (SELECT COUNT(*) FROM repositories r WHERE r.registry_id = ? AND r.id IN
		(SELECT y.repository_id FROM images y WHERE y.digest = d.digest)) AS n
		FROM (SELECT DISTINCT digest FROM held) d)
	SELECT h.rid, k.n, SUM(h.size) FROM held h JOIN holders k ON k.digest = h.digest GROUP BY h.rid, k.n`
)

func (t *txn) RepositoryStorage(registryID, first, last string) ([]store.RepositoryStorage, error) {
	out, err := collect(t, func(sc interface{ Scan(...any) error }) (*store.RepositoryStorage, error) {
		r := store.RepositoryStorage{Holders: map[int]int64{}}
		return &r, sc.Scan(&r.RepositoryID, &r.Name, &r.Images, &r.Tags)
	}, storagePage, registryID, first, last)
	if err != nil || len(out) == 0 {
		return out, err
	}
	byID := make(map[int64]*store.RepositoryStorage, len(out))
	for i := range out {
		byID[out[i].RepositoryID] = &out[i]
	}
	for _, q := range []string{blobHolders, manifestHolders} {
		rows, err := t.query(q, registryID, first, last, registryID)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id, bytes int64
			var n int
			if err := rows.Scan(&id, &n, &bytes); err != nil {
				rows.Close()
				return nil, err
			}
			if r := byID[id]; r != nil {
				r.Bytes += bytes
				r.Holders[n] += bytes
			}
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (t *txn) RegistryStorage(registryID string) (int64, error) {
	var blobs, manifests int64
	err := t.queryRow(`SELECT COALESCE(SUM(b.size), 0) FROM blobs b WHERE b.digest IN
		(SELECT x.digest FROM repositories r JOIN image_refs x ON x.repository_id = r.id AND x.kind = 0 WHERE r.registry_id = ?)`,
		registryID).Scan(&blobs)
	if err != nil {
		return 0, err
	}
	err = t.queryRow(`SELECT COALESCE(SUM(size), 0) FROM (SELECT i.digest, MAX(length(i.content)) AS size
		FROM repositories r JOIN images i ON i.repository_id = r.id WHERE r.registry_id = ? GROUP BY i.digest) m`,
		registryID).Scan(&manifests)
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

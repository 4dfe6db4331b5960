package sqlstore

import (
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

const ptcRuleCols = `prefix, upstream_url, upstream_registry, upstream_repository_prefix, credential_arn, custom_role_arn,
	created_at, updated_at`

func scanPTCRule(registryID string) func(sc interface{ Scan(...any) error }) (*store.PullThroughCacheRule, error) {
	return func(sc interface{ Scan(...any) error }) (*store.PullThroughCacheRule, error) {
		r := store.PullThroughCacheRule{RegistryID: registryID}
		var created, updated int64
		if err := sc.Scan(&r.Prefix, &r.UpstreamURL, &r.UpstreamRegistry, &r.UpstreamRepositoryPrefix, &r.CredentialARN,
			&r.CustomRoleARN, &created, &updated); err != nil {
			return nil, mapErr(err)
		}
		r.CreatedAt, r.UpdatedAt = tm(created), tm(updated)
		return &r, nil
	}
}

func (t *txn) CreatePullThroughCacheRule(r store.PullThroughCacheRule) error {
	res, err := t.exec(`INSERT INTO pull_through_cache_rules (registry_id, `+ptcRuleCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (registry_id, prefix) DO NOTHING`,
		r.RegistryID, r.Prefix, r.UpstreamURL, r.UpstreamRegistry, r.UpstreamRepositoryPrefix, r.CredentialARN,
		r.CustomRoleARN, ts(r.CreatedAt), ts(r.UpdatedAt))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrExists
	}
	return nil
}

func (t *txn) GetPullThroughCacheRule(registryID, prefix string) (*store.PullThroughCacheRule, error) {
	return scanPTCRule(registryID)(t.queryRow(`SELECT `+ptcRuleCols+` FROM pull_through_cache_rules
		WHERE registry_id = ? AND prefix = ?`, registryID, prefix))
}

func (t *txn) UpdatePullThroughCacheRule(r store.PullThroughCacheRule) error {
	return t.affected(`UPDATE pull_through_cache_rules SET upstream_url = ?, upstream_registry = ?,
		upstream_repository_prefix = ?, credential_arn = ?, custom_role_arn = ?, updated_at = ?
		WHERE registry_id = ? AND prefix = ?`, r.UpstreamURL, r.UpstreamRegistry, r.UpstreamRepositoryPrefix,
		r.CredentialARN, r.CustomRoleARN, ts(r.UpdatedAt), r.RegistryID, r.Prefix)
}

func (t *txn) DeletePullThroughCacheRule(registryID, prefix string) error {
	return t.affected(`DELETE FROM pull_through_cache_rules WHERE registry_id = ? AND prefix = ?`, registryID, prefix)
}

func (t *txn) PullThroughCacheRules(registryID, after string, limit int) ([]store.PullThroughCacheRule, error) {
	return collect(t, scanPTCRule(registryID), `SELECT `+ptcRuleCols+` FROM pull_through_cache_rules
		WHERE registry_id = ? AND prefix > ? ORDER BY prefix LIMIT ?`, registryID, after, limit)
}

func (t *txn) CountPullThroughCacheRules(registryID string) (n int, err error) {
	err = t.queryRow(`SELECT COUNT(*) FROM pull_through_cache_rules WHERE registry_id = ?`, registryID).Scan(&n)
	return n, mapErr(err)
}

func (t *txn) PullThroughTagChecked(registryID, repository, tag string) (time.Time, error) {
	var at int64
	err := t.queryRow(`SELECT checked_at FROM pull_through_tag_checks WHERE registry_id = ? AND repository = ? AND tag = ?`,
		registryID, repository, tag).Scan(&at)
	if err != nil {
		return time.Time{}, mapErr(err)
	}
	return tm(at), nil
}

func (t *txn) SetPullThroughTagChecked(registryID, repository, tag string, at time.Time) error {
	_, err := t.exec(`INSERT INTO pull_through_tag_checks (registry_id, repository, tag, checked_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (registry_id, repository, tag) DO UPDATE SET checked_at = excluded.checked_at`,
		registryID, repository, tag, ts(at))
	return err
}

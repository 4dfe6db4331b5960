package sqlstore

import "github.com/wharf-dev/wharf/internal/store"

func (t *txn) PutPullTimeExclusion(e store.PullTimeExclusion) error {
	res, err := t.exec(`INSERT INTO pull_time_exclusions (registry_id, principal_arn, created_at) VALUES (?, ?, ?)
		ON CONFLICT (registry_id, principal_arn) DO NOTHING`, e.RegistryID, e.PrincipalARN, ts(e.CreatedAt))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrConflict
	}
	return nil
}

func (t *txn) DeletePullTimeExclusion(registryID, principalARN string) error {
	return t.affected(`DELETE FROM pull_time_exclusions WHERE registry_id = ? AND principal_arn = ?`, registryID, principalARN)
}

func (t *txn) PullTimeExclusions(registryID, after string, limit int) ([]store.PullTimeExclusion, error) {
	rows, err := t.query(`SELECT principal_arn, created_at FROM pull_time_exclusions WHERE registry_id = ? AND principal_arn > ?
		ORDER BY principal_arn LIMIT ?`, registryID, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.PullTimeExclusion
	for rows.Next() {
		e := store.PullTimeExclusion{RegistryID: registryID}
		var at int64
		if err := rows.Scan(&e.PrincipalARN, &at); err != nil {
			return nil, err
		}
		e.CreatedAt = tm(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

func (t *txn) AccountSetting(registryID, name string) (string, error) {
	var v string
	if err := t.queryRow(`SELECT value FROM account_settings WHERE registry_id = ? AND name = ?`, registryID, name).Scan(&v); err != nil {
		return "", mapErr(err)
	}
	return v, nil
}

func (t *txn) SetAccountSetting(registryID, name, value string) error {
	_, err := t.exec(`INSERT INTO account_settings (registry_id, name, value) VALUES (?, ?, ?)
		ON CONFLICT (registry_id, name) DO UPDATE SET value = excluded.value`, registryID, name, value)
	return err
}

package sqlstore

import (
	"encoding/json"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

const secretColumns = `arn, account_id, name, description, tags, created_at, changed_at, deleted_at, purge_at`

func scanSecret(sc interface{ Scan(...any) error }) (*store.Secret, error) {
	var s store.Secret
	var tags string
	var created, changed, deleted, purge int64
	if err := sc.Scan(&s.ARN, &s.AccountID, &s.Name, &s.Description, &tags, &created, &changed, &deleted, &purge); err != nil {
		return nil, mapErr(err)
	}
	if err := json.Unmarshal([]byte(tags), &s.Tags); err != nil {
		return nil, err
	}
	s.CreatedAt, s.ChangedAt, s.DeletedAt, s.PurgeAt = tm(created), tm(changed), tm(deleted), tm(purge)
	return &s, nil
}

func tagsJSON(tags []store.ResourceTag) string {
	if tags == nil {
		tags = []store.ResourceTag{}
	}
	b, _ := json.Marshal(tags)
	return string(b)
}

func (t *txn) CreateSecret(s store.Secret) error {
	_, err := t.exec(`INSERT INTO secrets (`+secretColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ARN, s.AccountID, s.Name, s.Description, tagsJSON(s.Tags), ts(s.CreatedAt), ts(s.ChangedAt), ts(s.DeletedAt), ts(s.PurgeAt))
	return err
}

func (t *txn) Secret(accountID, name string) (*store.Secret, error) {
	return scanSecret(t.queryRow(`SELECT `+secretColumns+` FROM secrets WHERE account_id = ? AND name = ?`, accountID, name))
}

func (t *txn) SecretByARN(arn string) (*store.Secret, error) {
	return scanSecret(t.queryRow(`SELECT `+secretColumns+` FROM secrets WHERE arn = ?`, arn))
}

func (t *txn) UpdateSecret(s store.Secret) error {
	return t.affected(`UPDATE secrets SET description = ?, tags = ?, changed_at = ?, deleted_at = ?, purge_at = ? WHERE arn = ?`,
		s.Description, tagsJSON(s.Tags), ts(s.ChangedAt), ts(s.DeletedAt), ts(s.PurgeAt), s.ARN)
}

func (t *txn) DeleteSecret(arn string) error {
	if _, err := t.exec(`DELETE FROM secret_versions WHERE secret_arn = ?`, arn); err != nil {
		return err
	}
	return t.affected(`DELETE FROM secrets WHERE arn = ?`, arn)
}

func (t *txn) Secrets(accountID, after string, limit int) ([]store.Secret, error) {
	return collect(t, scanSecret, `SELECT `+secretColumns+` FROM secrets WHERE account_id = ? AND name > ? ORDER BY name LIMIT ?`,
		accountID, after, limit)
}

func (t *txn) SecretsDue(at time.Time, limit int) ([]store.Secret, error) {
	return collect(t, scanSecret, `SELECT `+secretColumns+` FROM secrets WHERE purge_at <> 0 AND purge_at <= ? ORDER BY purge_at LIMIT ?`,
		ts(at), limit)
}

func stagesJSON(stages []string) string {
	if stages == nil {
		stages = []string{}
	}
	b, _ := json.Marshal(stages)
	return string(b)
}

func (t *txn) PutSecretVersion(v store.SecretVersion) error {
	binary := 0
	if v.Binary {
		binary = 1
	}
	_, err := t.exec(`INSERT INTO secret_versions (secret_arn, version_id, stages, sealed, is_binary, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		v.SecretARN, v.VersionID, stagesJSON(v.Stages), v.Sealed, binary, ts(v.CreatedAt))
	return err
}

func (t *txn) SetSecretVersionStages(arn, versionID string, stages []string) error {
	return t.affected(`UPDATE secret_versions SET stages = ? WHERE secret_arn = ? AND version_id = ?`, stagesJSON(stages), arn, versionID)
}

func (t *txn) DeleteSecretVersion(arn, versionID string) error {
	return t.affected(`DELETE FROM secret_versions WHERE secret_arn = ? AND version_id = ?`, arn, versionID)
}

func (t *txn) SecretVersions(arn string) ([]store.SecretVersion, error) {
	return collect(t, func(sc interface{ Scan(...any) error }) (*store.SecretVersion, error) {
		v := store.SecretVersion{SecretARN: arn}
		var stages string
		var binary int
		var created int64
		if err := sc.Scan(&v.VersionID, &stages, &v.Sealed, &binary, &created); err != nil {
			return nil, mapErr(err)
		}
		if err := json.Unmarshal([]byte(stages), &v.Stages); err != nil {
			return nil, err
		}
		v.Binary, v.CreatedAt = binary != 0, tm(created)
		return &v, nil
	}, `SELECT version_id, stages, sealed, is_binary, created_at FROM secret_versions WHERE secret_arn = ? ORDER BY created_at, version_id`, arn)
}

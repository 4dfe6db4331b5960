package sqlstore

import (
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/store"
)

func (t *txn) SetSigningConfiguration(c store.SigningConfiguration) error {
	_, err := t.exec(`INSERT INTO signing_configurations (registry_id, rules, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (registry_id) DO UPDATE SET rules = excluded.rules, updated_at = excluded.updated_at`,
		c.RegistryID, c.Rules, ts(c.UpdatedAt))
	return err
}

func (t *txn) SigningConfiguration(registryID string) (*store.SigningConfiguration, error) {
	c := store.SigningConfiguration{RegistryID: registryID}
	var updated int64
	if err := t.queryRow(`SELECT rules, updated_at FROM signing_configurations WHERE registry_id = ?`, registryID).
		Scan(&c.Rules, &updated); err != nil {
		return nil, mapErr(err)
	}
	c.UpdatedAt = tm(updated)
	return &c, nil
}

func (t *txn) DeleteSigningConfiguration(registryID string) error {
	return t.affected(`DELETE FROM signing_configurations WHERE registry_id = ?`, registryID)
}

func (t *txn) PutSigningKey(k store.SigningKey) error {
	res, err := t.exec(`INSERT INTO signing_keys (registry_id, sealed_key, certificates, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (registry_id) DO NOTHING`, k.RegistryID, k.SealedKey, k.Certificates, ts(k.CreatedAt))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrConflict
	}
	return nil
}

func (t *txn) SigningKey(registryID string) (*store.SigningKey, error) {
	k := store.SigningKey{RegistryID: registryID}
	var created int64
	if err := t.queryRow(`SELECT sealed_key, certificates, created_at FROM signing_keys WHERE registry_id = ?`, registryID).
		Scan(&k.SealedKey, &k.Certificates, &created); err != nil {
		return nil, mapErr(err)
	}
	k.CreatedAt = tm(created)
	return &k, nil
}

func (t *txn) PutImageSigningStatus(s store.ImageSigningStatus) error {
	_, err := t.exec(`INSERT INTO image_signing_statuses (repository_id, digest, profile_arn, status, failure_code, failure_reason, signature, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (repository_id, digest, profile_arn) DO UPDATE SET status = excluded.status, failure_code = excluded.failure_code,
		failure_reason = excluded.failure_reason, signature = excluded.signature, updated_at = excluded.updated_at`,
		s.RepositoryID, s.Digest.String(), s.ProfileARN, s.Status, s.FailureCode, s.FailureReason, s.Signature.String(), ts(s.UpdatedAt))
	return mapErr(err)
}

func (t *txn) ImageSigningStatuses(repoID int64, d digest.Digest) ([]store.ImageSigningStatus, error) {
	return collect(t, func(sc interface{ Scan(...any) error }) (*store.ImageSigningStatus, error) {
		s := store.ImageSigningStatus{RepositoryID: repoID, Digest: d}
		var sig string
		var updated int64
		if err := sc.Scan(&s.ProfileARN, &s.Status, &s.FailureCode, &s.FailureReason, &sig, &updated); err != nil {
			return nil, mapErr(err)
		}
		s.Signature, s.UpdatedAt = digest.Digest(sig), tm(updated)
		return &s, nil
	}, `SELECT profile_arn, status, failure_code, failure_reason, signature, updated_at FROM image_signing_statuses
		WHERE repository_id = ? AND digest = ? ORDER BY profile_arn`, repoID, d.String())
}

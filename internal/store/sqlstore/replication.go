package sqlstore

import (
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/store"
)

func (t *txn) SetReplicationConfiguration(c store.ReplicationConfiguration) error {
	_, err := t.exec(`INSERT INTO replication_configurations (registry_id, rules, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (registry_id) DO UPDATE SET rules = excluded.rules, updated_at = excluded.updated_at`,
		c.RegistryID, c.Rules, ts(c.UpdatedAt))
	return err
}

func (t *txn) ReplicationConfiguration(registryID string) (*store.ReplicationConfiguration, error) {
	c := store.ReplicationConfiguration{RegistryID: registryID}
	var updated int64
	if err := t.queryRow(`SELECT rules, updated_at FROM replication_configurations WHERE registry_id = ?`, registryID).
		Scan(&c.Rules, &updated); err != nil {
		return nil, mapErr(err)
	}
	c.UpdatedAt = tm(updated)
	return &c, nil
}

func (t *txn) PutImageReplicationStatus(s store.ImageReplicationStatus) error {
	_, err := t.exec(`INSERT INTO image_replication_statuses (repository_id, digest, region, registry_id, status, failure_code, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (repository_id, digest, region, registry_id) DO UPDATE SET status = excluded.status,
		failure_code = excluded.failure_code, updated_at = excluded.updated_at`,
		s.RepositoryID, s.Digest.String(), s.Region, s.RegistryID, s.Status, s.FailureCode, ts(s.UpdatedAt))
	return mapErr(err)
}

func (t *txn) ImageReplicationStatuses(repoID int64, d digest.Digest) ([]store.ImageReplicationStatus, error) {
	return collect(t, func(sc interface{ Scan(...any) error }) (*store.ImageReplicationStatus, error) {
		s := store.ImageReplicationStatus{RepositoryID: repoID, Digest: d}
		var updated int64
		if err := sc.Scan(&s.Region, &s.RegistryID, &s.Status, &s.FailureCode, &updated); err != nil {
			return nil, mapErr(err)
		}
		s.UpdatedAt = tm(updated)
		return &s, nil
	}, `SELECT region, registry_id, status, failure_code, updated_at FROM image_replication_statuses
		WHERE repository_id = ? AND digest = ? ORDER BY region, registry_id`, repoID, d.String())
}

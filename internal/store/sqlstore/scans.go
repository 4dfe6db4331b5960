package sqlstore

import (
	"encoding/json"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/store"
)

func (t *txn) PutImageScan(s store.ImageScan) error {
	counts, err := json.Marshal(s.SeverityCounts)
	if err != nil {
		return err
	}
	_, err = t.exec(`INSERT INTO image_scans (repository_id, digest, scan_type, status, description, started_at, manual_at,
			completed_at, source_updated_at, severity_counts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (repository_id, digest) DO UPDATE SET scan_type = excluded.scan_type, status = excluded.status,
			description = excluded.description, started_at = excluded.started_at, manual_at = excluded.manual_at,
			completed_at = excluded.completed_at, source_updated_at = excluded.source_updated_at,
			severity_counts = excluded.severity_counts`,
		s.RepositoryID, s.Digest.String(), s.ScanType, s.Status, s.Description, ts(s.StartedAt), ts(s.ManualAt),
		ts(s.CompletedAt), ts(s.SourceUpdatedAt), string(counts))
	return err
}

const scanCols = `s.repository_id, s.digest, s.scan_type, s.status, s.description, s.started_at, s.manual_at, s.completed_at,
	s.source_updated_at, s.severity_counts`

func scanImageScan(sc interface{ Scan(...any) error }) (*store.ImageScan, error) {
	var s store.ImageScan
	var d, counts string
	var started, manual, completed, updated int64
	if err := sc.Scan(&s.RepositoryID, &d, &s.ScanType, &s.Status, &s.Description, &started, &manual, &completed, &updated, &counts); err != nil {
		return nil, mapErr(err)
	}
	s.Digest = digest.Digest(d)
	s.StartedAt, s.ManualAt, s.CompletedAt, s.SourceUpdatedAt = tm(started), tm(manual), tm(completed), tm(updated)
	return &s, json.Unmarshal([]byte(counts), &s.SeverityCounts)
}

func (t *txn) ImageScans(f store.ImageScanFilter) ([]store.ImageScan, error) {
	where := []string{`(s.repository_id, s.digest) > (?, ?)`}
	args := []any{f.AfterRepositoryID, f.AfterDigest.String()}
	if f.RepositoryID != 0 {
		where, args = append(where, `s.repository_id = ?`), append(args, f.RepositoryID)
	}
	if f.Status != "" {
		where, args = append(where, `s.status = ?`), append(args, f.Status)
	}
	if !f.StartedBefore.IsZero() {
		where, args = append(where, `s.started_at < ?`), append(args, ts(f.StartedBefore))
	}
	if !f.SourceUpdatedBefore.IsZero() {
		where, args = append(where, `s.source_updated_at < ?`), append(args, ts(f.SourceUpdatedBefore))
	}
	if !f.UnusedSince.IsZero() {
		where = append(where, `EXISTS (SELECT 1 FROM images i WHERE i.repository_id = s.repository_id AND i.digest = s.digest
			AND i.pushed_at < ? AND i.last_pulled_at < ?)`)
		args = append(args, ts(f.UnusedSince), ts(f.UnusedSince))
	}
	if f.WithInventory {
		where = append(where, `s.inventory IS NOT NULL`)
	}
	return collect(t, scanImageScan, `SELECT `+scanCols+` FROM image_scans s WHERE `+strings.Join(where, " AND ")+
		` ORDER BY s.repository_id, s.digest LIMIT ?`, append(args, f.Limit)...)
}

func (t *txn) GetImageScan(repoID int64, d digest.Digest) (*store.ImageScan, error) {
	s := store.ImageScan{RepositoryID: repoID, Digest: d}
	var started, manual, completed, updated int64
	var counts string
	err := t.queryRow(`SELECT scan_type, status, description, started_at, manual_at, completed_at, source_updated_at, severity_counts
		FROM image_scans WHERE repository_id = ? AND digest = ?`, repoID, d.String()).
		Scan(&s.ScanType, &s.Status, &s.Description, &started, &manual, &completed, &updated, &counts)
	if err != nil {
		return nil, mapErr(err)
	}
	s.StartedAt, s.ManualAt, s.CompletedAt, s.SourceUpdatedAt = tm(started), tm(manual), tm(completed), tm(updated)
	return &s, json.Unmarshal([]byte(counts), &s.SeverityCounts)
}

func (t *txn) SetImageScanFindings(repoID int64, d digest.Digest, findings [][]byte) error {
	if _, err := t.GetImageScan(repoID, d); err != nil {
		return err
	}
	if _, err := t.exec(`DELETE FROM image_scan_findings WHERE repository_id = ? AND digest = ?`, repoID, d.String()); err != nil {
		return err
	}
	for i, f := range findings {
		if _, err := t.exec(`INSERT INTO image_scan_findings (repository_id, digest, seq, data) VALUES (?, ?, ?, ?)`,
			repoID, d.String(), i+1, string(f)); err != nil {
			return err
		}
	}
	return nil
}

func (t *txn) ImageScanFindings(repoID int64, d digest.Digest, after, limit int) ([]store.ScanFinding, error) {
	return collect(t, func(sc interface{ Scan(...any) error }) (*store.ScanFinding, error) {
		var f store.ScanFinding
		var data string
		if err := sc.Scan(&f.Seq, &data); err != nil {
			return nil, mapErr(err)
		}
		f.Data = []byte(data)
		return &f, nil
	}, `SELECT seq, data FROM image_scan_findings WHERE repository_id = ? AND digest = ? AND seq > ? ORDER BY seq LIMIT ?`,
		repoID, d.String(), after, limit)
}

func (t *txn) SetImageInventory(repoID int64, d digest.Digest, inventory []byte) error {
	return t.affected(`UPDATE image_scans SET inventory = ? WHERE repository_id = ? AND digest = ?`, inventory, repoID, d.String())
}

func (t *txn) ImageInventory(repoID int64, d digest.Digest) ([]byte, error) {
	var inv []byte
	if err := t.queryRow(`SELECT inventory FROM image_scans WHERE repository_id = ? AND digest = ? AND inventory IS NOT NULL`,
		repoID, d.String()).Scan(&inv); err != nil {
		return nil, mapErr(err)
	}
	return inv, nil
}

func (t *txn) SetScanningConfiguration(c store.ScanningConfiguration) error {
	_, err := t.exec(`INSERT INTO scanning_configurations (registry_id, scan_type, rules, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (registry_id) DO UPDATE SET scan_type = excluded.scan_type, rules = excluded.rules, updated_at = excluded.updated_at`,
		c.RegistryID, c.ScanType, c.Rules, ts(c.UpdatedAt))
	return err
}

func (t *txn) ScanningConfigurations(after string, limit int) ([]store.ScanningConfiguration, error) {
	return collect(t, func(sc interface{ Scan(...any) error }) (*store.ScanningConfiguration, error) {
		var c store.ScanningConfiguration
		var updated int64
		if err := sc.Scan(&c.RegistryID, &c.ScanType, &c.Rules, &updated); err != nil {
			return nil, mapErr(err)
		}
		c.UpdatedAt = tm(updated)
		return &c, nil
	}, `SELECT registry_id, scan_type, rules, updated_at FROM scanning_configurations WHERE registry_id > ? ORDER BY registry_id LIMIT ?`,
		after, limit)
}

func (t *txn) ScanningConfiguration(registryID string) (*store.ScanningConfiguration, error) {
	c := store.ScanningConfiguration{RegistryID: registryID}
	var updated int64
	if err := t.queryRow(`SELECT scan_type, rules, updated_at FROM scanning_configurations WHERE registry_id = ?`, registryID).
		Scan(&c.ScanType, &c.Rules, &updated); err != nil {
		return nil, mapErr(err)
	}
	c.UpdatedAt = tm(updated)
	return &c, nil
}

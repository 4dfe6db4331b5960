package sqlstore

import (
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

func (t *txn) AddAuditChunks(chunks []store.AuditChunk) error {
	for _, c := range chunks {
		_, err := t.exec(`INSERT INTO audit_chunks (account, node, start_time, end_time, records, names, read_only, data, log_file, delivered)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, c.Account, c.Node, ts(c.Start), ts(c.End), c.Records, c.Names,
			boolInt(c.ReadOnly), c.Data, c.LogFile, boolInt(c.Delivered))
		if err != nil {
			return err
		}
	}
	return nil
}

const auditChunkCols = `id, account, node, start_time, end_time, records, names, read_only, data, log_file, delivered`

func scanAuditChunk(sc interface{ Scan(...any) error }) (*store.AuditChunk, error) {
	var c store.AuditChunk
	var start, end, readOnly, delivered int64
	if err := sc.Scan(&c.ID, &c.Account, &c.Node, &start, &end, &c.Records, &c.Names, &readOnly, &c.Data, &c.LogFile, &delivered); err != nil {
		return nil, mapErr(err)
	}
	c.Start, c.End, c.ReadOnly, c.Delivered = tm(start), tm(end), readOnly != 0, delivered != 0
	return &c, nil
}

func (t *txn) AuditChunks(q store.AuditChunkQuery) ([]store.AuditChunk, error) {
	where, args := []string{"account = ?"}, []any{q.Account}
	if !q.Start.IsZero() {
		where, args = append(where, "end_time >= ?"), append(args, ts(q.Start))
	}
	if !q.End.IsZero() { // end_time too: a range of the index
		where, args = append(where, "start_time <= ?", "end_time < ?"), append(args, ts(q.End), ts(q.End.Add(store.AuditChunkSpan)))
	}
	if q.Name != "" {
		where, args = append(where, "names LIKE ?"), append(args, "%,"+withoutWildcards(q.Name)+",%")
	}
	if q.Mutating {
		where = append(where, "read_only = 0")
	}
	if q.BeforeID != 0 {
		before := ts(q.BeforeEnd)
		// end_time <= ? first: a range of the index, where the OR alone is a scan from the newest on.
		where, args = append(where, "end_time <= ?", "(end_time < ? OR id < ?)"), append(args, before, before, q.BeforeID)
	}
	return collect(t, scanAuditChunk, `SELECT `+auditChunkCols+` FROM audit_chunks WHERE `+strings.Join(where, " AND ")+
		` ORDER BY end_time DESC, id DESC LIMIT ?`, append(args, q.Limit)...)
}

// withoutWildcards drops LIKE's wildcards from a name: event names hold none.
func withoutWildcards(s string) string {
	return strings.NewReplacer("%", "", "_", "").Replace(s)
}

func (t *txn) UnclaimedAuditChunks(limit int) ([]store.AuditChunk, error) {
	return collect(t, scanAuditChunk, `SELECT `+auditChunkCols+` FROM audit_chunks WHERE delivered = 0 AND log_file = '' ORDER BY id LIMIT ?`, limit)
}

func (t *txn) ClaimAuditChunks(ids []int64, file string) error {
	for _, id := range ids {
		if err := t.affected(`UPDATE audit_chunks SET log_file = ? WHERE id = ? AND log_file = '' AND delivered = 0`, file, id); err != nil {
			return err
		}
	}
	return nil
}

func (t *txn) UndeliveredAuditFiles(limit int) ([]string, error) {
	rows, err := t.query(`SELECT DISTINCT log_file FROM audit_chunks WHERE delivered = 0 AND log_file <> '' ORDER BY log_file LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var f string
		if err := rows.Scan(&f); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

func (t *txn) AuditFileChunks(file string) ([]store.AuditChunk, error) {
	return collect(t, scanAuditChunk, `SELECT `+auditChunkCols+` FROM audit_chunks WHERE log_file = ? AND delivered = 0 ORDER BY id`, file)
}

func (t *txn) MarkAuditFileDelivered(file string) (int, error) {
	var n int64
	if err := t.queryRow(`SELECT COALESCE(SUM(records), 0) FROM audit_chunks WHERE log_file = ? AND delivered = 0`, file).Scan(&n); err != nil {
		return 0, err
	}
	_, err := t.exec(`UPDATE audit_chunks SET delivered = 1 WHERE log_file = ? AND delivered = 0`, file)
	return int(n), err
}

func (t *txn) PendingAuditRecords() (int64, error) {
	var n int64
	err := t.queryRow(`SELECT COALESCE(SUM(records), 0) FROM audit_chunks WHERE delivered = 0`).Scan(&n)
	return n, err
}

func (t *txn) PruneAuditChunks(cutoff time.Time, limit int) (int, error) {
	// Chunks are written about in time order: the oldest ids are the ones to look at.
	res, err := t.exec(`DELETE FROM audit_chunks WHERE id IN (SELECT id FROM audit_chunks WHERE end_time < ? ORDER BY id LIMIT ?)`, ts(cutoff), limit)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

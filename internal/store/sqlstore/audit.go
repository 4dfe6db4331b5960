package sqlstore

import (
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

// auditInsertRows is how many events one INSERT statement adds.
const auditInsertRows = 50

func (t *txn) AddAuditEvents(events []store.AuditEvent) error {
	// Full statements of auditInsertRows rows are prepared once, the rest runs as it comes.
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	args := make([]any, 0, 12*auditInsertRows)
	for len(events) > 0 {
		batch := events[:min(len(events), auditInsertRows)]
		events = events[len(batch):]
		args = args[:0]
		for _, e := range batch {
			var first store.AuditResource
			if len(e.Resources) > 0 {
				first = e.Resources[0]
			}
			args = append(args, e.Account, e.EventID, ts(e.Time), e.Name, e.Source, e.Username, e.AccessKeyID, boolInt(e.ReadOnly),
				first.Name, first.Type, encodeResources(e.Resources), string(e.Record))
		}
		if len(batch) < auditInsertRows {
			if _, err := t.exec(auditInsert(len(batch)), args...); err != nil {
				return err
			}
			continue
		}
		if full == nil {
			var err error
			if full, err = t.tx.PrepareContext(t.ctx, t.d.rewrite(auditInsert(auditInsertRows))); err != nil {
				return t.d.mapErr(err)
			}
		}
		if _, err := full.ExecContext(t.ctx, args...); err != nil {
			return t.d.mapErr(err)
		}
	}
	return nil
}

// auditInsert is the statement that inserts n audit events.
func auditInsert(n int) string {
	var q strings.Builder
	q.WriteString(`INSERT INTO audit_events (account, event_id, event_time, event_name, event_source, username, access_key_id,
		read_only, resource_name, resource_type, resources, record) VALUES `)
	for i := range n {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	}
	return q.String()
}

const auditCols = `id, account, event_id, event_time, event_name, event_source, username, access_key_id, read_only, resources, record, log_file`

func scanAuditEvent(sc interface{ Scan(...any) error }) (*store.AuditEvent, error) {
	var e store.AuditEvent
	var at, readOnly int64
	var resources, record string
	if err := sc.Scan(&e.Seq, &e.Account, &e.EventID, &at, &e.Name, &e.Source, &e.Username, &e.AccessKeyID, &readOnly,
		&resources, &record, &e.LogFile); err != nil {
		return nil, mapErr(err)
	}
	e.Time, e.ReadOnly, e.Record, e.Resources = tm(at), readOnly != 0, []byte(record), decodeResources(resources)
	return &e, nil
}

// encodeResources keeps an event's resources as lines of type, name and ARN separated by tabs: none of
// them holds a tab or a line break (AWS's resource types, repository and IAM names and their ARNs).
func encodeResources(rs []store.AuditResource) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(r.Type)
		b.WriteByte('\t')
		b.WriteString(r.Name)
		b.WriteByte('\t')
		b.WriteString(r.ARN)
		b.WriteByte('\n')
	}
	return b.String()
}

func decodeResources(s string) []store.AuditResource {
	var rs []store.AuditResource
	for line := range strings.Lines(s) {
		f := strings.SplitN(strings.TrimSuffix(line, "\n"), "\t", 3)
		if len(f) == 3 {
			rs = append(rs, store.AuditResource{Type: f[0], Name: f[1], ARN: f[2]})
		}
	}
	return rs
}

// auditAttributes are the conditions of LookupEvents' attributes.
var auditAttributes = map[string]string{
	"EventName":    "event_name = ?",
	"EventSource":  "event_source = ?",
	"Username":     "username = ?",
	"AccessKeyId":  "access_key_id = ?",
	"EventId":      "event_id = ?",
	"ReadOnly":     "read_only = ?",
	"ResourceName": "resource_name = ?",
	"ResourceType": "resource_type = ?",
}

func (t *txn) LookupAuditEvents(q store.AuditQuery) ([]store.AuditEvent, error) {
	where, args := []string{"account = ?"}, []any{q.Account}
	if !q.Start.IsZero() {
		where, args = append(where, "event_time >= ?"), append(args, ts(q.Start))
	}
	if !q.End.IsZero() {
		where, args = append(where, "event_time <= ?"), append(args, ts(q.End))
	}
	if q.Attribute != "" {
		cond, ok := auditAttributes[q.Attribute]
		if !ok {
			return nil, fmt.Errorf("store: unknown audit attribute %q", q.Attribute)
		}
		var v any = q.Value
		if q.Attribute == "ReadOnly" {
			v = boolInt(strings.EqualFold(q.Value, "true"))
		}
		where, args = append(where, cond), append(args, v)
	}
	if q.BeforeSeq != 0 {
		before := ts(q.BeforeTime)
		where, args = append(where, "(event_time < ? OR event_time = ? AND id < ?)"), append(args, before, before, q.BeforeSeq)
	}
	return collect(t, scanAuditEvent, `SELECT `+auditCols+` FROM audit_events WHERE `+strings.Join(where, " AND ")+
		` ORDER BY event_time DESC, id DESC LIMIT ?`, append(args, q.Limit)...)
}

func (t *txn) UnclaimedAuditEvents(limit int) ([]store.AuditEvent, error) {
	return collect(t, scanAuditEvent, `SELECT `+auditCols+` FROM audit_events WHERE delivered = 0 AND log_file = '' ORDER BY id LIMIT ?`, limit)
}

func (t *txn) ClaimAuditEvents(seqs []int64, file string) error {
	for _, seq := range seqs {
		if err := t.affected(`UPDATE audit_events SET log_file = ? WHERE id = ? AND log_file = ''`, file, seq); err != nil {
			return fmt.Errorf("claiming audit event %d: %w", seq, err)
		}
	}
	return nil
}

func (t *txn) UndeliveredAuditFiles(limit int) ([]string, error) {
	rows, err := t.query(`SELECT DISTINCT log_file FROM audit_events WHERE delivered = 0 AND log_file <> '' ORDER BY log_file LIMIT ?`, limit)
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

func (t *txn) AuditFileEvents(file string) ([]store.AuditEvent, error) {
	return collect(t, scanAuditEvent, `SELECT `+auditCols+` FROM audit_events WHERE log_file = ? ORDER BY id`, file)
}

func (t *txn) MarkAuditFileDelivered(file string) error {
	return t.affected(`UPDATE audit_events SET delivered = 1 WHERE log_file = ? AND delivered = 0`, file)
}

func (t *txn) PruneAuditEvents(cutoff time.Time, limit int) (int, error) {
	res, err := t.exec(`DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE event_time < ? ORDER BY id LIMIT ?)`, ts(cutoff), limit)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

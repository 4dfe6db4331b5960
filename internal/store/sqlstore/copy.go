package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Tables lists the tables a copy takes, in an order that satisfies their foreign keys (a table after the
// tables it references). Left out: leases and nodes (held by the processes of one installation), uploads in
// progress (their bytes live in the source's blob store; clients start them again) and the audit trail
// (CopyAuditTrail: with SQLite it is a database of its own).
var Tables = []string{
	"accounts", "users", "access_keys", "user_policies", "user_attached_policies",
	"iam_groups", "iam_group_members", "iam_roles", "iam_owner_policies", "iam_owner_attached", "registry_policies",
	"repositories", "repository_tags", "repository_policies", "blobs", "repository_blobs",
	"images", "image_refs", "tags", "lifecycle_policies", "lifecycle_events", "lifecycle_previews",
	"jobs", "job_schedules", "events", "event_cursors", "image_scans", "image_scan_findings", "scanning_configurations",
	"advisories", "advisory_packages", "advisories_updated", "pull_time_exclusions", "account_settings",
	"signing_configurations", "signing_keys", "image_signing_statuses",
	"image_storage", "login_profiles", "password_policies", "account_aliases", "console_sessions", "usage_daily",
	"secrets", "secret_versions", "repository_creation_templates", "replication_configurations", "image_replication_statuses",
	"pull_through_cache_rules", "pull_through_tag_checks",
}

// identityTables have an id column the database numbers.
var identityTables = []string{"repositories", "lifecycle_events", "jobs", "events"}

// CopyTables copies every row of every table from one database (in dialect from) into another, empty one
// (in dialect to), in one transaction of the destination, and returns the rows copied per table.
func CopyTables(ctx context.Context, src *sql.DB, from *Dialect, dst *sql.DB, to *Dialect) (map[string]int, error) {
	var n int
	if err := dst.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM accounts) + (SELECT COUNT(*) FROM repositories)`).Scan(&n); err != nil {
		return nil, err
	}
	if n > 0 {
		return nil, fmt.Errorf("the destination database already holds accounts or repositories; copy only into an empty one")
	}
	read, err := src.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer read.Rollback()
	write, err := dst.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer write.Rollback()
	counts := map[string]int{}
	for _, table := range Tables {
		if counts[table], err = copyTable(ctx, read, write, table, to); err != nil {
			return nil, fmt.Errorf("copying %s: %w", table, err)
		}
	}
	if to.Postgres { // identity columns continue after the copied ids
		for _, table := range identityTables {
			if _, err := write.ExecContext(ctx, fmt.Sprintf(
				`SELECT setval(pg_get_serial_sequence('%s', 'id'), COALESCE((SELECT MAX(id) FROM %s), 0) + 1, false)`, table, table)); err != nil {
				return nil, err
			}
		}
	}
	return counts, write.Commit()
}

// CopyAuditTrail copies the audit trail's chunks from one database into another, whose trail is empty, in
// one transaction of the destination, and returns the chunks copied.
func CopyAuditTrail(ctx context.Context, src *sql.DB, dst *sql.DB, to *Dialect) (int, error) {
	var n int
	if err := dst.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_chunks`).Scan(&n); err != nil {
		return 0, err
	}
	if n > 0 {
		return 0, fmt.Errorf("the destination already holds an audit trail; copy only into an empty one")
	}
	read, err := src.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, err
	}
	defer read.Rollback()
	write, err := dst.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer write.Rollback()
	if n, err = copyTable(ctx, read, write, "audit_chunks", to); err != nil {
		return 0, err
	}
	if to.Postgres {
		if _, err := write.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('audit_chunks', 'id'), COALESCE((SELECT MAX(id) FROM audit_chunks), 0) + 1, false)`); err != nil {
			return 0, err
		}
	}
	return n, write.Commit()
}

func copyTable(ctx context.Context, read, write *sql.Tx, table string, to *Dialect) (int, error) {
	rows, err := read.QueryContext(ctx, "SELECT * FROM "+table)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	insert := to.rewrite(fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", table, strings.Join(cols, ", "),
		strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ")))
	stmt, err := write.PrepareContext(ctx, insert)
	if err != nil {
		return 0, err
	}
	defer stmt.Close()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		if _, err := stmt.ExecContext(ctx, vals...); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

package sqlstore

import (
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

func (t *txn) PutConsoleSession(s store.ConsoleSession) error {
	reset := 0
	if s.ResetRequired {
		reset = 1
	}
	_, err := t.exec(`INSERT INTO console_sessions (id_hash, account_id, user_name, role, reset_required, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id_hash) DO UPDATE SET role = excluded.role, reset_required = excluded.reset_required,
			expires_at = excluded.expires_at`,
		s.IDHash, s.AccountID, s.UserName, s.Role, reset, ts(s.CreatedAt), ts(s.ExpiresAt))
	return err
}

func (t *txn) GetConsoleSession(idHash string) (*store.ConsoleSession, error) {
	s := store.ConsoleSession{IDHash: idHash}
	var reset int
	var created, expires int64
	err := t.queryRow(`SELECT account_id, user_name, role, reset_required, created_at, expires_at FROM console_sessions WHERE id_hash = ?`, idHash).
		Scan(&s.AccountID, &s.UserName, &s.Role, &reset, &created, &expires)
	if err != nil {
		return nil, mapErr(err)
	}
	s.ResetRequired, s.CreatedAt, s.ExpiresAt = reset != 0, tm(created), tm(expires)
	return &s, nil
}

func (t *txn) DeleteConsoleSession(idHash string) error {
	return t.affected(`DELETE FROM console_sessions WHERE id_hash = ?`, idHash)
}

func (t *txn) DeleteConsoleSessions(accountID, user string, expiredBefore time.Time) (int, error) {
	q, args := `DELETE FROM console_sessions WHERE account_id = ? AND user_name = ?`, []any{accountID, user}
	if user == "" {
		q, args = `DELETE FROM console_sessions WHERE expires_at < ?`, []any{ts(expiredBefore)}
	}
	res, err := t.exec(q, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

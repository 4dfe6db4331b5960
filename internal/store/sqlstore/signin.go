package sqlstore

import (
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

func (t *txn) CreateLoginProfile(p store.LoginProfile) error {
	_, err := t.exec(`INSERT INTO login_profiles (account_id, user_name, password_hash, history, reset_required, created_at, changed_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, p.AccountID, p.UserName, p.PasswordHash, strings.Join(p.History, "\n"),
		boolInt(p.ResetRequired), ts(p.CreatedAt), ts(p.ChangedAt))
	return err
}

func (t *txn) UpdateLoginProfile(p store.LoginProfile) error {
	return t.affected(`UPDATE login_profiles SET password_hash = ?, history = ?, reset_required = ?, changed_at = ?
		WHERE account_id = ? AND user_name = ?`, p.PasswordHash, strings.Join(p.History, "\n"), boolInt(p.ResetRequired),
		ts(p.ChangedAt), p.AccountID, p.UserName)
}

func (t *txn) LoginProfile(accountID, user string) (*store.LoginProfile, error) {
	p := store.LoginProfile{AccountID: accountID, UserName: user}
	var history string
	var reset, created, changed int64
	if err := t.queryRow(`SELECT password_hash, history, reset_required, created_at, changed_at FROM login_profiles
		WHERE account_id = ? AND user_name = ?`, accountID, user).Scan(&p.PasswordHash, &history, &reset, &created, &changed); err != nil {
		return nil, mapErr(err)
	}
	if history != "" {
		p.History = strings.Split(history, "\n")
	}
	p.ResetRequired, p.CreatedAt, p.ChangedAt = reset != 0, tm(created), tm(changed)
	return &p, nil
}

func (t *txn) DeleteLoginProfile(accountID, user string) error {
	return t.affected(`DELETE FROM login_profiles WHERE account_id = ? AND user_name = ?`, accountID, user)
}

func (t *txn) SetPasswordPolicy(p store.PasswordPolicy) error {
	_, err := t.exec(`INSERT INTO password_policies (account_id, minimum_length, require_symbols, require_numbers, require_uppercase,
		require_lowercase, allow_change, max_age, reuse_prevention, hard_expiry) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (account_id) DO UPDATE SET minimum_length = excluded.minimum_length, require_symbols = excluded.require_symbols,
		require_numbers = excluded.require_numbers, require_uppercase = excluded.require_uppercase,
		require_lowercase = excluded.require_lowercase, allow_change = excluded.allow_change, max_age = excluded.max_age,
		reuse_prevention = excluded.reuse_prevention, hard_expiry = excluded.hard_expiry`,
		p.AccountID, p.MinimumLength, boolInt(p.RequireSymbols), boolInt(p.RequireNumbers), boolInt(p.RequireUppercase),
		boolInt(p.RequireLowercase), boolInt(p.AllowUsersToChange), p.MaxAge, p.ReusePrevention, boolInt(p.HardExpiry))
	return err
}

func (t *txn) PasswordPolicy(accountID string) (*store.PasswordPolicy, error) {
	p := store.PasswordPolicy{AccountID: accountID}
	var minLen, symbols, numbers, upper, lower, change, maxAge, reuse, hard int64
	if err := t.queryRow(`SELECT minimum_length, require_symbols, require_numbers, require_uppercase, require_lowercase,
		allow_change, max_age, reuse_prevention, hard_expiry FROM password_policies WHERE account_id = ?`, accountID).
		Scan(&minLen, &symbols, &numbers, &upper, &lower, &change, &maxAge, &reuse, &hard); err != nil {
		return nil, mapErr(err)
	}
	p.MinimumLength, p.MaxAge, p.ReusePrevention = int(minLen), int(maxAge), int(reuse)
	p.RequireSymbols, p.RequireNumbers, p.RequireUppercase, p.RequireLowercase = symbols != 0, numbers != 0, upper != 0, lower != 0
	p.AllowUsersToChange, p.HardExpiry = change != 0, hard != 0
	return &p, nil
}

func (t *txn) DeletePasswordPolicy(accountID string) error {
	return t.affected(`DELETE FROM password_policies WHERE account_id = ?`, accountID)
}

func (t *txn) SetAccountAlias(accountID, alias string) error {
	if _, err := t.exec(`DELETE FROM account_aliases WHERE account_id = ?`, accountID); err != nil {
		return err
	}
	_, err := t.exec(`INSERT INTO account_aliases (alias, account_id) VALUES (?, ?)`, alias, accountID)
	return err
}

func (t *txn) AccountAlias(accountID string) (string, error) {
	var alias string
	err := t.queryRow(`SELECT alias FROM account_aliases WHERE account_id = ?`, accountID).Scan(&alias)
	return alias, mapErr(err)
}

func (t *txn) AliasAccount(alias string) (string, error) {
	var accountID string
	err := t.queryRow(`SELECT account_id FROM account_aliases WHERE alias = ?`, alias).Scan(&accountID)
	return accountID, mapErr(err)
}

func (t *txn) DeleteAccountAlias(accountID, alias string) error {
	return t.affected(`DELETE FROM account_aliases WHERE account_id = ? AND alias = ?`, accountID, alias)
}

func (t *txn) ListGroups(accountID string) ([]store.Group, error) {
	return collect(t, func(sc interface{ Scan(...any) error }) (*store.Group, error) {
		var g store.Group
		var created int64
		if err := sc.Scan(&g.AccountID, &g.Name, &g.GroupID, &created); err != nil {
			return nil, err
		}
		g.CreatedAt = tm(created)
		return &g, nil
	}, `SELECT account_id, name, group_id, created_at FROM iam_groups WHERE account_id = ? ORDER BY name`, accountID)
}

func (t *txn) GroupUsers(accountID, group string) ([]store.User, error) {
	return collect(t, scanUser, `SELECT u.account_id, u.name, u.user_id, u.created_at FROM iam_group_members m
		JOIN users u ON u.account_id = m.account_id AND u.name = m.user_name
		WHERE m.account_id = ? AND m.group_name = ? ORDER BY u.name`, accountID, group)
}

func (t *txn) ListRoles(accountID string) ([]store.Role, error) {
	return collect(t, func(sc interface{ Scan(...any) error }) (*store.Role, error) {
		var r store.Role
		var maxSession, created int64
		if err := sc.Scan(&r.AccountID, &r.Name, &r.RoleID, &r.TrustPolicy, &r.Description, &maxSession, &created); err != nil {
			return nil, err
		}
		r.MaxSession, r.CreatedAt = time.Duration(maxSession)*time.Second, tm(created)
		return &r, nil
	}, `SELECT account_id, name, role_id, trust_policy, description, max_session, created_at FROM iam_roles WHERE account_id = ? ORDER BY name`, accountID)
}

package sqlstore

import (
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

func (t *txn) UpdateRole(r store.Role) error {
	return t.affected(`UPDATE iam_roles SET trust_policy = ?, description = ?, max_session = ? WHERE account_id = ? AND name = ?`,
		r.TrustPolicy, r.Description, int64(r.MaxSession/time.Second), r.AccountID, r.Name)
}

func (t *txn) DeleteGroup(accountID, name string) error {
	if err := t.deleteOwnerPolicies(accountID, store.GroupPolicies, name); err != nil {
		return err
	}
	return t.affected(`DELETE FROM iam_groups WHERE account_id = ? AND name = ?`, accountID, name) // memberships cascade
}

func (t *txn) DeleteRole(accountID, name string) error {
	if err := t.deleteOwnerPolicies(accountID, store.RolePolicies, name); err != nil {
		return err
	}
	return t.affected(`DELETE FROM iam_roles WHERE account_id = ? AND name = ?`, accountID, name)
}

// deleteOwnerPolicies removes a group's or role's inline and attached policies, so that an entity created
// later under its name does not inherit them.
func (t *txn) deleteOwnerPolicies(accountID, kind, owner string) error {
	if _, err := t.exec(`DELETE FROM iam_owner_policies WHERE account_id = ? AND kind = ? AND owner = ?`, accountID, kind, owner); err != nil {
		return err
	}
	_, err := t.exec(`DELETE FROM iam_owner_attached WHERE account_id = ? AND kind = ? AND owner = ?`, accountID, kind, owner)
	return err
}

func (t *txn) DeleteOwnerPolicy(accountID, kind, owner, name string) error {
	return t.affected(`DELETE FROM iam_owner_policies WHERE account_id = ? AND kind = ? AND owner = ? AND name = ?`, accountID, kind, owner, name)
}

func (t *txn) DetachOwnerPolicy(accountID, kind, owner, policyARN string) error {
	return t.affected(`DELETE FROM iam_owner_attached WHERE account_id = ? AND kind = ? AND owner = ? AND policy_arn = ?`, accountID, kind, owner, policyARN)
}

package store

// IAMChangeTx changes and removes groups and roles and their policies.
type IAMChangeTx interface {
	// UpdateRole replaces a role's trust policy, description and maximum session duration; ErrNotFound
	// when there is no such role.
	UpdateRole(r Role) error
	// DeleteGroup removes a group with its memberships and policies; ErrNotFound when there is none.
	DeleteGroup(accountID, name string) error
	// DeleteRole removes a role with its policies; ErrNotFound when there is none.
	DeleteRole(accountID, name string) error
	// DeleteOwnerPolicy removes an inline policy of a group or role (kind GroupPolicies or RolePolicies);
	// ErrNotFound when it has none of that name.
	DeleteOwnerPolicy(accountID, kind, owner, name string) error
	// DetachOwnerPolicy detaches a managed policy from a group or role; ErrNotFound when it is not attached.
	DetachOwnerPolicy(accountID, kind, owner, policyARN string) error
}

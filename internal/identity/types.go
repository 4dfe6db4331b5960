package identity

import "github.com/wharf-dev/wharf/internal/store"

// The identity records, as the adapters see them: they reach rows only through this package.
type (
	User  = store.User
	Role  = store.Role
	Group = store.Group
)

// Owners of inline and attached policies besides users.
const (
	GroupPolicies = store.GroupPolicies
	RolePolicies  = store.RolePolicies
)

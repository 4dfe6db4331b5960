package store

import "time"

// LoginProfile is an IAM user's console password: its hash (a PHC string the identity service writes and
// reads; the store never sees a password) and the hashes of the passwords before it, newest first.
type LoginProfile struct {
	AccountID     string
	UserName      string
	PasswordHash  string
	History       []string
	ResetRequired bool
	CreatedAt     time.Time
	ChangedAt     time.Time // when the password was last set
}

// PasswordPolicy is an account's password policy (IAM's UpdateAccountPasswordPolicy). Zero MaxAge and
// ReusePrevention mean none.
type PasswordPolicy struct {
	AccountID          string
	MinimumLength      int
	RequireSymbols     bool
	RequireNumbers     bool
	RequireUppercase   bool
	RequireLowercase   bool
	AllowUsersToChange bool
	MaxAge             int // days
	ReusePrevention    int // passwords
	HardExpiry         bool
}

// SignInTx keeps what signing in to the console needs: users' login profiles, accounts' password
// policies and account aliases (unique across the installation, one per account).
type SignInTx interface {
	// CreateLoginProfile stores a user's login profile; ErrExists when it has one, ErrNotFound when there
	// is no such user.
	CreateLoginProfile(p LoginProfile) error
	// UpdateLoginProfile replaces a user's login profile; ErrNotFound when it has none.
	UpdateLoginProfile(p LoginProfile) error
	LoginProfile(accountID, user string) (*LoginProfile, error)
	DeleteLoginProfile(accountID, user string) error

	// SetPasswordPolicy creates or replaces an account's password policy.
	SetPasswordPolicy(p PasswordPolicy) error
	PasswordPolicy(accountID string) (*PasswordPolicy, error)
	DeletePasswordPolicy(accountID string) error

	// SetAccountAlias gives an account an alias, replacing the one it had; ErrExists when another
	// account has it.
	SetAccountAlias(accountID, alias string) error
	// AccountAlias returns an account's alias; ErrNotFound when it has none.
	AccountAlias(accountID string) (string, error)
	// AliasAccount returns the account an alias names; ErrNotFound when none.
	AliasAccount(alias string) (string, error)
	// DeleteAccountAlias removes an account's alias; ErrNotFound when the account does not have it.
	DeleteAccountAlias(accountID, alias string) error
}

// IAMListTx lists an account's groups and roles, and a group's members.
type IAMListTx interface {
	ListGroups(accountID string) ([]Group, error)
	// GroupUsers lists the members of a group by name.
	GroupUsers(accountID, group string) ([]User, error)
	ListRoles(accountID string) ([]Role, error)
}

// Package identity keeps accounts, IAM users and their access keys, verifies who a caller is, and issues
// and checks the registry's authorization tokens (the password of `aws ecr get-login-password`).
package identity

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/iam"
	"github.com/wharf-dev/wharf/internal/store"
)

// Principal is who is calling.
type Principal struct {
	AccountID   string
	UserName    string // an IAM user's name, or "" for a role session
	UserID      string // AIDA… for users, <role id>:<session> for sessions
	AccessKeyID string
	// A role session (STS AssumeRole) names its role and session and ends at SessionExpires.
	RoleName       string
	SessionName    string
	SessionExpires time.Time
	// Root is the account itself: what the command line acts as (`wharf repo create`, `wharf admin …`).
	// Like AWS's root user it may do everything in its own account.
	Root bool
	// Service names Wharf's own background work (lifecycle, garbage collection) acting in the account,
	// as AWS names a service principal ("ecr.amazonaws.com").
	Service string
}

// RootOf is the root principal of an account.
func RootOf(accountID string) Principal { return Principal{AccountID: accountID, Root: true} }

// ServiceIn is Wharf's own background work acting in an account ("" for work across accounts).
func ServiceIn(accountID string) Principal {
	return Principal{AccountID: accountID, Service: "ecr.amazonaws.com"}
}

// ARN is the principal's ARN, as AWS shows it in errors and audit records.
func (p Principal) ARN() string {
	switch {
	case p.Service != "":
		return p.Service
	case p.AccountID == "":
		return ""
	case p.Root:
		return "arn:aws:iam::" + p.AccountID + ":root"
	case p.RoleName != "":
		return "arn:aws:sts::" + p.AccountID + ":assumed-role/" + p.RoleName + "/" + p.SessionName
	}
	return "arn:aws:iam::" + p.AccountID + ":user/" + p.UserName
}

// RoleARN is the ARN of a session's role, "" for users.
func (p Principal) RoleARN() string {
	if p.RoleName == "" {
		return ""
	}
	return "arn:aws:iam::" + p.AccountID + ":role/" + p.RoleName
}

// Anonymous reports whether the caller presented no identity.
func (p Principal) Anonymous() bool { return p.AccountID == "" && p.Service == "" }

// Credentials are an access key pair, shown once when created.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
}

// Errors, matched with errors.Is. Errors of IAM requests read "<sentinel>: <AWS's message>".
var (
	ErrUnknownKey   = errors.New("the security token included in the request is invalid")
	ErrInactiveKey  = errors.New("the access key is inactive")
	ErrBadToken     = errors.New("authorization token is invalid")
	ErrExpiredToken = errors.New("authorization token has expired")
	ErrExists       = errors.New("already exists")
	ErrNotFound     = errors.New("not found")
	ErrInvalid      = errors.New("invalid") // a request IAM answers with ValidationError
	// ErrMalformedPolicy is the ErrInvalid of a policy document that does not parse (IAM's
	// MalformedPolicyDocument). It is ErrInvalid too, and says "invalid" as ErrInvalid does.
	ErrMalformedPolicy = fmt.Errorf("%w", ErrInvalid)
	// ErrLimitExceeded is a request beyond one of IAM's quotas (IAM's LimitExceeded).
	ErrLimitExceeded = errors.New("limit exceeded")
	// ErrDeleteConflict is a deletion IAM refuses while the entity still has what must go first (IAM's
	// DeleteConflict).
	ErrDeleteConflict = errors.New("delete conflict")
)

// AdminUser is the user each account starts with; it may do everything in its account.
const AdminUser = "admin"

// Service manages identities. Key lookups are cached for a few seconds, so verifying a request costs no
// query, and a deleted or disabled key stops working within that time.
type Service struct {
	meta    store.Store
	keys    *Keyring
	clock   clock.Clock
	region  string
	known   *keyCache // ids of stored keys, active or not
	unknown *keyCache // ids that are no key: few, and briefly

	tokens     sync.Map // token -> verifiedToken: a registry request costs no signature check or decoding
	tokenCount atomic.Int64
}

// verifiedToken is a token whose signature and contents were checked once.
type verifiedToken struct {
	t token
}

const maxCachedTokens = 10000

type cachedKey struct {
	secret    string
	principal Principal
	err       error
	at        time.Time
}

// New returns an identity service for a region.
func New(meta store.Store, keys *Keyring, clk clock.Clock, region string) *Service {
	if clk == nil {
		clk = clock.Real{}
	}
	return &Service{meta: meta, keys: keys, clock: clk, region: region,
		known: newKeyCache(maxCachedKeys, keyTTL), unknown: newKeyCache(maxCachedUnknown, unknownKeyTTL)}
}

// SetKeyCacheTTL sets how long a looked-up access key is used before it is looked up again (default 5 s):
// a key deleted or deactivated by another process stops working within it. Set it before any request.
func (s *Service) SetKeyCacheTTL(ttl time.Duration) {
	if ttl > 0 {
		s.known = newKeyCache(maxCachedKeys, ttl)
	}
}

// Region is the region this installation serves.
func (s *Service) Region() string { return s.region }

func randomID(prefix string, n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + string(b)
}

func newSecret() string {
	b := make([]byte, 30)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b) // 40 characters, like AWS secrets
}

// ValidAccountID tells a 12-digit account id.
func ValidAccountID(id string) bool {
	if len(id) != 12 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
	}
	return true
}

// Bootstrap makes sure an account exists with its admin user. When the account is new it creates an admin
// access key — the given one, or a random one — and returns it; given credentials that are not stored yet
// are added to the admin user. It returns nil credentials when there was nothing to create.
func (s *Service) Bootstrap(ctx context.Context, accountID string, given *Credentials) (*Credentials, error) {
	if !ValidAccountID(accountID) {
		return nil, fmt.Errorf("%w: account id %q is not 12 digits", ErrInvalid, accountID)
	}
	if given != nil && !validKeyID(given.AccessKeyID) { // it could never sign a request
		return nil, fmt.Errorf("%w: access key id %q is not 16 to 128 upper-case letters and digits", ErrInvalid, given.AccessKeyID)
	}
	var out *Credentials
	err := s.meta.Update(ctx, func(tx store.Tx) error {
		out = nil
		now := s.clock.Now()
		_, err := tx.GetAccount(accountID)
		fresh := errors.Is(err, store.ErrNotFound)
		if err != nil && !fresh {
			return err
		}
		if fresh {
			if err := tx.CreateAccount(store.Account{ID: accountID, CreatedAt: now}); err != nil {
				return err
			}
			if err := tx.CreateUser(store.User{AccountID: accountID, Name: AdminUser, UserID: randomID("AIDA", 17), CreatedAt: now}); err != nil {
				return err
			}
			if err := tx.AttachUserPolicy(accountID, AdminUser, iam.AdministratorAccess); err != nil {
				return err
			}
		}
		creds := given
		if creds == nil {
			if !fresh {
				return nil
			}
			creds = &Credentials{AccessKeyID: randomID("AKIA", 16), SecretAccessKey: newSecret()}
		} else if k, err := tx.GetAccessKey(creds.AccessKeyID); err == nil {
			if k.AccountID != accountID {
				return fmt.Errorf("%w: access key %s belongs to account %s", ErrExists, k.ID, k.AccountID)
			}
			return nil // already there
		}
		out = creds
		return tx.CreateAccessKey(s.sealedKey(accountID, AdminUser, creds, now))
	})
	if out != nil {
		s.unknown.forget(out.AccessKeyID) // a given id may have been tried before it existed
	}
	return out, err
}

func (s *Service) sealedKey(accountID, user string, c *Credentials, now time.Time) store.AccessKey {
	return store.AccessKey{ID: c.AccessKeyID, AccountID: accountID, UserName: user,
		Secret: s.keys.Seal([]byte(c.SecretAccessKey), c.AccessKeyID), Status: "Active", CreatedAt: now}
}

// CreateAccount creates an account with its admin user and returns the admin's new access key.
func (s *Service) CreateAccount(ctx context.Context, accountID string) (*Credentials, error) {
	if !ValidAccountID(accountID) {
		return nil, fmt.Errorf("%w: account id %q is not 12 digits", ErrInvalid, accountID)
	}
	var exists bool
	if err := s.meta.View(ctx, func(tx store.Tx) error {
		_, err := tx.GetAccount(accountID)
		exists = err == nil
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	}); err != nil {
		return nil, err
	}
	if exists {
		return nil, fmt.Errorf("%w: account %s", ErrExists, accountID)
	}
	return s.Bootstrap(ctx, accountID, nil)
}

// CreateUser adds an IAM user to an account.
func (s *Service) CreateUser(ctx context.Context, accountID, name string) (*store.User, error) {
	if err := userNameType.check(name); err != nil {
		return nil, err
	}
	u := store.User{AccountID: accountID, Name: name, UserID: randomID("AIDA", 17), CreatedAt: s.clock.Now()}
	err := s.meta.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.GetAccount(accountID); err != nil {
			return fmt.Errorf("%w: account %s", ErrNotFound, accountID)
		}
		err := tx.CreateUser(u)
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("%w: user %s", ErrExists, name)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// CreateAccessKey gives a user a new access key.
func (s *Service) CreateAccessKey(ctx context.Context, accountID, user string) (*Credentials, error) {
	c := &Credentials{AccessKeyID: randomID("AKIA", 16), SecretAccessKey: newSecret()}
	err := s.meta.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.GetUser(accountID, user); err != nil {
			return fmt.Errorf("%w: user %s in account %s", ErrNotFound, user, accountID)
		}
		return tx.CreateAccessKey(s.sealedKey(accountID, user, c, s.clock.Now()))
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// PutUserPolicy gives a user an inline policy (replacing one of the same name), within IAM's quota on
// the size of a user's inline policies.
func (s *Service) PutUserPolicy(ctx context.Context, accountID, user, name, document string) error {
	if err := checkPolicy(name, document); err != nil {
		return err
	}
	return s.notFound(s.meta.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.GetUser(accountID, user); err != nil {
			return err
		}
		policies, err := tx.UserPolicies(accountID, user)
		if err != nil {
			return err
		}
		if err := checkInlineQuota(userPolicies, user, policies, name, document); err != nil {
			return err
		}
		return tx.PutUserPolicy(accountID, user, name, document)
	}), "user "+user)
}

// checkPolicy checks an inline policy's name and document.
func checkPolicy(name, document string) error {
	if err := policyNameType.check(name); err != nil {
		return err
	}
	if err := policyDocumentType.check(document); err != nil {
		return err
	}
	if _, err := iam.Parse(document, iam.IdentityPolicy); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedPolicy, err)
	}
	return nil
}

// AttachUserPolicy attaches an AWS managed policy to a user.
func (s *Service) AttachUserPolicy(ctx context.Context, accountID, user, policyARN string) error {
	if _, ok := iam.Managed(policyARN); !ok {
		return fmt.Errorf("%w: policy %s does not exist", ErrNotFound, policyARN)
	}
	return s.notFound(s.meta.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.GetUser(accountID, user); err != nil {
			return err
		}
		return tx.AttachUserPolicy(accountID, user, policyARN)
	}), "user "+user)
}

// GetUser returns a user.
func (s *Service) GetUser(ctx context.Context, accountID, name string) (*store.User, error) {
	var u *store.User
	err := s.meta.View(ctx, func(tx store.Tx) (err error) { u, err = tx.GetUser(accountID, name); return err })
	return u, s.notFound(err, "user "+name)
}

// ListUsers lists an account's users by name.
func (s *Service) ListUsers(ctx context.Context, accountID string) ([]store.User, error) {
	var us []store.User
	err := s.meta.View(ctx, func(tx store.Tx) (err error) { us, err = tx.ListUsers(accountID); return err })
	return us, err
}

// AccessKeys lists a user's access keys (secrets are never returned).
func (s *Service) AccessKeys(ctx context.Context, accountID, user string) ([]store.AccessKey, error) {
	var ks []store.AccessKey
	err := s.meta.View(ctx, func(tx store.Tx) error {
		if _, err := tx.GetUser(accountID, user); err != nil {
			return err
		}
		var err error
		ks, err = tx.ListAccessKeys(accountID, user)
		return err
	})
	for i := range ks {
		ks[i].Secret = nil
	}
	return ks, s.notFound(err, "user "+user)
}

// UserPolicies returns a user's inline policies by name and its attached managed policy ARNs.
func (s *Service) UserPolicies(ctx context.Context, accountID, user string) (map[string]string, []string, error) {
	var inline map[string]string
	var attached []string
	err := s.meta.View(ctx, func(tx store.Tx) error {
		if _, err := tx.GetUser(accountID, user); err != nil {
			return err
		}
		var err error
		if inline, err = tx.UserPolicies(accountID, user); err != nil {
			return err
		}
		attached, err = tx.AttachedUserPolicies(accountID, user)
		return err
	})
	return inline, attached, s.notFound(err, "user "+user)
}

// DeleteUserPolicy removes a user's inline policy.
func (s *Service) DeleteUserPolicy(ctx context.Context, accountID, user, name string) error {
	return s.notFound(s.meta.Update(ctx, func(tx store.Tx) error { return tx.DeleteUserPolicy(accountID, user, name) }), "policy "+name+" of user "+user)
}

// DetachUserPolicy detaches a managed policy from a user.
func (s *Service) DetachUserPolicy(ctx context.Context, accountID, user, policyARN string) error {
	return s.notFound(s.meta.Update(ctx, func(tx store.Tx) error { return tx.DetachUserPolicy(accountID, user, policyARN) }), "attached policy "+policyARN)
}

// KeyOwner tells which account and user an access key belongs to.
func (s *Service) KeyOwner(ctx context.Context, keyID string) (accountID, user string, err error) {
	err = s.meta.View(ctx, func(tx store.Tx) error {
		k, err := tx.GetAccessKey(keyID)
		if err != nil {
			return err
		}
		accountID, user = k.AccountID, k.UserName
		return nil
	})
	return accountID, user, s.notFound(err, "access key "+keyID)
}

// CreateGroup adds an IAM group to an account.
func (s *Service) CreateGroup(ctx context.Context, accountID, name string) (*store.Group, error) {
	if err := groupNameType.check(name); err != nil {
		return nil, err
	}
	g := store.Group{AccountID: accountID, Name: name, GroupID: randomID("AGPA", 17), CreatedAt: s.clock.Now()}
	err := s.meta.Update(ctx, func(tx store.Tx) error {
		err := tx.CreateGroup(g)
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("%w: group %s", ErrExists, name)
		}
		return err
	})
	return &g, s.notFound(err, "account "+accountID)
}

// AddUserToGroup makes a user a member of a group: the group's policies apply to it.
func (s *Service) AddUserToGroup(ctx context.Context, accountID, group, user string) error {
	return s.notFound(s.meta.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.GetGroup(accountID, group); err != nil {
			return err
		}
		if _, err := tx.GetUser(accountID, user); err != nil {
			return err
		}
		return tx.AddUserToGroup(accountID, group, user)
	}), "group "+group+" or user "+user)
}

// RemoveUserFromGroup ends a user's membership of a group.
func (s *Service) RemoveUserFromGroup(ctx context.Context, accountID, group, user string) error {
	return s.meta.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.GetGroup(accountID, group); err != nil {
			return s.notFound(err, "group "+group)
		}
		if _, err := tx.GetUser(accountID, user); err != nil {
			return s.notFound(err, "user "+user)
		}
		return s.notFound(tx.RemoveUserFromGroup(accountID, group, user), "user "+user+" in group "+group)
	})
}

// CreateRole adds a role whose trust policy says who may assume it.
func (s *Service) CreateRole(ctx context.Context, accountID, name, trustPolicy string, maxSession time.Duration) (*store.Role, error) {
	return s.CreateDescribedRole(ctx, accountID, name, trustPolicy, "", maxSession)
}

// CreateDescribedRole adds a role with a description, as IAM's CreateRole does.
func (s *Service) CreateDescribedRole(ctx context.Context, accountID, name, trustPolicy, description string, maxSession time.Duration) (*store.Role, error) {
	if err := roleNameType.check(name); err != nil {
		return nil, err
	}
	if err := checkTrustPolicy(trustPolicyType, trustPolicy); err != nil {
		return nil, err
	}
	if err := checkDescription(description); err != nil {
		return nil, err
	}
	if maxSession == 0 {
		maxSession = time.Hour
	}
	if err := checkMaxSession(maxSession); err != nil {
		return nil, err
	}
	r := store.Role{AccountID: accountID, Name: name, RoleID: randomID("AROA", 17), TrustPolicy: trustPolicy, Description: description,
		MaxSession: maxSession, CreatedAt: s.clock.Now()}
	err := s.meta.Update(ctx, func(tx store.Tx) error {
		err := tx.CreateRole(r)
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("%w: role %s", ErrExists, name)
		}
		return err
	})
	return &r, s.notFound(err, "account "+accountID)
}

// PutOwnerPolicy gives a group or role (kind store.GroupPolicies or store.RolePolicies) an inline policy,
// within IAM's quota on the size of its inline policies.
func (s *Service) PutOwnerPolicy(ctx context.Context, accountID, kind, owner, name, document string) error {
	if kind != store.GroupPolicies && kind != store.RolePolicies {
		return fmt.Errorf("%w: policies of a %q", ErrInvalid, kind)
	}
	if err := checkPolicy(name, document); err != nil {
		return err
	}
	return s.notFound(s.meta.Update(ctx, func(tx store.Tx) error {
		if err := ownerExists(tx, accountID, kind, owner); err != nil {
			return err
		}
		policies, err := tx.OwnerPolicies(accountID, kind, owner)
		if err != nil {
			return err
		}
		if err := checkInlineQuota(kind, owner, policies, name, document); err != nil {
			return err
		}
		return tx.PutOwnerPolicy(accountID, kind, owner, name, document)
	}), kind+" "+owner)
}

// AttachOwnerPolicy attaches an AWS managed policy to a group or role.
func (s *Service) AttachOwnerPolicy(ctx context.Context, accountID, kind, owner, policyARN string) error {
	if _, ok := iam.Managed(policyARN); !ok {
		return fmt.Errorf("%w: policy %s does not exist", ErrNotFound, policyARN)
	}
	return s.notFound(s.meta.Update(ctx, func(tx store.Tx) error {
		if err := ownerExists(tx, accountID, kind, owner); err != nil {
			return err
		}
		return tx.AttachOwnerPolicy(accountID, kind, owner, policyARN)
	}), kind+" "+owner)
}

func ownerExists(tx store.Tx, accountID, kind, owner string) error {
	var err error
	if kind == store.GroupPolicies {
		_, err = tx.GetGroup(accountID, owner)
	} else {
		_, err = tx.GetRole(accountID, owner)
	}
	return err
}

// SetAccessKeyStatus activates ("Active") or disables ("Inactive") a key.
func (s *Service) SetAccessKeyStatus(ctx context.Context, keyID, status string) error {
	if status != "Active" && status != "Inactive" {
		return fmt.Errorf("%w: status %q", ErrInvalid, status)
	}
	defer s.known.forget(keyID)
	return s.notFound(s.meta.Update(ctx, func(tx store.Tx) error { return tx.SetAccessKeyStatus(keyID, status) }), "access key "+keyID)
}

// DeleteAccessKey removes a key; tokens issued with it stop working.
func (s *Service) DeleteAccessKey(ctx context.Context, keyID string) error {
	defer s.known.forget(keyID)
	return s.notFound(s.meta.Update(ctx, func(tx store.Tx) error { return tx.DeleteAccessKey(keyID) }), "access key "+keyID)
}

// DeleteUser removes a user. As IAM does, it refuses (ErrDeleteConflict) while the user has a login
// profile, access keys, inline policies, attached policies or groups, and names the first of these, in
// that order. The user's console sessions end with it: a user created later with the same name does not
// inherit them.
func (s *Service) DeleteUser(ctx context.Context, accountID, name string) error {
	return s.notFound(s.meta.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.GetUser(accountID, name); err != nil {
			return err
		}
		if err := userDependents(tx, accountID, name); err != nil {
			return err
		}
		if _, err := tx.DeleteConsoleSessions(accountID, name, time.Time{}); err != nil {
			return err
		}
		return tx.DeleteUser(accountID, name)
	}), "user "+name)
}

// userDependents returns ErrDeleteConflict, with AWS's message, when a user has what must go before it.
func userDependents(tx store.Tx, accountID, name string) error {
	conflict := func(what string) error {
		return fmt.Errorf("%w: Cannot delete entity, must %s first.", ErrDeleteConflict, what)
	}
	if _, err := tx.LoginProfile(accountID, name); err == nil {
		return conflict("delete login profile")
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if keys, err := tx.ListAccessKeys(accountID, name); err != nil || len(keys) > 0 {
		return cmp.Or(err, conflict("delete access keys"))
	}
	if inline, err := tx.UserPolicies(accountID, name); err != nil || len(inline) > 0 {
		return cmp.Or(err, conflict("delete policies"))
	}
	if attached, err := tx.AttachedUserPolicies(accountID, name); err != nil || len(attached) > 0 {
		return cmp.Or(err, conflict("detach all policies"))
	}
	if groups, err := tx.UserGroups(accountID, name); err != nil || len(groups) > 0 {
		return cmp.Or(err, conflict("remove users from group"))
	}
	return nil
}

func (s *Service) notFound(err error, what string) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrNotFound, what)
	}
	return err
}

// LookupKey returns an active access key's secret and owner. Answers are cached for a few seconds (an
// unknown id for one). It runs before any signature is checked, so an id that cannot be a key is refused
// without a query, and what anyone may ask costs bounded memory.
func (s *Service) LookupKey(ctx context.Context, keyID string) (string, Principal, error) {
	if !validKeyID(keyID) {
		return "", Principal{}, ErrUnknownKey
	}
	now := s.clock.Now()
	if c, ok := s.known.get(keyID, now); ok {
		return c.secret, c.principal, c.err
	}
	if c, ok := s.unknown.get(keyID, now); ok {
		return c.secret, c.principal, c.err
	}
	c := cachedKey{at: now}
	err := s.meta.View(ctx, func(tx store.Tx) error {
		k, err := tx.GetAccessKey(keyID)
		if errors.Is(err, store.ErrNotFound) {
			c.err = ErrUnknownKey
			return nil
		}
		if err != nil {
			return err
		}
		u, err := tx.GetUser(k.AccountID, k.UserName)
		if err != nil {
			return err
		}
		secret, err := s.keys.Open(k.Secret, k.ID)
		if err != nil {
			return err
		}
		c.secret = string(secret)
		c.principal = Principal{AccountID: k.AccountID, UserName: k.UserName, UserID: u.UserID, AccessKeyID: k.ID}
		if k.Status != "Active" {
			c.err = ErrInactiveKey
		}
		return nil
	})
	if err != nil {
		return "", Principal{}, err // not cached: a store failure is no answer
	}
	if c.err == ErrUnknownKey {
		s.unknown.put(keyID, c)
	} else {
		s.known.put(keyID, c)
	}
	return c.secret, c.principal, c.err
}

// token is what an authorization token says; it is signed, so any node can check it without a lookup table.
type token struct {
	Version    int    `json:"v"`
	AccountID  string `json:"a"`
	Region     string `json:"r"`
	User       string `json:"u"`
	KeyID      string `json:"k"`
	Expires    int64  `json:"e"`
	Scope      string `json:"s,omitempty"`  // a scoped token opens only this (a presigned layer URL)
	Type       string `json:"t,omitempty"`  // "" for registry tokens, "session" for STS session tokens
	UserID     string `json:"ui,omitempty"` // a token of a user without an access key: the user's unique id
	Role       string `json:"ro,omitempty"`
	RoleID     string `json:"ri,omitempty"`
	Session    string `json:"se,omitempty"`
	SessionEnd int64  `json:"sx,omitempty"` // a registry token of a session: when the session ends
}

// IssueToken returns a registry password for the principal, valid until expires.
func (s *Service) IssueToken(p Principal, expires time.Time) string {
	return s.IssueScopedToken(p, expires, "")
}

// IssueScopedToken returns a token that opens only scope (for example one layer's download URL).
func (s *Service) IssueScopedToken(p Principal, expires time.Time, scope string) string {
	if p.RoleName != "" && p.SessionExpires.Before(expires) {
		expires = p.SessionExpires // a session's token ends with the session
	}
	var userID string
	if p.AccessKeyID == "" && p.RoleName == "" {
		userID = p.UserID // checked, as a key would be, so that a new user of the same name does not inherit it
	}
	body, _ := json.Marshal(token{Version: 1, AccountID: p.AccountID, Region: s.region, User: p.UserName, KeyID: p.AccessKeyID, UserID: userID,
		Expires: expires.Unix(), Scope: scope, Role: p.RoleName, RoleID: roleIDOf(p), Session: p.SessionName, SessionEnd: p.SessionExpires.Unix()})
	enc := base64.RawURLEncoding
	payload := enc.EncodeToString(body)
	return payload + "." + enc.EncodeToString(s.keys.Sign([]byte(payload)))
}

// VerifyToken checks a registry password: its signature, its region, its expiry, and that the access key
// it was issued with is still active.
func (s *Service) VerifyToken(ctx context.Context, password string) (Principal, error) {
	return s.VerifyScopedToken(ctx, password, "")
}

// VerifyScopedToken checks a token issued for scope ("" for a registry password).
func (s *Service) VerifyScopedToken(ctx context.Context, password, scope string) (Principal, error) {
	password = strings.TrimSpace(password)
	if v, ok := s.tokens.Load(password); ok {
		return s.checkToken(ctx, v.(verifiedToken).t, scope)
	}
	t, err := s.decodeToken(password)
	if err != nil {
		return Principal{}, err
	}
	if s.tokenCount.Add(1) > maxCachedTokens {
		s.tokens.Clear()
		s.tokenCount.Store(1)
	}
	s.tokens.Store(password, verifiedToken{t})
	return s.checkToken(ctx, t, scope)
}

// decodeToken checks a token's signature and decodes it.
func (s *Service) decodeToken(password string) (token, error) {
	var t token
	payload, sig, ok := strings.Cut(password, ".")
	if !ok {
		return t, ErrBadToken
	}
	enc := base64.RawURLEncoding
	got, err := enc.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.keys.Sign([]byte(payload))) {
		return t, ErrBadToken
	}
	body, err := enc.DecodeString(payload)
	if err != nil {
		return t, ErrBadToken
	}
	if err := json.Unmarshal(body, &t); err != nil || t.Version != 1 {
		return t, ErrBadToken
	}
	return t, nil
}

// checkToken checks what a valid token says against the request and the present: scope, region, expiry,
// and that the access key it was issued with is still active.
func (s *Service) checkToken(ctx context.Context, t token, scope string) (Principal, error) {
	if t.Scope != scope || t.Type != "" {
		return Principal{}, ErrBadToken
	}
	if t.Region != s.region {
		return Principal{}, fmt.Errorf("%w: issued for region %s", ErrBadToken, t.Region)
	}
	if !s.clock.Now().Before(time.Unix(t.Expires, 0)) {
		return Principal{}, ErrExpiredToken
	}
	if t.Role != "" { // a role session: its credentials are not stored; the token says it all
		return Principal{AccountID: t.AccountID, UserID: t.RoleID + ":" + t.Session, AccessKeyID: t.KeyID,
			RoleName: t.Role, SessionName: t.Session, SessionExpires: time.Unix(t.SessionEnd, 0)}, nil
	}
	if t.KeyID == "" && t.User != "" { // a user signed in to the console, with no access key: the user must still exist
		var u *store.User
		err := s.meta.View(ctx, func(tx store.Tx) (err error) { u, err = tx.GetUser(t.AccountID, t.User); return err })
		if errors.Is(err, store.ErrNotFound) || err == nil && u.UserID != t.UserID { // gone, or another of its name
			return Principal{}, ErrUnknownKey
		} else if err != nil {
			return Principal{}, err
		}
		return Principal{AccountID: u.AccountID, UserName: u.Name, UserID: u.UserID}, nil
	}
	_, p, err := s.LookupKey(ctx, t.KeyID)
	if err != nil {
		return Principal{}, err
	}
	if p.AccountID != t.AccountID || p.UserName != t.User {
		return Principal{}, ErrBadToken
	}
	return p, nil
}

package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

// Errors of console passwords.
var (
	// ErrSignInFailed is a sign-in with a wrong account, user or password, or a password change with a
	// wrong old password. It never tells which was wrong.
	ErrSignInFailed = errors.New("sign-in failed")
	// ErrPasswordPolicy is a password the account's password policy refuses (IAM's PasswordPolicyViolation).
	ErrPasswordPolicy = errors.New("password policy violation")
	// ErrPasswordExpired is a password past the policy's MaxPasswordAge under HardExpiry: only an
	// administrator may set a new one.
	ErrPasswordExpired = errors.New("password expired")
)

// HiddenUserName is the user name CloudTrail records for a failed sign-in of a user that does not exist.
const HiddenUserName = "HIDDEN_DUE_TO_SECURITY_REASONS"

// LoginProfile is a user's console password (its hash) and whether it must be changed at the next sign-in.
type LoginProfile = store.LoginProfile

// SignInResult is what a successful sign-in tells besides who signed in.
type SignInResult struct {
	// PasswordResetRequired: the user must choose a new password (ChangeOwnPassword) before anything
	// else — an administrator asked for it, or the password is older than the policy's MaxPasswordAge.
	PasswordResetRequired bool
}

// historyLen is how many previous password hashes a profile keeps: IAM's largest PasswordReusePrevention.
const historyLen = MaxPasswordReuse

// passwordPolicy returns an account's password policy, nil when it has none (AWS's default applies).
func passwordPolicy(tx store.Tx, accountID string) (*PasswordPolicy, error) {
	p, err := tx.PasswordPolicy(accountID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return p, err
}

func noLoginProfile(user string) error {
	return fmt.Errorf("%w: Login Profile for User %s cannot be found.", ErrNotFound, user)
}

// CreateLoginProfile gives a user a console password, which the account's password policy must accept.
func (s *Service) CreateLoginProfile(ctx context.Context, accountID, user, password string, resetRequired bool) (*LoginProfile, error) {
	if err := checkPasswordType("password", password); err != nil {
		return nil, err
	}
	var p LoginProfile
	hash := hashPassword(password) // before the transaction: hashing takes time
	err := s.meta.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.GetUser(accountID, user); err != nil {
			return s.notFound(err, "The user with name "+user+" cannot be found.")
		}
		if _, err := tx.LoginProfile(accountID, user); err == nil {
			return fmt.Errorf("%w: Login Profile for user %s already exists.", ErrExists, user)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		pol, err := passwordPolicy(tx, accountID)
		if err != nil {
			return err
		}
		if err := checkPassword(pol, user, password); err != nil {
			return err
		}
		now := s.clock.Now()
		p = LoginProfile{AccountID: accountID, UserName: user, PasswordHash: hash, ResetRequired: resetRequired,
			CreatedAt: now, ChangedAt: now}
		return tx.CreateLoginProfile(p)
	})
	if err != nil {
		return nil, err
	}
	p.PasswordHash = ""
	return &p, nil
}

// GetLoginProfile returns a user's login profile, without its hashes.
func (s *Service) GetLoginProfile(ctx context.Context, accountID, user string) (*LoginProfile, error) {
	var p *LoginProfile
	err := s.meta.View(ctx, func(tx store.Tx) (err error) {
		if _, err := tx.GetUser(accountID, user); err != nil {
			return s.notFound(err, "The user with name "+user+" cannot be found.")
		}
		p, err = tx.LoginProfile(accountID, user)
		if errors.Is(err, store.ErrNotFound) {
			return noLoginProfile(user)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	p.PasswordHash, p.History = "", nil
	return p, nil
}

// UpdateLoginProfile sets a user's password (when password is not nil; the policy must accept it) and
// whether it must be changed at the next sign-in (when resetRequired is not nil).
func (s *Service) UpdateLoginProfile(ctx context.Context, accountID, user string, password *string, resetRequired *bool) error {
	var hash string
	if password != nil {
		if err := checkPasswordType("password", *password); err != nil {
			return err
		}
		hash = hashPassword(*password)
	}
	return s.meta.Update(ctx, func(tx store.Tx) error {
		p, err := tx.LoginProfile(accountID, user)
		if errors.Is(err, store.ErrNotFound) {
			return noLoginProfile(user)
		} else if err != nil {
			return err
		}
		if password != nil {
			pol, err := passwordPolicy(tx, accountID)
			if err != nil {
				return err
			}
			if err := checkPassword(pol, user, *password); err != nil {
				return err
			}
			s.setPassword(p, hash)
		}
		if resetRequired != nil {
			p.ResetRequired = *resetRequired
		}
		return tx.UpdateLoginProfile(*p)
	})
}

// setPassword makes a password's hash the profile's, keeping the one it replaces in its history.
func (s *Service) setPassword(p *LoginProfile, hash string) {
	p.History = append([]string{p.PasswordHash}, p.History...)
	if len(p.History) > historyLen {
		p.History = p.History[:historyLen]
	}
	p.PasswordHash, p.ChangedAt = hash, s.clock.Now()
}

// DeleteLoginProfile removes a user's console password: the user can no longer sign in to the console,
// and its console sessions end.
func (s *Service) DeleteLoginProfile(ctx context.Context, accountID, user string) error {
	return s.meta.Update(ctx, func(tx store.Tx) error {
		if err := tx.DeleteLoginProfile(accountID, user); errors.Is(err, store.ErrNotFound) {
			return noLoginProfile(user)
		} else if err != nil {
			return err
		}
		_, err := tx.DeleteConsoleSessions(accountID, user, time.Time{})
		return err
	})
}

// expired tells whether a password is older than the policy's MaxPasswordAge.
func (s *Service) expired(pol *PasswordPolicy, p *LoginProfile) bool {
	return pol != nil && pol.MaxAge > 0 && !s.clock.Now().Before(p.ChangedAt.Add(time.Duration(pol.MaxAge)*24*time.Hour))
}

// StillSignedIn checks, in the transaction that starts a console session for a user SignIn let in, that
// the user is still the one whose password was checked and still has one: ErrSignInFailed when it was
// deleted (or replaced by another of its name) or its password was, which end its sessions.
func StillSignedIn(tx store.Tx, p Principal) error {
	u, err := tx.GetUser(p.AccountID, p.UserName)
	if err == nil && u.UserID == p.UserID {
		_, err = tx.LoginProfile(p.AccountID, p.UserName)
	}
	if errors.Is(err, store.ErrNotFound) || err == nil && u.UserID != p.UserID {
		return ErrSignInFailed
	}
	return err
}

// SignInAccount returns the id of the account a sign-in names by its id or its alias; the name as given
// when it names no account (or the store fails: the sign-in itself will tell).
func (s *Service) SignInAccount(ctx context.Context, account string) string {
	if ValidAccountID(account) {
		return account
	}
	var id string
	if s.meta.View(ctx, func(tx store.Tx) (err error) { id, err = tx.AliasAccount(account); return err }) != nil {
		return account
	}
	return id
}

// SignIn checks an IAM user's password, as the AWS sign-in page does: account is the 12-digit id or
// the account's alias. It returns the user's principal (as LookupKey would, without an access key).
//
// A wrong account, user or password is ErrSignInFailed, with the principal the audit trail records the
// failed attempt as: the claimed user of an existing account (UserName HiddenUserName when there is no
// such user), the zero Principal when there is no such account. Every failure costs one password hash,
// so the time taken does not tell whether the user exists. A password past MaxPasswordAge under the
// policy's HardExpiry is ErrPasswordExpired.
func (s *Service) SignIn(ctx context.Context, account, userName, password string) (Principal, SignInResult, error) {
	var p Principal
	var profile *LoginProfile
	var pol *PasswordPolicy
	err := s.meta.View(ctx, func(tx store.Tx) error {
		p, profile, pol = Principal{}, nil, nil
		accountID := account
		if !ValidAccountID(account) {
			id, err := tx.AliasAccount(account)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			} else if err != nil {
				return err
			}
			accountID = id
		} else if _, err := tx.GetAccount(account); errors.Is(err, store.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		p.AccountID = accountID
		u, err := tx.GetUser(accountID, userName)
		if errors.Is(err, store.ErrNotFound) {
			p.UserName = HiddenUserName
			return nil
		} else if err != nil {
			return err
		}
		p.UserName, p.UserID = u.Name, u.UserID
		if profile, err = tx.LoginProfile(accountID, userName); errors.Is(err, store.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		pol, err = passwordPolicy(tx, accountID)
		return err
	})
	if err != nil {
		return Principal{}, SignInResult{}, err
	}
	hash := dummyHash()
	if profile != nil {
		hash = profile.PasswordHash
	}
	ok, err := verifyPassword(ctx, hash, password)
	if err != nil {
		return p, SignInResult{}, err
	}
	if profile == nil || !ok {
		return p, SignInResult{}, ErrSignInFailed
	}
	expired := s.expired(pol, profile)
	if expired && pol.HardExpiry {
		return p, SignInResult{}, ErrPasswordExpired
	}
	return p, SignInResult{PasswordResetRequired: profile.ResetRequired || expired}, nil
}

// ChangeOwnPassword changes a signed-in user's password (IAM's ChangePassword; the console's forced
// change after SignIn asked for one). The old password must be right and the account's policy must
// accept the new one, which may not be one of the user's PasswordReusePrevention previous passwords.
// Whether the user may change its password at all is for the caller to authorize (iam:ChangePassword on
// the user's own ARN).
func (s *Service) ChangeOwnPassword(ctx context.Context, p Principal, oldPassword, newPassword string) error {
	if p.UserName == "" || p.Root || p.RoleName != "" || p.Service != "" {
		return fmt.Errorf("%w: only an IAM user has a password to change", ErrInvalid)
	}
	if err := checkPasswordType("oldPassword", oldPassword); err != nil {
		return err
	}
	if err := checkPasswordType("newPassword", newPassword); err != nil {
		return err
	}
	var profile *LoginProfile
	var pol *PasswordPolicy
	err := s.meta.View(ctx, func(tx store.Tx) (err error) {
		if profile, err = tx.LoginProfile(p.AccountID, p.UserName); errors.Is(err, store.ErrNotFound) {
			return noLoginProfile(p.UserName)
		} else if err != nil {
			return err
		}
		pol, err = passwordPolicy(tx, p.AccountID)
		return err
	})
	if err != nil {
		return err
	}
	// The hashes are checked outside the transaction: they take time, and hold no lock.
	if ok, err := verifyPassword(ctx, profile.PasswordHash, oldPassword); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("%w: The old password is incorrect.", ErrSignInFailed)
	}
	if s.expired(pol, profile) && pol.HardExpiry {
		return fmt.Errorf("%w: The password has expired; an administrator must reset it.", ErrPasswordExpired)
	}
	if err := checkPassword(pol, p.UserName, newPassword); err != nil {
		return err
	}
	if pol != nil && pol.ReusePrevention > 0 {
		previous := append([]string{profile.PasswordHash}, profile.History...)
		for _, h := range previous[:min(pol.ReusePrevention, len(previous))] {
			if same, _ := verifyPassword(ctx, h, newPassword); same {
				return fmt.Errorf("%w: Password should not be one of the %d previous passwords", ErrPasswordPolicy, pol.ReusePrevention)
			}
		}
	}
	changed := profile.PasswordHash
	s.setPassword(profile, hashPassword(newPassword))
	profile.ResetRequired = false
	return s.meta.Update(ctx, func(tx store.Tx) error {
		cur, err := tx.LoginProfile(p.AccountID, p.UserName)
		if errors.Is(err, store.ErrNotFound) {
			return noLoginProfile(p.UserName)
		} else if err != nil {
			return err
		}
		if cur.PasswordHash != changed { // changed by someone else meanwhile: the old password is no more
			return fmt.Errorf("%w: The old password is incorrect.", ErrSignInFailed)
		}
		return tx.UpdateLoginProfile(*profile)
	})
}

// PasswordPolicy returns an account's password policy; ErrNotFound when it has none.
func (s *Service) PasswordPolicy(ctx context.Context, accountID string) (*PasswordPolicy, error) {
	var p *PasswordPolicy
	err := s.meta.View(ctx, func(tx store.Tx) (err error) { p, err = tx.PasswordPolicy(accountID); return err })
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: The Password Policy with domain name %s cannot be found.", ErrNotFound, accountID)
	}
	return p, err
}

// SetPasswordPolicy creates or replaces an account's password policy. It applies to passwords set from
// now on, and its MaxPasswordAge to every password.
func (s *Service) SetPasswordPolicy(ctx context.Context, p PasswordPolicy) error {
	if err := checkPasswordPolicy(p); err != nil {
		return err
	}
	return s.notFound(s.meta.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.GetAccount(p.AccountID); err != nil {
			return err
		}
		return tx.SetPasswordPolicy(p)
	}), "account "+p.AccountID)
}

// DeletePasswordPolicy removes an account's password policy: AWS's default applies again.
func (s *Service) DeletePasswordPolicy(ctx context.Context, accountID string) error {
	err := s.meta.Update(ctx, func(tx store.Tx) error { return tx.DeletePasswordPolicy(accountID) })
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: The Password Policy with domain name %s cannot be found.", ErrNotFound, accountID)
	}
	return err
}

// validAlias tells an account alias IAM accepts: 3 to 63 lowercase letters, digits and single hyphens,
// starting and ending with a letter or digit (^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]$).
func validAlias(alias string) bool {
	if len(alias) < 3 || len(alias) > 63 || alias[0] == '-' || alias[len(alias)-1] == '-' || ValidAccountID(alias) {
		return false
	}
	for i := 0; i < len(alias); i++ {
		c := alias[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') || c == '-' && alias[i+1] == '-' {
			return false
		}
	}
	return true
}

const aliasPattern = `^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]$`

// CreateAccountAlias gives an account its alias, which its users may sign in with instead of its id. An
// account has one alias: a new one replaces it. An alias names one account of the installation.
func (s *Service) CreateAccountAlias(ctx context.Context, accountID, alias string) error {
	if !validAlias(alias) {
		if ValidAccountID(alias) {
			return fmt.Errorf("%w: The account alias %s is 12 digits, which names accounts by their id.", ErrInvalid, alias)
		}
		return fmt.Errorf("%w: 1 validation error detected: Value '%s' at 'accountAlias' failed to satisfy constraint: Member must satisfy regular expression pattern: %s",
			ErrInvalid, alias, aliasPattern)
	}
	err := s.meta.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.GetAccount(accountID); err != nil {
			return s.notFound(err, "account "+accountID)
		}
		return tx.SetAccountAlias(accountID, alias)
	})
	if errors.Is(err, store.ErrExists) {
		return fmt.Errorf("%w: The account alias %s already exists.", ErrExists, alias)
	}
	return err
}

// AccountAliases lists an account's aliases: none or one.
func (s *Service) AccountAliases(ctx context.Context, accountID string) ([]string, error) {
	var aliases []string
	err := s.meta.View(ctx, func(tx store.Tx) error {
		alias, err := tx.AccountAlias(accountID)
		if err == nil {
			aliases = []string{alias}
		}
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	return aliases, err
}

// DeleteAccountAlias removes an account's alias.
func (s *Service) DeleteAccountAlias(ctx context.Context, accountID, alias string) error {
	err := s.meta.Update(ctx, func(tx store.Tx) error { return tx.DeleteAccountAlias(accountID, alias) })
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: The account alias %s cannot be found.", ErrNotFound, alias)
	}
	return err
}

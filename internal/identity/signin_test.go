package identity_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/store"
)

const acct = "111122223333"

func signInSetup(t *testing.T) (*identity.Service, interface{ Advance(time.Duration) }) {
	t.Helper()
	s, clk, _, _ := setup(t, "us-east-1")
	if _, err := s.Bootstrap(ctx, acct, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Bootstrap(ctx, "444455556666", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, acct, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, acct, "bob"); err != nil { // no login profile
		t.Fatal(err)
	}
	return s, clk
}

func TestSignIn(t *testing.T) {
	s, _ := signInSetup(t)
	if _, err := s.CreateLoginProfile(ctx, acct, "alice", "Secret-123", false); err != nil {
		t.Fatal(err)
	}
	alice, _ := s.GetUser(ctx, acct, "alice")
	bob, _ := s.GetUser(ctx, acct, "bob")
	if err := s.CreateAccountAlias(ctx, acct, "acme"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, account, user, password string
		want                          identity.Principal
		err                           error
	}{
		{"by account id", acct, "alice", "Secret-123", identity.Principal{AccountID: acct, UserName: "alice", UserID: alice.UserID}, nil},
		{"by alias", "acme", "alice", "Secret-123", identity.Principal{AccountID: acct, UserName: "alice", UserID: alice.UserID}, nil},
		{"wrong password", acct, "alice", "Secret-124", identity.Principal{AccountID: acct, UserName: "alice", UserID: alice.UserID}, identity.ErrSignInFailed},
		{"no login profile", acct, "bob", "Secret-123", identity.Principal{AccountID: acct, UserName: "bob", UserID: bob.UserID}, identity.ErrSignInFailed},
		{"unknown user", "acme", "carol", "Secret-123", identity.Principal{AccountID: acct, UserName: identity.HiddenUserName}, identity.ErrSignInFailed},
		{"unknown account", "999999999999", "alice", "Secret-123", identity.Principal{}, identity.ErrSignInFailed},
		{"unknown alias", "nope", "alice", "Secret-123", identity.Principal{}, identity.ErrSignInFailed},
		{"another account's user", "444455556666", "alice", "Secret-123", identity.Principal{AccountID: "444455556666", UserName: identity.HiddenUserName}, identity.ErrSignInFailed},
	} {
		p, res, err := s.SignIn(ctx, c.account, c.user, c.password)
		if p != c.want || !errors.Is(err, c.err) || (c.err == nil) != (err == nil) || res.PasswordResetRequired {
			t.Errorf("%s: SignIn = %+v, %+v, %v; want %+v, %v", c.name, p, res, err, c.want, c.err)
		}
	}
}

func TestSignInResetRequired(t *testing.T) {
	s, clk := signInSetup(t)
	if _, err := s.CreateLoginProfile(ctx, acct, "alice", "Secret-123", true); err != nil {
		t.Fatal(err)
	}
	p, res, err := s.SignIn(ctx, acct, "alice", "Secret-123")
	if err != nil || !res.PasswordResetRequired {
		t.Fatalf("SignIn = %+v, %v", res, err)
	}
	if err := s.ChangeOwnPassword(ctx, p, "wrong", "Better-456"); !errors.Is(err, identity.ErrSignInFailed) {
		t.Fatalf("a wrong old password: %v", err)
	}
	if err := s.ChangeOwnPassword(ctx, p, "Secret-123", "weak"); !errors.Is(err, identity.ErrPasswordPolicy) {
		t.Fatalf("a weak new password: %v", err)
	}
	if err := s.ChangeOwnPassword(ctx, identity.RootOf(acct), "Secret-123", "Better-456"); !errors.Is(err, identity.ErrInvalid) {
		t.Fatalf("the root changing a user's password: %v", err)
	}
	if err := s.ChangeOwnPassword(ctx, p, "Secret-123", "Better-456"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SignIn(ctx, acct, "alice", "Secret-123"); !errors.Is(err, identity.ErrSignInFailed) {
		t.Fatalf("the old password still signs in: %v", err)
	}
	if _, res, err := s.SignIn(ctx, acct, "alice", "Better-456"); err != nil || res.PasswordResetRequired {
		t.Fatalf("after the change: %+v, %v", res, err)
	}

	// A password older than MaxPasswordAge must be changed; under HardExpiry it no longer signs in.
	pol := identity.PasswordPolicy{AccountID: acct, MinimumLength: 8, MaxAge: 30, ReusePrevention: 2}
	if err := s.SetPasswordPolicy(ctx, pol); err != nil {
		t.Fatal(err)
	}
	clk.Advance(30 * 24 * time.Hour)
	if _, res, err := s.SignIn(ctx, acct, "alice", "Better-456"); err != nil || !res.PasswordResetRequired {
		t.Fatalf("an expired password: %+v, %v", res, err)
	}
	for _, reused := range []string{"Better-456", "Secret-123"} {
		if err := s.ChangeOwnPassword(ctx, p, "Better-456", reused); !errors.Is(err, identity.ErrPasswordPolicy) || !strings.Contains(err.Error(), "2 previous passwords") {
			t.Fatalf("reusing %s: %v", reused, err)
		}
	}
	if err := s.ChangeOwnPassword(ctx, p, "Better-456", "third-pw"); err != nil {
		t.Fatal(err)
	}
	if _, res, err := s.SignIn(ctx, acct, "alice", "third-pw"); err != nil || res.PasswordResetRequired {
		t.Fatalf("a new password: %+v, %v", res, err)
	}
	pol.HardExpiry = true
	if err := s.SetPasswordPolicy(ctx, pol); err != nil {
		t.Fatal(err)
	}
	clk.Advance(31 * 24 * time.Hour)
	if _, _, err := s.SignIn(ctx, acct, "alice", "third-pw"); !errors.Is(err, identity.ErrPasswordExpired) {
		t.Fatalf("a hard-expired password: %v", err)
	}
	pw := "fourth-pw"
	if err := s.UpdateLoginProfile(ctx, acct, "alice", &pw, nil); err != nil { // an administrator resets it
		t.Fatal(err)
	}
	if _, _, err := s.SignIn(ctx, acct, "alice", pw); err != nil {
		t.Fatalf("after the reset: %v", err)
	}
}

func TestLoginProfiles(t *testing.T) {
	s, _ := signInSetup(t)
	if _, err := s.CreateLoginProfile(ctx, acct, "alice", "alllowercase", false); !errors.Is(err, identity.ErrPasswordPolicy) {
		t.Fatalf("a password AWS's default policy refuses: %v", err)
	}
	if _, err := s.CreateLoginProfile(ctx, acct, "carol", "Secret-123", false); !errors.Is(err, identity.ErrNotFound) || !strings.Contains(err.Error(), "The user with name carol cannot be found.") {
		t.Fatalf("a missing user: %v", err)
	}
	p, err := s.CreateLoginProfile(ctx, acct, "alice", "Secret-123", true)
	if err != nil || p.PasswordHash != "" || !p.ResetRequired {
		t.Fatalf("CreateLoginProfile = %+v, %v", p, err)
	}
	if _, err := s.CreateLoginProfile(ctx, acct, "alice", "Secret-123", true); !errors.Is(err, identity.ErrExists) {
		t.Fatalf("a second profile: %v", err)
	}
	if _, err := s.GetLoginProfile(ctx, acct, "bob"); !errors.Is(err, identity.ErrNotFound) || !strings.Contains(err.Error(), "Login Profile for User bob cannot be found.") {
		t.Fatalf("GetLoginProfile of bob: %v", err)
	}
	no := false
	if err := s.UpdateLoginProfile(ctx, acct, "alice", nil, &no); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetLoginProfile(ctx, acct, "alice"); err != nil || got.ResetRequired || got.PasswordHash != "" {
		t.Fatalf("GetLoginProfile = %+v, %v", got, err)
	}
	if err := s.SetPasswordPolicy(ctx, identity.PasswordPolicy{AccountID: acct, MinimumLength: 6}); err != nil {
		t.Fatal(err)
	}
	weak := "simple"
	if err := s.UpdateLoginProfile(ctx, acct, "alice", &weak, nil); err != nil { // the account's own policy allows it
		t.Fatalf("UpdateLoginProfile under a lax policy: %v", err)
	}
	if err := s.DeleteUser(ctx, acct, "alice"); !errors.Is(err, identity.ErrDeleteConflict) || !strings.Contains(err.Error(), "must delete login profile first") {
		t.Fatalf("deleting a user with a login profile: %v", err)
	}
	if err := s.DeleteLoginProfile(ctx, acct, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteLoginProfile(ctx, acct, "alice"); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("deleting it again: %v", err)
	}
	if err := s.DeleteUser(ctx, acct, "alice"); err != nil {
		t.Fatal(err)
	}
}

func TestPasswordPolicyAndAliases(t *testing.T) {
	s, _ := signInSetup(t)
	if _, err := s.PasswordPolicy(ctx, acct); !errors.Is(err, identity.ErrNotFound) || !strings.Contains(err.Error(), "The Password Policy with domain name "+acct+" cannot be found.") {
		t.Fatalf("no policy: %v", err)
	}
	if err := s.SetPasswordPolicy(ctx, identity.PasswordPolicy{AccountID: acct, MinimumLength: 5}); !errors.Is(err, identity.ErrInvalid) {
		t.Fatalf("a minimum length of 5: %v", err)
	}
	if err := s.DeletePasswordPolicy(ctx, acct); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("deleting no policy: %v", err)
	}

	if err := s.CreateAccountAlias(ctx, acct, "Not_Valid"); !errors.Is(err, identity.ErrInvalid) {
		t.Fatalf("an invalid alias: %v", err)
	}
	if err := s.CreateAccountAlias(ctx, acct, "acme"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAccountAlias(ctx, "444455556666", "acme"); !errors.Is(err, identity.ErrExists) {
		t.Fatalf("another account's alias: %v", err)
	}
	if err := s.CreateAccountAlias(ctx, acct, "acme-2"); err != nil { // replaces the first
		t.Fatal(err)
	}
	if got, err := s.AccountAliases(ctx, acct); err != nil || len(got) != 1 || got[0] != "acme-2" {
		t.Fatalf("AccountAliases = %v, %v", got, err)
	}
	if err := s.DeleteAccountAlias(ctx, acct, "acme"); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("deleting a former alias: %v", err)
	}
	if err := s.DeleteAccountAlias(ctx, acct, "acme-2"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.AccountAliases(ctx, acct); err != nil || len(got) != 0 {
		t.Fatalf("AccountAliases after delete = %v, %v", got, err)
	}
}

// TestSignInHashesBounded: password hashes are computed a few at a time (each takes 19 MiB and a core for
// a while, and anyone may ask for a sign-in); a sign-in that finds them all busy waits, and gives up
// when its request does, without hashing.
func TestSignInHashesBounded(t *testing.T) {
	s, _ := signInSetup(t)
	if _, err := s.CreateLoginProfile(ctx, acct, "alice", "Secret-123", false); err != nil {
		t.Fatal(err)
	}
	release := identity.HoldHashing()
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, _, err := s.SignIn(short, acct, "alice", "Secret-123"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a sign-in while every hashing slot is busy: %v, want it to wait until its context ends", err)
	}
	release()
	if _, _, err := s.SignIn(ctx, acct, "alice", "Secret-123"); err != nil {
		t.Errorf("a sign-in once the slots are free: %v", err)
	}
}

// TestStillSignedIn: a sign-in whose user, or its password, was deleted while its password was being
// checked starts no session; nor does one whose user was replaced by another of the same name.
func TestStillSignedIn(t *testing.T) {
	s, _, meta, _ := setup(t, "us-east-1")
	if _, err := s.Bootstrap(ctx, acct, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, acct, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateLoginProfile(ctx, acct, "alice", "Secret-123", false); err != nil {
		t.Fatal(err)
	}
	p, _, err := s.SignIn(ctx, acct, "alice", "Secret-123")
	if err != nil {
		t.Fatal(err)
	}
	check := func() error {
		return meta.View(ctx, func(tx store.Tx) error { return identity.StillSignedIn(tx, p) })
	}
	if err := check(); err != nil {
		t.Fatalf("right after the sign-in: %v", err)
	}
	if err := s.DeleteLoginProfile(ctx, acct, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := check(); !errors.Is(err, identity.ErrSignInFailed) {
		t.Errorf("after the password was deleted: %v", err)
	}
	if err := s.DeleteUser(ctx, acct, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, acct, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateLoginProfile(ctx, acct, "alice", "Secret-456", false); err != nil {
		t.Fatal(err)
	}
	if err := check(); !errors.Is(err, identity.ErrSignInFailed) {
		t.Errorf("after the user was replaced by another of its name: %v", err)
	}
}

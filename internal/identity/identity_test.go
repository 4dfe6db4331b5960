package identity_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/store/sqlite"
)

var ctx = context.Background()

func setup(t *testing.T, region string) (*identity.Service, *clock.Fake, *sqlite.Store, *identity.Keyring) {
	t.Helper()
	dir := t.TempDir()
	meta, err := sqlite.Open(filepath.Join(dir, "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	secret, err := identity.LoadOrCreateSecret(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := identity.NewKeyring(secret)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	return identity.New(meta, keys, clk, region), clk, meta, keys
}

func TestBootstrapAndLookup(t *testing.T) {
	s, _, _, _ := setup(t, "us-east-1")
	creds, err := s.Bootstrap(ctx, "000000000000", nil)
	if err != nil || creds == nil || !strings.HasPrefix(creds.AccessKeyID, "AKIA") || len(creds.SecretAccessKey) != 40 {
		t.Fatalf("Bootstrap = %+v, %v", creds, err)
	}
	again, err := s.Bootstrap(ctx, "000000000000", nil)
	if err != nil || again != nil {
		t.Fatalf("second Bootstrap created %+v, %v", again, err)
	}
	secret, p, err := s.LookupKey(ctx, creds.AccessKeyID)
	if err != nil || secret != creds.SecretAccessKey || p.ARN() != "arn:aws:iam::000000000000:user/admin" {
		t.Fatalf("LookupKey = %q %+v %v", secret, p, err)
	}
	given := &identity.Credentials{AccessKeyID: "AKIAFIXEDFORCI000001", SecretAccessKey: "fixed-secret"}
	if c, err := s.Bootstrap(ctx, "000000000000", given); err != nil || c == nil {
		t.Fatalf("Bootstrap with given credentials = %+v, %v", c, err)
	}
	if secret, _, err := s.LookupKey(ctx, given.AccessKeyID); err != nil || secret != "fixed-secret" {
		t.Fatalf("given key: %q %v", secret, err)
	}
	if _, _, err := s.LookupKey(ctx, "AKIANOSUCHKEY0000000"); !errors.Is(err, identity.ErrUnknownKey) {
		t.Fatalf("unknown key: %v", err)
	}
	if _, err := s.CreateAccount(ctx, "000000000000"); !errors.Is(err, identity.ErrExists) {
		t.Fatalf("existing account: %v", err)
	}
	if _, err := s.CreateAccount(ctx, "12345"); !errors.Is(err, identity.ErrInvalid) {
		t.Fatalf("short account id: %v", err)
	}
}

func TestSecretsAreSealedAtRest(t *testing.T) {
	dir := t.TempDir()
	meta, err := sqlite.Open(filepath.Join(dir, "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := identity.LoadOrCreateSecret(dir, "")
	keys, _ := identity.NewKeyring(secret)
	creds, err := identity.New(meta, keys, nil, "us-east-1").Bootstrap(ctx, "000000000000", nil)
	if err != nil {
		t.Fatal(err)
	}
	meta.Close()
	for _, f := range []string{"wharf.db", "wharf.db-wal"} {
		raw, _ := os.ReadFile(filepath.Join(dir, f))
		if strings.Contains(string(raw), creds.SecretAccessKey) {
			t.Fatalf("%s holds the secret access key in clear", f)
		}
	}
	if fi, _ := os.Stat(filepath.Join(dir, "server.key")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("server.key mode %v", fi.Mode())
	}
	again, _ := identity.LoadOrCreateSecret(dir, "")
	if string(again) != string(secret) {
		t.Fatal("the server secret changed on reload")
	}
}

func TestTokens(t *testing.T) {
	s, clk, meta, keys := setup(t, "us-east-1")
	creds, _ := s.Bootstrap(ctx, "000000000000", nil)
	_, p, _ := s.LookupKey(ctx, creds.AccessKeyID)
	tok := s.IssueToken(p, clk.Now().Add(12*time.Hour))
	if got, err := s.VerifyToken(ctx, tok); err != nil || got != p {
		t.Fatalf("VerifyToken = %+v, %v", got, err)
	}
	// Tampered: flip a character of the payload.
	bad := []byte(tok)
	bad[3] ^= 1
	if _, err := s.VerifyToken(ctx, string(bad)); !errors.Is(err, identity.ErrBadToken) {
		t.Fatalf("tampered token: %v", err)
	}
	for _, junk := range []string{"", "x", "a.b", tok + "x"} {
		if _, err := s.VerifyToken(ctx, junk); err == nil {
			t.Fatalf("junk %q accepted", junk)
		}
	}
	// Another region's token, signed with the same secret.
	west := identity.New(meta, keys, clk, "us-west-2")
	if _, err := s.VerifyToken(ctx, west.IssueToken(p, clk.Now().Add(time.Hour))); !errors.Is(err, identity.ErrBadToken) {
		t.Fatalf("other region's token: %v", err)
	}
	// Another installation's secret.
	other, _, _, _ := setup(t, "us-east-1")
	if _, err := s.VerifyToken(ctx, other.IssueToken(p, clk.Now().Add(time.Hour))); !errors.Is(err, identity.ErrBadToken) {
		t.Fatalf("foreign token: %v", err)
	}
	// Disabled, then deleted key: the token stops working.
	if err := s.SetAccessKeyStatus(ctx, creds.AccessKeyID, "Inactive"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyToken(ctx, tok); !errors.Is(err, identity.ErrInactiveKey) {
		t.Fatalf("token of a disabled key: %v", err)
	}
	s.SetAccessKeyStatus(ctx, creds.AccessKeyID, "Active")
	if _, err := s.VerifyToken(ctx, tok); err != nil {
		t.Fatalf("re-enabled key: %v", err)
	}
	clk.Advance(12 * time.Hour)
	if _, err := s.VerifyToken(ctx, tok); !errors.Is(err, identity.ErrExpiredToken) {
		t.Fatalf("expired token: %v", err)
	}
	clk.Advance(-time.Hour)
	if err := s.DeleteAccessKey(ctx, creds.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyToken(ctx, tok); !errors.Is(err, identity.ErrUnknownKey) {
		t.Fatalf("token of a deleted key: %v", err)
	}
}

func TestUsersAndKeys(t *testing.T) {
	s, _, _, _ := setup(t, "us-east-1")
	s.Bootstrap(ctx, "111122223333", nil)
	if _, err := s.CreateUser(ctx, "111122223333", "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, "111122223333", "bob"); !errors.Is(err, identity.ErrExists) {
		t.Fatalf("duplicate user: %v", err)
	}
	if _, err := s.CreateUser(ctx, "999999999999", "bob"); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("user in a missing account: %v", err)
	}
	c, err := s.CreateAccessKey(ctx, "111122223333", "bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, p, err := s.LookupKey(ctx, c.AccessKeyID); err != nil || p.UserName != "bob" || p.AccountID != "111122223333" {
		t.Fatalf("bob's key: %+v %v", p, err)
	}
	if err := s.DeleteUser(ctx, "111122223333", "bob"); !errors.Is(err, identity.ErrDeleteConflict) {
		t.Fatalf("deleting a user with a key: %v", err)
	}
	if err := s.DeleteAccessKey(ctx, c.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LookupKey(ctx, c.AccessKeyID); !errors.Is(err, identity.ErrUnknownKey) {
		t.Fatalf("a deleted key: %v", err)
	}
	if err := s.DeleteUser(ctx, "111122223333", "bob"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, "111122223333", "bob"); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("deleting a deleted user: %v", err)
	}
}

// TestDeleteUserConflicts: as IAM, DeleteUser refuses a user with access keys, inline policies, attached
// policies or groups, in that order, with AWS's DeleteConflict messages, and changes nothing meanwhile.
func TestDeleteUserConflicts(t *testing.T) {
	s, _, _, _ := setup(t, "us-east-1")
	const acct = "111122223333"
	s.Bootstrap(ctx, acct, nil)
	s.CreateUser(ctx, acct, "bob")
	key, err := s.CreateAccessKey(ctx, acct, "bob")
	if err != nil {
		t.Fatal(err)
	}
	doc := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecr:ListImages","Resource":"*"}}`
	const readOnly = "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
	for _, err := range []error{
		s.PutUserPolicy(ctx, acct, "bob", "list", doc),
		s.AttachUserPolicy(ctx, acct, "bob", readOnly),
		func() error { _, err := s.CreateGroup(ctx, acct, "devs"); return err }(),
		s.AddUserToGroup(ctx, acct, "devs", "bob"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, step := range []struct {
		message string
		remove  func() error
	}{
		{"Cannot delete entity, must delete access keys first.", func() error { return s.DeleteAccessKey(ctx, key.AccessKeyID) }},
		{"Cannot delete entity, must delete policies first.", func() error { return s.DeleteUserPolicy(ctx, acct, "bob", "list") }},
		{"Cannot delete entity, must detach all policies first.", func() error { return s.DetachUserPolicy(ctx, acct, "bob", readOnly) }},
		{"Cannot delete entity, must remove users from group first.", func() error { return s.RemoveUserFromGroup(ctx, acct, "devs", "bob") }},
	} {
		err := s.DeleteUser(ctx, acct, "bob")
		if !errors.Is(err, identity.ErrDeleteConflict) || err.Error() != "delete conflict: "+step.message {
			t.Fatalf("DeleteUser = %v, want %q", err, step.message)
		}
		if _, err := s.GetUser(ctx, acct, "bob"); err != nil {
			t.Fatalf("a refused DeleteUser deleted the user: %v", err)
		}
		if err := step.remove(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RemoveUserFromGroup(ctx, acct, "devs", "bob"); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("removing a user from a group it left: %v", err)
	}
	if err := s.RemoveUserFromGroup(ctx, acct, "nope", "bob"); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("removing a user from a missing group: %v", err)
	}
	if err := s.DeleteUser(ctx, acct, "bob"); err != nil {
		t.Fatalf("deleting a user with nothing left: %v", err)
	}
	if _, err := s.GetUser(ctx, acct, "bob"); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("after DeleteUser: %v", err)
	}
	if err := s.DeleteUser(ctx, acct, "admin"); !errors.Is(err, identity.ErrDeleteConflict) {
		t.Fatalf("deleting the admin with its key: %v", err)
	}
}

package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

func testLoginProfiles(t *testing.T, s store.Store) {
	const acct = "111122223333"
	update(t, s, func(tx store.Tx) error {
		if err := tx.CreateAccount(store.Account{ID: acct, CreatedAt: t0}); err != nil {
			return err
		}
		return tx.CreateUser(store.User{AccountID: acct, Name: "alice", UserID: "AIDAALICE", CreatedAt: t0})
	})
	p := store.LoginProfile{AccountID: acct, UserName: "alice", PasswordHash: "$h1", ResetRequired: true, CreatedAt: t0, ChangedAt: t0}
	update(t, s, func(tx store.Tx) error { return tx.CreateLoginProfile(p) })
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.CreateLoginProfile(p) }); !errors.Is(err, store.ErrExists) {
		t.Fatalf("a second login profile: %v", err)
	}
	ghost := store.LoginProfile{AccountID: acct, UserName: "ghost", PasswordHash: "$h"}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.CreateLoginProfile(ghost) }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a login profile of a missing user: %v", err)
	}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.UpdateLoginProfile(ghost) }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("updating a missing login profile: %v", err)
	}
	view(t, s, func(tx store.Tx) error {
		got, err := tx.LoginProfile(acct, "alice")
		if err != nil || got.PasswordHash != "$h1" || len(got.History) != 0 || !got.ResetRequired || !got.CreatedAt.Equal(t0) || !got.ChangedAt.Equal(t0) {
			t.Fatalf("LoginProfile = %+v, %v", got, err)
		}
		return nil
	})
	t1 := t0.Add(time.Hour)
	p.PasswordHash, p.History, p.ResetRequired, p.ChangedAt = "$h2", []string{"$h1", "$h0"}, false, t1
	update(t, s, func(tx store.Tx) error { return tx.UpdateLoginProfile(p) })
	view(t, s, func(tx store.Tx) error {
		got, err := tx.LoginProfile(acct, "alice")
		if err != nil || got.PasswordHash != "$h2" || fmt.Sprint(got.History) != "[$h1 $h0]" || got.ResetRequired || !got.CreatedAt.Equal(t0) || !got.ChangedAt.Equal(t1) {
			t.Fatalf("LoginProfile after update = %+v, %v", got, err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.DeleteLoginProfile(acct, "alice") })
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.DeleteLoginProfile(acct, "alice") }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting a missing login profile: %v", err)
	}
	// A profile goes with its user.
	update(t, s, func(tx store.Tx) error { return tx.CreateLoginProfile(p) })
	update(t, s, func(tx store.Tx) error { return tx.DeleteUser(acct, "alice") })
	update(t, s, func(tx store.Tx) error {
		return tx.CreateUser(store.User{AccountID: acct, Name: "alice", UserID: "AIDAALICE2", CreatedAt: t0})
	})
	if err := s.View(ctx, func(tx store.Tx) error { _, err := tx.LoginProfile(acct, "alice"); return err }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a login profile survived its user: %v", err)
	}
}

func testPasswordPolicies(t *testing.T, s store.Store) {
	const acct = "111122223333"
	update(t, s, func(tx store.Tx) error { return tx.CreateAccount(store.Account{ID: acct, CreatedAt: t0}) })
	if err := s.View(ctx, func(tx store.Tx) error { _, err := tx.PasswordPolicy(acct); return err }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("policy before any: %v", err)
	}
	p := store.PasswordPolicy{AccountID: acct, MinimumLength: 14, RequireSymbols: true, RequireNumbers: true, RequireUppercase: true,
		RequireLowercase: true, AllowUsersToChange: true, MaxAge: 90, ReusePrevention: 24, HardExpiry: true}
	update(t, s, func(tx store.Tx) error {
		return tx.SetPasswordPolicy(store.PasswordPolicy{AccountID: acct, MinimumLength: 6})
	})
	update(t, s, func(tx store.Tx) error { return tx.SetPasswordPolicy(p) })
	view(t, s, func(tx store.Tx) error {
		if got, err := tx.PasswordPolicy(acct); err != nil || *got != p {
			t.Fatalf("PasswordPolicy = %+v, %v", got, err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.DeletePasswordPolicy(acct) })
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.DeletePasswordPolicy(acct) }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting a missing policy: %v", err)
	}
}

func testAccountAliases(t *testing.T, s store.Store) {
	const a, b = "111122223333", "444455556666"
	update(t, s, func(tx store.Tx) error {
		if err := tx.CreateAccount(store.Account{ID: a, CreatedAt: t0}); err != nil {
			return err
		}
		return tx.CreateAccount(store.Account{ID: b, CreatedAt: t0})
	})
	if err := s.View(ctx, func(tx store.Tx) error { _, err := tx.AccountAlias(a); return err }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("alias before any: %v", err)
	}
	update(t, s, func(tx store.Tx) error { return tx.SetAccountAlias(a, "first") })
	update(t, s, func(tx store.Tx) error { return tx.SetAccountAlias(a, "second") }) // replaces
	update(t, s, func(tx store.Tx) error { return tx.SetAccountAlias(a, "second") }) // again: no change
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.SetAccountAlias(b, "second") }); !errors.Is(err, store.ErrExists) {
		t.Fatalf("another account's alias: %v", err)
	}
	update(t, s, func(tx store.Tx) error { return tx.SetAccountAlias(b, "first") }) // free again
	view(t, s, func(tx store.Tx) error {
		if got, err := tx.AccountAlias(a); err != nil || got != "second" {
			t.Fatalf("AccountAlias(a) = %q, %v", got, err)
		}
		if got, err := tx.AliasAccount("first"); err != nil || got != b {
			t.Fatalf("AliasAccount(first) = %q, %v", got, err)
		}
		if _, err := tx.AliasAccount("third"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("AliasAccount of no alias: %v", err)
		}
		return nil
	})
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.DeleteAccountAlias(a, "first") }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting another account's alias: %v", err)
	}
	update(t, s, func(tx store.Tx) error { return tx.DeleteAccountAlias(a, "second") })
	if err := s.View(ctx, func(tx store.Tx) error { _, err := tx.AliasAccount("second"); return err }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a deleted alias: %v", err)
	}
}

func testIAMListing(t *testing.T, s store.Store) {
	const acct, other = "111122223333", "444455556666"
	update(t, s, func(tx store.Tx) error {
		for _, err := range []error{
			tx.CreateAccount(store.Account{ID: acct, CreatedAt: t0}),
			tx.CreateAccount(store.Account{ID: other, CreatedAt: t0}),
			tx.CreateUser(store.User{AccountID: acct, Name: "bob", UserID: "AIDAB", CreatedAt: t0}),
			tx.CreateUser(store.User{AccountID: acct, Name: "alice", UserID: "AIDAA", CreatedAt: t0}),
			tx.CreateGroup(store.Group{AccountID: acct, Name: "ops", GroupID: "AGPAO", CreatedAt: t0}),
			tx.CreateGroup(store.Group{AccountID: acct, Name: "devs", GroupID: "AGPAD", CreatedAt: t0}),
			tx.CreateGroup(store.Group{AccountID: other, Name: "x", GroupID: "AGPAX", CreatedAt: t0}),
			tx.AddUserToGroup(acct, "devs", "bob"),
			tx.AddUserToGroup(acct, "devs", "alice"),
			tx.CreateRole(store.Role{AccountID: acct, Name: "push", RoleID: "AROAP", TrustPolicy: "{}", MaxSession: 2 * time.Hour, CreatedAt: t0}),
			tx.CreateRole(store.Role{AccountID: acct, Name: "ci", RoleID: "AROAC", TrustPolicy: "{}", MaxSession: time.Hour, CreatedAt: t0}),
		} {
			if err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		gs, err := tx.ListGroups(acct)
		if err != nil || len(gs) != 2 || gs[0].Name != "devs" || gs[0].GroupID != "AGPAD" || !gs[0].CreatedAt.Equal(t0) || gs[1].Name != "ops" {
			t.Fatalf("ListGroups = %+v, %v", gs, err)
		}
		us, err := tx.GroupUsers(acct, "devs")
		if err != nil || len(us) != 2 || us[0].Name != "alice" || us[0].UserID != "AIDAA" || us[1].Name != "bob" {
			t.Fatalf("GroupUsers = %+v, %v", us, err)
		}
		if us, err := tx.GroupUsers(acct, "ops"); err != nil || len(us) != 0 {
			t.Fatalf("GroupUsers of an empty group = %+v, %v", us, err)
		}
		rs, err := tx.ListRoles(acct)
		if err != nil || len(rs) != 2 || rs[0].Name != "ci" || rs[1].Name != "push" || rs[1].MaxSession != 2*time.Hour || rs[1].TrustPolicy != "{}" {
			t.Fatalf("ListRoles = %+v, %v", rs, err)
		}
		if rs, err := tx.ListRoles(other); err != nil || len(rs) != 0 {
			t.Fatalf("ListRoles of another account = %+v, %v", rs, err)
		}
		return nil
	})
}

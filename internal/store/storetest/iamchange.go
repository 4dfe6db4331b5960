package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

func testIAMChanges(t *testing.T, s store.Store) {
	const acct = "111122223333"
	const admin = "arn:aws:iam::aws:policy/AdministratorAccess"
	update(t, s, func(tx store.Tx) error {
		for _, err := range []error{
			tx.CreateAccount(store.Account{ID: acct, CreatedAt: t0}),
			tx.CreateUser(store.User{AccountID: acct, Name: "alice", UserID: "AIDAA", CreatedAt: t0}),
			tx.CreateGroup(store.Group{AccountID: acct, Name: "devs", GroupID: "AGPAD", CreatedAt: t0}),
			tx.AddUserToGroup(acct, "devs", "alice"),
			tx.PutOwnerPolicy(acct, store.GroupPolicies, "devs", "p", `{"g":1}`),
			tx.AttachOwnerPolicy(acct, store.GroupPolicies, "devs", admin),
			tx.CreateRole(store.Role{AccountID: acct, Name: "ci", RoleID: "AROAC", TrustPolicy: "{}", Description: "builds", MaxSession: time.Hour, CreatedAt: t0}),
			tx.PutOwnerPolicy(acct, store.RolePolicies, "ci", "p", `{"r":1}`),
			tx.AttachOwnerPolicy(acct, store.RolePolicies, "ci", admin),
		} {
			if err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		if r, err := tx.GetRole(acct, "ci"); err != nil || r.Description != "builds" {
			t.Fatalf("GetRole = %+v, %v", r, err)
		}
		if rs, err := tx.ListRoles(acct); err != nil || len(rs) != 1 || rs[0].Description != "builds" {
			t.Fatalf("ListRoles = %+v, %v", rs, err)
		}
		return nil
	})

	update(t, s, func(tx store.Tx) error {
		return tx.UpdateRole(store.Role{AccountID: acct, Name: "ci", TrustPolicy: `{"t":2}`, Description: "", MaxSession: 2 * time.Hour})
	})
	view(t, s, func(tx store.Tx) error {
		r, err := tx.GetRole(acct, "ci")
		if err != nil || r.TrustPolicy != `{"t":2}` || r.Description != "" || r.MaxSession != 2*time.Hour || r.RoleID != "AROAC" || !r.CreatedAt.Equal(t0) {
			t.Fatalf("GetRole after UpdateRole = %+v, %v", r, err)
		}
		return nil
	})
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.UpdateRole(store.Role{AccountID: acct, Name: "nope"}) }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UpdateRole of a missing role: %v", err)
	}

	for _, kind := range []string{store.GroupPolicies, store.RolePolicies} {
		owner := map[string]string{store.GroupPolicies: "devs", store.RolePolicies: "ci"}[kind]
		update(t, s, func(tx store.Tx) error { return tx.DeleteOwnerPolicy(acct, kind, owner, "p") })
		update(t, s, func(tx store.Tx) error { return tx.DetachOwnerPolicy(acct, kind, owner, admin) })
		if err := s.Update(ctx, func(tx store.Tx) error { return tx.DeleteOwnerPolicy(acct, kind, owner, "p") }); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("DeleteOwnerPolicy of a %s's missing policy: %v", kind, err)
		}
		if err := s.Update(ctx, func(tx store.Tx) error { return tx.DetachOwnerPolicy(acct, kind, owner, admin) }); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("DetachOwnerPolicy of a %s's policy not attached: %v", kind, err)
		}
		view(t, s, func(tx store.Tx) error {
			if p, err := tx.OwnerPolicies(acct, kind, owner); err != nil || len(p) != 0 {
				t.Fatalf("%s's inline policies after DeleteOwnerPolicy = %v, %v", kind, p, err)
			}
			if a, err := tx.AttachedOwnerPolicies(acct, kind, owner); err != nil || len(a) != 0 {
				t.Fatalf("%s's attached policies after DetachOwnerPolicy = %v, %v", kind, a, err)
			}
			return nil
		})
	}

	// Deleting takes an entity's memberships and any policies left with it: a group or role created later
	// under the same name starts with none.
	update(t, s, func(tx store.Tx) error {
		for _, err := range []error{
			tx.PutOwnerPolicy(acct, store.GroupPolicies, "devs", "left", `{}`),
			tx.AttachOwnerPolicy(acct, store.RolePolicies, "ci", admin),
			tx.DeleteGroup(acct, "devs"),
			tx.DeleteRole(acct, "ci"),
		} {
			if err != nil {
				return err
			}
		}
		return nil
	})
	for _, del := range []func(tx store.Tx) error{
		func(tx store.Tx) error { return tx.DeleteGroup(acct, "devs") },
		func(tx store.Tx) error { return tx.DeleteRole(acct, "ci") },
	} {
		if err := s.Update(ctx, del); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleting a missing group or role: %v", err)
		}
	}
	update(t, s, func(tx store.Tx) error {
		if err := tx.CreateGroup(store.Group{AccountID: acct, Name: "devs", GroupID: "AGPAE", CreatedAt: t0}); err != nil {
			return err
		}
		return tx.CreateRole(store.Role{AccountID: acct, Name: "ci", RoleID: "AROAD", TrustPolicy: "{}", MaxSession: time.Hour, CreatedAt: t0})
	})
	view(t, s, func(tx store.Tx) error {
		if g, err := tx.UserGroups(acct, "alice"); err != nil || len(g) != 0 {
			t.Fatalf("memberships survived their group: %v, %v", g, err)
		}
		if us, err := tx.GroupUsers(acct, "devs"); err != nil || len(us) != 0 {
			t.Fatalf("a new group has the old one's members: %v, %v", us, err)
		}
		if p, err := tx.OwnerPolicies(acct, store.GroupPolicies, "devs"); err != nil || len(p) != 0 {
			t.Fatalf("a new group has the old one's policies: %v, %v", p, err)
		}
		if a, err := tx.AttachedOwnerPolicies(acct, store.RolePolicies, "ci"); err != nil || len(a) != 0 {
			t.Fatalf("a new role has the old one's policies: %v, %v", a, err)
		}
		if _, err := tx.GetUser(acct, "alice"); err != nil {
			t.Fatalf("the member went with its group: %v", err)
		}
		return nil
	})
}

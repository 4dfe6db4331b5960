package identity_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/identity"
)

const (
	roleTrust = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"sts:AssumeRole"}}`
	allow     = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecr:*","Resource":"*"}}`
	readARN   = "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
)

func TestDeleteGroupConflicts(t *testing.T) {
	s, _, _, _ := setup(t, "us-east-1")
	const acct = "000000000000"
	if _, err := s.Bootstrap(ctx, acct, nil); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeleteGroup of a missing group", s.DeleteGroup(ctx, acct, "devs"), identity.ErrNotFound, nil, "The group with name devs cannot be found.")
	s.CreateUser(ctx, acct, "alice")
	s.CreateGroup(ctx, acct, "devs")
	s.AddUserToGroup(ctx, acct, "devs", "alice")
	if err := s.PutOwnerPolicy(ctx, acct, identity.GroupPolicies, "devs", "push", allow); err != nil {
		t.Fatal(err)
	}
	if err := s.AttachOwnerPolicy(ctx, acct, identity.GroupPolicies, "devs", readARN); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		msg    string
		remove func() error
	}{
		{"Cannot delete entity, must remove users from group first.", func() error { return s.RemoveUserFromGroup(ctx, acct, "devs", "alice") }},
		{"Cannot delete entity, must delete policies first.", func() error { return s.DeleteOwnerPolicy(ctx, acct, identity.GroupPolicies, "devs", "push") }},
		{"Cannot delete entity, must detach all policies first.", func() error { return s.DetachOwnerPolicy(ctx, acct, identity.GroupPolicies, "devs", readARN) }},
	}
	for _, st := range steps {
		wantErr(t, "DeleteGroup", s.DeleteGroup(ctx, acct, "devs"), identity.ErrDeleteConflict, nil, st.msg)
		if err := st.remove(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteGroup(ctx, acct, "devs"); err != nil {
		t.Fatalf("DeleteGroup of an empty group: %v", err)
	}
	if _, _, err := s.GetGroup(ctx, acct, "devs"); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("GetGroup after DeleteGroup: %v", err)
	}
	if _, err := s.GetUser(ctx, acct, "alice"); err != nil {
		t.Fatalf("the group's former member: %v", err)
	}
}

func TestDeleteRoleConflicts(t *testing.T) {
	s, _, _, _ := setup(t, "us-east-1")
	const acct = "000000000000"
	if _, err := s.Bootstrap(ctx, acct, nil); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeleteRole of a missing role", s.DeleteRole(ctx, acct, "ci"), identity.ErrNotFound, nil, "The role with name ci cannot be found.")
	if _, err := s.CreateRole(ctx, acct, "ci", roleTrust, 0); err != nil {
		t.Fatal(err)
	}
	s.PutOwnerPolicy(ctx, acct, identity.RolePolicies, "ci", "push", allow)
	s.AttachOwnerPolicy(ctx, acct, identity.RolePolicies, "ci", readARN)
	wantErr(t, "DeleteRole", s.DeleteRole(ctx, acct, "ci"), identity.ErrDeleteConflict, nil, "Cannot delete entity, must delete policies first.")
	s.DeleteOwnerPolicy(ctx, acct, identity.RolePolicies, "ci", "push")
	wantErr(t, "DeleteRole", s.DeleteRole(ctx, acct, "ci"), identity.ErrDeleteConflict, nil, "Cannot delete entity, must detach all policies first.")
	s.DetachOwnerPolicy(ctx, acct, identity.RolePolicies, "ci", readARN)
	if err := s.DeleteRole(ctx, acct, "ci"); err != nil {
		t.Fatalf("DeleteRole of a role without policies: %v", err)
	}
	if _, err := s.GetRole(ctx, acct, "ci"); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("GetRole after DeleteRole: %v", err)
	}
}

func TestOwnerPolicyRemoval(t *testing.T) {
	s, _, _, _ := setup(t, "us-east-1")
	const acct = "000000000000"
	if _, err := s.Bootstrap(ctx, acct, nil); err != nil {
		t.Fatal(err)
	}
	s.CreateGroup(ctx, acct, "devs")
	s.CreateRole(ctx, acct, "ci", roleTrust, 0)
	for _, o := range []struct{ kind, owner string }{{identity.GroupPolicies, "devs"}, {identity.RolePolicies, "ci"}} {
		if err := s.PutOwnerPolicy(ctx, acct, o.kind, o.owner, "push", allow); err != nil {
			t.Fatal(err)
		}
		if doc, err := s.GetOwnerPolicy(ctx, acct, o.kind, o.owner, "push"); err != nil || doc != allow {
			t.Fatalf("GetOwnerPolicy = %q, %v", doc, err)
		}
		wantErr(t, "GetOwnerPolicy of a missing policy", func() error { _, err := s.GetOwnerPolicy(ctx, acct, o.kind, o.owner, "nope"); return err }(),
			identity.ErrNotFound, nil, "The "+o.kind+" policy with name nope cannot be found.")
		wantErr(t, "GetOwnerPolicy of a missing owner", func() error { _, err := s.GetOwnerPolicy(ctx, acct, o.kind, "nobody", "push"); return err }(),
			identity.ErrNotFound, nil, "The "+o.kind+" with name nobody cannot be found.")
		if err := s.DeleteOwnerPolicy(ctx, acct, o.kind, o.owner, "push"); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "DeleteOwnerPolicy again", s.DeleteOwnerPolicy(ctx, acct, o.kind, o.owner, "push"),
			identity.ErrNotFound, nil, "The "+o.kind+" policy with name push cannot be found.")
		wantErr(t, "DeleteOwnerPolicy of a missing owner", s.DeleteOwnerPolicy(ctx, acct, o.kind, "nobody", "push"),
			identity.ErrNotFound, nil, "The "+o.kind+" with name nobody cannot be found.")

		if err := s.AttachOwnerPolicy(ctx, acct, o.kind, o.owner, readARN); err != nil {
			t.Fatal(err)
		}
		if err := s.DetachOwnerPolicy(ctx, acct, o.kind, o.owner, readARN); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "DetachOwnerPolicy again", s.DetachOwnerPolicy(ctx, acct, o.kind, o.owner, readARN),
			identity.ErrNotFound, nil, "Policy "+readARN+" was not found.")
		wantErr(t, "DetachOwnerPolicy of a missing owner", s.DetachOwnerPolicy(ctx, acct, o.kind, "nobody", readARN),
			identity.ErrNotFound, nil, "The "+o.kind+" with name nobody cannot be found.")
	}
}

func TestUpdateRole(t *testing.T) {
	s, _, _, _ := setup(t, "us-east-1")
	const acct = "000000000000"
	if _, err := s.Bootstrap(ctx, acct, nil); err != nil {
		t.Fatal(err)
	}
	r, err := s.CreateDescribedRole(ctx, acct, "ci", roleTrust, "builds images", 0)
	if err != nil || r.Description != "builds images" || r.MaxSession != time.Hour {
		t.Fatalf("CreateDescribedRole = %+v, %v", r, err)
	}
	if _, err := s.CreateDescribedRole(ctx, acct, "long", roleTrust, strings.Repeat("d", 1001), 0); !errors.Is(err, identity.ErrInvalid) ||
		!strings.Contains(err.Error(), "at 'description' failed to satisfy constraint: Member must have length less than or equal to 1000") {
		t.Fatalf("a description of 1001 characters: %v", err)
	}

	if r, err := s.UpdateRole(ctx, acct, "ci", identity.RoleChange{MaxSession: 2 * time.Hour}); err != nil || r.Description != "builds images" || r.MaxSession != 2*time.Hour {
		t.Fatalf("UpdateRole of MaxSession = %+v, %v", r, err)
	}
	empty := ""
	if r, err := s.UpdateRole(ctx, acct, "ci", identity.RoleChange{Description: &empty}); err != nil || r.Description != "" || r.MaxSession != 2*time.Hour {
		t.Fatalf("UpdateRole of Description = %+v, %v", r, err)
	}
	if _, err := s.UpdateRole(ctx, acct, "ci", identity.RoleChange{MaxSession: 13 * time.Hour}); !errors.Is(err, identity.ErrInvalid) {
		t.Fatalf("UpdateRole to 13 hours: %v", err)
	}
	wantErr(t, "UpdateRole of a missing role", func() error { _, err := s.UpdateRole(ctx, acct, "nope", identity.RoleChange{}); return err }(),
		identity.ErrNotFound, nil, "The role with name nope cannot be found.")

	other := strings.Replace(roleTrust, "000000000000:root", "111122223333:root", 1)
	if err := s.UpdateAssumeRolePolicy(ctx, acct, "ci", other); err != nil {
		t.Fatal(err)
	}
	if r, err := s.GetRole(ctx, acct, "ci"); err != nil || r.TrustPolicy != other || r.MaxSession != 2*time.Hour {
		t.Fatalf("GetRole after UpdateAssumeRolePolicy = %+v, %v", r, err)
	}
	if err := s.UpdateAssumeRolePolicy(ctx, acct, "ci", `{"Statement":{"Effect":"Allow"}}`); !errors.Is(err, identity.ErrMalformedPolicy) {
		t.Fatalf("a roleTrust policy without a principal: %v", err)
	}
	if err := s.UpdateAssumeRolePolicy(ctx, acct, "ci", ""); !errors.Is(err, identity.ErrInvalid) || !strings.Contains(err.Error(), "at 'policyDocument'") {
		t.Fatalf("an empty roleTrust policy: %v", err)
	}
	wantErr(t, "UpdateAssumeRolePolicy of a missing role", s.UpdateAssumeRolePolicy(ctx, acct, "nope", roleTrust),
		identity.ErrNotFound, nil, "The role with name nope cannot be found.")
	if r, _ := s.GetRole(ctx, acct, "ci"); r.TrustPolicy != other {
		t.Fatalf("a refused roleTrust policy was stored: %s", r.TrustPolicy)
	}
}

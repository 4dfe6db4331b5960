package identity

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/wharf-dev/wharf/internal/iam"
	"github.com/wharf-dev/wharf/internal/store"
)

// The IAM model's roleDescriptionType: it may be empty.
var descriptionType = constraint{"description", 1000, `[\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*`,
	regexp.MustCompile(`^[\t\n\r\x{20}-\x{7E}\x{A1}-\x{FF}]*$`)}

func checkDescription(d string) error {
	if d == "" {
		return nil
	}
	return descriptionType.check(d)
}

// checkTrustPolicy checks a role's trust policy: the document's constraint (c names the parameter), then
// that it parses as a resource policy.
func checkTrustPolicy(c constraint, doc string) error {
	if err := c.check(doc); err != nil {
		return err
	}
	if _, err := iam.Parse(doc, iam.ResourcePolicy); err != nil {
		return fmt.Errorf("%w: trust policy: %v", ErrMalformedPolicy, err)
	}
	return nil
}

func checkMaxSession(d time.Duration) error {
	if d < time.Hour || d > 12*time.Hour {
		return fmt.Errorf("%w: MaxSessionDuration must be between 3600 and 43200 seconds", ErrInvalid)
	}
	return nil
}

// RoleChange is what UpdateRole changes: the fields given (non-nil, non-zero).
type RoleChange struct {
	Description *string
	MaxSession  time.Duration
}

// UpdateRole changes a role's description or maximum session duration, as IAM's UpdateRole does.
func (s *Service) UpdateRole(ctx context.Context, accountID, name string, c RoleChange) (*Role, error) {
	if c.Description != nil {
		if err := checkDescription(*c.Description); err != nil {
			return nil, err
		}
	}
	if c.MaxSession != 0 {
		if err := checkMaxSession(c.MaxSession); err != nil {
			return nil, err
		}
	}
	return s.changeRole(ctx, accountID, name, func(r *Role) {
		if c.Description != nil {
			r.Description = *c.Description
		}
		r.MaxSession = cmp.Or(c.MaxSession, r.MaxSession)
	})
}

// UpdateAssumeRolePolicy replaces a role's trust policy, checked as CreateRole checks it.
func (s *Service) UpdateAssumeRolePolicy(ctx context.Context, accountID, name, document string) error {
	if err := checkTrustPolicy(policyDocumentType, document); err != nil {
		return err
	}
	_, err := s.changeRole(ctx, accountID, name, func(r *Role) { r.TrustPolicy = document })
	return err
}

func (s *Service) changeRole(ctx context.Context, accountID, name string, change func(r *Role)) (*Role, error) {
	var r *Role
	err := s.meta.Update(ctx, func(tx store.Tx) (err error) {
		if r, err = tx.GetRole(accountID, name); errors.Is(err, store.ErrNotFound) {
			return noSuch("role", name)
		} else if err != nil {
			return err
		}
		change(r)
		return tx.UpdateRole(*r)
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// GetOwnerPolicy returns a group's or role's inline policy.
func (s *Service) GetOwnerPolicy(ctx context.Context, accountID, kind, owner, name string) (string, error) {
	inline, _, err := s.OwnerPolicies(ctx, accountID, kind, owner)
	if err != nil {
		return "", err
	}
	doc, ok := inline[name]
	if !ok {
		return "", noSuch(kind+" policy", name)
	}
	return doc, nil
}

// DeleteOwnerPolicy removes a group's or role's inline policy.
func (s *Service) DeleteOwnerPolicy(ctx context.Context, accountID, kind, owner, name string) error {
	return s.changeOwner(ctx, accountID, kind, owner, func(tx store.Tx) error {
		err := tx.DeleteOwnerPolicy(accountID, kind, owner, name)
		if errors.Is(err, store.ErrNotFound) {
			return noSuch(kind+" policy", name)
		}
		return err
	})
}

// DetachOwnerPolicy detaches a managed policy from a group or role.
func (s *Service) DetachOwnerPolicy(ctx context.Context, accountID, kind, owner, policyARN string) error {
	return s.changeOwner(ctx, accountID, kind, owner, func(tx store.Tx) error {
		err := tx.DetachOwnerPolicy(accountID, kind, owner, policyARN)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: Policy %s was not found.", ErrNotFound, policyARN)
		}
		return err
	})
}

// DeleteGroup removes a group. As IAM does, it refuses (ErrDeleteConflict) while the group has members,
// inline policies or attached policies, and names the first of these, in that order.
func (s *Service) DeleteGroup(ctx context.Context, accountID, name string) error {
	return s.changeOwner(ctx, accountID, store.GroupPolicies, name, func(tx store.Tx) error {
		if us, err := tx.GroupUsers(accountID, name); err != nil || len(us) > 0 {
			return cmp.Or(err, deleteConflict("remove users from group"))
		}
		if err := policyDependents(tx, accountID, store.GroupPolicies, name); err != nil {
			return err
		}
		return tx.DeleteGroup(accountID, name)
	})
}

// DeleteRole removes a role. As IAM does, it refuses (ErrDeleteConflict) while the role has inline or
// attached policies. Sessions of the role keep their credentials until they end, with no permissions.
func (s *Service) DeleteRole(ctx context.Context, accountID, name string) error {
	return s.changeOwner(ctx, accountID, store.RolePolicies, name, func(tx store.Tx) error {
		if err := policyDependents(tx, accountID, store.RolePolicies, name); err != nil {
			return err
		}
		return tx.DeleteRole(accountID, name)
	})
}

func deleteConflict(what string) error {
	return fmt.Errorf("%w: Cannot delete entity, must %s first.", ErrDeleteConflict, what)
}

// policyDependents returns ErrDeleteConflict, with AWS's message, when a group or role has inline or
// attached policies.
func policyDependents(tx store.Tx, accountID, kind, owner string) error {
	if inline, err := tx.OwnerPolicies(accountID, kind, owner); err != nil || len(inline) > 0 {
		return cmp.Or(err, deleteConflict("delete policies"))
	}
	if attached, err := tx.AttachedOwnerPolicies(accountID, kind, owner); err != nil || len(attached) > 0 {
		return cmp.Or(err, deleteConflict("detach all policies"))
	}
	return nil
}

// changeOwner runs change in a transaction once the group or role exists.
func (s *Service) changeOwner(ctx context.Context, accountID, kind, owner string, change func(tx store.Tx) error) error {
	if kind != store.GroupPolicies && kind != store.RolePolicies {
		return fmt.Errorf("%w: policies of a %q", ErrInvalid, kind)
	}
	return s.meta.Update(ctx, func(tx store.Tx) error {
		if err := ownerExists(tx, accountID, kind, owner); errors.Is(err, store.ErrNotFound) {
			return noSuch(kind, owner)
		} else if err != nil {
			return err
		}
		return change(tx)
	})
}

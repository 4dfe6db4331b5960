package identity

import (
	"context"
	"errors"
	"fmt"

	"github.com/wharf-dev/wharf/internal/store"
)

func noSuch(kind, name string) error {
	return fmt.Errorf("%w: The %s with name %s cannot be found.", ErrNotFound, kind, name)
}

// ListGroups lists an account's groups by name.
func (s *Service) ListGroups(ctx context.Context, accountID string) ([]Group, error) {
	var gs []Group
	err := s.meta.View(ctx, func(tx store.Tx) (err error) { gs, err = tx.ListGroups(accountID); return err })
	return gs, err
}

// GetGroup returns a group and its members by name.
func (s *Service) GetGroup(ctx context.Context, accountID, name string) (*Group, []User, error) {
	var g *Group
	var us []User
	err := s.meta.View(ctx, func(tx store.Tx) (err error) {
		if g, err = tx.GetGroup(accountID, name); errors.Is(err, store.ErrNotFound) {
			return noSuch("group", name)
		} else if err != nil {
			return err
		}
		us, err = tx.GroupUsers(accountID, name)
		return err
	})
	return g, us, err
}

// GroupsForUser lists the groups a user is a member of, by name.
func (s *Service) GroupsForUser(ctx context.Context, accountID, user string) ([]Group, error) {
	var gs []Group
	err := s.meta.View(ctx, func(tx store.Tx) error {
		gs = nil
		if _, err := tx.GetUser(accountID, user); errors.Is(err, store.ErrNotFound) {
			return noSuch("user", user)
		} else if err != nil {
			return err
		}
		names, err := tx.UserGroups(accountID, user)
		for _, n := range names {
			g, err := tx.GetGroup(accountID, n)
			if err != nil {
				return err
			}
			gs = append(gs, *g)
		}
		return err
	})
	return gs, err
}

// ListRoles lists an account's roles by name.
func (s *Service) ListRoles(ctx context.Context, accountID string) ([]Role, error) {
	var rs []Role
	err := s.meta.View(ctx, func(tx store.Tx) (err error) { rs, err = tx.ListRoles(accountID); return err })
	return rs, err
}

// GetRole returns a role.
func (s *Service) GetRole(ctx context.Context, accountID, name string) (*Role, error) {
	var r *Role
	err := s.meta.View(ctx, func(tx store.Tx) (err error) { r, err = tx.GetRole(accountID, name); return err })
	if errors.Is(err, store.ErrNotFound) {
		return nil, noSuch("role", name)
	}
	return r, err
}

// OwnerPolicies returns a group's or role's (kind GroupPolicies or RolePolicies) inline policies by name
// and its attached managed policy ARNs.
func (s *Service) OwnerPolicies(ctx context.Context, accountID, kind, owner string) (map[string]string, []string, error) {
	if kind != store.GroupPolicies && kind != store.RolePolicies {
		return nil, nil, fmt.Errorf("%w: policies of a %q", ErrInvalid, kind)
	}
	var inline map[string]string
	var attached []string
	err := s.meta.View(ctx, func(tx store.Tx) (err error) {
		if err := ownerExists(tx, accountID, kind, owner); errors.Is(err, store.ErrNotFound) {
			return noSuch(kind, owner)
		} else if err != nil {
			return err
		}
		if inline, err = tx.OwnerPolicies(accountID, kind, owner); err != nil {
			return err
		}
		attached, err = tx.AttachedOwnerPolicies(accountID, kind, owner)
		return err
	})
	return inline, attached, err
}

// PolicyAttachments counts, by managed policy ARN, the users, groups and roles of an account it is
// attached to.
func (s *Service) PolicyAttachments(ctx context.Context, accountID string) (map[string]int, error) {
	counts := map[string]int{}
	err := s.meta.View(ctx, func(tx store.Tx) error {
		clear(counts)
		count := func(arns []string, err error) error {
			for _, a := range arns {
				counts[a]++
			}
			return err
		}
		users, err := tx.ListUsers(accountID)
		for _, u := range users {
			if err := count(tx.AttachedUserPolicies(accountID, u.Name)); err != nil {
				return err
			}
		}
		if err != nil {
			return err
		}
		groups, err := tx.ListGroups(accountID)
		for _, g := range groups {
			if err := count(tx.AttachedOwnerPolicies(accountID, store.GroupPolicies, g.Name)); err != nil {
				return err
			}
		}
		if err != nil {
			return err
		}
		roles, err := tx.ListRoles(accountID)
		for _, r := range roles {
			if err := count(tx.AttachedOwnerPolicies(accountID, store.RolePolicies, r.Name)); err != nil {
				return err
			}
		}
		return err
	})
	return counts, err
}

package registry

import (
	"context"
	"errors"
	"strings"

	"github.com/wharf-dev/wharf/internal/iam"
	"github.com/wharf-dev/wharf/internal/store"
)

// MaxPolicyText is the longest repository or registry policy ECR accepts.
const MaxPolicyText = 10240

// registryPolicyActions are the only actions a registry policy of scope V1 may name.
var registryPolicyActions = []string{"ecr:replicateimage", "ecr:batchimportupstreamimage", "ecr:createrepository", "ecr:*"}

func checkPolicyText(text, what string, kind iam.Kind) (*iam.Policy, error) {
	if len(text) > MaxPolicyText {
		return nil, errf(KindInvalidParameter, "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Member must have length less than or equal to %d'", MaxPolicyText)
	}
	p, err := iam.Parse(text, kind)
	if err != nil || len(p.Statements) == 0 { // a policy that states nothing is not a policy
		return nil, errf(KindInvalidParameter, "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid %s policy provided'", what)
	}
	return p, nil
}

// SetRepositoryPolicy sets a repository's policy after checking its grammar, its size and that the
// principals it names exist, and keeps the text laid out as ECR does (FormatPolicyText). Without force it
// refuses a policy under which the caller could no longer set the repository's policy (stillAllowed tells,
// for a candidate policy; nil skips the check), as ECR does.
func (s *Service) SetRepositoryPolicy(ctx context.Context, registryID, name, text string, force bool, stillAllowed func(*iam.Policy) bool) error {
	p, err := checkPolicyText(text, "repository", iam.ResourcePolicy)
	if err != nil {
		return err
	}
	if !force && stillAllowed != nil && !stillAllowed(p) {
		return errf(KindInvalidParameter, "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'The repository policy would prevent you from setting another policy in the future; use force to set it anyway'")
	}
	return internal(s.meta.Update(ctx, func(tx store.Tx) error {
		r, err := s.repo(tx, registryID, name)
		if err != nil {
			return err
		}
		for _, principal := range p.AWSPrincipals() {
			if !principalExists(tx, principal) {
				return errf(KindInvalidParameter, "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Principal not found'")
			}
		}
		if err := tx.SetRepositoryPolicy(r.ID, FormatPolicyText(text)); err != nil {
			return err
		}
		return s.emit(tx, Event{Type: EventPolicyChanged, RegistryID: r.RegistryID, Repository: r.Name, Policy: PolicyRepository, Change: PolicySet})
	}))
}

// principalExists tells whether an AWS principal of a policy names an account, user or role Wharf knows.
func principalExists(tx store.Tx, principal string) bool {
	if principal == "*" {
		return true
	}
	if len(principal) == 12 {
		_, err := tx.GetAccount(principal)
		return err == nil
	}
	var acct, rest string
	switch {
	case strings.HasPrefix(principal, "arn:aws:iam::"):
		acct, rest, _ = strings.Cut(strings.TrimPrefix(principal, "arn:aws:iam::"), ":")
	case strings.HasPrefix(principal, "arn:aws:sts::"):
		acct, rest, _ = strings.Cut(strings.TrimPrefix(principal, "arn:aws:sts::"), ":")
	default:
		return false
	}
	var err error
	switch {
	case rest == "root":
		_, err = tx.GetAccount(acct)
	case strings.HasPrefix(rest, "user/"):
		_, err = tx.GetUser(acct, rest[len("user/"):])
	case strings.HasPrefix(rest, "role/"):
		_, err = tx.GetRole(acct, rest[len("role/"):])
	case strings.HasPrefix(rest, "assumed-role/"):
		role, _, _ := strings.Cut(rest[len("assumed-role/"):], "/")
		_, err = tx.GetRole(acct, role)
	default:
		return false
	}
	return err == nil
}

// RepositoryPolicy returns a repository's policy text.
func (s *Service) RepositoryPolicy(ctx context.Context, registryID, name string) (string, error) {
	var text string
	err := s.meta.View(ctx, func(tx store.Tx) (err error) {
		_, text, err = s.repositoryPolicy(tx, registryID, name)
		return err
	})
	return text, internal(err)
}

// DeleteRepositoryPolicy removes a repository's policy and returns the text it had.
func (s *Service) DeleteRepositoryPolicy(ctx context.Context, registryID, name string) (string, error) {
	var text string
	err := s.meta.Update(ctx, func(tx store.Tx) error {
		r, t, err := s.repositoryPolicy(tx, registryID, name)
		if err != nil {
			return err
		}
		text = t
		if err := tx.SetRepositoryPolicy(r.ID, ""); err != nil {
			return err
		}
		return s.emit(tx, Event{Type: EventPolicyChanged, RegistryID: r.RegistryID, Repository: r.Name, Policy: PolicyRepository, Change: PolicyDeleted})
	})
	return text, internal(err)
}

// repositoryPolicy looks a repository and its policy up, with ECR's error when there is no policy.
func (s *Service) repositoryPolicy(tx store.Tx, registryID, name string) (*store.Repository, string, error) {
	r, err := s.repo(tx, registryID, name)
	if err != nil {
		return nil, "", err
	}
	text, err := tx.RepositoryPolicy(r.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", errf(KindRepositoryPolicyNotFound, "Repository policy does not exist for the repository with name '%s' in the registry with id '%s'", name, registryID)
	}
	return r, text, err
}

// PutRegistryPolicy sets the registry's policy: replication and pull-through-cache grants only.
func (s *Service) PutRegistryPolicy(ctx context.Context, registryID, text string) error {
	p, err := checkPolicyText(text, "registry", iam.ResourcePolicy)
	if err != nil {
		return err
	}
	return internal(s.meta.Update(ctx, func(tx store.Tx) error {
		// Under scope V2 a registry policy may name any ECR action; under V1 only those V1 governs.
		scope, err := AccountSettingIn(tx, registryID, SettingRegistryPolicyScope)
		if err != nil {
			return err
		}
		for _, st := range p.Statements {
			for _, a := range append(append([]string{}, st.Action...), st.NotAction...) {
				if !registryPolicyAction(a, scope) {
					return errf(KindInvalidParameter, "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid registry policy provided'")
				}
			}
		}
		if err := tx.SetRegistryPolicy(registryID, text); err != nil {
			return err
		}
		return s.emit(tx, Event{Type: EventPolicyChanged, RegistryID: registryID, Policy: PolicyRegistry, Change: PolicySet})
	}))
}

// registryPolicyAction says whether a registry policy of scope may name action.
func registryPolicyAction(action, scope string) bool {
	if scope != "V1" {
		return len(action) > 4 && strings.EqualFold(action[:4], "ecr:")
	}
	for _, allowed := range registryPolicyActions {
		if strings.EqualFold(action, allowed) {
			return true
		}
	}
	return false
}

// RegistryPolicy returns the registry's policy text.
func (s *Service) RegistryPolicy(ctx context.Context, registryID string) (string, error) {
	var text string
	err := s.meta.View(ctx, func(tx store.Tx) (err error) {
		text, err = tx.RegistryPolicy(registryID)
		if errors.Is(err, store.ErrNotFound) {
			return errf(KindRegistryPolicyNotFound, "Registry policy does not exist in the registry with id '%s'", registryID)
		}
		return err
	})
	return text, internal(err)
}

// DeleteRegistryPolicy removes the registry's policy and returns the text it had.
func (s *Service) DeleteRegistryPolicy(ctx context.Context, registryID string) (string, error) {
	text, err := s.RegistryPolicy(ctx, registryID)
	if err != nil {
		return "", err
	}
	return text, internal(s.meta.Update(ctx, func(tx store.Tx) error {
		if err := tx.SetRegistryPolicy(registryID, ""); err != nil {
			return err
		}
		return s.emit(tx, Event{Type: EventPolicyChanged, RegistryID: registryID, Policy: PolicyRegistry, Change: PolicyDeleted})
	}))
}

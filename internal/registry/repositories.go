package registry

import (
	"context"
	"errors"
	"strings"

	"github.com/wharf-dev/wharf/internal/store"
)

// CreateRepository creates a repository with its resource tags, all or nothing. Zero fields take ECR's
// defaults: MUTABLE tags, no scan on push, AES256 encryption. The KMS key is stored as given (see
// KMSKeyARN for what ECR's API reports).
func (s *Service) CreateRepository(ctx context.Context, r store.Repository, tags ...store.ResourceTag) (*store.Repository, error) {
	if err := ValidateRepositoryName(r.Name); err != nil {
		return nil, err
	}
	if err := validateResourceTags(nil, tags); err != nil {
		return nil, err
	}
	if r.TagMutability == "" {
		r.TagMutability = Mutable
	}
	if err := validateMutability(&r); err != nil {
		return nil, err
	}
	if err := validateEncryption(&r); err != nil {
		return nil, err
	}
	r.CreatedAt = s.clock.Now()
	err := s.meta.Update(ctx, func(tx store.Tx) error {
		if err := s.createRepository(tx, &r); err != nil {
			return err
		}
		return tx.PutRepositoryTags(r.ID, tags)
	})
	if err != nil {
		return nil, internal(err)
	}
	return &r, nil
}

// ListRepositories lists a registry's repositories by name after `after`, at most n.
func (s *Service) ListRepositories(ctx context.Context, registryID, after string, n int) (repos []store.Repository, more bool, err error) {
	err = s.meta.View(ctx, func(tx store.Tx) error {
		if repos, err = tx.ListRepositories(registryID, after, n+1); err != nil {
			return err
		}
		if len(repos) > n {
			repos, more = repos[:n], true
		}
		return nil
	})
	return repos, more, internal(err)
}

// UpdateRepository changes a repository's settings: fn edits them, and the result is checked and stored.
func (s *Service) UpdateRepository(ctx context.Context, registryID, name string, fn func(r *store.Repository)) (*store.Repository, error) {
	var r *store.Repository
	err := s.meta.Update(ctx, func(tx store.Tx) (err error) {
		if r, err = s.repo(tx, registryID, name); err != nil {
			return err
		}
		fn(r)
		if err := validateMutability(r); err != nil {
			return err
		}
		return tx.UpdateRepository(r)
	})
	if err != nil {
		return nil, internal(err)
	}
	s.cache.invalidate()
	return r, nil
}

// Resource tag limits of the user guide.
const (
	maxResourceTags = 50
	maxTagKey       = 128
	maxTagValue     = 256
)

// validateResourceTags checks tags to add to a repository that has tags `have`. Keys that differ only in
// letter case are refused: policies read aws:ResourceTag/… and aws:RequestTag/… keys regardless of case,
// so two such keys would leave a condition two values to choose from.
func validateResourceTags(have []store.ResourceTag, add []store.ResourceTag) error {
	keys := map[string]bool{}
	folded := map[string]string{}
	for _, t := range have {
		keys[t.Key] = true
		folded[strings.ToLower(t.Key)] = t.Key
	}
	given := map[string]bool{}
	for _, t := range add {
		if given[strings.ToLower(t.Key)] {
			return errf(KindInvalidTagParameter, "The tag key '%s' is given more than once (tag keys are compared regardless of case)", t.Key)
		}
		given[strings.ToLower(t.Key)] = true
		if k, ok := folded[strings.ToLower(t.Key)]; ok && k != t.Key {
			return errf(KindInvalidTagParameter, "The tag key '%s' differs from the repository's tag key '%s' only in letter case", t.Key, k)
		}
	}
	for _, t := range add {
		switch {
		case len(t.Key) == 0 || len(t.Key) > maxTagKey:
			return errf(KindInvalidTagParameter, "Invalid parameter at 'tags.key' failed to satisfy constraint: 'Member must have length between 1 and %d'", maxTagKey)
		case len(t.Value) > maxTagValue:
			return errf(KindInvalidTagParameter, "Invalid parameter at 'tags.value' failed to satisfy constraint: 'Member must have length less than or equal to %d'", maxTagValue)
		case len(t.Key) >= 4 && strings.EqualFold(t.Key[:4], "aws:"):
			return errf(KindInvalidTagParameter, "The tag key '%s' uses the reserved prefix 'aws:'", t.Key)
		}
		keys[t.Key] = true
	}
	if len(keys) > maxResourceTags {
		return errf(KindTooManyTags, "The number of tags (%d) exceeds the limit of %d tags per resource", len(keys), maxResourceTags)
	}
	return nil
}

// TagRepository adds resource tags to a repository (replacing values of existing keys).
func (s *Service) TagRepository(ctx context.Context, registryID, name string, tags []store.ResourceTag) error {
	return internal(s.meta.Update(ctx, func(tx store.Tx) error {
		r, err := s.repo(tx, registryID, name)
		if err != nil {
			return err
		}
		have, err := tx.RepositoryTags(r.ID)
		if err != nil {
			return err
		}
		if err := validateResourceTags(have, tags); err != nil {
			return err
		}
		return tx.PutRepositoryTags(r.ID, tags)
	}))
}

// UntagRepository removes resource tags by key; absent keys are ignored.
func (s *Service) UntagRepository(ctx context.Context, registryID, name string, keys []string) error {
	for _, k := range keys {
		if len(k) >= 4 && strings.EqualFold(k[:4], "aws:") {
			return errf(KindInvalidTagParameter, "The tag key '%s' uses the reserved prefix 'aws:'", k)
		}
	}
	return internal(s.meta.Update(ctx, func(tx store.Tx) error {
		r, err := s.repo(tx, registryID, name)
		if err != nil {
			return err
		}
		return tx.DeleteRepositoryTags(r.ID, keys)
	}))
}

// RepositoryTags lists a repository's resource tags.
func (s *Service) RepositoryTags(ctx context.Context, registryID, name string) ([]store.ResourceTag, error) {
	var tags []store.ResourceTag
	err := s.meta.View(ctx, func(tx store.Tx) error {
		r, err := s.repo(tx, registryID, name)
		if err != nil {
			return err
		}
		tags, err = tx.RepositoryTags(r.ID)
		return err
	})
	return tags, internal(err)
}

func (s *Service) createRepository(tx store.Tx, r *store.Repository) error {
	n, err := tx.CountRepositories(r.RegistryID)
	if err != nil {
		return err
	}
	if n >= s.cfg.Limits.RepositoriesPerRegistry {
		return errf(KindLimitExceeded, "The maximum number of repositories (%d) in the registry with id '%s' has been reached", s.cfg.Limits.RepositoriesPerRegistry, r.RegistryID)
	}
	err = tx.CreateRepository(r)
	if errors.Is(err, store.ErrExists) {
		return errf(KindRepositoryExists, "The repository with name '%s' already exists in the registry with id '%s'", r.Name, r.RegistryID)
	} else if err != nil {
		return err
	}
	return s.emit(tx, Event{Type: EventRepositoryCreated, At: r.CreatedAt, RegistryID: r.RegistryID, Repository: r.Name})
}

// Repository returns a repository.
func (s *Service) Repository(ctx context.Context, registryID, name string) (*store.Repository, error) {
	var r *store.Repository
	err := s.meta.View(ctx, func(tx store.Tx) (err error) {
		r, err = s.repo(tx, registryID, name)
		return err
	})
	return r, internal(err)
}

// repo looks a repository up inside a transaction.
func (s *Service) repo(tx store.Tx, registryID, name string) (*store.Repository, error) {
	if err := ValidateRepositoryName(name); err != nil {
		return nil, err
	}
	r, err := tx.GetRepository(registryID, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, repoNotFound(registryID, name)
	}
	return r, err
}

// reload reads again, inside a transaction, a repository looked up before it: its settings as they are
// now, or, when it was deleted meanwhile (a push racing DeleteRepository), that it does not exist.
func reload(tx store.Tx, r *store.Repository) (*store.Repository, error) {
	cur, err := tx.GetRepositoryByID(r.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, repoNotFound(r.RegistryID, r.Name)
	}
	return cur, err
}

// repoForPush returns the repository a push goes to, creating it when a CREATE_ON_PUSH template applies
// or create-on-push is on (createOnPush).
func (s *Service) repoForPush(ctx context.Context, registryID, name string) (*store.Repository, error) {
	r, err := s.Repository(ctx, registryID, name)
	if err == nil || !errors.Is(err, ErrRepositoryNotFound) || storingPullThrough(ctx) {
		return r, err
	}
	return s.createOnPush(ctx, registryID, name)
}

// Catalog lists repository names of a registry after the name `after`, at most n; more tells whether
// further names follow.
func (s *Service) Catalog(ctx context.Context, registryID, after string, n int) (names []string, more bool, err error) {
	err = s.meta.View(ctx, func(tx store.Tx) error {
		repos, err := tx.ListRepositories(registryID, after, n+1)
		if err != nil {
			return err
		}
		if len(repos) > n {
			repos, more = repos[:n], true
		}
		names = make([]string, len(repos))
		for i, r := range repos {
			names[i] = r.Name
		}
		return nil
	})
	return names, more, internal(err)
}

// DeleteRepository deletes a repository; with force also the images it still holds.
func (s *Service) DeleteRepository(ctx context.Context, registryID, name string, force bool) (*store.Repository, error) {
	defer s.cache.invalidate()
	var r *store.Repository
	err := s.meta.Update(ctx, func(tx store.Tx) (err error) {
		if r, err = s.repo(tx, registryID, name); err != nil {
			return err
		}
		if !force {
			n, err := tx.CountImages(r.ID)
			if err != nil {
				return err
			}
			if n > 0 {
				return errf(KindRepositoryNotEmpty, "The repository with name '%s' in registry with id '%s' cannot be deleted because it still contains images", name, registryID)
			}
		}
		if err := tx.DeleteRepository(r.ID); err != nil {
			return err
		}
		return s.emit(tx, Event{Type: EventRepositoryDeleted, RegistryID: r.RegistryID, Repository: r.Name})
	})
	if err != nil {
		return nil, internal(err)
	}
	return r, nil
}

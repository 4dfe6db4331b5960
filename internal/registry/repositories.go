package registry

import (
	"context"
	"errors"

	"github.com/wharf-dev/wharf/internal/store"
)

// Tag mutability settings.
const (
	Mutable   = "MUTABLE"
	Immutable = "IMMUTABLE"
)

// CreateRepository creates a repository. Zero fields take ECR's defaults: MUTABLE tags, no scan on push,
// AES256 encryption.
func (s *Service) CreateRepository(ctx context.Context, r store.Repository) (*store.Repository, error) {
	if err := ValidateRepositoryName(r.Name); err != nil {
		return nil, err
	}
	if r.TagMutability == "" {
		r.TagMutability = Mutable
	}
	if r.TagMutability != Mutable && r.TagMutability != Immutable {
		return nil, errf(KindNameInvalid, "Invalid parameter at 'imageTagMutability' failed to satisfy constraint: 'Member must satisfy enum value set: [MUTABLE, IMMUTABLE]'")
	}
	if r.EncryptionType == "" {
		r.EncryptionType = "AES256"
	}
	r.CreatedAt = s.clock.Now()
	err := s.meta.Update(ctx, func(tx store.Tx) error { return s.createRepository(tx, &r) })
	if err != nil {
		return nil, internal(err)
	}
	return &r, nil
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
	}
	return err
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

// repoForPush returns the repository a push goes to, creating it when create-on-push is on.
func (s *Service) repoForPush(ctx context.Context, registryID, name string) (*store.Repository, error) {
	r, err := s.Repository(ctx, registryID, name)
	if err == nil || !s.cfg.CreateOnPush || !errors.Is(err, ErrRepositoryNotFound) {
		return r, err
	}
	err = s.meta.Update(ctx, func(tx store.Tx) error {
		if r, err = tx.GetRepository(registryID, name); err == nil {
			return nil // created meanwhile
		}
		r = &store.Repository{RegistryID: registryID, Name: name, CreatedAt: s.clock.Now(),
			TagMutability: Mutable, EncryptionType: "AES256"}
		return s.createRepository(tx, r)
	})
	if err != nil {
		return nil, internal(err)
	}
	s.log.Info("repository created on push", "registry", registryID, "repository", name)
	return r, nil
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
		return tx.DeleteRepository(r.ID)
	})
	if err != nil {
		return nil, internal(err)
	}
	return r, nil
}

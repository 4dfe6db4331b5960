package registry

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

// MaxPullTimeExclusions is how many principals a registry may exclude from pull time updates.
const MaxPullTimeExclusions = 100

// principalARNPattern is ECR's pattern for an excluded principal: an IAM user or role.
const principalARNPattern = `^arn:aws(-[a-z]+)*:iam::[0-9]{12}:(role|user)/[\w+=,.@-]+(/[\w+=,.@-]+)*$`

var principalARN = regexp.MustCompile(principalARNPattern)

func checkPrincipalARN(arn string) error {
	switch {
	case arn == "":
		return errf(KindInvalidParameter, "Invalid parameter at 'principalArn' failed to satisfy constraint: 'Member must not be null'")
	case len(arn) > 200:
		return errf(KindInvalidParameter, "Invalid parameter at 'principalArn' failed to satisfy constraint: 'Member must have length less than or equal to 200'")
	case !principalARN.MatchString(arn):
		return errf(KindInvalidParameter, "Invalid parameter at 'principalArn' failed to satisfy constraint: 'Member must satisfy regular expression pattern: %s'", principalARNPattern)
	}
	return nil
}

// RegisterPullTimeExclusion stops the pulls of an IAM user or role from updating the last pull time of the
// registry's images.
func (s *Service) RegisterPullTimeExclusion(ctx context.Context, registryID, arn string) (store.PullTimeExclusion, error) {
	if err := checkPrincipalARN(arn); err != nil {
		return store.PullTimeExclusion{}, err
	}
	e := store.PullTimeExclusion{RegistryID: registryID, PrincipalARN: arn, CreatedAt: s.clock.Now()}
	err := s.meta.Update(ctx, func(tx store.Tx) error {
		have, err := tx.PullTimeExclusions(registryID, "", MaxPullTimeExclusions)
		if err != nil {
			return err
		}
		if len(have) >= MaxPullTimeExclusions {
			return errf(KindLimitExceeded, "The maximum number of pull time update exclusions (%d) in the registry with id '%s' has been reached", MaxPullTimeExclusions, registryID)
		}
		err = tx.PutPullTimeExclusion(e)
		if errors.Is(err, store.ErrConflict) {
			return errf(KindExclusionExists, "The principal '%s' is already excluded from pull time updates in the registry with id '%s'", arn, registryID)
		}
		return err
	})
	s.exclusions.forget(registryID)
	return e, internal(err)
}

// DeregisterPullTimeExclusion has the principal's pulls update last pull times again.
func (s *Service) DeregisterPullTimeExclusion(ctx context.Context, registryID, arn string) error {
	if err := checkPrincipalARN(arn); err != nil {
		return err
	}
	err := s.meta.Update(ctx, func(tx store.Tx) error {
		err := tx.DeletePullTimeExclusion(registryID, arn)
		if errors.Is(err, store.ErrNotFound) {
			return errf(KindExclusionNotFound, "The principal '%s' is not excluded from pull time updates in the registry with id '%s'", arn, registryID)
		}
		return err
	})
	s.exclusions.forget(registryID)
	return internal(err)
}

// PullTimeExclusions lists the registry's excluded principals after after, in order: at most n, and
// whether more follow.
func (s *Service) PullTimeExclusions(ctx context.Context, registryID, after string, n int) ([]string, bool, error) {
	var out []string
	more := false
	err := s.meta.View(ctx, func(tx store.Tx) error {
		page, err := tx.PullTimeExclusions(registryID, after, n+1)
		if err != nil {
			return err
		}
		if more = len(page) > n; more {
			page = page[:n]
		}
		for _, e := range page {
			out = append(out, e.PrincipalARN)
		}
		return nil
	})
	return out, more, internal(err)
}

// excludedFromPullTime says whether a pull by the principal that principalARNs name (a user's ARN; a
// session's and its role's) leaves the image's last pull time alone.
func (s *Service) excludedFromPullTime(registryID string, principalARNs []string) bool {
	set, err := s.exclusions.get(s, registryID)
	if err != nil {
		s.log.Warn("reading pull time update exclusions", "registry", registryID, "err", err)
		return false
	}
	for _, arn := range principalARNs {
		if _, ok := set[arn]; ok {
			return true
		}
	}
	return false
}

// exclusionCache keeps each registry's exclusions for the manifest cache's time: a change made by another
// node applies within it, one made through this node at once.
type exclusionCache struct {
	mu      sync.Mutex
	entries map[string]exclusionEntry
}

type exclusionEntry struct {
	set map[string]struct{}
	at  time.Time
}

func (c *exclusionCache) get(s *Service, registryID string) (map[string]struct{}, error) {
	now := s.clock.Now()
	c.mu.Lock()
	e, ok := c.entries[registryID]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < s.cfg.ManifestCacheTTL {
		return e.set, nil
	}
	set := map[string]struct{}{}
	err := s.meta.View(context.Background(), func(tx store.Tx) error {
		all, err := tx.PullTimeExclusions(registryID, "", MaxPullTimeExclusions)
		for _, x := range all {
			set[x.PrincipalARN] = struct{}{}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]exclusionEntry{}
	}
	c.entries[registryID] = exclusionEntry{set, now}
	c.mu.Unlock()
	return set, nil
}

func (c *exclusionCache) forget(registryID string) {
	c.mu.Lock()
	delete(c.entries, registryID)
	c.mu.Unlock()
}

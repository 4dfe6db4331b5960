package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"
	"unicode/utf8"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/lifecycle"
	"github.com/wharf-dev/wharf/internal/store"
)

// Preview states, as ECR names them.
const (
	PreviewInProgress = "IN_PROGRESS"
	PreviewComplete   = "COMPLETE"
	PreviewFailed     = "FAILED"
)

const (
	// previewTimeout is how long a preview may stay in progress before it is reported failed (its node died).
	previewTimeout = 5 * time.Minute
	// lifecycleLease is held by the one process applying lifecycle policies; leaseTTL bounds how long a
	// dead holder blocks the others. The holder renews it with every repository it applies.
	lifecycleLease = "lifecycle"
	leaseTTL       = 5 * time.Minute
	// lifecycleHistory is how long lifecycle events are kept.
	lifecycleHistory = 90 * 24 * time.Hour
	lifecyclePage    = 1000
)

func lifecyclePolicyNotFound(registryID, name string) error {
	return errf(KindLifecyclePolicyNotFound, "Lifecycle policy does not exist for the repository with name '%s' in the registry with id '%s'", name, registryID)
}

// checkLifecycleText validates lifecycle policy text, with ECR's messages.
func checkLifecycleText(text string) (*lifecycle.Policy, error) {
	const at = "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: "
	switch n := utf8.RuneCountInString(text); {
	case n > lifecycle.MaxTextLength:
		return nil, errf(KindInvalidParameter, at+"'Member must have length less than or equal to %d'", lifecycle.MaxTextLength)
	case n < lifecycle.MinTextLength:
		return nil, errf(KindInvalidParameter, at+"'Member must have length greater than or equal to %d'", lifecycle.MinTextLength)
	}
	p, err := lifecycle.Parse(text)
	if err != nil {
		return nil, errf(KindInvalidParameter, at+"'%s'", err)
	}
	return p, nil
}

// PutLifecyclePolicy validates a lifecycle policy and sets it on a repository, replacing any other. The
// background pass applies it once the lifecycle interval has passed since it was set. Like ECR, it keeps the
// text without its white space (CompactLifecycleText).
func (s *Service) PutLifecyclePolicy(ctx context.Context, registryID, name, text string) error {
	if _, err := checkLifecycleText(text); err != nil {
		return err
	}
	text = CompactLifecycleText(text)
	return internal(s.meta.Update(ctx, func(tx store.Tx) error {
		r, err := s.repo(tx, registryID, name)
		if err != nil {
			return err
		}
		p := store.LifecyclePolicy{RepositoryID: r.ID, Text: text, UpdatedAt: s.clock.Now()}
		if old, err := tx.LifecyclePolicy(r.ID); err == nil {
			p.LastEvaluatedAt = old.LastEvaluatedAt
		}
		if err := tx.SetLifecyclePolicy(p); err != nil {
			return err
		}
		return s.emit(tx, Event{Type: EventPolicyChanged, RegistryID: r.RegistryID, Repository: r.Name, Policy: PolicyLifecycle, Change: PolicySet})
	}))
}

// CompactLifecycleText is a valid lifecycle policy's text as PutLifecyclePolicy keeps it: the JSON without
// white space between its tokens, members in their order.
func CompactLifecycleText(text string) string {
	var b bytes.Buffer
	if json.Compact(&b, []byte(text)) != nil {
		return text
	}
	return b.String()
}

// LifecyclePolicy returns a repository's lifecycle policy.
func (s *Service) LifecyclePolicy(ctx context.Context, registryID, name string) (*store.LifecyclePolicy, error) {
	var p *store.LifecyclePolicy
	err := s.meta.View(ctx, func(tx store.Tx) error {
		r, err := s.repo(tx, registryID, name)
		if err != nil {
			return err
		}
		p, err = s.lifecyclePolicy(tx, r)
		return err
	})
	return p, internal(err)
}

func (s *Service) lifecyclePolicy(tx store.Tx, r *store.Repository) (*store.LifecyclePolicy, error) {
	p, err := tx.LifecyclePolicy(r.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, lifecyclePolicyNotFound(r.RegistryID, r.Name)
	}
	return p, err
}

// DeleteLifecyclePolicy removes a repository's lifecycle policy and returns it.
func (s *Service) DeleteLifecyclePolicy(ctx context.Context, registryID, name string) (*store.LifecyclePolicy, error) {
	var p *store.LifecyclePolicy
	err := s.meta.Update(ctx, func(tx store.Tx) error {
		r, err := s.repo(tx, registryID, name)
		if err != nil {
			return err
		}
		if p, err = s.lifecyclePolicy(tx, r); err != nil {
			return err
		}
		if err := tx.DeleteLifecyclePolicy(r.ID); err != nil {
			return err
		}
		return s.emit(tx, Event{Type: EventPolicyChanged, RegistryID: r.RegistryID, Repository: r.Name, Policy: PolicyLifecycle, Change: PolicyDeleted})
	})
	return p, internal(err)
}

// evaluateLifecycle decides what a policy expires (or archives) in a repository now. An image that an
// index of the repository lists is kept while the index is kept, so no index loses a child. Images being
// restored from the archive are left alone until their restore completes.
func (s *Service) evaluateLifecycle(tx store.Tx, repoID int64, p *lifecycle.Policy, now time.Time) ([]store.Expiry, int, error) {
	var imgs []lifecycle.Image
	var after digest.Digest
	for {
		page, err := tx.ListImages(repoID, after, lifecyclePage)
		if err != nil || len(page) == 0 {
			if err != nil {
				return nil, 0, err
			}
			break
		}
		tags, err := tx.TagsBetween(repoID, page[0].Digest, page[len(page)-1].Digest)
		if err != nil {
			return nil, 0, err
		}
		states, err := tx.ImageStorageBetween(repoID, page[0].Digest, page[len(page)-1].Digest)
		if err != nil {
			return nil, 0, err
		}
		for _, img := range page {
			li := lifecycle.Image{Digest: img.Digest.String(), Tags: tags[img.Digest], PushedAt: img.PushedAt, LastPulledAt: img.LastPulledAt}
			if st, ok := states[img.Digest]; ok {
				if storageAt(&st, now).Status == ImageActivating {
					continue
				}
				li.Archived, li.ArchivedAt, li.ActivatedAt = st.Archived, st.ArchivedAt, st.ActivatedAt
			}
			imgs = append(imgs, li)
		}
		if len(page) < lifecyclePage {
			break
		}
		after = page[len(page)-1].Digest
	}
	verdicts := p.Evaluate(imgs, now)

	expiring := make(map[string]bool, len(verdicts))
	for _, v := range verdicts {
		expiring[imgs[v.Index].Digest] = true
	}
	parents := map[string][]digest.Digest{}
	for _, v := range verdicts {
		d := imgs[v.Index].Digest
		ps, err := tx.ReferencedBy(repoID, store.RefManifest, digest.Digest(d))
		if err != nil {
			return nil, 0, err
		}
		if len(ps) > 0 {
			parents[d] = ps
		}
	}
	for changed := true; changed; { // keeping an index keeps its children, and theirs
		changed = false
		for d, ps := range parents {
			for _, p := range ps {
				if expiring[d] && !expiring[p.String()] {
					delete(expiring, d)
					changed = true
				}
			}
		}
	}
	out := make([]store.Expiry, 0, len(expiring))
	for _, v := range verdicts {
		img := imgs[v.Index]
		if expiring[img.Digest] {
			out = append(out, store.Expiry{Digest: digest.Digest(img.Digest), Tags: img.Tags, PushedAt: img.PushedAt, Rule: v.Rule,
				Transition: v.Transition, Archived: img.Archived})
		}
	}
	return out, len(imgs), nil
}

// LifecycleRun says what a lifecycle pass covers.
type LifecycleRun struct {
	RegistryID string // only this registry, when set
	Repository string // only this repository of RegistryID, when set
	DryRun     bool   // decide, but delete and record nothing
	// Due, when positive, skips repositories whose policy was set or last applied less than Due ago.
	Due time.Duration
}

// LifecycleResult is what a pass expired and archived (or, dry, would) in one repository.
type LifecycleResult struct {
	RegistryID   string
	Repository   string
	Expired      []store.Expiry
	Transitioned []store.Expiry // archived by transition rules
}

// ErrLifecycleBusy is returned when another process is applying lifecycle policies.
var ErrLifecycleBusy = errf(KindTryAgain, "lifecycle policies are being applied by another process; try again later")

// RunLifecycle applies the stored lifecycle policies: for each repository in one transaction, it evaluates
// the policy, deletes the images it expires as BatchDeleteImage would, records them as lifecycle events
// and sets the policy's lastEvaluatedAt. One process at a time does this (a lease in the metadata store);
// a dry run takes no lease and changes nothing.
func (s *Service) RunLifecycle(ctx context.Context, run LifecycleRun) ([]LifecycleResult, error) {
	var holder string
	if !run.DryRun {
		var release func()
		var err error
		if holder, release, err = s.lease(ctx, lifecycleLease, ErrLifecycleBusy); err != nil {
			return nil, err
		}
		defer func() {
			release()
			s.cache.invalidate()
		}()
	}

	var out []LifecycleResult
	apply := func(policies []store.LifecyclePolicy) error {
		for _, p := range policies {
			if run.Due > 0 && s.clock.Now().Sub(laterOf(p.UpdatedAt, p.LastEvaluatedAt)) < run.Due {
				continue
			}
			res, err := s.applyLifecycle(ctx, p.RepositoryID, run, holder)
			if err != nil {
				return err
			}
			if res != nil && len(res.Expired)+len(res.Transitioned) > 0 {
				out = append(out, *res)
			}
		}
		return nil
	}
	if run.Repository != "" {
		var p *store.LifecyclePolicy
		if err := s.meta.View(ctx, func(tx store.Tx) error {
			r, err := s.repo(tx, run.RegistryID, run.Repository)
			if err != nil {
				return err
			}
			p, err = s.lifecyclePolicy(tx, r)
			return err
		}); err != nil {
			return nil, internal(err)
		}
		if err := apply([]store.LifecyclePolicy{*p}); err != nil {
			return out, err
		}
	} else {
		for after := int64(0); ; {
			var page []store.LifecyclePolicy
			if err := s.meta.View(ctx, func(tx store.Tx) (err error) {
				page, err = tx.LifecyclePolicies(after, lifecyclePage)
				return err
			}); err != nil {
				return out, internal(err)
			}
			if err := apply(page); err != nil {
				return out, err
			}
			if len(page) < lifecyclePage {
				break
			}
			after = page[len(page)-1].RepositoryID
		}
	}
	if !run.DryRun {
		err := s.meta.Update(ctx, func(tx store.Tx) error {
			_, err := tx.PruneLifecycleEvents(s.clock.Now().Add(-lifecycleHistory))
			return err
		})
		if err != nil {
			return out, internal(err)
		}
	}
	return out, nil
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// applyLifecycle applies one repository's policy in one transaction; nil when the repository or its
// policy went away meanwhile, or belongs to a registry the run does not cover.
func (s *Service) applyLifecycle(ctx context.Context, repoID int64, run LifecycleRun, holder string) (*LifecycleResult, error) {
	var res *LifecycleResult
	apply := func(tx store.Tx) error {
		r, err := tx.GetRepositoryByID(repoID)
		if errors.Is(err, store.ErrNotFound) || err == nil && run.RegistryID != "" && r.RegistryID != run.RegistryID {
			return nil
		}
		if err != nil {
			return err
		}
		stored, err := tx.LifecyclePolicy(repoID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		p, err := lifecycle.Parse(stored.Text)
		if err != nil { // validated when it was stored; a rule change since may reject it
			s.log.Warn("lifecycle policy no longer valid; not applied", "registry", r.RegistryID, "repository", r.Name, "err", err)
			return nil
		}
		now := s.clock.Now()
		verdicts, evaluated, err := s.evaluateLifecycle(tx, repoID, p, now)
		if err != nil {
			return err
		}
		var expired, transitioned []store.Expiry
		for _, v := range verdicts {
			if v.Transition {
				transitioned = append(transitioned, v)
			} else {
				expired = append(expired, v)
			}
		}
		res = &LifecycleResult{RegistryID: r.RegistryID, Repository: r.Name, Expired: expired, Transitioned: transitioned}
		if run.DryRun {
			return nil
		}
		if ok, err := tx.AcquireLease(lifecycleLease, holder, now, leaseTTL); err != nil || !ok {
			if err == nil {
				err = ErrLifecycleBusy
			}
			return err
		}
		events := make([]store.LifecycleEvent, len(expired))
		for i, e := range expired {
			if err := tx.DeleteImage(repoID, e.Digest); err != nil {
				return err
			}
			events[i] = store.LifecycleEvent{At: now, Expiry: e}
			if err := s.emit(tx, Event{Type: EventImageDeleted, At: now, RegistryID: r.RegistryID, Repository: r.Name, Digest: e.Digest, Tags: e.Tags, Cause: CauseLifecycle}); err != nil {
				return err
			}
		}
		for _, e := range transitioned {
			img := &ImageDetail{Image: store.Image{Digest: e.Digest}, Tags: e.Tags}
			if _, err := s.transition(tx, r, img, StorageArchive, CauseLifecycle); err != nil {
				return err
			}
		}
		if err := tx.AddLifecycleEvents(repoID, events); err != nil {
			return err
		}
		if err := tx.SetLifecycleEvaluated(repoID, now); err != nil {
			return err
		}
		return s.emit(tx, Event{Type: EventLifecyclePass, At: now, RegistryID: r.RegistryID, Repository: r.Name, Evaluated: evaluated,
			Expired: len(expired), Transitioned: len(transitioned)})
	}
	var err error
	if run.DryRun {
		err = s.meta.View(ctx, apply)
	} else {
		err = s.meta.Update(ctx, apply)
	}
	return res, internal(err)
}

// LifecycleHistory lists the images lifecycle expired in a repository, newest first, at most limit.
func (s *Service) LifecycleHistory(ctx context.Context, registryID, name string, limit int) ([]store.LifecycleEvent, error) {
	var out []store.LifecycleEvent
	err := s.meta.View(ctx, func(tx store.Tx) error {
		r, err := s.repo(tx, registryID, name)
		if err != nil {
			return err
		}
		out, err = tx.LifecycleEvents(r.ID, limit)
		return err
	})
	return out, internal(err)
}

// StartLifecyclePreview starts a preview of a policy (text, or the stored policy when text is empty) and
// returns the text it previews. The preview runs in the background; LifecyclePreview reports it.
func (s *Service) StartLifecyclePreview(ctx context.Context, registryID, name, text string) (string, error) {
	var p *lifecycle.Policy
	var err error
	if text != "" {
		if p, err = checkLifecycleText(text); err != nil {
			return "", err
		}
	}
	var repoID int64
	started := s.clock.Now()
	err = s.meta.Update(ctx, func(tx store.Tx) error {
		r, err := s.repo(tx, registryID, name)
		if err != nil {
			return err
		}
		repoID = r.ID
		if p == nil {
			stored, err := s.lifecyclePolicy(tx, r)
			if err != nil {
				return err
			}
			if p, err = checkLifecycleText(stored.Text); err != nil {
				return err
			}
			text = stored.Text
		}
		if prev, err := tx.LifecyclePreview(r.ID); err == nil && prev.Status == PreviewInProgress && started.Sub(prev.StartedAt) < previewTimeout {
			return errf(KindLifecyclePreviewInProgress, "The previous lifecycle policy preview request has not completed for the repository with name '%s' in the registry with id '%s'. Wait and try again.", name, registryID)
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return tx.PutLifecyclePreview(store.LifecyclePreview{RepositoryID: r.ID, Text: text, Status: PreviewInProgress, StartedAt: started})
	})
	if err != nil {
		return "", internal(err)
	}
	s.background.Add(1)
	go s.runPreview(repoID, text, p, started)
	return text, nil
}

// runPreview evaluates a preview and stores its results, unless a newer preview replaced it meanwhile.
func (s *Service) runPreview(repoID int64, text string, p *lifecycle.Policy, started time.Time) {
	defer s.background.Done()
	if s.previewGate != nil {
		<-s.previewGate
	}
	ctx := context.Background()
	var results []store.Expiry
	status := PreviewComplete
	if err := s.meta.View(ctx, func(tx store.Tx) (err error) {
		results, _, err = s.evaluateLifecycle(tx, repoID, p, s.clock.Now())
		return err
	}); err != nil {
		s.log.Error("lifecycle policy preview failed", "repository_id", repoID, "err", err)
		status, results = PreviewFailed, nil
	}
	err := s.meta.Update(ctx, func(tx store.Tx) error {
		cur, err := tx.LifecyclePreview(repoID)
		if err != nil || !cur.StartedAt.Equal(started) {
			return nil // the repository went away or a newer preview started
		}
		return tx.PutLifecyclePreview(store.LifecyclePreview{RepositoryID: repoID, Text: text, Status: status, StartedAt: started, Results: results})
	})
	if err != nil {
		s.log.Error("storing a lifecycle policy preview failed", "repository_id", repoID, "err", err)
	}
}

// LifecyclePreview returns a repository's latest preview. A preview whose node died before it completed
// reports FAILED.
func (s *Service) LifecyclePreview(ctx context.Context, registryID, name string) (*store.LifecyclePreview, error) {
	var p *store.LifecyclePreview
	err := s.meta.View(ctx, func(tx store.Tx) error {
		r, err := s.repo(tx, registryID, name)
		if err != nil {
			return err
		}
		p, err = tx.LifecyclePreview(r.ID)
		if errors.Is(err, store.ErrNotFound) {
			return errf(KindLifecyclePreviewNotFound, "Lifecycle policy preview does not exist for the repository with name '%s' in the registry with id '%s'", name, registryID)
		}
		return err
	})
	if err == nil && p.Status == PreviewInProgress && s.clock.Now().Sub(p.StartedAt) >= previewTimeout {
		p.Status = PreviewFailed
	}
	return p, internal(err)
}

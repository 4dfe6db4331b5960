package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/manifest"
	"github.com/wharf-dev/wharf/internal/store"
)

// Replication states of an image at a destination, as ECR names them.
const (
	ReplicationInProgress = "IN_PROGRESS"
	ReplicationComplete   = "COMPLETE"
	ReplicationFailed     = "FAILED"
)

// Failure codes of a replication.
const (
	// ReplicateImageDenied: the destination registry's policy does not allow the source account
	// ecr:ReplicateImage on the repository.
	ReplicateImageDenied = "ReplicateImageDenied"
	// CreateRepositoryDenied: the destination repository does not exist and the destination registry's
	// policy does not allow the source account ecr:CreateRepository on it.
	CreateRepositoryDenied = "CreateRepositoryDenied"
	// CrossRegionNotConfigured: the destination is in another region, which is another deployment of
	// Wharf, and no peer deployment is configured for that region (PeerConfig.Endpoints).
	CrossRegionNotConfigured = "CrossRegionReplicationNotConfigured"
	// ReplicationErrorCode: the destination refused the image (a limit reached, an immutable tag held by
	// another image), or every attempt failed (the registry's log says why).
	ReplicationErrorCode = "ReplicationError"
)

const (
	// ReplicateJobKind is the kind of the durable job that replicates one pushed image to one destination;
	// RunReplication runs it.
	ReplicateJobKind = "image-replicate"
	// ReplicateAttempts is how many attempts a replication job has; the last one's failure is recorded FAILED.
	ReplicateAttempts = 5
	// PolicyReplication is the kind of policy of a replication configuration's EventPolicyChanged.
	PolicyReplication = "replication"
)

// ECR's limits of a replication configuration.
const (
	replicationRules        = 10
	replicationDestinations = 25 // unique destinations across all rules
	replicationFilters      = 100
)

// ReplicationConfiguration is a registry's replication configuration: images pushed to the repositories a
// rule's filters match (every repository without filters) are replicated to the rule's destinations.
type ReplicationConfiguration struct {
	Rules []ReplicationRule `json:"rules"`
}

// ReplicationRule is a rule of a replication configuration.
type ReplicationRule struct {
	Destinations      []ReplicationDestination `json:"destinations"`
	RepositoryFilters []ReplicationFilter      `json:"repositoryFilters,omitempty"`
}

// ReplicationDestination is a registry of a region.
type ReplicationDestination struct {
	Region     string `json:"region"`
	RegistryID string `json:"registryId"`
}

// ReplicationFilter matches repository names: FilterType PREFIX_MATCH, names that start with Filter.
type ReplicationFilter struct {
	Filter     string `json:"filter"`
	FilterType string `json:"filterType"`
}

const (
	replicationRegionPattern = `[0-9a-z-]{2,25}`
	replicationFilterPattern = `^(?:[a-z0-9]+(?:[._-][a-z0-9]*)*/)*[a-z0-9]*(?:[._-][a-z0-9]*)*$`
)

var (
	replicationRegion   = regexp.MustCompile(`^` + replicationRegionPattern + `$`)
	replicationFilterRE = regexp.MustCompile(replicationFilterPattern)
	registryIDPattern   = regexp.MustCompile(`^[0-9]{12}$`)
)

// checkReplicationConfiguration validates a configuration of registryID, in region: the model's
// constraints as validation errors, ECR's limits and rules as invalid parameters.
func checkReplicationConfiguration(c ReplicationConfiguration, region, registryID string) error {
	null := func(member string) error {
		return errf(KindValidation, "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", member)
	}
	if c.Rules == nil {
		return null("replicationConfiguration.rules")
	}
	if len(c.Rules) > replicationRules {
		return validationf(fmt.Sprint(len(c.Rules)), "replicationConfiguration.rules", fmt.Sprintf("have length less than or equal to %d", replicationRules))
	}
	unique := map[ReplicationDestination]bool{}
	for i, r := range c.Rules {
		field := fmt.Sprintf("replicationConfiguration.rules.%d.member.", i+1)
		if r.Destinations == nil {
			return null(field + "destinations")
		}
		if len(r.Destinations) > 100 {
			return validationf(fmt.Sprint(len(r.Destinations)), field+"destinations", "have length less than or equal to 100")
		}
		for j, d := range r.Destinations {
			df := fmt.Sprintf("%sdestinations.%d.member.", field, j+1)
			switch {
			case d.Region == "":
				return null(df + "region")
			case !replicationRegion.MatchString(d.Region):
				return validationf(d.Region, df+"region", "satisfy regular expression pattern: "+replicationRegionPattern)
			case d.RegistryID == "":
				return null(df + "registryId")
			case !registryIDPattern.MatchString(d.RegistryID):
				return validationf(d.RegistryID, df+"registryId", "satisfy regular expression pattern: [0-9]{12}")
			}
			if d.Region == region && d.RegistryID == registryID {
				return errf(KindInvalidParameter, "Invalid parameter at 'replicationConfiguration' failed to satisfy constraint: "+
					"'The destination of a replication rule cannot be the source registry (%s in %s)'", registryID, region)
			}
			unique[d] = true
		}
		if r.RepositoryFilters != nil && len(r.RepositoryFilters) < 1 {
			return validationf("[]", field+"repositoryFilters", "have length greater than or equal to 1")
		}
		if len(r.RepositoryFilters) > replicationFilters {
			return validationf(fmt.Sprint(len(r.RepositoryFilters)), field+"repositoryFilters", fmt.Sprintf("have length less than or equal to %d", replicationFilters))
		}
		for j, f := range r.RepositoryFilters {
			ff := fmt.Sprintf("%srepositoryFilters.%d.member.", field, j+1)
			switch {
			case f.Filter == "" && f.FilterType == "":
				return null(ff + "filter")
			case f.FilterType == "":
				return null(ff + "filterType")
			case f.FilterType != "PREFIX_MATCH":
				return validationf(f.FilterType, ff+"filterType", "satisfy enum value set: [PREFIX_MATCH]")
			case f.Filter == "":
				return null(ff + "filter")
			case len(f.Filter) < 2:
				return validationf(f.Filter, ff+"filter", "have length greater than or equal to 2")
			case len(f.Filter) > 256:
				return validationf(f.Filter, ff+"filter", "have length less than or equal to 256")
			case !replicationFilterRE.MatchString(f.Filter):
				return validationf(f.Filter, ff+"filter", "satisfy regular expression pattern: "+replicationFilterPattern)
			}
		}
	}
	if len(unique) > replicationDestinations {
		return errf(KindInvalidParameter, "Invalid parameter at 'replicationConfiguration' failed to satisfy constraint: "+
			"'A replication configuration can have at most %d unique destinations across all rules'", replicationDestinations)
	}
	return nil
}

// destinations are the distinct destinations of the rules that match a repository, in the rules' order.
func (c ReplicationConfiguration) destinations(repository string) []ReplicationDestination {
	var out []ReplicationDestination
	seen := map[ReplicationDestination]bool{}
	for _, r := range c.Rules {
		match := len(r.RepositoryFilters) == 0
		for _, f := range r.RepositoryFilters {
			match = match || strings.HasPrefix(repository, f.Filter)
		}
		for _, d := range r.Destinations {
			if match && !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	return out
}

// ReplicationAuthorizer tells whether a registry's policy allows an account (its root) an action on a
// repository of the registry: nil when it does, the denial when it does not.
type ReplicationAuthorizer func(ctx context.Context, sourceAccount, registryID, repository, action string) error

// replication is what the core needs to replicate: the deployment's region, the authorizer of the
// destination's registry policy, and each registry's configuration, cached.
type replication struct {
	region string
	allow  ReplicationAuthorizer
	mu     sync.Mutex
	cache  map[string]replicationEntry
}

type replicationEntry struct {
	c  ReplicationConfiguration
	at time.Time
}

// ReplicateWith sets this deployment's region and how a destination's registry policy is evaluated. Call it
// before serving; without it, no image is replicated.
func (s *Service) ReplicateWith(region string, allow ReplicationAuthorizer) {
	s.replication.region, s.replication.allow = region, allow
}

// PutReplicationConfiguration validates and sets a registry's replication configuration (no rules: none):
// images pushed from then on to the repositories its rules match are replicated.
func (s *Service) PutReplicationConfiguration(ctx context.Context, registryID string, c ReplicationConfiguration) error {
	if err := checkReplicationConfiguration(c, s.replication.region, registryID); err != nil {
		return err
	}
	rules, err := json.Marshal(c.Rules)
	if err != nil {
		return err
	}
	err = s.meta.Update(ctx, func(tx store.Tx) error {
		if err := tx.SetReplicationConfiguration(store.ReplicationConfiguration{RegistryID: registryID, Rules: string(rules), UpdatedAt: s.clock.Now()}); err != nil {
			return err
		}
		return s.emit(tx, Event{Type: EventPolicyChanged, RegistryID: registryID, Policy: PolicyReplication, Change: PolicySet})
	})
	s.replication.mu.Lock()
	delete(s.replication.cache, registryID)
	s.replication.mu.Unlock()
	return internal(err)
}

// ReplicationConfiguration returns a registry's replication configuration: no rules when none is set.
func (s *Service) ReplicationConfiguration(ctx context.Context, registryID string) (ReplicationConfiguration, error) {
	var c ReplicationConfiguration
	err := s.meta.View(ctx, func(tx store.Tx) error {
		stored, err := tx.ReplicationConfiguration(registryID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		return json.Unmarshal([]byte(stored.Rules), &c.Rules)
	})
	if c.Rules == nil {
		c.Rules = []ReplicationRule{}
	}
	return c, internal(err)
}

// replicationDestinations are the destinations of an image pushed to repo now. The configuration is read
// through a cache for the manifest cache's time, so that a push reads none: a change made through another
// node applies within that time, one made through this node at once.
func (s *Service) replicationDestinations(repo *store.Repository) ([]ReplicationDestination, error) {
	if s.replication.allow == nil {
		return nil, nil
	}
	r := &s.replication
	now := s.clock.Now()
	r.mu.Lock()
	e, ok := r.cache[repo.RegistryID]
	r.mu.Unlock()
	if !ok || now.Sub(e.at) >= s.cfg.ManifestCacheTTL {
		c, err := s.ReplicationConfiguration(context.Background(), repo.RegistryID)
		if err != nil {
			return nil, err
		}
		e = replicationEntry{c, now}
		r.mu.Lock()
		if r.cache == nil {
			r.cache = map[string]replicationEntry{}
		}
		r.cache[repo.RegistryID] = e
		r.mu.Unlock()
	}
	return e.c.destinations(repo.Name), nil
}

// replicateJob is the payload of a replication job: an image pushed (with the tag it was pushed with)
// and one destination.
type replicateJob struct {
	RepositoryID int64         `json:"repositoryId"`
	Digest       digest.Digest `json:"digest"`
	Tag          string        `json:"tag,omitempty"`
	Region       string        `json:"region"`
	RegistryID   string        `json:"registryId"`
	Started      time.Time     `json:"started"` // the status in progress this job ends
}

// replicateJobKey is the unique key of the job that replicates an image to a destination, started at started.
func replicateJobKey(repoID int64, d digest.Digest, dest ReplicationDestination, started time.Time) string {
	return fmt.Sprintf("%s/%d/%s/%s/%s/%d", ReplicateJobKind, repoID, d, dest.Region, dest.RegistryID, started.UnixNano())
}

// replicateOnPush records the replication of a pushed image (tag: the tag it was pushed with, if any) to
// each destination in progress and queues a job per destination, in tx. A destination in another region
// without a peer deployment is recorded FAILED at once. It reports whether a job was queued.
func (s *Service) replicateOnPush(tx store.Tx, repo *store.Repository, d digest.Digest, tag string, dests []ReplicationDestination) (bool, error) {
	now := s.clock.Now()
	queued := false
	for _, dest := range dests {
		st := store.ImageReplicationStatus{RepositoryID: repo.ID, Digest: d, Region: dest.Region, RegistryID: dest.RegistryID,
			Status: ReplicationInProgress, UpdatedAt: now}
		if !s.hasPeer(dest.Region) {
			st.Status, st.FailureCode = ReplicationFailed, CrossRegionNotConfigured
		}
		if err := tx.PutImageReplicationStatus(st); err != nil {
			return false, err
		}
		if st.Status != ReplicationInProgress {
			continue
		}
		payload, err := json.Marshal(replicateJob{repo.ID, d, tag, dest.Region, dest.RegistryID, now})
		if err != nil {
			return false, err
		}
		attempts := ReplicateAttempts
		if dest.Region != s.replication.region {
			attempts = peerAttempts // RunReplication ends it
		}
		ok, err := tx.EnqueueJob(&store.Job{Kind: ReplicateJobKind, UniqueKey: replicateJobKey(repo.ID, d, dest, now),
			Payload: payload, MaxAttempts: attempts, RunAt: now, CreatedAt: now})
		if err != nil {
			return false, err
		}
		queued = queued || ok
	}
	return queued, nil
}

// RunReplication runs a replication job: with the destination registry's policy allowing the source
// account, it creates the destination repository when missing (from the template that applies for
// REPLICATION, else with ECR's defaults) and copies the image — its manifests, its blobs linked (no bytes
// copied) and the tag it was pushed with — and records the replication COMPLETE, or FAILED with why.
// An image gone meanwhile is not replicated. A destination in another region is another deployment, which
// the image is pushed to (replicateRemote); while it cannot be reached the replication stays in progress and
// the job is retried, for PeerConfig.RetryFor from the push.
func (s *Service) RunReplication(ctx context.Context, j store.Job) error {
	var p replicateJob
	if err := json.Unmarshal(j.Payload, &p); err != nil {
		return fmt.Errorf("replication job %d: %w", j.ID, err)
	}
	dest := ReplicationDestination{p.Region, p.RegistryID}
	var src *store.Repository
	mine := func(st store.ImageReplicationStatus) bool {
		return st.Region == dest.Region && st.RegistryID == dest.RegistryID
	}
	listed := false
	err := s.meta.View(ctx, func(tx store.Tx) (err error) {
		if src, err = tx.GetRepositoryByID(p.RepositoryID); err != nil {
			return err
		}
		statuses, err := tx.ImageReplicationStatuses(src.ID, p.Digest)
		for _, st := range statuses {
			listed = listed || mine(st)
		}
		return err
	})
	// The image gone meanwhile (its statuses went with it): nothing to replicate any more. A later push
	// of the image to the destination may have ended the status meanwhile; this job still copies its tag.
	if errors.Is(err, store.ErrNotFound) || err == nil && !listed {
		return nil
	}
	if err != nil {
		return err
	}
	remote := dest.Region != s.replication.region
	var code string
	var pushed int64
	if remote {
		code, pushed, err = s.replicateRemote(ctx, src, p)
	} else {
		code, err = s.replicate(ctx, src, p)
	}
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return err // the node is stopping: another attempt replicates it
	case code == "" && (j.Attempts < ReplicateAttempts ||
		remote && errors.Is(err, ErrPeerUnavailable) && s.clock.Now().Sub(p.Started) < s.cfg.Peers.retryFor()):
		if remote {
			s.cfg.Peers.observe(dest.Region, "retry", pushed)
		}
		return err // the destination down stays IN_PROGRESS: it catches up when it returns
	default:
		s.log.Warn("image replication failed", "registry", src.RegistryID, "repository", src.Name, "digest", p.Digest,
			"destinationRegion", dest.Region, "destinationRegistry", dest.RegistryID, "code", code, "err", err)
		if code == "" {
			code = ReplicationErrorCode
		}
	}
	status := ReplicationComplete
	if code != "" {
		status = ReplicationFailed
	}
	if remote {
		s.cfg.Peers.observe(dest.Region, strings.ToLower(status), pushed)
		if code == "" {
			s.log.Info("image replicated to another region", "registry", src.RegistryID, "repository", src.Name, "digest", p.Digest,
				"tag", p.Tag, "destinationRegion", dest.Region, "destinationRegistry", dest.RegistryID, "bytesPushed", pushed)
		}
	}
	return internal(s.meta.Update(ctx, func(tx store.Tx) error {
		statuses, err := tx.ImageReplicationStatuses(p.RepositoryID, p.Digest)
		if err != nil {
			return err
		}
		for _, st := range statuses {
			if mine(st) && st.Status == ReplicationInProgress && st.UpdatedAt.Equal(p.Started) {
				st.Status, st.FailureCode, st.UpdatedAt = status, code, s.clock.Now()
				return tx.PutImageReplicationStatus(st)
			}
		}
		return nil
	}))
}

// replicate copies an image of src to the destination of p. It returns the failure code of a replication
// that cannot succeed ("" for an error another attempt may overcome).
func (s *Service) replicate(ctx context.Context, src *store.Repository, p replicateJob) (string, error) {
	name := src.Name
	if src.RegistryID != p.RegistryID {
		if err := s.replication.allow(ctx, src.RegistryID, p.RegistryID, name, "ecr:ReplicateImage"); err != nil {
			return ReplicateImageDenied, err
		}
	}
	exists := true
	err := s.meta.View(ctx, func(tx store.Tx) error {
		_, err := tx.GetRepository(p.RegistryID, name)
		if errors.Is(err, store.ErrNotFound) {
			exists = false
			return nil
		}
		return err
	})
	if err != nil {
		return "", err
	}
	if !exists && src.RegistryID != p.RegistryID {
		if err := s.replication.allow(ctx, src.RegistryID, p.RegistryID, name, "ecr:CreateRepository"); err != nil {
			return CreateRepositoryDenied, err
		}
	}
	scanQueued := false
	err = s.meta.Update(ctx, func(tx store.Tx) error {
		scanQueued = false
		dst, err := tx.GetRepository(p.RegistryID, name)
		if errors.Is(err, store.ErrNotFound) {
			t, err := templateFor(tx, p.RegistryID, name, ForReplication)
			if errors.Is(err, store.ErrNotFound) {
				t = &CreationTemplate{} // ECR's defaults
			} else if err != nil {
				return err
			}
			if dst, err = s.createFromTemplate(tx, p.RegistryID, name, t); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		if scanQueued, err = s.copyImage(tx, src, dst, p.Digest); err != nil {
			return err
		}
		if p.Tag == "" {
			return nil
		}
		if cur, err := tx.GetTag(src.ID, p.Tag); err != nil || cur.Digest != p.Digest {
			return nil // the tag moved on, or is gone, since the push: the push that moved it replicates it
		}
		prev, err := s.setTag(tx, dst, p.Tag, p.Digest)
		if err != nil || prev == p.Digest {
			return err
		}
		if err := s.emit(tx, Event{Type: EventImagePushed, RegistryID: dst.RegistryID, Repository: dst.Name, Digest: p.Digest, Tag: p.Tag}); err != nil {
			return err
		}
		if prev != "" {
			return s.emit(tx, Event{Type: EventTagMoved, RegistryID: dst.RegistryID, Repository: dst.Name, Digest: p.Digest, Tag: p.Tag, Previous: prev})
		}
		return nil
	})
	s.cache.invalidate()
	if scanQueued {
		s.wakeScans()
	}
	var re *Error
	if errors.As(err, &re) && re.Kind != KindInternal && re.Kind != KindStorageFull {
		return ReplicationErrorCode, err
	}
	return "", err
}

// copyImage stores image d of src in dst, unless dst holds it: the manifests of an index first, its blobs
// linked. It reports whether a scan of it was queued at the destination (scan on push applies there).
func (s *Service) copyImage(tx store.Tx, src, dst *store.Repository, d digest.Digest) (bool, error) {
	if _, err := tx.StatImage(dst.ID, d); err == nil {
		return false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	img, err := tx.GetImage(src.ID, d)
	if err != nil {
		return false, err
	}
	m, err := manifest.Parse(img.MediaType, img.Content)
	if err != nil {
		return false, err
	}
	now := s.clock.Now()
	var refs []store.Ref
	for _, b := range m.Blobs() {
		if err := tx.LinkBlob(dst.ID, b.Digest, now); err != nil {
			return false, err
		}
		refs = append(refs, store.Ref{Kind: store.RefBlob, Digest: b.Digest})
	}
	for _, c := range m.Manifests {
		if _, err := s.copyImage(tx, src, dst, c.Digest); err != nil {
			return false, err
		}
		refs = append(refs, store.Ref{Kind: store.RefManifest, Digest: c.Digest})
	}
	n, err := tx.CountImages(dst.ID)
	if err != nil {
		return false, err
	}
	if n >= s.cfg.Limits.ImagesPerRepository {
		return false, errf(KindLimitExceeded, "The maximum number of images (%d) in the repository with name '%s' has been reached", s.cfg.Limits.ImagesPerRepository, dst.Name)
	}
	cp := *img
	cp.RepositoryID, cp.PushedAt = dst.ID, now
	if err := tx.PutImage(&cp, refs); err != nil {
		return false, err
	}
	if err := s.emit(tx, Event{Type: EventImagePushed, RegistryID: dst.RegistryID, Repository: dst.Name, Digest: d, MediaType: img.MediaType}); err != nil {
		return false, err
	}
	return s.scanOnPush(tx, dst, &cp)
}

// ImageReplicationStatus is an image's replication to each destination that matched when it was pushed.
type ImageReplicationStatus struct {
	Image    *ImageDetail
	Statuses []store.ImageReplicationStatus
}

// DescribeImageReplicationStatus returns the replication status of an image: none for an image pushed
// when no rule matched its repository.
func (s *Service) DescribeImageReplicationStatus(ctx context.Context, registryID, name string, ref ImageRef) (*ImageReplicationStatus, error) {
	var out ImageReplicationStatus
	err := s.meta.View(ctx, func(tx store.Tx) error {
		r, err := s.repo(tx, registryID, name)
		if err != nil {
			return err
		}
		if out.Image, err = findImage(tx, r, ref); err != nil {
			return err
		}
		if out.Statuses, err = tx.ImageReplicationStatuses(r.ID, out.Image.Digest); err != nil {
			return err
		}
		// A replication whose job died (a store that failed every attempt, a node lost on the last one) failed.
		for i, st := range out.Statuses {
			if st.Status != ReplicationInProgress {
				continue
			}
			dest := ReplicationDestination{st.Region, st.RegistryID}
			died, err := jobDied(tx, replicateJobKey(r.ID, st.Digest, dest, st.UpdatedAt))
			if err != nil {
				return err
			}
			if died {
				out.Statuses[i].Status, out.Statuses[i].FailureCode = ReplicationFailed, ReplicationErrorCode
			}
		}
		return nil
	})
	if err != nil {
		return nil, internal(err)
	}
	return &out, nil
}

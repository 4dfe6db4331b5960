package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/manifest"
	"github.com/wharf-dev/wharf/internal/signing"
	"github.com/wharf-dev/wharf/internal/store"
)

// Signing states of an image under a signing profile, as ECR names them.
const (
	SigningInProgress = "IN_PROGRESS"
	SigningComplete   = "COMPLETE"
	SigningFailed     = "FAILED"
)

// Failure codes of a signing.
const (
	// SigningErrorCode: the registry's key could not sign (the log says why: a server secret that does not
	// open the key, a store that failed every attempt).
	SigningErrorCode = "SigningError"
	// SignaturePushFailedCode: the signature could not be stored in the repository (a limit reached).
	SignaturePushFailedCode = "SignaturePushFailed"
)

const (
	// SignJobKind is the kind of the durable job that signs one pushed image; RunSign runs it.
	SignJobKind = "image-sign"
	// SignAttempts is how many attempts a signing job has; the last one's failure is recorded FAILED.
	SignAttempts = 3
	// PolicySigning is the kind of policy of a signing configuration's EventPolicyChanged.
	PolicySigning = "signing"
)

// ImageSigner signs an image's descriptor with the registry's key (signing.Signer).
type ImageSigner interface {
	Sign(ctx context.Context, registryID string, target ocispec.Descriptor) (signing.Signature, error)
}

// SigningRule is a rule of a registry's signing configuration: images pushed to the repositories its
// filters match (every repository without filters) are signed under its signing profile. Wharf signs
// with its own key whatever the profile: it does not call AWS Signer, and reports the profile as given.
type SigningRule struct {
	SigningProfileARN string                    `json:"signingProfileArn"`
	RepositoryFilters []SigningRepositoryFilter `json:"repositoryFilters,omitempty"`
}

// SigningRepositoryFilter matches repository names: FilterType WILDCARD_MATCH, where * matches any
// characters.
type SigningRepositoryFilter struct {
	Filter     string `json:"filter"`
	FilterType string `json:"filterType"`
}

// SigningConfiguration is a registry's signing configuration.
type SigningConfiguration struct {
	Rules []SigningRule
}

const (
	signingProfilePattern = `^arn:aws(-[a-z]+)*:signer:[a-z0-9-]+:[0-9]{12}:\/signing-profiles\/[a-zA-Z0-9_]{2,}$`
	signingFilterPattern  = `^(?:[a-z0-9*]+(?:[._-][a-z0-9*]+)*/)*[a-z0-9*]+(?:[._-][a-z0-9*]+)*$`
)

var (
	signingProfileARN = regexp.MustCompile(signingProfilePattern)
	signingFilter     = regexp.MustCompile(signingFilterPattern)
)

// checkSigningConfiguration validates a configuration with ECR's messages.
func checkSigningConfiguration(c SigningConfiguration) error {
	at := func(field, constraint string, args ...any) error {
		return errf(KindInvalidParameter, "Invalid parameter at '%s' failed to satisfy constraint: '%s'", field, fmt.Sprintf(constraint, args...))
	}
	if c.Rules == nil {
		return at("signingConfiguration.rules", "Member must not be null")
	}
	if len(c.Rules) > 10 {
		return at("signingConfiguration.rules", "Member must have length less than or equal to 10")
	}
	for i, r := range c.Rules {
		field := fmt.Sprintf("signingConfiguration.rules.%d.", i+1)
		switch {
		case r.SigningProfileARN == "":
			return at(field+"signingProfileArn", "Member must not be null")
		case len(r.SigningProfileARN) > 200:
			return at(field+"signingProfileArn", "Member must have length less than or equal to 200")
		case !signingProfileARN.MatchString(r.SigningProfileARN):
			return at(field+"signingProfileArn", "Member must satisfy regular expression pattern: %s", signingProfilePattern)
		}
		if r.RepositoryFilters != nil && len(r.RepositoryFilters) < 1 {
			return at(field+"repositoryFilters", "Member must have length greater than or equal to 1")
		}
		if len(r.RepositoryFilters) > 100 {
			return at(field+"repositoryFilters", "Member must have length less than or equal to 100")
		}
		for j, f := range r.RepositoryFilters {
			ff := fmt.Sprintf("%srepositoryFilters.%d.", field, j+1)
			switch {
			case f.FilterType == "":
				return at(ff+"filterType", "Member must not be null")
			case f.FilterType != "WILDCARD_MATCH":
				return at(ff+"filterType", "Member must satisfy enum value set: [WILDCARD_MATCH]")
			case f.Filter == "":
				return at(ff+"filter", "Member must not be null")
			case len(f.Filter) > 256:
				return at(ff+"filter", "Member must have length less than or equal to 256")
			case !signingFilter.MatchString(f.Filter):
				return at(ff+"filter", "Member must satisfy regular expression pattern: %s", signingFilterPattern)
			}
		}
	}
	return nil
}

// signingProfiles are the distinct profiles of the rules that match a repository, in the rules' order.
func (c SigningConfiguration) signingProfiles(repository string) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range c.Rules {
		match := len(r.RepositoryFilters) == 0
		for _, f := range r.RepositoryFilters {
			match = match || wildcardMatch(f.Filter, repository)
		}
		if match && !seen[r.SigningProfileARN] {
			seen[r.SigningProfileARN] = true
			out = append(out, r.SigningProfileARN)
		}
	}
	return out
}

func signingNotFound(registryID string) error {
	return errf(KindSigningConfigurationNotFound, "Signing configuration does not exist in the registry with id '%s'", registryID)
}

// PutSigningConfiguration validates and sets a registry's signing configuration: images pushed from then
// on to repositories its rules match are signed.
func (s *Service) PutSigningConfiguration(ctx context.Context, registryID string, c SigningConfiguration) error {
	if err := checkSigningConfiguration(c); err != nil {
		return err
	}
	rules, err := json.Marshal(c.Rules)
	if err != nil {
		return err
	}
	err = s.meta.Update(ctx, func(tx store.Tx) error {
		if err := tx.SetSigningConfiguration(store.SigningConfiguration{RegistryID: registryID, Rules: string(rules), UpdatedAt: s.clock.Now()}); err != nil {
			return err
		}
		return s.emit(tx, Event{Type: EventPolicyChanged, RegistryID: registryID, Policy: PolicySigning, Change: PolicySet})
	})
	s.signing.forget(registryID)
	return internal(err)
}

// SigningConfiguration returns a registry's signing configuration (KindSigningConfigurationNotFound
// when none is set).
func (s *Service) SigningConfiguration(ctx context.Context, registryID string) (SigningConfiguration, error) {
	var c SigningConfiguration
	err := s.meta.View(ctx, func(tx store.Tx) (err error) {
		c, err = signingConfiguration(tx, registryID)
		return err
	})
	return c, internal(err)
}

func signingConfiguration(tx store.Tx, registryID string) (SigningConfiguration, error) {
	var c SigningConfiguration
	stored, err := tx.SigningConfiguration(registryID)
	if errors.Is(err, store.ErrNotFound) {
		return c, signingNotFound(registryID)
	}
	if err != nil {
		return c, err
	}
	return c, json.Unmarshal([]byte(stored.Rules), &c.Rules)
}

// DeleteSigningConfiguration removes a registry's signing configuration and returns it: images pushed from
// then on are not signed; signatures made stay.
func (s *Service) DeleteSigningConfiguration(ctx context.Context, registryID string) (SigningConfiguration, error) {
	var c SigningConfiguration
	err := s.meta.Update(ctx, func(tx store.Tx) (err error) {
		if c, err = signingConfiguration(tx, registryID); err != nil {
			return err
		}
		if err := tx.DeleteSigningConfiguration(registryID); err != nil {
			return err
		}
		return s.emit(tx, Event{Type: EventPolicyChanged, RegistryID: registryID, Policy: PolicySigning, Change: PolicyDeleted})
	})
	s.signing.forget(registryID)
	return c, internal(err)
}

// signable tells whether a pushed manifest is signed on push: an image or an index, not a referrer (a
// signature, an SBOM, an attestation: they have a subject) and not a schema 1 manifest, which carries
// its own signature.
func signable(img *store.Image) bool {
	if img.Subject != "" {
		return false
	}
	switch img.MediaType {
	case manifest.OCIManifest, manifest.DockerManifest, manifest.OCIIndex, manifest.DockerList:
		return true
	}
	return false
}

// signJob is the payload of a signing job.
type signJob struct {
	RepositoryID int64         `json:"repositoryId"`
	Digest       digest.Digest `json:"digest"`
}

// signingProfilesFor are the profiles under which an image pushed to repo now is signed: none when it is
// not signable or no rule matches. The configuration is read through a cache (see signingCache).
func (s *Service) signingProfilesFor(repo *store.Repository, img *store.Image) ([]string, error) {
	if !signable(img) {
		return nil, nil
	}
	c, err := s.signing.get(s, repo.RegistryID)
	if err != nil || c == nil {
		return nil, err
	}
	return c.signingProfiles(repo.Name), nil
}

// signOnPush records the signing of a new image in progress under each of profiles, and queues the job that
// signs it, in tx. It reports whether a job was queued.
func (s *Service) signOnPush(tx store.Tx, repo *store.Repository, img *store.Image, profiles []string) (bool, error) {
	if len(profiles) == 0 {
		return false, nil
	}
	now := s.clock.Now()
	for _, p := range profiles {
		if err := tx.PutImageSigningStatus(store.ImageSigningStatus{RepositoryID: repo.ID, Digest: img.Digest, ProfileARN: p,
			Status: SigningInProgress, UpdatedAt: now}); err != nil {
			return false, err
		}
	}
	payload, err := json.Marshal(signJob{repo.ID, img.Digest})
	if err != nil {
		return false, err
	}
	return tx.EnqueueJob(&store.Job{Kind: SignJobKind, UniqueKey: signJobKey(repo.ID, img.Digest, now),
		Payload: payload, MaxAttempts: SignAttempts, RunAt: now, CreatedAt: now})
}

// signJobKey is the unique key of the job that signs an image whose signing started at started.
// jobDied tells whether the job of work still in progress is dead or gone — a store that failed every
// attempt, a node lost on its last one —, so that the work failed.
func jobDied(tx store.Tx, key string) (bool, error) {
	j, err := tx.JobByKey(key)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return j.State == store.JobDead, nil
}

func signJobKey(repoID int64, d digest.Digest, started time.Time) string {
	return fmt.Sprintf("%s/%d/%s/%d", SignJobKind, repoID, d, started.UnixNano())
}

// signJobDied is why a signing in progress whose job is dead (or gone) failed.
const signJobDied = "The signing job ended without signing the image; the registry's log says why."

// signingCache keeps each registry's signing configuration (nil: none) for the manifest cache's time, so
// that a push reads none: a change made through another node applies within that time, one made through
// this node at once.
type signingCache struct {
	mu      sync.Mutex
	entries map[string]signingEntry
}

type signingEntry struct {
	c  *SigningConfiguration
	at time.Time
}

func (c *signingCache) get(s *Service, registryID string) (*SigningConfiguration, error) {
	now := s.clock.Now()
	c.mu.Lock()
	e, ok := c.entries[registryID]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < s.cfg.ManifestCacheTTL {
		return e.c, nil
	}
	cfg, err := s.SigningConfiguration(context.Background(), registryID)
	switch {
	case KindOf(err) == KindSigningConfigurationNotFound:
		e = signingEntry{nil, now}
	case err != nil:
		return nil, err
	default:
		e = signingEntry{&cfg, now}
	}
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]signingEntry{}
	}
	c.entries[registryID] = e
	c.mu.Unlock()
	return e.c, nil
}

func (c *signingCache) forget(registryID string) {
	c.mu.Lock()
	delete(c.entries, registryID)
	c.mu.Unlock()
}

// RunSign runs a signing job: it signs the image once with the registry's key, stores the signature in
// the image's repository as its referrer (a Notary Project signature, pushed as any manifest is), and
// records every profile in progress COMPLETE, or FAILED with why. An image gone meanwhile is not signed.
func (s *Service) RunSign(ctx context.Context, j store.Job) error {
	var p signJob
	if err := json.Unmarshal(j.Payload, &p); err != nil {
		return fmt.Errorf("signing job %d: %w", j.ID, err)
	}
	var repo *store.Repository
	var img *store.Image
	pending := false
	err := s.meta.View(ctx, func(tx store.Tx) (err error) {
		if repo, err = tx.GetRepositoryByID(p.RepositoryID); err != nil {
			return err
		}
		if img, err = tx.GetImage(repo.ID, p.Digest); err != nil {
			return err
		}
		statuses, err := tx.ImageSigningStatuses(repo.ID, p.Digest)
		for _, st := range statuses {
			pending = pending || st.Status == SigningInProgress
		}
		return err
	})
	if errors.Is(err, store.ErrNotFound) || err == nil && !pending {
		return nil // nothing to sign any more
	}
	if err != nil {
		return err
	}
	var sig digest.Digest
	code, reason := "", ""
	if s.cfg.Signer == nil {
		code, reason = SigningErrorCode, "This registry has no signing key."
	} else {
		target := ocispec.Descriptor{MediaType: img.MediaType, Digest: img.Digest, Size: int64(len(img.Content))}
		sig, err = s.pushSignature(ctx, repo, target)
		var de *Error
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return err // the node is stopping: another attempt signs it
		case errors.As(err, &de) && de.Kind != KindInternal && de.Kind != KindStorageFull:
			code, reason = SignaturePushFailedCode, de.Message
		case j.Attempts < SignAttempts:
			return err
		default:
			s.log.Warn("image signing failed", "registry", repo.RegistryID, "repository", repo.Name, "digest", img.Digest, "err", err)
			code, reason = SigningErrorCode, "The image could not be signed; the registry's log says why."
		}
	}
	return internal(s.meta.Update(ctx, func(tx store.Tx) error {
		statuses, err := tx.ImageSigningStatuses(p.RepositoryID, p.Digest)
		if err != nil {
			return err
		}
		for _, st := range statuses {
			if st.Status != SigningInProgress {
				continue
			}
			st.Status, st.FailureCode, st.FailureReason, st.Signature, st.UpdatedAt = SigningComplete, "", "", sig, s.clock.Now()
			if code != "" {
				st.Status, st.FailureCode, st.FailureReason = SigningFailed, code, reason
			}
			if err := tx.PutImageSigningStatus(st); err != nil {
				return err
			}
		}
		return nil
	}))
}

// pushSignature signs target and stores the signature as its referrer in repo, and returns the
// signature manifest's digest.
func (s *Service) pushSignature(ctx context.Context, repo *store.Repository, target ocispec.Descriptor) (digest.Digest, error) {
	sig, err := s.cfg.Signer.Sign(ctx, repo.RegistryID, target)
	if err != nil {
		return "", err
	}
	empty := ocispec.DescriptorEmptyJSON
	layer := ocispec.Descriptor{MediaType: sig.MediaType, Digest: digest.FromBytes(sig.Envelope), Size: int64(len(sig.Envelope))}
	for _, b := range []struct {
		d       ocispec.Descriptor
		content []byte
	}{{empty, empty.Data}, {layer, sig.Envelope}} {
		if _, err := s.StatBlob(ctx, repo.RegistryID, repo.Name, b.d.Digest); err == nil {
			continue
		}
		if _, err := s.PutBlob(ctx, repo.RegistryID, repo.Name, b.d.Digest, bytes.NewReader(b.content)); err != nil {
			return "", err
		}
	}
	m := ocispec.Manifest{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: sig.ArtifactType,
		Config:       ocispec.Descriptor{MediaType: empty.MediaType, Digest: empty.Digest, Size: empty.Size},
		Layers:       []ocispec.Descriptor{layer},
		Subject:      &target,
		Annotations:  sig.Annotations,
	}
	m.SchemaVersion = 2
	body, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	res, err := s.PutManifest(ctx, repo.RegistryID, repo.Name, digest.FromBytes(body).String(), ocispec.MediaTypeImageManifest, body)
	return res.Digest, err
}

// ImageSigningStatus is an image's signing under each profile that matched when it was pushed.
type ImageSigningStatus struct {
	Image    *ImageDetail
	Statuses []store.ImageSigningStatus
}

// DescribeImageSigningStatus returns the signing status of an image: none for an image pushed when no
// rule matched its repository.
func (s *Service) DescribeImageSigningStatus(ctx context.Context, registryID, name string, ref ImageRef) (*ImageSigningStatus, error) {
	var out ImageSigningStatus
	err := s.meta.View(ctx, func(tx store.Tx) error {
		r, err := s.repo(tx, registryID, name)
		if err != nil {
			return err
		}
		if out.Image, err = findImage(tx, r, ref); err != nil {
			return err
		}
		if out.Statuses, err = tx.ImageSigningStatuses(r.ID, out.Image.Digest); err != nil {
			return err
		}
		// A signing whose job died (a store that failed every attempt, a node lost on the last one) failed.
		for i, st := range out.Statuses {
			if st.Status != SigningInProgress {
				continue
			}
			died, err := jobDied(tx, signJobKey(r.ID, st.Digest, st.UpdatedAt))
			if err != nil {
				return err
			}
			if died {
				out.Statuses[i].Status, out.Statuses[i].FailureCode, out.Statuses[i].FailureReason = SigningFailed, SigningErrorCode, signJobDied
			}
		}
		return nil
	})
	if err != nil {
		return nil, internal(err)
	}
	return &out, nil
}

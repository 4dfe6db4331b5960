package registry

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/manifest"
	"github.com/wharf-dev/wharf/internal/store"
)

// DefaultPullThroughRefresh is how often a tag of a repository filled by a pull through cache is checked
// against its upstream at most: ECR's once a day.
const DefaultPullThroughRefresh = 24 * time.Hour

// tagRetry bounds how long a node waits before it looks again at a tag whose check failed or that is
// under no rule (a rule created since applies within it).
const tagRetry = time.Minute

// maxTagChecks bounds the tags whose next check a node remembers; past it the memo starts over.
const maxTagChecks = 100000

func (s *Service) refreshInterval() time.Duration {
	if s.cfg.Upstreams.Refresh > 0 {
		return s.cfg.Upstreams.Refresh
	}
	return DefaultPullThroughRefresh
}

// tagChecks remembers, on this node, when each tag pulled is due for a check against its upstream, so
// that the pulls in between read nothing more than they did. The time a tag was checked is kept in the
// store, for all nodes.
type tagChecks struct {
	mu   sync.RWMutex
	next map[string]time.Time
}

// claim tells whether key is due at now and, when it is, holds it until until (the check in progress).
func (c *tagChecks) claim(key string, now, until time.Time) bool {
	c.mu.RLock()
	notDue := now.Before(c.next[key])
	c.mu.RUnlock()
	if notDue { // most pulls: shared
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Before(c.next[key]) {
		return false
	}
	if c.next == nil || len(c.next) >= maxTagChecks {
		c.next = map[string]time.Time{}
	}
	c.next[key] = until
	return true
}

func (c *tagChecks) set(key string, next time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.next != nil {
		c.next[key] = next
	}
}

// checkDue tells whether a check upstream of ref (a tag, or an image's referrers under its digest) of a
// repository is due, and claims it for this node (key, in memory) until it is done or retried: the
// repository is under a pull through cache rule (returned, with the repository's name upstream), and ref
// was last checked, on any node, longer than the refresh interval ago.
func (s *Service) checkDue(ctx context.Context, registryID, name, ref, key string, now time.Time) (*PullThroughCacheRule, string, bool) {
	interval := s.refreshInterval()
	if !s.checks.claim(key, now, now.Add(min(interval, tagRetry))) {
		return nil, "", false
	}
	var rule *PullThroughCacheRule
	var upstreamName string
	var checked time.Time
	err := s.meta.View(ctx, func(tx store.Tx) (err error) {
		if rule, upstreamName, err = ruleFor(tx, registryID, name); err != nil || rule == nil {
			return err
		}
		if checked, err = tx.PullThroughTagChecked(registryID, name, ref); errors.Is(err, store.ErrNotFound) {
			return nil // never checked (fetched before checks were kept): due
		}
		return err
	})
	switch {
	case err != nil:
		s.log.Warn("pull through cache: reading the last check failed", "registry", registryID, "repository", name, "reference", ref, "err", err)
		return nil, "", false
	case rule == nil:
		return nil, "", false
	case now.Sub(checked) < interval:
		s.checks.set(key, checked.Add(interval))
		return nil, "", false
	}
	return rule, upstreamName, true
}

// refreshTag checks a tag of a repository under a pull through cache rule against its upstream when it
// was last checked longer than the refresh interval ago, and when the upstream's tag has moved, starts the
// fetch of its new image (served as a first pull is, from memory while it is stored). held is the digest
// the tag has here. An upstream that is down, refuses or rate-limits leaves the tag as it is: the cached
// image is served. It tells whether a fetch of the tag is in progress.
func (s *Service) refreshTag(ctx context.Context, registryID, name, tag string, held digest.Digest) bool {
	key := inflightKey(registryID, name, tag)
	now := s.clock.Now()
	rule, upstreamName, due := s.checkDue(ctx, registryID, name, tag, key, now)
	if !due {
		return false
	}
	// The check may fetch an image: only for a caller that may import one. A pull by another is served
	// the cached image, and leaves the check due for the next pull (which reads when it was last made).
	if authorize(ctx, "ecr:BatchImportUpstreamImage", name) != nil {
		s.checks.set(key, now)
		return false
	}
	ev := UpstreamFetch{RegistryID: registryID, Repository: name, Reference: tag, Upstream: rule.UpstreamURL,
		UpstreamRepository: upstreamName, Refresh: true}
	c, err := s.upstreamClient(ctx, rule)
	var d string
	if err == nil {
		d, err = c.Digest(ctx, upstreamName, tag, upstreamAccept)
	}
	if err != nil {
		ev.Result, ev.Err = fetchResult(err), err
		s.observe(ev)
		s.log.Warn("pull through cache: the tag could not be checked upstream; the cached image is served", "registry", registryID,
			"repository", name, "tag", tag, "upstream", rule.UpstreamURL, "err", err)
		return false
	}
	if d == held.String() {
		if err := s.meta.Update(ctx, func(tx store.Tx) error { return tx.SetPullThroughTagChecked(registryID, name, tag, now) }); err != nil {
			s.log.Warn("pull through cache: recording the tag's check failed", "registry", registryID, "repository", name, "tag", tag, "err", err)
		}
		s.checks.set(key, now.Add(s.refreshInterval()))
		ev.Result, ev.Digest = FetchUnchanged, held
		s.observe(ev)
		return false
	}
	// Moved upstream (or the upstream did not say its digest: fetched to find out).
	unlock := s.locks.lock("pull-through\x00" + key)
	defer unlock()
	if s.inflight.pull(registryID, name, tag) != nil {
		return true
	}
	l, err := s.fetchLease(ctx, registryID, name, tag)
	if err != nil || l == nil {
		return false // another node fetches the new image: the cached one meanwhile
	}
	if info, err := s.GetManifest(ctx, registryID, name, tag, nil); err != nil || info.Digest != held {
		s.release(ctx, l) // moved here meanwhile, by another node
		return false
	}
	if _, err := s.startPullThrough(refreshingTag(ctx, held), rule, upstreamName, registryID, name, tag, true, l); err != nil {
		return false // observed and logged
	}
	return true
}

// MaxUpstreamReferrers bounds the referrers of an image one check fetches from an upstream (each a pull
// by digest, waited for in the call that caused the check): an upstream that lists thousands has the
// others fetched at the next checks.
const MaxUpstreamReferrers = 64

// refreshReferrers fetches the referrers upstream of an image of a repository under a pull through cache
// rule (the referrers API, an index of descriptors) that the repository lacks, when they were last
// fetched longer than the refresh interval ago: each is pulled through by digest, as a first pull, and
// waited for. The time they were fetched is kept as a tag's check is, under the subject's digest (which
// no tag can be). An upstream that fails, or has no referrers API, leaves the referrers held here.
func (s *Service) refreshReferrers(ctx context.Context, registryID, name string, d digest.Digest) {
	ref := d.String()
	key := inflightKey(registryID, name, "referrers\x00"+ref)
	now := s.clock.Now()
	rule, upstreamName, due := s.checkDue(ctx, registryID, name, ref, key, now)
	if !due {
		return
	}
	if _, err := s.GetManifest(ctx, registryID, name, ref, nil); err != nil || authorize(ctx, "ecr:BatchImportUpstreamImage", name) != nil {
		s.checks.set(key, now) // not held here (nothing refers to it), or not for this caller to fetch: due still
		return
	}
	descs, err := s.upstreamReferrers(ctx, rule, upstreamName, d)
	if err != nil {
		s.log.Warn("pull through cache: the referrers could not be listed upstream; those held are served", "registry", registryID,
			"repository", name, "digest", d, "upstream", rule.UpstreamURL, "err", err)
		return
	}
	fetched := 0
	for _, desc := range descs {
		if _, err := s.GetManifest(ctx, registryID, name, desc.Digest.String(), nil); err == nil {
			continue // held already
		}
		if fetched++; fetched > MaxUpstreamReferrers {
			s.log.Warn("pull through cache: the upstream lists more referrers than a check fetches; the others at the next check",
				"registry", registryID, "repository", name, "digest", d, "referrers", len(descs), "fetched", MaxUpstreamReferrers)
			break
		}
		if _, err := s.pullThrough(ctx, registryID, name, desc.Digest.String(), true); err != nil {
			s.log.Warn("pull through cache: a referrer could not be fetched", "registry", registryID, "repository", name,
				"digest", desc.Digest, "subject", d, "err", err)
			return
		}
	}
	if err := s.meta.Update(ctx, func(tx store.Tx) error { return tx.SetPullThroughTagChecked(registryID, name, ref, now) }); err != nil {
		s.log.Warn("pull through cache: recording the referrers' fetch failed", "registry", registryID, "repository", name, "digest", d, "err", err)
	}
	s.checks.set(key, now.Add(s.refreshInterval()))
}

// upstreamReferrers lists the manifests upstream whose subject is d: none when the upstream has no
// referrers API (404).
func (s *Service) upstreamReferrers(ctx context.Context, rule *PullThroughCacheRule, upstreamName string, d digest.Digest) ([]ocispec.Descriptor, error) {
	c, err := s.upstreamClient(ctx, rule)
	if err != nil {
		return nil, err
	}
	res, err := c.Get(ctx, upstreamName, "/referrers/"+d.String(), manifest.OCIIndex)
	if errors.Is(err, ErrUpstreamNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var index struct {
		Manifests []ocispec.Descriptor `json:"manifests"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, s.cfg.Limits.ManifestSize)).Decode(&index); err != nil {
		return nil, err
	}
	var out []ocispec.Descriptor
	for _, desc := range index.Manifests {
		if desc.Digest.Validate() == nil {
			out = append(out, desc)
		}
	}
	return out, nil
}

// Results of a fetch from an upstream (UpstreamFetch.Result).
const (
	FetchFetched     = "fetched"     // an image fetched the first time
	FetchRefreshed   = "refreshed"   // a tag that moved upstream, its new image fetched
	FetchUnchanged   = "unchanged"   // a tag checked upstream, where it had not moved
	FetchNotFound    = "not-found"   // the upstream has no such image
	FetchDenied      = "denied"      // the upstream refused the credentials
	FetchThrottled   = "throttled"   // the upstream refused too many requests (429)
	FetchUnavailable = "unavailable" // the upstream could not be reached, or answered wrong
)

// UpstreamFetch is what a pull through cache did with an upstream: a fetch, or a tag's check, and how it
// ended. UpstreamConfig.Observe is told each (metrics); the fetches that started an import are recorded
// for the call that caused them (WithRecorder).
type UpstreamFetch struct {
	RegistryID, Repository, Reference string
	Upstream                          string // the rule's upstream registry URL
	UpstreamRepository                string // the repository's name upstream
	Refresh                           bool   // a tag's periodic check, not a first pull
	Result                            string // Fetch…
	Digest                            digest.Digest
	Bytes                             int64 // of manifests and blobs fetched
	Err                               error
}

// fetchResult is the result of a fetch that failed with err.
func fetchResult(err error) string {
	switch {
	case errors.Is(err, errTagMovedHere):
		return FetchUnchanged // the tag here is left to the push that moved it
	case errors.Is(err, ErrUpstreamNotFound) || KindOf(err) == KindManifestUnknown:
		return FetchNotFound
	case errors.Is(err, ErrUpstreamDenied) || KindOf(err) == KindInvalidParameter:
		return FetchDenied
	case errors.Is(err, ErrUpstreamThrottled):
		return FetchThrottled
	}
	return FetchUnavailable
}

func (s *Service) observe(ev UpstreamFetch) {
	if s.cfg.Upstreams.Observe != nil {
		s.cfg.Upstreams.Observe(ev)
	}
}

// Recorder records, for the call in progress, an action the core performed on its behalf besides the
// call's own (the ecr:BatchImportUpstreamImage of a pull through a cache), with its input, output and
// error. The pipeline puts one in the context of every call it runs (WithRecorder).
type Recorder func(action, repository string, input, output any, err error)

type recorderKey struct{}

// WithRecorder returns a context whose calls into the core record the actions they imply with r.
func WithRecorder(ctx context.Context, r Recorder) context.Context {
	return context.WithValue(ctx, recorderKey{}, r)
}

// record tells the context's recorder of an implied action; without one nothing is recorded.
func record(ctx context.Context, action, repository string, input, output any, err error) {
	if r, ok := ctx.Value(recorderKey{}).(Recorder); ok && r != nil {
		r(action, repository, input, output, err)
	}
}

// recordImport records the import a pull through started (or failed to), as ECR's
// BatchImportUpstreamImage: the image, its upstream and the upstream's name of the repository.
func recordImport(ctx context.Context, ev UpstreamFetch) {
	input := map[string]any{"registryId": ev.RegistryID, "repositoryName": ev.Repository,
		"upstreamRegistryUrl": ev.Upstream, "upstreamRepositoryName": ev.UpstreamRepository, "imageReference": ev.Reference}
	var output any
	if ev.Err == nil {
		output = map[string]any{"imageId": map[string]string{"imageDigest": ev.Digest.String()}, "result": ev.Result}
	}
	record(ctx, "ecr:BatchImportUpstreamImage", ev.Repository, input, output, ev.Err)
}

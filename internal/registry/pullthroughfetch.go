package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/manifest"
	"github.com/wharf-dev/wharf/internal/store"
)

// upstreamAccept is what a pull through asks its upstream for: every manifest type Wharf stores but
// schema 1, which registries convert to on request only.
var upstreamAccept = strings.Join([]string{manifest.OCIIndex, manifest.OCIManifest, manifest.DockerList, manifest.DockerManifest}, ", ")

// Causes of a pull through that did not succeed (KindUpstreamFailed errors wrap one): ECR's
// UpstreamAccessDenied, UpstreamTooManyRequests and UpstreamUnavailable.
var (
	ErrUpstreamDenied      = errors.New("upstream access denied")
	ErrUpstreamThrottled   = errors.New("upstream too many requests")
	ErrUpstreamUnavailable = errors.New("upstream unavailable")
)

// ErrUpstreamNotFound is the answer of an upstream that does not have what was asked for.
var ErrUpstreamNotFound = errors.New("not found upstream")

// upstreamFailed is the error of a pull through its upstream that did not succeed, for a cause.
func upstreamFailed(cause error, format string, args ...any) error {
	e := errf(KindUpstreamFailed, "The image could not be pulled through the cache from its upstream registry: "+format, args...)
	e.Err = cause
	return e
}

// PullThrough fetches what ref names (a tag or a digest) into a repository under a pull through cache
// rule, when the repository does not hold it or it is a tag that moved upstream (checked when due): as a
// pull does (GetManifestAs), for callers that read images otherwise (BatchGetImage). What the upstream
// does not have either is left to the caller to find missing, and so are references the registry API
// would refuse (ECR's longer tags).
func (s *Service) PullThrough(ctx context.Context, registryID, name, ref string) error {
	info, err := s.GetManifest(ctx, registryID, name, ref, nil)
	if err == nil && !IsDigest(ref) {
		s.refreshTag(ctx, registryID, name, ref, info.Digest)
		if p := s.inflight.pull(registryID, name, ref); p != nil {
			<-p.done // the tag moved upstream: its new image, or the one held when the fetch fails
		}
		return nil
	}
	if k := KindOf(err); k != KindRepositoryNotFound && k != KindManifestUnknown {
		return nil // held, or not for a pull through to find
	}
	if _, err = s.pullThrough(ctx, registryID, name, ref, true); KindOf(err) == KindManifestUnknown {
		return nil
	}
	return err
}

// ruleFor finds the pull through cache rule a repository name is under, the one with the longest prefix
// (ROOT last), and the repository's name upstream. It returns nil when no rule applies.
func ruleFor(tx store.Tx, registryID, name string) (*PullThroughCacheRule, string, error) {
	for i := len(name) - 1; i >= 0; i-- {
		if i > 0 && name[i] != '/' {
			continue
		}
		prefix, rest := RootPrefix, name
		if i > 0 {
			prefix, rest = name[:i], name[i+1:]
		}
		r, err := tx.GetPullThroughCacheRule(registryID, prefix)
		if errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, "", err
		}
		if p := r.UpstreamRepositoryPrefix; p != "" && p != RootPrefix {
			rest = p + "/" + rest
		}
		if r.UpstreamRegistry == UpstreamDockerHub && !strings.Contains(rest, "/") {
			rest = "library/" + rest // Docker Hub's official images
		}
		if up, _, err := ParseUpstreamURL(r.UpstreamURL, true); err == nil && up.Path != "" {
			rest = up.Path + "/" + rest
		}
		return r, rest, nil
	}
	return nil, "", nil
}

// pullThrough fetches what a pull names (a tag or a digest) from the upstream of the pull through cache
// rule the repository is under, when one is: the manifest and, for an index, the manifests of its images,
// each verified against its digest, then the repository (created as a pull through cache creates it).
// The blobs follow in the background, verified and stored as they arrive, while readers stream them
// (OpenBlob); the manifests are stored once their blobs are. Until then the manifests are served from
// memory (pendingManifest); with wait, pullThrough returns once everything is stored. The caller needs
// ecr:BatchImportUpstreamImage, and ecr:CreateRepository for a repository that does not exist.
// Concurrent pulls of one reference fetch once: in this process they share the fetch in progress; on
// several nodes, the node that takes the reference's lease in the store fetches it, and the others wait
// until it is stored there (they do not stream the bytes that node fetches), or take the lease over when
// it expires (that node died); their blob reads wait for the blobs that node fetches (awaitFetchedBlob).
// It tells whether a rule applied.
func (s *Service) pullThrough(ctx context.Context, registryID, name, ref string, wait bool) (bool, error) {
	var rule *PullThroughCacheRule
	var upstreamName string
	err := s.meta.View(ctx, func(tx store.Tx) (err error) {
		rule, upstreamName, err = ruleFor(tx, registryID, name)
		return err
	})
	if err != nil || rule == nil {
		return false, internal(err)
	}
	if err := authorize(ctx, "ecr:BatchImportUpstreamImage", name); err != nil {
		return true, err
	}
	// A caller who could not create the repository asks nothing of the upstream (a pull counted against
	// its rate limit) either.
	if _, err := s.Repository(ctx, registryID, name); KindOf(err) == KindRepositoryNotFound {
		if err := authorize(ctx, "ecr:CreateRepository", name); err != nil {
			return true, err
		}
	}
	for {
		unlock := s.locks.lock("pull-through\x00" + registryID + "\x00" + name + "\x00" + ref)
		p := s.inflight.pull(registryID, name, ref)
		if p == nil {
			if _, err := s.GetManifest(ctx, registryID, name, ref, nil); err == nil {
				unlock()
				return true, nil // fetched by a concurrent pull, here or on another node
			}
			l, err := s.fetchLease(ctx, registryID, name, ref)
			if err != nil {
				unlock()
				return true, err
			}
			if l == nil { // another node fetches it
				unlock()
				if err := sleep(ctx, leasePoll); err != nil {
					return true, err
				}
				continue
			}
			if _, err := s.GetManifest(ctx, registryID, name, ref, nil); err == nil {
				s.release(ctx, l) // stored by the node that held the lease before
				unlock()
				return true, nil
			}
			if p, err = s.startPullThrough(ctx, rule, upstreamName, registryID, name, ref, false, l); err != nil {
				unlock()
				return true, err
			}
		}
		unlock()
		if wait {
			<-p.done
			return true, p.err
		}
		return true, nil
	}
}

// The lease of a fetch from an upstream, which its holder renews while it fetches; a node that finds it
// held looks for what it fetches every leasePoll.
const (
	pullThroughLeaseTTL = 30 * time.Second
	leasePoll           = 100 * time.Millisecond
)

// fetchLease is a lease on the fetch of a reference from an upstream, held by one fetch on one node, and
// the leases it holds on its blobs (blobLeases). Its name has no NUL byte: PostgreSQL text cannot hold one.
type fetchLease struct {
	name, holder string
	blobs        blobLeases
}

// fetchLease takes the lease on the fetch of ref into a repository, nil when another fetch holds it.
func (s *Service) fetchLease(ctx context.Context, registryID, name, ref string) (*fetchLease, error) {
	l := &fetchLease{name: fetchLeaseName(registryID, name, ref), holder: newID()}
	var ok bool
	if err := s.meta.Update(ctx, func(tx store.Tx) (err error) {
		ok, err = tx.AcquireLease(l.name, l.holder, s.clock.Now(), pullThroughLeaseTTL)
		return err
	}); err != nil {
		return nil, internal(err)
	}
	if !ok {
		return nil, nil
	}
	return l, nil
}

// fetchLeaseName names the lease on the fetch of ref into a repository.
func fetchLeaseName(registryID, name, ref string) string {
	return "pull-through/" + registryID + "/" + name + "@" + ref
}

// keep renews the lease and those on its blobs until stop is closed, then releases them.
func (s *Service) keep(ctx context.Context, l *fetchLease, stop <-chan struct{}) {
	t := time.NewTicker(pullThroughLeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-stop:
			s.releaseBlobs(ctx, l)
			s.release(ctx, l)
			return
		case <-t.C:
			s.meta.Update(ctx, func(tx store.Tx) error {
				_, err := tx.AcquireLease(l.name, l.holder, s.clock.Now(), pullThroughLeaseTTL)
				return err
			})
			s.renewBlobs(ctx, l)
		}
	}
}

func (s *Service) release(ctx context.Context, l *fetchLease) {
	if err := s.meta.Update(context.WithoutCancel(ctx), func(tx store.Tx) error { return tx.ReleaseLease(l.name, l.holder) }); err != nil {
		s.log.Warn("pull through cache: releasing a fetch's lease failed", "lease", l.name, "err", err)
	}
}

// sleep waits for d, or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// startPullThrough fetches the manifests, makes the repository, and starts the fetch of the blobs; refresh
// tells a tag's check that found it moved upstream from a first pull. Once stored, a tag is recorded as
// checked. The import is recorded for the call, and observed. It holds l, the fetch's lease, until the
// fetch ends.
func (s *Service) startPullThrough(ctx context.Context, rule *PullThroughCacheRule, upstreamName, registryID, name, ref string, refresh bool, l *fetchLease) (*pendingPull, error) {
	ev := UpstreamFetch{RegistryID: registryID, Repository: name, Reference: ref, Upstream: rule.UpstreamURL,
		UpstreamRepository: upstreamName, Refresh: refresh, Result: FetchFetched}
	if refresh {
		ev.Result = FetchRefreshed
	}
	failed := func(err error) (*pendingPull, error) {
		s.release(ctx, l)
		ev.Result, ev.Err = fetchResult(err), err
		s.observe(ev)
		if ev.Result != FetchNotFound {
			recordImport(ctx, ev)
		}
		s.log.Warn("pull through cache: fetch failed", "registry", registryID, "repository", name, "reference", ref,
			"upstream", rule.UpstreamURL, "err", err)
		return nil, err
	}
	c, err := s.upstreamClient(ctx, rule)
	if err != nil {
		if KindOf(err) == KindInternal {
			s.release(ctx, l)
			return nil, err
		}
		return failed(upstreamFailed(ErrUpstreamDenied, "%s", err.(*Error).Message))
	}
	p := &pendingPull{done: make(chan struct{}), blobs: map[digest.Digest]*inflightBlob{}}
	f := &upstreamFetch{s: s, c: c, registryID: registryID, name: name, upstream: upstreamName, p: p, l: l,
		// The repository is made once the upstream has shown it has the image: a mistyped name
		// leaves no repository behind.
		found: func() error { return s.pullThroughRepository(ctx, registryID, name) }}
	if err := f.manifest(ctx, ref, 0, p); err != nil {
		return failed(err)
	}
	ev.Digest = p.manifests[len(p.manifests)-1].info.Digest
	recordImport(ctx, ev)
	s.holdBlobs(ctx, l, registryID, name, p) // before the manifest is served: the other nodes wait for them
	s.inflight.start(registryID, name, p)
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		ctx := context.WithValue(context.WithoutCancel(ctx), storingPullThroughKey{}, true)
		stop := make(chan struct{})
		kept := make(chan struct{})
		go func() { s.keep(ctx, l, stop); close(kept) }()
		p.err = f.store(ctx, p)
		if p.err == nil && !IsDigest(ref) {
			now := s.clock.Now()
			if err := s.meta.Update(ctx, func(tx store.Tx) error { return tx.SetPullThroughTagChecked(registryID, name, ref, now) }); err != nil {
				s.log.Warn("pull through cache: recording the tag's check failed", "registry", registryID, "repository", name, "tag", ref, "err", err)
			}
			s.checks.set(inflightKey(registryID, name, ref), now.Add(s.refreshInterval()))
		}
		s.inflight.finish(registryID, name, p)
		close(stop)
		<-kept // released once stored: a node waiting for it finds it
		close(p.done)
		ev.Bytes = p.fetched.Load()
		if p.err != nil {
			ev.Result, ev.Err = fetchResult(p.err), p.err
			s.observe(ev)
			s.log.Warn("pull through cache: fetch failed", "registry", registryID, "repository", name, "reference", ref,
				"upstream", rule.UpstreamURL, "err", p.err)
			return
		}
		s.observe(ev)
		s.log.Info("pull through cache: fetched", "registry", registryID, "repository", name, "reference", ref,
			"upstream", rule.UpstreamURL, "digest", ev.Digest, "bytes", ev.Bytes, "refresh", refresh)
	}()
	return p, nil
}

type storingPullThroughKey struct{}

// storingPullThrough tells whether ctx is a pull through's storing of what it fetched, which goes to
// the repository the pull made: one deleted meanwhile stays deleted (no create-on-push).
func storingPullThrough(ctx context.Context) bool {
	v, _ := ctx.Value(storingPullThroughKey{}).(bool)
	return v
}

type refreshingTagKey struct{}

// errTagMovedHere is a refreshed tag's move refused: the tag no longer names the image whose check found
// it moved upstream (a push or a delete here since).
var errTagMovedHere = errors.New("the tag changed in this registry since it was checked upstream: it is left as it is")

// refreshingTag is ctx for the fetch of a tag that moved upstream while here it names held: the tag
// is moved to the new image only if it names held still, so a push here meanwhile is never overwritten.
func refreshingTag(ctx context.Context, held digest.Digest) context.Context {
	return context.WithValue(ctx, refreshingTagKey{}, held)
}

// checkTagHeld refuses the move of a refreshed tag (refreshingTag) that no longer names the image it did
// when it was checked.
func checkTagHeld(ctx context.Context, tx store.Tx, repoID int64, tag string) error {
	held, ok := ctx.Value(refreshingTagKey{}).(digest.Digest)
	if !ok {
		return nil
	}
	cur, err := tx.GetTag(repoID, tag)
	if errors.Is(err, store.ErrNotFound) || err == nil && cur.Digest != held {
		return errTagMovedHere
	}
	return err
}

// pullThroughRepository makes sure the repository a pull through fills exists: created from the
// PULL_THROUGH_CACHE template that applies, else with ECR's defaults.
func (s *Service) pullThroughRepository(ctx context.Context, registryID, name string) error {
	if _, err := s.Repository(ctx, registryID, name); err == nil || KindOf(err) != KindRepositoryNotFound {
		return err
	}
	if err := authorize(ctx, "ecr:CreateRepository", name); err != nil {
		return err
	}
	_, err := s.CreateRepositoryFromTemplate(ctx, registryID, name, ForPullThroughCache)
	if KindOf(err) == KindRepositoryNotFound { // no template applies
		_, err = s.CreateRepository(ctx, store.Repository{RegistryID: registryID, Name: name, TagMutability: Mutable, EncryptionType: AES256})
	}
	if KindOf(err) == KindRepositoryExists {
		return nil
	}
	if err == nil {
		s.log.Info("repository created by a pull through cache", "registry", registryID, "repository", name)
	}
	return err
}

// upstreamFetch copies images from one upstream repository into one repository.
type upstreamFetch struct {
	s          *Service
	c          UpstreamClient
	registryID string
	name       string
	upstream   string // the repository's name upstream
	p          *pendingPull
	l          *fetchLease
	// found is called once the first manifest has been fetched and verified, before anything is stored.
	found func() error
}

// get fetches path of the repository upstream: nil when the upstream does not have it.
func (f *upstreamFetch) get(ctx context.Context, path, accept string) (*UpstreamResponse, error) {
	res, err := f.c.Get(ctx, f.upstream, path, accept)
	switch {
	case err == nil:
		return res, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.Is(err, ErrUpstreamNotFound):
		return nil, nil
	}
	cause := ErrUpstreamUnavailable
	if errors.Is(err, ErrUpstreamDenied) {
		cause = ErrUpstreamDenied
	} else if errors.Is(err, ErrUpstreamThrottled) {
		cause = ErrUpstreamThrottled
	}
	return nil, upstreamFailed(cause, "%v", err)
}

// manifest fetches the manifest ref names, and the manifests of an index, into p: the manifests to
// store (an index after its images) and the blobs to fetch first.
func (f *upstreamFetch) manifest(ctx context.Context, ref string, depth int, p *pendingPull) error {
	if depth > 0 {
		if _, err := f.s.GetManifest(ctx, f.registryID, f.name, ref, nil); err == nil {
			return nil // held already
		}
	}
	res, err := f.get(ctx, "/manifests/"+ref, upstreamAccept)
	if err != nil {
		return err
	}
	if res == nil {
		return manifestUnknown(f.name, ref)
	}
	defer res.Body.Close()
	max := f.s.cfg.Limits.ManifestSize
	body, err := io.ReadAll(io.LimitReader(res.Body, max+1))
	if err != nil {
		return upstreamFailed(ErrUpstreamUnavailable, "reading the manifest: %v", err)
	}
	if int64(len(body)) > max {
		return upstreamFailed(ErrUpstreamUnavailable, "the manifest is larger than %d bytes", max)
	}
	p.fetched.Add(int64(len(body)))
	// Verified: against the digest pulled by, else the digest the upstream says it has.
	want := res.Digest
	if IsDigest(ref) {
		want = ref
	}
	if want != "" {
		d, err := digest.Parse(want)
		if err != nil || d.Algorithm().FromBytes(body) != d {
			return upstreamFailed(ErrUpstreamUnavailable, "the manifest does not match its digest %s", want)
		}
	}
	contentType := res.ContentType
	m, err := manifest.Parse(contentType, body)
	if err != nil {
		return upstreamFailed(ErrUpstreamUnavailable, "the manifest is not valid: %v", err)
	}
	if limit := f.s.cfg.Limits.LayersPerImage; len(m.Layers) > limit { // not fetched to be refused once stored
		return upstreamFailed(ErrUpstreamUnavailable, "the image has %d layers; the limit is %d layers per image", len(m.Layers), limit)
	}
	if depth == 0 {
		if err := f.found(); err != nil {
			return err
		}
	}
	if m.Kind == manifest.Index {
		if depth > 0 {
			return upstreamFailed(ErrUpstreamUnavailable, "an index inside an index")
		}
		for _, child := range m.Manifests {
			if err := f.manifest(ctx, child.Digest.String(), depth+1, p); err != nil {
				return err
			}
		}
	}
	for _, b := range m.Blobs() {
		if _, held := p.blobs[b.Digest]; held {
			continue
		}
		// Stored already; a blob another pull is fetching is fetched here too (that pull may fail).
		if _, err := f.s.storedBlob(ctx, f.registryID, f.name, b.Digest); err == nil {
			continue
		}
		p.blobs[b.Digest] = newInflightBlob(b)
	}
	p.manifests = append(p.manifests, pendingManifest{ref: ref, contentType: contentType,
		info: &ManifestInfo{Digest: digest.Canonical.FromBytes(body), MediaType: m.MediaType, Content: body}})
	return nil
}

// maxBlobFetches bounds the blobs of one pull fetched at once (a client pulls a few layers at a time).
const maxBlobFetches = 4

// store fetches the blobs of p, a few at a time, then stores its manifests.
func (f *upstreamFetch) store(ctx context.Context, p *pendingPull) error {
	sem := make(chan struct{}, maxBlobFetches)
	errs := make(chan error, len(p.blobs))
	for _, b := range p.blobs {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			err := f.blob(ctx, b)
			b.end(err)
			f.s.releaseBlob(ctx, f.l, f.registryID, f.name, b.desc.Digest) // stored, or failed
			errs <- err
		}()
	}
	var first error
	for range p.blobs {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return first
	}
	for _, m := range p.manifests {
		if _, err := f.s.PutManifest(ctx, f.registryID, f.name, m.ref, m.contentType, m.info.Content); err != nil {
			return fmt.Errorf("storing the manifest: %w", err)
		}
	}
	return nil
}

// blob fetches a blob and stores it, its bytes going to the readers of b as they arrive.
func (f *upstreamFetch) blob(ctx context.Context, b *inflightBlob) error {
	d := b.desc
	res, err := f.get(ctx, "/blobs/"+d.Digest.String(), "")
	if err != nil {
		return err
	}
	if res == nil {
		return upstreamFailed(ErrUpstreamUnavailable, "the upstream registry has no blob %s", d.Digest)
	}
	defer res.Body.Close()
	info, err := f.s.PutBlob(ctx, f.registryID, f.name, d.Digest, io.TeeReader(io.LimitReader(res.Body, d.Size+1), b))
	if KindOf(err) == KindDigestInvalid {
		return upstreamFailed(ErrUpstreamUnavailable, "the blob does not match its digest %s", d.Digest)
	}
	if err != nil {
		return err
	}
	if info.Size != d.Size {
		return upstreamFailed(ErrUpstreamUnavailable, "the blob %s has %d bytes, not the %d of its descriptor", d.Digest, info.Size, d.Size)
	}
	f.p.fetched.Add(info.Size)
	return nil
}

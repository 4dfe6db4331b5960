package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

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

// upstreamFailed is the error of a pull through its upstream that did not succeed, for a cause.
func upstreamFailed(cause error, format string, args ...any) error {
	e := errf(KindUpstreamFailed, "The image could not be pulled through the cache from its upstream registry: "+format, args...)
	e.Err = cause
	return e
}

// PullThrough fetches what ref names (a tag or a digest) into a repository under a pull through cache
// rule, when the repository does not hold it: as a pull does (GetManifestAs), for callers that read
// images otherwise (BatchGetImage). What the upstream does not have either is left to the caller to
// find missing, and so are references the registry API would refuse (ECR's longer tags).
func (s *Service) PullThrough(ctx context.Context, registryID, name, ref string) error {
	_, err := s.GetManifest(ctx, registryID, name, ref, nil)
	if k := KindOf(err); k != KindRepositoryNotFound && k != KindManifestUnknown {
		return nil // held, or not for a pull through to find
	}
	if _, err = s.pullThrough(ctx, registryID, name, ref); KindOf(err) == KindManifestUnknown {
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
// rule the repository is under, when one is, and stores it: the repository (created as a pull through
// cache creates it), the manifest, the manifests of an index and every blob, each verified against its
// digest. The caller needs ecr:BatchImportUpstreamImage, and ecr:CreateRepository for a repository
// that does not exist. Concurrent pulls of one reference in this process fetch once. It tells whether a
// rule applied.
func (s *Service) pullThrough(ctx context.Context, registryID, name, ref string) (bool, error) {
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
	unlock := s.locks.lock("pull-through\x00" + registryID + "\x00" + name + "\x00" + ref)
	defer unlock()
	if _, err := s.GetManifest(ctx, registryID, name, ref, nil); err == nil {
		return true, nil // fetched by a concurrent pull
	}
	c, err := s.upstreamClient(ctx, rule)
	if err != nil {
		if KindOf(err) == KindInternal {
			return true, err
		}
		return true, upstreamFailed(ErrUpstreamDenied, "%s", err.(*Error).Message)
	}
	f := &upstreamFetch{s: s, c: c, registryID: registryID, name: name, upstream: upstreamName,
		// The repository is made once the upstream has shown it has the image: a mistyped name
		// leaves no repository behind.
		found: func() error { return s.pullThroughRepository(ctx, registryID, name) }}
	if err := f.manifest(ctx, ref, 0); err != nil {
		s.log.Warn("pull through cache: fetch failed", "registry", registryID, "repository", name, "reference", ref,
			"upstream", rule.UpstreamURL, "err", err)
		return true, err
	}
	s.log.Info("pull through cache: fetched", "registry", registryID, "repository", name, "reference", ref, "upstream", rule.UpstreamURL)
	return true, nil
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
	c          *upstreamClient
	registryID string
	name       string
	upstream   string // the repository's name upstream
	// found is called once the first manifest has been fetched and verified, before anything is stored.
	found func() error
}

func (f *upstreamFetch) get(ctx context.Context, path, accept string) (*http.Response, error) {
	h := http.Header{}
	if accept != "" {
		h.Set("Accept", accept)
	}
	res, err := f.c.do(ctx, http.MethodGet, "/v2/"+f.upstream+path, "repository:"+f.upstream+":pull", h)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, upstreamFailed(ErrUpstreamUnavailable, "%v", err)
	}
	if res.StatusCode == http.StatusOK {
		return res, nil
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	switch res.StatusCode {
	case http.StatusNotFound:
		return nil, nil
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, upstreamFailed(ErrUpstreamDenied, "%v", errUpstreamAuth)
	case http.StatusTooManyRequests:
		return nil, upstreamFailed(ErrUpstreamThrottled, "the upstream registry refused the request: too many requests (HTTP 429)")
	}
	return nil, upstreamFailed(ErrUpstreamUnavailable, "the upstream registry answered HTTP %d to GET %s", res.StatusCode, "/v2/"+f.upstream+path)
}

// manifest fetches and stores the manifest ref names, after what it references.
func (f *upstreamFetch) manifest(ctx context.Context, ref string, depth int) error {
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
	// Verified: against the digest pulled by, else the digest the upstream says it has.
	want := res.Header.Get("Docker-Content-Digest")
	if IsDigest(ref) {
		want = ref
	}
	if want != "" {
		d, err := digest.Parse(want)
		if err != nil || d.Algorithm().FromBytes(body) != d {
			return upstreamFailed(ErrUpstreamUnavailable, "the manifest does not match its digest %s", want)
		}
	}
	contentType := res.Header.Get("Content-Type")
	m, err := manifest.Parse(contentType, body)
	if err != nil {
		return upstreamFailed(ErrUpstreamUnavailable, "the manifest is not valid: %v", err)
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
			if err := f.manifest(ctx, child.Digest.String(), depth+1); err != nil {
				return err
			}
		}
	}
	for _, b := range m.Blobs() {
		if err := f.blob(ctx, b); err != nil {
			return err
		}
	}
	if _, err := f.s.PutManifest(ctx, f.registryID, f.name, ref, contentType, body); err != nil {
		return fmt.Errorf("storing the manifest: %w", err)
	}
	return nil
}

// blob fetches and stores a blob the repository does not hold.
func (f *upstreamFetch) blob(ctx context.Context, d ocispec.Descriptor) error {
	if _, err := f.s.StatBlob(ctx, f.registryID, f.name, d.Digest); err == nil {
		return nil
	}
	res, err := f.get(ctx, "/blobs/"+d.Digest.String(), "")
	if err != nil {
		return err
	}
	if res == nil {
		return upstreamFailed(ErrUpstreamUnavailable, "the upstream registry has no blob %s", d.Digest)
	}
	defer res.Body.Close()
	info, err := f.s.PutBlob(ctx, f.registryID, f.name, d.Digest, io.LimitReader(res.Body, d.Size+1))
	if KindOf(err) == KindDigestInvalid {
		return upstreamFailed(ErrUpstreamUnavailable, "the blob does not match its digest %s", d.Digest)
	}
	if err != nil {
		return err
	}
	if info.Size != d.Size {
		return upstreamFailed(ErrUpstreamUnavailable, "the blob %s has %d bytes, not the %d of its descriptor", d.Digest, info.Size, d.Size)
	}
	return nil
}

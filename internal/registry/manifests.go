package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/manifest"
	"github.com/wharf-dev/wharf/internal/store"
)

// ManifestInfo is a manifest as stored.
type ManifestInfo struct {
	Digest    digest.Digest
	MediaType string
	Subject   digest.Digest
	Content   []byte
	// Image is set when the manifest is a conversion (GetManifestAs): the digest of the stored image.
	Image digest.Digest
	// Unacceptable tells that the manifest is in none of the formats asked for (GetManifestAs).
	Unacceptable bool
}

// PutManifestResult tells what a manifest push did.
type PutManifestResult struct {
	Digest  digest.Digest
	Subject digest.Digest
	// Unchanged is true when the repository already held this image under this tag (or, for a push by
	// digest, this image): the push changed nothing.
	Unchanged bool
}

// PutManifest stores a manifest in a repository under ref, a tag or the manifest's digest: a registry
// push. Pushing an image again changes nothing and succeeds.
// Every rule of an image push is applied here: size and layer limits, the manifest's own validity,
// blobs and child manifests present in the repository, tag immutability, tags per image, images per
// repository.
func (s *Service) PutManifest(ctx context.Context, registryID, name, ref, contentType string, body []byte) (PutManifestResult, error) {
	if IsDigest(ref) {
		d, err := ParseDigest(ref)
		if err != nil {
			return PutManifestResult{}, err
		}
		return s.putImage(ctx, registryID, name, ImageRef{Digest: d}, OCITags, contentType, body)
	}
	return s.putImage(ctx, registryID, name, ImageRef{Tag: ref}, OCITags, contentType, body)
}

// PutImage stores a manifest as an image, tagged when ref has a tag: ECR's PutImage. With a digest in ref
// the manifest must hash to it. Unlike a registry push, putting an image that is already there under
// that tag (or, without a tag, at all) is refused with KindImageAlreadyExists. Tags follow ECRTags.
func (s *Service) PutImage(ctx context.Context, registryID, name string, ref ImageRef, contentType string, body []byte) (PutManifestResult, error) {
	res, err := s.putImage(ctx, registryID, name, ref, ECRTags, contentType, body)
	if err == nil && res.Unchanged {
		tag := ref.Tag
		if tag == "" {
			tag = "null"
		}
		return res, &Error{Kind: KindImageAlreadyExists, Message: fmt.Sprintf(
			"Image with digest '%s' and tag '%s' already exists in the repository with name '%s' in registry with id '%s'", res.Digest, tag, name, registryID)}
	}
	return res, err
}

func (s *Service) putImage(ctx context.Context, registryID, name string, ref ImageRef, rule TagRule, contentType string, body []byte) (PutManifestResult, error) {
	var res PutManifestResult
	if int64(len(body)) > s.cfg.Limits.ManifestSize {
		return res, errf(KindSizeInvalid, "manifest of %d bytes exceeds the limit of %d bytes", len(body), s.cfg.Limits.ManifestSize)
	}
	tag := ref.Tag
	// A signed schema 1 manifest's digest is its payload's, as Docker defines it; any other's is its bytes'.
	d := manifest.Digest(digest.Canonical, body)
	if want := ref.Digest; want != "" {
		if want.Algorithm() != d.Algorithm() {
			d = manifest.Digest(want.Algorithm(), body)
		}
		if d != want {
			return res, &Error{Kind: KindManifestDigestMismatch, Fields: Fields{Digest: want},
				Message: fmt.Sprintf("The digest of the manifest, %s, does not match the digest provided, %s", d, want)}
		}
	}
	if tag != "" {
		if err := rule.Validate(tag); err != nil {
			return res, err
		}
	}
	m, err := manifest.Parse(contentType, body)
	if errors.Is(err, manifest.ErrUnsupported) {
		return res, errf(KindUnsupported, "%v", err)
	}
	if err != nil {
		return res, &Error{Kind: KindManifestInvalid, Message: err.Error(), Err: err}
	}
	if len(m.Layers) > s.cfg.Limits.LayersPerImage {
		return res, errf(KindManifestInvalid, "the image has %d layers; the limit is %d layers per image", len(m.Layers), s.cfg.Limits.LayersPerImage)
	}
	repo, err := s.repoForPush(ctx, registryID, name)
	if err != nil {
		return res, err
	}
	img := &store.Image{
		RepositoryID: repo.ID,
		Digest:       d,
		MediaType:    m.MediaType,
		ArtifactType: m.ArtifactType,
		Size:         m.Size(len(body)),
		PushedAt:     s.clock.Now(),
		Content:      body,
	}
	if m.Subject != nil {
		img.Subject = m.Subject.Digest
		res.Subject = m.Subject.Digest
	}
	if len(m.Annotations) > 0 {
		a, _ := json.Marshal(m.Annotations)
		img.Annotations = string(a)
	}
	var refs []store.Ref
	described := map[digest.Digest]ocispec.Descriptor{} // what the manifest says of each blob and child
	for _, b := range m.Blobs() {
		if prev, ok := described[b.Digest]; ok && prev.Size != b.Size {
			return res, errf(KindManifestInvalid, "blob %s is described with sizes %d and %d", b.Digest, prev.Size, b.Size)
		}
		described[b.Digest] = b
		refs = append(refs, store.Ref{Kind: store.RefBlob, Digest: b.Digest})
	}
	for _, c := range m.Manifests {
		if prev, ok := described[c.Digest]; ok && (prev.Size != c.Size || prev.MediaType != c.MediaType) {
			return res, errf(KindManifestInvalid, "manifest %s is described twice, differently", c.Digest)
		}
		described[c.Digest] = c
		refs = append(refs, store.Ref{Kind: store.RefManifest, Digest: c.Digest})
	}
	res.Digest = d
	profiles, err := s.signingProfilesFor(repo, img)
	if err != nil {
		return res, internal(err)
	}
	dests, err := s.replicationDestinations(repo)
	if err != nil {
		return res, internal(err)
	}
	if len(dests) > 0 && replica(ctx, name) {
		dests = nil // replicas are not replicated further
	}

	scanQueued, signQueued, replicateQueued := false, false, false
	// pushed records a push: its event, and its replication to the destinations that apply.
	pushed := func(tx store.Tx, repo *store.Repository) (err error) {
		if len(dests) > 0 {
			if replicateQueued, err = s.replicateOnPush(tx, repo, d, tag, dests); err != nil {
				return err
			}
		}
		return s.emit(tx, Event{Type: EventImagePushed, RegistryID: repo.RegistryID, Repository: repo.Name, Digest: d, MediaType: img.MediaType, Tag: tag})
	}
	err = s.meta.Update(ctx, func(tx store.Tx) error {
		res.Unchanged, scanQueued, signQueued, replicateQueued = false, false, false, false
		// The repository as it is now, in this transaction: its tag mutability may have changed, or it
		// may be gone, since it was looked up.
		repo, err := reload(tx, repo)
		if err != nil {
			return err
		}
		existing, err := tx.StatImage(repo.ID, d)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if err := s.checkNewImage(tx, repo, img, refs, described); err != nil {
				return err
			}
			if scanQueued, err = s.scanOnPush(tx, repo, img); err != nil {
				return err
			}
			if signQueued, err = s.signOnPush(tx, repo, img, profiles); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			if scanQueued, err = s.scanExpiredOnPush(tx, repo, img); err != nil {
				return err
			}
			// An archived image pushed again is restored at once, as ECR does.
			restored, err := s.restoreOnPush(tx, repo, d)
			if err != nil {
				return err
			}
			if restored {
				existing = nil // reported as a push of the image
			}
		}
		if tag == "" {
			res.Unchanged = existing != nil
			if existing == nil {
				return pushed(tx, repo)
			}
			return nil
		}
		if err := checkTagHeld(ctx, tx, repo.ID, tag); err != nil {
			return err
		}
		prev, err := s.setTag(tx, repo, tag, d)
		res.Unchanged = prev == d && existing != nil
		if err != nil || res.Unchanged {
			return err
		}
		// A push: a new image, or a tag put on an image (ECR reports both as a PUSH).
		if err := pushed(tx, repo); err != nil {
			return err
		}
		if prev != "" && prev != d {
			return s.emit(tx, Event{Type: EventTagMoved, RegistryID: repo.RegistryID, Repository: repo.Name, Digest: d, Tag: tag, Previous: prev})
		}
		return nil
	})
	s.cache.invalidate()
	if err == nil && (scanQueued || signQueued || replicateQueued) {
		s.wakeScans()
	}
	return res, internal(err)
}

// checkNewImage checks an image not yet in the repository and stores it: the blobs and child manifests
// it names must be in the repository, as the manifest describes them (size; a child's media type too).
func (s *Service) checkNewImage(tx store.Tx, repo *store.Repository, img *store.Image, refs []store.Ref, described map[digest.Digest]ocispec.Descriptor) error {
	n, err := tx.CountImages(repo.ID)
	if err != nil {
		return err
	}
	if n >= s.cfg.Limits.ImagesPerRepository {
		return errf(KindLimitExceeded, "The maximum number of images (%d) in the repository with name '%s' has been reached", s.cfg.Limits.ImagesPerRepository, repo.Name)
	}
	for _, r := range refs {
		switch r.Kind {
		case store.RefBlob:
			b, err := tx.GetLinkedBlob(repo.ID, r.Digest)
			if errors.Is(err, store.ErrNotFound) {
				return &Error{Kind: KindManifestBlobUnknown, Message: fmt.Sprintf("blob %s is not in repository '%s'; push it before the manifest", r.Digest, repo.Name),
					Fields: Fields{RegistryID: repo.RegistryID, Repository: repo.Name, Digest: r.Digest}}
			} else if err != nil {
				return err
			}
			want := described[r.Digest].Size
			if want < 0 { // a schema 1 manifest gives no sizes: the image's size is its layers' as stored
				img.Size += b.Size
				continue
			}
			if b.Size != want {
				return &Error{Kind: KindManifestInvalid, Fields: Fields{Digest: r.Digest}, Message: fmt.Sprintf(
					"blob %s holds %d bytes but the manifest gives its size as %d", r.Digest, b.Size, want)}
			}
		case store.RefManifest:
			child, err := tx.GetImage(repo.ID, r.Digest)
			if errors.Is(err, store.ErrNotFound) {
				return &Error{Kind: KindManifestChildUnknown, Message: fmt.Sprintf("manifest %s is not in repository '%s'; push it before the index", r.Digest, repo.Name),
					Fields: Fields{RegistryID: repo.RegistryID, Repository: repo.Name, Digest: r.Digest}}
			} else if err != nil {
				return err
			}
			if want := described[r.Digest]; int64(len(child.Content)) != want.Size || child.MediaType != want.MediaType {
				return &Error{Kind: KindManifestInvalid, Fields: Fields{Digest: r.Digest}, Message: fmt.Sprintf(
					"manifest %s is a %s of %d bytes but the index describes a %s of %d bytes", r.Digest, child.MediaType, len(child.Content), want.MediaType, want.Size)}
			}
		}
	}
	return tx.PutImage(img, refs)
}

// setTag points tag at image d, applying the repository's tag mutability (tagImmutable) and the
// tags-per-image limit: every way a tag is moved comes here. It returns the
// image the tag named before ("" for a new tag; d when it pointed at d already, and nothing changed).
func (s *Service) setTag(tx store.Tx, repo *store.Repository, tag string, d digest.Digest) (digest.Digest, error) {
	cur, err := tx.GetTag(repo.ID, tag)
	switch {
	case err == nil && cur.Digest == d:
		return d, nil
	case err == nil && tagImmutable(repo, tag):
		return cur.Digest, &Error{Kind: KindImageTagAlreadyExists,
			Message: fmt.Sprintf("The image tag '%s' already exists in the '%s' repository and cannot be overwritten because the repository is immutable.", tag, repo.Name)}
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return "", err
	}
	var prev digest.Digest
	if cur != nil {
		prev = cur.Digest
	}
	tags, err := tx.ImageTags(repo.ID, d)
	if err != nil {
		return prev, err
	}
	if len(tags) >= s.cfg.Limits.TagsPerImage {
		return prev, errf(KindLimitExceeded, "image %s already has %d tags; the limit is %d tags per image", d, len(tags), s.cfg.Limits.TagsPerImage)
	}
	return prev, tx.PutTag(repo.ID, store.Tag{Name: tag, Digest: d, UpdatedAt: s.clock.Now()})
}

// GetManifest returns the manifest a tag or digest names. A pull (not a HEAD request) names its caller
// in pulledBy — a user's ARN, or a role session's ARN and its role's — and updates the image's last pull
// time, unless the registry excludes that caller from pull time updates.
func (s *Service) GetManifest(ctx context.Context, registryID, name, ref string, pulledBy []string) (*ManifestInfo, error) {
	key := cacheKey{registryID, name, ref}
	now := s.clock.Now()
	pull := pulledBy != nil
	touch := pull && !s.excludedFromPullTime(registryID, pulledBy)
	if e, ok := s.cache.get(key, now); ok && e.info != nil {
		if pull {
			s.pulls.pull(registryID, name, e.repoID, e.info.Digest, now, touch)
		}
		return e.info, nil
	}
	gen := s.cache.gen.Load()
	var info *ManifestInfo
	var repoID int64
	err := s.meta.View(ctx, func(tx store.Tx) error {
		r, err := s.repo(tx, registryID, name)
		if err != nil {
			return err
		}
		repoID = r.ID
		var d digest.Digest
		if IsDigest(ref) {
			if d, err = ParseDigest(ref); err != nil {
				return err
			}
		} else {
			if err := ValidateTag(ref); err != nil {
				return err
			}
			t, err := tx.GetTag(r.ID, ref)
			if errors.Is(err, store.ErrNotFound) {
				return manifestUnknown(name, ref)
			}
			if err != nil {
				return err
			}
			d = t.Digest
		}
		img, err := tx.GetImage(r.ID, d)
		if errors.Is(err, store.ErrNotFound) {
			return manifestUnknown(name, ref)
		}
		if err != nil {
			return err
		}
		if err := s.checkPullable(tx, r, d, ref); err != nil {
			return err
		}
		info = &ManifestInfo{Digest: img.Digest, MediaType: img.MediaType, Subject: img.Subject, Content: img.Content}
		return nil
	})
	if err != nil {
		return nil, internal(err)
	}
	s.cache.put(key, cacheEntry{info: info, repoID: repoID, size: len(info.Content)}, gen, now)
	if pull {
		s.pulls.pull(registryID, name, repoID, info.Digest, now, touch)
	}
	return info, nil
}

func manifestUnknown(name, ref string) error {
	f := Fields{Repository: name, Tag: ref}
	if IsDigest(ref) {
		f = Fields{Repository: name, Digest: digest.Digest(ref)}
	}
	return &Error{Kind: KindManifestUnknown, Message: fmt.Sprintf("manifest %s is not in repository '%s'", ref, name), Fields: f}
}

// DeleteImage deletes what ref names, as ECR's BatchDeleteImage does: by tag the tag (and the image with
// its last tag), by digest the image and all its tags; with both, the tag must name that digest
// (KindTagDigestMismatch). It returns the identifiers it removed.
func (s *Service) DeleteImage(ctx context.Context, registryID, name string, ref ImageRef) ([]ImageRef, error) {
	if ref.Tag != "" {
		d, err := s.deleteTag(ctx, registryID, name, ref.Tag, ref.Digest, ECRTags)
		if err != nil {
			return nil, err
		}
		return []ImageRef{{Digest: d, Tag: ref.Tag}}, nil
	}
	tags, err := s.DeleteManifest(ctx, registryID, name, ref.Digest)
	if err != nil {
		return nil, err
	}
	if len(tags) == 0 {
		return []ImageRef{{Digest: ref.Digest}}, nil
	}
	out := make([]ImageRef, len(tags))
	for i, t := range tags {
		out[i] = ImageRef{Digest: ref.Digest, Tag: t}
	}
	return out, nil
}

// DeleteManifest deletes an image and all its tags, and returns the tags it had. An image that an index of
// the repository lists stays until the index is deleted.
func (s *Service) DeleteManifest(ctx context.Context, registryID, name string, d digest.Digest) ([]string, error) {
	defer s.cache.invalidate()
	var tags []string
	err := s.meta.Update(ctx, func(tx store.Tx) error {
		r, err := s.repo(tx, registryID, name)
		if err != nil {
			return err
		}
		if _, err := tx.StatImage(r.ID, d); errors.Is(err, store.ErrNotFound) {
			return manifestUnknown(name, d.String())
		} else if err != nil {
			return err
		}
		parents, err := tx.ReferencedBy(r.ID, store.RefManifest, d)
		if err != nil {
			return err
		}
		if len(parents) > 0 {
			return errf(KindImageReferenced, "image %s is referenced by the manifest list %s; delete that first", d, parents[0])
		}
		if tags, err = tx.ImageTags(r.ID, d); err != nil {
			return err
		}
		if err := tx.DeleteImage(r.ID, d); err != nil {
			return err
		}
		return s.emit(tx, Event{Type: EventImageDeleted, RegistryID: r.RegistryID, Repository: r.Name, Digest: d, Tags: tags, Cause: CauseAPI})
	})
	return tags, internal(err)
}

// DeleteTag removes a tag and returns the image it named. When it was the image's last tag the image goes
// too (ECR's rule), unless an index of the repository still lists it.
func (s *Service) DeleteTag(ctx context.Context, registryID, name, tag string) (digest.Digest, error) {
	return s.deleteTag(ctx, registryID, name, tag, "", OCITags)
}

// deleteTag deletes a tag, which rule checks; when want is not empty, only if the tag names that digest.
func (s *Service) deleteTag(ctx context.Context, registryID, name, tag string, want digest.Digest, rule TagRule) (digest.Digest, error) {
	if err := rule.Validate(tag); err != nil {
		return "", err
	}
	defer s.cache.invalidate()
	var d digest.Digest
	err := s.meta.Update(ctx, func(tx store.Tx) error {
		r, err := s.repo(tx, registryID, name)
		if err != nil {
			return err
		}
		t, err := tx.GetTag(r.ID, tag)
		if errors.Is(err, store.ErrNotFound) {
			return manifestUnknown(name, tag)
		}
		if err != nil {
			return err
		}
		d = t.Digest
		if want != "" && want != d {
			return errf(KindTagDigestMismatch, "Invalid request parameters: given tag does not match the given digest")
		}
		if err := tx.DeleteTag(r.ID, tag); err != nil {
			return err
		}
		tagDeleted := Event{Type: EventTagDeleted, RegistryID: r.RegistryID, Repository: r.Name, Digest: d, Tag: tag}
		rest, err := tx.ImageTags(r.ID, t.Digest)
		if err != nil {
			return err
		}
		if len(rest) > 0 {
			return s.emit(tx, tagDeleted)
		}
		parents, err := tx.ReferencedBy(r.ID, store.RefManifest, t.Digest)
		if err != nil {
			return err
		}
		if len(parents) > 0 {
			return s.emit(tx, tagDeleted)
		}
		if err := tx.DeleteImage(r.ID, t.Digest); err != nil {
			return err
		}
		return s.emit(tx, Event{Type: EventImageDeleted, RegistryID: r.RegistryID, Repository: r.Name, Digest: d, Tags: []string{tag}, Cause: CauseAPI})
	})
	return d, internal(err)
}

// ListTags lists a repository's tags in lexical order after `after`, at most n.
func (s *Service) ListTags(ctx context.Context, registryID, name, after string, n int) (tags []string, more bool, err error) {
	key := cacheKey{registryID, name, "\x00tags\x00" + after + "\x00" + strconv.Itoa(n)}
	now := s.clock.Now()
	if e, ok := s.cache.get(key, now); ok && e.tags != nil {
		return e.tags.tags, e.tags.more, nil
	}
	gen := s.cache.gen.Load()
	err = s.meta.View(ctx, func(tx store.Tx) error {
		r, err := s.repo(tx, registryID, name)
		if err != nil {
			return err
		}
		if tags, err = tx.ListTagNames(r.ID, after, n+1); err != nil {
			return err
		}
		if len(tags) > n {
			tags, more = tags[:n], true
		}
		return nil
	})
	if err != nil {
		return nil, false, internal(err)
	}
	size := 64
	for _, t := range tags {
		size += len(t) + 16
	}
	s.cache.put(key, cacheEntry{tags: &tagPage{tags, more}, size: size}, gen, now)
	return tags, more, nil
}

// Referrers lists the manifests of the repository whose subject is d, optionally only those of one
// artifact type, as descriptors for the referrers API.
// In a repository of a pull through cache, the referrers upstream are fetched first, when due.
func (s *Service) Referrers(ctx context.Context, registryID, name string, d digest.Digest, artifactType string) ([]ocispec.Descriptor, error) {
	s.refreshReferrers(ctx, registryID, name, d)
	out := []ocispec.Descriptor{}
	err := s.meta.View(ctx, func(tx store.Tx) error {
		r, err := s.repo(tx, registryID, name)
		if err != nil {
			return err
		}
		imgs, err := tx.Referrers(r.ID, d)
		if err != nil {
			return err
		}
		for _, img := range imgs {
			if artifactType != "" && img.ArtifactType != artifactType {
				continue
			}
			full, err := tx.GetImage(r.ID, img.Digest)
			if err != nil {
				return err
			}
			desc := ocispec.Descriptor{MediaType: img.MediaType, Digest: img.Digest, Size: int64(len(full.Content)), ArtifactType: img.ArtifactType}
			if img.Annotations != "" {
				json.Unmarshal([]byte(img.Annotations), &desc.Annotations)
			}
			out = append(out, desc)
		}
		return nil
	})
	return out, internal(err)
}

package registry

import (
	"context"
	"errors"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/store"
)

// ImageDetail is an image with its tags, as DescribeImages and ListImages show it.
type ImageDetail struct {
	store.Image
	Tags    []string
	Storage Storage // filled by ListImages and FindImage
}

// TagStatus filters images by whether they have tags.
type TagStatus string

const (
	AnyTagStatus TagStatus = "ANY"
	Tagged       TagStatus = "TAGGED"
	Untagged     TagStatus = "UNTAGGED"
)

// Matches tells whether an image with these tags passes the filter.
func (st TagStatus) Matches(tags []string) bool {
	return !(st == Tagged && len(tags) == 0 || st == Untagged && len(tags) > 0)
}

// ListImages lists a repository's images by digest after `after`, at most n per page, with their tags;
// status filters the page (so a page may hold fewer than n). more tells whether images follow; last is
// the digest to continue after. It lists images of every storage class status.
func (s *Service) ListImages(ctx context.Context, registryID, name string, after digest.Digest, n int, status TagStatus) (out []ImageDetail, last digest.Digest, more bool, err error) {
	return s.ListImagesByStatus(ctx, registryID, name, after, n, status, AnyImageStatus)
}

// ListImagesByStatus is ListImages with a filter on the images' storage class status as well ("": ECR's
// default, ACTIVE images only).
func (s *Service) ListImagesByStatus(ctx context.Context, registryID, name string, after digest.Digest, n int, status TagStatus, imageStatus ImageStatus) (out []ImageDetail, last digest.Digest, more bool, err error) {
	now := s.clock.Now()
	err = s.meta.View(ctx, func(tx store.Tx) error {
		r, err := s.repo(tx, registryID, name)
		if err != nil {
			return err
		}
		imgs, err := tx.ListImages(r.ID, after, n+1)
		if err != nil {
			return err
		}
		if len(imgs) > n {
			imgs, more = imgs[:n], true
		}
		if len(imgs) == 0 {
			return nil
		}
		byDigest, err := tx.TagsBetween(r.ID, imgs[0].Digest, imgs[len(imgs)-1].Digest)
		if err != nil {
			return err
		}
		states, err := tx.ImageStorageBetween(r.ID, imgs[0].Digest, imgs[len(imgs)-1].Digest)
		if err != nil {
			return err
		}
		for _, img := range imgs {
			last = img.Digest
			tags := byDigest[img.Digest]
			storage := storageAt(nil, now)
			if st, ok := states[img.Digest]; ok {
				storage = storageAt(&st, now)
			}
			if !status.Matches(tags) || !imageStatus.Matches(storage.Status) {
				continue
			}
			out = append(out, ImageDetail{Image: img, Tags: tags, Storage: storage})
		}
		return nil
	})
	return out, last, more, internal(err)
}

// ImageRef names an image by digest, tag or both.
type ImageRef struct {
	Digest digest.Digest
	Tag    string
}

// FindImage resolves an image reference. With both a digest and a tag, the tag must name that digest.
func (s *Service) FindImage(ctx context.Context, registryID, name string, ref ImageRef) (*ImageDetail, error) {
	var out *ImageDetail
	err := s.meta.View(ctx, func(tx store.Tx) error {
		r, err := s.repo(tx, registryID, name)
		if err != nil {
			return err
		}
		if out, err = findImage(tx, r, ref); err != nil {
			return err
		}
		out.Storage, err = s.imageStorage(tx, r.ID, out.Digest)
		return err
	})
	return out, internal(err)
}

// findImage resolves an image reference in tx, with its content and tags.
func findImage(tx store.Tx, r *store.Repository, ref ImageRef) (*ImageDetail, error) {
	d := ref.Digest
	if ref.Tag != "" {
		t, err := tx.GetTag(r.ID, ref.Tag)
		if errors.Is(err, store.ErrNotFound) || err == nil && d != "" && t.Digest != d {
			return nil, manifestUnknown(r.Name, ref.Tag)
		}
		if err != nil {
			return nil, err
		}
		d = t.Digest
	}
	img, err := tx.GetImage(r.ID, d)
	if errors.Is(err, store.ErrNotFound) {
		return nil, manifestUnknown(r.Name, d.String())
	}
	if err != nil {
		return nil, err
	}
	tags, err := tx.ImageTags(r.ID, d)
	if err != nil {
		return nil, err
	}
	return &ImageDetail{Image: *img, Tags: tags}, nil
}

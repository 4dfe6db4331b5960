package ecrapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/manifest"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
)

type imageID struct {
	ImageDigest string `json:"imageDigest,omitempty"`
	ImageTag    string `json:"imageTag,omitempty"`
}

func (id imageID) String() string {
	q := func(s string) string {
		if s == "" {
			return "null"
		}
		return s
	}
	return fmt.Sprintf("{imageDigest:'%s', imageTag:'%s'}", q(id.ImageDigest), q(id.ImageTag))
}

type imageFailure struct {
	ImageID       imageID `json:"imageId"`
	FailureCode   string  `json:"failureCode"`
	FailureReason string  `json:"failureReason"`
}

type imageDetailJSON struct {
	RegistryID               string            `json:"registryId"`
	RepositoryName           string            `json:"repositoryName"`
	ImageDigest              string            `json:"imageDigest"`
	ImageTags                []string          `json:"imageTags,omitempty"`
	ImageSizeInBytes         int64             `json:"imageSizeInBytes"`
	ImagePushedAt            wholeSeconds      `json:"imagePushedAt"`
	ImageManifestMediaType   string            `json:"imageManifestMediaType"`
	ArtifactMediaType        string            `json:"artifactMediaType,omitempty"`
	LastRecordedPullTime     *float64          `json:"lastRecordedPullTime,omitempty"`
	SubjectManifestDigest    string            `json:"subjectManifestDigest,omitempty"`
	ImageScanStatus          *scanStatusJSON   `json:"imageScanStatus,omitempty"`
	ImageScanFindingsSummary *scanFindingsJSON `json:"imageScanFindingsSummary,omitempty"`
	ImageStatus              string            `json:"imageStatus,omitempty"`
	LastArchivedAt           *float64          `json:"lastArchivedAt,omitempty"`
	LastActivatedAt          *float64          `json:"lastActivatedAt,omitempty"`
}

type imageJSON struct {
	RegistryID             string  `json:"registryId"`
	RepositoryName         string  `json:"repositoryName"`
	ImageID                imageID `json:"imageId"`
	ImageManifest          string  `json:"imageManifest"`
	ImageManifestMediaType string  `json:"imageManifestMediaType"`
}

type listImagesInput struct {
	repositoryRef
	NextToken  *string `json:"nextToken"`
	MaxResults *int    `json:"maxResults"`
	Filter     *struct {
		TagStatus   string `json:"tagStatus"`
		ImageStatus string `json:"imageStatus"`
	} `json:"filter"`
	ImageIDs []imageID `json:"imageIds"`
}

func (in *listImagesInput) check() error {
	if in.ImageIDs == nil {
		return nil
	}
	return listLength("imageIds", len(in.ImageIDs), 1, 100)
}

type batchImagesInput struct {
	repositoryRef
	ImageIDs           []imageID `json:"imageIds"`
	AcceptedMediaTypes []string  `json:"acceptedMediaTypes"`
}

func (in *batchImagesInput) check() error {
	if err := listLength("imageIds", len(in.ImageIDs), 1, 100); err != nil {
		return err
	}
	if in.AcceptedMediaTypes == nil {
		return nil
	}
	return listLength("acceptedMediaTypes", len(in.AcceptedMediaTypes), 1, 100)
}

type putImageInput struct {
	repositoryRef
	ImageManifest          string `json:"imageManifest"`
	ImageManifestMediaType string `json:"imageManifestMediaType"`
	ImageTag               string `json:"imageTag"`
	ImageDigest            string `json:"imageDigest"`
}

func tagStatus(in *listImagesInput) (registry.TagStatus, error) {
	if in.Filter == nil || in.Filter.TagStatus == "" {
		return registry.AnyTagStatus, nil
	}
	switch s := registry.TagStatus(in.Filter.TagStatus); s {
	case registry.AnyTagStatus, registry.Tagged, registry.Untagged:
		return s, nil
	}
	return "", invalidParameter("Invalid parameter at 'filter.tagStatus' failed to satisfy constraint: 'Member must satisfy enum value set: [TAGGED, UNTAGGED, ANY]'")
}

// ref checks an image identifier: a valid digest, a valid tag, or both.
func ref(id imageID) (registry.ImageRef, string, string) {
	if id.ImageDigest == "" && id.ImageTag == "" {
		return registry.ImageRef{}, "MissingDigestAndTag", "Invalid request parameters: both tag and digest cannot be null"
	}
	r := registry.ImageRef{Tag: id.ImageTag}
	if id.ImageDigest != "" {
		d, err := digest.Parse(id.ImageDigest)
		if err != nil {
			return r, "InvalidImageDigest", "Invalid request parameters: image digest should satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'"
		}
		r.Digest = d
	}
	if id.ImageTag != "" && registry.ECRTags.Validate(id.ImageTag) != nil {
		return r, "InvalidImageTag", "Invalid request parameters: image tag should satisfy the regex '" + registry.ECRTags.Pattern() + "'"
	}
	return r, "", ""
}

// imagePage reads one page of a repository's images for a listing operation: the tagStatus filter,
// maxResults and a nextToken bound to this operation and repository.
func (h *Handler) imagePage(ctx context.Context, c *pipeline.Call, op string, in *listImagesInput) ([]registry.ImageDetail, *string, error) {
	status, err := tagStatus(in)
	if err != nil {
		return nil, nil, err
	}
	imageStatus, err := imageStatusFilter(in)
	if err != nil {
		return nil, nil, err
	}
	name := c.Target().Repository
	scope := op + "/" + c.RegistryID + "/" + name
	n, after, err := h.Paging.page(scope, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, nil, err
	}
	imgs, last, more, err := h.Service.ListImagesByStatus(ctx, c.RegistryID, name, digest.Digest(after), n, status, imageStatus)
	if err != nil {
		return nil, nil, err
	}
	return imgs, h.Paging.next(scope, more, last.String()), nil
}

func (h *Handler) detail(c *pipeline.Call, name string, img *registry.ImageDetail) imageDetailJSON {
	d := imageDetailJSON{
		RegistryID: c.RegistryID, RepositoryName: name, ImageDigest: img.Digest.String(), ImageTags: img.Tags,
		ImageSizeInBytes: img.Size, ImagePushedAt: seconds(img.PushedAt), ImageManifestMediaType: img.MediaType,
		ArtifactMediaType: img.ArtifactType, SubjectManifestDigest: img.Subject.String(),
	}
	if !img.LastPulledAt.IsZero() {
		t := epoch(img.LastPulledAt)
		d.LastRecordedPullTime = &t
	}
	d.ImageStatus = string(img.Storage.Status)
	if t := img.Storage.LastArchivedAt; !t.IsZero() {
		d.LastArchivedAt = new(float64)
		*d.LastArchivedAt = epoch(t)
	}
	if t := img.Storage.LastActivatedAt; !t.IsZero() {
		d.LastActivatedAt = new(float64)
		*d.LastActivatedAt = epoch(t)
	}
	return d
}

func init() {
	register("ListImages", func(h *Handler, ctx context.Context, c *pipeline.Call, in *listImagesInput) (any, error) {
		imgs, next, err := h.imagePage(ctx, c, "ListImages", in)
		if err != nil {
			return nil, err
		}
		ids := []imageID{}
		for _, img := range imgs {
			if len(img.Tags) == 0 {
				ids = append(ids, imageID{ImageDigest: img.Digest.String()})
			}
			for _, t := range img.Tags {
				ids = append(ids, imageID{ImageDigest: img.Digest.String(), ImageTag: t})
			}
		}
		return map[string]any{"imageIds": ids, "nextToken": next}, nil
	})

	register("DescribeImages", func(h *Handler, ctx context.Context, c *pipeline.Call, in *listImagesInput) (any, error) {
		name := c.Target().Repository
		details := []imageDetailJSON{}
		if len(in.ImageIDs) > 0 {
			if in.NextToken != nil || in.MaxResults != nil {
				return nil, invalidParameter("Invalid parameter: imageIds cannot be combined with maxResults or nextToken")
			}
			for _, id := range in.ImageIDs {
				r, code, reason := ref(id)
				if code != "" {
					return nil, invalidParameter(reason)
				}
				img, err := h.Service.FindImage(ctx, c.RegistryID, name, r)
				if errors.Is(err, registry.ErrManifestUnknown) {
					return nil, &awsError{Code: "ImageNotFoundException", Message: fmt.Sprintf("The image with imageId %s does not exist within the repository with name '%s' in the registry with id '%s'", id, name, c.RegistryID), Status: 400}
				}
				if err != nil {
					return nil, err
				}
				details = append(details, h.detail(c, name, img))
			}
			return map[string]any{"imageDetails": details}, h.addScans(ctx, c, name, details)
		}
		imgs, next, err := h.imagePage(ctx, c, "DescribeImages", in)
		if err != nil {
			return nil, err
		}
		for i := range imgs {
			details = append(details, h.detail(c, name, &imgs[i]))
		}
		return map[string]any{"imageDetails": details, "nextToken": next}, h.addScans(ctx, c, name, details)
	})

	register("BatchGetImage", func(h *Handler, ctx context.Context, c *pipeline.Call, in *batchImagesInput) (any, error) {
		name := c.Target().Repository
		images := []imageJSON{}
		upstream, err := h.pullThrough(ctx, c, in)
		if err != nil {
			return nil, err
		}
		failures, err := h.eachImage(ctx, c, in, func(id imageID, r registry.ImageRef) (*imageFailure, error) {
			if f, ok := upstream[id]; ok {
				return &f, nil
			}
			img, err := h.Service.FindImage(ctx, c.RegistryID, name, r)
			if errors.Is(err, registry.ErrManifestUnknown) {
				return &imageFailure{id, "ImageNotFound", "Requested image not found"}, nil
			}
			if err != nil {
				return nil, err
			}
			// An archived image, or one being restored, cannot be pulled: not found, as a registry pull.
			if img.Storage.Status != registry.ImageActive {
				return &imageFailure{id, "ImageNotFound", "Requested image not found"}, nil
			}
			// By tag, an image stored in a format not accepted is converted as a registry pull would be;
			// by digest it is returned as stored, or not at all.
			m := &registry.ManifestInfo{Digest: img.Digest, MediaType: img.MediaType, Content: img.Content}
			if accept := in.AcceptedMediaTypes; accept != nil {
				ref := img.Digest.String()
				if r.Digest == "" {
					ref = r.Tag
				}
				m, err = h.Service.GetManifestAs(ctx, c.RegistryID, name, ref, accept, nil)
				if errors.Is(err, registry.ErrManifestUnknown) {
					return &imageFailure{id, "ImageNotFound", "Requested image not found"}, nil
				}
				if err != nil {
					return nil, err
				}
				if m.Unacceptable || r.Digest != "" && !manifest.Accepts(accept, m.MediaType) {
					return &imageFailure{id, "ImageNotFound", "Requested image not found in the accepted media types; it is " + img.MediaType}, nil
				}
			}
			out := imageID{ImageDigest: m.Digest.String(), ImageTag: id.ImageTag}
			images = append(images, imageJSON{c.RegistryID, name, out, string(m.Content), m.MediaType})
			return nil, nil
		})
		if err != nil {
			return nil, err
		}
		h.Service.CountPulls(c.RegistryID, name, len(images))
		return map[string]any{"images": images, "failures": failures}, nil
	})

	register("PutImage", func(h *Handler, ctx context.Context, c *pipeline.Call, in *putImageInput) (any, error) {
		name := c.Target().Repository
		if err := required("imageManifest", in.ImageManifest); err != nil {
			return nil, err
		}
		ref := registry.ImageRef{Tag: in.ImageTag}
		if in.ImageDigest != "" {
			d, err := digest.Parse(in.ImageDigest)
			if err != nil {
				return nil, invalidParameter("Invalid parameter at 'imageDigest' failed to satisfy constraint: 'invalid digest'")
			}
			ref.Digest = d
		}
		res, err := h.Service.PutImage(ctx, c.RegistryID, name, ref, in.ImageManifestMediaType, []byte(in.ImageManifest))
		if err != nil {
			return nil, err
		}
		img, err := h.Service.FindImage(ctx, c.RegistryID, name, registry.ImageRef{Digest: res.Digest})
		if err != nil {
			return nil, err
		}
		return map[string]any{"image": imageJSON{c.RegistryID, name, imageID{res.Digest.String(), in.ImageTag}, in.ImageManifest, img.MediaType}}, nil
	})

	register("BatchDeleteImage", func(h *Handler, ctx context.Context, c *pipeline.Call, in *batchImagesInput) (any, error) {
		deleted := []imageID{}
		failures, err := h.eachImage(ctx, c, in, func(id imageID, r registry.ImageRef) (*imageFailure, error) {
			refs, err := h.Service.DeleteImage(ctx, c.RegistryID, c.Target().Repository, r)
			switch registry.KindOf(err) {
			case registry.KindManifestUnknown:
				return &imageFailure{id, "ImageNotFound", "Requested image not found"}, nil
			case registry.KindImageReferenced:
				return &imageFailure{id, "ImageReferencedByManifestList", "Requested image is referenced by a manifest list"}, nil
			case registry.KindTagDigestMismatch:
				return &imageFailure{id, "ImageTagDoesNotMatchDigest", "Invalid request parameters: given tag does not match the given digest"}, nil
			}
			if err != nil {
				return nil, err
			}
			for _, r := range refs {
				deleted = append(deleted, imageID{ImageDigest: r.Digest.String(), ImageTag: r.Tag})
			}
			return nil, nil
		})
		if err != nil {
			return nil, err
		}
		return map[string]any{"imageIds": deleted, "failures": failures}, nil
	})
}

// eachImage checks a batch call's repository and runs fn on each image id; malformed ids and what fn
// reports become the call's per-id failures.
func (h *Handler) eachImage(ctx context.Context, c *pipeline.Call, in *batchImagesInput, fn func(imageID, registry.ImageRef) (*imageFailure, error)) ([]imageFailure, error) {
	if _, err := h.Service.Repository(ctx, c.RegistryID, c.Target().Repository); err != nil {
		return nil, err
	}
	failures := []imageFailure{}
	for _, id := range in.ImageIDs {
		r, code, reason := ref(id)
		if code != "" {
			failures = append(failures, imageFailure{id, code, reason})
			continue
		}
		f, err := fn(id, r)
		if err != nil {
			return nil, err
		}
		if f != nil {
			failures = append(failures, *f)
		}
	}
	return failures, nil
}

// addScans fills in the scan status and findings summary of the images scanned.
func (h *Handler) addScans(ctx context.Context, c *pipeline.Call, name string, details []imageDetailJSON) error {
	if len(details) == 0 {
		return nil
	}
	ds := make([]digest.Digest, len(details))
	for i, d := range details {
		ds[i] = digest.Digest(d.ImageDigest)
	}
	scans, err := h.Service.ImageScans(ctx, c.RegistryID, name, ds)
	if err != nil {
		return err
	}
	for i := range details {
		details[i].ImageScanStatus, details[i].ImageScanFindingsSummary = scanSummary(scans[ds[i]])
		if details[i].ImageStatus == string(registry.ImageArchived) { // ECR's scan status of an archived image
			details[i].ImageScanStatus = &scanStatusJSON{Status: "IMAGE_ARCHIVED", Description: "The image is archived; restore it to scan it."}
			details[i].ImageScanFindingsSummary = nil
		}
	}
	return nil
}

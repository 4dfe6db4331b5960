package ecrapi

import (
	"context"

	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
)

func init() {
	codes[registry.KindStorageClassUpdateUnsupported] = "ImageStorageClassUpdateNotSupportedException"
	codes[registry.KindImageArchived] = "ImageArchivedException"
}

type updateStorageClassInput struct {
	repositoryRef
	ImageID            *imageID `json:"imageId"`
	TargetStorageClass string   `json:"targetStorageClass"`
}

func (in *updateStorageClassInput) check() error {
	if in.ImageID == nil {
		return invalidParameter("Invalid parameter at 'imageId' failed to satisfy constraint: 'Member must not be null'")
	}
	if err := required("targetStorageClass", in.TargetStorageClass); err != nil {
		return err
	}
	switch registry.StorageClass(in.TargetStorageClass) {
	case registry.StorageStandard, registry.StorageArchive:
		return nil
	}
	return invalidParameter("Invalid parameter at 'targetStorageClass' failed to satisfy constraint: 'Member must satisfy enum value set: [STANDARD, ARCHIVE]'")
}

// imageStatusFilter reads filter.imageStatus of DescribeImages and ListImages: absent, ECR's default
// (ACTIVE images only).
func imageStatusFilter(in *listImagesInput) (registry.ImageStatus, error) {
	if in.Filter == nil || in.Filter.ImageStatus == "" {
		return "", nil
	}
	switch s := registry.ImageStatus(in.Filter.ImageStatus); s {
	case registry.ImageActive, registry.ImageArchived, registry.ImageActivating, registry.AnyImageStatus:
		return s, nil
	}
	return "", invalidParameter("Invalid parameter at 'filter.imageStatus' failed to satisfy constraint: 'Member must satisfy enum value set: [ACTIVE, ARCHIVED, ACTIVATING, ANY]'")
}

func init() {
	register("UpdateImageStorageClass", func(h *Handler, ctx context.Context, c *pipeline.Call, in *updateStorageClassInput) (any, error) {
		name := c.Target().Repository
		r, code, reason := ref(*in.ImageID)
		if code != "" {
			return nil, invalidParameter(reason)
		}
		d, status, err := h.Service.UpdateImageStorageClass(ctx, c.RegistryID, name, r, registry.StorageClass(in.TargetStorageClass))
		if err != nil {
			return nil, imageNotFound(err, *in.ImageID, name, c.RegistryID)
		}
		return map[string]any{"registryId": c.RegistryID, "repositoryName": name,
			"imageId": imageID{ImageDigest: d.String(), ImageTag: in.ImageID.ImageTag}, "imageStatus": status}, nil
	})
}

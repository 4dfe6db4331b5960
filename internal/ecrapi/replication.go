package ecrapi

import (
	"context"

	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
)

type imageReplicationStatusJSON struct {
	Region      string `json:"region"`
	RegistryID  string `json:"registryId"`
	Status      string `json:"status"`
	FailureCode string `json:"failureCode,omitempty"`
}

func init() {
	register("PutReplicationConfiguration", func(h *Handler, ctx context.Context, c *pipeline.Call, in *struct {
		ReplicationConfiguration *registry.ReplicationConfiguration `json:"replicationConfiguration"`
	}) (any, error) {
		if in.ReplicationConfiguration == nil {
			return nil, notNull("replicationConfiguration")
		}
		if err := h.Service.PutReplicationConfiguration(ctx, c.RegistryID, *in.ReplicationConfiguration); err != nil {
			return nil, err
		}
		return map[string]any{"replicationConfiguration": in.ReplicationConfiguration}, nil
	})

	register("DescribeRegistry", func(h *Handler, ctx context.Context, c *pipeline.Call, _ *struct{}) (any, error) {
		cfg, err := h.Service.ReplicationConfiguration(ctx, c.RegistryID)
		if err != nil {
			return nil, err
		}
		return map[string]any{"registryId": c.RegistryID, "replicationConfiguration": cfg}, nil
	})

	register("DescribeImageReplicationStatus", func(h *Handler, ctx context.Context, c *pipeline.Call, in *struct {
		repositoryRef
		ImageID *imageID `json:"imageId"`
	}) (any, error) {
		if in.ImageID == nil {
			return nil, notNull("imageId")
		}
		name := c.Target().Repository
		r, err := imageRef(*in.ImageID)
		if err != nil {
			return nil, err
		}
		res, err := h.Service.DescribeImageReplicationStatus(ctx, c.RegistryID, name, r)
		if err != nil {
			return nil, imageNotFound(err, *in.ImageID, name, c.RegistryID)
		}
		statuses := []imageReplicationStatusJSON{}
		for _, s := range res.Statuses {
			statuses = append(statuses, imageReplicationStatusJSON{Region: s.Region, RegistryID: s.RegistryID, Status: s.Status, FailureCode: s.FailureCode})
		}
		return map[string]any{"repositoryName": name,
			"imageId":             imageID{ImageDigest: res.Image.Digest.String(), ImageTag: in.ImageID.ImageTag},
			"replicationStatuses": statuses}, nil
	})
}

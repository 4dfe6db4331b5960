package ecrapi

import (
	"context"

	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
)

type signingConfigurationJSON struct {
	Rules []signingRuleJSON `json:"rules"`
}

type signingRuleJSON struct {
	SigningProfileARN string                             `json:"signingProfileArn"`
	RepositoryFilters []registry.SigningRepositoryFilter `json:"repositoryFilters,omitempty"`
}

func signingJSON(c registry.SigningConfiguration) signingConfigurationJSON {
	out := signingConfigurationJSON{Rules: []signingRuleJSON{}}
	for _, r := range c.Rules {
		out.Rules = append(out.Rules, signingRuleJSON(r))
	}
	return out
}

type imageSigningStatusJSON struct {
	SigningProfileARN string `json:"signingProfileArn"`
	Status            string `json:"status"`
	FailureCode       string `json:"failureCode,omitempty"`
	FailureReason     string `json:"failureReason,omitempty"`
}

func init() {
	register("PutSigningConfiguration", func(h *Handler, ctx context.Context, c *pipeline.Call, in *struct {
		SigningConfiguration *signingConfigurationJSON `json:"signingConfiguration"`
	}) (any, error) {
		if in.SigningConfiguration == nil {
			return nil, invalidParameter("Invalid parameter at 'signingConfiguration' failed to satisfy constraint: 'Member must not be null'")
		}
		var cfg registry.SigningConfiguration
		if in.SigningConfiguration.Rules != nil {
			cfg.Rules = []registry.SigningRule{}
		}
		for _, r := range in.SigningConfiguration.Rules {
			cfg.Rules = append(cfg.Rules, registry.SigningRule(r))
		}
		if err := h.Service.PutSigningConfiguration(ctx, c.RegistryID, cfg); err != nil {
			return nil, err
		}
		return map[string]any{"signingConfiguration": signingJSON(cfg)}, nil
	})

	register("GetSigningConfiguration", func(h *Handler, ctx context.Context, c *pipeline.Call, in *struct{}) (any, error) {
		cfg, err := h.Service.SigningConfiguration(ctx, c.RegistryID)
		if err != nil {
			return nil, err
		}
		return map[string]any{"registryId": c.RegistryID, "signingConfiguration": signingJSON(cfg)}, nil
	})

	register("DeleteSigningConfiguration", func(h *Handler, ctx context.Context, c *pipeline.Call, in *struct{}) (any, error) {
		cfg, err := h.Service.DeleteSigningConfiguration(ctx, c.RegistryID)
		if err != nil {
			return nil, err
		}
		return map[string]any{"registryId": c.RegistryID, "signingConfiguration": signingJSON(cfg)}, nil
	})

	register("DescribeImageSigningStatus", func(h *Handler, ctx context.Context, c *pipeline.Call, in *struct {
		repositoryRef
		ImageID *imageID `json:"imageId"`
	}) (any, error) {
		if in.ImageID == nil {
			return nil, invalidParameter("Invalid parameter at 'imageId' failed to satisfy constraint: 'Member must not be null'")
		}
		name := c.Target().Repository
		r, err := imageRef(*in.ImageID)
		if err != nil {
			return nil, err
		}
		res, err := h.Service.DescribeImageSigningStatus(ctx, c.RegistryID, name, r)
		if err != nil {
			return nil, imageNotFound(err, *in.ImageID, name, c.RegistryID)
		}
		statuses := []imageSigningStatusJSON{}
		for _, s := range res.Statuses {
			statuses = append(statuses, imageSigningStatusJSON{SigningProfileARN: s.ProfileARN, Status: s.Status,
				FailureCode: s.FailureCode, FailureReason: s.FailureReason})
		}
		return map[string]any{"registryId": c.RegistryID, "repositoryName": name,
			"imageId":         imageID{ImageDigest: res.Image.Digest.String(), ImageTag: in.ImageID.ImageTag},
			"signingStatuses": statuses}, nil
	})
}

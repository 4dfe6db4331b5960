package ecrapi

import (
	"context"

	"github.com/wharf-dev/wharf/internal/iam"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
)

type repositoryPolicyInput struct {
	repositoryRef
	PolicyText string `json:"policyText"`
	Force      bool   `json:"force"`
}

type registryPolicyInput struct {
	PolicyText string `json:"policyText"`
}

func init() {
	register("SetRepositoryPolicy", func(h *Handler, ctx context.Context, c *pipeline.Call, in *repositoryPolicyInput) (any, error) {
		name := c.Target().Repository
		if err := required("policyText", in.PolicyText); err != nil {
			return nil, err
		}
		// Without force, the core refuses a policy under which the caller could not set another one.
		stillAllowed := func(p *iam.Policy) bool { return h.LockoutCheck(ctx, c, "ecr:SetRepositoryPolicy", name, p) }
		if err := h.Service.SetRepositoryPolicy(ctx, c.RegistryID, name, in.PolicyText, in.Force, stillAllowed); err != nil {
			return nil, err
		}
		return map[string]any{"registryId": c.RegistryID, "repositoryName": name, "policyText": registry.FormatPolicyText(in.PolicyText)}, nil
	})

	register("GetRepositoryPolicy", func(h *Handler, ctx context.Context, c *pipeline.Call, in *repositoryPolicyInput) (any, error) {
		name := c.Target().Repository
		text, err := h.Service.RepositoryPolicy(ctx, c.RegistryID, name)
		if err != nil {
			return nil, err
		}
		return map[string]any{"registryId": c.RegistryID, "repositoryName": name, "policyText": text}, nil
	})

	register("DeleteRepositoryPolicy", func(h *Handler, ctx context.Context, c *pipeline.Call, in *repositoryPolicyInput) (any, error) {
		name := c.Target().Repository
		text, err := h.Service.DeleteRepositoryPolicy(ctx, c.RegistryID, name)
		if err != nil {
			return nil, err
		}
		return map[string]any{"registryId": c.RegistryID, "repositoryName": name, "policyText": text}, nil
	})

	register("PutRegistryPolicy", func(h *Handler, ctx context.Context, c *pipeline.Call, in *registryPolicyInput) (any, error) {
		if err := required("policyText", in.PolicyText); err != nil {
			return nil, err
		}
		if err := h.Service.PutRegistryPolicy(ctx, c.RegistryID, in.PolicyText); err != nil {
			return nil, err
		}
		return map[string]any{"registryId": c.RegistryID, "policyText": in.PolicyText}, nil
	})

	register("GetRegistryPolicy", func(h *Handler, ctx context.Context, c *pipeline.Call, _ *struct{}) (any, error) {
		text, err := h.Service.RegistryPolicy(ctx, c.RegistryID)
		if err != nil {
			return nil, err
		}
		return map[string]any{"registryId": c.RegistryID, "policyText": text}, nil
	})

	register("DeleteRegistryPolicy", func(h *Handler, ctx context.Context, c *pipeline.Call, _ *struct{}) (any, error) {
		text, err := h.Service.DeleteRegistryPolicy(ctx, c.RegistryID)
		if err != nil {
			return nil, err
		}
		return map[string]any{"registryId": c.RegistryID, "policyText": text}, nil
	})
}

package ecrapi

import (
	"context"

	"github.com/wharf-dev/wharf/internal/iam"
	"github.com/wharf-dev/wharf/internal/pipeline"
)

type repositoryPolicyInput struct {
	RepositoryName string `json:"repositoryName"`
	PolicyText     string `json:"policyText"`
	Force          bool   `json:"force"`
}

func init() {
	register("SetRepositoryPolicy", func(h *Handler, ctx context.Context, c *pipeline.Call, in *repositoryPolicyInput) (any, error) {
		if err := required("repositoryName", in.RepositoryName); err != nil {
			return nil, err
		}
		if err := required("policyText", in.PolicyText); err != nil {
			return nil, err
		}
		if !in.Force && h.LockoutCheck != nil {
			if p, err := iam.Parse(in.PolicyText, iam.ResourcePolicy); err == nil && !h.LockoutCheck(ctx, c, "ecr:SetRepositoryPolicy", in.RepositoryName, p) {
				return nil, invalidParameter("Invalid parameter at 'PolicyText' failed to satisfy constraint: 'The repository policy would prevent you from setting another policy in the future; use force to set it anyway'")
			}
		}
		if err := h.Service.SetRepositoryPolicy(ctx, c.RegistryID, in.RepositoryName, in.PolicyText); err != nil {
			return nil, err
		}
		return map[string]any{"registryId": c.RegistryID, "repositoryName": in.RepositoryName, "policyText": in.PolicyText}, nil
	})

	register("GetRepositoryPolicy", func(h *Handler, ctx context.Context, c *pipeline.Call, in *repositoryPolicyInput) (any, error) {
		if err := required("repositoryName", in.RepositoryName); err != nil {
			return nil, err
		}
		text, err := h.Service.RepositoryPolicy(ctx, c.RegistryID, in.RepositoryName)
		if err != nil {
			return nil, err
		}
		return map[string]any{"registryId": c.RegistryID, "repositoryName": in.RepositoryName, "policyText": text}, nil
	})

	register("DeleteRepositoryPolicy", func(h *Handler, ctx context.Context, c *pipeline.Call, in *repositoryPolicyInput) (any, error) {
		if err := required("repositoryName", in.RepositoryName); err != nil {
			return nil, err
		}
		text, err := h.Service.DeleteRepositoryPolicy(ctx, c.RegistryID, in.RepositoryName)
		if err != nil {
			return nil, err
		}
		return map[string]any{"registryId": c.RegistryID, "repositoryName": in.RepositoryName, "policyText": text}, nil
	})

	register("PutRegistryPolicy", func(h *Handler, ctx context.Context, c *pipeline.Call, in *repositoryPolicyInput) (any, error) {
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

package ecrapi

import (
	"context"

	"github.com/wharf-dev/wharf/internal/pipeline"
)

type pullTimeExclusionInput struct {
	PrincipalARN string `json:"principalArn"`
}

func init() {
	register("RegisterPullTimeUpdateExclusion", func(h *Handler, ctx context.Context, c *pipeline.Call, in *pullTimeExclusionInput) (any, error) {
		e, err := h.Service.RegisterPullTimeExclusion(ctx, c.RegistryID, in.PrincipalARN)
		if err != nil {
			return nil, err
		}
		return map[string]any{"principalArn": e.PrincipalARN, "createdAt": epoch(e.CreatedAt)}, nil
	})

	register("DeregisterPullTimeUpdateExclusion", func(h *Handler, ctx context.Context, c *pipeline.Call, in *pullTimeExclusionInput) (any, error) {
		if err := h.Service.DeregisterPullTimeExclusion(ctx, c.RegistryID, in.PrincipalARN); err != nil {
			return nil, err
		}
		return map[string]any{"principalArn": in.PrincipalARN}, nil
	})

	register("ListPullTimeUpdateExclusions", func(h *Handler, ctx context.Context, c *pipeline.Call, in *struct {
		MaxResults *int    `json:"maxResults"`
		NextToken  *string `json:"nextToken"`
	}) (any, error) {
		scope := "ListPullTimeUpdateExclusions/" + c.RegistryID
		n, after, err := h.Paging.page(scope, in.MaxResults, in.NextToken)
		if err != nil {
			return nil, err
		}
		arns, more, err := h.Service.PullTimeExclusions(ctx, c.RegistryID, after, min(n, 100))
		if err != nil {
			return nil, err
		}
		last := ""
		if len(arns) > 0 {
			last = arns[len(arns)-1]
		}
		if arns == nil {
			arns = []string{}
		}
		return map[string]any{"pullTimeUpdateExclusions": arns, "nextToken": h.Paging.next(scope, more, last)}, nil
	})
}

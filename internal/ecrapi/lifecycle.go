package ecrapi

import (
	"context"
	"slices"
	"strconv"

	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
)

type lifecyclePolicyInput struct {
	repositoryRef
	LifecyclePolicyText string `json:"lifecyclePolicyText"`
}

type lifecyclePolicyOutput struct {
	RegistryID          string   `json:"registryId"`
	RepositoryName      string   `json:"repositoryName"`
	LifecyclePolicyText string   `json:"lifecyclePolicyText"`
	LastEvaluatedAt     *float64 `json:"lastEvaluatedAt,omitempty"`
	Status              string   `json:"status,omitempty"`
}

func policyOutput(c *pipeline.Call, name string, p *registry.LifecyclePolicy) lifecyclePolicyOutput {
	// ECR always answers lastEvaluatedAt (SDK code reads it directly): before the policy's first pass, the
	// epoch's start.
	var at float64
	if !p.LastEvaluatedAt.IsZero() {
		at = epoch(p.LastEvaluatedAt)
	}
	return lifecyclePolicyOutput{RegistryID: c.RegistryID, RepositoryName: name, LifecyclePolicyText: p.Text, LastEvaluatedAt: &at}
}

type previewResultJSON struct {
	ImageTags     []string     `json:"imageTags,omitempty"`
	ImageDigest   string       `json:"imageDigest"`
	ImagePushedAt wholeSeconds `json:"imagePushedAt"`
	Action        struct {
		Type               string `json:"type"`
		TargetStorageClass string `json:"targetStorageClass,omitempty"`
	} `json:"action"`
	AppliedRulePriority int    `json:"appliedRulePriority"`
	StorageClass        string `json:"storageClass"`
}

type transitioningCountJSON struct {
	TargetStorageClass string `json:"targetStorageClass"`
	ImageTotalCount    int    `json:"imageTotalCount"`
}

type previewOutput struct {
	RegistryID          string              `json:"registryId"`
	RepositoryName      string              `json:"repositoryName"`
	LifecyclePolicyText string              `json:"lifecyclePolicyText"`
	Status              string              `json:"status"`
	NextToken           *string             `json:"nextToken,omitempty"`
	PreviewResults      []previewResultJSON `json:"previewResults"`
	Summary             struct {
		ExpiringImageTotalCount       int                      `json:"expiringImageTotalCount"`
		TransitioningImageTotalCounts []transitioningCountJSON `json:"transitioningImageTotalCounts,omitempty"`
	} `json:"summary"`
}

func init() {
	register("PutLifecyclePolicy", func(h *Handler, ctx context.Context, c *pipeline.Call, in *lifecyclePolicyInput) (any, error) {
		name := c.Target().Repository
		if err := required("lifecyclePolicyText", in.LifecyclePolicyText); err != nil {
			return nil, err
		}
		if err := h.Service.PutLifecyclePolicy(ctx, c.RegistryID, name, in.LifecyclePolicyText); err != nil {
			return nil, err
		}
		return lifecyclePolicyOutput{RegistryID: c.RegistryID, RepositoryName: name, LifecyclePolicyText: registry.CompactLifecycleText(in.LifecyclePolicyText)}, nil
	})

	register("GetLifecyclePolicy", func(h *Handler, ctx context.Context, c *pipeline.Call, in *lifecyclePolicyInput) (any, error) {
		name := c.Target().Repository
		p, err := h.Service.LifecyclePolicy(ctx, c.RegistryID, name)
		if err != nil {
			return nil, err
		}
		return policyOutput(c, name, p), nil
	})

	register("DeleteLifecyclePolicy", func(h *Handler, ctx context.Context, c *pipeline.Call, in *lifecyclePolicyInput) (any, error) {
		name := c.Target().Repository
		p, err := h.Service.DeleteLifecyclePolicy(ctx, c.RegistryID, name)
		if err != nil {
			return nil, err
		}
		return policyOutput(c, name, p), nil
	})

	register("StartLifecyclePolicyPreview", func(h *Handler, ctx context.Context, c *pipeline.Call, in *lifecyclePolicyInput) (any, error) {
		name := c.Target().Repository
		text, err := h.Service.StartLifecyclePreview(ctx, c.RegistryID, name, in.LifecyclePolicyText)
		if err != nil {
			return nil, err
		}
		return lifecyclePolicyOutput{RegistryID: c.RegistryID, RepositoryName: name, LifecyclePolicyText: text, Status: registry.PreviewInProgress}, nil
	})

	register("GetLifecyclePolicyPreview", func(h *Handler, ctx context.Context, c *pipeline.Call, in *listImagesInput) (any, error) {
		return h.lifecyclePreview(ctx, c, in)
	})
}

// lifecyclePreview pages through a repository's latest preview (its input has ListImages' members): results oldest image first, narrowed by
// imageIds or by the filter's tagStatus. The summary counts every image the preview expires.
func (h *Handler) lifecyclePreview(ctx context.Context, c *pipeline.Call, in *listImagesInput) (any, error) {
	name := c.Target().Repository
	if len(in.ImageIDs) > 0 && (in.MaxResults != nil || in.NextToken != nil) {
		return nil, invalidParameter("Invalid parameter: imageIds cannot be combined with maxResults or nextToken")
	}
	if len(in.ImageIDs) > 100 {
		return nil, invalidParameter("Invalid parameter at 'imageIds' failed to satisfy constraint: 'Member must have length less than or equal to 100'")
	}
	if in.MaxResults != nil && (*in.MaxResults < 1 || *in.MaxResults > 100) {
		return nil, invalidParameter("Invalid parameter at 'maxResults' failed to satisfy constraint: 'Member must have value less than or equal to 100 and greater than or equal to 1'")
	}
	status, err := tagStatus(in)
	if err != nil {
		return nil, err
	}
	p, err := h.Service.LifecyclePreview(ctx, c.RegistryID, name)
	if err != nil {
		return nil, err
	}
	// A token belongs to one preview: a new preview invalidates the tokens of the last one.
	scope := "GetLifecyclePolicyPreview/" + c.RegistryID + "/" + name + "/" + strconv.FormatInt(p.StartedAt.UnixNano(), 10)
	n, after, err := h.Paging.page(scope, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	start, _ := strconv.Atoi(after)

	out := previewOutput{RegistryID: c.RegistryID, RepositoryName: name, LifecyclePolicyText: p.Text, Status: p.Status, PreviewResults: []previewResultJSON{}}
	transitioning := 0
	for _, e := range p.Results {
		if e.Transition {
			transitioning++
		}
	}
	out.Summary.ExpiringImageTotalCount = len(p.Results) - transitioning
	if transitioning > 0 { // present only when an image transitions, as the model says
		out.Summary.TransitioningImageTotalCounts = []transitioningCountJSON{{TargetStorageClass: "ARCHIVE", ImageTotalCount: transitioning}}
	}
	var matching []registry.Expiry
	for _, e := range p.Results {
		if !status.Matches(e.Tags) {
			continue
		}
		if len(in.ImageIDs) > 0 && !slices.ContainsFunc(in.ImageIDs, func(id imageID) bool {
			return id.ImageDigest == e.Digest.String() || id.ImageTag != "" && slices.Contains(e.Tags, id.ImageTag)
		}) {
			continue
		}
		matching = append(matching, e)
	}
	if start > len(matching) {
		start = len(matching)
	}
	end := min(start+n, len(matching))
	if len(in.ImageIDs) > 0 {
		end = len(matching)
	}
	for _, e := range matching[start:end] {
		r := previewResultJSON{ImageTags: e.Tags, ImageDigest: e.Digest.String(), ImagePushedAt: seconds(e.PushedAt), AppliedRulePriority: e.Rule}
		r.Action.Type, r.StorageClass = "EXPIRE", "STANDARD"
		if e.Transition {
			r.Action.Type, r.Action.TargetStorageClass = "TRANSITION", "ARCHIVE"
		}
		if e.Archived {
			r.StorageClass = "ARCHIVE"
		}
		out.PreviewResults = append(out.PreviewResults, r)
	}
	out.NextToken = h.Paging.next(scope, end < len(matching), strconv.Itoa(end))
	return out, nil
}

package ecrapi

import (
	"context"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/pipeline"
)

type listReferrersInput struct {
	repositoryRef
	SubjectID *struct {
		ImageDigest string `json:"imageDigest"`
	} `json:"subjectId"`
	Filter *struct {
		ArtifactTypes  []string `json:"artifactTypes"`
		ArtifactStatus string   `json:"artifactStatus"`
	} `json:"filter"`
	NextToken  *string `json:"nextToken"`
	MaxResults *int    `json:"maxResults"`
}

func (in *listReferrersInput) check() error {
	if in.SubjectID == nil || in.SubjectID.ImageDigest == "" {
		return invalidParameter("Invalid parameter at 'subjectId.imageDigest' failed to satisfy constraint: 'Member must not be null'")
	}
	if _, err := digest.Parse(in.SubjectID.ImageDigest); err != nil {
		return invalidParameter("Invalid parameter at 'subjectId.imageDigest' failed to satisfy constraint: 'invalid digest'")
	}
	if in.MaxResults != nil && (*in.MaxResults < 1 || *in.MaxResults > 50) {
		return invalidParameter("Invalid parameter at 'maxResults' failed to satisfy constraint: 'Member must have value less than or equal to 50 and greater than or equal to 1'")
	}
	if f := in.Filter; f != nil {
		if err := listLength("filter.artifactTypes", len(f.ArtifactTypes), 0, 5); err != nil {
			return err
		}
		switch f.ArtifactStatus {
		case "", "ACTIVE", "ARCHIVED", "ACTIVATING", "ANY":
		default:
			return invalidParameter("Invalid parameter at 'filter.artifactStatus' failed to satisfy constraint: 'Member must satisfy enum value set: [ACTIVE, ARCHIVED, ACTIVATING, ANY]'")
		}
	}
	return nil
}

type referrerJSON struct {
	Digest         string            `json:"digest"`
	MediaType      string            `json:"mediaType"`
	ArtifactType   string            `json:"artifactType,omitempty"`
	Size           int64             `json:"size"`
	Annotations    map[string]string `json:"annotations,omitempty"`
	ArtifactStatus string            `json:"artifactStatus"`
}

func init() {
	// ListImageReferrers is the OCI referrers API's listing through the ECR API: ECR authorizes it as
	// ecr:BatchGetImage on the repository.
	registerWith("ListImageReferrers", func(h *Handler, c *pipeline.Call, in *listReferrersInput) ([]pipeline.Target, error) {
		return in.targets(c, "ecr:BatchGetImage")
	}, func(h *Handler, ctx context.Context, c *pipeline.Call, in *listReferrersInput) (any, error) {
		name := c.Target().Repository
		subject := digest.Digest(in.SubjectID.ImageDigest)
		var types []string
		status := "ACTIVE"
		if in.Filter != nil {
			types = in.Filter.ArtifactTypes
			if in.Filter.ArtifactStatus != "" {
				status = in.Filter.ArtifactStatus
			}
		}
		// The token is bound to this listing: its subject and filter.
		scope := "ListImageReferrers/" + c.RegistryID + "/" + name + "/" + subject.String() + "/" + status + "/" + strings.Join(types, ",")
		n, after, err := h.Paging.page(scope, in.MaxResults, in.NextToken)
		if err != nil {
			return nil, err
		}
		if in.MaxResults == nil {
			n = 50
		}
		all, err := h.Service.Referrers(ctx, c.RegistryID, name, subject, "")
		if err != nil {
			return nil, err
		}
		out := []referrerJSON{}
		ds := make([]digest.Digest, len(all))
		for i, d := range all {
			ds[i] = d.Digest
		}
		statuses, err := h.Service.ImageStatuses(ctx, c.RegistryID, name, ds)
		if err != nil {
			return nil, err
		}
		slices.SortFunc(all, func(a, b ocispec.Descriptor) int { return strings.Compare(a.Digest.String(), b.Digest.String()) })
		more := false
		for _, d := range all {
			st := statuses[d.Digest]
			if d.Digest.String() <= after || len(types) > 0 && !slices.Contains(types, d.ArtifactType) ||
				status != "ANY" && string(st) != status {
				continue
			}
			if len(out) == n {
				more = true
				break
			}
			out = append(out, referrerJSON{Digest: d.Digest.String(), MediaType: d.MediaType, ArtifactType: d.ArtifactType, Size: d.Size,
				Annotations: d.Annotations, ArtifactStatus: string(st)})
		}
		last := ""
		if len(out) > 0 {
			last = out[len(out)-1].Digest
		}
		return map[string]any{"referrers": out, "nextToken": h.Paging.next(scope, more, last)}, nil
	})
}

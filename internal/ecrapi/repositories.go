package ecrapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store"
)

func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

type tagJSON struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type scanningJSON struct {
	ScanOnPush bool `json:"scanOnPush"`
}

type encryptionJSON struct {
	EncryptionType string `json:"encryptionType"`
	KmsKey         string `json:"kmsKey,omitempty"`
}

type repositoryJSON struct {
	RepositoryArn              string         `json:"repositoryArn"`
	RegistryID                 string         `json:"registryId"`
	RepositoryName             string         `json:"repositoryName"`
	RepositoryURI              string         `json:"repositoryUri"`
	CreatedAt                  float64        `json:"createdAt"`
	ImageTagMutability         string         `json:"imageTagMutability"`
	ImageScanningConfiguration scanningJSON   `json:"imageScanningConfiguration"`
	EncryptionConfiguration    encryptionJSON `json:"encryptionConfiguration"`
}

func (h *Handler) repositoryJSON(r *store.Repository) repositoryJSON {
	return repositoryJSON{
		RepositoryArn:              "arn:aws:ecr:" + h.Region + ":" + r.RegistryID + ":repository/" + r.Name,
		RegistryID:                 r.RegistryID,
		RepositoryName:             r.Name,
		RepositoryURI:              h.registryHost(r.RegistryID) + "/" + r.Name,
		CreatedAt:                  epoch(r.CreatedAt),
		ImageTagMutability:         r.TagMutability,
		ImageScanningConfiguration: scanningJSON{r.ScanOnPush},
		EncryptionConfiguration:    encryptionJSON{r.EncryptionType, r.KMSKey},
	}
}

// registryHost is the host of a registry: the configured host for the default account, or the ECR form
// <account>.dkr.ecr.<region>.<host> when the configured host already has that form.
func (h *Handler) registryHost(registryID string) string {
	host := h.RegistryHost
	if i := strings.Index(host, ".dkr.ecr."); i > 0 {
		return registryID + host[i:]
	}
	return host
}

func toTags(in []tagJSON) []store.ResourceTag {
	out := make([]store.ResourceTag, len(in))
	for i, t := range in {
		out[i] = store.ResourceTag{Key: t.Key, Value: t.Value}
	}
	return out
}

func required(field, value string) error {
	if value == "" {
		return invalidParameter("Invalid parameter at '" + field + "' failed to satisfy constraint: 'Member must not be null'")
	}
	return nil
}

type createRepositoryInput struct {
	RepositoryName             string          `json:"repositoryName"`
	Tags                       []tagJSON       `json:"tags"`
	ImageTagMutability         string          `json:"imageTagMutability"`
	ImageScanningConfiguration *scanningJSON   `json:"imageScanningConfiguration"`
	EncryptionConfiguration    *encryptionJSON `json:"encryptionConfiguration"`
}

type describeRepositoriesInput struct {
	RepositoryNames []string `json:"repositoryNames"`
	NextToken       *string  `json:"nextToken"`
	MaxResults      *int     `json:"maxResults"`
}

type deleteRepositoryInput struct {
	RepositoryName string `json:"repositoryName"`
	Force          bool   `json:"force"`
}

type mutabilityInput struct {
	RepositoryName     string `json:"repositoryName"`
	ImageTagMutability string `json:"imageTagMutability"`
}

type scanningInput struct {
	RepositoryName             string        `json:"repositoryName"`
	ImageScanningConfiguration *scanningJSON `json:"imageScanningConfiguration"`
}

type tagResourceInput struct {
	ResourceArn string    `json:"resourceArn"`
	Tags        []tagJSON `json:"tags"`
	TagKeys     []string  `json:"tagKeys"`
}

func init() {
	register("CreateRepository", func(h *Handler, ctx context.Context, c *pipeline.Call, in *createRepositoryInput) (any, error) {
		if err := required("repositoryName", in.RepositoryName); err != nil {
			return nil, err
		}
		r := store.Repository{RegistryID: c.RegistryID, Name: in.RepositoryName, TagMutability: in.ImageTagMutability}
		if in.ImageScanningConfiguration != nil {
			r.ScanOnPush = in.ImageScanningConfiguration.ScanOnPush
		}
		if e := in.EncryptionConfiguration; e != nil {
			if e.EncryptionType != "AES256" && e.EncryptionType != "KMS" {
				return nil, invalidParameter("Invalid parameter at 'encryptionConfiguration.encryptionType' failed to satisfy constraint: 'Member must satisfy enum value set: [AES256, KMS]'")
			}
			r.EncryptionType, r.KMSKey = e.EncryptionType, e.KmsKey
		}
		created, err := h.Service.CreateRepository(ctx, r, toTags(in.Tags)...)
		if err != nil {
			return nil, err
		}
		return map[string]any{"repository": h.repositoryJSON(created)}, nil
	})

	register("DescribeRepositories", func(h *Handler, ctx context.Context, c *pipeline.Call, in *describeRepositoriesInput) (any, error) {
		var out []repositoryJSON
		if len(in.RepositoryNames) > 0 {
			if in.NextToken != nil || in.MaxResults != nil {
				return nil, invalidParameter("Invalid parameter: repositoryNames cannot be combined with maxResults or nextToken")
			}
			for _, n := range in.RepositoryNames {
				r, err := h.Service.Repository(ctx, c.RegistryID, n)
				if err != nil {
					return nil, err
				}
				out = append(out, h.repositoryJSON(r))
			}
			return map[string]any{"repositories": out}, nil
		}
		scope := "DescribeRepositories/" + c.RegistryID
		n, after, err := h.Paging.page(scope, in.MaxResults, in.NextToken)
		if err != nil {
			return nil, err
		}
		repos, more, err := h.Service.ListRepositories(ctx, c.RegistryID, after, n)
		if err != nil {
			return nil, err
		}
		out = make([]repositoryJSON, len(repos))
		last := ""
		for i := range repos {
			out[i] = h.repositoryJSON(&repos[i])
			last = repos[i].Name
		}
		return map[string]any{"repositories": out, "nextToken": h.Paging.next(scope, more, last)}, nil
	})

	register("DeleteRepository", func(h *Handler, ctx context.Context, c *pipeline.Call, in *deleteRepositoryInput) (any, error) {
		if err := required("repositoryName", in.RepositoryName); err != nil {
			return nil, err
		}
		r, err := h.Service.DeleteRepository(ctx, c.RegistryID, in.RepositoryName, in.Force)
		if err != nil {
			return nil, err
		}
		return map[string]any{"repository": h.repositoryJSON(r)}, nil
	})

	register("DescribeRegistry", func(h *Handler, ctx context.Context, c *pipeline.Call, _ *struct{}) (any, error) {
		return map[string]any{"registryId": c.RegistryID, "replicationConfiguration": map[string]any{"rules": []any{}}}, nil
	})

	register("PutImageTagMutability", func(h *Handler, ctx context.Context, c *pipeline.Call, in *mutabilityInput) (any, error) {
		if err := required("repositoryName", in.RepositoryName); err != nil {
			return nil, err
		}
		if err := required("imageTagMutability", in.ImageTagMutability); err != nil {
			return nil, err
		}
		r, err := h.Service.UpdateRepository(ctx, c.RegistryID, in.RepositoryName, func(r *store.Repository) { r.TagMutability = in.ImageTagMutability })
		if err != nil {
			return nil, err
		}
		return map[string]any{"registryId": r.RegistryID, "repositoryName": r.Name, "imageTagMutability": r.TagMutability}, nil
	})

	register("PutImageScanningConfiguration", func(h *Handler, ctx context.Context, c *pipeline.Call, in *scanningInput) (any, error) {
		if err := required("repositoryName", in.RepositoryName); err != nil {
			return nil, err
		}
		if in.ImageScanningConfiguration == nil {
			return nil, invalidParameter("Invalid parameter at 'imageScanningConfiguration' failed to satisfy constraint: 'Member must not be null'")
		}
		r, err := h.Service.UpdateRepository(ctx, c.RegistryID, in.RepositoryName, func(r *store.Repository) { r.ScanOnPush = in.ImageScanningConfiguration.ScanOnPush })
		if err != nil {
			return nil, err
		}
		return map[string]any{"registryId": r.RegistryID, "repositoryName": r.Name, "imageScanningConfiguration": scanningJSON{r.ScanOnPush}}, nil
	})

	register("TagResource", func(h *Handler, ctx context.Context, c *pipeline.Call, in *tagResourceInput) (any, error) {
		if _, _, err := h.resource(in.ResourceArn); err != nil {
			return nil, err
		}
		return struct{}{}, h.Service.TagRepository(ctx, c.RegistryID, c.Repository, toTags(in.Tags))
	})

	register("UntagResource", func(h *Handler, ctx context.Context, c *pipeline.Call, in *tagResourceInput) (any, error) {
		if _, _, err := h.resource(in.ResourceArn); err != nil {
			return nil, err
		}
		return struct{}{}, h.Service.UntagRepository(ctx, c.RegistryID, c.Repository, in.TagKeys)
	})

	register("ListTagsForResource", func(h *Handler, ctx context.Context, c *pipeline.Call, in *tagResourceInput) (any, error) {
		if _, _, err := h.resource(in.ResourceArn); err != nil {
			return nil, err
		}
		tags, err := h.Service.RepositoryTags(ctx, c.RegistryID, c.Repository)
		if err != nil {
			return nil, err
		}
		out := make([]tagJSON, len(tags))
		for i, t := range tags {
			out[i] = tagJSON{t.Key, t.Value}
		}
		return map[string]any{"tags": out}, nil
	})

	register("GetAuthorizationToken", func(h *Handler, ctx context.Context, c *pipeline.Call, in *struct {
		RegistryIDs []string `json:"registryIds"`
	}) (any, error) {
		expires := h.Clock.Now().Add(h.TokenTTL)
		if c.Caller.RoleName != "" && c.Caller.SessionExpires.Before(expires) {
			expires = c.Caller.SessionExpires // temporary credentials: the token ends with them
		}
		password := h.Identity.IssueToken(c.Caller, expires)
		ids := in.RegistryIDs
		if len(ids) == 0 {
			ids = []string{c.Caller.AccountID}
		}
		var data []map[string]any
		for _, id := range ids {
			data = append(data, map[string]any{
				"authorizationToken": b64("AWS:" + password),
				"expiresAt":          epoch(expires),
				"proxyEndpoint":      h.Scheme + "://" + h.registryHost(id),
			})
		}
		return map[string]any{"authorizationData": data}, nil
	})
}

// resource checks a repository ARN of this region.
func (h *Handler) resource(arn string) (string, string, error) {
	reg, name, ok := parseRepositoryARN(arn)
	if !ok || !strings.HasPrefix(arn, "arn:aws:ecr:"+h.Region+":") {
		return "", "", &awsError{"InvalidParameterException", "Invalid parameter at 'resourceArn' failed to satisfy constraint: 'Invalid ARN'", http.StatusBadRequest}
	}
	if err := registry.ValidateRepositoryName(name); err != nil {
		return "", "", err
	}
	return reg, name, nil
}

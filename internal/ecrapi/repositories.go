package ecrapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
)

func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// wholeSeconds is a timestamp in whole seconds, as ECR reports when an image was pushed: the user guide's
// and the AWS CLI reference's outputs read like "imagePushedAt": 1565128275.0. It goes on the wire as a
// number with a fraction (1565128275.0), so that clients decode a float, as they do from ECR, and the CLI
// prints it as the reference shows.
type wholeSeconds int64

func seconds(t time.Time) wholeSeconds { return wholeSeconds(t.Unix()) }

func (s wholeSeconds) MarshalJSON() ([]byte, error) {
	return append(strconv.AppendInt(nil, int64(s), 10), ".0"...), nil
}

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

// exclusionFilterJSON is an ImageTagMutabilityExclusionFilter. WILDCARD is the one filter type.
type exclusionFilterJSON struct {
	FilterType string `json:"filterType"`
	Filter     string `json:"filter"`
}

type repositoryJSON struct {
	RepositoryArn                      string                `json:"repositoryArn"`
	RegistryID                         string                `json:"registryId"`
	RepositoryName                     string                `json:"repositoryName"`
	RepositoryURI                      string                `json:"repositoryUri"`
	CreatedAt                          float64               `json:"createdAt"`
	ImageTagMutability                 string                `json:"imageTagMutability"`
	ImageTagMutabilityExclusionFilters []exclusionFilterJSON `json:"imageTagMutabilityExclusionFilters,omitempty"`
	ImageScanningConfiguration         scanningJSON          `json:"imageScanningConfiguration"`
	EncryptionConfiguration            encryptionJSON        `json:"encryptionConfiguration"`
}

// exclusionFilters turns the filters of a request into the core's: each of type WILDCARD. A list that
// is there but empty is refused here (the core sees no list as none).
func exclusionFilters(in *[]exclusionFilterJSON) ([]string, error) {
	if in == nil {
		return nil, nil
	}
	if len(*in) == 0 {
		return nil, invalidParameter("Invalid parameter at 'imageTagMutabilityExclusionFilters' failed to satisfy constraint: 'Member must have length greater than or equal to 1'")
	}
	out := make([]string, len(*in))
	for i, f := range *in {
		if err := required("imageTagMutabilityExclusionFilters.filterType", f.FilterType); err != nil {
			return nil, err
		}
		if err := required("imageTagMutabilityExclusionFilters.filter", f.Filter); err != nil {
			return nil, err
		}
		if f.FilterType != "WILDCARD" {
			return nil, invalidParameter("Invalid parameter at 'imageTagMutabilityExclusionFilters.filterType' failed to satisfy constraint: 'Member must satisfy enum value set: [WILDCARD]'")
		}
		out[i] = f.Filter
	}
	return out, nil
}

func exclusionFiltersJSON(filters []string) []exclusionFilterJSON {
	var out []exclusionFilterJSON
	for _, f := range filters {
		out = append(out, exclusionFilterJSON{"WILDCARD", f})
	}
	return out
}

func (h *Handler) repositoryJSON(c *pipeline.Call, r *registry.Repository) repositoryJSON {
	kmsKey := r.KMSKey
	if kmsKey == "" && (r.EncryptionType == registry.KMS || r.EncryptionType == registry.KMSDSSE) { // a template's
		kmsKey = registry.KMSKeyARN(h.Region, r.RegistryID, "")
	}
	return repositoryJSON{
		RepositoryArn:                      "arn:aws:ecr:" + h.Region + ":" + r.RegistryID + ":repository/" + r.Name,
		RegistryID:                         r.RegistryID,
		RepositoryName:                     r.Name,
		RepositoryURI:                      h.Addresses.URI(c.Origin, r.RegistryID, r.Name),
		CreatedAt:                          epoch(r.CreatedAt),
		ImageTagMutability:                 r.TagMutability,
		ImageTagMutabilityExclusionFilters: exclusionFiltersJSON(r.TagMutabilityExclusions),
		ImageScanningConfiguration:         scanningJSON{r.ScanOnPush},
		EncryptionConfiguration:            encryptionJSON{r.EncryptionType, kmsKey},
	}
}

func toTags(in []tagJSON) []registry.ResourceTag {
	out := make([]registry.ResourceTag, len(in))
	for i, t := range in {
		out[i] = registry.ResourceTag{Key: t.Key, Value: t.Value}
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
	repositoryRef
	Tags                               []tagJSON              `json:"tags"`
	ImageTagMutability                 string                 `json:"imageTagMutability"`
	ImageTagMutabilityExclusionFilters *[]exclusionFilterJSON `json:"imageTagMutabilityExclusionFilters"`
	ImageScanningConfiguration         *scanningJSON          `json:"imageScanningConfiguration"`
	EncryptionConfiguration            *encryptionJSON        `json:"encryptionConfiguration"`
}

type describeRepositoriesInput struct {
	RegistryID      string   `json:"registryId"`
	RepositoryNames []string `json:"repositoryNames"`
	NextToken       *string  `json:"nextToken"`
	MaxResults      *int     `json:"maxResults"`
}

type deleteRepositoryInput struct {
	repositoryRef
	Force bool `json:"force"`
}

type mutabilityInput struct {
	repositoryRef
	ImageTagMutability                 string                 `json:"imageTagMutability"`
	ImageTagMutabilityExclusionFilters *[]exclusionFilterJSON `json:"imageTagMutabilityExclusionFilters"`
}

type scanningInput struct {
	repositoryRef
	ImageScanningConfiguration *scanningJSON `json:"imageScanningConfiguration"`
}

type tagResourceInput struct {
	ResourceArn string    `json:"resourceArn"`
	Tags        []tagJSON `json:"tags"`
	TagKeys     []string  `json:"tagKeys"`
}

// requestTags are the tags a call sets, as condition keys: aws:RequestTag/… and aws:TagKeys.
func requestTags(tags []tagJSON, keys []string) (map[string]string, []string) {
	var m map[string]string
	if len(tags) > 0 {
		m = make(map[string]string, len(tags))
		for _, t := range tags {
			m[t.Key] = t.Value
			keys = append(keys, t.Key)
		}
	}
	return m, keys
}

// resourceTargets resolves TagResource, UntagResource and ListTagsForResource: the repository their ARN
// names, with the tags they set or name.
func resourceTargets(action string) func(h *Handler, c *pipeline.Call, in *tagResourceInput) ([]pipeline.Target, error) {
	return func(h *Handler, c *pipeline.Call, in *tagResourceInput) ([]pipeline.Target, error) {
		reg, name, err := h.resource(in.ResourceArn)
		if err != nil {
			return nil, err
		}
		c.RegistryID = reg
		t := pipeline.Repository(action, reg, name)
		t.RequestTags, t.TagKeys = requestTags(in.Tags, in.TagKeys)
		return []pipeline.Target{t}, nil
	}
}

func init() {
	// A create with tags needs ecr:TagResource on the new repository too (a dependent action).
	registerWith("CreateRepository", func(h *Handler, c *pipeline.Call, in *createRepositoryInput) ([]pipeline.Target, error) {
		ts, err := in.targets(c, "ecr:CreateRepository")
		if err != nil || len(in.Tags) == 0 {
			return ts, err
		}
		ts[0].RequestTags, ts[0].TagKeys = requestTags(in.Tags, nil)
		tag := ts[0]
		tag.Action = "ecr:TagResource"
		return append(ts, tag), nil
	}, func(h *Handler, ctx context.Context, c *pipeline.Call, in *createRepositoryInput) (any, error) {
		filters, err := exclusionFilters(in.ImageTagMutabilityExclusionFilters)
		if err != nil {
			return nil, err
		}
		r := registry.Repository{RegistryID: c.RegistryID, Name: c.Target().Repository, TagMutability: in.ImageTagMutability, TagMutabilityExclusions: filters}
		if in.ImageScanningConfiguration != nil {
			r.ScanOnPush = in.ImageScanningConfiguration.ScanOnPush
		}
		if e := in.EncryptionConfiguration; e != nil {
			if err := required("encryptionConfiguration.encryptionType", e.EncryptionType); err != nil {
				return nil, err
			}
			r.EncryptionType, r.KMSKey = e.EncryptionType, e.KmsKey
			// The KMS types report the key's ARN; without a key, the account's AWS managed key for ECR. (An
			// over-long key is left as given, for the core to refuse.)
			if (r.EncryptionType == registry.KMS || r.EncryptionType == registry.KMSDSSE) && len(r.KMSKey) <= 2048 {
				r.KMSKey = registry.KMSKeyARN(h.Region, c.RegistryID, r.KMSKey)
			}
		}
		created, err := h.Service.CreateRepository(ctx, r, toTags(in.Tags)...)
		if err != nil {
			return nil, err
		}
		return map[string]any{"repository": h.repositoryJSON(c, created)}, nil
	})

	// Named repositories are each a target: a denial on one refuses the call, a grant in another
	// registry's repository policy lets the call in.
	registerWith("DescribeRepositories", func(h *Handler, c *pipeline.Call, in *describeRepositoriesInput) ([]pipeline.Target, error) {
		if err := useRegistry(c, in.RegistryID); err != nil {
			return nil, err
		}
		return namedRepositories(c, "ecr:DescribeRepositories", in.RepositoryNames, in.NextToken != nil || in.MaxResults != nil)
	}, func(h *Handler, ctx context.Context, c *pipeline.Call, in *describeRepositoriesInput) (any, error) {
		var out []repositoryJSON
		if t := c.Target(); t.Repository != "" {
			for _, t := range c.Targets {
				r, err := h.Service.Repository(ctx, c.RegistryID, t.Repository)
				if err != nil {
					return nil, err
				}
				out = append(out, h.repositoryJSON(c, r))
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
			out[i] = h.repositoryJSON(c, &repos[i])
			last = repos[i].Name
		}
		return map[string]any{"repositories": out, "nextToken": h.Paging.next(scope, more, last)}, nil
	})

	register("DeleteRepository", func(h *Handler, ctx context.Context, c *pipeline.Call, in *deleteRepositoryInput) (any, error) {
		r, err := h.Service.DeleteRepository(ctx, c.RegistryID, c.Target().Repository, in.Force)
		if err != nil {
			return nil, err
		}
		return map[string]any{"repository": h.repositoryJSON(c, r)}, nil
	})

	register("PutImageTagMutability", func(h *Handler, ctx context.Context, c *pipeline.Call, in *mutabilityInput) (any, error) {
		if err := required("imageTagMutability", in.ImageTagMutability); err != nil {
			return nil, err
		}
		filters, err := exclusionFilters(in.ImageTagMutabilityExclusionFilters)
		if err != nil {
			return nil, err
		}
		r, err := h.Service.UpdateRepository(ctx, c.RegistryID, c.Target().Repository, func(r *registry.Repository) {
			r.TagMutability, r.TagMutabilityExclusions = in.ImageTagMutability, filters
		})
		if err != nil {
			return nil, err
		}
		out := map[string]any{"registryId": r.RegistryID, "repositoryName": r.Name, "imageTagMutability": r.TagMutability}
		if f := exclusionFiltersJSON(r.TagMutabilityExclusions); f != nil {
			out["imageTagMutabilityExclusionFilters"] = f
		}
		return out, nil
	})

	register("PutImageScanningConfiguration", func(h *Handler, ctx context.Context, c *pipeline.Call, in *scanningInput) (any, error) {
		if in.ImageScanningConfiguration == nil {
			return nil, invalidParameter("Invalid parameter at 'imageScanningConfiguration' failed to satisfy constraint: 'Member must not be null'")
		}
		r, err := h.Service.UpdateRepository(ctx, c.RegistryID, c.Target().Repository, func(r *registry.Repository) { r.ScanOnPush = in.ImageScanningConfiguration.ScanOnPush })
		if err != nil {
			return nil, err
		}
		return map[string]any{"registryId": r.RegistryID, "repositoryName": r.Name, "imageScanningConfiguration": scanningJSON{r.ScanOnPush}}, nil
	})

	registerWith("TagResource", resourceTargets("ecr:TagResource"), func(h *Handler, ctx context.Context, c *pipeline.Call, in *tagResourceInput) (any, error) {
		return struct{}{}, h.Service.TagRepository(ctx, c.RegistryID, c.Target().Repository, toTags(in.Tags))
	})

	registerWith("UntagResource", resourceTargets("ecr:UntagResource"), func(h *Handler, ctx context.Context, c *pipeline.Call, in *tagResourceInput) (any, error) {
		return struct{}{}, h.Service.UntagRepository(ctx, c.RegistryID, c.Target().Repository, in.TagKeys)
	})

	registerWith("ListTagsForResource", resourceTargets("ecr:ListTagsForResource"), func(h *Handler, ctx context.Context, c *pipeline.Call, in *tagResourceInput) (any, error) {
		tags, err := h.Service.RepositoryTags(ctx, c.RegistryID, c.Target().Repository)
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
		if in.RegistryIDs != nil {
			if err := listLength("registryIds", len(in.RegistryIDs), 1, 10); err != nil {
				return nil, err
			}
		}
		for _, id := range in.RegistryIDs {
			if !identity.ValidAccountID(id) {
				return nil, invalidParameter("Invalid parameter at 'registryIds' failed to satisfy constraint: 'must satisfy regular expression '[0-9]{12}''")
			}
		}
		password, expires := h.Identity.LoginToken(c.Caller, h.TokenTTL)
		ids := in.RegistryIDs
		if len(ids) == 0 {
			ids = []string{c.Caller.AccountID}
		}
		var data []map[string]any
		for _, id := range ids {
			data = append(data, map[string]any{
				"authorizationToken": b64("AWS:" + password),
				"expiresAt":          epoch(expires),
				"proxyEndpoint":      h.Addresses.Endpoint(c.Origin, id),
			})
		}
		return map[string]any{"authorizationData": data}, nil
	})
}

// resource checks a repository ARN of this region.
func (h *Handler) resource(arn string) (string, string, error) {
	reg, name, ok := parseRepositoryARN(arn)
	if !ok || !strings.HasPrefix(arn, "arn:aws:ecr:"+h.Region+":") || !identity.ValidAccountID(reg) {
		return "", "", &awsError{Code: "InvalidParameterException", Message: "Invalid parameter at 'resourceArn' failed to satisfy constraint: 'Invalid ARN'", Status: http.StatusBadRequest}
	}
	if err := registry.ValidateRepositoryName(name); err != nil {
		return "", "", err
	}
	return reg, name, nil
}

// namedRepositories are the targets of a listing that names up to 100 repositories (DescribeRepositories,
// DescribeUsage), or the registry's repositories as a whole when it names none; paged says the input also
// pages, which naming repositories excludes.
func namedRepositories(c *pipeline.Call, action string, names []string, paged bool) ([]pipeline.Target, error) {
	if len(names) == 0 {
		return []pipeline.Target{pipeline.Repository(action, c.RegistryID, "")}, nil
	}
	if paged {
		return nil, invalidParameter("Invalid parameter: repositoryNames cannot be combined with maxResults or nextToken")
	}
	if len(names) > 100 {
		return nil, invalidParameter("Invalid parameter at 'repositoryNames' failed to satisfy constraint: 'Member must have length less than or equal to 100'")
	}
	ts := make([]pipeline.Target, len(names))
	for i, n := range names {
		if err := registry.ValidateRepositoryName(n); err != nil {
			return nil, err
		}
		ts[i] = pipeline.Repository(action, c.RegistryID, n)
	}
	return ts, nil
}

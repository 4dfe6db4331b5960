package ecrapi

import (
	"context"
	"errors"

	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
)

func init() {
	codes[registry.KindPullThroughCacheRuleExists] = "PullThroughCacheRuleAlreadyExistsException"
	codes[registry.KindPullThroughCacheRuleNotFound] = "PullThroughCacheRuleNotFoundException"
	codes[registry.KindUnsupportedUpstream] = "UnsupportedUpstreamRegistryException"
	codes[registry.KindSecretNotFound] = "SecretNotFoundException"
	codes[registry.KindSecretInaccessible] = "UnableToAccessSecretException"
	codes[registry.KindSecretUndecryptable] = "UnableToDecryptSecretValueException"
	codes[registry.KindUpstreamFailed] = "UnableToGetUpstreamImageException"
}

type createPTCRuleInput struct {
	RegistryID               string  `json:"registryId"`
	EcrRepositoryPrefix      *string `json:"ecrRepositoryPrefix"`
	UpstreamRegistryURL      *string `json:"upstreamRegistryUrl"`
	UpstreamRegistry         string  `json:"upstreamRegistry"`
	CredentialArn            string  `json:"credentialArn"`
	CustomRoleArn            string  `json:"customRoleArn"`
	UpstreamRepositoryPrefix string  `json:"upstreamRepositoryPrefix"`
}

// ptcRuleRef is the input of the operations that name one rule: Update (with its credentials),
// Delete and Validate.
type ptcRuleRef struct {
	RegistryID          string  `json:"registryId"`
	EcrRepositoryPrefix *string `json:"ecrRepositoryPrefix"`
	CredentialArn       string  `json:"credentialArn"`
	CustomRoleArn       string  `json:"customRoleArn"`
}

type describePTCRulesInput struct {
	RegistryID            string   `json:"registryId"`
	EcrRepositoryPrefixes []string `json:"ecrRepositoryPrefixes"`
	NextToken             *string  `json:"nextToken"`
	MaxResults            *int     `json:"maxResults"`
}

func (in *describePTCRulesInput) check() error {
	if in.EcrRepositoryPrefixes != nil && (len(in.EcrRepositoryPrefixes) < 1 || len(in.EcrRepositoryPrefixes) > 100) {
		return invalidParameter("Invalid parameter at 'ecrRepositoryPrefixes' failed to satisfy constraint: 'Member must have length less than or equal to 100 and greater than or equal to 1'")
	}
	return nil
}

// ptcRuleJSON is ECR's PullThroughCacheRule, and the members of the operations' outputs.
type ptcRuleJSON struct {
	EcrRepositoryPrefix      string   `json:"ecrRepositoryPrefix"`
	UpstreamRegistryURL      string   `json:"upstreamRegistryUrl,omitempty"`
	CreatedAt                *float64 `json:"createdAt,omitempty"`
	RegistryID               string   `json:"registryId"`
	CredentialArn            string   `json:"credentialArn,omitempty"`
	CustomRoleArn            string   `json:"customRoleArn,omitempty"`
	UpstreamRepositoryPrefix string   `json:"upstreamRepositoryPrefix,omitempty"`
	UpstreamRegistry         string   `json:"upstreamRegistry,omitempty"`
	UpdatedAt                *float64 `json:"updatedAt,omitempty"`
}

func toPTCRuleJSON(r *registry.PullThroughCacheRule) ptcRuleJSON {
	created, updated := epoch(r.CreatedAt), epoch(r.UpdatedAt)
	return ptcRuleJSON{EcrRepositoryPrefix: r.Prefix, UpstreamRegistryURL: r.UpstreamURL, CreatedAt: &created, RegistryID: r.RegistryID,
		CredentialArn: r.CredentialARN, CustomRoleArn: r.CustomRoleARN, UpstreamRepositoryPrefix: r.UpstreamRepositoryPrefix,
		UpstreamRegistry: r.UpstreamRegistry, UpdatedAt: &updated}
}

// registryTarget makes an input's registryId the registry the call addresses; the operations act on the
// registry as a whole and, like its other settings, have no resource-level permissions.
func registryTarget(c *pipeline.Call, registryID, action string) ([]pipeline.Target, error) {
	if err := useRegistry(c, registryID); err != nil {
		return nil, err
	}
	return []pipeline.Target{pipeline.Repository(action, c.RegistryID, "")}, nil
}

func init() {
	registerWith("CreatePullThroughCacheRule", func(h *Handler, c *pipeline.Call, in *createPTCRuleInput) ([]pipeline.Target, error) {
		return registryTarget(c, in.RegistryID, "ecr:CreatePullThroughCacheRule")
	}, func(h *Handler, ctx context.Context, c *pipeline.Call, in *createPTCRuleInput) (any, error) {
		if in.EcrRepositoryPrefix == nil {
			return nil, notNull("ecrRepositoryPrefix")
		}
		if in.UpstreamRegistryURL == nil {
			return nil, notNull("upstreamRegistryUrl")
		}
		r, err := h.Service.CreatePullThroughCacheRule(ctx, registry.PullThroughCacheRule{RegistryID: c.RegistryID,
			Prefix: *in.EcrRepositoryPrefix, UpstreamURL: *in.UpstreamRegistryURL, CredentialARN: in.CredentialArn,
			CustomRoleARN: in.CustomRoleArn, UpstreamRepositoryPrefix: in.UpstreamRepositoryPrefix}, in.UpstreamRegistry)
		if err != nil {
			return nil, err
		}
		out := toPTCRuleJSON(r)
		out.UpdatedAt = nil // not a member of CreatePullThroughCacheRule's output
		return out, nil
	})

	registerWith("UpdatePullThroughCacheRule", func(h *Handler, c *pipeline.Call, in *ptcRuleRef) ([]pipeline.Target, error) {
		return registryTarget(c, in.RegistryID, "ecr:UpdatePullThroughCacheRule")
	}, func(h *Handler, ctx context.Context, c *pipeline.Call, in *ptcRuleRef) (any, error) {
		if in.EcrRepositoryPrefix == nil {
			return nil, notNull("ecrRepositoryPrefix")
		}
		r, err := h.Service.UpdatePullThroughCacheRule(ctx, c.RegistryID, *in.EcrRepositoryPrefix, in.CredentialArn, in.CustomRoleArn)
		if err != nil {
			return nil, err
		}
		out := toPTCRuleJSON(r)
		out.UpstreamRegistryURL, out.UpstreamRegistry, out.CreatedAt = "", "", nil // not members of its output
		return out, nil
	})

	registerWith("DeletePullThroughCacheRule", func(h *Handler, c *pipeline.Call, in *ptcRuleRef) ([]pipeline.Target, error) {
		return registryTarget(c, in.RegistryID, "ecr:DeletePullThroughCacheRule")
	}, func(h *Handler, ctx context.Context, c *pipeline.Call, in *ptcRuleRef) (any, error) {
		if in.EcrRepositoryPrefix == nil {
			return nil, notNull("ecrRepositoryPrefix")
		}
		r, err := h.Service.DeletePullThroughCacheRule(ctx, c.RegistryID, *in.EcrRepositoryPrefix)
		if err != nil {
			return nil, err
		}
		out := toPTCRuleJSON(r)
		out.UpstreamRegistry, out.UpdatedAt = "", nil // not members of its output
		return out, nil
	})

	registerWith("ValidatePullThroughCacheRule", func(h *Handler, c *pipeline.Call, in *ptcRuleRef) ([]pipeline.Target, error) {
		return registryTarget(c, in.RegistryID, "ecr:ValidatePullThroughCacheRule")
	}, func(h *Handler, ctx context.Context, c *pipeline.Call, in *ptcRuleRef) (any, error) {
		if in.EcrRepositoryPrefix == nil {
			return nil, notNull("ecrRepositoryPrefix")
		}
		r, valid, failure, err := h.Service.ValidatePullThroughCacheRule(ctx, c.RegistryID, *in.EcrRepositoryPrefix)
		if err != nil {
			return nil, err
		}
		out := map[string]any{"ecrRepositoryPrefix": r.Prefix, "registryId": r.RegistryID,
			"upstreamRegistryUrl": r.UpstreamURL, "isValid": valid}
		for k, v := range map[string]string{"credentialArn": r.CredentialARN, "customRoleArn": r.CustomRoleARN,
			"upstreamRepositoryPrefix": r.UpstreamRepositoryPrefix, "failure": failure} {
			if v != "" {
				out[k] = v
			}
		}
		return out, nil
	})

	registerWith("DescribePullThroughCacheRules", func(h *Handler, c *pipeline.Call, in *describePTCRulesInput) ([]pipeline.Target, error) {
		return registryTarget(c, in.RegistryID, "ecr:DescribePullThroughCacheRules")
	}, func(h *Handler, ctx context.Context, c *pipeline.Call, in *describePTCRulesInput) (any, error) {
		out := []ptcRuleJSON{}
		if len(in.EcrRepositoryPrefixes) > 0 {
			if in.NextToken != nil || in.MaxResults != nil {
				return nil, invalidParameter("Invalid parameter: ecrRepositoryPrefixes cannot be combined with maxResults or nextToken")
			}
			rs, _, err := h.Service.PullThroughCacheRules(ctx, c.RegistryID, in.EcrRepositoryPrefixes, "", 0)
			if err != nil {
				return nil, err
			}
			for i := range rs {
				out = append(out, toPTCRuleJSON(&rs[i]))
			}
			return map[string]any{"pullThroughCacheRules": out}, nil
		}
		scope := "DescribePullThroughCacheRules/" + c.RegistryID
		n, after, err := h.Paging.page(scope, in.MaxResults, in.NextToken)
		if err != nil {
			return nil, err
		}
		rs, more, err := h.Service.PullThroughCacheRules(ctx, c.RegistryID, nil, after, n)
		if err != nil {
			return nil, err
		}
		last := ""
		for i := range rs {
			out = append(out, toPTCRuleJSON(&rs[i]))
			last = rs[i].Prefix
		}
		return map[string]any{"pullThroughCacheRules": out, "nextToken": h.Paging.next(scope, more, last)}, nil
	})
}

// pullThrough fetches the images BatchGetImage names that a repository under a pull through cache rule
// does not hold from its upstream, and returns the failures of those it could not get, with ECR's codes.
// When none could be got and the repository does not exist, the call fails:
// UnableToGetUpstreamImageException.
func (h *Handler) pullThrough(ctx context.Context, c *pipeline.Call, in *batchImagesInput) (map[imageID]imageFailure, error) {
	name := c.Target().Repository
	failures := map[imageID]imageFailure{}
	var first error
	for _, id := range in.ImageIDs {
		r, code, _ := ref(id)
		if code != "" {
			continue
		}
		ref := r.Tag
		if r.Digest != "" {
			ref = r.Digest.String()
		}
		err := h.Service.PullThrough(ctx, c.RegistryID, name, ref)
		var e *registry.Error
		switch {
		case err == nil, registry.KindOf(err) == registry.KindRepositoryNotFound:
		case registry.KindOf(err) == registry.KindUpstreamFailed && errors.As(err, &e):
			code := "UpstreamUnavailable"
			if errors.Is(err, registry.ErrUpstreamDenied) {
				code = "UpstreamAccessDenied"
			} else if errors.Is(err, registry.ErrUpstreamThrottled) {
				code = "UpstreamTooManyRequests"
			}
			failures[id] = imageFailure{id, code, e.Message}
			if first == nil {
				first = err
			}
		default:
			return nil, err
		}
	}
	if first != nil {
		if _, err := h.Service.Repository(ctx, c.RegistryID, name); registry.KindOf(err) == registry.KindRepositoryNotFound {
			return nil, first
		}
	}
	return failures, nil
}

package ecrapi

import (
	"context"
	"net/http"

	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
)

func init() {
	codes[registry.KindValidation] = "ValidationException"
	codes[registry.KindTemplateExists] = "TemplateAlreadyExistsException"
	codes[registry.KindTemplateNotFound] = "TemplateNotFoundException"
}

// templateInput is the input of CreateRepositoryCreationTemplate and UpdateRepositoryCreationTemplate
// (and, of its members, DeleteRepositoryCreationTemplate's prefix). Members are pointers: an update
// changes the members it is given.
type templateInput struct {
	Prefix                             *string                `json:"prefix"`
	Description                        *string                `json:"description"`
	EncryptionConfiguration            *encryptionJSON        `json:"encryptionConfiguration"`
	ResourceTags                       *[]tagJSON             `json:"resourceTags"`
	ImageTagMutability                 *string                `json:"imageTagMutability"`
	ImageTagMutabilityExclusionFilters *[]exclusionFilterJSON `json:"imageTagMutabilityExclusionFilters"`
	RepositoryPolicy                   *string                `json:"repositoryPolicy"`
	LifecyclePolicy                    *string                `json:"lifecyclePolicy"`
	AppliedFor                         *[]string              `json:"appliedFor"`
	CustomRoleArn                      *string                `json:"customRoleArn"`
}

type describeTemplatesInput struct {
	Prefixes   []string `json:"prefixes"`
	NextToken  *string  `json:"nextToken"`
	MaxResults *int     `json:"maxResults"`
}

type templateJSON struct {
	Prefix                             string                `json:"prefix"`
	Description                        string                `json:"description,omitempty"`
	EncryptionConfiguration            encryptionJSON        `json:"encryptionConfiguration"`
	ResourceTags                       []tagJSON             `json:"resourceTags"`
	ImageTagMutability                 string                `json:"imageTagMutability"`
	ImageTagMutabilityExclusionFilters []exclusionFilterJSON `json:"imageTagMutabilityExclusionFilters,omitempty"`
	RepositoryPolicy                   string                `json:"repositoryPolicy,omitempty"`
	LifecyclePolicy                    string                `json:"lifecyclePolicy,omitempty"`
	AppliedFor                         []string              `json:"appliedFor"`
	CustomRoleArn                      string                `json:"customRoleArn,omitempty"`
	CreatedAt                          float64               `json:"createdAt"`
	UpdatedAt                          float64               `json:"updatedAt"`
}

func toTemplateJSON(t *registry.CreationTemplate) templateJSON {
	tags := make([]tagJSON, len(t.ResourceTags))
	for i, tag := range t.ResourceTags {
		tags[i] = tagJSON{tag.Key, tag.Value}
	}
	return templateJSON{Prefix: t.Prefix, Description: t.Description, EncryptionConfiguration: encryptionJSON{t.EncryptionType, t.KMSKey},
		ResourceTags: tags, ImageTagMutability: t.TagMutability, ImageTagMutabilityExclusionFilters: exclusionFiltersJSON(t.TagMutabilityExclusions),
		RepositoryPolicy: t.RepositoryPolicy, LifecyclePolicy: t.LifecyclePolicy, AppliedFor: t.AppliedFor, CustomRoleArn: t.CustomRoleARN,
		CreatedAt: epoch(t.CreatedAt), UpdatedAt: epoch(t.UpdatedAt)}
}

// notNull is the model's validation error of a required member left out.
func notNull(member string) error {
	return &awsError{Code: "ValidationException", Status: http.StatusBadRequest,
		Message: "1 validation error detected: Value null at '" + member + "' failed to satisfy constraint: Member must not be null"}
}

// apply sets the members the input gives on a template.
func (in *templateInput) apply(t *registry.CreationTemplate) error {
	if in.Description != nil {
		t.Description = *in.Description
	}
	if e := in.EncryptionConfiguration; e != nil {
		if e.EncryptionType == "" {
			return notNull("encryptionConfiguration.encryptionType")
		}
		t.EncryptionType, t.KMSKey = e.EncryptionType, e.KmsKey
	}
	if in.ResourceTags != nil {
		t.ResourceTags = toTags(*in.ResourceTags)
	}
	if in.ImageTagMutability != nil {
		t.TagMutability, t.TagMutabilityExclusions = *in.ImageTagMutability, nil
	}
	if in.ImageTagMutabilityExclusionFilters != nil {
		filters, err := exclusionFilters(in.ImageTagMutabilityExclusionFilters)
		if err != nil {
			return err
		}
		t.TagMutabilityExclusions = filters
	}
	if in.RepositoryPolicy != nil {
		t.RepositoryPolicy = *in.RepositoryPolicy
	}
	if in.LifecyclePolicy != nil {
		t.LifecyclePolicy = *in.LifecyclePolicy
	}
	if in.AppliedFor != nil {
		t.AppliedFor = *in.AppliedFor
	}
	if in.CustomRoleArn != nil {
		t.CustomRoleARN = *in.CustomRoleArn
	}
	return nil
}

// templateError answers the errors of a template's resource tags as the operations' model can: it names
// no tag error of its own.
func templateError(err error) error {
	switch registry.KindOf(err) {
	case registry.KindInvalidTagParameter, registry.KindTooManyTags:
		return invalidParameter(err.(*registry.Error).Message)
	}
	return err
}

func templateOutput(c *pipeline.Call, t *registry.CreationTemplate) map[string]any {
	return map[string]any{"registryId": c.RegistryID, "repositoryCreationTemplate": toTemplateJSON(t)}
}

// The operations act on the registry as a whole (its repositories, "repository/*"); like the registry's
// other settings they have no resource-level permissions.
func init() {
	register("CreateRepositoryCreationTemplate", func(h *Handler, ctx context.Context, c *pipeline.Call, in *templateInput) (any, error) {
		if in.Prefix == nil {
			return nil, notNull("prefix")
		}
		if in.AppliedFor == nil {
			return nil, notNull("appliedFor")
		}
		t := registry.CreationTemplate{RegistryID: c.RegistryID, Prefix: *in.Prefix}
		if err := in.apply(&t); err != nil {
			return nil, err
		}
		created, err := h.Service.CreateCreationTemplate(ctx, t)
		if err != nil {
			return nil, templateError(err)
		}
		return templateOutput(c, created), nil
	})

	register("UpdateRepositoryCreationTemplate", func(h *Handler, ctx context.Context, c *pipeline.Call, in *templateInput) (any, error) {
		if in.Prefix == nil {
			return nil, notNull("prefix")
		}
		if err := in.apply(&registry.CreationTemplate{}); err != nil { // the input's own errors, before any change
			return nil, err
		}
		updated, err := h.Service.UpdateCreationTemplate(ctx, c.RegistryID, *in.Prefix, func(t *registry.CreationTemplate) { in.apply(t) })
		if err != nil {
			return nil, templateError(err)
		}
		return templateOutput(c, updated), nil
	})

	register("DeleteRepositoryCreationTemplate", func(h *Handler, ctx context.Context, c *pipeline.Call, in *struct {
		Prefix *string `json:"prefix"`
	}) (any, error) {
		if in.Prefix == nil {
			return nil, notNull("prefix")
		}
		deleted, err := h.Service.DeleteCreationTemplate(ctx, c.RegistryID, *in.Prefix)
		if err != nil {
			return nil, err
		}
		return templateOutput(c, deleted), nil
	})

	register("DescribeRepositoryCreationTemplates", func(h *Handler, ctx context.Context, c *pipeline.Call, in *describeTemplatesInput) (any, error) {
		out := []templateJSON{}
		if len(in.Prefixes) > 0 {
			if in.NextToken != nil || in.MaxResults != nil {
				return nil, invalidParameter("Invalid parameter: prefixes cannot be combined with maxResults or nextToken")
			}
			ts, _, err := h.Service.CreationTemplates(ctx, c.RegistryID, in.Prefixes, "", 0)
			if err != nil {
				return nil, err
			}
			for i := range ts {
				out = append(out, toTemplateJSON(&ts[i]))
			}
			return map[string]any{"registryId": c.RegistryID, "repositoryCreationTemplates": out}, nil
		}
		scope := "DescribeRepositoryCreationTemplates/" + c.RegistryID
		n, after, err := h.Paging.page(scope, in.MaxResults, in.NextToken)
		if err != nil {
			return nil, err
		}
		ts, more, err := h.Service.CreationTemplates(ctx, c.RegistryID, nil, after, n)
		if err != nil {
			return nil, err
		}
		last := ""
		for i := range ts {
			out = append(out, toTemplateJSON(&ts[i]))
			last = ts[i].Prefix
		}
		return map[string]any{"registryId": c.RegistryID, "repositoryCreationTemplates": out, "nextToken": h.Paging.next(scope, more, last)}, nil
	})
}

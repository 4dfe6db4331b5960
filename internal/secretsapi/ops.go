package secretsapi

import (
	"context"
	"time"

	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/secrets"
	"github.com/wharf-dev/wharf/internal/store"
)

type tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// secretValue is SecretString or SecretBinary (base64 in JSON), as inputs and outputs carry them. The
// audit trail hides both.
type secretValue struct {
	SecretString *string `json:"SecretString,omitempty"`
	SecretBinary []byte  `json:"SecretBinary,omitempty"`
}

func (v secretValue) value() secrets.Value {
	return secrets.Value{String: v.SecretString, Binary: v.SecretBinary}
}

type createInput struct {
	Name               string `json:"Name"`
	ClientRequestToken string `json:"ClientRequestToken,omitempty"`
	Description        string `json:"Description,omitempty"`
	secretValue
	Tags []tag `json:"Tags,omitempty"`
	// Not supported: values are sealed with the server secret, not a KMS key, and never replicated.
	KmsKeyID                    string `json:"KmsKeyId,omitempty"`
	AddReplicaRegions           []any  `json:"AddReplicaRegions,omitempty"`
	ForceOverwriteReplicaSecret bool   `json:"ForceOverwriteReplicaSecret,omitempty"`
	Type                        string `json:"Type,omitempty"`
	arn                         string // the ARN the secret will have, authorized
}

type getInput struct {
	secretRef
	VersionID    string `json:"VersionId,omitempty"`
	VersionStage string `json:"VersionStage,omitempty"`
}

type putInput struct {
	secretRef
	ClientRequestToken string `json:"ClientRequestToken,omitempty"`
	secretValue
	VersionStages []string `json:"VersionStages,omitempty"`
	RotationToken string   `json:"RotationToken,omitempty"`
}

type describeInput struct{ secretRef }

type deleteInput struct {
	secretRef
	RecoveryWindowInDays       int64 `json:"RecoveryWindowInDays,omitempty"`
	ForceDeleteWithoutRecovery bool  `json:"ForceDeleteWithoutRecovery,omitempty"`
}

type listInput struct {
	IncludePlannedDeletion bool   `json:"IncludePlannedDeletion,omitempty"`
	MaxResults             *int   `json:"MaxResults,omitempty"`
	NextToken              string `json:"NextToken,omitempty"`
	Filters                []struct {
		Key    string   `json:"Key"`
		Values []string `json:"Values"`
	} `json:"Filters,omitempty"`
	SortOrder string `json:"SortOrder,omitempty"`
	SortBy    string `json:"SortBy,omitempty"`
}

// epoch is a timestamp as AWS JSON 1.1 sends it: seconds since the epoch.
func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func tagsOut(tags []store.ResourceTag) []tag {
	out := make([]tag, len(tags))
	for i, t := range tags {
		out[i] = tag{t.Key, t.Value}
	}
	return out
}

// describe is a secret as DescribeSecret and ListSecrets show it; versions names the member that maps
// version ids to their labels (VersionIdsToStages, SecretVersionsToStages).
func describe(d *secrets.Description, versions string) map[string]any {
	out := map[string]any{"ARN": d.ARN, "Name": d.Name, "CreatedDate": epoch(d.CreatedAt), "LastChangedDate": epoch(d.ChangedAt),
		versions: d.Versions}
	if d.Description != "" {
		out["Description"] = d.Description
	}
	if len(d.Tags) > 0 {
		out["Tags"] = tagsOut(d.Tags)
	}
	if !d.DeletedAt.IsZero() {
		out["DeletedDate"] = epoch(d.DeletedAt)
	}
	return out
}

func noTargets[I any](h *Handler, ctx context.Context, c *pipeline.Call, in *I, action string) ([]pipeline.Target, error) {
	return []pipeline.Target{{Action: action, RegistryID: c.Caller.AccountID, Resource: "*"}}, nil
}

func init() {
	register("CreateSecret", func(h *Handler, ctx context.Context, c *pipeline.Call, in *createInput, action string) ([]pipeline.Target, error) {
		switch {
		case in.KmsKeyID != "":
			return nil, invalidParameter("KmsKeyId is not supported: Wharf seals secrets with its server secret.")
		case len(in.AddReplicaRegions) > 0 || in.ForceOverwriteReplicaSecret:
			return nil, invalidParameter("Wharf does not replicate secrets to other regions.")
		}
		if err := secrets.ValidateName(in.Name); err != nil {
			return nil, err
		}
		in.arn = h.Secrets.NewARN(c.Caller.AccountID, in.Name)
		t := pipeline.Target{Action: action, RegistryID: c.Caller.AccountID, Resource: in.arn}
		if len(in.Tags) > 0 {
			t.RequestTags = map[string]string{}
			for _, tg := range in.Tags {
				t.RequestTags[tg.Key] = tg.Value
				t.TagKeys = append(t.TagKeys, tg.Key)
			}
		}
		return []pipeline.Target{t}, nil
	}, func(h *Handler, ctx context.Context, c *pipeline.Call, in *createInput) (any, error) {
		tags := make([]store.ResourceTag, len(in.Tags))
		for i, t := range in.Tags {
			tags[i] = store.ResourceTag{Key: t.Key, Value: t.Value}
		}
		sec, version, err := h.Secrets.Create(ctx, c.Caller.AccountID, secrets.CreateInput{ARN: in.arn, Name: in.Name,
			Description: in.Description, Tags: tags, Value: in.value(), VersionID: in.ClientRequestToken})
		if err != nil {
			return nil, err
		}
		out := map[string]any{"ARN": sec.ARN, "Name": sec.Name}
		if version != "" {
			out["VersionId"] = version
		}
		return out, nil
	})

	register("GetSecretValue", resolveSecret[*getInput], func(h *Handler, ctx context.Context, c *pipeline.Call, in *getInput) (any, error) {
		arn, err := in.secret()
		if err != nil {
			return nil, err
		}
		sec, v, err := h.Secrets.Get(ctx, c.Caller.AccountID, arn, in.VersionID, in.VersionStage)
		if err != nil {
			return nil, err
		}
		out := map[string]any{"ARN": sec.ARN, "Name": sec.Name, "VersionId": v.ID, "VersionStages": v.Stages, "CreatedDate": epoch(v.CreatedAt)}
		if v.Value.String != nil {
			out["SecretString"] = *v.Value.String
		} else {
			out["SecretBinary"] = v.Value.Binary
		}
		return out, nil
	})

	register("PutSecretValue", resolveSecret[*putInput], func(h *Handler, ctx context.Context, c *pipeline.Call, in *putInput) (any, error) {
		if in.RotationToken != "" {
			return nil, invalidParameter("Wharf does not rotate secrets: RotationToken is not supported.")
		}
		arn, err := in.secret()
		if err != nil {
			return nil, err
		}
		sec, version, stages, err := h.Secrets.Put(ctx, c.Caller.AccountID, arn, in.ClientRequestToken, in.value(), in.VersionStages)
		if err != nil {
			return nil, err
		}
		return map[string]any{"ARN": sec.ARN, "Name": sec.Name, "VersionId": version, "VersionStages": stages}, nil
	})

	register("DescribeSecret", resolveSecret[*describeInput], func(h *Handler, ctx context.Context, c *pipeline.Call, in *describeInput) (any, error) {
		arn, err := in.secret()
		if err != nil {
			return nil, err
		}
		d, err := h.Secrets.Describe(ctx, c.Caller.AccountID, arn)
		if err != nil {
			return nil, err
		}
		return describe(d, "VersionIdsToStages"), nil
	})

	register("DeleteSecret", resolveSecret[*deleteInput], func(h *Handler, ctx context.Context, c *pipeline.Call, in *deleteInput) (any, error) {
		arn, err := in.secret()
		if err != nil {
			return nil, err
		}
		sec, at, err := h.Secrets.Delete(ctx, c.Caller.AccountID, arn, in.RecoveryWindowInDays, in.ForceDeleteWithoutRecovery)
		if err != nil {
			return nil, err
		}
		return map[string]any{"ARN": sec.ARN, "Name": sec.Name, "DeletionDate": epoch(at)}, nil
	})

	register("ListSecrets", noTargets[listInput], func(h *Handler, ctx context.Context, c *pipeline.Call, in *listInput) (any, error) {
		account := c.Caller.AccountID
		q := secrets.ListInput{IncludePlannedDeletion: in.IncludePlannedDeletion, Limit: 100}
		if in.MaxResults != nil {
			if *in.MaxResults < 1 || *in.MaxResults > 100 {
				return nil, invalidParameter("Invalid parameter at 'MaxResults' failed to satisfy constraint: 'Member must have value between 1 and 100'")
			}
			q.Limit = *in.MaxResults
		}
		if in.SortBy != "" && in.SortBy != "name" || in.SortOrder != "" && in.SortOrder != "asc" {
			return nil, invalidParameter("Wharf lists secrets by name in ascending order only (SortBy name, SortOrder asc).")
		}
		if in.NextToken != "" {
			var err error
			if q.After, err = h.after(account, in.NextToken); err != nil {
				return nil, err
			}
		}
		for _, f := range in.Filters {
			q.Filters = append(q.Filters, secrets.Filter{Key: f.Key, Values: f.Values})
		}
		page, more, err := h.Secrets.List(ctx, account, q)
		if err != nil {
			return nil, err
		}
		list := make([]map[string]any, len(page))
		for i := range page {
			list[i] = describe(&page[i], "SecretVersionsToStages")
		}
		out := map[string]any{"SecretList": list}
		if more {
			out["NextToken"] = h.nextToken(account, page[len(page)-1].Name)
		}
		return out, nil
	})
}

package sqlstore

import (
	"encoding/json"
	"strings"

	"github.com/wharf-dev/wharf/internal/store"
)

const templateCols = `prefix, description, encryption_type, kms_key, resource_tags, tag_mutability, tag_mutability_exclusions,
	repository_policy, lifecycle_policy, applied_for, custom_role_arn, created_at, updated_at`

// templateRow is a template's columns after the registry id, in templateCols' order.
func templateRow(t store.RepositoryCreationTemplate) ([]any, error) {
	tags := t.ResourceTags
	if tags == nil {
		tags = []store.ResourceTag{}
	}
	tagJSON, err := json.Marshal(tags)
	if err != nil {
		return nil, err
	}
	return []any{t.Prefix, t.Description, t.EncryptionType, t.KMSKey, string(tagJSON), t.TagMutability,
		joinFilters(t.TagMutabilityExclusions), t.RepositoryPolicy, t.LifecyclePolicy, strings.Join(t.AppliedFor, ","),
		t.CustomRoleARN, ts(t.CreatedAt), ts(t.UpdatedAt)}, nil
}

func scanTemplate(registryID string) func(sc interface{ Scan(...any) error }) (*store.RepositoryCreationTemplate, error) {
	return func(sc interface{ Scan(...any) error }) (*store.RepositoryCreationTemplate, error) {
		t := store.RepositoryCreationTemplate{RegistryID: registryID}
		var tags, exclusions, appliedFor string
		var created, updated int64
		if err := sc.Scan(&t.Prefix, &t.Description, &t.EncryptionType, &t.KMSKey, &tags, &t.TagMutability, &exclusions,
			&t.RepositoryPolicy, &t.LifecyclePolicy, &appliedFor, &t.CustomRoleARN, &created, &updated); err != nil {
			return nil, mapErr(err)
		}
		if err := json.Unmarshal([]byte(tags), &t.ResourceTags); err != nil {
			return nil, err
		}
		if len(t.ResourceTags) == 0 {
			t.ResourceTags = nil
		}
		if exclusions != "" {
			t.TagMutabilityExclusions = strings.Split(exclusions, "\n")
		}
		if appliedFor != "" {
			t.AppliedFor = strings.Split(appliedFor, ",")
		}
		t.CreatedAt, t.UpdatedAt = tm(created), tm(updated)
		return &t, nil
	}
}

func (t *txn) CreateCreationTemplate(tpl store.RepositoryCreationTemplate) error {
	row, err := templateRow(tpl)
	if err != nil {
		return err
	}
	res, err := t.exec(`INSERT INTO repository_creation_templates (registry_id, `+templateCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (registry_id, prefix) DO NOTHING`,
		append([]any{tpl.RegistryID}, row...)...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrExists
	}
	return nil
}

func (t *txn) GetCreationTemplate(registryID, prefix string) (*store.RepositoryCreationTemplate, error) {
	return scanTemplate(registryID)(t.queryRow(`SELECT `+templateCols+` FROM repository_creation_templates
		WHERE registry_id = ? AND prefix = ?`, registryID, prefix))
}

func (t *txn) UpdateCreationTemplate(tpl store.RepositoryCreationTemplate) error {
	row, err := templateRow(tpl)
	if err != nil {
		return err
	}
	// The row's members but its prefix (the key) and created_at, which stays.
	args := append(append([]any{}, row[1:len(row)-2]...), row[len(row)-1], tpl.RegistryID, tpl.Prefix)
	return t.affected(`UPDATE repository_creation_templates SET description = ?, encryption_type = ?, kms_key = ?,
		resource_tags = ?, tag_mutability = ?, tag_mutability_exclusions = ?, repository_policy = ?, lifecycle_policy = ?,
		applied_for = ?, custom_role_arn = ?, updated_at = ? WHERE registry_id = ? AND prefix = ?`, args...)
}

func (t *txn) DeleteCreationTemplate(registryID, prefix string) error {
	return t.affected(`DELETE FROM repository_creation_templates WHERE registry_id = ? AND prefix = ?`, registryID, prefix)
}

func (t *txn) CreationTemplates(registryID, after string, limit int) ([]store.RepositoryCreationTemplate, error) {
	return collect(t, scanTemplate(registryID), `SELECT `+templateCols+` FROM repository_creation_templates
		WHERE registry_id = ? AND prefix > ? ORDER BY prefix LIMIT ?`, registryID, after, limit)
}

func (t *txn) CountCreationTemplates(registryID string) (n int, err error) {
	err = t.queryRow(`SELECT COUNT(*) FROM repository_creation_templates WHERE registry_id = ?`, registryID).Scan(&n)
	return n, mapErr(err)
}
